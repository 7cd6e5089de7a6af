"""Running the area's staff list: adding staff, keeping their records up to date, giving temporary
passwords, signing them out everywhere, and a leaver's deactivation (and reactivation).

One implementation for every way in: the `riskflow staff` commands (webui.cli) and the staff pages
(webui.staff) both call these functions with the database session, the time and who acts. Each
change is written to the audit trail with who made it; each refuses bad input with StaffAdminRefused,
saying what to fix for each field, before anything is changed.

Passwords and signed-in sessions are kept by the web app (webui.credentials, webui.staff_sessions):
the caller passes them in as a SignInRecords (webui.accounts.SignInRecords), timed on real time.

The experience band is not typed: it derives from the record's qualification date and
senior-practitioner post (casework.staff_record.band_on), so it is right on any day it is read.
Absences and a leaving date are kept too; a leaver, a leaving date recorded and an absence longer
than LONG_ABSENCE_DAYS make each open case the person owns ask its SPO for reallocation (the message
`reallocation_needed` to the case's process, through the engine the caller passes as CaseMessages).
The history of each record is its audit trail (`history`).

Who may run the staff list in the browser is the area's Assistant Chief Officers
(`may_administer_staff`); a process owner is not a staff administrator. Nobody may take that role
away from themselves, nor deactivate themselves, so an area cannot lock its last administrator out
by a slip.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from casework.models import Case, Staff, StaffAbsence, Team
from casework.roles import Role
from casework.staff_record import ABSENCE_REASONS, band_on, not_there_to_hold
from casework.vocabulary import ExperienceBand, Grade
from engine.clock import area_date
from engine.humantasks import release_open_tasks
from engine.models import AuditEvent, HumanTask
from tasks.access_lists import take_open_tasks_from
from tasks.reallocation import LONG_ABSENCE_DAYS, REALLOCATION_NEEDED, absences_of

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,99}$")
NAME_LIMIT = 100
# The role that runs the staff list.
STAFF_ADMINISTRATOR = Role.ASSISTANT_CHIEF_OFFICER
# The grades a line manager may have.
LINE_MANAGER_ROLES = frozenset({Role.SENIOR_PROBATION_OFFICER.value, Role.ASSISTANT_CHIEF_OFFICER.value})
# Why a leaver's tasks moved, in the audit trail beside each move.
LEFT_THE_STAFF_LIST = "no longer active on the staff list"
# The grades that qualified (probation officers, senior practitioners): they have a qualification date
# and may hold a senior-practitioner post.
QUALIFIED_GRADES = frozenset({Grade.PO, Grade.SENIOR_PRACTITIONER})
# The furthest ahead an absence may be recorded, and the longest one may last.
ABSENCE_HORIZON = timedelta(days=366)
# The staff record's events in the audit trail, as its history shows them.
HISTORY_EVENTS = {
    "staff_added": "Added to the staff list",
    "staff_changed": "Record changed",
    "staff_roles_set": "Roles beyond their grade changed",
    "password_reset": "Temporary password given",
    "signed_out_everywhere": "Signed out everywhere",
    "staff_deactivated": "Deactivated (left)",
    "staff_reactivated": "Reactivated",
    "staff_absence_recorded": "Absence recorded",
    "staff_absence_removed": "Absence removed",
    "staff_leaving_date_set": "Leaving date set",
}
# How each part of the record reads in its history.
FIELD_WORDS = {
    "grade": "Grade",
    "team": "Team",
    "line_manager": "Line manager",
    "experience": "Experience band today",
    "qualified_on": "Qualified",
    "senior_practitioner_since": "Senior practitioner from",
    "leaving_on": "Leaving date",
}


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


class CaseMessages(Protocol):
    """Messages to running cases in the caller's transaction (the process engine)."""

    def deliver_message_within(
        self,
        session: Session,
        name: str,
        correlation_value: str,
        payload: Mapping[str, Any] | None = None,
        *,
        sender: str = ...,
    ) -> object:
        """Deliver `name` to the case `correlation_value` in `session`, or keep it until it waits."""
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
    """What a deactivation did: sessions ended, tasks taken back from the leaver, and how many of the
    cases they own were asked to be reallocated."""

    sessions_ended: int
    tasks_moved: int
    cases_to_reallocate: int = 0


