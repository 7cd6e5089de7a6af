"""The service operations of the sentencing outcome: keep the checked outcome, close a case on it.

The model's `record_outcome` step calls `record_sentencing_outcome` with the outcome as it arrived
(the court's message, or the form the case administrator or the SPO filled in); the check is
casework.sentencing's, the same one the JSON API and `riskflow message send` use before a message is
kept. An outcome recorded by hand that does not pass is refused back to its form with what to put
right, and nothing changes. `close_on_outcome` closes the case on the register with the outcome as
its reason, for the outcomes that lead to no supervision (the `outcome_route` decision table).

The custody and licence route (custody-licence.bpmn) uses the rest: `custody_timetable` and
`licence_turn` work out its timers' dates, `release_on_licence`, `recall_to_custody` and
`end_licence` keep the register and the timeline.
`plan_order_end` gives the model the days of a supervised order's end: when its termination review
opens and falls due (the lead times of the `termination_review_lead` decision table, in working days
before the end date) and when supervision ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from casework import register, sentencing
from engine.clock import DISPLAY_ZONE, WorkingCalendar
from engine.errors import FieldError, InvalidData
from engine.scripting import StepContext

Result = dict[str, Any]
# Who records an outcome by hand in the model (the chase form and the overdue-outcome form).
BY_HAND = frozenset({"CASE_ADMIN", "SPO"})


def record_sentencing_outcome(
    ctx: StepContext, *, crn: str, given: Mapping[str, Any], hearing_court: str | None = None
) -> Result:
    """Check and keep the outcome; the court of the first hearing stands in when none is given.

    Returns the record (dates as ISO text) and, for an adjournment or deferment, `new_hearing_at`:
    the start of the next hearing's day (UTC), for the model's timer."""
    by_hand = given.get("recorded_by") in BY_HAND
    today = ctx.clock.now().date() if by_hand else None
    try:
        record = sentencing.check_outcome(
            {**given, "court": given.get("court") or hearing_court}, today=today
        )
    except sentencing.OutcomeRefused as err:
        raise InvalidData([FieldError(field, message) for field, message in err.problems.items()]) from err
    case = register.find_case(ctx.session, crn)
    if not case.is_open:
        raise register.CaseClosed(
            f"Case {crn} is closed.", hint="Nothing more can be recorded on a closed case."
        )
    sentencing.record_outcome(ctx.session, case, record, at=ctx.clock.now(), by=ctx.actor)
    new_hearing = record.next_hearing_date
    return {
        **record.as_payload(),
        "title": record.title,
        "stage": case.stage.value,
        "new_hearing_at": f"{new_hearing.isoformat()}T00:00:00+00:00" if new_hearing else None,
    }


def close_on_outcome(ctx: StepContext, *, crn: str, outcome: str, sentence_date: str | date) -> Result:
    """Close the case on its outcome: no owner, no oversight plan, its registrations ended with the reason."""
    on = sentence_date if isinstance(sentence_date, date) else date.fromisoformat(str(sentence_date)[:10])
    case = register.close_case(
        ctx.session, crn, at=ctx.clock.now(), by=ctx.actor, reason=sentencing.closing_reason(outcome, on)
    )
    return {"stage": case.stage.value, "closed_on_outcome": outcome}


def custody_timetable(
    ctx: StepContext,
    *,
    sentence_date: str,
    release_date: str,
    licence_end_date: str | None = None,
    pre_release_weeks: int = 0,
) -> Result:
    """The custody route's dates, for its timers: release, the licence's end, when pre-release planning
    starts (`pre_release_weeks` before release) and how long it has (until the day before release)."""
    release = _a_date(release_date)
    licence_end = _a_date(licence_end_date) if licence_end_date else None
    today = ctx.clock.now().date()
    planning_from = release - timedelta(weeks=int(pre_release_weeks or 0))
    return {
        "release_at": _start_of(release),
        "licence_end_at": _start_of(licence_end) if licence_end else None,
        "pre_release_at": _start_of(planning_from),
        "pre_release_due_in": f"P{max(1, (release - today).days - 1)}D",
    }


def licence_turn(ctx: StepContext, *, weeks: int, licence_end_date: str | None = None) -> Result:
    """When the next licence review falls due (`weeks` from now), unless the licence ends first: then
    the turn waits for the licence end date instead (`licence_ends`)."""
    now = ctx.clock.now()
    review_at = now + timedelta(weeks=max(1, int(weeks or 0)))
    licence_end = _a_date(licence_end_date) if licence_end_date else None
    if licence_end is not None and licence_end <= review_at.date():
        return {"next_at": _start_of(licence_end), "licence_ends": True}
    return {"next_at": review_at.isoformat(), "licence_ends": False}


def release_on_licence(
    ctx: StepContext, *, crn: str, release_date: str, licence_end_date: str | None = None, again: bool = False
) -> Result:
    """The person is released (or re-released after recall) on licence: the register and timeline say so."""
    case = register.find_case(ctx.session, crn)
    released_on = ctx.clock.now().date() if again else _a_date(release_date)
    licence_end = _a_date(licence_end_date) if licence_end_date else None
    event = sentencing.record_release(
        ctx.session,
        case,
        released_on=released_on,
        licence_end=licence_end,
        again=again,
        at=ctx.clock.now(),
        by=ctx.actor,
    )
    return {"stage": case.stage.value, "released_on": released_on.isoformat(), "summary": event.summary}


def recall_to_custody(
    ctx: StepContext, *, crn: str, reason: str, approved_by: list[str], recall_type: str = "STANDARD"
) -> Result:
    """The recall the SPO and the ACO approved: the licence is revoked and the person returns to custody.

    A fixed-term recall (`FIXED_TERM`) gives `rerelease_at`, the start of the day 28 days on, when the
    person is re-released on licence; a standard recall gives none (the re-release is recorded)."""
    if recall_type not in sentencing.RECALL_TYPES:
        raise InvalidData(
            [FieldError("recall_type", f"Choose a fixed-term or a standard recall, not {recall_type!r}")]
        )
    case = register.find_case(ctx.session, crn)
    now = ctx.clock.now()
    event = sentencing.record_recall(
        ctx.session,
        case,
        reason=reason,
        approved_by=list(approved_by),
        recall_type=recall_type,
        at=now,
        by=ctx.actor,
    )
    fixed_term = recall_type == "FIXED_TERM"
    rerelease_on = now.date() + timedelta(days=sentencing.FIXED_TERM_RECALL_DAYS) if fixed_term else None
    return {
        "recalled_on": now.date().isoformat(),
        "recall_type": recall_type,
        "rerelease_at": _start_of(rerelease_on) if rerelease_on else None,
        "summary": event.summary,
    }


def ask_for_recall(ctx: StepContext, *, crn: str, reason: str) -> Result:
    """The Offender Manager asked for a recall at the licence review: the timeline says so."""
    case = register.find_case(ctx.session, crn)
    event = sentencing.record_recall_request(
        ctx.session, case, reason=reason, at=ctx.clock.now(), by=ctx.actor
    )
    return {"asked_on": ctx.clock.now().date().isoformat(), "summary": event.summary}


def refuse_recall(ctx: StepContext, *, crn: str, refused_by: str, note: str = "") -> Result:
    """The SPO or the ACO refused the recall: the timeline says who, and why."""
    case = register.find_case(ctx.session, crn)
    event = sentencing.record_recall_refused(
        ctx.session, case, refused_by=refused_by, note=note or "", at=ctx.clock.now(), by=ctx.actor
    )
    return {"summary": event.summary}


def end_licence(ctx: StepContext, *, crn: str, licence_end_date: str) -> Result:
    """The licence has ended on its end date, whatever is open on it: the case closes on the register
    with that as its reason. A recall still awaiting approval lapses (there is no licence left to
    revoke), and the timeline says so; a person back in custody on recall is no longer on licence."""
    case = register.find_case(ctx.session, crn)
    licence_end, now = _a_date(licence_end_date), ctx.clock.now()
    standing = sentencing.licence_standing(ctx.session, case)
    if standing == "recall_asked":
        sentencing.record_recall_lapsed(ctx.session, case, licence_end=licence_end, at=now, by=ctx.actor)
    reason = sentencing.licence_end_reason(licence_end, in_custody_on_recall=standing == "recalled")
    case = register.close_case(ctx.session, crn, at=now, by=ctx.actor, reason=reason)
    return {"stage": case.stage.value, "reason": reason}


def _a_date(value: str | date) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _start_of(day: date) -> str:
    return f"{day.isoformat()}T00:00:00+00:00"


# The hour of the area's day a termination review opens.
REVIEW_OPENS_AT = time(9)


def plan_order_end(ctx: StepContext, *, crn: str, opens_before: int, due_before: int) -> Result:
    """The days of the order's end, from the end date on the register.

    `has_end` is false when no order end date is known (the case then ends only early, at an
    oversight review). Otherwise: `review_opens_at` (9:00 on the day `opens_before` working days
    before the end date, or now if that has passed), `review_due_on` (the date `due_before` working
    days before it: the termination review's due date) and `ends_at` (the start of the end date in
    the area: supervision ends on that day)."""
    case = register.find_case(ctx.session, crn)
    end = case.order_ends_on
    if end is None:
        return {"has_end": False, "end_date": None}
    if opens_before < due_before or due_before < 0:
        raise InvalidData(
            [
                FieldError(
                    "termination_review_lead",
                    f"The termination review must open ({opens_before} working days before the end) "
                    f"no later than it is due ({due_before}): check the termination_review_lead table",
                )
            ]
        )
    calendar = WorkingCalendar()
    opens_on = working_days_before(calendar, end, int(opens_before))
    opens_at = datetime.combine(opens_on, REVIEW_OPENS_AT, tzinfo=DISPLAY_ZONE).astimezone(UTC)
    ends_at = datetime.combine(end, time(), tzinfo=DISPLAY_ZONE).astimezone(UTC)
    return {
        "has_end": True,
        "end_date": end.isoformat(),
        "end_words": f"{end:%d %B %Y}",
        "review_opens_at": max(opens_at, ctx.clock.now()).isoformat(),
        "review_due_on": working_days_before(calendar, end, int(due_before)),
        "ends_at": ends_at.isoformat(),
    }


def working_days_before(calendar: WorkingCalendar, day: date, days: int) -> date:
    """The working day `days` working days before `day` (`day` itself for 0)."""
    remaining = days
    while remaining:
        day -= timedelta(days=1)
        if calendar.is_working_day(day):
            remaining -= 1
    return day


OPERATIONS: dict[str, Callable[..., Result]] = {
    "record_sentencing_outcome": record_sentencing_outcome,
    "close_on_outcome": close_on_outcome,
    "custody_timetable": custody_timetable,
    "licence_turn": licence_turn,
    "release_on_licence": release_on_licence,
    "recall_to_custody": recall_to_custody,
    "ask_for_recall": ask_for_recall,
    "refuse_recall": refuse_recall,
    "end_licence": end_licence,
    "plan_order_end": plan_order_end,
}
