"""Reallocation when the owner no longer fits the case (policy 7): a rise in risk that the owner's grade
is not allowed to hold (a PSO's case becoming High RoSH) asks the SPO of the case's team to reallocate it.

Whatever records the change (OASys, an oversight review, the risk meeting, the MAPPA coordinator, a
change reported on the case record or through the API) is watched with `owner_watched`: when the owner
fitted the case before the change and the grade rules (decision table `owner_grade`, read through
tasks.ownership) no longer allow them after it, the case is told with the message
`reallocation_needed`, in the same transaction as the change. The model's cycle `reallocations` checks
the owner again when it hears it (a message kept from before the case was under management may be
out of date by then), opens "Reallocate the case" for the SPO, and moves the case and the old owner's
open tasks to the officer chosen from the team's eligible list.

A member of staff who leaves, or is away longer than the long-absence threshold
(LONG_ABSENCE_DAYS, shown on the staff pages), makes each open case they own ask the same way
(tasks.staff_admin): the check then finds the owner not there to hold the case.

Until the SPO has done it, the case is on the monitor's list of cases that need reallocation
(`needs_reallocation`): the open reallocation tasks of the cases the manager watches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from casework import register
from casework.case_list import visible_to
from casework.models import Case, Staff, StaffAbsence
from casework.staff_record import not_there_to_hold
from engine.clock import area_date
from engine.models import HumanTask
from tasks.due_dates import due_status
from tasks.ownership import why_not_owner
from tasks.staff_names import display_names

REALLOCATION_NEEDED = "reallocation_needed"
REALLOCATE_STEP = "choose_new_owner"  # the model's user task: its open rows are the lens
LIST_LIMIT = 100
# An absence longer than this many days (4 weeks) asks the SPO to reallocate each case the person owns;
# a shorter one is covered in the team (out of office) and the cases stay theirs.
LONG_ABSENCE_DAYS = 28

Tell = Callable[[Mapping[str, Any]], object]


def owner_problem_now(session: Session, case: Case, on: date | None = None) -> str | None:
    """Why the case's owner may no longer own it, by the grade rules in force and, given the day `on`,
    by their staff record (left, leaving, a long absence not yet ended); None if they may, or if the
    case has no owner or is closed (nothing to reallocate)."""
    if case.owner is None or case.closed_at is not None:
        return None
    if on is not None:
        away = not_there_to_hold(case.owner, absences_of(session, case.owner), on, LONG_ABSENCE_DAYS)
        if away is not None:
            return away
    return why_not_owner(session, case.owner, case)


def absences_of(session: Session, staff: Staff) -> list[StaffAbsence]:
    """Every absence recorded for `staff`, latest first."""
    return list(
        session.scalars(
            select(StaffAbsence)
            .where(StaffAbsence.staff_id == staff.id)
            .order_by(StaffAbsence.starts_on.desc(), StaffAbsence.id.desc())
        )
    )


@contextmanager
def owner_watched(session: Session, crn: str, tell: Tell, *, change: str) -> Iterator[None]:
    """Run the block that changes the case's risk; if the owner fitted the case before it and does not
    after, `tell` the case (`reallocation_needed`, with the owner, why and what changed).

    Only the change that makes the owner unfit tells: a further rise (High to Very High) of a case
    already waiting for reallocation does not ask twice."""
    case = register.find_case(session, crn)
    fitted = case.owner is not None and owner_problem_now(session, case) is None
    yield
    if not fitted:
        return
    session.flush()
    problem = owner_problem_now(session, case)
    if problem is None or case.owner is None:
        return
    tell({"crn": crn, "owner": case.owner.username, "reason": problem, "change": change})


@dataclass(frozen=True)
class NeedsReallocation:
    """A case whose owner no longer fits it, as the monitor lists it."""

    crn: str
    name: str
    owner: str
    team: str
    why: str
    task_id: int
    due_at: datetime | None
    held_by: str
    overdue: bool


def needs_reallocation(
    session: Session, viewer: Staff, team_id: int | None, now: datetime, *, limit: int = LIST_LIMIT
) -> tuple[int, list[NeedsReallocation]]:
    """How many watched cases (the area, or team `team_id`) the viewer (a Staff) may see have a
    reallocation open, and the first `limit` of them, soonest due first, each with why now."""
    base = (
        select(HumanTask, Case)
        .join(Case, Case.crn == HumanTask.business_key)
        .where(
            HumanTask.state == "open",
            HumanTask.element_id == REALLOCATE_STEP,
            Case.closed_at.is_(None),
            visible_to(session, viewer),
        )
    )
    if team_id is not None:
        base = base.where(Case.team_id == team_id)
    total = int(session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    rows = session.execute(
        base.options(joinedload(Case.owner), joinedload(Case.team))
        .order_by(HumanTask.due_at.asc().nulls_last(), HumanTask.id)
        .limit(limit)
    ).all()
    names = display_names(
        session, [t.claimed_by or t.assignee for t, _ in rows if t.claimed_by or t.assignee]
    )
    found = []
    for task, record in rows:
        holder = task.claimed_by or task.assignee
        found.append(
            NeedsReallocation(
                crn=record.crn,
                name=record.name,
                owner=record.owner.display_name if record.owner else "Unallocated",
                team=record.team.name if record.team else "",
                why=owner_problem_now(session, record, area_date(now))
                or "The owner now fits the case: reallocation may close.",
                task_id=task.id,
                due_at=task.due_at,
                held_by=names.get(holder, holder) if holder else "the SPO pool",
                overdue=due_status(task.due_at, now) == "overdue",
            )
        )
    return total, found
