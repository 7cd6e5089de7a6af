"""Local accounts' passwords and sessions: a member of staff changes their own password, and the
staff list's use cases (tasks.staff_admin) set temporary passwords and end sessions through
SignInRecords.

The staff list itself (adding, changing, deactivating staff) is run by tasks.staff_admin, for the
`riskflow staff` commands and the staff pages alike; an area that signs its staff in through its
own identity provider later would still keep its staff list there, and only the password functions
here would not apply to it.

Every password a person or an administrator chooses meets webui.password_policy. A password an
administrator sets (a reset) is temporary: the person must choose their own at their next sign-in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import Staff
from engine.clock import Clock
from engine.models import AuditEvent
from tasks.staff_admin import StaffAdminRefused
from webui import password_policy, staff_sessions
from webui.credentials import StaffCredential, check_password, set_password

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


@dataclass(frozen=True)
class SignInRecords:
    """The passwords and sessions this web app keeps, as tasks.staff_admin asks for them; timed on
    `wall_clock` (real time, as sign-ins are: a demo's clock may run ahead)."""

    wall_clock: Clock

    def give_temporary_password(self, session: Session, staff: Staff, temporary: str | None) -> str:
        """Set a temporary password (`temporary`, which must meet the policy, or a random one) that must
        be changed at the next sign-in; every session of theirs ends. Returns it."""
        if temporary is None:
            temporary = _random_temporary_password(staff)
        else:
            problems = _problems(temporary, staff)
            if problems:
                raise StaffAdminRefused({"password": " ".join(problems)})
        set_password(session, staff.username, temporary, now=self.wall_clock.now(), must_change=True)
        return temporary

    def end_sessions(self, session: Session, username: str, reason: str) -> int:
        """End every live session of `username`; return how many there were."""
        return staff_sessions.end_all(session, username, self.wall_clock.now(), reason)


def sign_in_state(session: Session, staff: Staff) -> str:
    """How `staff` signs in now, in words: inactive, no password yet, temporary password, or active."""
    credential = session.get(StaffCredential, staff.username)
    if not staff.active:
        return "inactive"
    if credential is None:
        return "no password yet"
    if credential.must_change_password:
        return "temporary password"
    return "active"


def _require_policy(password: str, staff: Staff) -> None:
    problems = _problems(password, staff)
    if problems:
        raise AccountError(" ".join(problems))


def _problems(password: str, staff: Staff) -> list[str]:
    return password_policy.problems_with(
        password, password_policy.Person(username=staff.username, display_name=staff.display_name)
    )


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


def _audit(session: Session, now: datetime, actor: str, event: str, **detail: Any) -> None:
    session.add(AuditEvent(at=now, actor=actor, event=event, detail=detail))
