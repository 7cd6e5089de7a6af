"""The process keeps the central register as it runs: the offender management model, driven the way
staff drive it (tests/test_process_model.py), leaves the case, its owner, its history and its timeline
on the register, and routes each Offender Manager and SPO task to the people who hold the case."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from casework_area import om_username
from conftest import START
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_process_model import CRN, Case, case, fire_at, om_engine, to_allocation, under_oversight

from casework import register
from casework.models import OversightPlan, OversightReview, OwnershipChange, RiskMeeting
from casework.register_types import add_months
from casework.sentencing import outcomes_of
from casework.vocabulary import Grade, RoshLevel, SentenceOutcome, Stage
from engine.clock import ManualClock
from engine.errors import InvalidData, NotPermitted
from engine.models import AuditEvent
from engine.runtime import Actor, InstanceStatus
from engine.scripting import StepContext
from tasks.services import registration_review_due, transfer_case
from tasks.wiring import build_services

__all__ = ["case", "om_engine"]  # fixtures shared with the process model tests

OWNER = om_username("north", "PO", "E")


def register_session(case: Case) -> Session:
    """A session to read what the process wrote on the register."""
    return Session(case.engine.db.engine)


def codes(session: Session) -> list[str | None]:
    return [event.code for event in register.timeline(session, CRN)]


def test_a_case_is_on_the_register_the_moment_it_is_identified(case: Case) -> None:
    started = case.engine.start("offender_management", business_key=CRN, data={"crn": CRN})
    case.instance_id = started.instance_id
    with register_session(case) as session:
        record = register.find_case(session, CRN)
        assert (record.stage, record.owner, record.created_at) == (Stage.IDENTIFIED, None, START)
        assert codes(session) == ["EAPP"]
    assert case.open_elements() == ["record_first_details"]


def test_screening_outcome_and_risk_meeting_are_recorded_on_the_case(case: Case) -> None:
    case.start()
    case.screen("HIGH", "CAT1", ["RCPR"])
    with register_session(case) as session:
        record = register.find_case(session, CRN)
        assert (record.stage, record.rosh, record.mappa_level) == (Stage.AWAITING_SENTENCE, RoshLevel.HIGH, 1)
        assert sorted(r.code for r in record.active_registrations()) == ["MAPP", "RCPR", "RHRH"]
    case.sentenced("CUSTODY_12_MONTHS_OR_MORE")
    case.hold_meeting("MEDIUM")
    with register_session(case) as session:
        record = register.find_case(session, CRN)
        assert (record.stage, record.sentence_outcome) == (
            Stage.SENTENCED,
            SentenceOutcome.CUSTODY_12_MONTHS_OR_MORE,
        )
        # The RoSH the meeting agreed is the case's now, and its RoSH register follows.
        assert record.rosh == RoshLevel.MEDIUM
        assert "RMRH" in {r.code for r in record.active_registrations()}
        meeting = session.scalars(select(RiskMeeting)).one()
        assert (meeting.chair, meeting.information_shared_with, meeting.mappa_referral) == (
            "spo.one",
            ["POLICE"],
            False,
        )
        assert {"ECRP", "EAPP", "RROD", "ERGN", "ERGD"} <= set(codes(session))


def test_the_structured_outcome_is_kept_on_the_register_and_the_timeline_in_plain_words(case: Case) -> None:
    case.start()
    case.screen("LOW")
    case.sentenced("COMMUNITY_ORDER", court="Workington Magistrates' Court", end_date="2028-05-08")
    with register_session(case) as session:
        record = register.find_case(session, CRN)
        assert (record.stage, record.sentence_outcome) == (Stage.SENTENCED, SentenceOutcome.COMMUNITY_ORDER)
        (kept,) = outcomes_of(session, record)
        assert (kept.outcome_date, kept.court, kept.end_date) == (
            date(2026, 11, 9),
            "Workington Magistrates' Court",
            date(2028, 5, 8),
        )
        line = [e for e in register.timeline(session, CRN) if e.kind == "sentence_outcome"][-1]
        assert (line.code, line.summary) == (
            "ECOM",
            "Sentenced at Workington Magistrates' Court on 09 November 2026: "
            "community order, ending 08 May 2028",
        )
    assert case.open_elements() == ["allocate_owner"]


def test_allocation_gives_the_case_its_owner_on_the_register(case: Case) -> None:
    to_allocation(case, "LOW")
    case.allocate("E", tier=2)
    with register_session(case) as session:
        record = register.find_case(session, CRN)
        assert record.owner is not None and record.owner.username == OWNER
        assert (record.stage, record.tier, record.team is not None and record.team.code) == (
            Stage.ALLOCATED,
            2,
            "NORTH",
        )
        [change] = session.scalars(select(OwnershipChange)).all()
        assert (change.to_staff.username, change.changed_by, change.ended_at) == (OWNER, "spo.one", None)
        # Tier and owner, then the oversight plan, which starts at allocation (no register code).
        assert codes(session)[-3:] == ["ETCH", "ROC", None]
        assert register.current_oversight_plan(session, record) is not None
    # The owner's grade and band come from the staff list, for countersigning and oversight.
    data = case.data()
    assert (data["owner_grade"], data["om_experience"]) == ("PO", "E")


def test_a_pso_cannot_be_allocated_a_high_rosh_case(case: Case) -> None:
    to_allocation(case, "HIGH")
    offered = case.task("allocate_owner")
    with pytest.raises(InvalidData) as refused:
        case.allocate("E", "PSO")
    [error] = refused.value.errors
    assert error.field == "owner_staff_id"
    assert error.message == (
        "OM North PSO E (Probation Services Officer) cannot own a case with High RoSH: the grade rules "
        "(policy 7) do not allow a Probation Services Officer to hold it. Choose from the list."
    )
    # Nothing changed: the same task, due as before, and no owner on the register.
    still = case.task("allocate_owner")
    assert (still.id, still.due_at) == (offered.id, offered.due_at)
    with register_session(case) as session:
        record = register.find_case(session, CRN)
        assert (record.owner, record.tier) == (None, None)
    case.allocate("E", "PO")
    assert case.open_elements() == ["hold_induction"]
    with register_session(case) as session:
        assert len(session.scalars(select(OwnershipChange)).all()) == 1


def test_a_tier_4_case_chosen_for_a_pso_is_refused_on_the_same_task(case: Case) -> None:
    to_allocation(case, "MEDIUM")
    offered = case.task("allocate_owner")
    with pytest.raises(InvalidData) as refused:
        case.allocate("E", "PSO", tier=4)
    [error] = refused.value.errors
    assert error.field == "owner_staff_id" and "cannot own a case with tier 4" in error.message
    assert case.task("allocate_owner").id == offered.id
    with register_session(case) as session:
        assert register.find_case(session, CRN).tier is None


def test_an_unknown_username_is_refused_on_the_same_task(case: Case) -> None:
    to_allocation(case, "LOW")
    offered = case.task("allocate_owner")
    with pytest.raises(InvalidData) as refused:
        case.complete("allocate_owner", {"owner_staff_id": "om.nobody", "tier": 1})
    assert "Nobody on the staff list has the username 'om.nobody'" in refused.value.errors[0].message
    assert case.task("allocate_owner").id == offered.id


def test_the_allocation_list_offers_only_the_teams_eligible_staff(case: Case) -> None:
    to_allocation(case, "HIGH")
    task = case.task("allocate_owner")
    with case.engine.db.transaction(write=False) as session:
        form = case.engine.task_form(session, task.id, Actor("spo.north", frozenset({"SPO"})))
    assert form is not None
    offered = form["properties"]["owner_staff_id"]["oneOf"]
    assert [(o["const"], o["description"]) for o in offered] == [
        ("om.north.po.e", "Probation Officer, Experienced, 0 open cases"),
        ("om.north.po.n", "Probation Officer, Newly qualified or trainee, 0 open cases"),
        ("om.north.senior_practitioner.s", "Senior Practitioner, Senior practitioner, 0 open cases"),
    ]


def test_offender_manager_tasks_go_to_the_owner_and_spo_tasks_to_the_owning_teams_spo(case: Case) -> None:
    to_allocation(case, "HIGH")
    assert case.task("allocate_owner").assignee is None  # no owner yet: the SPO pool
    case.allocate("N")
    induction = case.task("hold_induction")
    owner = om_username("north", "PO", "N")
    assert induction.assignee == owner
    with pytest.raises(NotPermitted, match=f"assigned to {owner}"):
        case.engine.complete_task(induction.id, Actor("om.south.po.e", frozenset({"OM"})), {})
    case.induct()
    case.assess("HIGH")
    assert case.task("countersign_spo").assignee == "spo.north"


def test_the_oversight_plan_and_each_review_are_kept_on_the_register(case: Case, clock: ManualClock) -> None:
    under_oversight(case, "VERY_HIGH", "N")
    with register_session(case) as session:
        plan = session.scalars(select(OversightPlan)).one()
        assert (plan.interval_weeks, plan.reviewer_grade, plan.next_review_due) == (
            2,
            Grade.ACO,
            START + timedelta(weeks=2),
        )
        assert register.find_case(session, CRN).stage == Stage.SUPERVISED
    fire_at(case.engine, clock, START + timedelta(weeks=2))
    case.review("VERY_HIGH")
    fire_at(case.engine, clock, clock.now() + timedelta(weeks=2))
    fire_at(case.engine, clock, clock.now() + timedelta(days=7))
    case.complete(
        "escalated_review",
        {
            "review_date": case.today(),
            "action_taken": "REVIEWED_BY_ACO",
            "rosh": "HIGH",
            "findings": "Risk reduced since the move.",
            "reason_missed": "SPO on leave.",
            "case_ends": False,
        },
    )
    with register_session(case) as session:
        reviews = session.scalars(select(OversightReview).order_by(OversightReview.id)).all()
        assert [(r.on_time, r.escalated, r.done_by) for r in reviews] == [
            (True, False, "spo.north"),
            (False, True, "aco.one"),
        ]
        # RoSH high with a newly qualified OM: every 4 weeks; the old plan ended, the new one in force.
        plans = session.scalars(select(OversightPlan).order_by(OversightPlan.id)).all()
        assert [(p.interval_weeks, p.ended_at is None) for p in plans] == [(2, False), (4, True)]
        assert plans[-1].next_review_due == clock.now() + timedelta(weeks=4)
        assert register.find_case(session, CRN).rosh == RoshLevel.HIGH


def test_closing_the_case_closes_it_on_the_register(case: Case, clock: ManualClock) -> None:
    under_oversight(case, "HIGH", "E", registrations=["ADVP"])
    fire_at(case.engine, clock, START + timedelta(weeks=6))
    case.review("HIGH", case_ends=True)
    result = case.complete(
        "termination_review",
        {
            "termination_date": case.today(),
            "termination_reason": "COMPLETED",
            "final_rosh": "MEDIUM",
            "registrations_reviewed": True,
            "termination_summary": "Order completed.",
        },
    )
    assert result.status == InstanceStatus.COMPLETED
    with register_session(case) as session:
        record = register.find_case(session, CRN)
        assert (record.stage, record.closed_at) == (Stage.CLOSED, clock.now())
        assert record.active_registrations() == []
        assert register.current_ownership(session, record) is None
        assert register.timeline(session, CRN)[-1].summary == "Case closed: order ended on 14 December 2026"


def test_a_transfer_moves_the_owners_open_tasks_to_the_new_owner(case: Case, clock: ManualClock) -> None:
    to_allocation(case, "HIGH")
    case.allocate("E")
    assert case.task("hold_induction").assignee == OWNER
    new_owner = om_username("south", "PO", "E")
    with case.engine.db.transaction() as session:
        ctx = _step(session, case, clock, actor="spo.north")
        result = transfer_case(ctx, crn=CRN, owner=new_owner, reason="moved to Kendal")
    assert result == {"owner": new_owner, "tasks_moved": 1}
    assert case.task("hold_induction").assignee == new_owner
    with case.engine.db.transaction(write=False) as session:
        moved = session.scalar(select(AuditEvent).where(AuditEvent.event == "task_reassigned"))
    assert moved is not None and moved.reason == "moved to Kendal"
    assert moved.detail == {"task_id": case.task("hold_induction").id, "from": OWNER, "to": new_owner}
    case.induct()
    case.assess("HIGH")
    assert case.task("countersign_spo").assignee == "spo.south"
    with register_session(case) as session:
        assert [
            c.to_staff.username for c in session.scalars(select(OwnershipChange).order_by(OwnershipChange.id))
        ] == [OWNER, new_owner]
        assert register.find_case(session, CRN).owner_id is not None


def test_an_older_model_that_does_not_hear_of_reported_registrations_still_looks_within_4_weeks(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "MEDIUM", "E")
    with case.engine.db.transaction(write=False) as session:
        ctx = _step(session, case, clock, actor="system")
        older = registration_review_due(ctx, crn=CRN)
        current = registration_review_due(ctx, crn=CRN, wakes_when_reported=True)
    # Nothing falls due before the RoSH register's 6 months: an older model's cycle looks again in 4
    # weeks, the current one at the shortest review period, 3 months.
    assert (older["due"], older["code"], current["due"], current["code"]) == (False, "RMRH", False, "RMRH")
    assert older["wake_at"] == (START + timedelta(weeks=4)).isoformat()
    assert current["wake_at"] == datetime.combine(add_months(START.date(), 3), time(), tzinfo=UTC).isoformat()


def test_every_register_operation_the_model_calls_is_registered() -> None:
    names = build_services().names()
    assert {
        "identify_case",
        "record_court_details",
        "record_rosh_screening",
        "record_sentence_outcome",
        "record_risk_meeting",
        "record_mappa_level",
        "allocate_case",
        "transfer_case",
        "transfer_if_suitable",
        "owner_fits_case",
        "reallocate_case",
        "record_oasys_assessment",
        "set_oversight_plan",
        "record_oversight_review",
        "close_case",
        "case_risk",
        "bring_oversight_forward",
        "note_oversight_event",
        "standard_dates",
        "registration_review_due",
        "keep_or_end_registration",
        "record_sentencing_outcome",
        "close_on_outcome",
        "custody_timetable",
        "licence_turn",
        "release_on_licence",
        "recall_to_custody",
        "end_licence",
        "ask_for_recall",
        "refuse_recall",
        "plan_order_end",
        "review_falls_due",
        "pass_over_sampled_review",
        "sign_off_oversight_review",
    } == names


def _step(session: Session, case: Case, clock: ManualClock, *, actor: str) -> StepContext:
    """The context a service operation gets inside an engine step, for calling one directly."""
    return StepContext(session, case.instance_id, case.crn, actor, clock)
