"""Which instances wait, where and why: the stuck list, the instances in error, everything one
instance waits for, its audit trail and the steps to mark on its diagram.

Every question is answered from the engine's tables (instances, human tasks, message waits, the
audit trail) and from the deployed BPMN files read as XML; no workflow is loaded. An instance is
stuck when it is in error, or when it has waited at a step longer than that step's expected time: a
human task open too long, a message not received, or a timer the workers have not fired.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, defer

from engine.models import AuditEvent, HumanTask, MessageWait, ProcessInstance
from engine.monitoring.base import ERROR, MOVABLE, WAITING, scoped
from engine.monitoring.counts import StepCounts
from engine.monitoring.model import Expected, ModelSteps
from engine.monitoring.waiting import TIMER_GRACE, StuckReport, Waiting

STUCK_LIMIT = 200

# Lists of instances never read the workflow state (the largest column).
_WITHOUT_STATE = defer(ProcessInstance.state)

# The human-task columns a waiting reason needs (lists read these, not whole rows).
TASK_COLUMNS = (
    HumanTask.id,
    HumanTask.instance_id,
    HumanTask.business_key,
    HumanTask.element_id,
    HumanTask.title,
    HumanTask.created_at,
    HumanTask.claimed_by,
    HumanTask.assignee,
    HumanTask.candidate_role,
    HumanTask.due_at,
)


class Monitor(StepCounts):
    """The monitor's questions over the engine's tables, on one clock and working calendar."""

    # ----------------------------------------------------------------------- stuck

    def stuck(
        self, keys: Select[Any] | None = None, *, team_id: int | None = None, limit: int = STUCK_LIMIT
    ) -> StuckReport:
        """Instances in error, then instances waiting at a step longer than the step's expected
        time, longest first; `more` says whether there are more than `limit`."""
        steps = self.steps(self.definitions())
        items, more = self.errored(keys, team_id=team_id, limit=limit, steps=steps)
        tasks = (
            select(*TASK_COLUMNS, ProcessInstance.status)
            .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .where(
                HumanTask.state == "open",
                ProcessInstance.status.in_(MOVABLE),
                self._task_waited_too_long(steps),
            )
        )
        tasks = scoped(tasks, HumanTask, keys, team_id)
        waiting: list[Waiting] = [
            self._task_item(row, row.status, steps)
            for row in self.session.execute(
                tasks.order_by(HumanTask.created_at, HumanTask.id).limit(limit + 1)
            )
        ]
        waiting.extend(self._late_waits(steps, keys, team_id, limit))
        late_timers = select(ProcessInstance).where(
            ProcessInstance.status.in_(MOVABLE), ProcessInstance.next_timer_at < self.now - TIMER_GRACE
        )
        late_timers = scoped(late_timers, ProcessInstance, keys, team_id)
        late_first = (
            late_timers.order_by(ProcessInstance.next_timer_at, ProcessInstance.id)
            .limit(limit + 1)
            .options(_WITHOUT_STATE)
        )
        waiting.extend(self._timer_item(instance) for instance in self.session.scalars(late_first))
        waiting.sort(key=lambda item: item.since or self.now)
        items = items + waiting
        return StuckReport(items[:limit], more or len(items) > limit)

    def _late_waits(
        self, steps: ModelSteps, keys: Select[Any] | None, team_id: int | None, limit: int
    ) -> list[Waiting]:
        """The oldest waits for a message longer than the receiving step's expected time.

        One walk over waiting instances oldest first (the index on status and updated_at), each
        checked for a late wait, stopping at `limit` + 1 instances; then the late messages of those.
        """
        if not steps.message_steps:
            return []
        cutoffs = {
            name: min(self._cutoff(steps.expected(e)) for e in element_ids)
            for name, element_ids in steps.message_steps.items()
        }
        late = or_(
            *(
                and_(MessageWait.message_name == name, ProcessInstance.updated_at < cutoff)
                for name, cutoff in cutoffs.items()
            )
        )
        oldest = select(ProcessInstance).where(
            ProcessInstance.status == WAITING,
            ProcessInstance.updated_at < max(cutoffs.values()),
            select(MessageWait.id).where(MessageWait.instance_id == ProcessInstance.id, late).exists(),
        )
        oldest = scoped(oldest, ProcessInstance, keys, team_id)
        query = (
            oldest.order_by(ProcessInstance.updated_at, ProcessInstance.id)
            .limit(limit + 1)
            .options(_WITHOUT_STATE)
        )
        found = list(self.session.scalars(query))
        names: dict[int, set[str]] = {}
        for instance_id, name in self.session.execute(
            select(MessageWait.instance_id, MessageWait.message_name)
            .join(ProcessInstance, ProcessInstance.id == MessageWait.instance_id)
            .where(MessageWait.instance_id.in_([instance.id for instance in found]), late)
        ):
            names.setdefault(instance_id, set()).add(name)
        return [
            self._message_item(instance, name, element_ids[0], steps)
            for instance in found
            for name, element_ids in steps.message_steps.items()
            if name in names.get(instance.id, ())
        ]

    def errored(
        self,
        keys: Select[Any] | None = None,
        *,
        team_id: int | None = None,
        limit: int = STUCK_LIMIT,
        steps: ModelSteps | None = None,
    ) -> tuple[list[Waiting], bool]:
        """The instances in error (oldest failure first, up to `limit`), and whether there are more."""
        steps = steps or self.steps(self.definitions())
        query = scoped(
            select(ProcessInstance).where(ProcessInstance.status == ERROR), ProcessInstance, keys, team_id
        )
        query = (
            query.order_by(ProcessInstance.updated_at, ProcessInstance.id)
            .limit(limit + 1)
            .options(_WITHOUT_STATE)
        )
        found = list(self.session.scalars(query))
        return [self._error_item(instance, steps) for instance in found[:limit]], len(found) > limit

    def waiting(self, instance: ProcessInstance) -> list[Waiting]:
        """Everything one instance waits for now (stuck or not): its error, tasks, messages and timer."""
        steps = self.steps([instance.definition_id])
        found: list[Waiting] = []
        if instance.status == ERROR:
            found.append(self._error_item(instance, steps))
        tasks = self.session.scalars(
            select(HumanTask)
            .where(HumanTask.instance_id == instance.id, HumanTask.state == "open")
            .order_by(HumanTask.id)
        )
        found.extend(self._task_item(task, instance.status, steps) for task in tasks)
        names = self.session.scalars(
            select(MessageWait.message_name)
            .where(MessageWait.instance_id == instance.id)
            .order_by(MessageWait.id)
        )
        for name in names:
            receivers = steps.message_steps.get(name) or []
            found.append(self._message_item(instance, name, receivers[0] if receivers else None, steps))
        if instance.next_timer_at is not None:
            found.append(self._timer_item(instance))
        return found

    def is_stuck(self, item: Waiting) -> bool:
        """Whether this wait is longer than its step's expected time (an error always is)."""
        if item.kind == "error":
            return True
        if item.kind == "timer":
            return item.due_at is not None and item.due_at + TIMER_GRACE < self.now
        if item.since is None:
            return False
        return item.since < Expected.parse(item.expected).cutoff(self.now, self.calendar)

    def timer_lag(self) -> float:
        """Seconds the most overdue unfired timer is behind (0 when every timer is on time)."""
        oldest = self.session.scalar(
            select(func.min(ProcessInstance.next_timer_at)).where(ProcessInstance.status.in_(MOVABLE))
        )
        if oldest is None:
            return 0.0
        return max(0.0, (self.now - oldest).total_seconds())

    def _error_item(self, instance: ProcessInstance, steps: ModelSteps) -> Waiting:
        error = dict(instance.error or {})
        element_id = error.get("element_id")
        return Waiting(
            "error",
            instance.id,
            instance.business_key,
            instance.status,
            element_id,
            steps.name(element_id),
            instance.updated_at,
            error=error,
        )

    def _task_item(self, task: Any, status: str, steps: ModelSteps) -> Waiting:
        """A waiting task from a HumanTask row or a row of TASK_COLUMNS."""
        return Waiting(
            "task",
            task.instance_id,
            task.business_key,
            status,
            task.element_id,
            task.title,
            task.created_at,
            expected=steps.expected(task.element_id).text,
            task_id=task.id,
            holder=task.claimed_by or task.assignee,
            role=task.candidate_role,
            due_at=task.due_at,
        )

    def _message_item(
        self, instance: ProcessInstance, name: str, element_id: str | None, steps: ModelSteps
    ) -> Waiting:
        return Waiting(
            "message",
            instance.id,
            instance.business_key,
            instance.status,
            element_id,
            steps.name(element_id),
            instance.updated_at,
            expected=steps.expected(element_id).text,
            message=steps.message_words.get(name, name.replace("_", " ")),
        )

    @staticmethod
    def _timer_item(instance: ProcessInstance) -> Waiting:
        return Waiting(
            "timer",
            instance.id,
            instance.business_key,
            instance.status,
            None,
            "a timer",
            instance.updated_at,
            due_at=instance.next_timer_at,
        )


def instance_history(session: Session, instance_id: int) -> list[AuditEvent]:
    """The instance's audit trail, oldest first."""
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id)
        )
    )


def step_marks(
    session: Session, instance: ProcessInstance, waiting: Iterable[Waiting]
) -> dict[str, list[str]]:
    """Element ids to mark on the instance's diagram: completed, current and errored steps."""
    current = {w.element_id for w in waiting if w.element_id and w.kind != "error"}
    errored = {w.element_id for w in waiting if w.element_id and w.kind == "error"}
    seen = set(
        session.scalars(
            select(AuditEvent.element_id)
            .where(AuditEvent.instance_id == instance.id, AuditEvent.element_id.is_not(None))
            .distinct()
        )
    )
    done = set(
        session.scalars(
            select(HumanTask.element_id)
            .where(HumanTask.instance_id == instance.id, HumanTask.state == "completed")
            .distinct()
        )
    )
    completed = {e for e in (seen | done) if e} - current - errored
    return {"completed": sorted(completed), "current": sorted(current), "errored": sorted(errored)}
