"""Who is calling the API: the bearer token, checked on every call, and what it lets the caller do.

Only the `Authorization: Bearer` header counts. A session cookie is never looked at, so a browser
signed in to riskflow cannot be made to call the API (which is why the API needs no CSRF token).
A person token acts as that member of staff, with the roles their grade gives them today; a member
of staff made inactive loses their tokens' access at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import request
from sqlalchemy import select

from casework.models import Staff
from engine.runtime import Actor
from webui import riskflow
from webui.api.problems import ApiProblem
from webui.api.tokens import PERSON, token_for_secret
from webui.auth import SignedInStaff

SYSTEM_ACTOR_PREFIX = "api:"


@dataclass(frozen=True)
class Caller:
    """The holder of the token a call came with."""

    token: str  # the token's name, written with every call in the audit trail
    scopes: frozenset[str]
    staff: SignedInStaff | None  # the member of staff, for a person token

    @property
    def actor(self) -> Actor:
        """The caller as the engine knows them: the person, or the system named by its token."""
        if self.staff is not None:
            return self.staff.actor
        return Actor(SYSTEM_ACTOR_PREFIX + self.token)

    @property
    def who(self) -> str:
        """The name the audit trail records the caller by."""
        return self.actor.user_id

    def require(self, scope: str) -> None:
        """Refuse with 403 unless the token holds `scope`."""
        if scope not in self.scopes:
            raise ApiProblem(
                403, "missing_scope", f"This token does not have the {scope} scope this call needs."
            )

    def person(self) -> SignedInStaff:
        """The member of staff behind the token; a system token is refused (tasks belong to people)."""
        if self.staff is None:
            raise ApiProblem(
                403, "person_only", "Only a person's token can do this: tasks belong to members of staff."
            )
        return self.staff


def authenticate() -> Caller:
    """The caller of this request, or 401 when the bearer token is missing, unknown or revoked."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiProblem(401, "unauthenticated", "Send an API token: Authorization: Bearer <token>.")
    with riskflow().db.transaction(write=False) as session:
        token = token_for_secret(session, secret.strip())
        now = riskflow().clock.now()
        if token is None or token.revoked_at is not None:
            raise ApiProblem(401, "invalid_token", "The token is not known or has been revoked.")
        if not token.works_at(now):
            raise ApiProblem(
                401,
                "expired_token",
                f"The token {token.name} expired on {token.expires_at:%d %B %Y}: ask for a new one.",
            )
        staff: SignedInStaff | None = None
        if token.kind == PERSON:
            member = session.scalar(
                select(Staff).where(Staff.username == token.username, Staff.active.is_(True))
            )
            if member is None:
                raise ApiProblem(
                    401, "invalid_token", "The member of staff this token belongs to is no longer active."
                )
            staff = SignedInStaff(
                username=member.username,
                display_name=member.display_name,
                grade_title=member.grade.display_name,
                roles=member.roles,
                staff_id=member.id,
                team_id=member.team_id,
            )
        return Caller(token.name, frozenset(token.scopes), staff)
