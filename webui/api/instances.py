"""Process instances and definitions over the API: list and read them, and the manager's repairs
(retry or skip a failed step, suspend, resume, reassign a case's open tasks), each with a reason
that goes on the case timeline."""

from __future__ import annotations

from collections.abc import Callable

from flask import g
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from casework.access import may_view
from casework.access_log import Purpose
from casework.models import AccessLimitation, Case, Staff
from casework.roles import Role
from engine.models import HumanTask, ProcessDefinition, ProcessInstance
from engine.runtime import Actor
from tasks.assignment import move_open_tasks
from webui import riskflow
from webui.api import bp
from webui.api.access import case_decision, require_case, require_manager
from webui.api.callers import Caller
from webui.api.problems import ApiProblem
from webui.api.schemas import (
    DefinitionList,
    DefinitionOut,
    InstanceDetail,
    InstanceList,
    InstanceOut,
    InstanceQuery,
    Reason,
    Reassignment,
    ReassignOut,
)
from webui.api.spec import operation
from webui.api.tasks import task_detail
from webui.reads import log_read

MANAGE_ERRORS = (404, 409)


@operation(
    bp,
    "GET",
    "/instances",
    scope="instances:read",
    tag="instances",
    query=InstanceQuery,
    response=InstanceList,
)
def list_instances(caller: Caller, query: InstanceQuery) -> InstanceList:
    """List process instances on cases the caller may see, newest first."""
    statement = (
        select(ProcessInstance, Case)
        .outerjoin(Case, Case.crn == ProcessInstance.business_key)
        .options(
            joinedload(Case.owner),
            joinedload(Case.team),
            joinedload(Case.access_limitation).selectinload(AccessLimitation.entries),
        )
        .order_by(ProcessInstance.id.desc())
    )
    if query.status is not None:
        statement = statement.where(ProcessInstance.status == query.status)
    if query.crn is not None:
        statement = statement.where(ProcessInstance.business_key == query.crn)
    with riskflow().db.transaction() as session:
        visible = [
            instance for instance, case in session.execute(statement) if _may_see(session, caller, case)
        ]
        page = visible[query.offset : query.offset + query.limit]
        log_read(session, Purpose.API_INSTANCE_LIST, [instance.business_key for instance in page])
        return InstanceList(instances=[instance_out(instance) for instance in page])


@operation(
    bp,
    "GET",
    "/instances/<int:instance_id>",
    scope="instances:read",
    tag="instances",
    response=InstanceDetail,
    errors=(404,),
)
def get_instance(caller: Caller, instance_id: int) -> InstanceDetail:
    """Read one instance, with its open tasks."""
    with riskflow().db.transaction() as session:
        instance = _visible_instance(session, caller, instance_id)
        log_read(session, Purpose.API_INSTANCE, [instance.business_key])
        open_tasks = session.scalars(
            select(HumanTask)
            .where(HumanTask.instance_id == instance.id, HumanTask.state == "open")
            .order_by(HumanTask.id)
        )
        return InstanceDetail(
            **instance_out(instance).model_dump(),
            open_tasks=[task_detail(session, row, with_form=False) for row in open_tasks],
        )


def _manage(caller: Caller, instance_id: int, act: Callable[[int, Actor], object]) -> InstanceOut:
    require_manager(caller)
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        _visible_instance(session, caller, instance_id)
    act(instance_id, caller.actor)
    with shared.db.transaction(write=False) as session:
        instance = session.get(ProcessInstance, instance_id)
        if instance is None:
            raise ApiProblem(404, "not_found", f"Instance {instance_id} is not there any more.")
        return instance_out(instance)


def _manage_operation(action: str, summary: str) -> None:
    """Declare POST /instances/<id>/<action>, calling the engine's method of that name with a reason."""

    def view(caller: Caller, instance_id: int, body: Reason) -> InstanceOut:
        engine = riskflow().engine
        method = getattr(engine, action)
        return _manage(caller, instance_id, lambda i, actor: method(i, actor, reason=body.reason))

    view.__name__ = f"{action}_instance"
    view.__doc__ = summary
    operation(
        bp,
        "POST",
        f"/instances/<int:instance_id>/{action}",
        scope="instances:manage",
        tag="instances",
        body=Reason,
        response=InstanceOut,
        errors=MANAGE_ERRORS,
    )(view)


