"""Putting running work right: every repair is recorded on the audit trail with who, when and why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from engine.errors import Conflict, EngineError, NotFound
from engine.humantasks import give_task
from engine.models import HumanTask
from engine.monitoring.base import scoped


def require_reason(reason: str) -> str:
    """The reason, trimmed; an empty one is refused (every repair is recorded with its reason)."""
    text = reason.strip()
    if not text:
        raise EngineError("Give a reason: it is recorded on the case timeline.", code="reason_required")
    return text


def reassign_task(
    session: Session,
    task_id: int,
    to: str | None,
    *,
    actor: str,
    at: datetime,
    reason: str,
    check: Callable[[HumanTask], None] | None = None,
) -> HumanTask:
    """Give one open task to `to` (None: back to its role's pool), audited with the reason. `check`
    (given a person) refuses a task that person may not take, by raising: nothing moves."""
    reason = require_reason(reason)
    task = session.scalar(select(HumanTask).where(HumanTask.id == task_id).with_for_update())
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    if task.state != "open":
        raise Conflict("This task is no longer open: it was completed or withdrawn.", code="task_not_ready")
    old = task.claimed_by or task.assignee
    if old == to:
        raise Conflict("The task is already with that person.", code="no_change")
    if check is not None and to is not None:
        check(task)
    give_task(session, task, old, to, actor=actor, at=at, reason=reason)
    return task


def reassign_all_tasks(
    session: Session,
    holder: str,
    to: str | None,
    *,
    actor: str,
    at: datetime,
    reason: str,
    keys: Select[Any] | None = None,
    check: Callable[[HumanTask], None] | None = None,
) -> list[HumanTask]:
    """Give every open task `holder` has (assigned or claimed) to `to`, or back to the pool.

    Only tasks on the business keys in `keys` move (None: all). Each move is audited with the reason.
    `check` (given a person) is run on every task first: if it refuses one, by raising, none moves.
    """
    reason = require_reason(reason)
    if holder == to:
        raise EngineError("Choose someone else to take the tasks.", code="same_person")
    query = select(HumanTask).where(
        HumanTask.state == "open", or_(HumanTask.assignee == holder, HumanTask.claimed_by == holder)
    )
    tasks = list(session.scalars(scoped(query, HumanTask, keys, None).order_by(HumanTask.id)))
    if check is not None and to is not None:
        for task in tasks:
            check(task)
    for task in tasks:
        give_task(session, task, holder, to, actor=actor, at=at, reason=reason, bulk=True)
    return tasks
