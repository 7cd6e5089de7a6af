"""What one step of a process instance is made of: who acts, the states an instance can be in, who
a new human task goes to, and the bookkeeping a step's action and its human-task sync share.

engine.stepping runs the steps and engine.humantasks keeps the task rows in step with them; both
read these, and neither needs the other's module for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from engine.errors import ModelFailure
from engine.models import AuditEvent, ProcessInstance

SYSTEM_ACTOR = "system"


class InstanceStatus:
    """The states an instance can be in."""

    RUNNING = "running"
    WAITING = "waiting"
    AWAITING_PEOPLE = "awaiting_people"
    SUSPENDED = "suspended"
    ERROR = "error"
    COMPLETED = "completed"
    TERMINATED = "terminated"

    FINISHED = (COMPLETED, TERMINATED)


# Instances that timers and messages may move (not suspended, failed or finished).
TIMED_STATUSES = (InstanceStatus.WAITING, InstanceStatus.AWAITING_PEOPLE, InstanceStatus.RUNNING)


@dataclass(frozen=True)
class Actor:
    """Who acts: a user id and the role codes they hold."""

    user_id: str
    roles: frozenset[str] = frozenset()

    @classmethod
    def system(cls) -> Actor:
        """The engine itself (timers, deliveries)."""
        return cls(SYSTEM_ACTOR)


class AssignmentResolver(Protocol):
    """Chooses the person a new human task goes to; None leaves it for the role's pool."""

    def assignee_for(
        self,
        session: Session,
        *,
        role: str | None,
        business_key: str,
        element_id: str,
        data: Mapping[str, Any],
    ) -> str | None: ...


class PoolResolver:
    """The default: nobody in particular; every task waits to be claimed by its role."""

    def assignee_for(
        self,
        session: Session,
        *,
        role: str | None,
        business_key: str,
        element_id: str,
        data: Mapping[str, Any],
    ) -> str | None:
        return None


@dataclass
class StepState:
    """Bookkeeping shared by one step's action and its sync."""

    session: Session
    instance: ProcessInstance
    actor: Actor
    now: datetime
    completed_guids: dict[str, str] = field(default_factory=dict)
    failure: ModelFailure | None = None
    failure_phase: str | None = None
    had_message_waits: bool = True  # unknown: look the rows up
    # The (message, correlation) waits the instance had before this step, whose rows then exist:
    # None when unknown (the rows are looked up).
    waits_before: set[tuple[str, str]] | None = None
    audit: list[AuditEvent] = field(default_factory=list)
    # Whether the instance may hold human-task rows before this step: not when it was new, only
    # waiting or running (those statuses mean no open task; the sync then skips its lookups).
    may_have_task_rows: bool = field(init=False)
    # Flush the step's writes at its end (to surface a database error as this step's); a timer
    # batch leaves them to the commit, which then writes the whole batch in fewer statements.
    flush: bool = True
    # Open tasks whose row must be re-read from the definition (their step changed in a migration).
    refresh_guids: set[str] = field(default_factory=set)
    # A person's submission (complete_task): a service operation that refuses the submitted data
    # (raises InvalidData) undoes the whole step and the person is told, rather than the instance
    # going into error.
    submitted: bool = False

    def __post_init__(self) -> None:
        self.may_have_task_rows = self.instance.status not in (InstanceStatus.RUNNING, InstanceStatus.WAITING)

    def record(self, event: str, **fields: Any) -> None:
        """Queue an audit event for this instance, written in the step's transaction."""
        # Every row sets the same columns, so the step's audit rows go in one batched INSERT.
        values = {"task_guid": None, "element_id": None, "reason": None, "detail": None, **fields}
        self.audit.append(
            AuditEvent(
                at=self.now,
                actor=values.pop("actor", self.actor.user_id),
                event=event,
                instance_id=self.instance.id,
                business_key=self.instance.business_key,
                **values,
            )
        )
