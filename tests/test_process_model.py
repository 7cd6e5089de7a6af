"""The offender management process model, run on the engine: each test reads like a point of the area
risk policy (processes/offender-management/policy.md).

The model is the bundle in processes/offender-management. Tests drive it as staff would: start a case
with its CRN, complete each open task on its form, deliver the sentencing outcome as a message, and
move the clock to fire timers. Decision tables are tested through the process (the task that opens
next, the next timer, the data the instance holds), never by calling the table directly.

Delivering messages and firing timers need `ProcessEngine.deliver_message` and
`ProcessEngine.fire_due_timers`; the tests that need them are skipped until the engine has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from casework_area import om_username, small_area
from conftest import START
from lxml import etree
from sqlalchemy import delete, select

from casework import register
from casework.register_types import add_months
from casework.roles import TASK_ROLES
from casework.vocabulary import RoshLevel
from engine.bundle import Bundle
from engine.clock import ManualClock, area_date
from engine.db import Database
from engine.errors import InvalidData
from engine.models import (
    ArchivedSubprocess,
    HumanTask,
    InboundMessage,
    MessageWait,
    OutboxMessage,
    ProcessInstance,
)
from engine.runtime import Actor, InstanceStatus, ProcessEngine, StepResult
from tasks import events
from tasks.wiring import build_engine, build_services

BUNDLE_DIR = Path(__file__).resolve().parent.parent / "processes" / "offender-management"
PROCESS = "offender_management"
CRN = "X100001"

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "spiff": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}

ACTORS = {role: Actor(f"{role.lower()}.one", frozenset({role})) for role in TASK_ROLES}
# The test area's Offender Manager for each experience band, when a test names no grade.
OWNER_GRADE_BY_BAND = {"N": "PO", "E": "PO", "S": "SENIOR_PRACTITIONER"}


# ---------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def om_engine(database: Database, clock: ManualClock) -> ProcessEngine:
    """The application's engine (roles, register operations, assignment) on the small test area,
    with the offender management bundle deployed."""
    with database.transaction() as session:
        small_area(session)
    engine = build_engine(database, clock)
    result = engine.deploy(Bundle.from_directory(BUNDLE_DIR), actor="process.owner")
    assert result.warnings == []
    return engine


# ----------------------------------------------------------------------------------- case driver

FIRST_DETAILS = {
    "forename": "Rowan",
    "surname": "Testbrook",
    "date_of_birth": "1991-05-14",
    "court_name": "Carlisle Crown Court",
    "hearing_date": "2026-11-02",
    "offence": "Assault occasioning actual bodily harm",
    "report_type": "STANDARD",
    "remanded_in_custody": False,
}


# What each outcome needs besides its type and date, when a test gives nothing else.
OUTCOME_NEEDS: dict[str, dict[str, Any]] = {
    "COMMUNITY_ORDER": {"end_date": "2029-11-08"},
    "SUSPENDED_SENTENCE": {"end_date": "2028-05-08"},
    "CONDITIONAL_DISCHARGE": {"end_date": "2027-11-08"},
    "CUSTODY_UNDER_12_MONTHS": {"custody_months": 6},
    "CUSTODY_12_MONTHS_OR_MORE": {
        "custody_months": 18,
        "release_date": "2027-08-09",
        "release_type": "AUTOMATIC",
        "licence_end_date": "2028-05-08",
    },
    "CUSTODY_EXTENDED": {
        "custody_months": 48,
        "release_date": "2028-11-09",
        "release_type": "PAROLE_ELIGIBLE",
        "licence_end_date": "2032-11-08",
    },
    "CUSTODY_INDETERMINATE": {"release_date": "2031-11-10", "release_type": "PAROLE_ELIGIBLE"},
    "ADJOURNED": {"next_hearing_date": "2026-11-23"},
    "DEFERRED": {"next_hearing_date": "2027-03-09"},
}


class Case:
    """One case driven through the process the way staff would."""

    def __init__(self, engine: ProcessEngine, crn: str = CRN) -> None:
        self.engine = engine
        self.crn = crn
        self.instance_id = 0

    # -- reading

    def open_tasks(self) -> list[HumanTask]:
        with self.engine.db.transaction(write=False) as session:
            return list(
                session.scalars(
                    select(HumanTask)
                    .where(HumanTask.instance_id == self.instance_id, HumanTask.state == "open")
                    .order_by(HumanTask.id)
                )
            )

    def open_elements(self) -> list[str]:
        return [t.element_id for t in self.open_tasks()]

    def task(self, element_id: str) -> HumanTask:
        matches = [t for t in self.open_tasks() if t.element_id == element_id]
        assert len(matches) == 1, f"expected one open {element_id}, open: {self.open_elements()}"
        return matches[0]

    def task_row(self, element_id: str) -> HumanTask:
        """The latest task row for an element, whatever its state."""
        with self.engine.db.transaction(write=False) as session:
            row = session.scalars(
                select(HumanTask)
                .where(HumanTask.instance_id == self.instance_id, HumanTask.element_id == element_id)
                .order_by(HumanTask.id.desc())
            ).first()
        assert row is not None, f"no task {element_id} was ever opened"
        return row

    def instance(self) -> ProcessInstance:
        with self.engine.db.transaction(write=False) as session:
            row = session.get(ProcessInstance, self.instance_id)
            assert row is not None
            return row

    def data(self) -> dict[str, Any]:
        """The case data where the instance stands now (its most recently changed live task)."""
        return self.engine.instance_data(self.instance_id)

    def waits(self) -> list[tuple[str, str | None]]:
        with self.engine.db.transaction(write=False) as session:
            rows = session.scalars(select(MessageWait).where(MessageWait.instance_id == self.instance_id))
            return [(w.message_name, w.correlation_value) for w in rows]

    def review_due(self) -> Any:
        """When the case's next oversight review falls due, by its plan on the register."""
        with self.engine.db.transaction(write=False) as session:
            case = register.find_case(session, self.crn)
            plan = register.current_oversight_plan(session, case)
            assert plan is not None, f"{self.crn} has no oversight plan"
            return plan.next_review_due.replace(tzinfo=UTC)

    def plan_reason(self) -> str:
        """The band the case's oversight plan on the register was chosen for."""
        with self.engine.db.transaction(write=False) as session:
            plan = register.current_oversight_plan(session, register.find_case(session, self.crn))
            assert plan is not None
            return plan.reason

    def outbox(self) -> list[OutboxMessage]:
        with self.engine.db.transaction(write=False) as session:
            return list(
                session.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == self.instance_id))
            )

    # -- acting

    def today(self) -> str:
        """The area's date on the case's clock: the date a person records what they did today."""
        return area_date(self.engine.clock.now()).isoformat()

    def complete(self, element_id: str, data: Mapping[str, Any]) -> StepResult:
        """Complete the task as the person it is assigned to, or as a member of its role's pool."""
        task = self.task(element_id)
        assert task.candidate_role is not None, f"{element_id} has no role"
        actor = ACTORS[task.candidate_role]
        if task.assignee is not None:
            actor = Actor(task.assignee, frozenset({task.candidate_role}))
        result = self.engine.complete_task(task.id, actor, dict(data))
        assert result.error is None, result.error
        return result

    def start(self, report_type: str = "STANDARD") -> StepResult:
        started = self.engine.start(PROCESS, business_key=self.crn, data={"crn": self.crn})
        self.instance_id = started.instance_id
        return self.complete("record_first_details", {**FIRST_DETAILS, "report_type": report_type})

    def screen(
        self, rosh: str, mappa_category: str = "NOT_ELIGIBLE", registrations: Sequence[str] = ()
    ) -> StepResult:
        return self.complete(
            "write_psr",
            {
                "report_date": self.today(),
                "rosh": rosh,
                "mappa_category": mappa_category,
                "registrations": list(registrations),
                "proposal": "Community order with a rehabilitation activity requirement",
            },
        )

    def sentenced(self, outcome: str = "COMMUNITY_ORDER", **given: Any) -> None:
        """The court's outcome arrives, with what that outcome needs (an end date, a length, a date)."""
        payload = {"crn": self.crn, "outcome": outcome, "sentence_date": "2026-11-09"}
        payload |= OUTCOME_NEEDS.get(outcome, {}) | given
        delivery = self.engine.deliver_message(  # type: ignore[attr-defined]
            "sentencing_outcome",
            self.crn,
            payload,
            idempotency_key=f"{self.crn}-sentence-{payload['sentence_date']}-{outcome}",
            sender="court.results",
        )
        assert getattr(delivery, "status", "delivered") == "delivered", delivery

    def hold_meeting(self, rosh: str, mappa_referral: bool = False) -> StepResult:
        attendees = ["SPO", "OFFENDER_MANAGER"]
        if "give_risk_advice" in self.open_elements():
            self.complete(
                "give_risk_advice", {"rosh_view": rosh, "advice": "Agree the level.", "will_attend": True}
            )
            attendees.append("RISK_CONSULTANT")
        return self.complete(
            "hold_risk_meeting",
            {
                "meeting_date": self.today(),
                "attendees": attendees,
                "rosh": rosh,
                "risk_decision": "Manage under the plan agreed; share with police.",
                "information_shared_with": ["POLICE"],
                "mappa_referral": mappa_referral,
            },
        )

    def set_mappa_level(self, level: int, category: str = "CAT2") -> StepResult:
        return self.complete("set_mappa_level", {"mappa_category": category, "mappa_level": level})

    def allocate(self, experience: str = "E", grade: str | None = None, tier: int = 3) -> StepResult:
        """Allocate to the North team's Offender Manager of that experience band (and grade)."""
        grade = grade or OWNER_GRADE_BY_BAND[experience]
        return self.complete(
            "allocate_owner", {"owner_staff_id": om_username("north", grade, experience), "tier": tier}
        )

    def induct(self) -> StepResult:
        return self.complete(
            "hold_induction", {"induction_date": self.today(), "contact_outcome": "ATTENDED"}
        )

    def assess(self, rosh: str, registrations: Sequence[str] = ()) -> StepResult:
        return self.complete(
            "assess_oasys",
            {
                "assessment_date": self.today(),
                **rosh_to_public_only(rosh),
                "likelihood_of_reoffending": "MEDIUM",
                "current_registrations": list(registrations),
                "rosh_summary": "Risk to the public when drinking; greatest at weekends.",
            },
        )

    def countersign(self, element_id: str) -> StepResult:
        return self.complete(element_id, {"decision": "COUNTERSIGNED", "countersign_date": self.today()})

    def countersign_all(self) -> None:
        for element_id in ("countersign_spo", "countersign_aco"):
            if element_id in self.open_elements():
                self.countersign(element_id)

    def write_plans(self) -> StepResult:
        return self.complete(
            "write_plans",
            {
                "plans_date": self.today(),
                "risk_management_plan": "Alcohol treatment; licence-style curfew; police liaison.",
                "sentence_plan": "Accredited programme; employment support.",
            },
        )

    def review(self, rosh: str, case_ends: bool = False, end_reason: str = "ORDER_ENDED") -> StepResult:
        """The SPO's oversight review; `case_ends` records an end of supervision with `end_reason`.
        A review the ACO must sign off (very high RoSH, MAPPA level 3) is signed off as well."""
        ending = {"case_ends": True, "end_reason": end_reason} if case_ends else {"case_ends": False}
        result = self.complete(
            "oversight_review",
            {"review_date": self.today(), "rosh": rosh, "findings": "Plan on track."} | ending,
        )
        if "sign_off_review" in self.open_elements():
            result = self.sign_off()
        return result

    def sign_off(self, actions: str = "") -> StepResult:
        """The ACO signs off the SPO's review (with actions, when given)."""
        decision = (
            {"decision": "SIGNED_OFF_WITH_ACTIONS", "actions": actions}
            if actions
            else {"decision": "SIGNED_OFF"}
        )
        return self.complete("sign_off_review", {"sign_off_date": self.today()} | decision)


