"""The one place that turns a lane into people: who a new human task goes to, and moving open tasks
when a case changes hands.

An Offender Manager task goes to the case's current owner, a Senior Probation Officer task to the
SPO of the owner's team; every other task (and any task on a case with no owner yet) waits in its
role's pool to be claimed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import Case, Staff
from casework.roles import Role
from engine.humantasks import reassign_open_tasks

# Tasks for the SPO of the team a case would move to, not of the team that has it now.
RECEIVING_SPO_TASKS = frozenset({"accept_transfer"})


class CaseAssignment:
    """The AssignmentResolver riskflow runs with: owner and team SPO from the central register."""

    def assignee_for(
        self,
        session: Session,
        *,
        role: str | None,
        business_key: str,
        element_id: str,
        data: Mapping[str, Any],
    ) -> str | None:
        """The username the task goes to, or None to leave it for the role's pool."""
        if role not in (Role.OFFENDER_MANAGER, Role.SENIOR_PROBATION_OFFICER):
            return None
        if element_id in RECEIVING_SPO_TASKS:
            return receiving_spo(session, data)
        case = session.scalar(select(Case).where(Case.crn == business_key))
        return responsible_for(case, role) if case is not None else None


def responsible_for(case: Case, role: str) -> str | None:
    """Who does the case's work in `role`: its owner (OM) or its owning team's SPO; None when nobody is."""
    person: Staff | None = None
    if role == Role.OFFENDER_MANAGER:
        person = case.owner
    elif role == Role.SENIOR_PROBATION_OFFICER and case.team is not None:
        person = case.team.spo
    return person.username if person is not None and person.active else None


def receiving_spo(session: Session, data: Mapping[str, Any]) -> str | None:
    """The SPO of the proposed new owner's team (`transfer_request.owner`); None leaves it to the pool."""
    request = data.get("transfer_request")
    username = request.get("owner") if isinstance(request, Mapping) else None
    staff = session.scalar(select(Staff).where(Staff.username == username)) if username else None
    spo = staff.team.spo if staff is not None and staff.team is not None else None
    return spo.username if spo is not None and spo.active else None


def move_open_tasks(
    session: Session,
    crn: str,
    moves: Mapping[str | None, str | None],
    *,
    actor: str,
    at: datetime,
    reason: str,
) -> int:
    """Give the case's open tasks held by each old person to the new one (None: back to the pool)."""
    return reassign_open_tasks(session, business_key=crn, moves=moves, actor=actor, at=at, reason=reason)
