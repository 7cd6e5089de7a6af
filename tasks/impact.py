"""Impact before publishing: the same synthetic area run through two versions of the model.

`measure_impact(files, ...)` builds a throw-away SQLite database in a temporary folder (never the
live one), puts the demo area's staff on its register, deploys the given model files, and lets
simulated staff run the same seeded cases through it for the chosen number of months
(tasks.simulation). It then counts what a process owner weighs a change by: tasks created per
grade, oversight reviews, tasks finished late or still overdue, and the critical few by the
version's own decision table. Run it for the published version and for a draft with the same seed
and the difference is the change's effect alone.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import selectinload

import casework.access_log  # noqa: F401 - the access log's table joins CaseworkBase's metadata
import casework.case_list  # noqa: F401 - and the register list's indexes
from casework.critical_few import RiskProfile, table_inputs
from casework.demo_area import generate_area
from casework.models import Case, CaseworkBase
from casework.roles import ROLE_TITLES, Role
from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.models import EngineBase, HumanTask
from tasks.critical_few_rule import CriticalFewTable, is_table_file
from tasks.simulation import AreaSimulation
from tasks.wiring import build_engine

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday: the simulated period starts here
AREA_SEED = 2008
AREA_SCALE = 0.05  # the demo area's staff list
OVERSIGHT_STEPS = frozenset({"oversight_review", "escalated_review"})
PICKUP = 0.5  # the chance a person gets to a given task on a working day (the rest is other work)
# The tables a simulated area works on: the engine's and the register's (the sign-in and API tables
# of the web front end play no part in it).
SIMULATED_METADATA = (EngineBase.metadata, CaseworkBase.metadata)


@dataclass
class ImpactFigures:
    """What one version did to the simulated area over the period."""

    cases: int = 0
    engine_steps: int = 0
    seconds: float = 0.0
    tasks_by_grade: dict[str, int] = field(default_factory=dict)
    oversight_reviews: int = 0
    finished_late: int = 0
    overdue_at_end: int = 0
    critical_few: int = 0
    open_cases: int = 0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def measure_impact(
    name: str,
    files: Mapping[str, bytes],
    *,
    months: int,
    cases: int,
    seed: int,
    capacity: int = 2,
    progress: Callable[[float], None] | None = None,
) -> ImpactFigures:
    """Run `cases` seeded cases through the model `files` for `months` months on a scratch database."""
    with tempfile.TemporaryDirectory(prefix="riskflow-impact-") as folder:
        db = Database(f"sqlite:///{Path(folder) / 'impact.db'}")
        try:
            for metadata in SIMULATED_METADATA:
                metadata.create_all(db.engine)
            with db.transaction() as session:
                # The demo area: its staff work the simulated cases; its caseload counts towards
                # the critical few, as it would on the day a change is published.
                generate_area(session, seed=AREA_SEED, scale=AREA_SCALE, as_of=START)
            clock = ManualClock(START)
            engine = build_engine(db, clock)
            engine.deploy(Bundle(name, dict(files)), actor="impact")
            simulation = AreaSimulation(
                engine, clock, seed=seed, capacity=capacity, weekdays_only=True, pickup=PICKUP
            )
            summary = simulation.run(cases=cases, months=months, crn_prefix="M", progress=progress)
            figures = ImpactFigures(
                cases=summary.cases, engine_steps=summary.engine_steps, seconds=round(summary.seconds, 1)
            )
            _count_tasks(db, clock.now(), figures)
            _count_critical_few(db, files, figures)
            return figures
        finally:
            db.dispose()


def _count_tasks(db: Database, now: datetime, figures: ImpactFigures) -> None:
    titles = {role.value: title for role, title in ROLE_TITLES.items() if role is not Role.PROCESS_OWNER}
    with db.transaction(write=False) as session:
        rows = session.execute(
            select(
                HumanTask.candidate_role,
                HumanTask.element_id,
                HumanTask.state,
                HumanTask.due_at,
                HumanTask.completed_at,
            )
        ).all()
    by_grade: Counter[str] = Counter()
    for role, element_id, state, due_at, completed_at in rows:
        by_grade[titles.get(role or "", role or "No grade")] += 1
        figures.oversight_reviews += element_id in OVERSIGHT_STEPS
        if due_at is not None and state == "completed" and completed_at is not None and completed_at > due_at:
            figures.finished_late += 1
        if due_at is not None and state == "open" and due_at < now:
            figures.overdue_at_end += 1
    figures.tasks_by_grade = dict(sorted(by_grade.items()))


def _count_critical_few(db: Database, files: Mapping[str, bytes], figures: ImpactFigures) -> None:
    """The critical few among the open cases, by the decision table of the version being measured."""
    table_file = next((path for path in files if is_table_file(path)), None)
    if table_file is None:
        return
    table = CriticalFewTable(content=files[table_file])
    with db.transaction(write=False) as session:
        open_cases = session.scalars(
            select(Case).where(Case.closed_at.is_(None)).options(selectinload(Case.registrations))
        ).all()
        figures.open_cases = len(open_cases)
        figures.critical_few = sum(bool(table.reasons(table_inputs(RiskProfile.of(c)))) for c in open_cases)