def fire_at(engine: ProcessEngine, clock: ManualClock, when: Any) -> None:
    clock.set(when)
    engine.fire_due_timers()  # type: ignore[attr-defined]


@pytest.fixture
def case(om_engine: ProcessEngine) -> Case:
    return Case(om_engine)


def to_allocation(
    case: Case,
    rosh: str,
    *,
    mappa_category: str = "NOT_ELIGIBLE",
    registrations: Sequence[str] = (),
    mappa_level: int | None = None,
) -> None:
    """Start, screen, sentence and (when in scope) hold the risk meeting: allocation is open next."""
    case.start()
    case.screen(rosh, mappa_category, registrations)
    case.sentenced()
    if "allocate_owner" not in case.open_elements():
        case.hold_meeting(rosh, mappa_referral=mappa_level is not None)
        if mappa_level is not None:
            case.set_mappa_level(mappa_level)


def under_oversight(
    case: Case,
    rosh: str,
    experience: str,
    *,
    grade: str | None = None,
    mappa_level: int | None = None,
    registrations: Sequence[str] = (),
) -> None:
    """Take a case all the way to its oversight plan: the first oversight wait is running."""
    category = "NOT_ELIGIBLE" if mappa_level is None else "CAT2"
    to_allocation(case, rosh, mappa_category=category, registrations=registrations, mappa_level=mappa_level)
    case.allocate(experience, grade)
    case.induct()
    case.assess(rosh, registrations)
    case.countersign_all()
    case.write_plans()


# ------------------------------------------------------------------------------- the model itself


def _bpmn() -> etree._Element:
    return etree.parse(str(BUNDLE_DIR / "offender-management.bpmn")).getroot()


def test_the_bundle_checks_clean_with_the_applications_roles(database: Database) -> None:
    engine = ProcessEngine(database, known_roles=TASK_ROLES, services=build_services())
    parsed = engine.check(Bundle.from_directory(BUNDLE_DIR))
    assert parsed.problems == []
    assert parsed.process_ids == ["custody_licence", PROCESS]
    assert parsed.lanes == {
        "Case Administrator": "CASE_ADMIN",
        "Offender Manager": "OM",
        "Senior Probation Officer": "SPO",
        "Risk Consultant": "RISK_CONSULTANT",
        "Assistant Chief Officer": "ACO",
        "MAPPA Coordinator": "MAPPA_COORDINATOR",
    }


def _user_tasks() -> list[etree._Element]:
    return list(_bpmn().iterfind(".//bpmn:userTask", NS))


def _property(task: etree._Element, name: str) -> str | None:
    prop = task.find(f"bpmn:extensionElements/spiff:properties/spiff:property[@name='{name}']", NS)
    return None if prop is None else prop.get("value")


@pytest.mark.parametrize("task", _user_tasks(), ids=lambda t: t.get("id"))
def test_every_step_for_staff_has_a_lane_a_form_a_due_date_and_plain_instructions(
    task: etree._Element,
) -> None:
    lanes = {ref.text: ref.getparent().get("name") for ref in _bpmn().iterfind(".//bpmn:flowNodeRef", NS)}
    assert lanes.get(task.get("id")) is not None
    form = _property(task, "formJsonSchemaFilename")
    assert form is not None and (BUNDLE_DIR / "forms" / form).is_file()
    assert _property(task, "dueIn")
    instructions = task.findtext("bpmn:extensionElements/spiff:instructionsForEndUser", namespaces=NS)
    assert instructions is not None and len(instructions) > 40
    assert task.get("name")


def test_every_element_has_an_id_a_name_and_a_place_on_the_diagram() -> None:
    root = _bpmn()
    shapes = {s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement") for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    flow_nodes = [
        el
        for container in [*root.iterfind("bpmn:process", NS), *root.iterfind(".//bpmn:subProcess", NS)]
        for el in container
        if etree.QName(el).localname not in ("laneSet", "sequenceFlow", "documentation", "extensionElements")
        and etree.QName(el).localname not in ("incoming", "outgoing", "standardLoopCharacteristics")
    ]
    assert len(flow_nodes) > 40
    for el in flow_nodes:
        assert el.get("id") and el.get("name"), etree.tostring(el)[:80]
        assert el.get("id") in shapes, el.get("id")
    assert {f.get("id") for f in root.iterfind(".//bpmn:sequenceFlow", NS)} == edges
    # A flow or a boundary event that crosses into another container is silently ignored by the engine.
    for container in [*root.iterfind("bpmn:process", NS), *root.iterfind(".//bpmn:subProcess", NS)]:
        here = {el.get("id") for el in container}
        for flow in container.iterfind("bpmn:sequenceFlow", NS):
            assert {flow.get("sourceRef"), flow.get("targetRef")} <= here, flow.get("id")
        for event in container.iterfind("bpmn:boundaryEvent", NS):
            assert event.get("attachedToRef") in here, event.get("id")
    assert {lane.get("id") for lane in root.iterfind(".//bpmn:lane", NS)} <= shapes


