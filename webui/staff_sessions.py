"""Signed-in sessions kept on the server, so that ending one ends every copy of its cookie.

The session cookie is signed, but a signature only proves the server made it: on its own, a copy
taken from a shared computer or a proxy's log would open case records until it expired, whatever
the person did. So each sign-in makes a row here, and the cookie carries only a random secret that
names it (the row keeps its SHA-256, never the secret). Every request looks the row up: a session
that was ended (signing out, a new password, the person made inactive, an administrator's `riskflow
staff sign-out-everywhere`), has been idle too long (RISKFLOW_SESSION_IDLE_MINUTES, 30 by default)
or is older than a working day (8 hours, however busy) signs the person out, whichever copy of the
cookie comes back.

Each row says how the person signed in (`password`, or `oidc` through the area's identity provider):
the temporary-password rules apply only to a password sign-in, and turning password sign-in off
(RISKFLOW_LOCAL_SIGN_IN=false) ends the sessions it began.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.models import Id
from webui.credentials import WebuiBase

SECRET_HASH_LENGTH = 64  # SHA-256 in hex
# Last-seen times are written at most this often, so a busy page does not write on every click.
TOUCH_EVERY = timedelta(minutes=1)
PASSWORD = "password"  # noqa: S105 - how a session was begun, not a password
OIDC = "oidc"
# Rows are kept this long after they could last have been used, for anyone looking into a sign-in.
KEEP_FOR = timedelta(days=30)


class StaffSession(WebuiBase):
    """One sign-in: whose, when it began and was last used, and when and why it ended."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(SECRET_HASH_LENGTH), unique=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(40))
    signed_in_with: Mapped[str] = mapped_column(String(20), default=PASSWORD, server_default=PASSWORD)


@dataclass(frozen=True)
class Limits:
    """How long a session may sit unused, and how long it may last at all."""

    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True)
class Verdict:
    """Whether a cookie's session still holds; if not, why (`ended`, `idle`, `expired`, `unknown`)."""

    live: bool
    reason: str = ""
    session_id: int | None = None
    touch: bool = False  # live, and its last-seen time is worth writing
    signed_in_with: str = PASSWORD  # how the session began: PASSWORD or OIDC


def begin(db: Session, username: str, now: datetime, limits: Limits, signed_in_with: str = PASSWORD) -> str:
    """Start a session for `username`, who signed in with `signed_in_with` (PASSWORD or OIDC); return the
    secret for the cookie (never stored)."""
    db.execute(delete(StaffSession).where(StaffSession.last_seen_at < now - limits.absolute - KEEP_FOR))
    secret = secrets.token_urlsafe(32)
    db.add(
        StaffSession(
            secret_hash=_hash(secret),
            username=username,
            started_at=now,
            last_seen_at=now,
            signed_in_with=signed_in_with,
        )
    )
    return secret


def check(db: Session, secret: str | None, username: str, now: datetime, limits: Limits) -> Verdict:
    """Whether the session a cookie names is live for `username` now."""
    row = db.scalar(select(StaffSession).where(StaffSession.secret_hash == _hash(secret))) if secret else None
    if row is None or row.username != username:
        return Verdict(False, "unknown")
    if row.ended_at is not None:
        return Verdict(False, "ended", row.id)
    if now - row.started_at >= limits.absolute:
        return Verdict(False, "expired", row.id)
    if now - row.last_seen_at >= limits.idle:
        return Verdict(False, "idle", row.id)
    touch = now - row.last_seen_at >= TOUCH_EVERY
    return Verdict(True, session_id=row.id, touch=touch, signed_in_with=row.signed_in_with)


def touch(db: Session, session_id: int | None, now: datetime) -> None:
    """Note that the session was used now."""
    db.execute(update(StaffSession).where(StaffSession.id == session_id).values(last_seen_at=now))


def end(db: Session, session_id: int | None, now: datetime, reason: str) -> None:
    """End one session (if it is not ended already)."""
    db.execute(
        update(StaffSession)
        .where(StaffSession.id == session_id, StaffSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )


def end_all(db: Session, username: str, now: datetime, reason: str) -> int:
    """End every live session of `username`; return how many there were."""
    result = db.execute(
        update(StaffSession)
        .where(StaffSession.username == username, StaffSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE's result has a row count


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
