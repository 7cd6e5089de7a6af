"""Messages from outside over the API: the court's sentencing outcome, OASys, arrests and charges."""

from __future__ import annotations

from flask import g

from webui import riskflow
from webui.api import bp
from webui.api.callers import Caller
from webui.api.schemas import MessageIn, MessageOut
from webui.api.spec import operation
from webui.inbound import deliver_inbound, describe

ACCEPTED_FOR_LATER = frozenset({"stored", "unknown_case"})


@operation(
    bp,
    "POST",
    "/messages",
    scope="messages:send",
    tag="messages",
    body=MessageIn,
    response=MessageOut,
    also={202: "Kept for later: the case's process does not wait for it yet, or is not known yet."},
)
def send_message(caller: Caller, body: MessageIn) -> tuple[MessageOut, int]:
    """Deliver a named message to the case it is about, or keep it until the case waits for it.

    200: delivered now, or a duplicate of a message already received with the same idempotency key
    (not applied again). 202: kept for later (the case's process does not wait for it yet, or no
    process is known for that CRN yet). Either way the sender need not send it again.
    """
    g.api_crn = body.correlation_value
    delivery = deliver_inbound(
        riskflow().engine,
        body.name,
        body.correlation_value,
        body.payload,
        idempotency_key=body.idempotency_key,
        sender=caller.who,
    )
    out = MessageOut(
        status=delivery.status,  # type: ignore[arg-type]  # the engine's four outcomes
        message_id=delivery.message_id,
        instance_id=delivery.instance_id,
        description=describe(delivery),
    )
    return out, 202 if delivery.status in ACCEPTED_FOR_LATER else 200