def test_every_form_titles_its_fields_and_lists_its_choices() -> None:
    import json

    for path in sorted((BUNDLE_DIR / "forms").glob("*.json")):
        schema = json.loads(path.read_text())
        assert schema["type"] == "object" and schema["title"] and schema["required"], path.name
        assert schema["additionalProperties"] is False, path.name
        for name, field in schema["properties"].items():
            assert field.get("title"), f"{path.name}: {name}"
            if name.endswith("_date"):
                assert field.get("format") == "date", f"{path.name}: {name}"


def test_the_policy_names_only_steps_that_exist() -> None:
    import re

    policy = (BUNDLE_DIR / "policy.md").read_text()
    diagrams = [etree.parse(str(path)).getroot() for path in sorted(BUNDLE_DIR.glob("*.bpmn"))]
    ids = {el.get("id") for root in diagrams for el in root.iter() if el.get("id")}
    named = set(re.findall(r"`([a-z_]+)`", policy))
    steps = {name for name in named if "_" in name and not name.endswith("_frequency")}
    assert steps, "the policy links to no steps"
    decisions = {
        "risk_meeting_scope",
        "countersign_required",
        "oversight_frequency",
        "oversight_bring_forward",
        "critical_few",
        "outcome_route",
        "owner_grade",
        "termination_review_lead",
    }
    assert steps - ids <= decisions, steps - ids - decisions


# ------------------------------------------------------------------------- stage 0-2, runs today


def test_a_new_case_is_tracked_from_the_day_it_is_identified_at_court(om_engine: ProcessEngine) -> None:
    started = om_engine.start(PROCESS, business_key=CRN, data={"crn": CRN})
    case = Case(om_engine)
    case.instance_id = started.instance_id
    first = case.task("record_first_details")
    assert (first.candidate_role, first.business_key, first.form_file) == (
        "CASE_ADMIN",
        CRN,
        "first-details.json",
    )
    assert first.due_at == START + timedelta(days=1)  # Monday to Tuesday: 1 working day


def test_the_court_first_details_put_the_person_on_the_register(case: Case) -> None:
    case.start()

    with case.engine.db.transaction(write=False) as session:
        on_register = register.find_case(session, CRN)
        assert (on_register.name, str(on_register.date_of_birth)) == ("Rowan Testbrook", "1991-05-14")
        assert register.timeline(session, CRN)[-1].summary == (
            "First details recorded: hearing at Carlisle Crown Court on 02 November 2026 "
            "(Assault occasioning actual bodily harm)"
        )
    assert case.open_elements() == ["write_psr"]


def test_a_date_of_birth_that_makes_a_child_of_the_defendant_is_refused_and_nothing_is_done(
    om_engine: ProcessEngine,
) -> None:
    case = Case(om_engine)
    case.instance_id = om_engine.start(PROCESS, business_key=CRN, data={"crn": CRN}).instance_id
    task = case.task("record_first_details")

    with pytest.raises(InvalidData) as refused:
        om_engine.complete_task(
            task.id, ACTORS["CASE_ADMIN"], {**FIRST_DETAILS, "date_of_birth": "2020-01-01"}
        )

    [problem] = refused.value.errors
    assert problem.field == "date_of_birth"
    assert "makes the person 6 at the hearing on 02 November 2026" in problem.message
    assert case.open_elements() == ["record_first_details"]
    assert case.instance().status != InstanceStatus.ERROR
    with om_engine.db.transaction(write=False) as session:
        assert register.find_case(session, CRN).date_of_birth is None


@pytest.mark.parametrize(
    ("report_type", "due"),
    [
        ("ORAL", START + timedelta(days=1)),
        ("FAST", START + timedelta(days=7)),
        ("STANDARD", START + timedelta(days=21)),
    ],
)
def test_the_pre_sentence_report_is_due_by_the_type_the_court_asked_for(
    case: Case, report_type: str, due: Any
) -> None:
    case.start(report_type)
    psr = case.task("write_psr")
    assert (psr.candidate_role, psr.due_at) == ("OM", due)


def test_the_sentencing_outcome_is_requested_as_soon_as_the_report_is_written(case: Case) -> None:
    case.start()
    case.screen("HIGH", "NOT_ELIGIBLE", ["ADVP"])
    instance = case.instance()
    assert instance.status == InstanceStatus.WAITING
    assert case.open_tasks() == []
    assert case.waits() == [("sentencing_outcome", CRN)]
    [request] = case.outbox()
    assert request.message_name == "request_sentencing_outcome"
    assert request.payload == {"crn": CRN, "court": "Carlisle Crown Court", "hearing_date": "2026-11-02"}
    # The chaser is the next thing due: two days after the request.
    assert instance.next_timer_at == START + timedelta(days=2)


def test_the_court_is_asked_for_the_outcome_once(case: Case) -> None:
    case.start()
    case.screen("LOW")
    case.sentenced("COMMUNITY_ORDER")
    case.allocate()
    assert [m.message_name for m in case.outbox()] == ["request_sentencing_outcome"]


def test_each_case_waits_for_its_own_outcome(om_engine: ProcessEngine) -> None:
    for crn in ("X100001", "X100002"):
        case = Case(om_engine, crn)
        case.start()
        case.screen("LOW")
    with om_engine.db.transaction(write=False) as session:
        waits = sorted(session.execute(select(MessageWait.message_name, MessageWait.correlation_value)).all())
    assert waits == [("sentencing_outcome", "X100001"), ("sentencing_outcome", "X100002")]


def test_an_eligible_case_starts_at_mappa_level_1(case: Case) -> None:
    case.start()
    case.screen("MEDIUM", "CAT1")
    assert case.data()["mappa_level"] == 1


# ------------------------------------------------------------------ stage 3: risk meeting scope


@pytest.mark.parametrize(
    "outcome",
    [
        "CUSTODY_12_MONTHS_OR_MORE",
        "CUSTODY_UNDER_12_MONTHS",
        "CUSTODY_INDETERMINATE",
        "COMMUNITY_ORDER",
        "SUSPENDED_SENTENCE",
        "FINE",
        "CONDITIONAL_DISCHARGE",
        "ABSOLUTE_DISCHARGE",
    ],
)
def test_custody_outcome_still_gets_a_risk_meeting(case: Case, outcome: str) -> None:
    case.start()
    case.screen("MEDIUM", registrations=["RCPR"])
    case.sentenced(outcome)
    meeting = case.task("hold_risk_meeting")
    assert meeting.candidate_role == "SPO"
    assert meeting.due_at == START + timedelta(days=7)  # 5 working days
    data = case.data()
    assert data["sentencing_outcome"]["outcome"] == outcome
    assert case.waits() == []


def test_low_risk_case_with_no_flags_skips_the_risk_meeting(case: Case) -> None:
    case.start()
    case.screen("LOW")
    case.sentenced("CUSTODY_12_MONTHS_OR_MORE")
    assert case.open_elements() == ["allocate_owner"]
    data = case.data()
    assert data["in_scope"] is False
    assert data["scope_reason"].startswith("not in scope")


@pytest.mark.parametrize(
    ("rosh", "mappa_category", "registrations", "in_scope"),
    [
        ("VERY_HIGH", "NOT_ELIGIBLE", [], True),
        ("HIGH", "NOT_ELIGIBLE", [], True),
        ("MEDIUM", "CAT1", [], True),
        ("LOW", "CAT2", [], True),
        ("MEDIUM", "CAT3", [], False),
        ("LOW", "NOT_ELIGIBLE", ["RCHD"], True),
        ("LOW", "NOT_ELIGIBLE", ["ADVP"], True),
        ("LOW", "NOT_ELIGIBLE", ["AV2S"], True),
        ("MEDIUM", "NOT_ELIGIBLE", ["WEAP"], True),
        ("MEDIUM", "NOT_ELIGIBLE", [], False),
    ],
)
def test_the_risk_meeting_scope_looks_at_risk_mappa_and_registrations(
    case: Case, rosh: str, mappa_category: str, registrations: list[str], in_scope: bool
) -> None:
    case.start()
    case.screen(rosh, mappa_category, registrations)
    case.sentenced("COMMUNITY_ORDER")
    opened = case.open_elements()
    if in_scope:
        assert opened in (["hold_risk_meeting"], ["give_risk_advice"])
    else:
        assert opened == ["allocate_owner"]
    assert case.data()["in_scope"] is in_scope


