"""The service operations the process models call, so the process keeps the central register itself.

Each operation is `func(ctx, **params) -> JSON`: the parameters are what the model's service task
passes (text, numbers, lists, dates as ISO text), the writes go through casework.register in the
step's session (they commit or roll back with the step), and the result is a small dictionary the
model keeps in its result variable. docs/modelling.md lists them for process owners.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from casework import register, sentencing
from casework.models import Case, Staff
from casework.register import OwnerNotSuitable, StaffNotFound
from casework.register_types import REGISTER_TYPES, add_months, register_type
from casework.roles import Role
from casework.staff_record import band_on
from casework.vocabulary import (
    Grade,
    MappaCategory,
    RiskGroup,
    RoshByGroupRefused,
    RoshLevel,
    SentenceOutcome,
    overall_rosh,
    rosh_by_group,
)
from engine.clock import area_date
from engine.deliveries import send_to_own_case
from engine.errors import FieldError, InvalidData
from engine.models import HumanTask
from engine.scripting import ServiceRegistry, StepContext
from tasks import outcomes, ownership
from tasks.assignment import move_open_tasks, responsible_for
from tasks.case_team import pass_case_team_on
from tasks.reallocation import REALLOCATION_NEEDED, owner_problem_now, owner_watched

Result = dict[str, Any]

# Registrations that change how closely a case is overseen (the oversight_frequency table's input).
CHILD_OR_DOMESTIC_ABUSE = frozenset({"RCPR", "RCHD", "ADVP"})
# How an oversight event reads on the case's timeline when it is noted for an open review.
EVENT_WORDS = {
    "ROSH_UP": "RoSH raised",
    "NEW_REGISTRATION": "new child protection or domestic abuse registration",
    "MAPPA_LEVEL_CHANGE": "MAPPA level changed",
    "OM_CHANGE": "new Offender Manager",
}
# The longest the registration review cycle waits without looking at the register again, in months:
# the shortest review period of any register type that is reviewed at all (3 months). Registrations
# added inside the process (the RoSH register kept in step, MAPP on a MAPPA level change, an OASys
# assessment's registrations) start on the day they are added, so none added after the cycle looked
# can fall due before this many months from that day: waiting this long never reviews one of them
# late. A registration reported from outside may be backdated and fall due sooner; reporting it
# sends `registrations_changed` (tasks.events.add_registration), which ends the wait at once.
SHORTEST_REVIEW_MONTHS = min(kind.review_months for kind in REGISTER_TYPES.values() if kind.review_months > 0)
# Older versions of the model do not hear of reported registrations: their cycles still look at the
# register every 4 weeks, so that a backdated one is not missed for long. Their cases cannot move to
# a newer version while the cycle runs (the cycle under way changed), so they keep this to the end.
OLDER_MODEL_REVIEW_HORIZON = timedelta(days=28)


def identify_case(ctx: StepContext, *, crn: str) -> Result:
    """The case enters the central register the moment it is identified at court."""
    case = register.identify_case(ctx.session, crn, at=ctx.clock.now(), by=ctx.actor)
    return {"crn": case.crn, "stage": case.stage.value}


def record_court_details(
    ctx: StepContext,
    *,
    crn: str,
    forename: str,
    surname: str,
    date_of_birth: str | date,
    court_name: str,
    hearing_date: str | date,
    offence: str,
) -> Result:
    """The court's first details go on the register: the person's name and date of birth, the hearing.

    Details the register refuses (a date of birth that makes the person a child at the hearing) go
    back to the person who entered them: the step is undone and the form shows what to correct."""
    try:
        case = register.record_first_details(
            ctx.session,
            crn,
            forename=forename,
            surname=surname,
            date_of_birth=_date(date_of_birth),
            court=court_name,
            hearing_date=_date(hearing_date),
            offence=offence,
            at=ctx.clock.now(),
            by=ctx.actor,
        )
    except register.DetailsRefused as err:
        raise InvalidData([FieldError(err.field, str(err))]) from err
    return {"crn": case.crn, "name": case.name}


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
    with _owner_watched(ctx, crn, "RoSH changed at the risk meeting"):
        _record_rosh_if_changed(ctx, crn, RoshLevel(rosh), source="risk meeting")
    return {"meeting_id": meeting.id, "mappa_referral": meeting.mappa_referral}


def record_mappa_level(ctx: StepContext, *, crn: str, mappa_category: str, mappa_level: int) -> Result:
    """The MAPPA category and level the MAPPA coordinator set."""
    with _owner_watched(ctx, crn, f"MAPPA level set to {int(mappa_level)}"):
        case = register.record_mappa(
            ctx.session,
            crn,
            _mappa_category(mappa_category),
            int(mappa_level),
            at=ctx.clock.now(),
            by=ctx.actor,
        )
    return {"mappa_category": mappa_category, "mappa_level": case.mappa_level or 0}


def allocate_case(ctx: StepContext, *, crn: str, owner: str, tier: int, note: str = "") -> Result:
    """Give the case its one owner and its tier; an owner the register refuses (a grade the rules do
    not allow for the case's risk and tier) goes back to the SPO as an error on the chosen field.

    The result carries the owner's grade and experience band from the register for the decisions after.
    """
    at, by = ctx.clock.now(), ctx.actor
    try:
        with ctx.session.begin_nested():
            register.record_tier(ctx.session, crn, int(tier), at=at, by=by)
            change = register.assign_owner(ctx.session, crn, owner, at=at, by=by, reason=note or "allocation")
            pass_case_team_on(ctx.session, crn)
    except (OwnerNotSuitable, StaffNotFound) as refused:
        # Refused on the same page, as a field error: nothing is written and no new task is made.
        raise InvalidData([FieldError("owner_staff_id", str(refused))]) from refused
    staff = change.to_staff
    return {
        "allocated": True,
        "problem": "",
        "owner": staff.username,
        "grade": staff.grade.value,
        "experience": _band(staff, area_date(at)),
        "team": staff.team.code if staff.team else None,
    }


def transfer_case(ctx: StepContext, *, crn: str, owner: str, reason: str) -> Result:
    """Move the case to a new owner; their open tasks (and the SPO's, if the team changes) move with it."""
    case = register.find_case(ctx.session, crn)
    before = {
        role: responsible_for(case, role) for role in (Role.OFFENDER_MANAGER, Role.SENIOR_PROBATION_OFFICER)
    }
    register.assign_owner(ctx.session, crn, owner, at=ctx.clock.now(), by=ctx.actor, reason=reason)
    pass_case_team_on(ctx.session, crn)
    moves = {before[role]: responsible_for(case, role) for role in before}
    moved = move_open_tasks(ctx.session, crn, moves, actor=ctx.actor, at=ctx.clock.now(), reason=reason)
    return {"owner": owner, "tasks_moved": moved}


def transfer_if_suitable(ctx: StepContext, *, crn: str, owner: str, reason: str) -> Result:
    """`transfer_case`, except that an owner the register refuses is not an error: nothing changes and
    the result says why (`transferred` false, `problem` in words), so the process can say so."""
    try:
        with ctx.session.begin_nested():
            moved = transfer_case(ctx, crn=crn, owner=owner, reason=reason)
    except (OwnerNotSuitable, StaffNotFound) as refused:
        return {"transferred": False, "problem": str(refused), "owner": owner, "tasks_moved": 0}
    return {"transferred": True, "problem": "", **moved}


def owner_fits_case(ctx: StepContext, *, crn: str) -> Result:
    """Whether the grade rules in force still allow the case's owner to hold it (policy 7). A case
    without an owner, or closed, fits: there is nothing to reallocate."""
    case = register.find_case(ctx.session, crn)
    problem = owner_problem_now(ctx.session, case, area_date(ctx.clock.now()))
    return {
        "fits": problem is None,
        "problem": problem or "",
        "owner": case.owner.username if case.owner else None,
    }


def reallocate_case(ctx: StepContext, *, crn: str, owner: str, reason: str) -> Result:
    """The SPO's reallocation: the case moves to `owner` (the old ownership kept on its history) with
    the old owner's open tasks on it. An owner the register refuses goes back to the SPO as an error
    on the chosen field, and nothing changes."""
    try:
        with ctx.session.begin_nested():
            moved = transfer_case(ctx, crn=crn, owner=owner, reason=reason)
    except (OwnerNotSuitable, StaffNotFound) as refused:
        raise InvalidData([FieldError("new_owner_staff_id", str(refused))]) from refused
    return {"reallocated": True, **moved}


def record_oasys_assessment(
    ctx: StepContext,
    *,
    crn: str,
    rosh: str = "",
    risk_to: Iterable[str] = (),
    registrations: Iterable[str] = (),
    rosh_to_children: str = "",
    rosh_to_public: str = "",
    rosh_to_known_adult: str = "",
    rosh_to_staff: str = "",
    rosh_to_prisoners: str = "",
) -> Result:
    """The full OASys assessment: the RoSH to each group at risk (`rosh_to_<group>`: a level, or
    NOT_AT_RISK), the overall RoSH the highest of them (used from now on), and new registrations.

    An assessment OASys reported in the older form, with no level by group, gives the overall level
    `rosh` and the groups ticked in `risk_to`, each at that level; `rosh` and `risk_to` are not read
    when any group has a level."""
    answers = {
        group.value: answer
        for group, answer in zip(
            RiskGroup,
            (rosh_to_children, rosh_to_public, rosh_to_known_adult, rosh_to_staff, rosh_to_prisoners),
            strict=True,
        )
        if answer
    }
    if answers:
        try:
            groups = rosh_by_group(answers)
        except RoshByGroupRefused as refused:
            field = f"rosh_to_{refused.group.lower()}" if refused.group else "rosh_to_public"
            raise InvalidData([FieldError(field, str(refused))]) from refused
        level = overall_rosh(groups)
    else:
        level = RoshLevel(rosh)
        groups = {RiskGroup(g): level for g in risk_to if g in RiskGroup.__members__}
    with _owner_watched(ctx, crn, f"RoSH {level.value} in the OASys assessment"):
        register.record_rosh(
            ctx.session,
            crn,
            level,
            at=ctx.clock.now(),
            by=ctx.actor,
            source="OASys assessment",
            to_whom=groups,
        )
    added = _register_missing(ctx, crn, registrations)
    return {
        "rosh": level.value,
        "rosh_to": {group.value: groups[group].value for group in RiskGroup if group in groups},
        "registrations_added": added,
    }


def set_oversight_plan(
    ctx: StepContext,
    *,
    crn: str,
    interval_weeks: int,
    reviewer_grade: str,
    reason: str,
    sampled: bool = False,
    sample_rate: int | None = None,
    under_supervision: bool = True,
) -> Result:
    """The management oversight plan the decision table chose; an unchanged plan is kept as it is.
    `under_supervision` false: the plan set at allocation, before the plans make the case supervised.
    `sample_rate`: the table's per cent of a sampled plan's review periods that are reviewed."""
    plan = register.set_oversight_plan(
        ctx.session,
        crn,
        interval_weeks=int(interval_weeks),
        reviewer_grade=Grade(reviewer_grade),
        reason=reason,
        sampled=bool(sampled),
        sample_rate=None if sample_rate is None else int(sample_rate),
        under_supervision=bool(under_supervision),
        at=ctx.clock.now(),
        by=ctx.actor,
    )
    return _plan_result(ctx, crn, plan)


def pass_over_sampled_review(ctx: StepContext, *, crn: str) -> Result:
    """A sampled review period not picked: its draw is kept and the plan waits for the next period."""
    case = register.find_case(ctx.session, crn)
    plan = register.current_oversight_plan(ctx.session, case)
    if plan is None:
        raise InvalidData([FieldError("crn", f"{crn} has no oversight plan to pass a period over.")])
    register.record_sample_draw(
        ctx.session, crn, period=area_date(_utc(plan.next_review_due)), at=ctx.clock.now(), by=ctx.actor
    )
    return _plan_result(ctx, crn, plan)


def review_falls_due(
    ctx: StepContext, *, crn: str, brought_forward: bool = False, first_review: bool = False
) -> Result:
    """A review falls due: the steps due by a National Standard so far (as `standard_dates`), and, for
    a sampled plan's period at its interval (not the first review, not one brought forward by an
    event), the draw that picked it, kept on the register."""
    result = standard_dates(ctx, crn=crn)
    case = register.find_case(ctx.session, crn)
    plan = register.current_oversight_plan(ctx.session, case)
    result["sample_draw"] = None
    if (
        plan is not None
        and plan.sampled
        and plan.sample_rate is not None
        and not brought_forward
        and not first_review
    ):
        row = register.record_sample_draw(
            ctx.session, crn, period=area_date(_utc(plan.next_review_due)), at=ctx.clock.now(), by=ctx.actor
        )
        result["sample_draw"] = {"draw": row.draw / 100, "threshold": row.rate, "picked": row.picked}
    return result


def standard_dates(ctx: StepContext, *, crn: str) -> Result:
    """The case's steps due by a National Standard so far (the induction, the OASys assessment, the
    plans), each with its due date and whether it was done by it: what the first oversight review
    checks. A step still open after its date is late too; a step withdrawn is left out.

    `late` and `met` are lists of lines in words ("Hold the induction: due 16 November 2026, done
    18 November 2026"); `summary` says it in one sentence for the reviewer."""
    now = ctx.clock.now()
    steps = ctx.session.scalars(
        select(HumanTask)
        .where(
            HumanTask.business_key == crn,
            HumanTask.due_standard.is_not(None),
            HumanTask.due_at.is_not(None),
            HumanTask.state.in_(("open", "completed")),
        )
        .order_by(HumanTask.created_at, HumanTask.id)
    ).all()
    late: list[str] = []
    met: list[str] = []
    for step in steps:
        due = _utc(step.due_at) if step.due_at is not None else now  # the query keeps only dated steps
        done = _utc(step.completed_at) if step.completed_at is not None else None
        when = f"done {area_date(done):%d %B %Y}" if done is not None else "not done yet"
        line = f"{step.title}: due {area_date(due):%d %B %Y} ({step.due_standard}), {when}"
        (late if (done or now) > due else met).append(line)
    if not steps:
        summary = "No step due by a National Standard has opened yet."
    elif late:
        summary = f"Late against the standard: {'; '.join(late)}."
    else:
        summary = "Every step due by a National Standard so far met its date."
    return {"late": late, "met": met, "summary": summary}


def record_oversight_review(
    ctx: StepContext,
    *,
    crn: str,
    review_date: str | date,
    rosh: str,
    findings: str = "",
    escalated: bool = False,
    late_standards: Iterable[str] = (),
) -> Result:
    """An oversight review, on time or not; a change of RoSH found at review is recorded too, and
    the steps the first review found late against their National Standard.

    The result carries the owner's experience band on the review's date, from their staff record, for
    the next interval (an officer who has become experienced since allocation gets the E interval)."""
    review = register.record_oversight_review(
        ctx.session,
        crn,
        at=ctx.clock.now(),
        by=ctx.actor,
        review_date=_date(review_date),
        rosh=RoshLevel(rosh),
        findings=findings,
        escalated=bool(escalated),
        late_standards=[str(line) for line in late_standards],
    )
    with _owner_watched(ctx, crn, f"RoSH {rosh} at the oversight review"):
        _record_rosh_if_changed(ctx, crn, RoshLevel(rosh), source="oversight review")
    owner = register.find_case(ctx.session, crn).owner
    return {
        "review_id": review.id,
        "on_time": review.on_time,
        "experience": _band(owner, _date(review_date)),
    }


def sign_off_oversight_review(
    ctx: StepContext, *, crn: str, review_id: int, decision: str, actions: str = ""
) -> Result:
    """The ACO's sign-off of the SPO's review, kept on the review for the ACO's monthly list."""
    if decision not in ("SIGNED_OFF", "SIGNED_OFF_WITH_ACTIONS"):
        raise InvalidData(
            [FieldError("decision", f"A sign-off decision of {decision!r} is not one the form offers.")]
        )
    review = register.sign_off_oversight_review(
        ctx.session, crn, review_id=int(review_id), at=ctx.clock.now(), by=ctx.actor, actions=actions
    )
    return {"review_id": review.id, "signed_off_by": review.signed_off_by}


def case_risk(ctx: StepContext, *, crn: str) -> Result:
    """The case's risk as the register has it now, and the owner's experience band today from their
    staff record: what the oversight decision tables read."""
    case = register.find_case(ctx.session, crn)
    codes = {r.code for r in case.active_registrations()}
    return {
        "rosh": case.rosh.value if case.rosh else "LOW",
        "mappa_level": case.mappa_level or 0,
        "mappa_category": case.mappa_category.value if case.mappa_category else "NOT_ELIGIBLE",
        "child_or_da_registration": bool(codes & CHILD_OR_DOMESTIC_ABUSE),
        "registrations": sorted(codes),
        "owner": case.owner.username if case.owner else None,
        "experience": _band(case.owner, area_date(ctx.clock.now())),
    }


def bring_oversight_forward(ctx: StepContext, *, crn: str, reason: str, detail: str = "") -> Result:
    """An event brings the next oversight review forward to now, with the reason on the timeline."""
    words = f"{reason} ({detail})" if detail else reason
    plan = register.bring_oversight_forward(ctx.session, crn, at=ctx.clock.now(), by=ctx.actor, reason=words)
    return {"plan_id": plan.id, "next_review_due": plan.next_review_due.isoformat()}


def note_oversight_event(ctx: StepContext, *, crn: str, kind: str, detail: str = "") -> Result:
    """An event reported while the oversight review is already open: noted on the case for that review."""
    words = EVENT_WORDS.get(kind, "event reported on the case") + (f" ({detail})" if detail else "")
    event = register.note_oversight_event(ctx.session, crn, at=ctx.clock.now(), by=ctx.actor, reason=words)
    return {"noted": event.summary}


def registration_review_due(ctx: StepContext, *, crn: str, wakes_when_reported: bool = False) -> Result:
    """The registration due for review first, and when to look again (`wake_at`, an ISO date-time).

    `due` is true when a review has fallen due; otherwise `wake_at` is the day the next one falls
    due, or the shortest review period of any register type from today if that is sooner
    (SHORTEST_REVIEW_MONTHS, counted with the register's add_months): a registration added inside
    the process starts today or later, so it cannot fall due before then, and one reported from
    outside (perhaps backdated) ends the wait through the message `registrations_changed`. That
    holds for a model whose wait ends on that message, which says so with `wakes_when_reported`;
    for one that does not (an older version), `wake_at` is 4 weeks from now at the latest.
    """
    now = ctx.clock.now()
    registration = register.registration_due_for_review(ctx.session, crn)
    if wakes_when_reported:
        # Counted as the register counts: a registration starts on its step's day (`at.date()`), and
        # its review falls due at the start of the day (`falls_due` below).
        wake = datetime.combine(add_months(now.date(), SHORTEST_REVIEW_MONTHS), time(), tzinfo=UTC)
    else:
        wake = now + OLDER_MODEL_REVIEW_HORIZON
    if registration is None or registration.next_review_on is None:
        return {"due": False, "wake_at": wake.isoformat()}
    falls_due = datetime.combine(registration.next_review_on, time(), tzinfo=UTC)
    kind = register_type(registration.code)
    return {
        "due": falls_due <= now,
        "wake_at": max(now, min(falls_due, wake)).isoformat(),
        "registration_id": registration.id,
        "code": registration.code,
        "name": kind.name,
        "due_on": registration.next_review_on.isoformat(),
    }


def keep_or_end_registration(
    ctx: StepContext, *, crn: str, registration_id: int, decision: str, notes: str
) -> Result:
    """The Offender Manager's review of a registration: kept (reviewed again a period on) or ended."""
    case = register.find_case(ctx.session, crn)
    if int(registration_id) not in {r.id for r in case.active_registrations()}:
        raise register.RegistrationRefused(
            f"Registration {registration_id} is not in force on {crn}.",
            hint="Review a registration the case has now.",
        )
    at, by = ctx.clock.now(), ctx.actor
    if decision == "DEREGISTER":
        ended = register.deregister(ctx.session, int(registration_id), at=at, by=by, notes=notes)
        return {"registration_id": ended.id, "decision": decision, "next_review_on": None}
    if decision != "KEEP":
        raise register.RegistrationRefused(
            f"{decision!r} is not a registration review decision.", hint="Use KEEP or DEREGISTER."
        )
    kept = register.review_registration(ctx.session, int(registration_id), at=at, by=by, notes=notes)
    next_on = kept.next_review_on.isoformat() if kept.next_review_on else None
    return {"registration_id": kept.id, "decision": decision, "next_review_on": next_on}


def close_case(ctx: StepContext, *, crn: str, termination_date: str | date, reason: str) -> Result:
    """Close the case when supervision ends, with the reason: ownership, oversight plan and
    registrations end (but MAPPA, which stays for its own review)."""
    case = register.close_case(
        ctx.session,
        crn,
        at=ctx.clock.now(),
        by=ctx.actor,
        reason=sentencing.end_reason_words(reason, _date(termination_date)),
    )
    return {"stage": case.stage.value}


OPERATIONS: dict[str, Callable[..., Result]] = {
    "identify_case": identify_case,
    "record_court_details": record_court_details,
    "record_rosh_screening": record_rosh_screening,
    "record_sentence_outcome": record_sentence_outcome,
    "record_risk_meeting": record_risk_meeting,
    "record_mappa_level": record_mappa_level,
    "allocate_case": allocate_case,
    "transfer_case": transfer_case,
    "transfer_if_suitable": transfer_if_suitable,
    "owner_fits_case": owner_fits_case,
    "reallocate_case": reallocate_case,
    "record_oasys_assessment": record_oasys_assessment,
    "set_oversight_plan": set_oversight_plan,
    "record_oversight_review": record_oversight_review,
    "close_case": close_case,
    "case_risk": case_risk,
    "standard_dates": standard_dates,
    "review_falls_due": review_falls_due,
    "pass_over_sampled_review": pass_over_sampled_review,
    "sign_off_oversight_review": sign_off_oversight_review,
    "bring_oversight_forward": bring_oversight_forward,
    "note_oversight_event": note_oversight_event,
    "registration_review_due": registration_review_due,
    "keep_or_end_registration": keep_or_end_registration,
    **outcomes.OPERATIONS,
}


def register_operations(registry: ServiceRegistry) -> ServiceRegistry:
    """Add every casework operation to `registry`."""
    for name, func in OPERATIONS.items():
        registry.register(name, func)
    registry.register_choices("eligible_owners", ownership.eligible_owners)
    return registry


# --------------------------------------------------------------------------------- internals


def _plan_result(ctx: StepContext, crn: str, plan: Any) -> Result:
    """What the model keeps of an oversight plan: when its next review falls due, and, for a sampled
    plan, whether that period is picked in the sample (the draw, and the threshold it is set against)."""
    due = _utc(plan.next_review_due)
    draw, picked = register.sample_draw_for(crn, plan, area_date(due))
    return {
        "plan_id": plan.id,
        "next_review_due": due.isoformat(),
        "sampled": bool(plan.sampled),
        "picked": picked,
        "draw": draw / 100,
        "threshold": plan.sample_rate if plan.sampled else 100,
    }


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


def _owner_watched(ctx: StepContext, crn: str, change: str) -> AbstractContextManager[None]:
    """Watch a change of risk made in this step: an owner it makes unfit is reported to this case."""
    return owner_watched(
        ctx.session, crn, lambda payload: send_to_own_case(ctx, REALLOCATION_NEEDED, payload), change=change
    )


def _band(owner: Staff | None, day: date) -> str:
    """The owner's experience band on `day` from their staff record; E (the matrix's middle column)
    for a case without an owner or an owner who holds no band."""
    band = band_on(owner, day) if owner is not None else None
    return band.value if band is not None else "E"


def _mappa_category(value: str | None) -> MappaCategory | None:
    return None if value in (None, "", "NOT_ELIGIBLE") else MappaCategory(value)


def _utc(moment: datetime) -> datetime:
    """A moment from the database as UTC (SQLite gives it back without its zone)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _date(value: str | date) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
