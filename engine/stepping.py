"""One step of an instance, in the caller's transaction: act, run the engine, archive, sync, persist.

Every step (start, complete a task, a timer, a message, a retry, a migration) goes through
`Stepper.run` with the instance row locked: the action moves the workflow, SpiffWorkflow runs it
until only people, time or messages can move it (handing it any kept messages it now waits for),
finished sub-processes are archived, then the human-task rows, the message waits and the outbox
are synced, audit events appended, the version bumped and the state saved. Nothing here commits:
the caller's `Database.transaction` does, so any exception rolls the whole step back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.none_task import NoneTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.db import Database, after_commit, retried_when_deadlocked
from engine.definitions import Definitions
from engine.errors import Conflict, InvalidData, ModelFailure, NotFound, NotPermitted
from engine.events import waiting_events
from engine.humantasks import HumanTaskSync, TaskPolicy
from engine.messaging import jsonable, send_message, wait_key
from engine.models import ArchivedSubprocess, InboundMessage, MessageWait, OutboxMessage, ProcessInstance
from engine.sandbox import ScriptLimitError, ScriptPolicyError
from engine.scripting import SandboxedScriptEngine, StepContext, step_context
from engine.state import KeptWorkflows, StateSerializer, archive_finished_subprocesses
from engine.steps import Actor, AssignmentResolver, InstanceStatus, StepState
from engine.timers import next_timer_due, use_clock

MAX_ENGINE_ROUNDS = 10_000


@dataclass
class StepResult:
    """What a step left behind, for the caller to show."""

    instance_id: int
    status: str
    error: dict[str, Any] | None
    ready_task_ids: list[int]


StepAction = Callable[[BpmnWorkflow, StepState], None]
# Called by name at the end of every step, in the step's transaction, once the step's rows are written.
StepHook = Callable[[Session, ProcessInstance], None]


class Stepper:
    """Starts instances and runs every step; loads and saves the workflow state it steps."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        definitions: Definitions,
        *,
        serializer: StateSerializer,
        kept: KeptWorkflows,
        script_engine: SandboxedScriptEngine,
        policy: TaskPolicy,
        resolver: AssignmentResolver,
        on_step: Sequence[StepHook] = (),
    ) -> None:
        self.db = db
        self.clock = clock
        self.definitions = definitions
        self.serializer = serializer
        self.kept = kept
        self.script_engine = script_engine
        self.policy = policy
        self.resolver = resolver
        self.on_step = tuple(on_step)

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
                definition_id = self.definitions.latest_definition(session, process_id).id
            specs = self.definitions.process_specs(session, definition_id, process_id)
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

            return self.run(workflow, state, begin)

    def run(self, workflow: BpmnWorkflow, state: StepState, action: StepAction) -> StepResult:
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

    def load(self, session: Session, instance: ProcessInstance, *, step: bool = False) -> BpmnWorkflow:
        """The instance's workflow as its state row has it; for a `step`, the kept one if it is that."""
        if step:
            kept = self.kept.take(instance.id, instance.state)
            if kept is not None:
                return kept
        specs = self.definitions.process_specs(session, instance.definition_id, instance.process_id)
        workflow = self.serializer.loads(instance.state, specs)
        workflow.script_engine = self.script_engine  # not serialized: re-attach every time
        return workflow

    def _persist(self, workflow: BpmnWorkflow, state: StepState) -> StepResult:
        session, instance = state.session, state.instance
        sync = HumanTaskSync(session, self.policy, self.resolver, state)
        loaded = self.definitions.loaded(session, instance.definition_id)
        ready_ids: list[int] = []
        try:
            if sync.needed(workflow):
                with session.begin_nested():  # a bad due-date property undoes only the task rows
                    ready_ids = sync.run(workflow, loaded.lanes, loaded.timescales)
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
        if self.on_step:
            session.flush()
            for hook in self.on_step:
                hook(session, instance)
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
        return {wait_key(e, instance.business_key) for e in waiting_events(workflow) if e.is_message}

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
                    payload=jsonable(payload),
                    created_at=now,
                )
            )

    def _deliver_stored_messages(self, workflow: BpmnWorkflow, state: StepState) -> None:
        """Hand the workflow any kept messages it now waits for (they may arrive before the wait)."""
        for _ in range(MAX_ENGINE_ROUNDS):
            waits = {
                wait_key(event, state.instance.business_key)
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


def lock_instance(session: Session, instance_id: int) -> ProcessInstance:
    """The instance row, locked for this transaction (as every step locks it first)."""
    instance = session.scalar(
        select(ProcessInstance)
        .where(ProcessInstance.id == instance_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist")
    return instance


def _advance(workflow: BpmnWorkflow) -> None:
    """Run the engine until only people, time or messages can move it.

    do_engine_steps() refreshes timers last, so a timer that fires there leaves READY tasks
    behind; keep going until none is left (a cycle timer overdue N times fires N times).
    """
    plain = has_plain_tasks(workflow)
    for _ in range(MAX_ENGINE_ROUNDS):
        workflow.do_engine_steps()
        if plain and _pass_plain_tasks(workflow):
            continue
        if workflow.get_next_task(state=TaskState.READY, manual=False) is None:
            return
    raise RuntimeError("the engine did not settle: a model loops without waiting for anything")


def has_plain_tasks(workflow: BpmnWorkflow) -> bool:
    """Whether any process the workflow may run has a plain (untyped) task: most have none, and
    then no step pays for looking."""
    specs = [workflow.spec, *workflow.subprocess_specs.values()]
    return any(isinstance(t, NoneTask) for spec in specs for t in spec.task_specs.values())


def _pass_plain_tasks(workflow: BpmnWorkflow) -> bool:
    """Run the READY plain tasks, as Camunda and the BPMN standard's "abstract task" have it: a task
    with no type is nobody's work and does nothing, so the instance passes through it. SpiffWorkflow
    would leave it READY as a manual task that no one could complete."""
    plain = [t for t in workflow.get_tasks(state=TaskState.READY) if isinstance(t.task_spec, NoneTask)]
    for task in plain:
        task.run()
    return bool(plain)


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
