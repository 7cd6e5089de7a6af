"""The inbox: "My tasks" and "To claim", read straight from the human-task table, and claim/release.

Each list is one query over engine.models.HumanTask joined to the register's case (for the name and
RoSH), with the case's owner, team and access lists loaded alongside so that casework.access.may_view
(the one place that decides need-to-know) can drop every task on a case the person may not see. No
workflow is loaded to draw the inbox.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.orm import Session, joinedload
from werkzeug.wrappers import Response

from casework.access import may_view
from casework.models import AccessLimitation, Case, Staff, Team
from casework.roles import Role
from engine.errors import Conflict, NotFound, NotPermitted
from engine.models import HumanTask
from webui import riskflow
from webui.auth import SignedInStaff

bp = Blueprint("inbox", __name__)

DUE_SOON = timedelta(days=3)
CRN_LENGTH = 7
LIST_LIMIT = 500  # until the inbox pages (issue 5): far more than anyone's open work
# Roles whose pool work spans the area; every other role's pool is its own team's cases.
AREA_ROLES = frozenset(
    {Role.ASSISTANT_CHIEF_OFFICER.value, Role.RISK_CONSULTANT.value, Role.MAPPA_COORDINATOR.value}
)


@dataclass(frozen=True)
class TaskRow:
    """One task as the inbox shows it."""

    id: int
    title: str
    crn: str
    name: str | None  # None when the register has no name for the person yet
    owner: str  # the case's Offender Manager, or "Unallocated"
    due_at: datetime | None
    due: str  # "overdue", "due soon" or ""
    rosh: str | None
    claimed_by_me: bool
    holder: str | None = None  # who holds it (the team list): claimed by, else assigned to


@dataclass(frozen=True)
class Inbox:
    """The signed-in person's lists; `team` only for SPOs (None for everyone else)."""

    mine: list[TaskRow]
    to_claim: list[TaskRow]
    team: list[TaskRow] | None = None


def inbox_for(session: Session, user: SignedInStaff, now: datetime, *, crn: str | None = None) -> Inbox:
    """The tasks assigned to or claimed by `user`, the pool tasks they may claim, and for an SPO
    the tasks others in their team hold; only those on case `crn` when one is given."""
    staff = session.get(Staff, user.staff_id)
    if staff is None:
        return Inbox([], [])

    def listed(query: Select[HumanTask, Case]) -> list[TaskRow]:
        if crn:
            query = query.where(HumanTask.business_key == crn)
        return _tasks(session, staff, now, query)

    team = None
    if Role.SENIOR_PROBATION_OFFICER.value in user.roles and user.team_id is not None:
        team = _with_holders(session, listed(_team(user)))
    return Inbox(listed(_mine(user)), listed(_to_claim(user)), team)


def _mine(user: SignedInStaff) -> Select[HumanTask, Case]:
    return _open_tasks().where(
        or_(HumanTask.assignee == user.username, HumanTask.claimed_by == user.username)
    )


def _to_claim(user: SignedInStaff) -> Select[HumanTask, Case]:
    area_roles = sorted(user.roles & AREA_ROLES)
    team_roles = sorted(user.roles - AREA_ROLES)
    own_team = (
        or_(Case.team_id.is_(None), Case.team_id == user.team_id) if user.team_id else Case.team_id.is_(None)
    )
    return _open_tasks().where(
        HumanTask.assignee.is_(None),
        HumanTask.claimed_by.is_(None),
        or_(
            HumanTask.candidate_role.in_(area_roles) if area_roles else false(),
            and_(HumanTask.candidate_role.in_(team_roles), own_team) if team_roles else false(),
        ),
    )


def _team(user: SignedInStaff) -> Select[HumanTask, Case]:
    """Tasks on the team's cases that someone other than `user` holds."""
    holder = func.coalesce(HumanTask.claimed_by, HumanTask.assignee)
    return _open_tasks().where(Case.team_id == user.team_id, holder.is_not(None), holder != user.username)