@pytest.mark.parametrize(("rosh", "consultant"), [("VERY_HIGH", True), ("HIGH", True), ("MEDIUM", False)])
def test_the_risk_consultant_advises_before_the_meeting_on_high_and_very_high_risk(
    case: Case, rosh: str, consultant: bool
) -> None:
    case.start()
    case.screen(rosh, registrations=["RCPR"])
    case.sentenced("CUSTODY_12_MONTHS_OR_MORE")
    if consultant:
        advice = case.task("give_risk_advice")
        assert (advice.candidate_role, advice.lane) == ("RISK_CONSULTANT", "Risk Consultant")
        case.complete("give_risk_advice", {"rosh_view": rosh, "advice": "Agree.", "will_attend": True})
    assert case.open_elements() == ["hold_risk_meeting"]


def test_a_mappa_referral_goes_to_the_mappa_coordinator_before_allocation(case: Case) -> None:
    case.start()
    case.screen("HIGH", "CAT1")
    case.sentenced("CUSTODY_12_MONTHS_OR_MORE")
    case.hold_meeting("HIGH", mappa_referral=True)
    referral = case.task("set_mappa_level")
    assert referral.candidate_role == "MAPPA_COORDINATOR"
    case.set_mappa_level(2, "CAT1")
    assert case.open_elements() == ["allocate_owner"]
    assert case.data()["mappa_level"] == 2


# --------------------------------------------------------------- stage 4-9: allocation to plans


def test_allocation_induction_and_oasys_follow_their_timescales(case: Case) -> None:
    # National Standards, counted from the sentence on Monday 9 November (tests/test_timescales.py).
    to_allocation(case, "LOW")
    sentenced = datetime(2026, 11, 9, 17, 0, tzinfo=UTC)
    assert case.task("allocate_owner").due_at == sentenced + timedelta(days=3)  # 3 working days
    case.allocate()
    induction = case.task("hold_induction")
    assert (induction.candidate_role, induction.due_at) == ("OM", sentenced + timedelta(days=7))
    case.induct()
    oasys = case.task("assess_oasys")
    assert (oasys.candidate_role, oasys.due_at) == ("OM", sentenced + timedelta(days=21))  # 15 working days


def test_spo_countersigns_a_high_risk_oasys(case: Case) -> None:
    to_allocation(case, "HIGH")
    case.allocate("E", "PO")
    case.induct()
    case.assess("HIGH")
    countersign = case.task("countersign_spo")
    assert countersign.candidate_role == "SPO"
    case.countersign("countersign_spo")
    assert case.open_elements() == ["write_plans"]
    data = case.data()
    assert data["spo_countersignature"]["decision"] == "COUNTERSIGNED"
    assert "aco_countersignature" not in data


def test_aco_second_countersign_for_very_high_risk(case: Case) -> None:
    to_allocation(case, "VERY_HIGH")
    case.allocate("S", "SENIOR_PRACTITIONER")
    case.induct()
    case.assess("VERY_HIGH")
    case.countersign("countersign_spo")
    second = case.task("countersign_aco")
    assert (second.candidate_role, second.lane) == ("ACO", "Assistant Chief Officer")
    case.countersign("countersign_aco")
    assert case.open_elements() == ["write_plans"]
    assert case.data()["countersign_reason"] == "very high RoSH: SPO and ACO countersign"


@pytest.mark.parametrize(
    ("rosh", "experience", "grade", "mappa_level", "expected"),
    [
        ("MEDIUM", "E", "PO", 3, ["countersign_spo", "countersign_aco"]),
        ("MEDIUM", "E", "PO", 2, ["countersign_spo"]),
        ("LOW", "N", "PO", None, ["countersign_spo"]),
        ("LOW", "E", "PSO", None, ["countersign_spo"]),
        ("MEDIUM", "E", "TRAINEE_PO", None, ["countersign_spo"]),
        ("MEDIUM", "E", "PO", None, []),
        ("LOW", "S", "SENIOR_PRACTITIONER", None, []),
    ],
)
def test_countersigning_follows_risk_mappa_level_and_the_officers_experience(
    case: Case, *, rosh: str, experience: str, grade: str, mappa_level: int | None, expected: list[str]
) -> None:
    category = "NOT_ELIGIBLE" if mappa_level is None else "CAT2"
    to_allocation(case, rosh, mappa_category=category, mappa_level=mappa_level)
    case.allocate(experience, grade)
    case.induct()
    case.assess(rosh)
    signed = []
    while case.open_elements() != ["write_plans"]:
        [element] = case.open_elements()
        signed.append(element)
        case.countersign(element)
    assert signed == expected


# ------------------------------------------------------------------ stage 10-11: oversight plan


def test_very_high_risk_with_a_newly_qualified_om_is_overseen_fortnightly(case: Case) -> None:
    under_oversight(case, "VERY_HIGH", "N")
    instance = case.instance()
    assert instance.status == InstanceStatus.WAITING
    assert instance.next_timer_at == START + timedelta(weeks=2)
    data = case.data()
    assert (data["oversight_weeks"], data["reviewer_grade"], data["sampled"]) == (2, "ACO", False)
    assert data["aco_countersignature"]["decision"] == "COUNTERSIGNED"


@pytest.mark.parametrize(
    ("rosh", "experience", "mappa_level", "registrations", "weeks", "sampled", "grade"),
    [
        ("VERY_HIGH", "E", None, [], 4, False, "ACO"),
        ("MEDIUM", "N", 3, [], 2, False, "ACO"),
        ("HIGH", "N", None, [], 4, False, "SPO"),
        ("HIGH", "E", None, [], 6, False, "SPO"),
        ("HIGH", "S", None, [], 8, False, "SPO"),
        ("MEDIUM", "S", 2, [], 8, False, "SPO"),
        ("MEDIUM", "N", None, ["RCPR"], 6, False, "SPO"),
        ("MEDIUM", "E", None, ["ADVP"], 8, False, "SPO"),
        ("MEDIUM", "S", None, ["RCHD"], 17, False, "SPO"),
        ("MEDIUM", "N", None, ["WEAP"], 8, False, "SPO"),
        ("MEDIUM", "E", None, [], 17, False, "SPO"),
        ("LOW", "N", None, [], 17, False, "SPO"),
    ],
)
def test_oversight_frequency_follows_risk_and_the_officers_experience(
    case: Case,
    *,
    rosh: str,
    experience: str,
    mappa_level: int | None,
    registrations: list[str],
    weeks: int,
    sampled: bool,
    grade: str,
) -> None:
    under_oversight(case, rosh, experience, mappa_level=mappa_level, registrations=registrations)
    assert case.review_due() == START + timedelta(weeks=weeks)
    data = case.data()
    assert (data["oversight_weeks"], data["sampled"], data["reviewer_grade"]) == (weeks, sampled, grade)


def test_low_risk_with_an_experienced_om_is_reviewed_at_the_four_month_review_by_sample(case: Case) -> None:
    under_oversight(case, "LOW", "E")
    assert case.review_due() == START + timedelta(weeks=17)
    data = case.data()
    assert (data["oversight_weeks"], data["sampled"], data["oversight_band"]) == (17, True, "low RoSH")


# --------------------------------------------------------------------------- timers: chase, escalate


