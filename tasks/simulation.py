"""Cases run through the real offender management process by simulated staff over simulated months.

Every case's history is then real workflow history: the process starts each case, staff complete
the tasks the process gives them (on the forms, as the assignee or a member of the role's pool), the
court sends the sentencing outcome as a message, and the clock moves a day at a time so that timers
fire (oversight reviews, registration reviews, MAPPA meetings). The same seed always gives the same
cases and the same decisions. The staff must already be on the register (casework.demo_area).
"""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework import sentencing
from casework.demo_area import (
    EXTENSION_MONTHS_MIX,
    FORENAMES,
    ORDER_MONTHS,
    OUTCOME_MIX,
    ROSH_MIX,
    SPECIFIED_OFFENCES,
    SURNAMES,
    TIER_BY_ROSH,
    offence_for,
    pick,
)
from casework.demo_area import REGISTER_PREVALENCE as AREA_REGISTER_PREVALENCE
from casework.models import Case, Staff
from casework.register_types import add_months
from casework.roles import Role
from casework.vocabulary import (
    CASE_HOLDING_GRADES,
    QUALIFIED_OFFICER_GRADES,
    ExperienceBand,
    RiskGroup,
    RoshLevel,
    SentenceOutcome,
    Stage,
)
from engine.clock import ManualClock
from engine.errors import Conflict, FieldError, InvalidData, NotPermitted
from engine.models import HumanTask, ProcessInstance
from engine.runtime import Actor, ProcessEngine

PROCESS = "offender_management"
COURT = "court.results"
TRANSFER_REQUESTED = "transfer_requested"
# domain.md 5.3: RoSH at screening, MAPPA eligibility, and the registrations that matter most.
ROSH_SHARES = (("LOW", 0.30), ("MEDIUM", 0.60), ("HIGH", 0.08), ("VERY_HIGH", 0.02))
REGISTRATION_SHARES = (("RCPR", 0.05), ("RCHD", 0.04), ("ADVP", 0.10), ("WEAP", 0.03), ("AV2S", 0.02))
# An area as it is on a given day (`area=True`, the demo deployment): the case-level distributions of
# domain.md 5.3 (RoSH, MAPPA, registers, sentence outcomes, tiers: casework.demo_area), and work
# that takes the time it takes, so that the area's cases are spread across the stages.
AREA_REGISTRATION_SHARES = tuple(
    (code, AREA_REGISTER_PREVALENCE[code] / 100)
    for code in ("RCPR", "RCHD", "ADVP", "AV2S", "WEAP")  # the registers the report screening records
)
# High RoSH cases carry the child protection, domestic abuse and weapons registers more often (the
# registrations that make a high RoSH case one of the critical few: domain.md 2.4).
RISK_LINKED_FACTOR = 2.0
REPORT_TYPES = (("ORAL", 0.2), ("FAST", 0.5), ("STANDARD", 0.3))
# Days the writer needs for each kind of pre-sentence report (written for the adjourned hearing);
# the court's outcome then comes in a day or two, or late (the chase begins after two days).
REPORT_DAYS = {"ORAL": (0, 0), "FAST": (1, 4), "STANDARD": (8, 15)}
OUTCOME_AFTER_DAYS = (1, 2)
LATE_OUTCOME_SHARE = 0.10  # domain.md 5.4: the court outcome is missing for more than 2 days
LATE_ALLOCATION_SHARE = 0.05  # domain.md 5.4: unallocated for more than 3 working days
LATE_REVIEW_SHARE = 0.12  # domain.md 5.4: cases past their oversight review (it then goes to the ACO)
LATE_COUNTERSIGN_SHARE = 0.10  # domain.md 5.4: high-risk OASys awaiting countersign over 10 working days
LATE_REGISTER_REVIEW_SHARE = 0.15  # domain.md 5.3: registrations overdue for review
# The fewest days a task waits before its person gets to it (the work, or the diary, takes that long):
# within the national standards' timescales (domain.md 1.1).
WORK_DAYS = {
    "hold_risk_meeting": (1, 5),
    "give_risk_advice": (0, 2),
    "allocate_owner": (0, 2),
    "hold_induction": (1, 4),
    "assess_oasys": (3, 10),
    "countersign_spo": (1, 3),
    "countersign_aco": (1, 3),
    "write_plans": (0, 3),
    "accept_transfer": (1, 5),
    "termination_review": (0, 5),
    "sign_off_review": (1, 5),  # the ACO's sign-off of a Very High or MAPPA 3 review, within the week [A]
    # The custody and licence route (custody-licence.bpmn) [A]: the sentence plan in custody within its
    # 8 or 16 weeks, mostly; pre-release planning within the weeks before release; a licence review
    # within the week; a recall approved the same or the next day; a fixed-term recall of 28 days
    # served before the re-release is recorded.
    "write_custody_sentence_plan": (10, 45),
    "plan_for_release": (5, 25),
    "record_parole_decision": (0, 3),
    "review_licence": (0, 5),
    "approve_recall_spo": (0, 1),
    "approve_recall_aco": (0, 1),
    "record_rerelease": (28, 28),
}
TRANSFER_SHARE = 0.06  # cases that move to another Offender Manager during the order
# Supervised orders that end before their end date, at an oversight review [A: assumed; domain.md gives
# no figures]: revoked by the court (a breach or a new offence) or ended early for good progress.
EARLY_END_SHARES = (("REVOKED", 0.10), ("EARLY_TERMINATION", 0.03))
LICENCE_RECALL_SHARE = 0.05  # [A] licence reviews at which the Offender Manager asks for a recall
PAROLE_RELEASE_SHARE = 0.4  # [A] Parole Board reviews that direct release
PAROLE_RELEASE_AFTER_DAYS = 28  # [A] release follows the Board's direction by about four weeks
PAROLE_NEXT_REVIEW_MONTHS = 12  # [A] not released: the next review a year on
CASE_TEAM_NAME = "Case Management"
RECENT_DAYS = 28  # "recent" arrivals: the last four weeks
COURTS = ("Carlisle Crown Court", "Workington Magistrates' Court", "Kendal Magistrates' Court")


