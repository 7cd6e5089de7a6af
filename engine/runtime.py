"""The process engine: deploy definitions, start instances, and run every step in one transaction.

`ProcessEngine` is the front the rest of the code uses; each of its parts is a module of its own:

- `engine.definitions`: checking and deploying bundles; each version's specs, forms and elements.
- `engine.stepping`: starting an instance and the body of every step (act, run, sync, persist).
- `engine.task_actions`: claim, release, draft and complete a human task.
- `engine.timer_sweep`: firing due timers in claimed batches.
- `engine.deliveries`: inbound messages (delivered or kept) and the outbox.
- `engine.administration`: retry, skip, suspend, resume, terminate and migrate instances.

A step locks the instance row, loads the workflow onto its cached spec, acts (complete a task,
fire timers, deliver a message, retry), runs the engine until only people or time can move it,
then syncs the human-task rows, the next timer, the message waits and the outbox, appends audit
events, bumps the version and commits. Any exception rolls all of it back.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.administration import Administration, MigrationResult
from engine.bundle import Bundle, ParsedBundle
from engine.clock import Clock, SystemClock, WorkingCalendar
from engine.db import Database
from engine.definitions import Definitions, DeployHook, DeployResult, ElementDetails
from engine.deliveries import MessageDeliveries
from engine.humantasks import TaskPolicy
from engine.messaging import Delivery, OutboxHandlers
from engine.models import ProcessDefinition
from engine.scripting import SandboxedEnvironment, SandboxedScriptEngine, ServiceRegistry, standard_functions
from engine.state import KeptWorkflows, StateSerializer
from engine.stepping import StepHook, Stepper, StepResult
from engine.steps import (
    SYSTEM_ACTOR,
    Actor,
    AssignmentResolver,
    InstanceStatus,
    PoolResolver,
    StepState,
)
from engine.task_actions import TaskActions
from engine.timer_sweep import TIMER_CLAIM_BATCH, TimerSweep, due_claim_query

# Workflows kept in memory between steps (engine.state.KeptWorkflows): about 300 KB each, so the
# default costs at most about 75 MiB.
KEPT_WORKFLOWS = 256


class ProcessEngine:
    """The generic BPMN runtime; the domain plugs in through its registries, resolver and hooks
    (`on_deploy`: called by name in each new version's deploy transaction; `on_step`: at the end of
    every step, in its transaction, once the step's rows are written)."""

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
        on_deploy: Sequence[DeployHook] = (),
        on_step: Sequence[StepHook] = (),
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
        self.policy = TaskPolicy(self.calendar, self.script_engine)
        self.definitions = Definitions(
            db,
            self.clock,
            self.serializer,
            known_roles=self.known_roles,
            services=self.services,
            on_deploy=on_deploy,
        )
        self.stepper = Stepper(
            db,
            self.clock,
            self.definitions,
            serializer=self.serializer,
            kept=self.kept,
            script_engine=self.script_engine,
            policy=self.policy,
            resolver=self.resolver,
            on_step=on_step,
        )
        self.task_actions = TaskActions(
            db, self.clock, self.definitions, self.stepper, self.policy, services=self.services
        )
        self.timers = TimerSweep(db, self.clock, self.stepper)
        self.deliveries = MessageDeliveries(db, self.clock, self.stepper)
        self.administration = Administration(db, self.clock, self.definitions, self.stepper, self.serializer)

    # ----------------------------------------------------------------- definitions

    def check(self, bundle: Bundle) -> ParsedBundle:
        """Parse and check a bundle without deploying it (raises DefinitionError on errors)."""
        return self.definitions.check(bundle)

    def deploy(self, bundle: Bundle, *, actor: str, note: str = "") -> DeployResult:
        """Deploy a bundle: the same content keeps its version, new content becomes version N+1."""
        return self.definitions.deploy(bundle, actor=actor, note=note)

    def latest_definition(self, session: Session, process_id: str) -> ProcessDefinition:
        """The newest deployed definition that contains `process_id`."""
        return self.definitions.latest_definition(session, process_id)

    def form_schema(self, session: Session, definition_id: int, form_file: str) -> dict[str, Any]:
        """The JSON Schema of a task's form, from the definition version the instance runs."""
        return self.definitions.form_schema(session, definition_id, form_file)

    def task_form(self, session: Session, task_id: int, actor: Actor) -> dict[str, Any] | None:
        """A task's form as its page draws it now, with the choices its sources offer (None: no form)."""
        return self.task_actions.form(session, task_id, actor)

    def element_details(
        self, session: Session, definition_id: int, process_id: str, element_id: str
    ) -> ElementDetails:
        """The documentation, properties and instructions of an element, from the deployed version."""
        return self.definitions.element_details(session, definition_id, process_id, element_id)

    # ------------------------------------------------------------- instances and tasks

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
        return self.stepper.start(
            process_id, business_key=business_key, data=data, actor=actor, definition_id=definition_id
        )

    def complete_task(self, task_id: int, actor: Actor, data: Mapping[str, Any]) -> StepResult:
        """Complete a human task with submitted data, validated against its form on the server."""
        return self.task_actions.complete(task_id, actor, data)

    def claim(self, task_id: int, actor: Actor) -> None:
        """Take an open task for yourself; a task someone else holds raises Conflict."""
        self.task_actions.claim(task_id, actor)

    def release(self, task_id: int, actor: Actor) -> None:
        """Give a claimed task back to its pool."""
        self.task_actions.release(task_id, actor)

    def save_draft(self, task_id: int, actor: Actor, data: Mapping[str, Any]) -> None:
        """Keep unfinished form data on the task (not validated, not completed)."""
        self.task_actions.save_draft(task_id, actor, data)

    def task_data(self, task_id: int) -> dict[str, Any]:
        """The data an open human task sees (read-only; for its instructions and its page)."""
        return self.task_actions.task_data(task_id)

    def instance_data(self, instance_id: int) -> dict[str, Any]:
        """The process data where the instance stands now (read-only; for display and checks)."""
        return self.administration.instance_data(instance_id)

    # ------------------------------------------------------------ a manager's actions

    def retry(self, instance_id: int, actor: Actor, *, reason: str) -> StepResult:
        """Run the failed step of an errored instance again (after the model or data is fixed)."""
        return self.administration.retry(instance_id, actor, reason=reason)

    def skip(self, instance_id: int, actor: Actor, *, reason: str) -> StepResult:
        """Mark the failed step done without running it, and carry on."""
        return self.administration.skip(instance_id, actor, reason=reason)

    def suspend(self, instance_id: int, actor: Actor, *, reason: str) -> None:
        """Stop an instance moving (timers and messages wait) until it is resumed."""
        self.administration.suspend(instance_id, actor, reason=reason)

    def resume(self, instance_id: int, actor: Actor, *, reason: str) -> None:
        """Let a suspended instance move again, in the state it was suspended from."""
        self.administration.resume(instance_id, actor, reason=reason)

    def terminate(self, instance_id: int, actor: Actor, *, reason: str) -> None:
        """End an instance for good: its open tasks are cancelled and nothing more runs."""
        self.administration.terminate(instance_id, actor, reason=reason)

    def check_migration(
        self, instance_ids: Collection[int], target_definition_id: int
    ) -> list[MigrationResult]:
        """The dry run: for each instance, whether it can move to the target version and why (not)."""
        return self.administration.check_migration(instance_ids, target_definition_id)

    def migrate(
        self, instance_ids: Collection[int], target_definition_id: int, actor: Actor, *, note: str
    ) -> list[MigrationResult]:
        """Move each instance that can move to the target version, each in its own step, audited
        with `note`; the others stay exactly where they are, and the result says why."""
        return self.administration.migrate(instance_ids, target_definition_id, actor, note=note)

    # -------------------------------------------------------------- time and messages

    def fire_due_timers(self, *, limit: int | None = None, batch: int = TIMER_CLAIM_BATCH) -> int:
        """Step every instance whose next timer is due now; return how many steps were taken
        (engine.timer_sweep says how the sweep claims and commits in batches)."""
        return self.timers.fire_due_timers(limit=limit, batch=batch)

    def next_timer_at(self) -> datetime | None:
        """When the earliest waiting timer of any instance is due (for the worker's sleep)."""
        return self.timers.next_timer_at()

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
        return self.deliveries.deliver_message(
            name, correlation_value, payload, idempotency_key=idempotency_key, sender=sender
        )

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
        return self.deliveries.deliver_message_within(
            session, name, correlation_value, payload, sender=sender
        )

    def deliver_outbox(self, handlers: OutboxHandlers, *, limit: int = 100) -> int:
        """Hand committed outbox messages to their handlers; a failure stays queued for retry."""
        return self.deliveries.deliver_outbox(handlers, limit=limit)


# The engine's front: what one step is made of (engine.steps) and what its parts return are named
# through it as well.
__all__ = [
    "KEPT_WORKFLOWS",
    "SYSTEM_ACTOR",
    "TIMER_CLAIM_BATCH",
    "Actor",
    "AssignmentResolver",
    "DeployHook",
    "DeployResult",
    "ElementDetails",
    "InstanceStatus",
    "MigrationResult",
    "PoolResolver",
    "ProcessEngine",
    "StepResult",
    "StepState",
    "due_claim_query",
]
