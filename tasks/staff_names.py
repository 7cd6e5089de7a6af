"""Staff as their colleagues know them: the one lookup from usernames to display names.

The engine and the register name people by username; every screen shows "J. Smith" instead.
A username with no staff record (the system, a service) has no entry: callers show it as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import OutOfOffice, Staff


def staff_names(session: Session, usernames: Iterable[str | None]) -> dict[str, str]:
    """Display names for the usernames that are staff (one query; none when there are none)."""
    wanted = {u for u in usernames if u}
    if not wanted:
        return {}
    query = select(Staff.username, Staff.display_name).where(Staff.username.in_(sorted(wanted)))
    return {username: name for username, name in session.execute(query)}


def display_names(
    session: Session, usernames: Iterable[str | None], today: date | None = None
) -> dict[str, str]:
    """Names as a manager needs them: marked "(on leave)" when out of the office on `today` (if given)
    and "(left)" when the account is no longer active."""
    wanted = {u for u in usernames if u}
    names = staff_names(session, wanted)
    if not wanted:
        return names
    if today is not None:
        away = session.scalars(
            select(Staff.username)
            .join(OutOfOffice, OutOfOffice.staff_id == Staff.id)
            .where(Staff.username.in_(wanted), OutOfOffice.until >= today)
        )
        for username in away:
            names[username] = f"{names.get(username, username)} (on leave)"
    inactive = session.scalars(
        select(Staff.username).where(Staff.username.in_(wanted), Staff.active.is_(False))
    )
    for username in inactive:
        names[username] = f"{names.get(username, username)} (left)"
    return names


def with_staff_names(session: Session, message: str, usernames: Iterable[str | None]) -> str:
    """`message` with each of these usernames replaced by the person's name (engine messages name
    people by username)."""
    for username, name in staff_names(session, usernames).items():
        message = message.replace(username, name)
    return message