@dataclass
class CaseProfile:
    """What a simulated case is like, decided once from the seed."""

    crn: str
    arrives: datetime
    rosh: str
    mappa_category: str
    mappa_level: int
    registrations: list[str]
    order_months: int
    sentenced_after_days: int
    outcome: str = "COMMUNITY_ORDER"
    offence: str = "Assault occasioning actual bodily harm"
    extension_months: int = 0  # an extended sentence's extension period
    # An order that ends before its end date, at an oversight review: why, and from when (area mode).
    early_end: str | None = None
    early_end_from: datetime | None = None
    tier: int = 3
    report_type: str = "FAST"
    # The fewest days each kind of task waits for this case (area mode; others: none).
    work_days: dict[str, int] = field(default_factory=dict)
    transfer_after_days: int | None = None  # days after supervision starts that a transfer is asked
    psr_written: datetime | None = None
    ends: datetime | None = None
    supervised_from: datetime | None = None
    owner: str | None = None
    transfer_to: str | None = None
    instance_id: int = 0


@dataclass
class SimulationSummary:
    """What the simulation did: cases started and closed, and the engine's work."""

    cases: int = 0
    closed: int = 0
    tasks_completed: int = 0
    messages: int = 0
    timers_fired: int = 0
    days: int = 0
    seconds: float = 0.0
    by_element: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)  # every outcome the court gave, by code

    @property
    def engine_steps(self) -> int:
        """Every step the engine took: starts, task completions, messages and timers."""
        return self.cases + self.tasks_completed + self.messages + self.timers_fired


# At the new hearing after an adjournment or a deferment the court sentences: the same mix, less
# another adjournment [A], and less an extended or indeterminate sentence unless the offence is a
# specified violent or sexual one.
SENTENCE_AT_NEW_HEARING = {
    outcome: share
    for outcome, share in OUTCOME_MIX.items()
    if outcome not in (SentenceOutcome.ADJOURNED, SentenceOutcome.DEFERRED)
}
DANGEROUS_OFFENDER_SENTENCES = (SentenceOutcome.CUSTODY_EXTENDED, SentenceOutcome.CUSTODY_INDETERMINATE)
ORDINARY_SENTENCE_AT_NEW_HEARING = {
    outcome: share
    for outcome, share in SENTENCE_AT_NEW_HEARING.items()
    if outcome not in DANGEROUS_OFFENDER_SENTENCES
}


def outcome_given(profile: CaseProfile, on: date) -> dict[str, Any]:
    """The case's outcome as the court gives it on `on`, with what it needs (end date, length, date)."""
    return sentencing.needs_of(
        SentenceOutcome(profile.outcome),
        on,
        months=profile.order_months,
        extension_months=profile.extension_months,
    )


