"""Messages in and out: delivering an inbound message to the instance waiting for it (or keeping it
until one does), and handing the outbox of thrown messages to their handlers after commit.

A delivery to a waiting instance is a step (`engine.stepping`); a message that arrives before
anything waits for it is kept, and the step that starts waiting for it picks it up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.db import Database, retried_when_deadlocked
from engine.errors import EngineError
from engine.messaging import Delivery, OutboxHandlers, jsonable
from engine.models import InboundMessage, MessageWait, OutboxMessage, ProcessInstance
from engine.scripting import StepContext
from engine.stepping import Stepper, lock_instance
from engine.steps import SYSTEM_ACTOR, TIMED_STATUSES, Actor, StepState

OUTBOX_MAX_ATTEMPTS = 20
log = logging.getLogger("riskflow.engine")


class MessageDeliveries:
    """Delivers inbound messages (each a step of the instance that waits) and the outbox."""

    def __init__(self, db: Database, clock: Clock, stepper: Stepper) -> None:
        self.db = db
        self.clock = clock
        self.stepper = stepper

    @retried_when_deadlocked
    def deliver_message(
        self,
        name: str,
        correlation_value: str,
        payload: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        sender: str = SYSTEM_ACTOR,
    ) -> Delivery:
        """Deliver a message to the instance waiting for it, or keep it until one does.

        A repeated idempotency key is acknowledged and not applied twice; a message for a case
        nobody knows is kept (status unknown_case) and reported, never dropped.
        """
        _check_message(name, correlation_value)
        try:
            with self.db.transaction() as session:
                return self._deliver(
                    session, name, correlation_value, dict(payload or {}), key=idempotency_key, sender=sender
                )
        except IntegrityError:
            # Another delivery with the same idempotency key committed first.
            return self._duplicate(idempotency_key)

    def deliver_message_within(
        self,
        session: Session,
        name: str,
        correlation_value: str,
        payload: Mapping[str, Any] | None = None,
        *,
        sender: str = SYSTEM_ACTOR,
    ) -> Delivery:
        """Deliver a message in the caller's transaction (`session`, from `db.transaction()`).

        For a change to the register and the message that tells the case about it: both commit
        together, or neither does. The step the message causes runs here, as in `deliver_message`.
        """
        _check_message(name, correlation_value)
        return self._deliver(session, name, correlation_value, dict(payload or {}), key=None, sender=sender)

    def _deliver(
        self,
        session: Session,
        name: str,
        value: str,
        payload: dict[str, Any],
        *,
        key: str | None,
        sender: str,
    ) -> Delivery:
        if key is not None:
            existing = session.scalar(select(InboundMessage).where(InboundMessage.idempotency_key == key))
            if existing is not None:
                return Delivery("duplicate", existing.id, existing.instance_id)
        now = self.clock.now()
        message = InboundMessage(
            message_name=name,
            correlation_value=value,
            payload=jsonable(payload),
            idempotency_key=key,
            status="stored",
            received_at=now,
            sender=sender,
        )
        session.add(message)
        session.flush()
        instance = self._waiting_instance(session, name, value)
        if instance is None:
            known = session.scalar(
                select(ProcessInstance.id).where(ProcessInstance.business_key == value).limit(1)
            )
            if known is None:
                message.status = "unknown_case"
                log.warning("message %s for unknown case %s kept as unknown_case", name, value)
            return Delivery(message.status, message.id)
        workflow = self.stepper.load(session, instance, step=True)
        state = StepState(session, instance, Actor(sender), now)
        state.record("message_received", detail={"message": name, "message_id": message.id})
        self.stepper.run(workflow, state, lambda wf, st: None)
        return Delivery(message.status, message.id, message.instance_id)

    def _waiting_instance(self, session: Session, name: str, value: str) -> ProcessInstance | None:
        for instance_id in session.scalars(
            select(MessageWait.instance_id)
            .where(MessageWait.message_name == name, MessageWait.correlation_value == value)
            .order_by(MessageWait.id)
        ):
            instance = lock_instance(session, instance_id)
            if instance.status in TIMED_STATUSES:
                return instance
        return None

    def _duplicate(self, key: str | None) -> Delivery:
        with self.db.transaction(write=False) as session:
            existing = session.scalar(select(InboundMessage).where(InboundMessage.idempotency_key == key))
            if existing is None:
                raise EngineError("The message could not be stored; send it again.", code="conflict")
            return Delivery("duplicate", existing.id, existing.instance_id)

    def deliver_outbox(self, handlers: OutboxHandlers, *, limit: int = 100) -> int:
        """Hand committed outbox messages to their handlers; a failure stays queued for retry."""
        delivered = 0
        failed: list[int] = []  # tried once in this sweep; the next sweep tries again
        for _ in range(limit):
            with self.db.transaction() as session:
                message = session.scalar(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.delivered_at.is_(None),
                        OutboxMessage.attempts < OUTBOX_MAX_ATTEMPTS,
                        OutboxMessage.id.not_in(failed),
                    )
                    .order_by(OutboxMessage.id)
                    .limit(1)
                    .with_for_update(skip_locked=self.db.supports_skip_locked)
                )
                if message is None:
                    return delivered
                message.attempts += 1
                try:
                    handlers.handle(_outbox_dict(message))
                except Exception as err:  # the handler's failure is recorded, the message kept
                    message.last_error = f"{type(err).__name__}: {err}"
                    failed.append(message.id)
                    log.warning("outbox message %s failed: %s", message.id, message.last_error)
                    continue
                message.delivered_at = self.clock.now()
                message.last_error = None
                delivered += 1
        return delivered


def _outbox_dict(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "message_name": message.message_name,
        "business_key": message.business_key,
        "payload": message.payload,
        "instance_id": message.instance_id,
        "created_at": message.created_at.isoformat(),
        "attempts": message.attempts,
    }


def send_to_own_case(ctx: StepContext, name: str, payload: Mapping[str, Any]) -> int:
    """From a service operation: a message for the case whose step is running (its business key).

    It is kept like any message that arrives before its wait, in the step's transaction: if the case
    waits for it once the step has run, the same step hands it over (so the step's own effects come
    first); otherwise the step that starts waiting for it picks it up. Never a step within a step.
    Returns the kept message's id.
    """
    _check_message(name, ctx.business_key)
    message = InboundMessage(
        message_name=name,
        correlation_value=ctx.business_key,
        payload=jsonable(dict(payload)),
        idempotency_key=None,
        status="stored",
        received_at=ctx.clock.now(),
        sender=ctx.actor,
    )
    ctx.session.add(message)
    ctx.session.flush()
    return message.id


def _check_message(name: str, correlation_value: str) -> None:
    if not name or not correlation_value:
        raise EngineError("A message needs a name and a correlation value.", code="invalid_message")