@dataclass(frozen=True)
class AbsenceRecorded:
    """An absence recorded, and how many cases it asked to be reallocated (0 for a short one)."""

    absence: StaffAbsence
    long: bool
    cases_to_reallocate: int


@dataclass(frozen=True)
class HistoryEntry:
    """One change to a staff record: when, who, what, and each part's value before and after."""

    at: datetime
    by: str
    what: str
    changes: list[tuple[str, str, str]]
    note: str


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
    started_on: date,
    by: str,
    now: datetime,
    line_manager: str | None = None,
    qualified_on: date | None = None,
    senior_practitioner_since: date | None = None,
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
    details, detail_problems = _details(session, None, grade, team_code, line_manager)
    problems.update(detail_problems)
    the_grade = details[0] if details else None
    problems.update(_date_problems(the_grade, qualified_on, senior_practitioner_since, area_date(now)))
    if problems or details is None:
        raise StaffAdminRefused(problems)
    the_grade, team, manager = details
    staff = Staff(
        username=username,
        display_name=name,
        grade=the_grade,
        team=team,
        line_manager=manager,
        started_on=started_on,
        qualified_on=qualified_on,
        senior_practitioner_since=senior_practitioner_since,
        active=True,
        extra_roles=[],
    )
    staff.experience = band_on(staff, area_date(now))
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
    qualified_on: date | None | _Keep = KEEP,
    senior_practitioner_since: date | None | _Keep = KEEP,
    extra_roles: Iterable[str] | _Keep = KEEP,
    by: str,
    now: datetime,
) -> Staff:
    """Change `username`'s grade, team, line manager, qualification date, senior-practitioner post or
    roles beyond their grade (KEEP leaves one as it is; dates kept on a grade without them are
    dropped). The experience band follows from the dates."""
    staff = find_staff(session, username)
    grade_code = staff.grade.value if isinstance(grade, _Keep) else grade
    new_grade = _grade_or_none(grade_code)
    if isinstance(qualified_on, _Keep):
        qualified_on = staff.qualified_on if new_grade in QUALIFIED_GRADES else None
    if isinstance(senior_practitioner_since, _Keep):
        senior_practitioner_since = staff.senior_practitioner_since if new_grade in QUALIFIED_GRADES else None
    details, problems = _details(
        session,
        staff,
        grade_code,
        (staff.team.code if staff.team else None) if isinstance(team_code, _Keep) else team_code,
        (staff.line_manager.username if staff.line_manager else None)
        if isinstance(line_manager, _Keep)
        else line_manager,
    )
    problems.update(_date_problems(new_grade, qualified_on, senior_practitioner_since, area_date(now)))
    roles = list(staff.extra_roles) if isinstance(extra_roles, _Keep) else [r.upper() for r in extra_roles]
    unknown = sorted(set(roles) - {role.value for role in Role})
    if unknown:
        known = ", ".join(sorted(role.value for role in Role))
        problems["extra_roles"] = f"{', '.join(unknown)} is not a role: use {known}"
    if problems or details is None:
        raise StaffAdminRefused(problems)
    the_grade, team, manager = details
    if by == username and not may_administer_staff({*(r.value for r in the_grade.roles), *roles}):
        raise StaffAdminRefused(
            {
                "grade": "You cannot take away your own staff administration: you would no longer reach the "
                "staff pages. Ask another Assistant Chief Officer to change your grade or roles."
            }
        )
    before = _record(staff)
    roles_before = list(staff.extra_roles)
    staff.grade, staff.team, staff.line_manager = the_grade, team, manager
    staff.qualified_on, staff.senior_practitioner_since = qualified_on, senior_practitioner_since
    staff.experience = band_on(staff, area_date(now))
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
    session: Session,
    username: str,
    sign_in: SignInRecords,
    *,
    by: str,
    now: datetime,
    cases: CaseMessages | None = None,
) -> Deactivated:
    """A leaver: make `username` inactive (they can no longer sign in), end every session of theirs,
    and take their open tasks back as when someone is kept out of a case (tasks.access_lists): a
    claimed task goes back to its pool, one assigned to them to their case's team SPO or the pool.
    The cases they own stay theirs until their SPO reallocates them: each is asked to be, through
    `cases` (the engine; None only where no process runs, and then nothing is asked). A leaving
    date not set before is set to today."""
    staff = find_staff(session, username)
    if not staff.active:
        raise StaffAdminRefused({"active": f"{username} is already inactive"})
    if by == username:
        raise StaffAdminRefused(
            {"active": "You cannot deactivate yourself. Ask another Assistant Chief Officer to do it."}
        )
    staff.active = False
    if staff.leaving_on is None or staff.leaving_on > area_date(now):
        staff.leaving_on = area_date(now)
    ended = sign_in.end_sessions(session, username, "inactive")
    moved = _take_back_tasks(session, staff, by=by, now=now)
    asked = _ask_for_reallocation(session, staff, cases, by=by, now=now, change="the owner left")
    _audit(
        session,
        now,
        by,
        "staff_deactivated",
        username=username,
        sessions=ended,
        tasks_moved=moved,
        cases_to_reallocate=asked,
    )
    return Deactivated(ended, moved, asked)