def test_a_late_outcome_is_chased_then_escalated_to_the_spo(case: Case, clock: ManualClock) -> None:
    case.start()
    case.screen("MEDIUM", registrations=["ADVP"])
    fire_at(case.engine, clock, START + timedelta(days=2))
    chase = case.task("chase_outcome")
    assert (chase.candidate_role, chase.lane) == ("CASE_ADMIN", "Case Administrator")
    case.complete("chase_outcome", {"chase_result": "STILL_AWAITED", "chase_note": "Court office closed."})
    assert case.waits() == [("sentencing_outcome", CRN)]
    fire_at(case.engine, clock, START + timedelta(days=7))
    overdue = case.task("get_overdue_outcome")
    assert overdue.candidate_role == "SPO"
    assert case.waits() == []
    case.complete(
        "get_overdue_outcome",
        {
            "outcome": "SUSPENDED_SENTENCE",
            "sentence_date": "2026-11-06",
            "end_date": "2028-05-05",
            "how_obtained": "Phoned the listing office.",
        },
    )
    assert case.open_elements() == ["hold_risk_meeting"]
    assert case.data()["sentencing_outcome"]["recorded_by"] == "SPO"


def test_an_unanswered_chase_is_withdrawn_when_the_spo_takes_over(case: Case, clock: ManualClock) -> None:
    case.start()
    case.screen("LOW")
    fire_at(case.engine, clock, START + timedelta(days=2))
    assert case.open_elements() == ["chase_outcome"]
    fire_at(case.engine, clock, START + timedelta(days=7))
    assert case.open_elements() == ["get_overdue_outcome"]
    assert case.task_row("chase_outcome").state == "cancelled"


def test_the_case_administrator_can_record_the_outcome_when_chasing(case: Case, clock: ManualClock) -> None:
    case.start()
    case.screen("LOW")
    fire_at(case.engine, clock, START + timedelta(days=2))
    chase = case.task("chase_outcome")
    with pytest.raises(InvalidData) as refused:
        case.engine.complete_task(chase.id, ACTORS["CASE_ADMIN"], {"chase_result": "RECORDED"})
    assert "outcome" in {e.field for e in refused.value.errors}
    case.complete(
        "chase_outcome",
        {
            "chase_result": "RECORDED",
            "outcome": "CUSTODY_12_MONTHS_OR_MORE",
            "sentence_date": "2026-11-03",
            "custody_months": "18",
            "release_date": "2027-08-03",
            "release_type": "AUTOMATIC",
            "licence_end_date": "2028-05-02",
        },
    )
    assert case.open_elements() == ["allocate_owner"]
    assert case.waits() == []
    outcome = case.data()["sentencing_outcome"]
    assert (outcome["outcome"], outcome["recorded_by"]) == ("CUSTODY_12_MONTHS_OR_MORE", "CASE_ADMIN")
    # The outcome recorded by hand is handed over inside the case, never sent out.
    assert "sentencing_outcome" not in {m.message_name for m in case.outbox()}
    # Nothing is left to fire: the 7-day escalation went with the wait.
    assert case.instance().next_timer_at is None


def test_an_outcome_arriving_during_the_chase_withdraws_the_chase(case: Case, clock: ManualClock) -> None:
    case.start()
    case.screen("HIGH")
    fire_at(case.engine, clock, START + timedelta(days=2))
    assert case.open_elements() == ["chase_outcome"]
    case.sentenced("CUSTODY_12_MONTHS_OR_MORE")
    assert case.open_elements() == ["give_risk_advice"]
    assert case.task_row("chase_outcome").state == "cancelled"


# --------------------------------------------------------------------- oversight cycle and closure


def test_a_missed_oversight_review_escalates_to_the_aco(case: Case, clock: ManualClock) -> None:
    under_oversight(case, "HIGH", "N")
    due = START + timedelta(weeks=4)
    fire_at(case.engine, clock, due)
    review = case.task("oversight_review")
    assert review.candidate_role == "SPO"
    fire_at(case.engine, clock, due + timedelta(days=7))
    escalated = case.task("escalated_review")
    assert (escalated.candidate_role, escalated.lane) == ("ACO", "Assistant Chief Officer")
    assert case.task_row("oversight_review").state == "cancelled"
    case.complete(
        "escalated_review",
        {
            "review_date": case.today(),
            "action_taken": "REVIEWED_BY_ACO",
            "rosh": "HIGH",
            "findings": "Plan on track; home visit overdue.",
            "reason_missed": "SPO on leave.",
            "case_ends": False,
        },
    )
    # The next turn waits the full interval from the escalated review.
    assert case.review_due() == clock.now() + timedelta(weeks=4)
    fire_at(case.engine, clock, clock.now() + timedelta(weeks=4) - timedelta(minutes=1))
    assert "oversight_review" not in case.open_elements()
    fire_at(case.engine, clock, clock.now() + timedelta(minutes=1))
    assert "oversight_review" in case.open_elements()
    assert case.data()["reviews_done"] == 1


def test_oversight_repeats_until_the_case_ends_then_the_termination_review_runs(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "VERY_HIGH", "N")
    for turn in range(3):
        fire_at(case.engine, clock, clock.now() + timedelta(weeks=2))
        case.review("VERY_HIGH", case_ends=turn == 2)
    termination = case.task("termination_review")
    assert termination.candidate_role == "OM"
    result = case.complete(
        "termination_review",
        {
            "termination_date": case.today(),
            "termination_reason": "COMPLETED",
            "final_rosh": "HIGH",
            "registrations_reviewed": True,
            "termination_summary": "Order completed.",
        },
    )
    assert result.status == InstanceStatus.COMPLETED
    assert case.data()["reviews_done"] == 3
    with case.engine.db.transaction(write=False) as session:
        archived = session.scalars(
            select(ArchivedSubprocess.element_id).where(ArchivedSubprocess.instance_id == case.instance_id)
        ).all()
    # Every finished turn was archived; ending the case stopped the cycles that run beside oversight.
    assert {"allocation", "obtain_outcome", "manage_case", "oversight_cycle"} <= set(archived)
    assert case.waits() == []


def test_a_rise_in_risk_at_review_shortens_the_next_interval(case: Case, clock: ManualClock) -> None:
    under_oversight(case, "MEDIUM", "E")
    fire_at(case.engine, clock, START + timedelta(weeks=17))
    case.review("HIGH")
    assert case.review_due() == clock.now() + timedelta(weeks=6)
    assert case.data()["oversight_band"] == "high RoSH or MAPPA level 2"


def test_a_case_overseen_for_years_stays_the_same_size(case: Case, clock: ManualClock) -> None:
    under_oversight(case, "VERY_HIGH", "N")
    sizes = []
    for _ in range(26):  # a year of fortnightly reviews, and the registration reviews that fall due
        fire_at(case.engine, clock, clock.now() + timedelta(weeks=2))
        case.review("VERY_HIGH")
        while "review_registration" in case.open_elements():
            case.complete(
                "review_registration",
                {"registration_decision": "KEEP", "registration_notes": "Still applies."},
            )
        sizes.append(len(case.instance().state))
    # Each finished turn is archived, so the live state does not grow with the years.
    assert sizes[-1] <= sizes[0] * 1.02
    assert case.data()["reviews_done"] == 26


# ------------------------------------------------- events, registrations, MAPPA and transfers


def _timeline(case: Case) -> list[str]:
    with case.engine.db.transaction(write=False) as session:
        return [e.summary for e in register.timeline(session, case.crn)]


def _report_registration(case: Case, code: str, *, started_on: Any = None) -> int:
    """A registration reported on the case (the case record's "Report a change", or the API)."""
    return events.add_registration(
        case.engine, case.crn, code, by="om.north.po.e", started_on=started_on
    ).record_id


def _kept_messages(case: Case, name: str) -> list[InboundMessage]:
    """Messages of that name kept for the case until something waits for them."""
    with case.engine.db.transaction(write=False) as session:
        return list(
            session.scalars(
                select(InboundMessage).where(
                    InboundMessage.message_name == name,
                    InboundMessage.correlation_value == case.crn,
                    InboundMessage.status.in_(("stored", "unknown_case")),
                )
            )
        )


def _midnight(day: date) -> datetime:
    """When a review due on `day` falls due: the start of that day (as the register counts it)."""
    return datetime.combine(day, time(), tzinfo=UTC)


def _complete_reviews(case: Case) -> None:
    """The SPO does each oversight review that is open, and the OM each registration review."""
    while "oversight_review" in case.open_elements():
        case.review(case.data().get("rosh", "HIGH"))
    while "review_registration" in case.open_elements():
        case.complete(
            "review_registration", {"registration_decision": "KEEP", "registration_notes": "Applies."}
        )


