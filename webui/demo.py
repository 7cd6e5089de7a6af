"""The demo deployment's people: a small synthetic area and one signed-in user per grade.

Demo only (RISKFLOW_DEMO=true): the passwords below are published in the README, so they must never
exist on a real deployment. Loading is idempotent: an area already on the register is kept, and a
demo user who already has a password keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casework.demo_area import generate_area
from casework.models import Case, Staff
from casework.vocabulary import Grade
from engine.db import Database
from engine.errors import EngineError, NotFound
from engine.runtime import ProcessEngine
from webui.credentials import StaffCredential, set_password

DEMO_SEED = 2008
DEMO_SCALE = 0.05  # about 95 cases: the whole staff list, a small caseload
# New cases started in the offender management process, so the inbox has work in it.
DEMO_PROCESS = "offender_management"
DEMO_NEW_CASES = ("D900001", "D900002", "D900003")


def demo_password(grade: Grade) -> str:
    """The published demo password of a grade's demo user (demo deployments only)."""
    return f"demo-{grade.value.lower().replace('_', '-')}"


@dataclass(frozen=True)
class DemoUser:
    """A demo user: who, of which grade, with which password."""

    username: str
    display_name: str
    grade: Grade
    password: str
    new: bool


def load_demo(engine: ProcessEngine) -> tuple[bool, list[DemoUser]]:
    """Generate the area if the register is empty and give each grade's demo user a password.

    Returns whether the area was generated now, and the demo users.
    """
    db: Database = engine.db
    with db.transaction() as session:
        generated = not session.scalar(select(func.count()).select_from(Staff))
        if generated:
            generate_area(session, seed=DEMO_SEED, scale=DEMO_SCALE)
            session.flush()
        users = [_give_password(session, staff) for staff in demo_staff(session)]
    if generated:
        _start_new_cases(engine)
    return generated, users


def demo_staff(session: Session) -> list[Staff]:
    """One member of staff per grade: the busiest case holder of each OM grade, their SPO and
    case administrator, and the first of each area-wide grade (always the same people for one area)."""
    load: dict[int | None, int] = {
        owner_id: count
        for owner_id, count in session.execute(
            select(Case.owner_id, func.count())
            .where(Case.closed_at.is_(None), Case.owner_id.is_not(None))
            .group_by(Case.owner_id)
        )
    }
    everyone = list(session.scalars(select(Staff).where(Staff.active.is_(True)).order_by(Staff.username)))
    chosen: dict[Grade, Staff] = {}
    for grade in (Grade.PO, Grade.PSO, Grade.TRAINEE_PO, Grade.SENIOR_PRACTITIONER):
        holders = [s for s in everyone if s.grade == grade]
        if holders:
            chosen[grade] = max(holders, key=lambda s: (load.get(s.id, 0), s.username))
    po = chosen.get(Grade.PO)
    team_id = po.team_id if po is not None else None
    for grade in Grade:
        if grade in chosen:
            continue
        # The area's process owner first, so the demo ACO can also edit and publish the model.
        candidates = sorted(
            (s for s in everyone if s.grade == grade),
            key=lambda s: "PROCESS_OWNER" not in (s.extra_roles or []),
        )
        same_team = [s for s in candidates if team_id is not None and s.team_id == team_id]
        if same_team or candidates:
            chosen[grade] = (same_team or candidates)[0]
    return [chosen[g] for g in Grade if g in chosen]


def _give_password(session: Session, staff: Staff) -> DemoUser:
    new = session.get(StaffCredential, staff.username) is None
    password = demo_password(staff.grade)
    if new:
        set_password(session, staff.username, password)
    return DemoUser(staff.username, staff.display_name, staff.grade, password, new)


def _start_new_cases(engine: ProcessEngine) -> None:
    """Start the process for a few newly identified cases (skipped when the model is not deployed)."""
    for crn in DEMO_NEW_CASES:
        try:
            engine.start(DEMO_PROCESS, business_key=crn, data={"crn": crn})
        except NotFound:
            return
        except EngineError:
            continue
