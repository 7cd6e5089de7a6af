"""A manager's actions on an instance: retry or skip a failed step, suspend, resume, terminate, move
it to another version of its definition, and read its data where it stands.

Retry, skip and a migration are steps (`engine.stepping`); suspend, resume and terminate change the
instance row alone. Each is audited with the reason or note the manager gives.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.spiff.specs.spiff_task import SpiffBpmnTask
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from engine import migration
from engine.clock import Clock
from engine.db import Database, retried_when_deadlocked
from engine.definitions import Definitions
from engine.errors import Conflict, EngineError, NotFound
from engine.models import AuditEvent, HumanTask, MessageWait, ProcessDefinition, ProcessInstance
from engine.state import StateSerializer
from engine.stepping import Stepper, StepResult, lock_instance
from engine.steps import Actor, InstanceStatus, StepState


@dataclass(frozen=True)
class MigrationResult:
    """One instance's answer to "can it move to that version" (and, after a migration, whether it did)."""

    instance_id: int
    business_key: str
    from_version: int
    to_version: int
    can_move: bool
    reason: str
    moved: bool = False


class Administration:
    """Repairs, suspensions, terminations and migrations of instances, each audited."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        definitions: Definitions,
        stepper: Stepper,
        serializer: StateSerializer,
    ) -> None:
        self.db = db
        self.clock = clock
        self.definitions = definitions
        self.stepper = stepper
        self.serializer = serializer

    def retry(self, instance_id: int, actor: Actor, *, reason: str) -> StepResult:
        """Run the failed step of an errored instance again (after the model or data is fixed)."""
        return self._repair(instance_id, actor, reason, skip=False)

    def skip(self, instance_id: int, actor: Actor, *, reason: str) -> StepResult:
        """Mark the failed step done without running it, and carry on."""
        return self._repair(instance_id, actor, reason, skip=True)

    @retried_when_deadlocked
    def _repair(self, instance_id: int, actor: Actor, reason: str, *, skip: bool) -> StepResult:
        if not reason.strip():
            raise EngineError("Give a reason: it is recorded on the case timeline.", code="reason_required")
        with self.db.transaction() as session:
            instance = lock_instance(session, instance_id)
            if instance.status != InstanceStatus.ERROR or not instance.error:
                raise Conflict("Only an instance in error can be retried or skipped.", code="instance_state")
            failed = dict(instance.error)
            workflow = self.stepper.load(session, instance)
            state = StepState(session, instance, actor, self.clock.now())
            event = "step_skipped" if skip else "step_retried"
            state.record(
                event, reason=reason, task_guid=failed.get("task_guid"), element_id=failed.get("element_id")
            )

            def repair(wf: BpmnWorkflow, st: StepState) -> None:
                task = _failed_task(wf, failed)
                if skip:
                    _complete_without_scripts(task)
                    return
                st.failure_phase = failed.get("phase")
                _rerun(task, failed.get("phase"))
                st.failure_phase = None

            instance.error = None
            return self.stepper.run(workflow, state, repair)

    @retried_when_deadlocked
    def suspend(self, instance_id: int, actor: Actor, *, reason: str) -> None:
        """Stop an instance moving (timers and messages wait) until it is resumed."""
        with self.db.transaction() as session:
            instance = lock_instance(session, instance_id)
            if instance.status in (*InstanceStatus.FINISHED, InstanceStatus.SUSPENDED):
                raise Conflict(
                    f"An instance that is {instance.status} cannot be suspended.", code="instance_state"
                )
            instance.suspended_from = instance.status
            self._set_status(
                session,
                instance,
                actor,
                status=InstanceStatus.SUSPENDED,
                event="instance_suspended",
                reason=reason,
            )

    @retried_when_deadlocked
    def resume(self, instance_id: int, actor: Actor, *, reason: str) -> None:
        """Let a suspended instance move again, in the state it was suspended from."""
        with self.db.transaction() as session:
            instance = lock_instance(session, instance_id)
            if instance.status != InstanceStatus.SUSPENDED:
                raise Conflict("Only a suspended instance can be resumed.", code="instance_state")
            previous = instance.suspended_from or InstanceStatus.WAITING
            instance.suspended_from = None
            self._set_status(
                session, instance, actor, status=previous, event="instance_resumed", reason=reason
            )

    @retried_when_deadlocked
    def terminate(self, instance_id: int, actor: Actor, *, reason: str) -> None:
        """End an instance for good: its open tasks are cancelled and nothing more runs."""
        with self.db.transaction() as session:
            instance = lock_instance(session, instance_id)
            if instance.status in InstanceStatus.FINISHED:
                raise Conflict(f"The instance is already {instance.status}.", code="instance_state")
            now = self.clock.now()
            session.execute(
                update(HumanTask)
                .where(HumanTask.instance_id == instance.id, HumanTask.state == "open")
                .values(state="cancelled", completed_at=now)
            )
            session.execute(delete(MessageWait).where(MessageWait.instance_id == instance.id))
            instance.next_timer_at = None
            instance.ended_at = now
            self._set_status(
                session,
                instance,
                actor,
                status=InstanceStatus.TERMINATED,
                event="instance_terminated",
                reason=reason,
            )

    def _set_status(
        self,
        session: Session,
        instance: ProcessInstance,
        actor: Actor,
        *,
        status: str,
        event: str,
        reason: str,
    ) -> None:
        if not reason.strip():
            raise EngineError("Give a reason: it is recorded on the case timeline.", code="reason_required")
        instance.status = status
        instance.version += 1
        instance.updated_at = self.clock.now()
        session.add(
            AuditEvent(
                at=instance.updated_at,
                actor=actor.user_id,
                event=event,
                instance_id=instance.id,
                business_key=instance.business_key,
                reason=reason,
            )
        )

    def instance_data(self, instance_id: int) -> dict[str, Any]:
        """The process data where the instance stands now (read-only; for display and checks)."""
        with self.db.transaction(write=False) as session:
            instance = session.get(ProcessInstance, instance_id)
            if instance is None:
                raise NotFound(f"instance {instance_id} does not exist")
            workflow = self.stepper.load(session, instance)
        if workflow.is_completed():
            return dict(workflow.data)
        live = workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.ERROR)
        if not live:
            return dict(workflow.last_task.data) if workflow.last_task else {}
        return dict(max(live, key=lambda t: t.last_state_change).data)

    # -------------------------------------------------------------- migration between versions

    def check_migration(
        self, instance_ids: Collection[int], target_definition_id: int
    ) -> list[MigrationResult]:
        """The dry run: for each instance, whether it can move to the target version and why (not)."""
        with self.db.transaction(write=False) as session:
            target = self._migration_target(session, target_definition_id)
            instances = session.scalars(
                select(ProcessInstance)
                .where(ProcessInstance.id.in_(instance_ids))
                .order_by(ProcessInstance.id)
            ).all()
            return [self._assess_migration(session, instance, target)[0] for instance in instances]

    @retried_when_deadlocked
    def migrate(
        self, instance_ids: Collection[int], target_definition_id: int, actor: Actor, *, note: str
    ) -> list[MigrationResult]:
        """Move each instance that can move to the target version, each in its own step, audited
        with `note`; the others stay exactly where they are, and the result says why."""
        if not note.strip():
            raise EngineError(
                "Give a change note: it is recorded on each case's timeline.", code="reason_required"
            )
        return [
            self._migrate_one(instance_id, target_definition_id, actor, note)
            for instance_id in sorted(set(instance_ids))
        ]

    def _migrate_one(
        self, instance_id: int, target_definition_id: int, actor: Actor, note: str
    ) -> MigrationResult:
        with self.db.transaction() as session:
            target = self._migration_target(session, target_definition_id)
            instance = lock_instance(session, instance_id)
            result, workflow = self._assess_migration(session, instance, target)
            if workflow is None or not result.can_move:
                return result
            state = StepState(session, instance, actor, self.clock.now())
            state.record(
                "instance_migrated",
                reason=note,
                detail={"from_version": result.from_version, "to_version": result.to_version},
            )
            specs = self.definitions.process_specs(session, target.id, instance.process_id)

            def move(wf: BpmnWorkflow, st: StepState) -> None:
                st.refresh_guids = migration.apply(self.serializer.registry, wf, specs)
                st.instance.definition_id = target_definition_id  # the sync reads the target's lanes

            self.stepper.run(workflow, state, move)
            return replace(result, moved=True)

    def _migration_target(self, session: Session, definition_id: int) -> ProcessDefinition:
        target = session.get(ProcessDefinition, definition_id)
        if target is None:
            raise NotFound(f"definition {definition_id} does not exist")
        return target

    def _assess_migration(
        self, session: Session, instance: ProcessInstance, target: ProcessDefinition
    ) -> tuple[MigrationResult, BpmnWorkflow | None]:
        current = session.get(ProcessDefinition, instance.definition_id)
        assert current is not None  # noqa: S101 - a foreign key
        result = MigrationResult(
            instance.id, instance.business_key, current.version, target.version, False, ""
        )
        refusal = None
        if current.name != target.name:
            refusal = f"it runs “{current.name}”, not “{target.name}”"
        elif current.id == target.id:
            refusal = f"it is already on version {target.version}"
        elif instance.status in InstanceStatus.FINISHED:
            refusal = "it has finished"
        elif instance.status == InstanceStatus.ERROR:
            refusal = "it has a failed step: retry or skip it first"
        elif instance.status == InstanceStatus.SUSPENDED:
            refusal = "it is suspended: resume it first"
        elif instance.process_id not in target.process_ids:
            refusal = f"version {target.version} has no process {instance.process_id!r}"
        if refusal is not None:
            return replace(result, reason=f"cannot move: {refusal}"), None
        workflow = self.stepper.load(session, instance)
        specs = self.definitions.process_specs(session, target.id, instance.process_id)
        answer = migration.assess(self.serializer.registry, workflow, specs)
        reason = answer.reason if answer.can_move else f"cannot move: {answer.reason}"
        return replace(result, can_move=answer.can_move, reason=reason), workflow


def _failed_task(workflow: BpmnWorkflow, failed: Mapping[str, Any]) -> Any:
    guid = failed.get("task_guid")
    task = workflow.get_task_from_id(UUID(guid)) if guid else None
    if task is None or not task.has_state(TaskState.ERROR):
        errored = workflow.get_tasks(state=TaskState.ERROR)
        task = errored[0] if errored else None
    if task is None:
        raise Conflict(
            "The failed step is no longer in the instance; nothing to retry.", code="instance_state"
        )
    return task


def _rerun(task: Any, phase: str | None) -> None:
    if phase == "prepare":
        task._set_state(TaskState.WAITING)
        task.task_spec._update(task)
    elif phase == "complete":
        task.complete()
    else:
        task._set_state(TaskState.READY)
        task.run()


def _complete_without_scripts(task: Any) -> None:
    """Mark a task done and move on, running none of its own scripts."""
    task._set_state(TaskState.COMPLETED)
    spec = task.task_spec
    hook = super(SpiffBpmnTask, spec)._on_complete_hook if isinstance(spec, SpiffBpmnTask) else None
    if hook is not None:
        hook(task)
    for child in task.children:
        if not child.has_state(TaskState.FINISHED_MASK):
            child.task_spec._update(child)
    task.workflow._task_completed_notify(task)