class AreaSimulation:
    """Simulated staff working the real process for `cases` cases arriving over `months` months."""

    def __init__(
        self,
        engine: ProcessEngine,
        clock: ManualClock,
        *,
        seed: int = 2008,
        capacity: int | None = None,
        weekdays_only: bool = False,
        pickup: float = 1.0,
        area: bool = False,
    ) -> None:
        """`capacity` caps the tasks each person finishes a day, `weekdays_only` keeps staff at home
        at weekends, and `pickup` is the chance that a person gets to a given task on a given day
        (their other work takes the rest), so that a heavier model shows as late work.

        With `area` the cases follow domain.md's distributions (RoSH, MAPPA levels, registers,
        sentence outcomes, tiers), reports, hearings and assessments take the days they take, and
        some cases are transferred: the cases then stand at every stage on the last day, in the
        proportions of a real caseload (the demo deployment's area)."""
        self.engine, self.clock = engine, clock
        self.capacity, self.weekdays_only, self.pickup = capacity, weekdays_only, pickup
        self.area = area
        self._first_seen: dict[int, datetime] = {}  # open task id: the day staff first saw it
        self._transfers: list[CaseProfile] = []  # supervised cases that will ask for a transfer
        self.rng = random.Random(seed)  # noqa: S311 - a repeatable simulation, not a secret
        self.summary = SimulationSummary()
        self.profiles: dict[str, CaseProfile] = {}
        self._awaiting_sentence: dict[str, CaseProfile] = {}  # PSR written, no sentence yet
        self._pools: dict[str, list[str]] = {}
        self._officers: list[tuple[str, bool]] = []

    def run(
        self,
        *,
        cases: int,
        months: int,
        crn_prefix: str = "S",
        progress: Callable[[float], None] | None = None,
        arrivals_to_the_end: bool = False,
        recent_share: float = 0.0,
    ) -> SimulationSummary:
        """Start `cases` cases spread over the first `months` months, then run until the last day;
        `progress` is told the share of the period done after each simulated day.

        By default the last two months see no new cases, so that most cases get to supervision.
        With `arrivals_to_the_end` cases keep arriving to the last day (an area as it is on a given
        day, with cases at every stage), and `recent_share` of them arrive in the last four weeks."""
        started = time.perf_counter()
        self._load_staff()
        begin = self.clock.now()
        days = 30 * months
        end = begin + timedelta(days=days)
        window = days if arrivals_to_the_end else max(1, days - 60)
        recent = min(window, RECENT_DAYS)
        for n in range(cases):
            crn = f"{crn_prefix}{n + 1:06d}"
            if self.rng.random() < recent_share:
                day = window - recent + self.rng.randrange(recent)
            else:
                day = self.rng.randrange(window)
            self.profiles[crn] = self._profile(crn, begin + timedelta(days=day))
        waiting = deque(sorted(self.profiles.values(), key=lambda p: (p.arrives, p.crn)))
        while self.clock.now() < end:
            today = self.clock.now()
            while waiting and waiting[0].arrives <= today:
                self._start(waiting.popleft())
            self._deliver_outcomes(today)
            self._request_transfers(today)
            self.summary.timers_fired += self.engine.fire_due_timers()
            self._work_open_tasks()
            self.clock.advance(timedelta(days=1))
            self.summary.days += 1
            if progress is not None:
                progress(min(1.0, self.summary.days / days))
        self.summary.seconds = time.perf_counter() - started
        return self.summary

    # ------------------------------------------------------------------------------ the cases

    def _profile(self, crn: str, arrives: datetime) -> CaseProfile:
        if self.area:
            return self._area_profile(crn, arrives)
        rng = self.rng
        rosh = _pick(rng, ROSH_SHARES)
        eligible = rng.random() < 0.12
        high = rosh in ("HIGH", "VERY_HIGH")
        level = (3 if rosh == "VERY_HIGH" and rng.random() < 0.5 else 2) if eligible and high else 1
        return CaseProfile(
            crn=crn,
            arrives=arrives,
            rosh=rosh,
            mappa_category=rng.choice(("CAT1", "CAT2")) if eligible else "NOT_ELIGIBLE",
            mappa_level=level if eligible else 0,
            registrations=[code for code, share in REGISTRATION_SHARES if rng.random() < share],
            order_months=rng.choice((6, 12, 12, 18, 24)),
            sentenced_after_days=rng.choice((1, 1, 2, 3)),
        )

    def _area_profile(self, crn: str, arrives: datetime) -> CaseProfile:
        """A case as domain.md 5.3-5.4 describes the area's caseload."""
        rng = self.rng
        rosh = pick(rng, ROSH_MIX).value
        high = rosh in ("HIGH", "VERY_HIGH")
        # 12% MAPPA-eligible (Cat 1 5%, Cat 2 6.5%, Cat 3 0.5%); levels 2 and 3 mostly for high risk.
        category = _pick(rng, (("CAT1", 0.05), ("CAT2", 0.065), ("CAT3", 0.005), ("NOT_ELIGIBLE", 0.88)))
        level = 0
        if category != "NOT_ELIGIBLE":
            roll = rng.random()
            level = 3 if roll < (0.10 if high else 0.01) else 2 if roll < (0.60 if high else 0.09) else 1
        registrations = [
            code for code, share in AREA_REGISTRATION_SHARES if rng.random() < share * (1.5 if high else 1.0)
        ]
        report = _pick(rng, REPORT_TYPES)
        hearing = rng.randint(*OUTCOME_AFTER_DAYS)
        if rng.random() < LATE_OUTCOME_SHARE:
            hearing += rng.randint(2, 8)  # the outcome is late: the chase begins after two days
        work = {element: rng.randint(*days) for element, days in WORK_DAYS.items()}
        work["write_psr"] = rng.randint(*REPORT_DAYS[report])
        if rng.random() < LATE_ALLOCATION_SHARE:
            work["allocate_owner"] = rng.randint(6, 12)
        if rng.random() < LATE_REVIEW_SHARE:
            work["oversight_review"] = rng.randint(8, 14)  # past the week's grace: missed, to the ACO
        if high and rng.random() < LATE_COUNTERSIGN_SHARE:
            work["countersign_spo"] = rng.randint(15, 20)
        if rng.random() < LATE_REGISTER_REVIEW_SHARE:
            work["review_registration"] = rng.randint(10, 30)
        tier = 4 if level >= 2 else pick(rng, TIER_BY_ROSH[RoshLevel(rosh)])
        outcome = pick(rng, OUTCOME_MIX)
        return CaseProfile(
            crn=crn,
            arrives=arrives,
            rosh=rosh,
            mappa_category=category,
            mappa_level=level,
            registrations=registrations,
            order_months=_months_for(rng, outcome),
            sentenced_after_days=hearing,
            outcome=outcome.value,
            offence=offence_for(rng, outcome, category),
            extension_months=pick(rng, EXTENSION_MONTHS_MIX),
            tier=tier,
            report_type=report,
            work_days=work,
            transfer_after_days=rng.randint(20, 200) if rng.random() < TRANSFER_SHARE else None,
        )

    def _start(self, profile: CaseProfile) -> None:
        started = self.engine.start(PROCESS, business_key=profile.crn, data={"crn": profile.crn})
        profile.instance_id = started.instance_id
        self.summary.cases += 1

    def _deliver_outcomes(self, today: datetime) -> None:
        for profile in list(self._awaiting_sentence.values()):
            written = profile.psr_written
            if written is None or today < written + timedelta(days=profile.sentenced_after_days):
                continue
            del self._awaiting_sentence[profile.crn]
            payload = {"crn": profile.crn, **outcome_given(profile, today.date())}
            self.engine.deliver_message(
                "sentencing_outcome",
                profile.crn,
                payload,
                idempotency_key=f"{profile.crn}-sentence-{payload['sentence_date']}",
                sender=COURT,
            )
            self.summary.messages += 1
            self._after_outcome(profile, payload)

    def _after_outcome(self, profile: CaseProfile, given: dict[str, Any]) -> None:
        """An adjourned or deferred case is heard again on its new date (then sentenced, on a route
        that is not another adjournment); any other outcome runs its order's length."""
        self.summary.outcomes[profile.outcome] = self.summary.outcomes.get(profile.outcome, 0) + 1
        next_hearing = given.get("next_hearing_date")
        if next_hearing:
            on = date.fromisoformat(next_hearing)
            hearing = datetime(on.year, on.month, on.day, 10, tzinfo=UTC)
            profile.psr_written = hearing - timedelta(days=profile.sentenced_after_days)
            specified = profile.offence in SPECIFIED_OFFENCES
            outcome = pick(
                self.rng, SENTENCE_AT_NEW_HEARING if specified else ORDINARY_SENTENCE_AT_NEW_HEARING
            )
            profile.outcome = outcome.value
            if self.area:
                profile.order_months = _months_for(self.rng, outcome)
            self._awaiting_sentence[profile.crn] = profile
            return
        # The order or the licence ends on the date the court gave (the process ends it then).
        end = given.get("end_date") or given.get("licence_end_date")
        if end:
            on = date.fromisoformat(end)
            profile.ends = datetime(on.year, on.month, on.day, tzinfo=UTC)
        else:
            profile.ends = self.clock.now() + timedelta(days=30 * profile.order_months)
        if self.area and SentenceOutcome(profile.outcome) in sentencing.SUPERVISED_ORDERS:
            self._plan_an_early_end(profile)

    def _plan_an_early_end(self, profile: CaseProfile) -> None:
        """Whether the order ends before its end date, and from when the SPO may record it."""
        roll, total = self.rng.random(), 0.0
        for reason, share in EARLY_END_SHARES:
            total += share
            if roll < total and profile.ends is not None:
                days = max(30, (profile.ends - self.clock.now()).days - 30)
                # Revoked at any time; ended early for good progress only after half the order.
                low = 30 if reason == "REVOKED" else days // 2
                profile.early_end = reason
                profile.early_end_from = self.clock.now() + timedelta(days=self.rng.randint(low, days))
                return

    def _request_transfers(self, today: datetime) -> None:
        """Ask for a supervised case to move to another Offender Manager (the case's owner asks,
        as the case record's transfer request does) on its day."""
        for profile in list(self._transfers):
            start = profile.supervised_from
            if start is None or profile.transfer_after_days is None:
                continue
            if today < start + timedelta(days=profile.transfer_after_days):
                continue
            self._transfers.remove(profile)
            if self.ended(profile) or profile.owner is None:
                continue
            new_owner = profile.transfer_to = self.owner_for(profile, other_than=profile.owner)
            payload = {
                "crn": profile.crn,
                "owner": new_owner,
                "reason": "Moved to an address in another team's area.",
                "requested_by": profile.owner,
            }
            self.engine.deliver_message(
                TRANSFER_REQUESTED,
                profile.crn,
                payload,
                idempotency_key=f"{profile.crn}-transfer",
                sender=profile.owner,
            )
            self.summary.messages += 1

    # ------------------------------------------------------------------------------ the staff

    def _load_staff(self) -> None:
        with self.engine.db.transaction(write=False) as session:
            staff = session.scalars(
                select(Staff).where(Staff.active.is_(True)).order_by(Staff.username)
            ).all()
            for person in staff:
                for role in person.roles:
                    self._pools.setdefault(role, []).append(person.username)
            officers = [p for p in staff if p.grade in CASE_HOLDING_GRADES]
            # Cases go to the case management teams' officers when the area has such teams (the
            # courts, programmes and unpaid work teams hold no caseload).
            holding = [p for p in officers if p.team is not None and CASE_TEAM_NAME in p.team.name]
            # Newly qualified officers and trainees hold low and medium risk cases only.
            self._officers = [(p.username, _qualified(p)) for p in holding or officers]
        if not self._officers or Role.SENIOR_PROBATION_OFFICER.value not in self._pools:
            raise ValueError("The simulation needs the area's staff on the register first.")

    def _work_open_tasks(self) -> None:
        if self.weekdays_only and self.clock.now().weekday() >= 5:
            return
        done_today: dict[str, int] = {}
        with self.engine.db.transaction(write=False) as session:
            # The columns alone, not the task objects: this runs every simulated working day.
            tasks = session.execute(
                select(
                    HumanTask.id,
                    HumanTask.element_id,
                    HumanTask.business_key,
                    HumanTask.candidate_role,
                    HumanTask.assignee,
                )
                .where(HumanTask.state == "open")
                .order_by(HumanTask.due_at.asc().nulls_last(), HumanTask.id)
            ).all()
        today = self.clock.now()
        open_ids = set()
        for task_id, element_id, crn, role, assignee in tasks:
            open_ids.add(task_id)
            profile = self.profiles.get(crn)
            if profile is None or role is None:
                continue
            seen = self._first_seen.setdefault(task_id, today)
            if today < seen + timedelta(days=profile.work_days.get(element_id, 0)):
                continue  # the work takes longer than this (a report, an assessment, the diary)
            pool = self._pools.get(role) or [f"{role.lower()}.pool"]
            person = assignee or pool[task_id % len(pool)]
            if self.capacity is not None and done_today.get(person, 0) >= self.capacity:
                continue  # this person's day is full: the task waits for tomorrow
            if self.pickup < 1.0 and random.Random(f"{task_id}:{self.today()}").random() >= self.pickup:  # noqa: S311
                continue  # other work came first today
            filler = FORMS.get(element_id)
            form = filler(self, profile) if filler else self._any_valid_form(task_id)
            actor = Actor(person, frozenset({role}))
            try:
                if element_id == "allocate_owner":
                    self._allocate_from_the_list(task_id, actor, profile, form)
                else:
                    self.engine.complete_task(task_id, actor, form)
            except Conflict:
                continue  # an earlier step today withdrew it (the case moved on without it)
            except NotPermitted as refused:
                if refused.code != "not_yours":
                    raise
                continue  # an earlier step today gave it to someone else (a transfer): tomorrow
            done_today[person] = done_today.get(person, 0) + 1
            self._done(element_id, profile)
        self._first_seen = {i: day for i, day in self._first_seen.items() if i in open_ids}

    def _done(self, element_id: str, profile: CaseProfile) -> None:
        """Count a completed task and note what it means for the case's next events."""
        self.summary.tasks_completed += 1
        self.summary.by_element[element_id] = self.summary.by_element.get(element_id, 0) + 1
        if element_id == "write_psr" and profile.ends is None:
            profile.psr_written = self.clock.now()
            self._awaiting_sentence[profile.crn] = profile
        if element_id == "termination_review":
            self.summary.closed += 1
        if element_id == "write_plans" and profile.supervised_from is None:
            profile.supervised_from = self.clock.now()
            if self.area and profile.transfer_after_days is not None:
                self._transfers.append(profile)
        if element_id == "accept_transfer":
            profile.owner = profile.transfer_to or profile.owner

    def _any_valid_form(self, task_id: int) -> dict[str, Any]:
        """Data for a step this simulation does not know (a new step in a draft being measured):
        every required field of its form given a valid value, the first choice where there are
        choices."""
        with self.engine.db.transaction(write=False) as session:
            row = session.get(HumanTask, task_id)
            instance = session.get(ProcessInstance, row.instance_id) if row else None
            if row is None or instance is None or not row.form_file:
                return {}
            schema = self.engine.form_schema(session, instance.definition_id, row.form_file)
        properties = schema.get("properties", {})
        return {name: self._value_for(properties.get(name, {})) for name in schema.get("required", [])}

    def _value_for(self, prop: dict[str, Any]) -> Any:
        if prop.get("enum"):
            return prop["enum"][0]
        kind = prop.get("type")
        if kind == "boolean":
            return False
        if kind in ("integer", "number"):
            return prop.get("minimum", 1)
        if kind == "array":
            return []
        if prop.get("format") == "date":
            return self.today()
        return "Simulated entry."[: prop.get("maxLength", 200)]

    def _allocate_from_the_list(
        self, task_id: int, actor: Actor, profile: CaseProfile, form: dict[str, Any]
    ) -> None:
        """The SPO allocates to an officer the allocation list offers: the one this simulation would
        pick if offered, else one of the list; an officer refused on the form (a tier 4 case for a
        PSO) is passed over for the next (the choice is remembered for a later transfer)."""
        with self.engine.db.transaction(write=False) as session:
            schema = self.engine.task_form(session, task_id, actor) or {}
        field = schema.get("properties", {}).get("owner_staff_id", {})
        offered = [str(choice["const"]) for choice in field.get("oneOf", [])]
        self.rng.shuffle(offered)
        if profile.owner in offered:
            offered.remove(str(profile.owner))
            offered.insert(0, str(profile.owner))
        for owner in offered or [str(profile.owner)]:
            try:
                self.engine.complete_task(task_id, actor, {**form, "owner_staff_id": owner})
            except InvalidData:
                continue
            profile.owner = owner
            return
        raise InvalidData([FieldError("owner_staff_id", f"No officer on the list may own {profile.crn}.")])

    def owner_for(self, profile: CaseProfile, *, other_than: str | None = None) -> str:
        """An Offender Manager who may hold the case (an experienced qualified officer for high risk or
        MAPPA 2-3), other than `other_than` when there is one."""
        needs_qualified = profile.rosh in ("HIGH", "VERY_HIGH") or profile.mappa_level >= 2
        fit = [
            name
            for name, qualified in self._officers
            if (qualified or not needs_qualified) and name != other_than
        ] or [name for name, _ in self._officers]
        return fit[self.rng.randrange(len(fit))]

    def allocate(self, profile: CaseProfile) -> str:
        """The Offender Manager the SPO allocates the case to (remembered for a later transfer)."""
        profile.owner = self.owner_for(profile)
        return profile.owner

    def today(self) -> str:
        """The simulated date, as a form gives it."""
        return self.clock.now().date().isoformat()

    def ended(self, profile: CaseProfile) -> bool:
        """Whether the order has run its course."""
        return profile.ends is not None and self.clock.now() >= profile.ends

    def ends_early(self, profile: CaseProfile) -> bool:
        """Whether the SPO records, at this oversight review, that the order ends before its end date
        (revoked, or ended early for good progress). An order that reaches its end date ends on it by
        itself: nobody ticks "case ends" for that."""
        start = profile.early_end_from
        return profile.early_end is not None and start is not None and self.clock.now() >= start

    def parole_decision(self, profile: CaseProfile) -> dict[str, Any]:
        """The Parole Board's decision at a review: release directed (with its date) or not released
        (with the next review's date)."""
        today = self.clock.now().date()
        if self.rng.random() < PAROLE_RELEASE_SHARE:
            released = today + timedelta(days=PAROLE_RELEASE_AFTER_DAYS)
            return {"parole_decision": "RELEASE_DIRECTED", "parole_release_date": released.isoformat()}
        next_review = add_months(today, PAROLE_NEXT_REVIEW_MONTHS)
        return {
            "parole_decision": "NOT_RELEASED",
            "next_review_date": next_review.isoformat(),
            "decision_note": "Risk not yet reduced enough for release.",
        }

    def licence_review(self, profile: CaseProfile) -> dict[str, Any]:
        """A licence review: compliance noted, and now and then a recall asked for."""
        review = {"review_date": self.today(), "compliance": "Reporting as directed; conditions kept."}
        if self.area and self.rng.random() < LICENCE_RECALL_SHARE:
            return {
                **review,
                "compliance": "Third missed appointment in twelve months.",
                "recall_requested": True,
                "recall_reason": "Failed to keep in touch: third missed appointment (Standard 2f.4).",
            }
        return {**review, "recall_requested": False}


