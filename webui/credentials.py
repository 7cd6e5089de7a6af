"""Staff passwords, kept beside the register rather than in it, so casework stays free of sign-in.

A credential is keyed by the staff username; the hash is Argon2id (argon2-cffi's defaults). Failed
sign-ins are counted by webui.throttle, for unknown usernames as for known ones.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, MetaData, String, false
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from engine.models import NAMING_CONVENTION, UTCDateTime

_hasher = PasswordHasher()
# Checked against when the username is unknown, so a wrong username costs as long as a wrong password.
_UNKNOWN_USER_HASH = _hasher.hash("riskflow: no such user")


class WebuiBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class StaffCredential(WebuiBase):
    """A member of staff's password hash, and whether they must change it at their next sign-in (it was
    set for them by an administrator, so someone else has known it)."""

    __tablename__ = "staff_credential"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When the password was set, by the wall clock sessions are timed by: a temporary one expires.
    password_set_at: Mapped[datetime | None]


def hash_password(password: str) -> str:
    """An Argon2id hash of `password`."""
    return _hasher.hash(password)


def set_password(
    session: Session,
    username: str,
    password: str,
    *,
    now: datetime | None = None,
    must_change: bool = False,
) -> None:
    """Give `username` a new password, and end every session signed in with the old one. With
    `must_change`, they must choose their own at their next sign-in (see webui.accounts).

    This does not apply the password policy: webui.accounts does, for every password a person or an
    administrator chooses."""
    from webui.staff_sessions import end_all  # it keeps its table on this module's metadata

    credential = session.get(StaffCredential, username)
    if credential is None:
        credential = StaffCredential(username=username)
        session.add(credential)
    else:
        end_all(session, username, now or datetime.now(UTC), "password_changed")
    credential.password_hash = hash_password(password)
    credential.must_change_password = must_change
    credential.password_set_at = now or datetime.now(UTC)


def must_change_password(session: Session, username: str) -> bool:
    """Whether `username` signed in with a password an administrator set, and must choose their own."""
    credential = session.get(StaffCredential, username)
    return credential is not None and credential.must_change_password


def temporary_password_expired(session: Session, username: str, now: datetime, lifetime: timedelta) -> bool:
    """Whether `username` holds a temporary password set `lifetime` or more before `now` (one with no
    time it was set counts as expired: nobody can say how long it has been known)."""
    credential = session.get(StaffCredential, username)
    if credential is None or not credential.must_change_password:
        return False
    return credential.password_set_at is None or now >= credential.password_set_at + lifetime


def check_password(session: Session, username: str, password: str) -> bool:
    """Whether `password` is `username`'s. An unknown username costs as long as a wrong password."""
    credential = session.get(StaffCredential, username)
    if credential is None:
        _verify(_UNKNOWN_USER_HASH, password)
        return False
    if not _verify(credential.password_hash, password):
        return False
    if _hasher.check_needs_rehash(credential.password_hash):
        credential.password_hash = hash_password(password)
    return True


def spend_a_check(password: str) -> None:
    """Cost as long as a password check, for an attempt refused without one (see webui.auth)."""
    _verify(_UNKNOWN_USER_HASH, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