def reactivate(session: Session, username: str, *, by: str, now: datetime) -> Staff:
    """Make `username` active again (they sign in with the password they had, or a reset one)."""
    staff = find_staff(session, username)
    if staff.active:
        raise StaffAdminRefused({"active": f"{username} is already active"})
    staff.active = True
    left_on, staff.leaving_on = staff.leaving_on, None
    _audit(
        session,
        now,
        by,
        "staff_reactivated",
        username=username,
        changes=_changed({"leaving_on": _day(left_on)}, {"leaving_on": None}),
    )
    return staff


def set_leaving_date(
    session: Session,
    username: str,
    leaving_on: date | None,
    *,
    by: str,
    now: datetime,
    cases: CaseMessages | None = None,
) -> int:
    """Record the last working day of someone leaving (None: they are no longer leaving). A leaving
    date asks for each open case they own to be reallocated before they go (through `cases`); on the
    day after it, `deactivate_leavers` makes them inactive. Returns how many cases were asked."""
    staff = find_staff(session, username)
    today = area_date(now)
    if not staff.active:
        raise StaffAdminRefused(
            {"leaving_on": f"{staff.display_name} has already left: reactivate them first"}
        )
    if leaving_on is not None and not (staff.started_on <= leaving_on <= today + ABSENCE_HORIZON):
        raise StaffAdminRefused(
            {
                "leaving_on": "The leaving date must be on or after they started "
                f"({staff.started_on:%-d %B %Y}) and within a year from today"
            }
        )
    before = _day(staff.leaving_on)
    staff.leaving_on = leaving_on
    session.flush()
    asked = 0
    if leaving_on is not None:
        asked = _ask_for_reallocation(
            session, staff, cases, by=by, now=now, change=f"the owner leaves on {leaving_on:%-d %B %Y}"
        )
    _audit(
        session,
        now,
        by,
        "staff_leaving_date_set",
        username=username,
        changes=_changed({"leaving_on": before}, {"leaving_on": _day(leaving_on)}),
        cases_to_reallocate=asked,
    )
    return asked


def deactivate_leavers(
    session: Session, sign_in: SignInRecords, *, by: str, now: datetime, cases: CaseMessages | None = None
) -> list[str]:
    """Deactivate everyone still active whose leaving date has passed; return their usernames."""
    due = session.scalars(
        select(Staff)
        .where(Staff.active.is_(True), Staff.leaving_on.is_not(None), Staff.leaving_on < area_date(now))
        .order_by(Staff.username)
    ).all()
    for staff in due:
        deactivate(session, staff.username, sign_in, by=by, now=now, cases=cases)
    return [staff.username for staff in due]


