"""The one place that turns a lane into people: who a new human task goes to, and moving open tasks
when a case changes hands.

An Offender Manager task goes to the case's current owner, a Senior Probation Officer task to the
SPO of the owner's team; every other task (and any task on a case with no owner yet) waits in its
role's pool to be claimed. While that person is out of the office (their routing is set and not yet
past its date), the new task goes to the colleague named to cover them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from casework import register
from casework.models import Case, OutOfOffice, Staff
from casework.roles import Role
from engine.clock import Clock, SystemClock
from engine.humantasks import reassign_open_tasks

# Tasks for the SPO of the team a case would move to, not of the team that has it now.
RECEIVING_SPO_TASKS = frozenset({"accept_transfer"})


class CaseAssignment:
    """The AssignmentResolver riskflow runs with: owner and team SPO from the central register."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()

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
        try:
            case: Case | None = register.find_case(session, business_key)  # the step's case, kept
        except register.CaseNotFound:
            case = None
        person = responsible_for(case, role) if case is not None else None
        return covering(session, person, self.clock.now().date()) if person is not None else None


def covering(session: Session, username: str, today: date) -> str:
    """Who takes `username`'s new tasks today: their cover while they are out of the office, else them."""
    away = aliased(Staff)
    cover = session.scalar(
        select(Staff.username)
        .join(OutOfOffice, OutOfOffice.cover_id == Staff.id)
        .join(away, OutOfOffice.staff_id == away.id)
        .where(away.username == username, OutOfOffice.until >= today, Staff.active.is_(True))
    )
    return cover or username


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
