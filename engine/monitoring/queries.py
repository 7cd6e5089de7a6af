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
from engine.monitoring.base import ERROR, MOVABLE, SUSPENDED, UNFINISHED, scoped
from engine.monitoring.counts import StepCounts
from engine.monitoring.model import ModelSteps
from engine.monitoring.waiting import KINDS, TIMER_GRACE, StuckReport, Waiting

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
    HumanTask.due_standard,
)


class Monitor(StepCounts):
    """The monitor's questions over the engine's tables, on one clock and working calendar."""

    # ----------------------------------------------------------------------- stuck

    def stuck(
        self,
        keys: Select[Any] | None = None,
        *,
        team_id: int | None = None,
        limit: int = STUCK_LIMIT,
        step: str | None = None,
        kind: str | None = None,
    ) -> StuckReport:
        """What is stuck: instances in error or suspended, late tasks, waits past their step's
        expected time and timers the workers have not fired; errors first, then the longest waiting.
        `step` keeps the waits at one step (timers and suspensions are at none), `kind` one of KINDS;
        `more` says whether there are more than `limit`."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"{kind!r} is not a kind of stuck work: use one of {', '.join(KINDS)}")
        steps = self.steps(self.definitions())
        wanted = set(KINDS) if kind is None else {kind}
        if step is not None:
            wanted -= {"suspended", "timer"}
        found: list[Waiting] = []
        more = False
        if "error" in wanted:
            errors, more = self.errored(keys, team_id=team_id, limit=limit, steps=steps, step=step)
            found.extend(errors)
        if "suspended" in wanted:
            found.extend(self._suspended(keys, team_id, limit))
        if "task" in wanted:
            found.extend(self._late_tasks(steps, keys, team_id, limit, step))
        if "message" in wanted:
            found.extend(self._late_waits(steps, keys, team_id, limit, step))
        if "timer" in wanted:
            found.extend(self._late_timers(keys, team_id, limit))
        found.sort(key=lambda item: item.sort_key(self.now))
        return StuckReport(found[:limit], more or len(found) > limit)

    def _late_tasks(
        self, steps: ModelSteps, keys: Select[Any] | None, team_id: int | None, limit: int, step: str | None
    ) -> list[Waiting]:
        """The open tasks past their due date or their step's expected time, oldest first."""
        tasks = (
            select(*TASK_COLUMNS, ProcessInstance.status)
            .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .where(HumanTask.state == "open", self._task_late(steps))
        )
        if step is not None:
            tasks = tasks.where(HumanTask.element_id == step)
        tasks = scoped(tasks, HumanTask, keys, team_id).order_by(HumanTask.created_at, HumanTask.id)
        return [
            self._task_item(row, row.status, steps) for row in self.session.execute(tasks.limit(limit + 1))
        ]

    def _late_waits(
        self, steps: ModelSteps, keys: Select[Any] | None, team_id: int | None, limit: int, step: str | None
    ) -> list[Waiting]:
        """The oldest waits for a message longer than the receiving step's expected time (a standing
        wait, for a message no receiving step expects within a time, never is).

        One walk over unfinished instances oldest first (the index on status and updated_at), each
        checked for a late wait, stopping at `limit` + 1 instances; then the late messages of those.
        """
        cutoffs = self._wait_cutoffs(steps)
        if step is not None:
            cutoffs = {name: cutoff for name, cutoff in cutoffs.items() if name in steps.waits_at(step)}
        if not cutoffs:
            return []
        late = or_(
            *(
                and_(MessageWait.message_name == name, ProcessInstance.updated_at < cutoff)
                for name, cutoff in cutoffs.items()
            )
        )
        oldest = select(ProcessInstance).where(
            ProcessInstance.status.in_(UNFINISHED),
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
            self._message_item(instance, name, steps)
            for instance in found
            for name in sorted(names.get(instance.id, ()))
        ]

    def _late_timers(self, keys: Select[Any] | None, team_id: int | None, limit: int) -> list[Waiting]:
        """Instances whose next timer is more than TIMER_GRACE past due: the workers have not fired it."""
        late = select(ProcessInstance).where(
            ProcessInstance.status.in_(MOVABLE), ProcessInstance.next_timer_at < self.now - TIMER_GRACE
        )
        query = (
            scoped(late, ProcessInstance, keys, team_id)
            .order_by(ProcessInstance.next_timer_at, ProcessInstance.id)
            .limit(limit + 1)
            .options(_WITHOUT_STATE)
        )
        return [self._timer_item(instance) for instance in self.session.scalars(query)]

    def _suspended(self, keys: Select[Any] | None, team_id: int | None, limit: int) -> list[Waiting]:
        """Suspended instances, longest suspended first, each with who suspended it and why."""
        query = scoped(
            select(ProcessInstance).where(ProcessInstance.status == SUSPENDED), ProcessInstance, keys, team_id
        )
        query = (
            query.order_by(ProcessInstance.updated_at, ProcessInstance.id)
            .limit(limit + 1)
            .options(_WITHOUT_STATE)
        )
        found = list(self.session.scalars(query))
        return [
            self._suspended_item(instance, event)
            for instance, event in zip(found, self._suspensions([i.id for i in found]), strict=True)
        ]

    def _suspensions(self, instance_ids: list[int]) -> list[AuditEvent | None]:
        """The latest `instance_suspended` event of each instance (None when there is none)."""
        latest: dict[int | None, AuditEvent] = {}
        if instance_ids:
            for event in self.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.instance_id.in_(instance_ids), AuditEvent.event == "instance_suspended")
                .order_by(AuditEvent.id)
            ):
                latest[event.instance_id] = event
        return [latest.get(instance_id) for instance_id in instance_ids]

    def errored(
        self,
        keys: Select[Any] | None = None,
        *,
        team_id: int | None = None,
        limit: int = STUCK_LIMIT,
        steps: ModelSteps | None = None,
        step: str | None = None,
    ) -> tuple[list[Waiting], bool]:
        """The instances in error (oldest failure first, up to `limit`), and whether there are more;
        `step`: only those that failed at that step."""
        steps = steps or self.steps(self.definitions())
        query = scoped(
            select(ProcessInstance).where(ProcessInstance.status == ERROR), ProcessInstance, keys, team_id
        )
        query = query.order_by(ProcessInstance.updated_at, ProcessInstance.id).options(_WITHOUT_STATE)
        if step is None:
            found = list(self.session.scalars(query.limit(limit + 1)))
        else:  # the step is inside the error's JSON: read the (few) failures and keep that step's
            found = [i for i in self.session.scalars(query) if (i.error or {}).get("element_id") == step]
        return [self._error_item(instance, steps) for instance in found[:limit]], len(found) > limit

    def waiting(self, instance: ProcessInstance) -> list[Waiting]:
        """Everything one instance waits for now (stuck or not): its error or suspension, tasks,
        messages and timer."""
        steps = self.steps([instance.definition_id])
        found: list[Waiting] = []
        if instance.status == ERROR:
            found.append(self._error_item(instance, steps))
        if instance.status == SUSPENDED:
            found.append(self._suspended_item(instance, self._suspensions([instance.id])[0]))
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
        found.extend(self._message_item(instance, name, steps) for name in names)
        if instance.next_timer_at is not None:
            found.append(self._timer_item(instance))
        return found

    @staticmethod
    def is_stuck(item: Waiting) -> bool:
        """Whether this wait is stuck: an error or a suspension; a task past its due date or its
        step's expected time; a wait past its expected time; a timer not fired."""
        return item.late

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
            late=True,
        )

    @staticmethod
    def _suspended_item(instance: ProcessInstance, event: AuditEvent | None) -> Waiting:
        return Waiting(
            "suspended",
            instance.id,
            instance.business_key,
            instance.status,
            None,
            "the whole case",
            event.at if event is not None else instance.updated_at,
            holder=event.actor if event is not None else None,
            message=event.reason if event is not None else None,
            late=True,
        )

    def _task_item(self, task: Any, status: str, steps: ModelSteps) -> Waiting:
        """A waiting task from a HumanTask row or a row of TASK_COLUMNS."""
        expected = steps.expected(task.element_id)
        late = (task.due_at is not None and task.due_at < self.now) or task.created_at < self._cutoff(
            expected
        )
        return Waiting(
            "task",
            task.instance_id,
            task.business_key,
            status,
            task.element_id,
            task.title,
            task.created_at,
            expected=expected.text,
            task_id=task.id,
            holder=task.claimed_by or task.assignee,
            role=task.candidate_role,
            due_at=task.due_at,
            due_standard=task.due_standard,
            late=late,
        )

    def _message_item(self, instance: ProcessInstance, name: str, steps: ModelSteps) -> Waiting:
        receivers = steps.message_steps.get(name) or []
        element_id = receivers[0] if receivers else None
        expected = steps.wait_expected(name)
        late = expected is not None and instance.updated_at < self._cutoff(expected)
        return Waiting(
            "message",
            instance.id,
            instance.business_key,
            instance.status,
            element_id,
            steps.name(element_id),
            instance.updated_at,
            expected=expected.text if expected is not None else "",
            message=steps.message_words.get(name, name.replace("_", " ")),
            late=late,
        )

    def _timer_item(self, instance: ProcessInstance) -> Waiting:
        due = instance.next_timer_at
        return Waiting(
            "timer",
            instance.id,
            instance.business_key,
            instance.status,
            None,
            "a timer",
            instance.updated_at,
            due_at=due,
            late=due is not None and due + TIMER_GRACE < self.now,
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
