"""The inbox: "My tasks", "To claim" and (for SPOs) "My team's tasks", with filters and pages.

Each list is one query over engine.models.HumanTask joined to the register's case (for the name,
RoSH and registrations), with the case's owner, team and access lists loaded alongside so that
casework.access.may_view (the one place that decides need-to-know) can drop every task on a case
the person may not see. The critical-few rule (casework.critical_few) marks each row. Rows come
overdue first, then the critical few, then by due date. No workflow is loaded to draw the inbox.
The HTML inbox (webui.inbox) and the JSON API (webui.api.tasks) both read it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from casework.access import may_view
from casework.critical_few import RiskProfile, critical_reasons, table_in_force
from casework.models import AccessLimitation, Case, Staff, Team
from casework.roles import Role
from casework.vocabulary import RoshLevel
from engine.models import HumanTask, pool_role
from tasks.due_dates import due_status, due_this_week
from tasks.person import Person
from tasks.staff_names import staff_names

CRN_LENGTH = 7
PAGE_SIZE = 20
LIST_LIMIT = 2000  # rows read per list before need-to-know and paging: far more than anyone's open work
# Roles whose pool work spans the area; every other role's pool is its own team's cases.
AREA_ROLES = frozenset(
    {Role.ASSISTANT_CHIEF_OFFICER.value, Role.RISK_CONSULTANT.value, Role.MAPPA_COORDINATOR.value}
)
DUE_FILTERS = {"overdue": "Overdue", "week": "Due by the end of this week"}
LISTS = ("mine", "claim", "team")


@dataclass(frozen=True)
class TaskRow:
    """One task as the inbox shows it."""

    id: int
    title: str
    element_id: str
    crn: str
    name: str | None  # None when the register has no name for the person yet
    owner: str  # the case's Offender Manager, or "Unallocated"
    due_at: datetime | None
    due: str  # "overdue", "due soon" or ""
    rosh: str | None
    critical: list[str]  # why the case is one of the critical few; empty when it is not
    claimed_by_me: bool
    holder: str | None = None  # who holds it (the team list): claimed by, else assigned to
    due_standard: str | None = None  # the standard the due date keeps, in words (tasks.open_tasks)


@dataclass(frozen=True)
class Filters:
    """What the inbox is narrowed to, as the URL says it."""

    crn: str | None = None
    due: str | None = None  # "overdue" or "week"
    step: str | None = None  # the model's element id
    rosh: str | None = None  # a RoshLevel value
    pages: tuple[tuple[str, int], ...] = ()  # the page of each list, when not the first

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        """Read the filters from a query string; anything not understood is ignored."""
        crn = args.get("crn", "").strip().upper()[:CRN_LENGTH] or None
        due = args.get("due") if args.get("due") in DUE_FILTERS else None
        step = args.get("step", "").strip()[:255] or None
        rosh = args.get("rosh") if args.get("rosh") in RoshLevel.__members__ else None
        pages = tuple((name, _page(args.get(f"page_{name}"))) for name in LISTS)
        return cls(crn, due, step, rosh, tuple((n, p) for n, p in pages if p > 1))

    def page(self, name: str) -> int:
        """The page of list `name` to show (1 is the first)."""
        return dict(self.pages).get(name, 1)

    def args(self, **changes: str | int | None) -> dict[str, str]:
        """The query string of this view with some values changed (None drops one)."""
        values: dict[str, str | int | None] = {
            "crn": self.crn,
            "due": self.due,
            "step": self.step,
            "rosh": self.rosh,
            **{f"page_{name}": page for name, page in self.pages},
        }
        values.update(changes)
        return {key: str(value) for key, value in values.items() if value not in (None, "", 1)}

    @property
    def active(self) -> bool:
        """Whether anything narrows the lists."""
        return any((self.crn, self.due, self.step, self.rosh))


@dataclass(frozen=True)
class TaskList:
    """One list of the inbox: the rows on the page shown, and how many there are in all."""

    rows: list[TaskRow]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class Inbox:
    """The signed-in person's lists; `team` only for SPOs (None for everyone else)."""

    mine: TaskList
    to_claim: TaskList
    team: TaskList | None = None
    steps: tuple[tuple[str, str], ...] = ()  # (element id, title) of every step in the lists


def _page(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 10_000))
    except ValueError:
        return 1


def inbox_for(session: Session, user: Person, now: datetime, filters: Filters | None = None) -> Inbox:
    """The tasks assigned to or claimed by `user`, the pool tasks they may claim and, for an SPO, the
    tasks others in their team hold: each list filtered, ordered and cut to its page."""
    filters = filters or Filters()
    staff = session.get(Staff, user.staff_id)
    if staff is None:
        return Inbox(TaskList([], 0, 1, 1), TaskList([], 0, 1, 1))

    def listed(query: Select[HumanTask, Case]) -> list[TaskRow]:
        if filters.crn:
            query = query.where(HumanTask.business_key == filters.crn)
        return ordered(_tasks(session, staff, now, query.limit(LIST_LIMIT)))

    lists = {"mine": listed(_mine(user)), "claim": listed(_to_claim(user))}
    if Role.SENIOR_PROBATION_OFFICER.value in user.roles and user.team_id is not None:
        lists["team"] = _with_holders(session, listed(_team(user)))
    steps = sorted(
        {(row.element_id, row.title) for rows in lists.values() for row in rows}, key=lambda s: s[1]
    )
    paged = {name: _paged(_filtered(rows, filters, now), filters.page(name)) for name, rows in lists.items()}
    return Inbox(paged["mine"], paged["claim"], paged.get("team"), tuple(steps))