# Where a case stands in the process, by the work open on it (the register's stage says less: a case
# at its risk meeting and one waiting for allocation are both SENTENCED).
STAGE_BY_TASK = {
    "record_first_details": "identified",
    "write_psr": "pre-sentence report",
    "chase_outcome": "awaiting sentence",
    "get_overdue_outcome": "awaiting sentence",
    "give_risk_advice": "risk meeting",
    "hold_risk_meeting": "risk meeting",
    "set_mappa_level": "risk meeting",
    "allocate_owner": "allocation",
    "hold_induction": "induction and assessment",
    "assess_oasys": "induction and assessment",
    "countersign_spo": "induction and assessment",
    "countersign_aco": "induction and assessment",
    "revise_oasys": "induction and assessment",
    "write_plans": "induction and assessment",
    "write_custody_sentence_plan": "in custody",
    "plan_for_release": "in custody",
    "record_parole_decision": "in custody",
    "record_rerelease": "in custody",  # recalled, waiting for the re-release
    "accept_transfer": "transfer",
    "termination_review": "termination",
}
STAGE_BY_REGISTER = {
    Stage.IDENTIFIED: "identified",
    Stage.AWAITING_SENTENCE: "awaiting sentence",
    Stage.SENTENCED: "allocation",
    Stage.ALLOCATED: "induction and assessment",
    Stage.SUPERVISED: "supervised",
    Stage.CLOSED: "closed",
}
PROCESS_STAGES = tuple(dict.fromkeys([*STAGE_BY_TASK.values(), *STAGE_BY_REGISTER.values()]))


