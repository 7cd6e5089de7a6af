"""The service operations the process models call, so the process keeps the central register itself.

Each operation is `func(ctx, **params) -> JSON`: the parameters are what the model's service task
passes (text, numbers, lists, dates as ISO text), the writes go through casework.register in the
step's session (they commit or roll back with the step), and the result is a small dictionary the
model keeps in its result variable. docs/modelling.md lists them for process owners.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from casework import register
from casework.models import Case
from casework.register import OwnerNotSuitable, StaffNotFound
from casework.roles import Role
from casework.vocabulary import Grade, MappaCategory, RiskGroup, RoshLevel, SentenceOutcome
from engine.scripting import ServiceRegistry, StepContext
from tasks.assignment import move_open_tasks, responsible_for

Result = dict[str, Any]


def identify_case(ctx: StepContext, *, crn: str) -> Result:
    """The case enters the central register the moment it is identified at court."""
    case = register.identify_case(ctx.session, crn, at=ctx.clock.now(), by=ctx.actor)
    return {"crn": case.crn, "stage": case.stage.value}


def record_rosh_screening(
    ctx: StepContext, *, crn: str, rosh: str, mappa_category: str, registrations: Iterable[str] = ()
) -> Result:
    """The pre-sentence report's screening: RoSH, MAPPA category (level 1 if eligible), registrations."""
    at, by = ctx.clock.now(), ctx.actor
    register.mark_awaiting_sentence(ctx.session, crn, at=at, by=by)
    register.record_rosh(
        ctx.session, crn, RoshLevel(rosh), at=at, by=by, source="pre-sentence report screening"
    )
    category = _mappa_category(mappa_category)
    register.record_mappa(ctx.session, crn, category, 1 if category else None, at=at, by=by)
    added = _register_missing(ctx, crn, registrations)
    return {"rosh": rosh, "mappa_level": 1 if category else 0, "registrations_added": added}


def record_sentence_outcome(ctx: StepContext, *, crn: str, outcome: str, sentence_date: str | date) -> Result:
    """The outcome the court gave, however it arrived; a word the register does not know is kept as OTHER."""
    known = outcome in SentenceOutcome.__members__
    recorded = SentenceOutcome(outcome) if known else SentenceOutcome.OTHER
    case = register.record_sentence_outcome(
        ctx.session,
        crn,
        recorded,
        sentence_date=_date(sentence_date),
        at=ctx.clock.now(),
        by=ctx.actor,
        as_given=None if known else outcome,
    )
    return {"outcome": recorded.value, "stage": case.stage.value}


def record_risk_meeting(
    ctx: StepContext,
    *,
    crn: str,
    meeting_date: str | date,
    attendees: Iterable[str],
    rosh: str,
    risk_decision: str,
    mappa_referral: bool,
    information_shared_with: Iterable[str] = (),
) -> Result:
    """The risk meeting and its decision; the RoSH level it agreed becomes the case's."""
    at, by = ctx.clock.now(), ctx.actor
    meeting = register.record_risk_meeting(
        ctx.session,
        crn,
        held_on=_date(meeting_date),
        chair=by,
        decision=risk_decision,
        attendees=list(attendees),
        rosh_agreed=RoshLevel(rosh),
        information_shared_with=list(information_shared_with),
        mappa_referral=bool(mappa_referral),
        at=at,
        by=by,
    )
    _record_rosh_if_changed(ctx, crn, RoshLevel(rosh), source="risk meeting")
    return {"meeting_id": meeting.id, "mappa_referral": meeting.mappa_referral}


def record_mappa_level(ctx: StepContext, *, crn: str, mappa_category: str, mappa_level: int) -> Result:
    """The MAPPA category and level the MAPPA coordinator set."""
    case = register.record_mappa(
        ctx.session, crn, _mappa_category(mappa_category), int(mappa_level), at=ctx.clock.now(), by=ctx.actor
    )
    return {"mappa_category": mappa_category, "mappa_level": case.mappa_level or 0}


def allocate_case(ctx: StepContext, *, crn: str, owner: str, tier: int, note: str = "") -> Result:
    """Give the case its one owner and its tier; an owner who does not fit the risk is refused, not an error.

    The result says whether the case was allocated and, if not, why in words for the SPO; when it
    was, it carries the owner's grade and experience band from the register for the decisions after.
    """
    at, by = ctx.clock.now(), ctx.actor
    try:
        with ctx.session.begin_nested():
            register.record_tier(ctx.session, crn, int(tier), at=at, by=by)
            change = register.assign_owner(ctx.session, crn, owner, at=at, by=by, reason=note or "allocation")
    except (OwnerNotSuitable, StaffNotFound) as refused:
        return {"allocated": False, "problem": str(refused)}
    staff = change.to_staff
    return {
        "allocated": True,
        "problem": "",
        "owner": staff.username,
        "grade": staff.grade.value,
        "experience": staff.experience.value if staff.experience else "E",
        "team": staff.team.code if staff.team else None,
    }


