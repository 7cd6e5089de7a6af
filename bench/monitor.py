"""Benchmark: server time of the monitor's overview, diagram counts and stuck list at national scale.

Run it with `.venv/bin/python -m bench.monitor` (add `--postgresql URL` for PostgreSQL too). For
each database it:

1. builds the schema and a synthetic national register: `--cases` open cases (250,000 by default)
   in `--teams` teams, each case with one process instance of the offender management model (the
   real bundle, deployed), most waiting on one open human task at one of the model's steps, a
   quarter waiting for the sentencing outcome message, a few in error or suspended; risk levels,
   registrations and oversight reviews in realistic shares. Rows go in with bulk INSERTs; no
   workflow is run (the monitor never loads one);
2. times, `--repeat` times each, what the pages ask: the overview, the diagram's counts per step
   and the stuck list, both for an ACO (the whole area) and for one team's SPO;
3. prints p50, p95 and the slowest time in milliseconds, beside the goal (p95 under 200 ms).

Times are figures, never pass/fail; the exit status is 2 only when the PostgreSQL URL cannot be used.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import OperationalError

from casework.critical_few import recompute_critical_flags
from casework.models import Case, OversightReview, Registration, Staff, Team
from casework.vocabulary import ExperienceBand, Grade, RoshLevel, Stage
from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.models import HumanTask, MessageWait, ProcessInstance
from engine.monitoring import ModelSteps, Monitor, forget_model_steps, model_steps
from tasks import monitor as probation
from tasks.wiring import build_engine
from webui.schema import TARGET_METADATA

REPO = Path(__file__).resolve().parent.parent
BUNDLE = REPO / "processes" / "offender-management"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
GOAL_MS = 200.0
CHUNK = 10_000
PROCESS = "offender_management"
ROSH_SHARES = [
    (RoshLevel.LOW, 0.45),
    (RoshLevel.MEDIUM, 0.38),
    (RoshLevel.HIGH, 0.15),
    (RoshLevel.VERY_HIGH, 0.02),
]
STAGE_SHARES = [
    (Stage.IDENTIFIED, 0.05),
    (Stage.AWAITING_SENTENCE, 0.15),
    (Stage.SENTENCED, 0.03),
    (Stage.ALLOCATED, 0.07),
    (Stage.SUPERVISED, 0.70),
]


@dataclass
class Timing:
    """One question's server times, in milliseconds."""

    name: str
    times: list[float]

    def line(self) -> str:
        ordered = sorted(self.times)
        p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)]
        verdict = "within" if p95 < GOAL_MS else "OVER"
        return (
            f"  {self.name:<32} p50 {statistics.median(ordered):8.1f}  p95 {p95:8.1f}  "
            f"max {ordered[-1]:8.1f} ms   ({verdict} the {GOAL_MS:.0f} ms goal)"
        )


def populate(db: Database, cases: int, teams: int, seed: int) -> dict[str, int]:
    """The synthetic national register and its instances; returns the staff ids the timings use."""
    rng = random.Random(seed)
    for metadata in TARGET_METADATA:
        metadata.drop_all(db.engine)
        metadata.create_all(db.engine)
    engine = build_engine(db, ManualClock(NOW - timedelta(days=400)))
    definition_id = engine.deploy(Bundle.from_directory(BUNDLE), actor="bench").definition_id
    with db.transaction(write=False) as session:
        steps = model_steps(session, definition_id)
    world = World(rng, definition_id, steps, *_staff(db, teams))
    for start in range(0, cases, CHUNK):
        tables: dict[type[Any], list[dict[str, Any]]] = {
            model: []
            for model in (Case, ProcessInstance, HumanTask, MessageWait, Registration, OversightReview)
        }
        for n in range(start + 1, min(cases, start + CHUNK) + 1):
            world.add_case(n, tables)
        with db.transaction() as session:
            for model, rows in tables.items():
                if rows:
                    session.execute(insert(model), rows)
    with db.transaction() as session:  # the register's critical-few mark, as its operations keep it
        recompute_critical_flags(session)
    # Routine maintenance after a load: statistics, and on PostgreSQL the visibility map that lets
    # the monitor's counts read their indexes alone (autovacuum does both for an insert-only table).
    if db.is_sqlite:
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    else:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    return world.ids


