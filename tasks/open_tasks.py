"""Open tasks as the screens list them: one row type for the case record, the task page's case
panel and the monitor's task list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import Case
from engine.models import HumanTask
from tasks.due_dates import due_status
from tasks.staff_names import staff_names


@dataclass(frozen=True)
class OpenTask:
    """A task still to do on a case, who holds it and when it is due."""

    id: int
    instance_id: int
    title: str
    crn: str
    name: str  # the person on probation, as the register names them
    holder: str | None  # the username of whoever claimed it, else its assignee; None: the role's pool
    holder_name: str | None  # the holder as staff know them; None when nobody holds it
    candidate_role: str | None
    due_at: datetime | None
    due: str  # tasks.due_dates.due_status: "overdue", "due soon" or ""
    due_standard: str | None = None  # the standard the due date keeps, in words; None: the step's own time

    @property
    def overdue(self) -> bool:
        """Whether the task is past its due time."""
        return self.due == "overdue"


def open_task(task: HumanTask, case: Case, now: datetime, names: Mapping[str, str]) -> OpenTask:
    """The row for one open task on `case`, its holder named from `names` (username to name)."""
    holder = task.claimed_by or task.assignee
    return OpenTask(
        id=task.id,
        instance_id=task.instance_id,
        title=task.title,
        crn=case.crn,
        name=case.name,
        holder=holder,
        holder_name=names.get(holder, holder) if holder else None,
        candidate_role=task.candidate_role,
        due_at=task.due_at,
        due=due_status(task.due_at, now),
        due_standard=task.due_standard,
    )


def open_tasks_on_case(
    session: Session, case: Case, now: datetime, *, besides: int | None = None
) -> list[OpenTask]:
    """The case's open tasks (all but task `besides`, if given), soonest due first, undated last."""
    query = (
        select(HumanTask)
        .where(HumanTask.business_key == case.crn, HumanTask.state == "open")
        .order_by(HumanTask.due_at.asc().nulls_last(), HumanTask.id)
    )
    if besides is not None:
        query = query.where(HumanTask.id != besides)
    rows = session.scalars(query).all()
    names = staff_names(session, (r.claimed_by or r.assignee for r in rows))
    return [open_task(r, case, now, names) for r in rows]
