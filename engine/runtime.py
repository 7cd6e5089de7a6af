"""The process engine: deploy definitions, start instances, and run every step in one transaction.

A step locks the instance row, loads the workflow onto its cached spec, acts (complete a task,
fire timers, deliver a message, retry), runs the engine until only people or time can move it,
then syncs the human-task rows, the next timer, the message waits and the outbox, appends audit
events, bumps the version and commits. Any exception rolls all of it back.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.specs.spiff_task import SpiffBpmnTask
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import CursorResult, Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import migration
from engine.bundle import Bundle, ParsedBundle, form_path, load_form_schema, parse_bundle
from engine.clock import Clock, SystemClock, WorkingCalendar, area_date
from engine.compare import compare_files
from engine.db import Database, after_commit, retried_when_deadlocked
from engine.errors import Conflict, EngineError, InvalidData, ModelFailure, NotFound, NotPermitted
from engine.events import Waiting, waiting_events
from engine.forms import validate_form_data
from engine.humantasks import HumanTaskSync, TaskPolicy
from engine.messaging import Delivery, OutboxHandlers, send_message
from engine.models import (
    ArchivedSubprocess,
    AuditEvent,
    DefinitionFile,
    HumanTask,
    InboundMessage,
    MessageWait,
    OutboxMessage,
    ProcessDefinition,
    ProcessInstance,
)
from engine.sandbox import ScriptLimitError, ScriptPolicyError
from engine.scripting import (
    SandboxedEnvironment,
    SandboxedScriptEngine,
    ServiceRegistry,
    StepContext,
    standard_functions,
    step_context,
)
from engine.state import KeptWorkflows, ProcessSpecs, StateSerializer, archive_finished_subprocesses
from engine.steps import SYSTEM_ACTOR, Actor, AssignmentResolver, InstanceStatus, PoolResolver, StepState
from engine.timers import next_timer_due, use_clock

OUTBOX_MAX_ATTEMPTS = 20
log = logging.getLogger("riskflow.engine")


# Due instances one timer sweep claims and commits together (each stepped in its own savepoint).
TIMER_CLAIM_BATCH = 20
# Workflows kept in memory between steps (engine.state.KeptWorkflows): about 300 KB each, so the
# default costs at most about 75 MiB.
KEPT_WORKFLOWS = 256
# Instances that timers and messages may move (not suspended, failed or finished).
TIMED_STATUSES = (InstanceStatus.WAITING, InstanceStatus.AWAITING_PEOPLE, InstanceStatus.RUNNING)


@dataclass(frozen=True)
class LoadedDefinition:
    """What running a definition version needs, kept in memory: its specs and lane map."""

    specs: dict[str, ProcessSpecs]
    lanes: dict[str, str]


@dataclass(frozen=True)
class ElementDetails:
    """What the model says about one element, for a task page: name, documentation, properties."""

    name: str
    documentation: str
    properties: dict[str, str]
    instructions: str  # the element's instructionsForEndUser: a template over the task's data


@dataclass
class DeployResult:
    """The definition version a deployment produced (or found), and the warnings to show."""

    definition_id: int
    name: str
    version: int
    created: bool
    warnings: list[Any] = field(default_factory=list)


@dataclass
class StepResult:
    """What a step left behind, for the caller to show."""

    instance_id: int
    status: str
    error: dict[str, Any] | None
    ready_task_ids: list[int]


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


StepAction = Callable[[BpmnWorkflow, StepState], None]


class ProcessEngine:
    """The generic BPMN runtime; the domain plugs in through its registries and resolver."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock | None = None,
        calendar: WorkingCalendar | None = None,
        services: ServiceRegistry | None = None,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        resolver: AssignmentResolver | None = None,
        known_roles: Collection[str] = (),
        kept_workflows: int = KEPT_WORKFLOWS,
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.calendar = calendar or WorkingCalendar()
        self.services = services or ServiceRegistry()
        self.resolver: AssignmentResolver = resolver or PoolResolver()
        self.known_roles = set(known_roles)
        self.serializer = StateSerializer()
        self.kept = KeptWorkflows(kept_workflows)
        script_functions = {**standard_functions(self.clock, self.calendar), **(functions or {})}
        self.script_engine = SandboxedScriptEngine(SandboxedEnvironment(script_functions, self.services))
        self._specs: dict[int, LoadedDefinition] = {}
        self._forms: dict[tuple[int, str], dict[str, Any]] = {}
        self._cache_lock = threading.Lock()
        self.policy = TaskPolicy(self.calendar, self.script_engine)

    # ----------------------------------------------------------------- definitions

    def check(self, bundle: Bundle) -> ParsedBundle:
        """Parse and check a bundle without deploying it (raises DefinitionError on errors)."""
        return parse_bundle(bundle, known_roles=self.known_roles, service_operations=self.services.names())

    def deploy(self, bundle: Bundle, *, actor: str, note: str = "") -> DeployResult:
        """Deploy a bundle: the same content keeps its version, new content becomes version N+1."""
        parsed = self.check(bundle)
        content_hash = bundle.content_hash
        with self.db.transaction() as session:
            existing = session.scalar(
                select(ProcessDefinition).where(
                    ProcessDefinition.name == bundle.name, ProcessDefinition.content_hash == content_hash
                )
            )
            if existing is not None:
                return DeployResult(existing.id, existing.name, existing.version, False, parsed.warnings)
            latest = session.scalar(
                select(func.max(ProcessDefinition.version)).where(ProcessDefinition.name == bundle.name)
            )
            changed_steps = self._changed_steps(session, bundle, latest) if latest else None
            definition = ProcessDefinition(
                name=bundle.name,
                version=(latest or 0) + 1,
                content_hash=content_hash,
                process_ids=parsed.process_ids,
                lanes=parsed.lanes,
                specs=self.serializer.specs_to_json(parsed.specs, parsed.dependencies),
                deployed_at=self.clock.now(),
                deployed_by=actor,
                note=note,
                changed_steps=changed_steps,
            )
            session.add(definition)
            session.flush()
            session.add_all(
                DefinitionFile(definition_id=definition.id, path=path, content=content)
                for path, content in sorted(bundle.files.items())
            )
            session.add(
                AuditEvent(
                    at=self.clock.now(),
                    actor=actor,
                    event="definition_deployed",
                    detail={"name": bundle.name, "version": definition.version, "note": note},
                )
            )
            return DeployResult(definition.id, definition.name, definition.version, True, parsed.warnings)

    def _changed_steps(self, session: Session, bundle: Bundle, previous_version: int) -> list[str]:
        """The steps (not paths) `bundle` adds or changes compared with version `previous_version`."""
        previous = session.scalar(
            select(ProcessDefinition.id).where(
                ProcessDefinition.name == bundle.name, ProcessDefinition.version == previous_version
            )
        )
        query = select(DefinitionFile.path, DefinitionFile.content)
        rows = session.execute(query.where(DefinitionFile.definition_id == previous))
        comparison = compare_files({path: bytes(content) for path, content in rows}, bundle.files)
        return sorted({c.element_id for c in comparison.steps if c.kind != "removed" and not c.is_path})

    def latest_definition(self, session: Session, process_id: str) -> ProcessDefinition:
        """The newest deployed definition that contains `process_id`."""
        for definition in session.scalars(
            select(ProcessDefinition).order_by(
                ProcessDefinition.deployed_at.desc(), ProcessDefinition.id.desc()
            )
        ):
            if process_id in definition.process_ids:
                return definition
        raise NotFound(f"no deployed definition contains a process with id {process_id!r}")

    def _definition(self, session: Session, definition_id: int) -> LoadedDefinition:
        """A definition's restored specs and lane map, read once per process and cached."""
        with self._cache_lock:
            cached = self._specs.get(definition_id)
        if cached is None:
            row = session.execute(
                select(ProcessDefinition.specs, ProcessDefinition.lanes).where(
                    ProcessDefinition.id == definition_id
                )
            ).one_or_none()
            if row is None:
                raise NotFound(f"definition {definition_id} does not exist")
            cached = LoadedDefinition(self.serializer.specs_from_json(row.specs), dict(row.lanes or {}))
            with self._cache_lock:
                cached = self._specs.setdefault(definition_id, cached)
        return cached

    def _process_specs(self, session: Session, definition_id: int, process_id: str) -> ProcessSpecs:
        specs = self._definition(session, definition_id).specs
        if process_id not in specs:
            raise NotFound(f"definition {definition_id} has no process {process_id!r}")
        return specs[process_id]

    def form_schema(self, session: Session, definition_id: int, form_file: str) -> dict[str, Any]:
        """The JSON Schema of a task's form, from the definition version the instance runs."""
        key = (definition_id, form_file)
        with self._cache_lock:
            schema = self._forms.get(key)
        if schema is not None:
            return schema
        paths = set(
            session.scalars(select(DefinitionFile.path).where(DefinitionFile.definition_id == definition_id))
        )
        path = form_path(paths, form_file)
        if path is None:
            raise NotFound(f"form {form_file!r} is not in definition {definition_id}")
        content = session.scalar(
            select(DefinitionFile.content).where(
                DefinitionFile.definition_id == definition_id, DefinitionFile.path == path
            )
        )
        schema = load_form_schema(content or b"{}", path)
        with self._cache_lock:
            self._forms[key] = schema
        return schema

    def element_details(
        self, session: Session, definition_id: int, process_id: str, element_id: str
    ) -> ElementDetails:
        """The documentation, properties and instructions of an element, from the deployed version."""
        spec = self._process_specs(session, definition_id, process_id).spec
        task_spec = spec.task_specs.get(element_id)
        if task_spec is None:
            raise NotFound(f"process {process_id!r} has no element {element_id!r}")
        extensions = getattr(task_spec, "extensions", None) or {}
        return ElementDetails(
            name=str(getattr(task_spec, "bpmn_name", None) or element_id),
            documentation=str(getattr(task_spec, "documentation", None) or ""),
            properties={str(k): str(v) for k, v in (extensions.get("properties") or {}).items()},
            instructions=str(extensions.get("instructionsForEndUser") or ""),
        )

    # ------------------------------------------------------------------- instances

    @retried_when_deadlocked
    def start(
        self,
        process_id: str,
        *,
        business_key: str,
        data: Mapping[str, Any] | None = None,
        actor: Actor | None = None,
        definition_id: int | None = None,
    ) -> StepResult:
        """Start an instance of the latest (or given) definition and run it as far as it goes."""
        actor = actor or Actor.system()
        with self.db.transaction() as session:
            if definition_id is None:
                definition_id = self.latest_definition(session, process_id).id
            specs = self._process_specs(session, definition_id, process_id)
            workflow = BpmnWorkflow(specs.spec, specs.subprocess_specs, script_engine=self.script_engine)
            now = self.clock.now()
            instance = ProcessInstance(
                definition_id=definition_id,
                process_id=process_id,
                business_key=business_key,
                status=InstanceStatus.RUNNING,
                state="",
                version=0,
                started_by=actor.user_id,
                created_at=now,
                updated_at=now,
            )
            session.add(instance)
            session.flush()
            state = StepState(session, instance, actor, now)
            state.record("instance_started", detail={"process_id": process_id, "data": dict(data or {})})

            def begin(wf: BpmnWorkflow, _state: StepState) -> None:
                first = wf.get_next_task(state=TaskState.READY)
                first.data.update(dict(data or {}))

            return self._run_step(workflow, state, begin)

    @retried_when_deadlocked
    def complete_task(self, task_id: int, actor: Actor, data: Mapping[str, Any]) -> StepResult:
        """Complete a human task with submitted data, validated against its form on the server."""
        with self.db.transaction() as session:
            instance, task_row = self._lock_for_task(session, task_id)
            self.policy.check_may_complete(task_row, actor)
            now = self.clock.now()
            if task_row.form_file:
                schema = self.form_schema(session, instance.definition_id, task_row.form_file)
                validate_form_data(schema, dict(data), today=area_date(now))
            workflow = self._load(session, instance, step=True)
            state = StepState(session, instance, actor, now, submitted=True)

            def complete(wf: BpmnWorkflow, st: StepState) -> None:
                task = wf.get_task_from_id(UUID(task_row.task_guid))
                if task is None or not task.has_state(TaskState.READY):
                    raise Conflict("This task is no longer waiting to be done.", code="task_not_ready")
                task.task_spec.add_data_from_form(task, dict(data))
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
            return self._run_step(workflow, state, complete)

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

    def retry(self, instance_id: int, actor: Actor, *, reason: str) -> StepResult:
        """Run the failed step of an errored instance again (after the model or data is fixed)."""
        return self._repair(instance_id, actor, reason, skip=False)

    def skip(self, instance_id: int, actor: Actor, *, reason: str) -> StepResult:
        """Mark the failed step done without running it, and carry on."""
        return self._repair(instance_id, actor, reason, skip=True)

    @retried_when_deadlocked
    def suspend(self, instance_id: int, actor: Actor, *, reason: str) -> None:
        """Stop an instance moving (timers and messages wait) until it is resumed."""
        with self.db.transaction() as session:
            instance = self._lock(session, instance_id)
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
            instance = self._lock(session, instance_id)
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
            instance = self._lock(session, instance_id)
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

    def instance_data(self, instance_id: int) -> dict[str, Any]:
        """The process data where the instance stands now (read-only; for display and checks)."""
        with self.db.transaction(write=False) as session:
            instance = session.get(ProcessInstance, instance_id)
            if instance is None:
                raise NotFound(f"instance {instance_id} does not exist")
            workflow = self._load(session, instance)
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
            instance = self._lock(session, instance_id)
            result, workflow = self._assess_migration(session, instance, target)
            if workflow is None or not result.can_move:
                return result
            state = StepState(session, instance, actor, self.clock.now())
            state.record(
                "instance_migrated",
                reason=note,
                detail={"from_version": result.from_version, "to_version": result.to_version},
            )
            specs = self._process_specs(session, target.id, instance.process_id)

            def move(wf: BpmnWorkflow, st: StepState) -> None:
                st.refresh_guids = migration.apply(self.serializer.registry, wf, specs)
                st.instance.definition_id = target_definition_id  # the sync reads the target's lanes

            self._run_step(workflow, state, move)
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
        workflow = self._load(session, instance)
        specs = self._process_specs(session, target.id, instance.process_id)
        answer = migration.assess(self.serializer.registry, workflow, specs)
        reason = answer.reason if answer.can_move else f"cannot move: {answer.reason}"
        return replace(result, can_move=answer.can_move, reason=reason), workflow

    def task_data(self, task_id: int) -> dict[str, Any]:
        """The data an open human task sees (read-only; for its instructions and its page)."""
        with self.db.transaction(write=False) as session:
            row = self._task_row(session, task_id)
            instance = session.get(ProcessInstance, row.instance_id)
            if instance is None:
                raise NotFound(f"instance {row.instance_id} does not exist")
            workflow = self._load(session, instance)
        try:
            task = workflow.get_task_from_id(UUID(row.task_guid))
        except SpiffWorkflowException:  # a closed task's guid may be gone from the workflow
            return {}
        return dict(task.data) if task is not None else {}

    # -------------------------------------------------------------- time and messages

    def fire_due_timers(self, *, limit: int | None = None, batch: int = TIMER_CLAIM_BATCH) -> int:
        """Step every instance whose next timer is due now; return how many steps were taken.

        Due instances are claimed `batch` at a time, oldest due first, locked, stepped one after
        the other and committed together: one commit per batch instead of one per timer is what
        makes a sweep fast. Each step is still all or nothing: if one fails unexpectedly the whole
        batch rolls back and the sweep goes on one instance at a time, so that the failing one is
        found, logged and left due for a later sweep while the others fire. On PostgreSQL the
        claim skips rows another worker holds, so any number of workers share the work; a worker
        killed mid-batch loses nothing (the batch rolls back and stays due).
        """
        fired = 0
        seen: set[int] = set()  # stepped in this sweep and still due, or failed: not claimed again
        while limit is None or fired < limit:
            size = batch if limit is None else min(batch, limit - fired)
            flush_each = size == 1
            now = self.clock.now()
            stepping: int | None = None
            try:
                with self.db.transaction() as session:
                    claimed = self._claim_due(session, now, seen, size)
                    still_due = []
                    for instance in claimed:
                        stepping = instance.id
                        self._fire_timer(session, instance, now, flush=flush_each)
                        if instance.next_timer_at is not None and instance.next_timer_at <= now:
                            still_due.append(instance.id)
                    stepping = None
            except Exception:
                if not flush_each:
                    # A batch writes at commit, so a failure may surface in a later step than its
                    # cause: go on one at a time, where each step's own flush names the instance.
                    log.warning("a batch of timer steps failed; going on one instance at a time")
                    batch = 1
                    continue
                if stepping is None:
                    raise  # the claim failed, not a step: nothing to single out
                log.exception("timer step of instance %s failed; it stays due", stepping)
                seen.add(stepping)
                continue
            if not claimed:
                return fired
            fired += len(claimed)
            seen.update(still_due)  # its timer did not move on: not again in this sweep
        return fired

    def _claim_due(self, session: Session, now: datetime, seen: set[int], size: int) -> list[ProcessInstance]:
        query = due_claim_query(now, size, skip_locked=self.db.supports_skip_locked)
        if seen:
            # An instance whose timer did not move on (or whose step failed) is not picked again.
            query = query.where(ProcessInstance.id.not_in(sorted(seen)))
        return list(session.scalars(query))

    def _fire_timer(self, session: Session, instance: ProcessInstance, now: datetime, *, flush: bool) -> None:
        due = instance.next_timer_at
        workflow = self._load(session, instance, step=True)
        state = StepState(session, instance, Actor.system(), now, flush=flush)
        lateness = (now - due).total_seconds() if due else 0.0
        state.record(
            "timer_fired", detail={"due_at": due.isoformat() if due else None, "late_seconds": lateness}
        )

        def fire(wf: BpmnWorkflow, _state: StepState) -> None:
            wf.refresh_timers()

        self._run_step(workflow, state, fire)

    def next_timer_at(self) -> datetime | None:
        """When the earliest waiting timer of any instance is due (for the worker's sleep)."""
        with self.db.transaction(write=False) as session:
            return session.scalar(
                select(func.min(ProcessInstance.next_timer_at)).where(
                    ProcessInstance.status.in_(TIMED_STATUSES)
                )
            )

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
        """Deliver a message in the caller's transaction (`session`, from `self.db.transaction()`).

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
            payload=_jsonable(payload),
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
        workflow = self._load(session, instance, step=True)
        state = StepState(session, instance, Actor(sender), now)
        state.record("message_received", detail={"message": name, "message_id": message.id})
        self._run_step(workflow, state, lambda wf, st: None)
        return Delivery(message.status, message.id, message.instance_id)

    def _waiting_instance(self, session: Session, name: str, value: str) -> ProcessInstance | None:
        for instance_id in session.scalars(
            select(MessageWait.instance_id)
            .where(MessageWait.message_name == name, MessageWait.correlation_value == value)
            .order_by(MessageWait.id)
        ):
            instance = self._lock(session, instance_id)
            if instance.status in TIMED_STATUSES:
                return instance
        return None

    def _duplicate(self, key: str | None) -> Delivery:
        with self.db.transaction(write=False) as session:
            existing = session.scalar(select(InboundMessage).where(InboundMessage.idempotency_key == key))
            if existing is None:
                raise EngineError("The message could not be stored; send it again.", code="conflict")
            return Delivery("duplicate", existing.id, existing.instance_id)

    def _deliver_stored_messages(self, workflow: BpmnWorkflow, state: StepState) -> None:
        """Hand the workflow any kept messages it now waits for (they may arrive before the wait)."""
        for _ in range(MAX_ENGINE_ROUNDS):
            waits = {
                _wait_key(event, state.instance.business_key)
                for event in waiting_events(workflow)
                if event.is_message
            }
            message = self._pending_message(state.session, waits)
            if message is None:
                return
            if not send_message(workflow, message.message_name, message.correlation_value, message.payload):
                return
            message.status = "delivered"
            message.instance_id = state.instance.id
            message.delivered_at = state.now
            state.record(
                "message_delivered", detail={"message": message.message_name, "message_id": message.id}
            )
            _advance(workflow)

    def _pending_message(self, session: Session, waits: set[tuple[str, str]]) -> InboundMessage | None:
        """The oldest kept message for the first wait (in name order) that has one: one query for all."""
        if not waits:
            return None
        names = sorted({name for name, _ in waits})
        values = sorted({value for _, value in waits})
        candidates = session.scalars(
            select(InboundMessage)
            .where(
                InboundMessage.status.in_(("stored", "unknown_case")),
                InboundMessage.message_name.in_(names),
                InboundMessage.correlation_value.in_(values),
            )
            .order_by(InboundMessage.id)
        ).all()
        first: dict[tuple[str, str], InboundMessage] = {}
        for message in candidates:
            first.setdefault((message.message_name, message.correlation_value), message)
        for wait in sorted(waits):
            if wait in first:
                return first[wait]
        return None

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

    # ------------------------------------------------------------------ internals

    @retried_when_deadlocked
    def _repair(self, instance_id: int, actor: Actor, reason: str, *, skip: bool) -> StepResult:
        if not reason.strip():
            raise EngineError("Give a reason: it is recorded on the case timeline.", code="reason_required")
        with self.db.transaction() as session:
            instance = self._lock(session, instance_id)
            if instance.status != InstanceStatus.ERROR or not instance.error:
                raise Conflict("Only an instance in error can be retried or skipped.", code="instance_state")
            failed = dict(instance.error)
            workflow = self._load(session, instance)
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
            return self._run_step(workflow, state, repair)

    def _run_step(self, workflow: BpmnWorkflow, state: StepState, action: StepAction) -> StepResult:
        """Act, run the engine, archive, sync and persist: the body of every step."""
        instance = state.instance
        ctx = StepContext(state.session, instance.id, instance.business_key, state.actor.user_id, self.clock)
        if instance.state:  # a loaded instance: its rows mirror what it waited for before this step
            waits = self._message_waits(workflow, instance)
            state.had_message_waits = bool(waits)
            # An errored or ended instance had its rows removed: they are looked up, not assumed.
            if instance.status not in (*InstanceStatus.FINISHED, InstanceStatus.ERROR):
                state.waits_before = waits
        with use_clock(self.clock), step_context(ctx):
            try:
                action(workflow, state)
                _advance(workflow)
                self._deliver_stored_messages(workflow, state)
            except (Conflict, NotPermitted):
                raise
            except SpiffWorkflowException as err:  # a model error: kept, shown, retried after a fix
                refused = _refusal(err)
                if refused is not None and state.submitted:
                    raise refused from err  # the transaction rolls back: the task stays open
                state.failure = _model_failure(err, state.failure_phase)
            finished = archive_finished_subprocesses(workflow)
        self._archive(state, finished)
        return self._persist(workflow, state)

    def _persist(self, workflow: BpmnWorkflow, state: StepState) -> StepResult:
        session, instance = state.session, state.instance
        sync = HumanTaskSync(session, self.policy, self.resolver, state)
        lanes = self._definition(session, instance.definition_id).lanes
        ready_ids: list[int] = []
        try:
            if sync.needed(workflow):
                with session.begin_nested():  # a bad due-date property undoes only the task rows
                    ready_ids = sync.run(workflow, lanes)
        except (SpiffWorkflowException, ValueError) as err:
            state.failure = state.failure or _model_failure(err, "prepare")
            state.failure_phase = state.failure_phase or "prepare"
        # Drain thrown messages before saving: the saved state must not hold them to send again.
        self._queue_outbound(session, instance, workflow, state.now)
        instance.state = saved = self.serializer.dumps(workflow)
        instance.version += 1
        instance.updated_at = state.now
        if state.failure is not None:
            instance.status = InstanceStatus.ERROR
            instance.error = {
                **state.failure.as_dict(),
                "phase": state.failure_phase or _phase(state.failure),
            }
            instance.next_timer_at = None
            state.record(
                "instance_errored",
                element_id=state.failure.element_id,
                task_guid=state.failure.task_guid,
                detail=instance.error,
            )
        else:
            instance.next_timer_at = next_timer_due(workflow)
            instance.status = _status_after_step(workflow, bool(ready_ids))
            if instance.status == InstanceStatus.COMPLETED:
                instance.ended_at = state.now
                state.record("instance_completed")
        self._sync_waits(session, instance, workflow, state)
        session.add_all(state.audit)
        if instance.status not in (*InstanceStatus.FINISHED, InstanceStatus.ERROR):
            after_commit(session, functools.partial(self.kept.keep, instance.id, saved, workflow))
        if state.flush:
            session.flush()
        return StepResult(instance.id, instance.status, instance.error, ready_ids)

    def _archive(self, state: StepState, finished: list[Any]) -> None:
        for item in finished:
            state.session.add(
                ArchivedSubprocess(
                    instance_id=state.instance.id,
                    task_guid=item.task_guid,
                    element_id=item.element_id,
                    process_id=item.process_id,
                    archived_at=state.now,
                    state=self.serializer.subprocess_to_json(item.subprocess),
                )
            )

    def _sync_waits(
        self, session: Session, instance: ProcessInstance, workflow: BpmnWorkflow, state: StepState
    ) -> None:
        wanted: set[tuple[str, str]] = set()
        if instance.status not in (*InstanceStatus.FINISHED, InstanceStatus.ERROR):
            wanted = self._message_waits(workflow, instance)
        if wanted == state.waits_before or (not wanted and not state.had_message_waits):
            return  # the rows already mirror these waits: most steps wait for what they waited for
        existing = session.scalars(select(MessageWait).where(MessageWait.instance_id == instance.id)).all()
        have = {(w.message_name, w.correlation_value): w for w in existing}
        for key, wait in have.items():
            if key not in wanted:
                session.delete(wait)
        for name, value in sorted(wanted - set(have)):  # a set's order changes from run to run
            session.add(MessageWait(instance_id=instance.id, message_name=name, correlation_value=value))

    @staticmethod
    def _message_waits(workflow: BpmnWorkflow, instance: ProcessInstance) -> set[tuple[str, str]]:
        """The (message name, correlation value) pairs the workflow waits for now."""
        return {_wait_key(e, instance.business_key) for e in waiting_events(workflow) if e.is_message}

    def _queue_outbound(
        self, session: Session, instance: ProcessInstance, workflow: BpmnWorkflow, now: datetime
    ) -> None:
        for event in workflow.get_events():
            if type(event.event_definition).__name__ != "MessageEventDefinition":
                continue  # e.g. a terminate end event: nothing to send outside
            payload = event.payload if isinstance(event.payload, dict) else {"value": event.payload}
            session.add(
                OutboxMessage(
                    instance_id=instance.id,
                    message_name=event.event_definition.name,
                    business_key=instance.business_key,
                    payload=_jsonable(payload),
                    created_at=now,
                )
            )

    def _load(self, session: Session, instance: ProcessInstance, *, step: bool = False) -> BpmnWorkflow:
        """The instance's workflow as its state row has it; for a `step`, the kept one if it is that."""
        if step:
            kept = self.kept.take(instance.id, instance.state)
            if kept is not None:
                return kept
        specs = self._process_specs(session, instance.definition_id, instance.process_id)
        workflow = self.serializer.loads(instance.state, specs)
        workflow.script_engine = self.script_engine  # not serialized: re-attach every time
        return workflow

    def _lock(self, session: Session, instance_id: int) -> ProcessInstance:
        instance = session.scalar(
            select(ProcessInstance)
            .where(ProcessInstance.id == instance_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if instance is None:
            raise NotFound(f"instance {instance_id} does not exist")
        return instance

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


def due_claim_query(now: datetime, size: int, *, skip_locked: bool) -> Select[ProcessInstance]:
    """The worker's claim: up to `size` instances with a due timer, oldest due first, locked."""
    return (
        select(ProcessInstance)
        .where(ProcessInstance.status.in_(TIMED_STATUSES), ProcessInstance.next_timer_at <= now)
        # Ordered by the indexed due time alone, so PostgreSQL can walk the index and lock the
        # first free rows instead of sorting every due row on each claim.
        .order_by(ProcessInstance.next_timer_at)
        .limit(size)
        .with_for_update(skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    )


MAX_ENGINE_ROUNDS = 10_000


def _advance(workflow: BpmnWorkflow) -> None:
    """Run the engine until only people, time or messages can move it.

    do_engine_steps() refreshes timers last, so a timer that fires there leaves READY tasks
    behind; keep going until none is left (a cycle timer overdue N times fires N times).
    """
    for _ in range(MAX_ENGINE_ROUNDS):
        workflow.do_engine_steps()
        if workflow.get_next_task(state=TaskState.READY, manual=False) is None:
            return
    raise RuntimeError("the engine did not settle: a model loops without waiting for anything")


def _status_after_step(workflow: BpmnWorkflow, has_human_tasks: bool) -> str:
    if workflow.is_completed():
        return InstanceStatus.COMPLETED
    if has_human_tasks:
        return InstanceStatus.AWAITING_PEOPLE
    if any(True for _ in waiting_events(workflow)):
        return InstanceStatus.WAITING
    return InstanceStatus.RUNNING


def _refusal(err: BaseException) -> InvalidData | None:
    """The InvalidData a service operation raised to refuse submitted data, if that caused `err`."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, InvalidData):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _model_failure(err: Exception, phase: str | None) -> ModelFailure:
    task = getattr(err, "task", None)
    spec = getattr(task, "task_spec", None) or getattr(err, "task_spec", None)
    notes = " ".join(getattr(err, "notes", []) or [])
    cause = _sandbox_cause(err)
    if cause is not None and str(cause) not in str(err):
        notes = f"{cause} {notes}"  # an expression's error names only the expression: say what stopped it
    line = getattr(err, "line_number", None)
    return ModelFailure(
        element_id=getattr(spec, "bpmn_id", None),
        message=f"{err} {notes}".strip(),
        line=line if isinstance(line, int) and line > 0 else None,
        code_line=getattr(err, "error_line", None) or None,
        process_id=task.workflow.spec.name if task is not None else None,
        task_guid=str(task.id) if task is not None else None,
        trace=list(getattr(err, "task_trace", []) or []),
    )


def _sandbox_cause(err: BaseException) -> BaseException | None:
    """The sandbox's refusal or limit behind a model error, however SpiffWorkflow wrapped it."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, ScriptLimitError | ScriptPolicyError):
            return current
        seen.add(id(current))
        wrapped = getattr(current, "exception", None)
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__ or current.__context__
    return None


def _phase(failure: ModelFailure) -> str:
    if "Pre-Script" in failure.message:
        return "prepare"
    if "Post-Script" in failure.message:
        return "complete"
    return "run"


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


def _wait_key(event: Waiting, business_key: str) -> tuple[str, str]:
    """(message name, correlation value): the business key when the model sets no correlation."""
    return str(event.details.name), _correlation_value(event.details.correlations) or business_key


def _correlation_value(correlations: Mapping[str, Any] | None) -> str | None:
    for properties in (correlations or {}).values():
        if isinstance(properties, Mapping):
            for value in properties.values():
                if value is not None:
                    return str(value)
    return None


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


def _check_message(name: str, correlation_value: str) -> None:
    if not name or not correlation_value:
        raise EngineError("A message needs a name and a correlation value.", code="invalid_message")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


# The engine's front: what one step is made of (engine.steps) is named through it as well.
__all__ = [
    "SYSTEM_ACTOR",
    "Actor",
    "AssignmentResolver",
    "DeployResult",
    "InstanceStatus",
    "PoolResolver",
    "ProcessEngine",
    "StepResult",
    "StepState",
]
