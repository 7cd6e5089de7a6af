"""Messages from the systems around riskflow, delivered the one way both `riskflow message send` and
the JSON API use: checked, handed to the engine, and the outcome put in words.

The messages riskflow's models wait for are listed here for the people who connect those systems;
any other name is still accepted and kept, so a model deployed later can wait for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import EngineError
from engine.messaging import Delivery
from engine.runtime import ProcessEngine

# The messages riskflow expects from outside, matched to the case by its CRN.
KNOWN_MESSAGES: dict[str, str] = {
    "sentencing_outcome": "The court's sentencing outcome: payload crn, outcome, sentence_date.",
    "oasys_assessment_completed": "An OASys assessment was completed for the case.",
    "arrest_or_new_charge": "The police report an arrest or a new charge for the case.",
}
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
    return engine.deliver_message(
        name.strip(),
        correlation_value.strip(),
        dict(payload or {}),
        idempotency_key=idempotency_key,
        sender=sender,
    )


def describe(delivery: Delivery) -> str:
    """What became of a message, in words."""
    return OUTCOMES.get(delivery.status, delivery.status)