def ordered(rows: list[TaskRow]) -> list[TaskRow]:
    """Overdue first, then the critical few, then the soonest due (undated last)."""
    return sorted(
        rows,
        key=lambda r: (r.due != "overdue", not r.critical, r.due_at is None, r.due_at or datetime.max, r.id),
    )


def _filtered(rows: list[TaskRow], filters: Filters, now: datetime) -> list[TaskRow]:
    kept = []
    for row in rows:
        if filters.step and row.element_id != filters.step:
            continue
        if filters.rosh and row.rosh != RoshLevel[filters.rosh].display_name:
            continue
        if filters.due == "overdue" and row.due != "overdue":
            continue
        if filters.due == "week" and not due_this_week(row.due_at, now):
            continue
        kept.append(row)
    return kept


def _paged(rows: list[TaskRow], page: int) -> TaskList:
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(page, pages)
    start = (page - 1) * PAGE_SIZE
    return TaskList(rows[start : start + PAGE_SIZE], len(rows), page, pages)


def _mine(user: Person) -> Select[HumanTask, Case]:
    return _open_tasks().where(
        or_(HumanTask.assignee == user.username, HumanTask.claimed_by == user.username)
    )


def _to_claim(user: Person) -> Select[HumanTask, Case]:
    area_roles = sorted(user.roles & AREA_ROLES)
    team_roles = sorted(user.roles - AREA_ROLES)
    # Unallocated cases, or the person's team's. Written as one comparison that no index on the
    # case's team serves, so that the planner starts from the few tasks in the pool (found through
    # the pool's own index) rather than from every unallocated case of the register.
    own_team = (
        func.coalesce(Case.team_id, user.team_id) == user.team_id if user.team_id else Case.team_id.is_(None)
    )
    pooled = pool_role()  # the candidate role of a task nobody holds: read through its index
    return _open_tasks().where(
        or_(
            pooled.in_(area_roles) if area_roles else false(),
            and_(pooled.in_(team_roles), own_team) if team_roles else false(),
        ),
    )


def _team(user: Person) -> Select[HumanTask, Case]:
    """Tasks on the team's cases that someone other than `user` holds."""
    holder = func.coalesce(HumanTask.claimed_by, HumanTask.assignee)
    return _open_tasks().where(Case.team_id == user.team_id, holder.is_not(None), holder != user.username)


def _with_holders(session: Session, rows: list[TaskRow]) -> list[TaskRow]:
    """The rows with each holder's name as staff know them (one query for the whole list)."""
    names = staff_names(session, (row.holder for row in rows))
    return [replace(row, holder=names.get(row.holder or "", row.holder)) for row in rows]


def _open_tasks() -> Select[HumanTask, Case]:
    """Open tasks with their case, soonest due first (so overdue first); undated last."""
    return (
        select(HumanTask, Case)
        .join(Case, Case.crn == HumanTask.business_key)
        .where(HumanTask.state == "open")
        .options(
            joinedload(Case.owner),
            joinedload(Case.team).load_only(Team.id, Team.name, Team.spo_id),
            joinedload(Case.access_limitation).selectinload(AccessLimitation.entries),
            selectinload(Case.registrations),
        )
        .order_by(HumanTask.due_at.asc().nulls_last(), HumanTask.id)
    )


def _tasks(session: Session, staff: Staff, now: datetime, query: Select[HumanTask, Case]) -> list[TaskRow]:
    rows = []
    table = table_in_force(session)
    for task, case in session.execute(query):
        if not may_view(staff, case):
            continue  # need to know: not even the CRN of a case they may not see
        rows.append(
            TaskRow(
                id=task.id,
                title=task.title,
                element_id=task.element_id,
                crn=case.crn,
                name=case.name if (case.forename or case.surname) else None,
                owner=case.owner.display_name if case.owner else "Unallocated",
                due_at=task.due_at,
                due=due_status(task.due_at, now),
                due_standard=task.due_standard,
                rosh=case.rosh.display_name if case.rosh else None,
                # The register keeps case.critical by the same rule: only those cases need the reasons.
                critical=(
                    critical_reasons(RiskProfile.of(case), today=now.date(), table=table)
                    if case.critical
                    else []
                ),
                claimed_by_me=task.claimed_by == staff.username,
                holder=task.claimed_by or task.assignee,
            )
        )
    return rows


def may_see_task(session: Session, user: Person, task_id: int) -> bool:
    """Whether the task exists on a case `user` may see (a claim or release on any other is refused)."""
    found = session.execute(
        select(HumanTask, Case).join(Case, Case.crn == HumanTask.business_key).where(HumanTask.id == task_id)
    ).first()
    staff = session.get(Staff, user.staff_id)
    return found is not None and staff is not None and bool(may_view(staff, found[1]))
