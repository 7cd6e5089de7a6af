"""What a workflow waits for: every waiting catch event, with event-based gateways unpacked.

SpiffWorkflow reports an event-based gateway (or any multiple event) as one nameless waiting
event; the engine needs each timer and message inside it, to index due times and message waits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition

TIMER_EVENT_TYPES = ("DurationTimerEventDefinition", "TimeDateEventDefinition", "CycleTimerEventDefinition")
MESSAGE_EVENT_TYPE = "MessageEventDefinition"


@dataclass(frozen=True)
class Waiting:
    """One thing a waiting task waits for."""

    task: Any
    definition: Any
    details: Any  # SpiffWorkflow's PendingBpmnEvent: name, event_type, value, correlations

    @property
    def is_timer(self) -> bool:
        """A timer (its `details.value` is the due time)."""
        return bool(self.details.event_type in TIMER_EVENT_TYPES)

    @property
    def is_message(self) -> bool:
        """A message catch."""
        return bool(self.details.event_type == MESSAGE_EVENT_TYPE)


def waiting_events(workflow: Any) -> Iterator[Waiting]:
    """Every event the workflow (and its sub-processes) waits for."""
    for task in list(workflow.event_manager.tasks.values()):
        definition = task.task_spec.event_definition
        members = (
            definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
        )
        for member in members:
            yield Waiting(task, member, member.details(task))