def process_stages(session: Session) -> Counter[str]:
    """How many cases stand at each stage of the process: by the furthest open task on the case,
    else by the register's stage (a supervised case between reviews, a closed case)."""
    order = {stage: i for i, stage in enumerate(PROCESS_STAGES)}
    stages = {
        crn: "in custody" if _in_custody(stage, outcome) else STAGE_BY_REGISTER[stage]
        for crn, stage, outcome in session.execute(select(Case.crn, Case.stage, Case.sentence_outcome))
    }
    by_task: dict[str, str] = {}
    for crn, element_id in session.execute(
        select(HumanTask.business_key, HumanTask.element_id).where(HumanTask.state == "open")
    ):
        stage = STAGE_BY_TASK.get(element_id)
        if crn is not None and stage is not None and order[stage] > order.get(by_task.get(crn, ""), -1):
            by_task[crn] = stage
    for crn, stage in by_task.items():
        if crn in stages and stages[crn] != "closed":
            stages[crn] = stage
    return Counter(stages.values())


def _in_custody(stage: Stage, outcome: SentenceOutcome | None) -> bool:
    """A custodial sentence with a licence, allocated but not yet released (the register's stage
    becomes SUPERVISED on release)."""
    return outcome in sentencing.WITH_LICENCE and stage in (Stage.SENTENCED, Stage.ALLOCATED)


