"""The access log: every read of a case's data, and every refusal, whoever asked and however
(DPA 2018 s.62 "consultation", domain.md 6.3).

One function writes it, `record_reads`, for every way case data is shown: the case record, the task
page, the register list, the monitor's instance page, the API's reads, CSV exports and the access
log's own pages. Each line names one case, who read it (a signed-in person, or an API token and
whose), for what (`Purpose`) and when (the caller passes the app's clock). A page or call that
shows many cases writes one line per case shown, so "who has seen this case?" is one indexed query
whatever showed it; one that shows none (a search with no results) writes a single line with no
case, so the search itself is on record.

A table of its own rather than the engine's audit trail: it grows with every page view, so it is
kept narrow, append-only and indexed for the two questions asked of it ("who looked at this case?"
and "what did this person look at?"). A view that needed a justification carries it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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


class Purpose(StrEnum):
    """What the case data was read for: the page, list, call or export that showed it."""

    CASE_RECORD = "case record"
    REPORT_CHANGE = "report a change"
    ACCESS_LISTS = "access lists"
    TASK_PAGE = "task page"
    RECENTLY_COMPLETED = "recently completed"
    REGISTER_LIST = "register list"
    MONITOR_INSTANCE = "monitor: instance"
    MONITOR_LIST = "monitor: list"
    API_CASE = "API: case"
    API_CASE_LIST = "API: case list"
    API_INSTANCE = "API: instance"
    API_INSTANCE_LIST = "API: instance list"
    API_TASK = "API: task"
    API_TASK_LIST = "API: task list"
    ACCESS_LOG = "access log"
    EXPORT = "export"


class CallerKind(StrEnum):
    """How the reader came: signed in to the web pages, or with an API token."""

    PERSON = "person"
    API_TOKEN = "api_token"  # noqa: S105 - a kind of caller, not a secret


@dataclass(frozen=True)
class Reader:
    """Who read: a member of staff's username (or, for a system's token, the name the API audits it
    by), how they came, and the token's name when they came with one."""

    username: str
    kind: CallerKind = CallerKind.PERSON
    token: str | None = None

    @property
    def description(self) -> str:
        """The reader in words, for the log's pages: "jo.smith", "jo.smith (API token ops-tool)"."""
        if self.kind is CallerKind.API_TOKEN:
            return f"{self.username} (API token {self.token})"
        return self.username


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
    """One read of a case's data (or a refusal): who, how, when, which case, for what, on what basis,
    and why. A line with no case is a list or search that showed none."""

    __tablename__ = "case_access"
    __table_args__ = (
        Index("ix_case_access_case_at", "case_id", "at"),
        Index("ix_case_access_username_at", "username", "at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime]
    username: Mapped[str] = mapped_column(String(100))
    caller_kind: Mapped[str] = mapped_column(String(20))  # CallerKind
    token: Mapped[str | None] = mapped_column(String(100))  # the API token's name, when one was used
    purpose: Mapped[str] = mapped_column(String(40))  # Purpose
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id"))
    crn: Mapped[str | None] = mapped_column(String(7))
    outcome: Mapped[str] = mapped_column(String(20))
    # What entitled (or did not entitle) them: casework.access.may_view's reason.
    basis: Mapped[str] = mapped_column(Text)
    justification: Mapped[str | None] = mapped_column(String(30))
    justification_text: Mapped[str | None] = mapped_column(Text)
    # What else says what was shown: the search or list asked for, the task or instance, the export.
    detail: Mapped[str | None] = mapped_column(Text)

    @property
    def reader(self) -> Reader:
        """Who read, as recorded."""
        return Reader(self.username, CallerKind(self.caller_kind), self.token)


DETAIL_LIMIT = 500


def record_reads(
    session: Session,
    *,
    at: datetime,
    reader: Reader,
    purpose: Purpose,
    cases: Iterable[Case | str | None],
    basis: str,
    outcome: AccessOutcome = AccessOutcome.VIEWED,
    justification: Justification | None = None,
    justification_text: str | None = None,
    detail: str | None = None,
) -> list[CaseAccess]:
    """Append to the access log, in the caller's transaction, one line for each case shown (a Case,
    or a CRN that is looked up), or a single line with no case when none was shown.

    This is the only writer of the log: every page, list, API call and export that shows case data
    calls it (through webui.reads.log_read in the web app).
    """
    wanted = list(dict.fromkeys(c for c in cases if c))  # once each, in the order shown (None: no case)
    found = _cases_by_crn(session, [c for c in wanted if isinstance(c, str)])
    shown = [c if isinstance(c, Case) else found.get(c.strip().upper()) for c in wanted]
    if not shown:
        shown = [None]
    entries = [
        CaseAccess(
            at=at,
            username=reader.username,
            caller_kind=reader.kind.value,
            token=reader.token,
            purpose=purpose.value,
            case_id=case.id if case is not None else None,
            crn=case.crn if case is not None else None,
            outcome=outcome.value,
            basis=basis,
            justification=justification.value if justification else None,
            justification_text=justification_text,
            detail=detail[:DETAIL_LIMIT] if detail else None,
        )
        for case in shown
    ]
    session.add_all(entries)
    return entries


def _cases_by_crn(session: Session, crns: list[str]) -> dict[str, Case]:
    """The register's cases for these CRNs (a business key with no case on the register is left out)."""
    keys = sorted({crn.strip().upper() for crn in crns})
    if not keys:
        return {}
    return {case.crn: case for case in session.scalars(select(Case).where(Case.crn.in_(keys)))}


def reads_of_case(session: Session, case_id: int, *, limit: int) -> list[CaseAccess]:
    """The latest reads of a case (and refusals), newest first."""
    query = (
        select(CaseAccess)
        .where(CaseAccess.case_id == case_id)
        .order_by(CaseAccess.at.desc(), CaseAccess.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def reads_by(session: Session, username: str, *, team_id: int | None, limit: int) -> list[CaseAccess]:
    """The latest reads by one person or system (under every token of theirs), newest first; with
    `team_id`, only reads of that team's cases."""
    query = select(CaseAccess).where(CaseAccess.username == username)
    if team_id is not None:
        query = query.join(Case, Case.id == CaseAccess.case_id).where(Case.team_id == team_id)
    query = query.order_by(CaseAccess.at.desc(), CaseAccess.id.desc()).limit(limit)
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