def _with_holders(session: Session, rows: list[TaskRow]) -> list[TaskRow]:
    """The rows with each holder's name as staff know them (one query for the whole list)."""
    usernames = {row.holder for row in rows if row.holder}
    names: dict[str, str] = {}
    if usernames:
        query = select(Staff.username, Staff.display_name).where(Staff.username.in_(usernames))
        names = {username: name for username, name in session.execute(query)}
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
        )
        .order_by(HumanTask.due_at.asc().nulls_last(), HumanTask.id)
        .limit(LIST_LIMIT)
    )


def _tasks(session: Session, staff: Staff, now: datetime, query: Select[HumanTask, Case]) -> list[TaskRow]:
    rows = []
    for task, case in session.execute(query):
        if not may_view(staff, case):
            continue  # need to know: not even the CRN of a case they may not see
        rows.append(
            TaskRow(
                id=task.id,
                title=task.title,
                crn=case.crn,
                name=case.name if (case.forename or case.surname) else None,
                owner=case.owner.display_name if case.owner else "Unallocated",
                due_at=task.due_at,
                due=due_status(task.due_at, now),
                rosh=case.rosh.display_name if case.rosh else None,
                claimed_by_me=task.claimed_by == staff.username,
                holder=task.claimed_by or task.assignee,
            )
        )
    return rows


def due_status(due_at: datetime | None, now: datetime) -> str:
    """ "overdue" when past due, "due soon" within DUE_SOON, else ""."""
    if due_at is None:
        return ""
    if due_at < now:
        return "overdue"
    return "due soon" if due_at - now <= DUE_SOON else ""


def may_see_task(session: Session, user: SignedInStaff, task_id: int) -> bool:
    """Whether the task exists on a case `user` may see (a claim or release on any other is refused)."""
    found = session.execute(
        select(HumanTask, Case).join(Case, Case.crn == HumanTask.business_key).where(HumanTask.id == task_id)
    ).first()
    staff = session.get(Staff, user.staff_id)
    return found is not None and staff is not None and bool(may_view(staff, found[1]))


# ------------------------------------------------------------------------------------------ views


@bp.get("/")
def index() -> str:
    """The signed-in person's inbox, or only one case's tasks with ?crn= (a link that can be shared)."""
    crn = request.args.get("crn", "").strip().upper()[:CRN_LENGTH] or None
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        inbox = inbox_for(session, current_user, shared.clock.now(), crn=crn)
    return render_template("inbox/index.html", inbox=inbox, crn=crn)


@bp.post("/tasks/<int:task_id>/claim")
def claim(task_id: int) -> Response:
    """Claim a pool task; if someone was quicker, say so and go back to the inbox."""
    return _act(task_id, "claim")


@bp.post("/tasks/<int:task_id>/release")
def release(task_id: int) -> Response:
    """Give a claimed task back to its pool."""
    return _act(task_id, "release")


def _act(task_id: int, action: str) -> Response:
    shared = riskflow()
    user: SignedInStaff = current_user
    with shared.db.transaction(write=False) as session:
        visible = may_see_task(session, user, task_id)
    if not visible:
        flash("That task is not there any more, or is not one you can work on.", "error")
        return redirect(url_for("inbox.index"))
    try:
        if action == "claim":
            shared.engine.claim(task_id, user.actor)
            flash("Task claimed: it is now in My tasks.", "success")
        else:
            shared.engine.release(task_id, user.actor)
            flash("Task released: it is back in the list to claim.", "success")
    except (Conflict, NotPermitted, NotFound) as err:
        flash(_with_display_names(task_id, err.message), "error")
    return redirect(url_for("inbox.index"))


def _with_display_names(task_id: int, message: str) -> str:
    """The engine names people by username; staff read their colleagues' names."""
    with riskflow().db.transaction(write=False) as session:
        task = session.get(HumanTask, task_id)
        people = {task.claimed_by, task.assignee, task.completed_by} - {None} if task else set()
        for username, name in session.execute(
            select(Staff.username, Staff.display_name).where(Staff.username.in_(people))
        ):
            message = message.replace(username, name)
    return message