def _staff(db: Database, teams: int) -> tuple[dict[str, int], list[int], dict[int, list[tuple[int, str]]]]:
    """The ACO, and per team an SPO and twelve probation officers."""
    team_ids: list[int] = []
    officers: dict[int, list[tuple[int, str]]] = {}
    with db.transaction() as session:
        aco = Staff(
            username="aco.bench", display_name="ACO Bench", grade=Grade.ACO, started_on=date(2015, 1, 1)
        )
        session.add(aco)
        session.flush()
        ids = {"aco": aco.id}
        for t in range(teams):
            team = Team(
                code=f"T{t:03d}", name=f"Team {t:03d}", office=f"Office {t % 20}", district=f"D{t % 10}"
            )
            session.add(team)
            session.flush()
            spo = Staff(
                username=f"spo.{t:03d}",
                display_name=f"SPO {t:03d}",
                grade=Grade.SPO,
                team_id=team.id,
                line_manager_id=aco.id,
                started_on=date(2015, 1, 1),
            )
            session.add(spo)
            session.flush()
            team.spo_id = spo.id
            ids.setdefault("spo", spo.id)
            people = [
                Staff(
                    username=f"po.{t:03d}.{o:02d}",
                    display_name=f"PO {t:03d}/{o:02d}",
                    grade=Grade.PO,
                    team_id=team.id,
                    line_manager_id=spo.id,
                    experience=ExperienceBand.EXPERIENCED,
                    started_on=date(2018, 1, 1),
                )
                for o in range(12)
            ]
            session.add_all(people)
            session.flush()
            officers[team.id] = [(p.id, p.username) for p in people]
            team_ids.append(team.id)
    return ids, team_ids, officers


@dataclass
class World:
    """What every synthetic case is drawn from."""

    rng: random.Random
    definition_id: int
    steps: ModelSteps
    ids: dict[str, int]
    team_ids: list[int]
    officers: dict[int, list[tuple[int, str]]]

    def add_case(self, n: int, tables: dict[type[Any], list[dict[str, Any]]]) -> None:
        """Case number `n`: its register row, instance, and open task or message wait."""
        rng = self.rng
        team_id = self.team_ids[n % len(self.team_ids)]
        owner_id, owner = self.officers[team_id][n % 12]
        rosh = rng.choices([r for r, _ in ROSH_SHARES], [w for _, w in ROSH_SHARES])[0]
        crn = f"X{n:06d}"
        created = NOW - timedelta(days=rng.randint(1, 700))
        tables[Case].append(
            {
                "id": n,
                "crn": crn,
                "stage": rng.choices([s for s, _ in STAGE_SHARES], [w for _, w in STAGE_SHARES])[0],
                "rosh": rosh,
                "mappa_level": 3 if rng.random() < 0.002 else (2 if rng.random() < 0.01 else None),
                "tier": rng.randint(1, 4),
                "owner_id": owner_id,
                "team_id": team_id,
                "created_at": created,
            }
        )
        if rosh is RoshLevel.HIGH and rng.random() < 0.2:
            tables[Registration].append(
                {
                    "case_id": n,
                    "code": "RCPR",
                    "started_on": created.date(),
                    "registered_at": created,
                    "registered_by": "bench",
                }
            )
        if rng.random() < 0.2:
            done = NOW - timedelta(days=rng.randint(0, 180))
            tables[OversightReview].append(
                {
                    "case_id": n,
                    "done_at": done,
                    "done_by": "bench",
                    "on_time": rng.random() < 0.85,
                    "due_at": done,
                }
            )
        self._instance(n, tables[Case][-1], owner, tables)

    def _instance(
        self, n: int, record: dict[str, Any], owner: str, tables: dict[type[Any], list[dict[str, Any]]]
    ) -> None:
        rng = self.rng
        crn, team_id, created = record["crn"], record["team_id"], record["created_at"]
        user_steps = sorted(s.element_id for s in self.steps.steps.values() if s.kind == "userTask")
        kind = rng.random()
        since = NOW - timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23))
        status = "awaiting_people" if kind < 0.72 else "waiting" if kind < 0.997 else "error"
        if kind >= 0.999:
            status = "suspended"
        error = {
            "element_id": rng.choice(user_steps),
            "line": 2,
            "message": "NameError: name 'x' is not defined",
        }
        tables[ProcessInstance].append(
            {
                "id": n,
                "definition_id": self.definition_id,
                "process_id": PROCESS,
                "business_key": crn,
                "team_id": team_id,  # the case's team, as tasks.case_team keeps it
                "status": status,
                "state": "",
                "version": 1,
                "next_timer_at": since + timedelta(days=30) if status == "waiting" else None,
                "error": error if status == "error" else None,
                "started_by": "bench",
                "created_at": created,
                "updated_at": since,
            }
        )
        if status == "waiting":
            tables[MessageWait].append(
                {"instance_id": n, "message_name": "sentencing_outcome", "correlation_value": crn}
            )
        elif status != "error":
            element = rng.choice(user_steps)
            tables[HumanTask].append(
                {
                    "instance_id": n,
                    "task_guid": f"00000000-0000-0000-0000-{n:012d}",
                    "element_id": element,
                    "process_id": PROCESS,
                    "title": self.steps.name(element)[:255],
                    "candidate_role": "OM",
                    "assignee": owner,
                    "due_at": since + timedelta(days=rng.randint(1, 21)),
                    "business_key": crn,
                    "team_id": team_id,
                    "state": "open",
                    "created_at": since,
                    "priority": 0,
                }
            )


