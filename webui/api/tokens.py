"""API tokens: who a call to the JSON API comes from, and what it may do.

A token is issued to a member of staff (the call acts as them: their roles and their need to know)
or to a named system such as the court results feed or OASys (the call may do only what its scopes
allow and sees no case data beyond them). Only a SHA-256 hash of the secret is kept: the secret is
shown once, when the token is issued. A revoked token is refused from the next call on. Issuing and
revoking are written to the audit trail.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import JSON, MetaData, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from casework.models import Staff
from engine.errors import Conflict, EngineError, NotFound
from engine.models import NAMING_CONVENTION, AuditEvent, Id, UTCDateTime

# Every scope a token can hold; each API operation needs exactly one of them.
SCOPES: dict[str, str] = {
    "cases:read": "Read cases on the register (a person only those they need to know about).",
    "cases:write": "Put a case identified at court on the register and start its process.",
    "tasks:read": "List and read a person's tasks and their forms.",
    "tasks:write": "Claim, release and complete a person's tasks.",
    "messages:send": "Deliver messages from outside (sentencing outcome, OASys, arrest or new charge).",
    "instances:read": "List and read process instances and the deployed definitions.",
    "instances:manage": "Retry, skip, suspend, resume an instance and reassign its tasks (managers).",
}
PERSON = "person"
SYSTEM = "system"
SECRET_PREFIX = "rf_"  # noqa: S105 - marks a riskflow secret, is not one
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,89}$")
# A token works for a year unless issued for less; never for more than two (then it is issued again).
DEFAULT_LIFETIME = timedelta(days=365)
MAX_LIFETIME = timedelta(days=730)


class ApiBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class ApiToken(ApiBase):
    """A bearer token: whose it is, what it may do, and whether it still works."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # "person" or "system"
    username: Mapped[str | None] = mapped_column(String(100))  # the member of staff, for a person token
    scopes: Mapped[list[str]] = mapped_column(JSON)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    expires_at: Mapped[datetime]

    def works_at(self, now: datetime) -> bool:
        """Whether the token still works at `now`: not revoked and not expired."""
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued, with its secret (shown this once, never stored)."""

    name: str
    kind: str
    username: str | None
    scopes: list[str]
    secret: str
    expires_at: datetime


def hash_secret(secret: str) -> str:
    """The stored form of a secret (high-entropy, so a plain SHA-256 is enough)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_token(
    session: Session,
    name: str,
    scopes: list[str],
    *,
    username: str | None,
    at: datetime,
    by: str,
    valid_for: timedelta = DEFAULT_LIFETIME,
) -> IssuedToken:
    """Issue a token to `username` (a person token) or, without one, to the system called `name`,
    working for `valid_for` (at most MAX_LIFETIME): a token nobody renews stops working by itself."""
    if not timedelta(0) < valid_for <= MAX_LIFETIME:
        raise EngineError(
            f"A token works for at least a minute and at most {MAX_LIFETIME.days} days; "
            f"{valid_for} is not allowed.",
            code="invalid_lifetime",
        )
    if not NAME_PATTERN.match(name):
        raise EngineError(
            f"{name!r} is not a token name: use 2 to 90 lower-case letters, digits, dots, dashes or "
            "underscores, such as court.results or oasys.",
            code="invalid_token_name",
        )
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise EngineError(
            f"Unknown scope(s): {', '.join(unknown) or '(none given)'}. Choose from: {', '.join(SCOPES)}.",
            code="invalid_scope",
        )
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise Conflict(f"There is already a token called {name!r}: revoke it or choose another name.")
    if username is not None:
        staff = session.scalar(select(Staff).where(Staff.username == username))
        if staff is None or not staff.active:
            raise NotFound(f"There is no active member of staff with the username {username!r}.")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    kind = PERSON if username is not None else SYSTEM
    ordered = sorted(set(scopes))
    session.add(
        ApiToken(
            name=name,
            kind=kind,
            username=username,
            scopes=ordered,
            secret_hash=hash_secret(secret),
            created_at=at,
            created_by=by,
            expires_at=at + valid_for,
        )
    )
    session.add(
        AuditEvent(
            at=at,
            actor=by,
            event="api_token_issued",
            detail={
                "token": name,
                "kind": kind,
                "username": username,
                "scopes": ordered,
                "expires_at": (at + valid_for).isoformat(),
            },
        )
    )
    return IssuedToken(name, kind, username, ordered, secret, at + valid_for)


def revoke_token(session: Session, name: str, *, at: datetime, by: str) -> ApiToken:
    """Revoke the token called `name`: it is refused from the next call on."""
    token = session.scalar(select(ApiToken).where(ApiToken.name == name).with_for_update())
    if token is None:
        raise NotFound(f"There is no token called {name!r}.")
    if token.revoked_at is None:
        token.revoked_at = at
        token.revoked_by = by
        session.add(AuditEvent(at=at, actor=by, event="api_token_revoked", detail={"token": name}))
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, working or revoked, by name."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))


def token_for_secret(session: Session, secret: str) -> ApiToken | None:
    """The token with this secret, working or not (the caller says which), or None."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    return session.scalar(select(ApiToken).where(ApiToken.secret_hash == hash_secret(secret)))
