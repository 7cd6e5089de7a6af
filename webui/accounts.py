"""Local accounts: the staff list and its passwords, as an area runs them.

Every change here is written to the audit trail with who made it, and each refuses bad input with an
AccountError that says what to fix, before anything is changed. The `riskflow staff` commands
(webui.cli) and the change-password page (webui.auth) call these; an area that signs its staff in
through its own identity provider later would still keep its staff list here, and only the
password functions would not apply to it.

Every password a person or an administrator chooses meets webui.password_policy. A password an
administrator sets (a reset) is temporary: the person must choose their own at their next sign-in.
"""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import Staff, Team
from casework.roles import Role
from casework.vocabulary import CASE_HOLDING_GRADES, ExperienceBand, Grade
from engine.models import AuditEvent
from webui import password_policy, staff_sessions
from webui.credentials import check_password, set_password

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,99}$")
NAME_LIMIT = 100
WRONG_CURRENT = "Your current password is not right. Enter the password you signed in with."
# Letters and digits nobody misreads from a screen (no 0/o, 1/l/i), in four groups of four.
_TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


class AccountError(Exception):
    """A change to an account refused, with what to fix; nothing was changed."""

    def __init__(self, message: str, field: str = "new") -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # on the change-password page, the field the message is about


def change_own_password(
    session: Session, username: str, current: str, new: str, confirm: str, *, now: datetime
) -> None:
    """A signed-in person's new password in place of `current`; ends every session of theirs
    (the caller starts a fresh one for the browser they are using). A wrong `current` is a guess at
    the password: the caller counts it against the sign-in throttle (webui.auth)."""
    staff = _staff(session, username)
    if not check_password(session, username, current):
        raise AccountError(WRONG_CURRENT, "current")
    if new != confirm:
        raise AccountError("The two new passwords are not the same. Type the new password twice.", "confirm")
    if new == current:
        raise AccountError("Your new password must be different from your current one.")
    _require_policy(new, staff)
    set_password(session, username, new, now=now)
    _audit(session, now, username, "password_changed", username=username)


def reset_password(
    session: Session, username: str, *, by: str, now: datetime, temporary: str | None = None
) -> str:
    """Give `username` a temporary password (`temporary`, or a random one) that they must change at
    their next sign-in; end every session of theirs. Returns the temporary password."""
    staff = _staff(session, username)
    if temporary is None:
        temporary = _random_temporary_password(staff)
    else:
        _require_policy(temporary, staff)
    set_password(session, username, temporary, now=now, must_change=True)
    _audit(session, now, by, "password_reset", username=username)
    return temporary


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
) -> Staff:
    """Put a new member of staff on the staff list (active, with no password until one is reset)."""
    if not USERNAME_PATTERN.match(username):
        raise AccountError(
            f"{username!r} is not a username: use 2 to 100 lower-case letters, digits, dots, hyphens or "
            "underscores, starting with a letter or digit (for example jo.bloggs)"
        )
    if session.scalar(select(Staff.id).where(Staff.username == username)) is not None:
        raise AccountError(f"there is already a member of staff with username {username!r}")
    name = " ".join(display_name.split())
    if not name or len(name) > NAME_LIMIT:
        raise AccountError(f"give the person's name as staff know it, 1 to {NAME_LIMIT} characters")
    the_grade = _grade(grade)
    team = _team(session, team_code)
    band = _experience(the_grade, experience)
    staff = Staff(
        username=username,
        display_name=name,
        grade=the_grade,
        team=team,
        experience=band,
        started_on=started_on,
        active=True,
        extra_roles=[],
    )
    session.add(staff)
    session.flush()
    _audit(
        session,
        now,
        by,
        "staff_added",
        username=username,
        grade=the_grade.value,
        team=team.code if team else None,
    )
    return staff


def set_extra_roles(session: Session, username: str, roles: list[str], *, by: str, now: datetime) -> Staff:
    """Give `username` exactly these roles beyond their grade's (an empty list takes them all away)."""
    staff = _staff(session, username)
    known = {role.value for role in Role}
    unknown = sorted(set(roles) - known)
    if unknown:
        raise AccountError(f"{', '.join(unknown)} is not a role: use {', '.join(sorted(known))}")
    before = list(staff.extra_roles)
    staff.extra_roles = sorted(set(roles))
    _audit(session, now, by, "staff_roles_set", username=username, before=before, after=staff.extra_roles)
    return staff


def deactivate(session: Session, username: str, *, by: str, now: datetime) -> int:
    """Make `username` inactive (they can no longer sign in) and end every session of theirs; return
    how many sessions were ended. Their cases and history stay as they are."""
    staff = _staff(session, username)
    if not staff.active:
        raise AccountError(f"{username} is already inactive")
    staff.active = False
    ended = staff_sessions.end_all(session, username, now, "inactive")
    _audit(session, now, by, "staff_deactivated", username=username, sessions=ended)
    return ended


def reactivate(session: Session, username: str, *, by: str, now: datetime) -> Staff:
    """Make `username` active again (they sign in with the password they had, or reset it)."""
    staff = _staff(session, username)
    if staff.active:
        raise AccountError(f"{username} is already active")
    staff.active = True
    _audit(session, now, by, "staff_reactivated", username=username)
    return staff


def staff_list(session: Session) -> list[Staff]:
    """Everyone on the staff list, active first, by username."""
    return list(session.scalars(select(Staff).order_by(Staff.active.desc(), Staff.username)))


def _require_policy(password: str, staff: Staff) -> None:
    problems = password_policy.problems_with(
        password, password_policy.Person(username=staff.username, display_name=staff.display_name)
    )
    if problems:
        raise AccountError(" ".join(problems))


def _random_temporary_password(staff: Staff) -> str:
    person = password_policy.Person(username=staff.username, display_name=staff.display_name)
    while True:  # a random one meets the policy all but never; draw again if not
        groups = ["".join(secrets.choice(_TEMPORARY_ALPHABET) for _ in range(4)) for _ in range(4)]
        candidate = "-".join(groups)
        if not password_policy.problems_with(candidate, person):
            return candidate


def _staff(session: Session, username: str) -> Staff:
    staff = session.scalar(select(Staff).where(Staff.username == username))
    if staff is None:
        raise AccountError(f"there is no member of staff with username {username!r}")
    return staff


def _grade(value: str) -> Grade:
    try:
        return Grade(value.upper())
    except ValueError:
        raise AccountError(
            f"{value!r} is not a grade: use one of {', '.join(g.value for g in Grade)}"
        ) from None


def _team(session: Session, code: str | None) -> Team | None:
    if code is None:
        return None
    team = session.scalar(select(Team).where(Team.code == code))
    if team is None:
        codes = ", ".join(session.scalars(select(Team.code).order_by(Team.code))) or "none yet"
        raise AccountError(f"there is no team with code {code!r} (the teams are: {codes})")
    return team


def _experience(grade: Grade, value: str | None) -> ExperienceBand | None:
    bands = ", ".join(f"{band.value} ({band.name.replace('_', ' ').lower()})" for band in ExperienceBand)
    if grade not in CASE_HOLDING_GRADES:
        if value is not None:
            raise AccountError(f"only Offender Managers have an experience band, not a {grade.display_name}")
        return None
    if value is None:
        raise AccountError(f"an Offender Manager needs --experience: one of {bands}")
    try:
        return ExperienceBand(value.upper())
    except ValueError:
        raise AccountError(f"{value!r} is not an experience band: use one of {bands}") from None


def _audit(session: Session, now: datetime, actor: str, event: str, **detail: Any) -> None:
    session.add(AuditEvent(at=now, actor=actor, event=event, detail=detail))