def transfer_case(ctx: StepContext, *, crn: str, owner: str, reason: str) -> Result:
    """Move the case to a new owner; their open tasks (and the SPO's, if the team changes) move with it."""
    case = register.find_case(ctx.session, crn)
    before = {
        role: responsible_for(case, role) for role in (Role.OFFENDER_MANAGER, Role.SENIOR_PROBATION_OFFICER)
    }
    register.assign_owner(ctx.session, crn, owner, at=ctx.clock.now(), by=ctx.actor, reason=reason)
    moves = {before[role]: responsible_for(case, role) for role in before}
    moved = move_open_tasks(ctx.session, crn, moves, actor=ctx.actor, at=ctx.clock.now(), reason=reason)
    return {"owner": owner, "tasks_moved": moved}


def record_oasys_assessment(
    ctx: StepContext, *, crn: str, rosh: str, risk_to: Iterable[str] = (), registrations: Iterable[str] = ()
) -> Result:
    """The full OASys assessment's RoSH level (used from now on), who is at risk, and new registrations."""
    level = RoshLevel(rosh)
    groups = {RiskGroup(g): level for g in risk_to if g in RiskGroup.__members__}
    register.record_rosh(
        ctx.session, crn, level, at=ctx.clock.now(), by=ctx.actor, source="OASys assessment", to_whom=groups
    )
    added = _register_missing(ctx, crn, registrations)
    return {"rosh": rosh, "registrations_added": added}


def set_oversight_plan(
    ctx: StepContext,
    *,
    crn: str,
    interval_weeks: int,
    reviewer_grade: str,
    reason: str,
    sampled: bool = False,
) -> Result:
    """The management oversight plan the decision table chose; an unchanged plan is kept as it is."""
    plan = register.set_oversight_plan(
        ctx.session,
        crn,
        interval_weeks=int(interval_weeks),
        reviewer_grade=Grade(reviewer_grade),
        reason=reason,
        sampled=bool(sampled),
        at=ctx.clock.now(),
        by=ctx.actor,
    )
    return {"plan_id": plan.id, "next_review_due": plan.next_review_due.isoformat()}


def record_oversight_review(
    ctx: StepContext,
    *,
    crn: str,
    review_date: str | date,
    rosh: str,
    findings: str = "",
    escalated: bool = False,
) -> Result:
    """An oversight review, on time or not; a change of RoSH found at review is recorded too."""
    review = register.record_oversight_review(
        ctx.session,
        crn,
        at=ctx.clock.now(),
        by=ctx.actor,
        review_date=_date(review_date),
        rosh=RoshLevel(rosh),
        findings=findings,
        escalated=bool(escalated),
    )
    _record_rosh_if_changed(ctx, crn, RoshLevel(rosh), source="oversight review")
    return {"review_id": review.id, "on_time": review.on_time}


def close_case(ctx: StepContext, *, crn: str, termination_date: str | date, reason: str) -> Result:
    """Close the case after its termination review: ownership, oversight plan and registrations end."""
    words = reason.replace("_", " ").lower()
    case = register.close_case(
        ctx.session,
        crn,
        at=ctx.clock.now(),
        by=ctx.actor,
        reason=f"{words} on {_date(termination_date):%d %B %Y}",
    )
    return {"stage": case.stage.value}


OPERATIONS: dict[str, Callable[..., Result]] = {
    "identify_case": identify_case,
    "record_rosh_screening": record_rosh_screening,
    "record_sentence_outcome": record_sentence_outcome,
    "record_risk_meeting": record_risk_meeting,
    "record_mappa_level": record_mappa_level,
    "allocate_case": allocate_case,
    "transfer_case": transfer_case,
    "record_oasys_assessment": record_oasys_assessment,
    "set_oversight_plan": set_oversight_plan,
    "record_oversight_review": record_oversight_review,
    "close_case": close_case,
}


def register_operations(registry: ServiceRegistry) -> ServiceRegistry:
    """Add every casework operation to `registry`."""
    for name, func in OPERATIONS.items():
        registry.register(name, func)
    return registry


# --------------------------------------------------------------------------------- internals


def _register_missing(ctx: StepContext, crn: str, codes: Iterable[str]) -> list[str]:
    """Add the registrations the case does not have yet; return the codes added."""
    case = register.find_case(ctx.session, crn)
    added = []
    for code in codes:
        if register.active_registration(ctx.session, case, code) is None:
            register.add_registration(ctx.session, crn, code, at=ctx.clock.now(), by=ctx.actor)
            added.append(code)
    return added


def _record_rosh_if_changed(ctx: StepContext, crn: str, level: RoshLevel, *, source: str) -> Case:
    case = register.find_case(ctx.session, crn)
    if case.rosh == level:
        return case
    return register.record_rosh(ctx.session, crn, level, at=ctx.clock.now(), by=ctx.actor, source=source)


def _mappa_category(value: str | None) -> MappaCategory | None:
    return None if value in (None, "", "NOT_ELIGIBLE") else MappaCategory(value)


def _date(value: str | date) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
