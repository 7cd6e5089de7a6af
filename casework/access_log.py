"""The access log: every time someone opens a case record, or is refused it (DPA 2018 s.62, domain.md 6.3).

A table of its own rather than the engine's audit trail: it grows with every page view, so it is
kept narrow, append-only and indexed for the two questions asked of it ("who looked at this case?"
and "what did this person look at?"). A view that needed a justification carries it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from casework.models import Case, CaseworkBase, Id, Staff
from casework.roles import Role


class AccessOutcome(StrEnum):
    """What happened when someone asked for a case."""

    VIEWED = "viewed"
    REFUSED = "refused"
    REASON_GIVEN = "reason_given"  # a justification given before the record is shown


class Justification(StrEnum):
    """Why someone opened a case when policy asked them to say (domain.md 6.4: a reason code and text)."""

    MANAGEMENT_OVERSIGHT = "MANAGEMENT_OVERSIGHT"
    COVERING_ABSENCE = "COVERING_ABSENCE"
    PUBLIC_PROTECTION = "PUBLIC_PROTECTION"
    QUALITY_ASSURANCE = "QUALITY_ASSURANCE"
    INFORMATION_REQUEST = "INFORMATION_REQUEST"

    @property
    def display_name(self) -> str:
        """The reason as the form offers it."""
        return JUSTIFICATION_TITLES[self]


JUSTIFICATION_TITLES: dict[Justification, str] = {
    Justification.MANAGEMENT_OVERSIGHT: "Management oversight or escalation",
    Justification.COVERING_ABSENCE: "Covering for an absent colleague",
    Justification.PUBLIC_PROTECTION: "Public protection or MAPPA work",
    Justification.QUALITY_ASSURANCE: "Quality assurance or audit",
    Justification.INFORMATION_REQUEST: "A request for information (police, court or partner agency)",
}


class CaseAccess(CaseworkBase):
    """One look at a case record (or a refusal): who, when, which case, on what basis, and why."""

    __tablename__ = "case_access"
    __table_args__ = (
        Index("ix_case_access_case_at", "case_id", "at"),
        Index("ix_case_access_username_at", "username", "at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime]
    username: Mapped[str] = mapped_column(String(100))
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"))
    crn: Mapped[str] = mapped_column(String(7))
    outcome: Mapped[str] = mapped_column(String(20))
    # What entitled (or did not entitle) them: casework.access.may_view's reason.
    basis: Mapped[str] = mapped_column(Text)
    justification: Mapped[str | None] = mapped_column(String(30))
    justification_text: Mapped[str | None] = mapped_column(Text)


def record_access(
    session: Session,
    *,
    at: datetime,
    username: str,
    case_id: int,
    crn: str,
    outcome: AccessOutcome,
    basis: str,
    justification: Justification | None = None,
    justification_text: str | None = None,
) -> CaseAccess:
    """Append one line to the access log (in the caller's transaction)."""
    entry = CaseAccess(
        at=at,
        username=username,
        case_id=case_id,
        crn=crn,
        outcome=outcome.value,
        basis=basis,
        justification=justification.value if justification else None,
        justification_text=justification_text,
    )
    session.add(entry)
    return entry


def accesses_of(session: Session, case_id: int, *, limit: int = 100) -> list[CaseAccess]:
    """The latest looks at a case, newest first."""
    query = (
        select(CaseAccess)
        .where(CaseAccess.case_id == case_id)
        .order_by(CaseAccess.at.desc(), CaseAccess.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def reason_required(staff: Staff, case: Case) -> str | None:
    """Why `staff` must give a reason before opening `case` (None: no reason needed).

    Policy (domain.md 6.4, s.62(2)(a)): a limited-access case is opened only with a reason, by
    anyone allowed to see it; and an ACO opening a case outside their own district (a team whose
    SPO they do not manage) says why, since area-wide sight is for oversight, not browsing.
    Everyone else who may see a case works on it, and their reason is their relationship to it.
    """
    if case.access_limitation is not None:
        return "This is a limited-access case. Say why you need to open it before it is shown."
    if not staff.holds(Role.ASSISTANT_CHIEF_OFFICER):
        return None
    spo = case.team.spo if case.team is not None else None
    if spo is not None and spo.line_manager_id == staff.id:
        return None
    if case.owner is not None and staff.id in {case.owner.id, case.owner.line_manager_id}:
        return None
    return "This case is outside the teams you manage. Say why you need to open it before it is shown."
