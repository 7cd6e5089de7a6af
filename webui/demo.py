"""The demo deployment's area and people: the synthetic staff list, cases built by running the real
process with simulated staff over the months before the demo's present, and one user per grade.

Demo only (RISKFLOW_DEMO=true): the passwords below are published in the README, so they must never
exist on a real deployment. Loading is idempotent: an area already on the register is kept, and a
demo user who already has a password keeps it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casework.demo_area import generate_area
from casework.models import Case, Staff
from casework.sentencing import outcome_title
from casework.vocabulary import Grade
from engine.clock import ManualClock
from engine.db import Database
from engine.errors import NotFound
from engine.models import HumanTask
from engine.runtime import ProcessEngine
from tasks.simulation import PROCESS, AreaSimulation, SimulationSummary
from tasks.wiring import build_engine
from webui.credentials import StaffCredential, set_password

DEMO_SEED = 2008
# Cases run through the offender management process by simulated staff, over DEMO_MONTHS months
# ending at the demo deployment's present: the whole Cumbria-like area, about 1,900 cases (its
# build time is in bench/README.md; `--cases` builds a smaller area faster).
DEMO_CASES = 1900
DEMO_MONTHS = 12
# A share of the cases arrive in the last four weeks, so that the present has cases at every stage.
DEMO_RECENT_SHARE = 0.1
# Staff get to a waiting task on a given working day with this chance, so work is in hand at the end.
DEMO_PICKUP = 0.6
DEMO_PROCESS = PROCESS
WORKDAY_START_HOUR = 9

Progress = Callable[[str], None]


class DemoProcessMissing(Exception):
    """The offender management process is not deployed, so the demo cases cannot be run through it."""


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


class DemoLoad(NamedTuple):
    """What `load_demo` did: whether it built the area now, the demo users, and the simulation's
    figures when it ran."""

    generated: bool
    users: list[DemoUser]
    simulation: SimulationSummary | None = None


def load_demo(
    engine: ProcessEngine,
    *,
    cases: int = DEMO_CASES,
    months: int = DEMO_MONTHS,
    seed: int = DEMO_SEED,
    progress: Progress | None = None,
) -> DemoLoad:
    """Build the area if the register has no staff, and give each grade's demo user a password.

    The staff are written as rows (casework.demo_area without its cases); every case then comes
    from running the offender management process with simulated staff over `months` months that
    end at the deployment's present (its clock), so each case's history is real workflow history.
    Returns whether the area was built now, the demo users and the simulation's figures.
    """
    db: Database = engine.db
    with db.transaction() as session:
        generated = not session.scalar(select(func.count()).select_from(Staff))
        if generated:
            try:
                engine.latest_definition(session, DEMO_PROCESS)
            except NotFound:
                raise DemoProcessMissing(
                    "the demo cases are run through the offender management process: "
                    "deploy it first (riskflow deploy processes)"
                ) from None
            generate_area(session, seed=seed, cases=False)
    summary = None
    if generated:
        summary = simulate_demo_cases(engine, cases=cases, months=months, seed=seed, progress=progress)
    with db.transaction() as session:
        users = [_give_password(session, staff) for staff in _demo_people(session)]
    return DemoLoad(generated, users, summary)


def signed_up_demo_users(session: Session) -> list[DemoUser]:
    """The demo users as the sign-in page of a demo deployment lists them: one per grade, in the
    order of the grades, with the published password (whoever of a grade first got a password)."""
    first: dict[Grade, Staff] = {}
    for person in session.scalars(
        select(Staff)
        .join(StaffCredential, StaffCredential.username == Staff.username)
        .where(Staff.active.is_(True))
        .order_by(Staff.username)
    ):
        first.setdefault(person.grade, person)
    return [
        DemoUser(p.username, p.display_name, p.grade, demo_password(p.grade), new=False)
        for grade in Grade
        if (p := first.get(grade)) is not None
    ]


def _demo_people(session: Session) -> list[Staff]:
    """The demo users: whoever of each grade was given a password before (so that the people stay the
    same as the area's work moves on), else `demo_staff`'s choice."""
    earlier: dict[Grade, Staff] = {}
    for person in session.scalars(
        select(Staff)
        .join(StaffCredential, StaffCredential.username == Staff.username)
        .where(Staff.active.is_(True))
        .order_by(Staff.username)
    ):
        earlier.setdefault(person.grade, person)
    return [earlier.get(person.grade, person) for person in demo_staff(session)]


def simulate_demo_cases(
    engine: ProcessEngine,
    *,
    cases: int,
    months: int,
    seed: int = DEMO_SEED,
    progress: Progress | None = None,
) -> SimulationSummary:
    """Run `cases` cases through the process over `months` months ending at the engine's present."""
    present = engine.clock.now()
    last_day = present.replace(hour=WORKDAY_START_HOUR, minute=0, second=0, microsecond=0)
    if last_day > present:
        last_day -= timedelta(days=1)
    clock = ManualClock(last_day - timedelta(days=30 * months - 1))
    # Every case is stepped again within days: keep all their workflows in memory between steps
    # (about 300 KB a case) rather than restore each from the database at every step.
    stepper = build_engine(engine.db, clock, kept_workflows=cases)
    simulation = AreaSimulation(stepper, clock, seed=seed, weekdays_only=True, pickup=DEMO_PICKUP, area=True)
    report = None
    if progress is not None:
        progress(
            f"building the demo area: {cases:,} cases through the {DEMO_PROCESS} process, simulated staff "
            f"working a day at a time from {clock.now():%d %b %Y} to {last_day:%d %b %Y}"
        )
        report = _Reporter(simulation, clock, progress)
    summary = simulation.run(
        cases=cases,
        months=months,
        progress=report,
        arrivals_to_the_end=True,
        recent_share=DEMO_RECENT_SHARE,
    )
    if progress is not None:
        rate = summary.engine_steps / max(summary.seconds, 1e-9)
        progress(
            f"built {summary.cases:,} cases through the process in {summary.seconds:.0f} s: "
            f"{summary.engine_steps:,} engine steps ({rate:.0f}/s)"
        )
        given = ", ".join(
            f"{outcome_title(code).lower()} {n}" for code, n in sorted(summary.outcomes.items())
        )
        progress(f"court outcomes given: {given or 'none yet'}")
    return summary


class _Reporter:
    """Tells `progress` how far the simulation is, every tenth of the period."""

    def __init__(self, simulation: AreaSimulation, clock: ManualClock, progress: Progress) -> None:
        self.simulation, self.clock, self.progress = simulation, clock, progress
        self.next_share = 0.1
        self.started = time.perf_counter()

    def __call__(self, share: float) -> None:
        if share + 1e-9 < self.next_share:
            return
        self.next_share += 0.1
        summary = self.simulation.summary
        day: datetime = self.clock.now() - timedelta(days=1)  # the day just simulated
        self.progress(
            f"  {share:4.0%}  {day:%d %b %Y}: {summary.cases:,} cases started, "
            f"{summary.engine_steps:,} engine steps in {time.perf_counter() - self.started:.0f} s"
        )


def demo_staff(session: Session) -> list[Staff]:
    """One member of staff per grade: the busiest case holder of each OM grade (the most open tasks,
    then the most open cases), their SPO and case administrator, and the first of each area-wide
    grade (always the same people for one area)."""
    cases: dict[int | None, int] = {
        owner_id: count
        for owner_id, count in session.execute(
            select(Case.owner_id, func.count())
            .where(Case.closed_at.is_(None), Case.owner_id.is_not(None))
            .group_by(Case.owner_id)
        )
    }
    tasks: dict[str | None, int] = {
        assignee: count
        for assignee, count in session.execute(
            select(HumanTask.assignee, func.count())
            .where(HumanTask.state == "open", HumanTask.assignee.is_not(None))
            .group_by(HumanTask.assignee)
        )
    }
    everyone = list(session.scalars(select(Staff).where(Staff.active.is_(True)).order_by(Staff.username)))
    chosen: dict[Grade, Staff] = {}
    for grade in (Grade.PO, Grade.PSO, Grade.TRAINEE_PO, Grade.SENIOR_PRACTITIONER):
        holders = [s for s in everyone if s.grade == grade]
        if holders:
            chosen[grade] = max(
                holders, key=lambda s: (tasks.get(s.username, 0), cases.get(s.id, 0), s.username)
            )
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
