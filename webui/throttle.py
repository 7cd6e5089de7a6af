"""Failed sign-ins, counted in the database so every web process sees the same counts.

Two limits, read from the same record of failures (one row per failure, with when, from which
address and for which username as typed):

- **Per address** (the main defence): after ADDRESS_LIMIT failed sign-ins from one client address
  within WINDOW, every sign-in from that address is refused, before any password is checked, until
  the oldest of those failures is WINDOW old. The person is told how many minutes to wait. It says
  nothing about any username, so it cannot be used to find out which usernames exist.
- **Per username** (a slowdown, not a lock): after USERNAME_LIMIT failures for one username within
  WINDOW, from any addresses, that username may be tried once a USERNAME_INTERVAL. An attempt
  sooner is refused without looking at the password and gets the same answer as a wrong password.
  Unknown usernames are counted and slowed exactly as known ones, so the slowdown tells nobody
  whether a username exists. It bounds guessing spread over many addresses (at most one guess a
  minute per username) without letting anyone lock a named member of staff out: the right password
  gets in at the next minute.

A right password clears its username's failures (not its address's: one good account must not
reset the address's count). Rows older than WINDOW are deleted as new failures come in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.models import Id
from webui.credentials import WebuiBase

ADDRESS_LIMIT = 20  # an office behind one address may mistype now and then; a guesser may not
USERNAME_LIMIT = 5
WINDOW = timedelta(minutes=15)
USERNAME_INTERVAL = timedelta(minutes=1)
ADDRESS_LENGTH = 64  # the longest IPv6 text form is 45 characters
USERNAME_LENGTH = 100


class SignInFailure(WebuiBase):
    """One failed sign-in: when, from which client address, for which username (as typed)."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (
        Index("ix_sign_in_failure_address_at", "address", "at"),
        Index("ix_sign_in_failure_username_at", "username", "at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime]
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    username: Mapped[str] = mapped_column(String(USERNAME_LENGTH))


@dataclass(frozen=True)
class Hold:
    """A sign-in refused before its password is checked: `address` or `username`, and until when."""

    kind: str
    until: datetime

    def minutes_left(self, now: datetime) -> int:
        """Whole minutes to wait, at least 1."""
        return max(1, math.ceil((self.until - now).total_seconds() / 60))


def hold_on(session: Session, address: str, username: str, now: datetime) -> Hold | None:
    """Why a sign-in from `address` for `username` is refused now, or None when it may be tried."""
    since = now - WINDOW
    from_address = list(
        session.scalars(
            select(SignInFailure.at)
            .where(SignInFailure.address == _address(address), SignInFailure.at > since)
            .order_by(SignInFailure.at)
        )
    )
    if len(from_address) >= ADDRESS_LIMIT:
        # Open again when enough of them have aged out of the window to be under the limit.
        return Hold("address", from_address[len(from_address) - ADDRESS_LIMIT] + WINDOW)
    count, latest = session.execute(
        select(func.count(), func.max(SignInFailure.at)).where(
            SignInFailure.username == username[:USERNAME_LENGTH], SignInFailure.at > since
        )
    ).one()
    if count >= USERNAME_LIMIT and now < latest + USERNAME_INTERVAL:
        return Hold("username", latest + USERNAME_INTERVAL)
    return None


def record_failure(session: Session, address: str, username: str, now: datetime) -> None:
    """Count a failed sign-in (and forget those too old to count)."""
    session.execute(delete(SignInFailure).where(SignInFailure.at <= now - WINDOW))
    session.add(SignInFailure(at=now, address=_address(address), username=username[:USERNAME_LENGTH]))


def failures_for(session: Session, username: str, now: datetime) -> int:
    """How many failures count against `username` now."""
    return (
        session.scalar(
            select(func.count()).where(
                SignInFailure.username == username[:USERNAME_LENGTH], SignInFailure.at > now - WINDOW
            )
        )
        or 0
    )


def failures_from(session: Session, address: str, now: datetime) -> int:
    """How many failures count against `address` now."""
    return (
        session.scalar(
            select(func.count()).where(
                SignInFailure.address == _address(address), SignInFailure.at > now - WINDOW
            )
        )
        or 0
    )


def forget_username(session: Session, username: str) -> None:
    """A right password: the username's failures no longer count."""
    session.execute(delete(SignInFailure).where(SignInFailure.username == username[:USERNAME_LENGTH]))


def _address(address: str) -> str:
    return address[:ADDRESS_LENGTH]