def record_absence(  # noqa: PLR0913 - the absence's parts, who records it and the engine
    session: Session,
    username: str,
    *,
    starts_on: date | None,
    ends_on: date | None,
    reason: str,
    by: str,
    now: datetime,
    cases: CaseMessages | None = None,
) -> AbsenceRecorded:
    """Record an absence (leave, sickness or training) from one day to another, both ends counted.
    One longer than LONG_ABSENCE_DAYS that has not ended asks for each open case the person owns to
    be reallocated (through `cases`); a shorter one changes no case (the team covers it)."""
    staff = find_staff(session, username)
    today = area_date(now)
    problems: dict[str, str] = {}
    if reason.upper() not in ABSENCE_REASONS:
        problems["reason"] = "Choose why they are away: " + ", ".join(
            w.lower() for w in ABSENCE_REASONS.values()
        )
    if starts_on is None:
        problems["starts_on"] = "Enter the first day of the absence, like 3 4 2026"
    if ends_on is None:
        problems["ends_on"] = "Enter the last day of the absence (the expected return's eve), like 24 4 2026"
    if starts_on is not None and ends_on is not None:
        if ends_on < starts_on:
            problems["ends_on"] = "The last day of the absence must be on or after its first day"
        elif ends_on - starts_on > ABSENCE_HORIZON or starts_on > today + ABSENCE_HORIZON:
            problems["ends_on"] = "Record an absence of up to a year, starting within a year from today"
    if not staff.active:
        problems["starts_on"] = f"{staff.display_name} has left: an absence cannot be recorded"
    if problems or starts_on is None or ends_on is None:
        raise StaffAdminRefused(problems)
    absence = StaffAbsence(
        staff=staff,
        starts_on=starts_on,
        ends_on=ends_on,
        reason=reason.upper(),
        recorded_at=now,
        recorded_by=by,
    )
    session.add(absence)
    session.flush()
    long = absence.days > LONG_ABSENCE_DAYS and ends_on >= today
    asked = 0
    if long:
        words = ABSENCE_REASONS[absence.reason].lower()
        asked = _ask_for_reallocation(
            session,
            staff,
            cases,
            by=by,
            now=now,
            change=f"the owner is away ({words}) for {absence.days} days",
        )
    _audit(
        session,
        now,
        by,
        "staff_absence_recorded",
        username=username,
        absence_id=absence.id,
        starts_on=starts_on.isoformat(),
        ends_on=ends_on.isoformat(),
        reason=absence.reason,
        days=absence.days,
        cases_to_reallocate=asked,
    )
    return AbsenceRecorded(absence, long, asked)


def remove_absence(session: Session, username: str, absence_id: int, *, by: str, now: datetime) -> None:
    """Remove an absence recorded in error (the audit trail keeps what it was)."""
    staff = find_staff(session, username)
    absence = session.get(StaffAbsence, absence_id)
    if absence is None or absence.staff_id != staff.id:
        raise StaffAdminRefused({"absence": f"{staff.display_name} has no such absence recorded"})
    _audit(
        session,
        now,
        by,
        "staff_absence_removed",
        username=username,
        absence_id=absence.id,
        starts_on=absence.starts_on.isoformat(),
        ends_on=absence.ends_on.isoformat(),
        reason=absence.reason,
    )
    session.delete(absence)
    session.flush()


def absences(session: Session, staff: Staff) -> list[StaffAbsence]:
    """Every absence recorded for `staff`, latest first."""
    return absences_of(session, staff)


def band_today(staff: Staff, now: datetime) -> ExperienceBand | None:
    """`staff`'s experience band today, as their record's dates give it."""
    return band_on(staff, area_date(now))


def availability(session: Session, staff: Staff, now: datetime) -> str | None:
    """Why `staff` is not there to hold cases from today (left, leaving, a long absence), or None."""
    return not_there_to_hold(staff, absences_of(session, staff), area_date(now), LONG_ABSENCE_DAYS)


def history(session: Session, username: str, *, limit: int = 200) -> list[HistoryEntry]:
    """The staff record's history, latest first: each change from the audit trail with who made it,
    when, and every part's value before and after."""
    events = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.event.in_(list(HISTORY_EVENTS)), AuditEvent.detail["username"].as_string() == username
        )
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    ).all()
    return [_history_entry(event) for event in events]


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


def _details(
    session: Session,
    staff: Staff | None,
    grade: str,
    team_code: str | None,
    line_manager: str | None,
) -> tuple[tuple[Grade, Team | None, Staff | None] | None, dict[str, str]]:
    """The grade, team and line manager the values name, or what to fix for each field."""
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
    if problems or the_grade is None:
        return None, problems
    return (the_grade, team, manager), {}


def _grade_or_none(value: str) -> Grade | None:
    try:
        return Grade(value.upper())
    except ValueError:
        return None


