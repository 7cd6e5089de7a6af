"""Tasks over the API, for a person's token: the inbox lists, one task with its form, claim,
release and complete. The rules are the inbox's (tasks.inbox): a task on a case the person may not
see is not there for them at all."""

from __future__ import annotations

from flask import g
from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.access_log import Purpose
from engine.models import HumanTask, ProcessInstance
from tasks.inbox import Filters, TaskRow, inbox_for, may_see_task
from webui import riskflow
from webui.api import bp
from webui.api.callers import Caller
from webui.api.problems import ApiProblem
from webui.api.schemas import (
    StepOut,
    TaskActionOut,
    TaskCompletion,
    TaskDetail,
    TaskLists,
    TaskQuery,
    TaskSummary,
)
from webui.api.spec import operation
from webui.auth import SignedInStaff
from webui.reads import log_read

NOT_THERE = "That task is not there any more, or is not one you can work on."


@operation(bp, "GET", "/tasks", scope="tasks:read", tag="tasks", query=TaskQuery, response=TaskLists)
def list_tasks(caller: Caller, query: TaskQuery) -> TaskLists:
    """The caller's tasks and the tasks they may claim (and, for an SPO, their team's).

    Soonest due first, so overdue work comes first. Only for a person's token.
    """
    staff = caller.person()
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        pages = tuple((name, query.page) for name in ("mine", "claim", "team"))
        inbox = inbox_for(session, staff, shared.clock.now(), Filters(crn=query.crn, pages=pages))
    lists = {"mine": inbox.mine, "to_claim": inbox.to_claim, **({"team": inbox.team} if inbox.team else {})}
    return TaskLists(
        mine=[_summary(row) for row in inbox.mine.rows],
        to_claim=[_summary(row) for row in inbox.to_claim.rows],
        team=[_summary(row) for row in inbox.team.rows] if inbox.team is not None else None,
        totals={name: task_list.total for name, task_list in lists.items()},
        pages=max(task_list.pages for task_list in lists.values()),
    )


@operation(
    bp, "GET", "/tasks/<int:task_id>", scope="tasks:read", tag="tasks", response=TaskDetail, errors=(404,)
)
def get_task(caller: Caller, task_id: int) -> TaskDetail:
    """One task with the JSON Schema its data must satisfy, and any draft kept on it."""
    staff = caller.person()
    with riskflow().db.transaction() as session:
        row = _visible_task(session, staff, task_id)
        log_read(session, Purpose.API_TASK, [row.business_key])
        return task_detail(session, row, with_form=True)


@operation(
    bp,
    "POST",
    "/tasks/<int:task_id>/claim",
    scope="tasks:write",
    tag="tasks",
    response=TaskActionOut,
    errors=(404, 409),
)
def claim_task(caller: Caller, task_id: int) -> TaskActionOut:
    """Claim a task from the pool: 409 if someone else was quicker."""
    staff = caller.person()
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        _visible_task(session, staff, task_id)
    shared.engine.claim(task_id, staff.actor)
    return TaskActionOut(id=task_id, claimed_by=staff.username)


@operation(
    bp,
    "POST",
    "/tasks/<int:task_id>/release",
    scope="tasks:write",
    tag="tasks",
    response=TaskActionOut,
    errors=(404, 409),
)
def release_task(caller: Caller, task_id: int) -> TaskActionOut:
    """Give a task the caller claimed back to its pool."""
    staff = caller.person()
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        _visible_task(session, staff, task_id)
    shared.engine.release(task_id, staff.actor)
    return TaskActionOut(id=task_id, claimed_by=None)


@operation(
    bp,
    "POST",
    "/tasks/<int:task_id>/complete",
    scope="tasks:write",
    tag="tasks",
    body=TaskCompletion,
    response=StepOut,
    errors=(404, 409),
)
def complete_task(caller: Caller, task_id: int, body: TaskCompletion) -> StepOut:
    """Complete a task with its data, checked against the task's form schema.

    A field that is wrong gives 422 with the same messages the web form shows, and nothing changes.
    """
    staff = caller.person()
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        _visible_task(session, staff, task_id)
    result = shared.engine.complete_task(task_id, staff.actor, body.data)
    return StepOut(instance_id=result.instance_id, status=result.status, task_ids=result.ready_task_ids)


def _visible_task(session: Session, staff: SignedInStaff, task_id: int) -> HumanTask:
    row = session.get(HumanTask, task_id)
    if row is None or not may_see_task(session, staff, task_id):
        raise ApiProblem(404, "not_found", NOT_THERE)
    g.api_crn = row.business_key
    return row


def task_detail(session: Session, row: HumanTask, *, with_form: bool) -> TaskDetail:
    """The API's view of a task row (with its form schema when asked)."""
    schema = None
    if with_form and row.form_file:
        definition_id = session.scalar(
            select(ProcessInstance.definition_id).where(ProcessInstance.id == row.instance_id)
        )
        if definition_id is not None:
            schema = riskflow().engine.form_schema(session, definition_id, row.form_file)
    return TaskDetail(
        id=row.id,
        title=row.title,
        element_id=row.element_id,
        crn=row.business_key,
        instance_id=row.instance_id,
        state=row.state,
        candidate_role=row.candidate_role,
        assignee=row.assignee,
        claimed_by=row.claimed_by,
        due_at=row.due_at,
        created_at=row.created_at,
        form_schema=schema,
        draft=row.draft,
    )


def _summary(row: TaskRow) -> TaskSummary:
    return TaskSummary(
        id=row.id,
        title=row.title,
        crn=row.crn,
        name=row.name,
        owner=row.owner,
        due_at=row.due_at,
        due=row.due,  # type: ignore[arg-type]  # due_status gives one of the three
        rosh=row.rosh,
        claimed_by_me=row.claimed_by_me,
        holder=row.holder,
    )