def test_a_new_child_protection_registration_brings_oversight_forward(case: Case, clock: ManualClock) -> None:
    under_oversight(case, "MEDIUM", "E")
    assert case.review_due() == START + timedelta(weeks=17)
    clock.set(START + timedelta(weeks=3))
    delivery = events.add_registration(case.engine, CRN, "RCPR", by="om.north.po.e").delivery
    assert delivery is not None and delivery.status == "delivered"
    # The wait is interrupted: the review opens now, due within 5 working days, and says why.
    review = case.task("oversight_review")
    assert review.assignee == "spo.north"
    assert review.due_at is not None and review.due_at.date() == (clock.now() + timedelta(days=7)).date()
    assert case.review_due() == clock.now()
    assert "Oversight review brought forward: new child protection or domestic abuse registration (RCPR)" in (
        _timeline(case)
    )
    # The review sees the registration: medium RoSH with child protection is every 8 weeks for an
    # experienced officer, from this review on.
    case.review("MEDIUM")
    assert case.plan_reason() == "medium RoSH with a child protection or domestic abuse registration"
    assert case.review_due() == clock.now() + timedelta(weeks=8)


def test_an_event_while_the_review_is_open_is_noted_for_it_and_not_replayed(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "HIGH", "E")
    fire_at(case.engine, clock, START + timedelta(weeks=6))
    assert events.add_registration(case.engine, CRN, "ADVP", by="om.north.po.e").delivery is not None
    assert case.open_elements() == ["oversight_review"]
    noted = "Reported during the open oversight review: new child protection or domestic abuse registration"
    assert f"{noted} (ADVP)" in _timeline(case)
    case.review("HIGH")
    # The next review waits its interval: the event was dealt with at the review that was open.
    assert case.open_elements() == []
    assert case.review_due() == clock.now() + timedelta(weeks=6)


def test_a_case_not_yet_under_oversight_is_not_told(case: Case) -> None:
    to_allocation(case, "MEDIUM")
    assert events.add_registration(case.engine, CRN, "RCPR", by="om.north.po.e").delivery is None
    raised = events.change_rosh(case.engine, CRN, RoshLevel.HIGH, by="om.north.po.e", source="OASys review")
    assert raised.delivery is None
    # Both are on the register all the same, for the oversight plan the case is about to get.
    with case.engine.db.transaction(write=False) as session:
        found = register.find_case(session, CRN)
        assert found.rosh == RoshLevel.HIGH
        assert register.active_registration(session, found, "RCPR") is not None


