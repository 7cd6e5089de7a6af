"""Messages from the systems around riskflow, delivered the one way both `riskflow message send` and
the JSON API use: checked, handed to the engine, and the outcome put in words.

The messages riskflow's models wait for are listed here for the people who connect those systems;
any other name is still accepted and kept, so a model deployed later can wait for it. The payload of
a known message is checked here before anything is kept: a wrong one is refused with the reason and
changes nothing, rather than stopping the case's process when it arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from casework import sentencing
from casework.register_types import REGISTER_TYPES, chosen_by_hand
from casework.vocabulary import RiskGroup, RoshByGroupRefused, RoshLevel, overall_rosh, rosh_by_group
from engine.errors import EngineError
from engine.messaging import Delivery
from engine.runtime import ProcessEngine

# The messages riskflow expects from outside, matched to the case by its CRN.
KNOWN_MESSAGES: dict[str, str] = {
    "sentencing_outcome": (
        "The court's outcome at a hearing: payload outcome (one of "
        + ", ".join(o.value for o in sentencing.CURRENT_OUTCOMES)
        + "), sentence_date (the hearing's date), and as the outcome needs them court, end_date (community "
        "order, suspended sentence order, conditional discharge), custody_months (determinate custody), "
        "release_date, release_type and licence_end_date (custody with a licence) and next_hearing_date "
        "(adjourned or deferred)."
    ),
    "oasys_assessment_completed": (
        "OASys reports the case's assessment completed: payload rosh_to (each group at risk, CHILDREN, "
        "PUBLIC, KNOWN_ADULT, STAFF, PRISONERS, with its level LOW, MEDIUM, HIGH or VERY_HIGH; the overall "
        "rosh is the highest of them), and optionally assessment_date and registrations (register codes "
        "the assessment found). The older payload, rosh and the list of groups risk_to, is still taken: "
        "each group listed gets the overall level."
    ),
    "arrest_or_new_charge": (
        "The police or the court report an arrest or a new charge during the order or licence: payload "
        "kind (ARREST or NEW_CHARGE), and optionally date and detail."
    ),
}
ARREST_KINDS = ("ARREST", "NEW_CHARGE")
MAX_DETAIL = 500
OUTCOMES: dict[str, str] = {
    "delivered": "delivered now to the case's process",
    "stored": "kept until the case's process waits for it",
    "unknown_case": "kept: no process is known for that case yet",
    "duplicate": "already received with that idempotency key: not applied again",
}


def deliver_inbound(
    engine: ProcessEngine,
    name: str,
    correlation_value: str,
    payload: Mapping[str, Any] | None,
    *,
    idempotency_key: str | None,
    sender: str,
) -> Delivery:
    """Deliver message `name` for the case `correlation_value` (a CRN), or keep it for later."""
    if payload is not None and not isinstance(payload, Mapping):
        raise EngineError(
            'The payload must be a JSON object, for example {"outcome": "CUSTODY"}.', code="invalid_message"
        )
    name, body = name.strip(), dict(payload or {})
    check = PAYLOAD_CHECKS.get(name)
    if name == "sentencing_outcome":
        problem = _sentencing_problem(body, engine.clock.now().date())
        if problem:
            raise EngineError(f"The {name} payload is not valid: {problem}.", code="invalid_message")
    elif check is not None:
        problem = check(body)
        if problem:
            raise EngineError(f"The {name} payload is not valid: {problem}.", code="invalid_message")
    return engine.deliver_message(
        name,
        correlation_value.strip(),
        body,
        idempotency_key=idempotency_key,
        sender=sender,
    )


def describe(delivery: Delivery) -> str:
    """What became of a message, in words."""
    return OUTCOMES.get(delivery.status, delivery.status)


def _oasys_problem(payload: Mapping[str, Any]) -> str:
    problem = _oasys_rosh_problem(payload)
    if problem:
        return problem
    if not _strings_among(payload.get("risk_to", []), RiskGroup.__members__):
        return "risk_to must be a list of " + ", ".join(RiskGroup.__members__)
    codes = [c for c in REGISTER_TYPES if chosen_by_hand(c)]
    if not _strings_among(payload.get("registrations", []), codes):
        return (
            "registrations must be a list of register codes (the RoSH and MAPPA registers follow the levels)"
        )
    return _date_problem(payload, "assessment_date")


def _oasys_rosh_problem(payload: Mapping[str, Any]) -> str:
    """The RoSH of an OASys payload: each group's level in `rosh_to` (the overall `rosh`, if given, the
    highest of them), or the older overall `rosh` with its list of groups `risk_to`."""
    rosh = payload.get("rosh")
    by_group = payload.get("rosh_to")
    if by_group is None:
        known = isinstance(rosh, str) and rosh in RoshLevel.__members__
        levels = ", ".join(RoshLevel.__members__)
        return "" if known else f"rosh must be one of {levels} (or give each group's level in rosh_to)"
    if not isinstance(by_group, Mapping):
        return 'rosh_to must be an object of each group\'s level, for example {"CHILDREN": "HIGH"}'
    try:
        overall = overall_rosh(rosh_by_group(by_group))
    except RoshByGroupRefused as refused:
        return f"rosh_to: {refused}"
    if rosh is not None and rosh != overall.value:
        return (
            f"rosh ({rosh}) is not the highest of the groups' levels in rosh_to ({overall.value}): "
            "the overall RoSH is the highest of them, so give that or leave rosh out"
        )
    if "risk_to" in payload:
        return "give either rosh_to (each group's level) or risk_to (the older list of groups), not both"
    return ""


def _sentencing_problem(payload: Mapping[str, Any], today: date) -> str:
    """The one check of an outcome (casework.sentencing), as words for the sender."""
    try:
        sentencing.check_outcome(payload, today=today)
    except sentencing.OutcomeRefused as err:
        return "; ".join(f"{field}: {message}" for field, message in err.problems.items())
    return ""


def _arrest_problem(payload: Mapping[str, Any]) -> str:
    kind = payload.get("kind")
    if not isinstance(kind, str) or kind not in ARREST_KINDS:
        return "kind must be ARREST or NEW_CHARGE"
    detail = payload.get("detail", "")
    if not isinstance(detail, str) or len(detail) > MAX_DETAIL:
        return f"detail must be text of at most {MAX_DETAIL} characters"
    return _date_problem(payload, "date")


def _strings_among(value: object, allowed: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v in allowed for v in value)


def _date_problem(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    if value is None:
        return ""
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        return f"{key} must be a date written YYYY-MM-DD"
    return ""


PAYLOAD_CHECKS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "oasys_assessment_completed": _oasys_problem,
    "arrest_or_new_charge": _arrest_problem,
}
