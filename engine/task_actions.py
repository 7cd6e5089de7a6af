"""What people do to a human task: claim it, release it, save a draft, complete it, read its data.

Completing a task is a step (`engine.stepping`): the instance is locked first, the submitted data
validated against the step's form, and the workflow moved on in the same transaction. Claiming,
releasing and drafting change only the task row and the audit trail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from engine.clock import Clock, area_date
from engine.db import Database, retried_when_deadlocked
from engine.definitions import Definitions
from engine.errors import Conflict, InvalidData, NotFound, NotPermitted
from engine.forms import Choices, choice_errors, choice_fields, validate_form_data, with_choices
from engine.humantasks import TaskPolicy
from engine.models import AuditEvent, HumanTask, ProcessInstance
from engine.scripting import ServiceRegistry, StepContext
from engine.stepping import Stepper, StepResult
from engine.steps import Actor, InstanceStatus, StepState


def take_answers(task: Any, data: Mapping[str, Any]) -> None:
    """Put a person's answers into the task's data: a user task's as its form says (nested under its
    variable when it has one); a manual task is work done away from riskflow, confirmed with no answers."""
    add_data_from_form = getattr(task.task_spec, "add_data_from_form", None)
    if add_data_from_form is not None:
        add_data_from_form(task, dict(data))


class TaskActions:
    """A person's actions on one human task, each in its own transaction."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        definitions: Definitions,
        stepper: Stepper,
        policy: TaskPolicy,
        *,
        services: ServiceRegistry | None = None,
    ) -> None:
        self.services = services or ServiceRegistry()
        self.db = db
        self.clock = clock
        self.definitions = definitions
        self.stepper = stepper
        self.policy = policy

    @retried_when_deadlocked
    def complete(self, task_id: int, actor: Actor, data: Mapping[str, Any]) -> StepResult:
        """Complete a human task with submitted data, validated against its form on the server."""
        with self.db.transaction() as session:
            instance, task_row = self._lock_for_task(session, task_id)
            self.policy.check_may_complete(task_row, actor)
            now = self.clock.now()
            if task_row.form_file:
                schema = self.definitions.form_schema(session, instance.definition_id, task_row.form_file)
                validate_form_data(schema, dict(data), today=area_date(now))
                choices = self._choices(session, instance, actor, schema)
                if wrong := choice_errors(schema, dict(data), choices):
                    raise InvalidData(wrong)
            workflow = self.stepper.load(session, instance, step=True)
            state = StepState(session, instance, actor, now, submitted=True)

            def complete(wf: BpmnWorkflow, st: StepState) -> None:
                task = wf.get_task_from_id(UUID(task_row.task_guid))
                if task is None or not task.has_state(TaskState.READY):
                    raise Conflict("This task is no longer waiting to be done.", code="task_not_ready")
                take_answers(task, data)
                st.completed_guids[task_row.task_guid] = actor.user_id
                st.failure_phase = "complete"
                task.run()
                st.failure_phase = None

            task_row.draft = None
            state.record(
                "task_completed",
                task_guid=task_row.task_guid,
                element_id=task_row.element_id,
                detail={"task_id": task_row.id, "data": dict(data)},
            )
            return self.stepper.run(workflow, state, complete)

    def form(self, session: Session, task_id: int, actor: Actor) -> dict[str, Any] | None:
        """The task's form as its page draws it now: the fields whose choices come from a source
        list what it offers for this case today (None: the task has no form)."""
        row = self._task_row(session, task_id)
        if not row.form_file:
            return None
        instance = session.get(ProcessInstance, row.instance_id)
        if instance is None:
            raise NotFound("No such task.", code="task_not_found")
        schema = self.definitions.form_schema(session, instance.definition_id, row.form_file)
        return with_choices(schema, self._choices(session, instance, actor, schema))

    def _choices(
        self, session: Session, instance: ProcessInstance, actor: Actor, schema: Mapping[str, Any]
    ) -> dict[str, Choices]:
        sources = choice_fields(schema)
        if not sources:
            return {}
        ctx = StepContext(session, instance.id, instance.business_key, actor.user_id, self.clock)
        return {name: self.services.choices(source, ctx) for name, source in sources.items()}

    @retried_when_deadlocked
    def claim(self, task_id: int, actor: Actor) -> None:
        """Take an open task for yourself; a task someone else holds raises Conflict."""
        with self.db.transaction() as session:
            row = self._task_row(session, task_id)
            self.policy.check_may_claim(row, actor)
            result = session.execute(
                update(HumanTask)
                .where(HumanTask.id == task_id, HumanTask.state == "open", HumanTask.claimed_by.is_(None))
                .values(claimed_by=actor.user_id)
            )
            changed = cast("CursorResult[Any]", result).rowcount
            if not changed:
                session.refresh(row)
                if row.claimed_by == actor.user_id:
                    return
                raise Conflict(self.policy.unavailable_message(row), code="task_unavailable")
            self._audit_task(session, row, actor.user_id, "task_claimed")

    @retried_when_deadlocked
    def release(self, task_id: int, actor: Actor) -> None:
        """Give a claimed task back to its pool."""
        with self.db.transaction() as session:
            row = self._task_row(session, task_id)
            if row.state != "open":
                raise Conflict("This task is no longer open.", code="task_not_ready")
            if row.claimed_by != actor.user_id:
                raise NotPermitted("You can only release a task you have claimed.", code="not_yours")
            row.claimed_by = None
            self._audit_task(session, row, actor.user_id, "task_released")

    @retried_when_deadlocked
    def save_draft(self, task_id: int, actor: Actor, data: Mapping[str, Any]) -> None:
        """Keep unfinished form data on the task (not validated, not completed)."""
        with self.db.transaction() as session:
            row = self._task_row(session, task_id)
            self.policy.check_may_complete(row, actor)
            row.draft = dict(data)
            self._audit_task(session, row, actor.user_id, "task_draft_saved")

    def task_data(self, task_id: int) -> dict[str, Any]:
        """The data an open human task sees (read-only; for its instructions and its page)."""
        with self.db.transaction(write=False) as session:
            row = self._task_row(session, task_id)
            instance = session.get(ProcessInstance, row.instance_id)
            if instance is None:
                raise NotFound(f"instance {row.instance_id} does not exist")
            workflow = self.stepper.load(session, instance)
        try:
            task = workflow.get_task_from_id(UUID(row.task_guid))
        except SpiffWorkflowException:  # a closed task's guid may be gone from the workflow
            return {}
        return dict(task.data) if task is not None else {}

    def _lock_for_task(self, session: Session, task_id: int) -> tuple[ProcessInstance, HumanTask]:
        # Lock the instance first (as every step does), then read the task under that lock.
        instance = session.scalar(
            select(ProcessInstance)
            .join(HumanTask, HumanTask.instance_id == ProcessInstance.id)
            .where(HumanTask.id == task_id)
            .with_for_update(of=ProcessInstance)
            .execution_options(populate_existing=True)
        )
        if instance is None:
            raise NotFound(f"task {task_id} does not exist")
        row = self._task_row(session, task_id)
        if row.state != "open":
            raise Conflict(self.policy.unavailable_message(row), code="task_not_ready")
        if instance.status == InstanceStatus.SUSPENDED:
            raise Conflict(
                "This case's process is suspended; a manager must resume it first.", code="suspended"
            )
        if instance.status == InstanceStatus.ERROR:
            raise Conflict(
                "This case's process has a failed step; a manager must retry it first.", code="error"
            )
        return instance, row

    def _task_row(self, session: Session, task_id: int) -> HumanTask:
        row = session.scalar(
            select(HumanTask).where(HumanTask.id == task_id).execution_options(populate_existing=True)
        )
        if row is None:
            raise NotFound(f"task {task_id} does not exist")
        return row

    def _audit_task(self, session: Session, row: HumanTask, actor: str, event: str) -> None:
        session.add(
            AuditEvent(
                at=self.clock.now(),
                actor=actor,
                event=event,
                instance_id=row.instance_id,
                business_key=row.business_key,
                task_guid=row.task_guid,
                element_id=row.element_id,
                detail={"task_id": row.id},
            )
        )
