"""Running the area's staff list: adding staff, keeping their records up to date, giving temporary
passwords, signing them out everywhere, and a leaver's deactivation (and reactivation).

One implementation for every way in: the `riskflow staff` commands (webui.cli) and the staff pages
(webui.staff) both call these functions with the database session, the time and who acts. Each
change is written to the audit trail with who made it; each refuses bad input with StaffAdminRefused,
saying what to fix for each field, before anything is changed.

Passwords and signed-in sessions are kept by the web app (webui.credentials, webui.staff_sessions):
the caller passes them in as a SignInRecords (webui.accounts.SignInRecords), timed on real time.

Who may run the staff list in the browser is the area's Assistant Chief Officers
(`may_administer_staff`); a process owner is not a staff administrator. Nobody may take that role
away from themselves, nor deactivate themselves, so an area cannot lock its last administrator out
by a slip.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from casework.models import Case, Staff, Team
from casework.roles import Role
from casework.vocabulary import CASE_HOLDING_GRADES, ExperienceBand, Grade
from engine.humantasks import release_open_tasks
from engine.models import AuditEvent, HumanTask
from tasks.access_lists import take_open_tasks_from

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,99}$")
NAME_LIMIT = 100
# The role that runs the staff list.
STAFF_ADMINISTRATOR = Role.ASSISTANT_CHIEF_OFFICER
# The grades a line manager may have.
LINE_MANAGER_ROLES = frozenset({Role.SENIOR_PROBATION_OFFICER.value, Role.ASSISTANT_CHIEF_OFFICER.value})
# Why a leaver's tasks moved, in the audit trail beside each move.
LEFT_THE_STAFF_LIST = "no longer active on the staff list"


class StaffAdminRefused(Exception):
    """A change to the staff list refused, with what to fix for each field; nothing was changed."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """Every problem, in one line."""
        return " ".join(self.problems.values())


class SignInRecords(Protocol):
    """Staff passwords and signed-in sessions, which the web app keeps."""

    def give_temporary_password(self, session: Session, staff: Staff, temporary: str | None) -> str:
        """Set a temporary password (`temporary`, or a random one) that must be changed at the next
        sign-in, ending every session of theirs; return it. A chosen one must meet the policy."""
        ...

    def end_sessions(self, session: Session, username: str, reason: str) -> int:
        """End every live session of `username`; return how many there were."""
        ...


class _Keep(Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP  # change_staff: leave this part of the record as it is


@dataclass(frozen=True)
class Holdings:
    """What a member of staff holds now: their open cases and their open tasks."""

    open_cases: int
    open_tasks: int


@dataclass(frozen=True)
class Deactivated:
    """What a deactivation did: sessions ended and tasks taken back from the leaver."""

    sessions_ended: int
    tasks_moved: int


@dataclass(frozen=True)
class StaffPage:
    """One page of the staff list and how many people match the filters."""

    people: list[Staff]
    total: int


def may_administer_staff(roles: Iterable[str]) -> bool:
    """Whether someone holding `roles` may run the staff list (the area's ACOs)."""
    return STAFF_ADMINISTRATOR.value in set(roles)


def add_staff(
    session: Session,
    username: str,
    *,
    display_name: str,
    grade: str,
    team_code: str | None,
    experience: str | None,
    started_on: date,
    by: str,
    now: datetime,
    line_manager: str | None = None,
) -> Staff:
    """Put a new member of staff on the staff list (active, with no password until one is given)."""
    problems: dict[str, str] = {}
    if not USERNAME_PATTERN.match(username):
        problems["username"] = (
            f"{username!r} is not a username: use 2 to 100 lower-case letters, digits, dots, hyphens or "
            "underscores, starting with a letter or digit (for example jo.bloggs)"
        )
    elif session.scalar(select(Staff.id).where(Staff.username == username)) is not None:
        problems["username"] = (
            f"There is already a member of staff with username {username!r}: choose another username"
        )
    name = " ".join(display_name.split())
    if not name or len(name) > NAME_LIMIT:
        problems["display_name"] = f"Enter the person's name as staff know it, 1 to {NAME_LIMIT} characters"
    details, detail_problems = _details(session, None, grade, team_code, line_manager, experience)
    problems.update(detail_problems)
    if problems or details is None:
        raise StaffAdminRefused(problems)
    the_grade, team, manager, band = details
    staff = Staff(
        username=username,
        display_name=name,
        grade=the_grade,
        team=team,
        line_manager=manager,
        experience=band,
        started_on=started_on,
        active=True,
        extra_roles=[],
    )
    session.add(staff)
    session.flush()
    _audit(session, now, by, "staff_added", username=username, **_record(staff))
    return staff


def change_staff(  # noqa: PLR0913 - one keyword per part of the record an administrator keeps
    session: Session,
    username: str,
    *,
    grade: str | _Keep = KEEP,
    team_code: str | None | _Keep = KEEP,
    line_manager: str | None | _Keep = KEEP,
    experience: str | None | _Keep = KEEP,
    extra_roles: Iterable[str] | _Keep = KEEP,
    by: str,
    now: datetime,
) -> Staff:
    """Change `username`'s grade, team, line manager, experience band or roles beyond their grade
    (KEEP leaves one as it is; an experience band kept on a grade without one is dropped)."""
    staff = find_staff(session, username)
    grade_code = staff.grade.value if isinstance(grade, _Keep) else grade
    if isinstance(experience, _Keep):
        kept = staff.experience.value if staff.experience else None
        experience = kept if _grade_or_none(grade_code) in CASE_HOLDING_GRADES else None
    details, problems = _details(
        session,
        staff,
        grade_code,
        (staff.team.code if staff.team else None) if isinstance(team_code, _Keep) else team_code,
        (staff.line_manager.username if staff.line_manager else None)
        if isinstance(line_manager, _Keep)
        else line_manager,
        experience,
    )
    roles = list(staff.extra_roles) if isinstance(extra_roles, _Keep) else [r.upper() for r in extra_roles]
    unknown = sorted(set(roles) - {role.value for role in Role})
    if unknown:
        known = ", ".join(sorted(role.value for role in Role))
        problems["extra_roles"] = f"{', '.join(unknown)} is not a role: use {known}"
    if problems or details is None:
        raise StaffAdminRefused(problems)
    the_grade, team, manager, band = details
    if by == username and not may_administer_staff({*(r.value for r in the_grade.roles), *roles}):
        raise StaffAdminRefused(
            {
                "grade": "You cannot take away your own staff administration: you would no longer reach the "
                "staff pages. Ask another Assistant Chief Officer to change your grade or roles."
            }
        )
    before = _record(staff)
    roles_before = list(staff.extra_roles)
    staff.grade, staff.team, staff.line_manager, staff.experience = the_grade, team, manager, band
    staff.extra_roles = sorted(set(roles))
    session.flush()
    after = _record(staff)
    changed = {
        key: {"before": before[key], "after": after[key]} for key in after if before[key] != after[key]
    }
    if changed:
        _audit(session, now, by, "staff_changed", username=username, changes=changed)
    if roles_before != staff.extra_roles:
        _audit(
            session,
            now,
            by,
            "staff_roles_set",
            username=username,
            before=roles_before,
            after=staff.extra_roles,
        )
    return staff


def reset_password(
    session: Session,
    username: str,
    sign_in: SignInRecords,
    *,
    by: str,
    now: datetime,
    temporary: str | None = None,
) -> str:
    """Give `username` a temporary password (`temporary`, or a random one) that they must change at
    their next sign-in, and end every session of theirs. Returns the temporary password."""
    staff = find_staff(session, username)
    password = sign_in.give_temporary_password(session, staff, temporary)
    _audit(session, now, by, "password_reset", username=username)
    return password


def sign_out_everywhere(
    session: Session, username: str, sign_in: SignInRecords, *, by: str, now: datetime
) -> int:
    """End every signed-in session of `username` (a lost laptop, a cookie that may have been
    copied); return how many were ended."""
    find_staff(session, username)
    ended = sign_in.end_sessions(session, username, "signed_out_everywhere")
    _audit(session, now, by, "signed_out_everywhere", username=username, sessions=ended)
    return ended


def deactivate(
    session: Session, username: str, sign_in: SignInRecords, *, by: str, now: datetime
) -> Deactivated:
    """A leaver: make `username` inactive (they can no longer sign in), end every session of theirs,
    and take their open tasks back as when someone is kept out of a case (tasks.access_lists): a
    claimed task goes back to its pool, one assigned to them to their case's team SPO or the pool.
    The cases they own stay theirs until their SPO reallocates them."""
    staff = find_staff(session, username)
    if not staff.active:
        raise StaffAdminRefused({"active": f"{username} is already inactive"})
    if by == username:
        raise StaffAdminRefused(
            {"active": "You cannot deactivate yourself. Ask another Assistant Chief Officer to do it."}
        )
    staff.active = False
    ended = sign_in.end_sessions(session, username, "inactive")
    moved = _take_back_tasks(session, staff, by=by, now=now)
    _audit(session, now, by, "staff_deactivated", username=username, sessions=ended, tasks_moved=moved)
    return Deactivated(ended, moved)


def reactivate(session: Session, username: str, *, by: str, now: datetime) -> Staff:
    """Make `username` active again (they sign in with the password they had, or a reset one)."""
    staff = find_staff(session, username)
    if staff.active:
        raise StaffAdminRefused({"active": f"{username} is already active"})
    staff.active = True
    _audit(session, now, by, "staff_reactivated", username=username)
    return staff


def holdings(session: Session, staff: Staff) -> Holdings:
    """How many open cases `staff` owns and how many open tasks they hold (assigned or claimed)."""
    cases = session.scalar(
        select(func.count(Case.id)).where(Case.owner_id == staff.id, Case.closed_at.is_(None))
    )
    tasks = session.scalar(
        select(func.count(HumanTask.id)).where(
            HumanTask.state == "open",
            or_(HumanTask.assignee == staff.username, HumanTask.claimed_by == staff.username),
        )
    )
    return Holdings(int(cases or 0), int(tasks or 0))


def staff_on_list(
    session: Session,
    *,
    team_code: str | None = None,
    grade: Grade | None = None,
    active: bool | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> StaffPage:
    """The staff list filtered by team, grade and whether they are active, by name (then username),
    `limit` at a time from `offset`."""
    query = select(Staff)
    if team_code is not None:
        query = query.join(Team, Staff.team_id == Team.id).where(Team.code == team_code)
    if grade is not None:
        query = query.where(Staff.grade == grade)
    if active is not None:
        query = query.where(Staff.active.is_(active))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.options(joinedload(Staff.team), joinedload(Staff.line_manager))
    page = page.order_by(Staff.display_name, Staff.username).offset(offset).limit(limit)
    return StaffPage(list(session.scalars(page)), int(total))


def possible_line_managers(session: Session) -> list[Staff]:
    """The active SPOs and ACOs, by name: the people a line manager may be."""
    people = session.scalars(
        select(Staff).where(Staff.active.is_(True)).order_by(Staff.display_name, Staff.username)
    )
    return [person for person in people if person.roles & LINE_MANAGER_ROLES]


def find_staff(session: Session, username: str) -> Staff:
    """The member of staff with this username, or StaffAdminRefused saying there is none."""
    staff = session.scalar(select(Staff).where(Staff.username == username))
    if staff is None:
        raise StaffAdminRefused({"username": f"There is no member of staff with username {username!r}"})
    return staff


def _take_back_tasks(session: Session, staff: Staff, *, by: str, now: datetime) -> int:
    keys = session.scalars(
        select(HumanTask.business_key)
        .where(
            HumanTask.state == "open",
            or_(HumanTask.assignee == staff.username, HumanTask.claimed_by == staff.username),
        )
        .distinct()
    ).all()
    moved = 0
    for key in sorted(keys):
        case = session.scalar(select(Case).where(Case.crn == key))
        if case is None:  # work on no case of the register: back to its role's pool
            moved += release_open_tasks(
                session,
                business_key=key,
                person=staff.username,
                assigned_to=None,
                actor=by,
                at=now,
                reason=LEFT_THE_STAFF_LIST,
            )
        else:
            moved += take_open_tasks_from(session, case, staff, by=by, at=now, reason=LEFT_THE_STAFF_LIST)
    return moved


def _details(  # noqa: PLR0917 - the four parts of a record, in their order
    session: Session,
    staff: Staff | None,
    grade: str,
    team_code: str | None,
    line_manager: str | None,
    experience: str | None,
) -> tuple[tuple[Grade, Team | None, Staff | None, ExperienceBand | None] | None, dict[str, str]]:
    """The grade, team, line manager and band the values name, or what to fix for each field."""
    problems: dict[str, str] = {}
    the_grade = _grade_or_none(grade)
    if the_grade is None:
        grades = ", ".join(g.value for g in Grade)
        problems["grade"] = (
            f"{grade!r} is not a grade: use one of {grades}" if grade else "Choose the person's grade"
        )
    team = None
    if team_code:
        team = session.scalar(select(Team).where(Team.code == team_code))
        if team is None:
            codes = ", ".join(session.scalars(select(Team.code).order_by(Team.code))) or "none yet"
            problems["team"] = f"There is no team with code {team_code!r}: choose one of the teams ({codes})"
    manager = None
    if line_manager:
        manager = session.scalar(select(Staff).where(Staff.username == line_manager))
        if manager is None or not manager.active or not manager.roles & LINE_MANAGER_ROLES:
            problems["line_manager"] = (
                f"{line_manager!r} cannot be a line manager: choose an active Senior Probation Officer or "
                "Assistant Chief Officer"
            )
        elif staff is not None and manager.id == staff.id:
            problems["line_manager"] = "Nobody can be their own line manager: choose someone else"
    band = None
    if the_grade is not None:
        band, problem = _experience(the_grade, experience)
        if problem:
            problems["experience"] = problem
    if problems or the_grade is None:
        return None, problems
    return (the_grade, team, manager, band), {}


def _grade_or_none(value: str) -> Grade | None:
    try:
        return Grade(value.upper())
    except ValueError:
        return None


def _experience(grade: Grade, value: str | None) -> tuple[ExperienceBand | None, str | None]:
    bands = ", ".join(f"{band.value} ({band.name.replace('_', ' ').lower()})" for band in ExperienceBand)
    if grade not in CASE_HOLDING_GRADES:
        if value:
            return None, (
                "Leave the experience band empty: only Offender Managers have one, "
                f"not a {grade.display_name}"
            )
        return None, None
    if not value:
        return None, f"An Offender Manager needs an experience band: choose one of {bands}"
    try:
        return ExperienceBand(value.upper()), None
    except ValueError:
        return None, f"{value!r} is not an experience band: use one of {bands}"


def _record(staff: Staff) -> dict[str, Any]:
    """The parts of a record an administrator keeps, as the audit trail writes them."""
    return {
        "grade": staff.grade.value,
        "team": staff.team.code if staff.team else None,
        "line_manager": staff.line_manager.username if staff.line_manager else None,
        "experience": staff.experience.value if staff.experience else None,
    }


def _audit(session: Session, now: datetime, actor: str, event: str, **detail: Any) -> None:
    session.add(AuditEvent(at=now, actor=actor, event=event, detail=detail))