def _qualified(person: Staff) -> bool:
    """An experienced or senior qualified officer (who may hold high risk and MAPPA 2-3 cases)."""
    newly_qualified = person.experience is ExperienceBand.NEWLY_QUALIFIED
    return person.grade in QUALIFIED_OFFICER_GRADES and not newly_qualified


def _months_for(rng: random.Random, outcome: SentenceOutcome) -> int:
    """How long the outcome runs (casework.demo_area.ORDER_MONTHS); 12 months for any other."""
    lengths = ORDER_MONTHS.get(outcome)
    return pick(rng, lengths) if lengths else 12


def _pick(rng: random.Random, shares: tuple[tuple[str, float], ...]) -> str:
    roll, total = rng.random(), 0.0
    for value, share in shares:
        total += share
        if roll < total:
            return value
    return shares[-1][0]


def _person(crn: str, hearing: str) -> dict[str, Any]:
    """The synthetic person the court list names for `crn`: the same CRN always gives the same person."""
    rng = random.Random(crn)  # noqa: S311 - a repeatable made-up identity, not a secret
    born = date.fromisoformat(hearing) - timedelta(days=rng.randint(18 * 365, 65 * 365))
    return {
        "forename": rng.choice(FORENAMES),
        "surname": rng.choice(SURNAMES),
        "date_of_birth": born.isoformat(),
    }