def _date_problems(
    grade: Grade | None, qualified_on: date | None, senior_since: date | None, today: date
) -> dict[str, str]:
    """What to fix in the dates the experience band derives from, for this grade."""
    problems: dict[str, str] = {}
    if grade is None:
        return problems
    if grade in QUALIFIED_GRADES:
        if qualified_on is None:
            problems["qualified_on"] = (
                f"Enter the date they qualified as a probation officer: a {grade.display_name}'s experience "
                "band counts from it"
            )
        elif qualified_on > today:
            problems["qualified_on"] = "The qualification date cannot be in the future"
        if grade is Grade.SENIOR_PRACTITIONER and senior_since is None:
            problems["senior_practitioner_since"] = "Enter the date their senior-practitioner post began"
        elif senior_since is not None and qualified_on is not None and senior_since < qualified_on:
            problems["senior_practitioner_since"] = (
                "The senior-practitioner post cannot begin before they qualified"
            )
        elif senior_since is not None and senior_since > today:
            problems["senior_practitioner_since"] = (
                "Record the senior-practitioner post from the day it begins"
            )
        return problems
    if qualified_on is not None:
        problems["qualified_on"] = (
            "Leave the qualification date empty: only probation officers and senior practitioners have one, "
            f"not a {grade.display_name}"
        )
    if senior_since is not None:
        problems["senior_practitioner_since"] = (
            f"Leave the senior-practitioner post empty: a {grade.display_name} cannot hold one"
        )
    return problems


def _ask_for_reallocation(
    session: Session, staff: Staff, cases: CaseMessages | None, *, by: str, now: datetime, change: str
) -> int:
    """Tell each open case `staff` owns that its owner is not there to hold it (`reallocation_needed`);
    return how many were told."""
    if cases is None:
        return 0
    session.flush()
    reason = not_there_to_hold(staff, absences_of(session, staff), area_date(now), LONG_ABSENCE_DAYS)
    crns = session.scalars(
        select(Case.crn).where(Case.owner_id == staff.id, Case.closed_at.is_(None)).order_by(Case.crn)
    ).all()
    for crn in crns:
        payload = {"crn": crn, "owner": staff.username, "reason": reason or change, "change": change}
        cases.deliver_message_within(session, REALLOCATION_NEEDED, crn, payload, sender=by)
    return len(crns)


def _history_entry(event: AuditEvent) -> HistoryEntry:
    detail = dict(event.detail or {})
    changes: list[tuple[str, str, str]] = []
    note = ""
    if event.event == "staff_added":
        changes = [(FIELD_WORDS[k], "", _shown(detail.get(k))) for k in FIELD_WORDS if detail.get(k)]
    elif event.event == "staff_roles_set":
        changes = [
            (
                "Roles",
                ", ".join(detail.get("before") or []) or "None",
                ", ".join(detail.get("after") or []) or "None",
            )
        ]
    elif event.event in {"staff_absence_recorded", "staff_absence_removed"}:
        reason = ABSENCE_REASONS.get(str(detail.get("reason")), str(detail.get("reason")))
        note = f"{reason}, {_shown(detail.get('starts_on'))} to {_shown(detail.get('ends_on'))}"
    for key, values in (detail.get("changes") or {}).items():
        changes.append((FIELD_WORDS.get(key, key), _shown(values.get("before")), _shown(values.get("after"))))
    asked = detail.get("cases_to_reallocate")
    if asked:
        note = f"{note}; " if note else ""
        note += f"{asked} case{'s' if asked != 1 else ''} asked to be reallocated"
    return HistoryEntry(event.at, event.actor, HISTORY_EVENTS[event.event], changes, note)


def _shown(value: Any) -> str:
    """A recorded value as the history shows it (dates as 3 April 2026; nothing as 'None')."""
    if value in (None, ""):
        return "None"
    text = str(value)
    try:
        return f"{date.fromisoformat(text):%-d %B %Y}"
    except ValueError:
        return text


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        key: {"before": before[key], "after": after[key]} for key in after if before.get(key) != after[key]
    }


def _record(staff: Staff) -> dict[str, Any]:
    """The parts of a record an administrator keeps, as the audit trail writes them."""
    return {
        "grade": staff.grade.value,
        "team": staff.team.code if staff.team else None,
        "line_manager": staff.line_manager.username if staff.line_manager else None,
        "experience": staff.experience.value if staff.experience else None,
        "qualified_on": _day(staff.qualified_on),
        "senior_practitioner_since": _day(staff.senior_practitioner_since),
    }


def _audit(session: Session, now: datetime, actor: str, event: str, **detail: Any) -> None:
    session.add(AuditEvent(at=now, actor=actor, event=event, detail=detail))
