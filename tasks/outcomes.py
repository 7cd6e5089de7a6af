"""The service operations of the sentencing outcome: keep the checked outcome, close a case on it.

The model's `record_outcome` step calls `record_sentencing_outcome` with the outcome as it arrived
(the court's message, or the form the case administrator or the SPO filled in); the check is
casework.sentencing's, the same one the JSON API and `riskflow message send` use before a message is
kept. An outcome recorded by hand that does not pass is refused back to its form with what to put
right, and nothing changes. `close_on_outcome` closes the case on the register with the outcome as
its reason, for the outcomes that lead to no supervision (the `outcome_route` decision table).
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
    "plan_order_end": plan_order_end,
}
