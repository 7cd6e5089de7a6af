"""Handing messages to a waiting workflow, and the outbox of messages models throw.

The engine finds the waiting instance through the indexed `message_wait` table; here the message
is turned into the event SpiffWorkflow expects, using the definition of the task that waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.util.event import BpmnEvent

from engine.events import Waiting, waiting_events

log = logging.getLogger("riskflow.messages")


@dataclass(frozen=True)
class Delivery:
    """What became of a message: delivered now, stored for later, a duplicate, or for no known case."""

    status: str  # "delivered" | "stored" | "duplicate" | "unknown_case"
    message_id: int
    instance_id: int | None = None


def wait_key(event: Waiting, business_key: str) -> tuple[str, str]:
    """(message name, correlation value): the business key when the model sets no correlation."""
    return str(event.details.name), _correlation_value(event.details.correlations) or business_key


def _correlation_value(correlations: Mapping[str, Any] | None) -> str | None:
    for properties in (correlations or {}).values():
        if isinstance(properties, Mapping):
            for value in properties.values():
                if value is not None:
                    return str(value)
    return None


def jsonable(value: Any) -> Any:
    """`value` with every mapping, list and scalar kept and anything else turned into its text."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def waiting_for_message(workflow: Any, name: str) -> Waiting | None:
    """The waiting catch (in any sub-process or event-based gateway) for message `name`."""
    for event in waiting_events(workflow):
        if event.is_message and event.details.name == name:
            return event
    return None


def send_message(workflow: Any, name: str, correlation_value: str, payload: Mapping[str, Any]) -> bool:
    """Give the message to the workflow; False when nothing in it waits for that name."""
    waiting = waiting_for_message(workflow, name)
    if waiting is None:
        return False
    definition = waiting.definition
    body = dict(payload)
    for prop in definition.correlation_properties:
        # The retrieval expression is read over the payload; senders may leave out the key we
        # already matched on, so put it back before SpiffWorkflow looks for it.
        expression = prop.retrieval_expression.strip()
        if expression.isidentifier() and expression not in body:
            body[expression] = correlation_value
    correlations = dict(waiting.task.workflow.correlations)
    workflow.send_event(BpmnEvent(definition, body, correlations))
    return True


OutboxHandler = Callable[[Mapping[str, Any]], None]


class OutboxHandlers:
    """Where thrown messages go: a handler per message name, and a logging default."""

    def __init__(self) -> None:
        self._handlers: dict[str, OutboxHandler] = {}

    def register(self, message_name: str, handler: OutboxHandler) -> None:
        """Send messages of this name to `handler` (called after the step has committed)."""
        self._handlers[message_name] = handler

    def handle(self, message: Mapping[str, Any]) -> None:
        """Deliver one outbox message; raising leaves it in the outbox for another try."""
        handler = self._handlers.get(str(message["message_name"]), _log_message)
        handler(message)


def _log_message(message: Mapping[str, Any]) -> None:
    log.info(
        "message %s for %s", message["message_name"], message["business_key"], extra={"outbox": dict(message)}
    )