Form = Callable[[AreaSimulation, CaseProfile], dict[str, Any]]

FORMS: dict[str, Form] = {
    "record_first_details": lambda s, p: {
        **_person(p.crn, s.today()),
        "court_name": COURTS[int(p.crn[1:]) % len(COURTS)],
        "hearing_date": s.today(),
        "offence": p.offence,
        "report_type": p.report_type,
        "remanded_in_custody": False,
    },
    "write_psr": lambda s, p: {
        "report_date": s.today(),
        "rosh": p.rosh,
        "mappa_category": p.mappa_category,
        "registrations": list(p.registrations),
        "proposal": "Community order with supervision.",
    },
    "chase_outcome": lambda s, p: {"chase_result": "STILL_AWAITED"},
    "get_overdue_outcome": lambda s, p: {
        **{k: str(v) for k, v in outcome_given(p, date.fromisoformat(s.today())).items()},
        "how_obtained": "Telephoned the court office.",
    },
    "give_risk_advice": lambda s, p: {"rosh_view": p.rosh, "advice": "Agree the level.", "will_attend": True},
    "hold_risk_meeting": lambda s, p: {
        "meeting_date": s.today(),
        "attendees": ["SPO", "OFFENDER_MANAGER"],
        "rosh": p.rosh,
        "risk_decision": "Manage under the plan agreed.",
        "information_shared_with": ["POLICE"],
        "mappa_referral": p.mappa_level >= 2,
    },
    "set_mappa_level": lambda s, p: {"mappa_category": p.mappa_category, "mappa_level": p.mappa_level},
    "set_referred_mappa_level": lambda s, p: {"mappa_category": "CAT2", "mappa_level": 2},
    "hold_mappa_meeting": lambda s, p: {
        "meeting_date": s.today(),
        "mappa_category": p.mappa_category if p.mappa_category != "NOT_ELIGIBLE" else "CAT2",
        "mappa_level": p.mappa_level or 1,
        "minutes": "Risk management plan reviewed.",
    },
    "allocate_owner": lambda s, p: {
        "owner_staff_id": s.allocate(p),
        "tier": p.tier if s.area else 4 if p.mappa_level >= 2 else 3,
    },
    "hold_induction": lambda s, p: {"induction_date": s.today(), "contact_outcome": "ATTENDED"},
    "assess_oasys": lambda s, p: {
        "assessment_date": s.today(),
        # The profile's level is the risk to the public; no other group is at risk.
        **{f"rosh_to_{group.lower()}": "NOT_AT_RISK" for group in RiskGroup},
        "rosh_to_public": p.rosh,
        "likelihood_of_reoffending": "MEDIUM",
        "current_registrations": list(p.registrations),
        "rosh_summary": "Risk to the public when drinking.",
    },
    "countersign_spo": lambda s, p: {"decision": "COUNTERSIGNED", "countersign_date": s.today()},
    "countersign_aco": lambda s, p: {"decision": "COUNTERSIGNED", "countersign_date": s.today()},
    "write_plans": lambda s, p: {
        "plans_date": s.today(),
        "risk_management_plan": "Supervision, police liaison.",
        "sentence_plan": "Accredited programme.",
    },
    "oversight_review": lambda s, p: (
        {
            "review_date": s.today(),
            "rosh": p.rosh,
            "findings": "Plan on track.",
            "case_ends": s.ends_early(p),
        }
        | ({"end_reason": p.early_end} if s.ends_early(p) else {})
    ),
    "escalated_review": lambda s, p: (
        {
            "review_date": s.today(),
            "action_taken": "REVIEWED_BY_ACO",
            "rosh": p.rosh,
            "findings": "Plan on track.",
            "reason_missed": "SPO on leave.",
            "case_ends": s.ends_early(p),
        }
        | ({"end_reason": p.early_end} if s.ends_early(p) else {})
    ),
    "review_registration": lambda s, p: {
        "registration_decision": "KEEP",
        "registration_notes": "Still applies.",
    },
    "accept_transfer": lambda s, p: {"transfer_decision": "ACCEPT"},
    "write_custody_sentence_plan": lambda s, p: {
        "plan_date": s.today(),
        "sentence_plan": "Offending behaviour work in custody; education.",
        "risk_management_plan": "Liaison with the prison; victim contact.",
    },
    "plan_for_release": lambda s, p: {
        "plan_date": s.today(),
        "licence_conditions": "Reside as approved; no contact with the victim.",
        "accommodation": "Approved premises for the first weeks, then a tenancy.",
        "risk_management_plan": "Weekly reporting; police liaison.",
    },
    "record_parole_decision": lambda s, p: s.parole_decision(p),
    "review_licence": lambda s, p: s.licence_review(p),
    "approve_recall_spo": lambda s, p: {
        "recall_decision": "APPROVED",
        "recall_type": "STANDARD",
        "recall_note": "Recall justified.",
    },
    "approve_recall_aco": lambda s, p: {
        "recall_decision": "APPROVED",
        "recall_type": "STANDARD",
        "recall_note": "Recall approved.",
    },
    "record_rerelease": lambda s, p: {"rerelease_note": "Re-release directed; re-released on licence."},
    "sign_off_review": lambda s, p: {"decision": "SIGNED_OFF", "sign_off_date": s.today()},
    "termination_review": lambda s, p: {
        "termination_date": s.today(),
        "termination_reason": "COMPLETED",
        "final_rosh": p.rosh,
        "registrations_reviewed": True,
        "termination_summary": "Order completed.",
    },
}