def test_a_registration_whose_message_cannot_be_delivered_is_not_kept_either(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    under_oversight(case, "MEDIUM", "E")

    def lost(*_args: Any) -> StepResult:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(case.engine.stepper, "run", lost)
    with pytest.raises(RuntimeError):
        events.add_registration(case.engine, CRN, "RCPR", by="om.north.po.e")
    monkeypatch.undo()
    # Neither the registration nor the message: the officer sees the error and reports it again.
    with case.engine.db.transaction(write=False) as session:
        assert register.active_registration(session, register.find_case(session, CRN), "RCPR") is None
        assert (
            session.scalar(select(InboundMessage).where(InboundMessage.message_name == "oversight_event"))
            is None
        )
    assert events.add_registration(case.engine, CRN, "RCPR", by="om.north.po.e").delivery is not None
    assert "oversight_review" in case.open_elements()


def test_a_registration_the_register_refuses_sends_nothing(case: Case) -> None:
    under_oversight(case, "MEDIUM", "E")
    events.add_registration(case.engine, CRN, "RCPR", by="om.north.po.e")
    case.review("MEDIUM")
    with pytest.raises(register.RegisterError, match="already has a .*RCPR"):
        events.add_registration(case.engine, CRN, "RCPR", by="om.north.po.e")
    assert "oversight_review" not in case.open_elements()


def test_a_registration_that_does_not_change_oversight_sends_nothing(case: Case) -> None:
    under_oversight(case, "MEDIUM", "E")
    assert events.add_registration(case.engine, CRN, "AMHL", by="om.north.po.e").delivery is None
    assert "oversight_review" not in case.open_elements()


def test_a_rise_in_rosh_reported_from_outside_brings_the_review_forward_within_2_days_for_very_high(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "HIGH", "E")
    raised = events.change_rosh(
        case.engine, CRN, RoshLevel.VERY_HIGH, by="om.north.po.e", source="OASys review"
    )
    assert raised.delivery is not None
    review = case.task("oversight_review")
    assert review.due_at is not None and review.due_at.date() == (START + timedelta(days=2)).date()
    assert "Oversight review brought forward: RoSH raised to very high (HIGH to VERY_HIGH)" in _timeline(case)
    lowered = events.change_rosh(case.engine, CRN, RoshLevel.HIGH, by="om.north.po.e", source="OASys review")
    assert lowered.delivery is None


def test_a_registration_is_reviewed_when_its_period_is_up_and_deregistering_ends_its_reviews(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "MEDIUM", "E")
    weapons = _report_registration(case, "WEAP", started_on=(START - timedelta(days=92)).date())
    # Reported from outside, the registration ends the registration cycle's wait: the cycle reads
    # the register again and the review, already due (started 3 months ago), opens at once.
    task = case.task("review_registration")
    assert (task.candidate_role, task.assignee) == ("OM", "om.north.po.e")
    assert case.data()["registration_review"]["code"] == "WEAP"
    case.complete(
        "review_registration",
        {"registration_decision": "DEREGISTER", "registration_notes": "Knife surrendered."},
    )
    with case.engine.db.transaction(write=False) as session:
        from casework.models import Registration

        ended = session.get(Registration, weapons)
        assert ended is not None and ended.deregistered_at is not None
        assert ended.deregistration_notes == "Knife surrendered."
    assert "Deregistered: Weapons (WEAP): Knife surrendered." in _timeline(case)
    # The ended registration is never reviewed again; the RoSH register falls due at 6 months.
    fire_at(case.engine, clock, START + timedelta(weeks=16))
    assert "review_registration" not in case.open_elements()


def test_a_kept_registration_falls_due_again_a_review_period_later(case: Case, clock: ManualClock) -> None:
    under_oversight(case, "MEDIUM", "E")
    registration = _report_registration(case, "WEAP", started_on=(START - timedelta(days=92)).date())
    fire_at(case.engine, clock, START + timedelta(weeks=4))
    case.complete(
        "review_registration", {"registration_decision": "KEEP", "registration_notes": "Still carries."}
    )
    with case.engine.db.transaction(write=False) as session:
        from casework.models import Registration

        kept = session.get(Registration, registration)
        assert kept is not None and kept.next_review_on == add_months(clock.now().date(), 3)


def test_with_no_registration_due_the_cycle_sleeps_until_the_shortest_review_period(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "MEDIUM", "E")
    # The RoSH register falls due at 6 months; nothing else is registered. The cycle does not look
    # at the register every 4 weeks: nothing moves the case at all for 8 weeks (its oversight review
    # waits 17), ...
    for week in range(1, 9):
        clock.set(START + timedelta(weeks=week))
        assert case.engine.fire_due_timers() == 0  # type: ignore[attr-defined]
    assert "registrations_changed" in {name for name, _ in case.waits()}
    # ... but it does look at the shortest review period of any register (3 months): a registration
    # the process itself added meanwhile (it starts that day) cannot have fallen due before then.
    horizon = _midnight(add_months(START.date(), 3))
    assert case.instance().next_timer_at == horizon
    clock.set(horizon - timedelta(minutes=1))
    assert case.engine.fire_due_timers() == 0  # type: ignore[attr-defined]
    clock.set(horizon)
    assert case.engine.fire_due_timers() == 1  # type: ignore[attr-defined]
    assert "review_registration" not in case.open_elements()


def test_a_backdated_registration_reported_from_outside_is_reviewed_on_its_due_date(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "MEDIUM", "E")
    clock.set(START + timedelta(weeks=1))
    due_on = clock.now().date() + timedelta(weeks=2)
    started_on = add_months(due_on, -3)  # Weapons is reviewed every 3 months: due in 2 weeks
    reported = events.add_registration(case.engine, CRN, "WEAP", by="om.north.po.e", started_on=started_on)
    assert reported.delivery is None  # Weapons does not bring oversight forward
    assert reported.reviews_delivery is not None and reported.reviews_delivery.status == "delivered"
    with case.engine.db.transaction(write=False) as session:
        weapons = register.active_registration(session, register.find_case(session, CRN), "WEAP")
        assert weapons is not None and weapons.next_review_on == due_on
    # The cycle woke, read the register again and now waits for the Weapons review's day (not for
    # the 3 months it was waiting), ready to hear of the next reported change.
    assert "review_registration" not in case.open_elements()
    assert case.instance().next_timer_at == _midnight(due_on)
    assert "registrations_changed" in {name for name, _ in case.waits()}
    assert _kept_messages(case, "registrations_changed") == []
    fire_at(case.engine, clock, _midnight(due_on) - timedelta(minutes=1))
    assert "review_registration" not in case.open_elements()
    fire_at(case.engine, clock, _midnight(due_on))
    task = case.task("review_registration")
    assert (task.candidate_role, task.assignee) == ("OM", "om.north.po.e")
    assert case.data()["registration_review"]["code"] == "WEAP"
    assert case.data()["registration_review"]["due_on"] == due_on.isoformat()


def test_a_child_protection_registration_tells_oversight_and_the_registration_reviews_together(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "MEDIUM", "E")
    clock.set(START + timedelta(weeks=3))
    started_on = add_months(clock.now().date(), -3) + timedelta(days=10)
    reported = events.add_registration(case.engine, CRN, "RCPR", by="om.north.po.e", started_on=started_on)
    assert reported.delivery is not None and reported.delivery.status == "delivered"
    assert reported.reviews_delivery is not None and reported.reviews_delivery.status == "delivered"
    assert case.open_elements() == ["oversight_review"]
    due_at = _midnight(add_months(started_on, 3))
    fire_at(case.engine, clock, due_at)
    assert "review_registration" in case.open_elements()
    assert case.data()["registration_review"]["code"] == "RCPR"


def test_a_registration_reported_when_the_reviews_are_not_waiting_keeps_no_message(
    case: Case, clock: ManualClock
) -> None:
    to_allocation(case, "MEDIUM")
    # Before supervision there is no registration cycle to tell, and nothing is kept for it.
    started_on = (START - timedelta(days=80)).date()
    reported = events.add_registration(case.engine, CRN, "WEAP", by="om.north.po.e", started_on=started_on)
    assert reported.delivery is None and reported.reviews_delivery is None
    with case.engine.db.transaction(write=False) as session:
        assert register.active_registration(session, register.find_case(session, CRN), "WEAP") is not None
        assert (
            session.scalar(
                select(InboundMessage).where(InboundMessage.message_name == "registrations_changed")
            )
            is None
        )
    # Once under management the cycle reads the register as it then stands, and the registration is
    # reviewed on its day.
    case.allocate("E")
    case.induct()
    case.assess("MEDIUM")
    case.countersign_all()
    case.write_plans()
    due_at = _midnight(add_months(started_on, 3))
    assert case.instance().next_timer_at == due_at
    fire_at(case.engine, clock, due_at)
    assert case.data()["registration_review"]["code"] == "WEAP"
    assert "review_registration" in case.open_elements()


def test_a_registration_reported_while_a_review_is_open_is_read_when_the_review_is_done(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "MEDIUM", "E")
    _report_registration(case, "WEAP", started_on=(START - timedelta(days=92)).date())
    assert "review_registration" in case.open_elements()
    # The cycle waits for the Offender Manager now, not for a message: a second registration is
    # recorded, and no message is sent or kept.
    gangs = events.add_registration(
        case.engine, CRN, "STRG", by="om.north.po.e", started_on=(START - timedelta(days=92)).date()
    )
    assert gangs.reviews_delivery is None
    assert _kept_messages(case, "registrations_changed") == []
    # The review done, the next turn reads the register afresh: the second one, due too, is next.
    case.complete("review_registration", {"registration_decision": "KEEP", "registration_notes": "Applies."})
    assert case.data()["registration_review"]["code"] == "STRG"
    assert "review_registration" in case.open_elements()


def test_a_registration_message_the_cycle_was_no_longer_waiting_for_is_not_kept(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    under_oversight(case, "MEDIUM", "E")
    deliver = case.engine.deliver_message_within

    def moved_on_meanwhile(session: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        # Between the look at the wait and the lock on the case, another step moved the cycle on.
        session.execute(delete(MessageWait).where(MessageWait.message_name == name))
        return deliver(session, name, *args, **kwargs)

    monkeypatch.setattr(case.engine, "deliver_message_within", moved_on_meanwhile)
    reported = events.add_registration(case.engine, CRN, "WEAP", by="om.north.po.e")
    assert reported.reviews_delivery is None
    with case.engine.db.transaction(write=False) as session:
        assert register.active_registration(session, register.find_case(session, CRN), "WEAP") is not None
        assert (
            session.scalar(
                select(InboundMessage).where(InboundMessage.message_name == "registrations_changed")
            )
            is None
        )


def test_a_mappa_registration_added_by_the_process_is_reviewed_on_its_due_date(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "HIGH", "E")
    clock.set(START + timedelta(weeks=2))
    events.refer_to_mappa(
        case.engine, CRN, reason="Threats to a former partner.", referred_by="om.north.po.e"
    )
    case.complete("set_referred_mappa_level", {"mappa_category": "CAT2", "mappa_level": 2})
    # The level change added the MAPPA register (reviewed every 3 months) inside the process: the
    # registration cycle is not told, and finds it when it next looks (at the latest 3 months after it
    # last looked, before the registration can fall due).
    with case.engine.db.transaction(write=False) as session:
        mappa = register.active_registration(session, register.find_case(session, CRN), "MAPP")
        assert mappa is not None and mappa.next_review_on == add_months(clock.now().date(), 3)
        due_at = _midnight(mappa.next_review_on)
    assert _kept_messages(case, "registrations_changed") == []
    while clock.now() < due_at - timedelta(days=1):
        fire_at(case.engine, clock, min(clock.now() + timedelta(weeks=1), due_at - timedelta(minutes=1)))
        while "oversight_review" in case.open_elements():
            case.review("HIGH")
        assert "review_registration" not in case.open_elements()
    fire_at(case.engine, clock, due_at)
    assert case.data()["registration_review"]["code"] == "MAPP"
    assert case.task("review_registration").assignee == "om.north.po.e"


def test_a_mappa_level_2_referral_during_the_order_goes_to_the_coordinator_and_brings_oversight_forward(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "HIGH", "E")
    clock.set(START + timedelta(weeks=2))
    events.refer_to_mappa(
        case.engine, CRN, reason="Threats to a former partner.", referred_by="om.north.po.e"
    )
    task = case.task("set_referred_mappa_level")
    assert (task.candidate_role, task.lane) == ("MAPPA_COORDINATOR", "MAPPA Coordinator")
    case.complete("set_referred_mappa_level", {"mappa_category": "CAT2", "mappa_level": 2})
    with case.engine.db.transaction(write=False) as session:
        assert register.find_case(session, CRN).mappa_level == 2
    # The level change brings the oversight review forward.
    assert case.task("oversight_review")
    assert "Oversight review brought forward: MAPPA level changed (MAPPA level 2)" in _timeline(case)
    case.review("HIGH")
    assert case.plan_reason() == "high RoSH or MAPPA level 2"
    # Level 2 cases meet every 16 weeks; the coordinator records the level the meeting set.
    meeting_due = clock.now() + timedelta(weeks=16)
    while clock.now() < meeting_due - timedelta(days=1):
        fire_at(case.engine, clock, min(clock.now() + timedelta(weeks=1), meeting_due - timedelta(days=1)))
        _complete_reviews(case)
        assert "hold_mappa_meeting" not in case.open_elements()
    fire_at(case.engine, clock, meeting_due)
    _complete_reviews(case)
    case.complete(
        "hold_mappa_meeting",
        {"meeting_date": case.today(), "mappa_category": "CAT2", "mappa_level": 3, "minutes": "Escalated."},
    )
    review = case.task("oversight_review")
    assert "Oversight review brought forward: MAPPA level changed to 3 (MAPPA level 3)" in _timeline(case)
    assert review.due_at is not None and review.due_at <= clock.now() + timedelta(days=4)


def test_a_transfer_accepted_by_the_receiving_spo_moves_the_case_and_the_oms_open_tasks(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "HIGH", "E")
    _report_registration(case, "WEAP", started_on=(START - timedelta(days=92)).date())
    fire_at(case.engine, clock, START + timedelta(weeks=4))
    old_owner, new_owner = "om.north.po.e", om_username("south", "PO", "E")
    assert case.task("review_registration").assignee == old_owner
    events.request_transfer(
        case.engine, CRN, owner=new_owner, reason="Moved to Kendal.", requested_by="spo.north"
    )
    accept = case.task("accept_transfer")
    assert (accept.candidate_role, accept.assignee) == ("SPO", "spo.south")
    case.complete("accept_transfer", {"transfer_decision": "ACCEPT"})
    # The owner changed on the register with its history, and the old owner's open task moved.
    assert case.task("review_registration").assignee == new_owner
    with case.engine.db.transaction(write=False) as session:
        from casework.models import OwnershipChange

        changes = session.scalars(select(OwnershipChange).order_by(OwnershipChange.id)).all()
        assert [(c.to_staff.username, c.reason) for c in changes][-1] == (new_owner, "Moved to Kendal.")
        assert changes[-2].ended_at is not None
    # The new owner brings the oversight review forward, to the new team's SPO.
    review = case.task("oversight_review")
    assert review.assignee == "spo.south"
    assert f"Oversight review brought forward: new Offender Manager (now owned by {new_owner})" in _timeline(
        case
    )


def test_a_declined_transfer_changes_nothing(case: Case) -> None:
    under_oversight(case, "HIGH", "E")
    events.request_transfer(
        case.engine, CRN, owner=om_username("south", "PO", "E"), reason="Moved.", requested_by="om.north.po.e"
    )
    case.complete(
        "accept_transfer", {"transfer_decision": "DECLINE", "transfer_notes": "Address not confirmed."}
    )
    assert case.open_elements() == []
    with case.engine.db.transaction(write=False) as session:
        assert register.find_case(session, CRN).owner.username == "om.north.po.e"  # type: ignore[union-attr]


def test_a_transfer_to_an_officer_who_cannot_hold_the_risk_is_refused_when_asked(case: Case) -> None:
    under_oversight(case, "HIGH", "E")
    pso = om_username("south", "PSO", "E")
    with pytest.raises(ValueError, match="cannot own a case with High RoSH"):
        events.request_transfer(case.engine, CRN, owner=pso, reason="Moved.", requested_by="spo.north")
    assert case.open_elements() == []


def test_a_transfer_the_register_refuses_at_acceptance_changes_nothing(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "MEDIUM", "E")
    pso = om_username("south", "PSO", "E")
    events.request_transfer(case.engine, CRN, owner=pso, reason="Moved.", requested_by="spo.north")
    with case.engine.db.transaction() as session:  # the risk rises before the SPO decides
        register.record_rosh(session, CRN, RoshLevel.HIGH, at=clock.now(), by="om.north.po.e", source="OASys")
    result = case.complete("accept_transfer", {"transfer_decision": "ACCEPT"})
    assert result.error is None
    assert case.open_elements() == []
    with case.engine.db.transaction(write=False) as session:
        assert register.find_case(session, CRN).owner.username == "om.north.po.e"  # type: ignore[union-attr]


# ------------------------------------------------------------- messages from OASys and the police


def rosh_to_public_only(rosh: str) -> dict[str, str]:
    """An OASys form's levels by group: `rosh` to the public, no other group at risk."""
    others = ("children", "known_adult", "staff", "prisoners")
    return {"rosh_to_public": rosh} | {f"rosh_to_{group}": "NOT_AT_RISK" for group in others}


def oasys_completed(case: Case, rosh: str, registrations: Sequence[str] = ()) -> str:
    """OASys reports the case's assessment completed; what became of the message."""
    payload = {
        "rosh": rosh,
        "assessment_date": "2026-11-20",
        "risk_to": ["PUBLIC"],
        "registrations": list(registrations),
    }
    delivery = case.engine.deliver_message(
        "oasys_assessment_completed", case.crn, payload, idempotency_key=None, sender="oasys"
    )
    return delivery.status


def arrested(case: Case, detail: str = "Arrested for assault on a neighbour") -> str:
    """The police report an arrest during the order; what became of the message."""
    payload = {"kind": "ARREST", "date": "2026-11-22", "detail": detail}
    delivery = case.engine.deliver_message(
        "arrest_or_new_charge", case.crn, payload, idempotency_key=None, sender="police"
    )
    return delivery.status


def test_an_assessment_completed_in_oasys_completes_the_oasys_step_with_its_rosh(case: Case) -> None:
    to_allocation(case, "HIGH")
    case.allocate("E")
    case.induct()
    assert "assess_oasys" in case.open_elements()
    assert oasys_completed(case, "VERY_HIGH", ["WEAP"]) == "delivered"
    # The Offender Manager's task is withdrawn: the assessment is recorded as if entered on the form.
    assert "assess_oasys" not in case.open_elements()
    assert case.task_row("assess_oasys").state != "open"
    with case.engine.db.transaction(write=False) as session:
        found = register.find_case(session, CRN)
        assert found.rosh == RoshLevel.VERY_HIGH
        assert register.active_registration(session, found, "WEAP") is not None
    # Very high RoSH: the SPO countersigns, then the ACO (policy 9).
    assert case.open_elements() == ["countersign_spo"]
    case.countersign("countersign_spo")
    assert case.open_elements() == ["countersign_aco"]


def test_an_oasys_assessment_reported_before_the_step_opens_completes_it_when_it_opens(case: Case) -> None:
    to_allocation(case, "MEDIUM")
    assert oasys_completed(case, "MEDIUM") == "stored"
    case.allocate("E")
    case.induct()
    # Kept until the step opened, then used at once: no task waits for the Offender Manager.
    assert "assess_oasys" not in case.open_elements()
    assert case.open_elements() == ["write_plans"]  # medium RoSH, experienced officer: no countersigning


def test_an_arrest_during_supervision_prompts_a_risk_review_and_brings_oversight_forward(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "MEDIUM", "E")
    clock.set(START + timedelta(weeks=3))  # a Monday
    assert arrested(case) == "delivered"
    # The Offender Manager reviews the risk within 1 working day.
    risk_review = case.task("review_risk_after_arrest")
    assert risk_review.assignee == "om.north.po.e"
    assert (
        risk_review.due_at is not None
        and risk_review.due_at.date() == (clock.now() + timedelta(days=1)).date()
    )
    # The SPO is told at once: the oversight review opens now, due within 2 working days, with why.
    oversight = case.task("oversight_review")
    assert oversight.assignee == "spo.north"
    assert (
        oversight.due_at is not None and oversight.due_at.date() == (clock.now() + timedelta(days=2)).date()
    )
    assert (
        "Oversight review brought forward: arrest or new charge (Arrested for assault on a neighbour)"
        in _timeline(case)
    )
    case.complete(
        "review_risk_after_arrest",
        {
            "what_happened": "Arrested after a fight; released under investigation.",
            "rosh": "HIGH",
            "enforcement": "WARNING",
            "actions": "Weekly reporting; police liaison; SPO told.",
        },
    )
    case.review("HIGH")
    assert case.open_elements() == []
    # A later charge is dealt with the same way.
    clock.set(START + timedelta(weeks=5))
    assert arrested(case, "Charged with criminal damage") == "delivered"
    assert sorted(case.open_elements()) == ["oversight_review", "review_risk_after_arrest"]


def test_an_arrest_reported_before_supervision_is_kept_until_the_case_is_under_management(case: Case) -> None:
    to_allocation(case, "MEDIUM")
    assert arrested(case) == "stored"
    case.allocate("E")
    case.induct()
    case.assess("MEDIUM")
    case.write_plans()
    assert "review_risk_after_arrest" in case.open_elements()


def test_a_risk_review_after_an_arrest_is_withdrawn_when_the_case_ends(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "MEDIUM", "E")
    clock.set(START + timedelta(weeks=3))
    arrested(case)
    case.review("MEDIUM", case_ends=True)
    assert case.open_elements() == ["termination_review"]
    assert case.task_row("review_risk_after_arrest").state != "open"