_manage_operation(
    "retry", "Run an instance's failed step again (after the model or data is fixed).\n\nManagers only."
)
_manage_operation("skip", "Mark an instance's failed step done without running it.\n\nManagers only.")
_manage_operation(
    "suspend", "Stop an instance moving (its timers and messages wait) until resumed.\n\nManagers only."
)
_manage_operation("resume", "Let a suspended instance move again.\n\nManagers only.")


@operation(
    bp,
    "POST",
    "/instances/<int:instance_id>/reassign",
    scope="instances:manage",
    tag="instances",
    body=Reassignment,
    response=ReassignOut,
    errors=(404, 409),
)
def reassign_instance_tasks(caller: Caller, instance_id: int, body: Reassignment) -> ReassignOut:
    """Give the case's open tasks held by one person to another, or back to their pool.

    Managers only. The new holder must be someone who may see the case.
    """
    require_manager(caller)
    shared = riskflow()
    with shared.db.transaction() as session:
        instance = _visible_instance(session, caller, instance_id)
        case = session.scalar(select(Case).where(Case.crn == instance.business_key))
        if body.to_username is not None:
            target = session.scalar(
                select(Staff).where(Staff.username == body.to_username, Staff.active.is_(True))
            )
            if target is None:
                raise ApiProblem(
                    404, "unknown_staff", f"There is no active member of staff called {body.to_username}."
                )
            if case is not None and not may_view(target, case):
                raise ApiProblem(
                    422,
                    "no_need_to_know",
                    f"{target.display_name} may not see case {case.crn}, so cannot hold its tasks.",
                )
        moved = move_open_tasks(
            session,
            instance.business_key,
            {body.from_username: body.to_username},
            actor=caller.who,
            at=shared.clock.now(),
            reason=body.reason,
        )
    return ReassignOut(moved=moved)


@operation(bp, "GET", "/definitions", scope="instances:read", tag="definitions", response=DefinitionList)
def list_definitions(caller: Caller) -> DefinitionList:
    """Every deployed definition version, by name then newest first."""
    with riskflow().db.transaction(write=False) as session:
        rows = session.scalars(
            select(ProcessDefinition).order_by(ProcessDefinition.name, ProcessDefinition.version.desc())
        )
        return DefinitionList(definitions=[_definition_out(row) for row in rows])


@operation(
    bp,
    "GET",
    "/definitions/<int:definition_id>",
    scope="instances:read",
    tag="definitions",
    response=DefinitionOut,
    errors=(404,),
)
def get_definition(caller: Caller, definition_id: int) -> DefinitionOut:
    """Read one deployed definition version."""
    with riskflow().db.transaction(write=False) as session:
        row = session.get(ProcessDefinition, definition_id)
        if row is None:
            raise ApiProblem(404, "not_found", f"There is no deployed definition {definition_id}.")
        return _definition_out(row)


def _may_see(session: Session, caller: Caller, case: Case | None) -> bool:
    """An instance on a case: whoever may see the case; one on no case: an ACO only."""
    if case is None:
        staff = caller.staff
        return staff is not None and Role.ASSISTANT_CHIEF_OFFICER.value in staff.roles
    return bool(case_decision(session, caller, case))


def _visible_instance(session: Session, caller: Caller, instance_id: int) -> ProcessInstance:
    # An instance on a case the caller may not know of answers as one that is not there.
    not_there = ApiProblem(404, "not_found", f"There is no instance {instance_id}.")
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise not_there
    g.api_crn = instance.business_key
    case = session.scalar(
        select(Case)
        .where(Case.crn == instance.business_key)
        .options(selectinload(Case.access_limitation).selectinload(AccessLimitation.entries))
    )
    if case is None:
        if not _may_see(session, caller, None):
            raise not_there
        return instance
    require_case(session, caller, case, hidden_as=not_there)
    return instance


def instance_out(instance: ProcessInstance) -> InstanceOut:
    """The API's view of an instance."""
    return InstanceOut(
        id=instance.id,
        process_id=instance.process_id,
        definition_id=instance.definition_id,
        business_key=instance.business_key,
        status=instance.status,
        error=instance.error,
        started_by=instance.started_by,
        created_at=instance.created_at,
        updated_at=instance.updated_at,
        ended_at=instance.ended_at,
        next_timer_at=instance.next_timer_at,
    )


def _definition_out(row: ProcessDefinition) -> DefinitionOut:
    return DefinitionOut(
        id=row.id,
        name=row.name,
        version=row.version,
        process_ids=list(row.process_ids),
        deployed_at=row.deployed_at,
        deployed_by=row.deployed_by,
        note=row.note,
    )
