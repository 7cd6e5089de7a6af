"""Staff passwords, kept beside the register rather than in it, so casework stays free of sign-in.

A credential is keyed by the staff username; the hash is Argon2id (argon2-cffi's defaults). After
MAX_FAILED_ATTEMPTS wrong passwords in a row the credential is locked for LOCK_MINUTES; a right
password while locked is refused too, so guessing gains nothing during the lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from engine.models import NAMING_CONVENTION, UTCDateTime

MAX_FAILED_ATTEMPTS = 5
LOCK_MINUTES = 15

_hasher = PasswordHasher()
# Checked against when the username is unknown, so a wrong username costs as long as a wrong password.
_UNKNOWN_USER_HASH = _hasher.hash("riskflow: no such user")


class WebuiBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class StaffCredential(WebuiBase):
    """A member of staff's password hash and their run of failed sign-ins."""

    __tablename__ = "staff_credential"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]


@dataclass(frozen=True)
class CheckResult:
    """What a password check found: `ok`, `wrong`, or `locked` (with until when)."""

    outcome: str
    locked_until: datetime | None = None
    just_locked: bool = False


def hash_password(password: str) -> str:
    """An Argon2id hash of `password`."""
    return _hasher.hash(password)


def set_password(session: Session, username: str, password: str) -> None:
    """Give `username` a new password and clear any lock."""
    credential = session.get(StaffCredential, username)
    if credential is None:
        credential = StaffCredential(username=username, failed_attempts=0)
        session.add(credential)
    credential.password_hash = hash_password(password)
    credential.failed_attempts = 0
    credential.locked_until = None


def check_password(session: Session, username: str, password: str, now: datetime) -> CheckResult:
    """Check a sign-in attempt, counting failures and locking after too many (the caller commits)."""
    credential = session.get(StaffCredential, username, with_for_update=True)
    if credential is None:
        _verify(_UNKNOWN_USER_HASH, password)
        return CheckResult("wrong")
    if credential.locked_until is not None and credential.locked_until > now:
        return CheckResult("locked", credential.locked_until)
    if _verify(credential.password_hash, password):
        credential.failed_attempts = 0
        credential.locked_until = None
        if _hasher.check_needs_rehash(credential.password_hash):
            credential.password_hash = hash_password(password)
        return CheckResult("ok")
    credential.failed_attempts += 1
    if credential.failed_attempts >= MAX_FAILED_ATTEMPTS:
        credential.failed_attempts = 0
        credential.locked_until = now + timedelta(minutes=LOCK_MINUTES)
        return CheckResult("locked", credential.locked_until, just_locked=True)
    return CheckResult("wrong")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