def timed(db: Database, repeat: int, ask: Callable[[Any], object]) -> list[float]:
    times = []
    for _ in range(repeat):
        begun = time.perf_counter()
        with db.transaction(write=False) as session:
            ask(session)
        times.append((time.perf_counter() - begun) * 1000)
    return times


def measure(db: Database, ids: dict[str, int], repeat: int) -> list[Timing]:
    """Time each question for the ACO and for one SPO."""
    calendar = build_engine(db).calendar
    results = []
    for who in ("aco", "spo"):
        staff_id = ids[who]

        def overview(session: Any, staff_id: int = staff_id) -> object:
            return probation.overview(session, probation.scope_for(session, staff_id), NOW, calendar)

        def counts(session: Any, staff_id: int = staff_id) -> object:
            monitor = Monitor(session, NOW, calendar)
            scope = probation.scope_for(session, staff_id)
            return monitor.counts_by_step(monitor.definitions(PROCESS), team_id=scope.team_id)

        def stuck(session: Any, staff_id: int = staff_id) -> object:
            scope = probation.scope_for(session, staff_id)
            return Monitor(session, NOW, calendar).stuck(team_id=scope.team_id)

        for name, ask in (("overview", overview), ("diagram counts", counts), ("stuck list", stuck)):
            ask_once = timed(db, 1, ask)  # warm the caches (model steps, pool, plans)
            del ask_once
            results.append(Timing(f"{name} ({who.upper()})", timed(db, repeat, ask)))
    return results


@contextmanager
def sqlite_database(directory: str | None) -> Iterator[Database]:
    with tempfile.TemporaryDirectory(dir=directory) as folder:
        db = Database(f"sqlite:///{folder}/bench-monitor.db")
        try:
            yield db
        finally:
            db.dispose()


def run(label: str, db: Database, args: argparse.Namespace) -> None:
    forget_model_steps()
    begun = time.perf_counter()
    ids = populate(db, args.cases, args.teams, args.seed)
    built = time.perf_counter() - begun
    print(f"{label}: {args.cases:,} open cases in {args.teams} teams built in {built:.1f} s")  # noqa: T201
    for timing in measure(db, ids, args.repeat):
        print(timing.line())  # noqa: T201


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--cases", type=int, default=250_000)
    parser.add_argument("--teams", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgresql", metavar="URL", help="also run on this (scratch) PostgreSQL database")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    parser.add_argument("--tmp", help="folder for the SQLite file (default: the system's temp folder)")
    args = parser.parse_args(argv)
    if not args.no_sqlite:
        with sqlite_database(args.tmp) as db:
            run("SQLite", db, args)
    if args.postgresql:
        db = Database(args.postgresql)
        try:
            run("PostgreSQL", db, args)
        except OperationalError as err:
            print(f"PostgreSQL could not be used: {err}", file=sys.stderr)  # noqa: T201
            return 2
        finally:
            db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
