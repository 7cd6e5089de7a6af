"""The service operations of the sentencing outcome: keep the checked outcome, close a case on it.

The model's `record_outcome` step calls `record_sentencing_outcome` with the outcome as it arrived
(the court's message, or the form the case administrator or the SPO filled in); the check is
casework.sentencing's, the same one the JSON API and `riskflow message send` use before a message is
kept. An outcome recorded by hand that does not pass is refused back to its form with what to put
right, and nothing changes. `close_on_outcome` closes the case on the register with the outcome as
its reason, for the outcomes that lead to no supervision (the `outcome_route` decision table).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from casework import register, sentencing
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


OPERATIONS: dict[str, Callable[..., Result]] = {
    "record_sentencing_outcome": record_sentencing_outcome,
    "close_on_outcome": close_on_outcome,
}
