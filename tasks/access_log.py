"""The access log for managers: who has read a case, and what a person has read, within the cases
the manager oversees.

An SPO searches the reads of their own team's cases, an ACO those of the whole area: the monitor's
scope (tasks.monitor.Scope.covers, which also applies casework.access.may_view, so a limited-access
case that keeps a manager out keeps its log from them too). A search by person shows only the lines
on cases the manager oversees; lines that name no case (a search that showed nothing) only to an ACO.
Writing the log is casework.access_log.record_reads; reading the log is itself a read, which the
web page logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from casework.access_log import CaseAccess, Justification, reads_by, reads_of_case
from casework.models import AccessLimitation, Case
from tasks.monitor import Scope, case_in_scope
from tasks.staff_names import display_names

READS_LIMIT = 1000  # the newest lines a search shows (and exports)
CSV_HEADER = (
    "At",
    "Reader",
    "Reader's name",
    "Came with",
    "Purpose",
    "CRN",
    "Outcome",
    "Basis",
    "Reason given",
    "Reason details",
    "What was asked for",
)


@dataclass(frozen=True)
class LogLine:
    """One line of the access log as a manager sees it."""

    at: datetime
    username: str
    name: str  # the reader's display name (the username for a system)
    came_with: str  # "signed in" or "API token <name>"
    purpose: str
    crn: str | None
    outcome: str
    basis: str
    reason: str | None
    reason_details: str | None
    detail: str | None

    def row(self) -> list[object]:
        """The line as a CSV row, in CSV_HEADER's order."""
        return [
            self.at,
            self.username,
            self.name,
            self.came_with,
            self.purpose,
            self.crn or "",
            self.outcome,
            self.basis,
            self.reason or "",
            self.reason_details or "",
            self.detail or "",
        ]


def reads_of(session: Session, scope: Scope, crn: str) -> tuple[Case, list[LogLine]]:
    """Who has read the case, newest first; NotPermitted when the manager does not oversee it."""
    case = case_in_scope(session, scope, crn.strip().upper())
    return case, _lines(session, reads_of_case(session, case.id, limit=READS_LIMIT))


def reads_by_person(session: Session, scope: Scope, username: str) -> list[LogLine]:
    """What one person (or system, "api:<token>") has read of the cases the manager oversees."""
    entries = reads_by(session, username, team_id=scope.team_id, limit=READS_LIMIT)
    overseen = _overseen(session, scope, {e.case_id for e in entries if e.case_id is not None})
    shown = [e for e in entries if (e.case_id in overseen if e.case_id is not None else scope.area)]
    return _lines(session, shown)


def _overseen(session: Session, scope: Scope, case_ids: set[int]) -> set[int]:
    if not case_ids:
        return set()
    cases = session.scalars(
        select(Case)
        .where(Case.id.in_(case_ids))
        .options(
            joinedload(Case.owner),
            joinedload(Case.team),
            selectinload(Case.access_limitation).selectinload(AccessLimitation.entries),
        )
    )
    return {case.id for case in cases if scope.covers(case)}


def _lines(session: Session, entries: list[CaseAccess]) -> list[LogLine]:
    names = display_names(session, {e.username for e in entries})
    return [
        LogLine(
            at=e.at,
            username=e.username,
            name=names.get(e.username, e.username),
            came_with=f"API token {e.token}" if e.token else "signed in",
            purpose=e.purpose,
            crn=e.crn,
            outcome=e.outcome.replace("_", " "),
            basis=e.basis,
            reason=Justification(e.justification).display_name if e.justification else None,
            reason_details=e.justification_text,
            detail=e.detail,
        )
        for e in entries
    ]
