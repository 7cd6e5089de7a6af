"""Benchmark: building the demo area as `riskflow demo load` builds it, through the real process.

Prints the time, peak memory and engine steps per second of `webui.demo.load_demo`: the area's
staff written as rows, then `--cases` cases run through the offender management process by
simulated staff a day at a time over `--months` months ending at the present (a fixed present, so
that the run is the same every time for a seed). Then what the area looks like: cases by stage,
open tasks by role, the demo users' work, and the share of open cases the critical-few rule marks.
On SQLite in a temporary directory, or on the PostgreSQL database `--database-url` names (its
riskflow tables are dropped and made again). The load average is printed: the machine may be shared.

    .venv/bin/python -m bench.demo_area                    # the default demo load (the whole area, 1,900)
    .venv/bin/python -m bench.demo_area --cases 300        # a smaller area
    .venv/bin/python -m bench.demo_area --rows 1.0         # also the row-written area, for comparison
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from casework.critical_few import RiskProfile, assess
from casework.demo_area import generate_area
from casework.models import Case
from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.models import HumanTask
from tasks.simulation import PROCESS_STAGES, process_stages
from tasks.wiring import build_engine
from webui.demo import DEMO_CASES, DEMO_MONTHS, DEMO_SEED, demo_staff, load_demo
from webui.schema import TARGET_METADATA

BUNDLE = Path(__file__).resolve().parent.parent / "processes" / "offender-management"
PRESENT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # a fixed present: the same area every run
T = TypeVar("T")


def measured(call: Callable[[], T]) -> tuple[T, float, float]:
    """The call's result, its wall time in seconds and the process's peak resident memory in MiB after it."""
    started = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - started
    return result, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fresh_database(url: str) -> Database:
    db = Database(url)
    for metadata in reversed(TARGET_METADATA):
        metadata.drop_all(db.engine)
    for metadata in TARGET_METADATA:
        metadata.create_all(db.engine)
    return db


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} CPUs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=DEMO_CASES, help=f"cases (default {DEMO_CASES})")
    parser.add_argument("--months", type=int, default=DEMO_MONTHS, help=f"months (default {DEMO_MONTHS})")
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--database-url", help="a PostgreSQL database to use (emptied first)")
    parser.add_argument(
        "--rows", type=float, default=0.0, help="also time the row-written area at this scale"
    )
    args = parser.parse_args(argv)
    print(
        f"riskflow demo-area benchmark: seed {args.seed}; Python {sys.version.split()[0]}; {load_average()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        if args.rows:
            db = fresh_database(f"sqlite:///{Path(tmp) / 'rows.db'}")

            def rows() -> int:
                with db.transaction() as session:
                    return sum(generate_area(session, seed=args.seed, scale=args.rows).cases.values())

            written, seconds, peak = measured(rows)
            print(
                f"row-written area at scale {args.rows}: {written:,} cases in {seconds:.1f} s, "
                f"peak {peak:.0f} MiB"
            )
            db.dispose()
        db = fresh_database(args.database_url or f"sqlite:///{Path(tmp) / 'demo.db'}")
        backend = db.engine.dialect.name
        engine = build_engine(db, ManualClock(PRESENT))
        engine.deploy(Bundle.from_directory(BUNDLE), actor="bench")
        started_cpu = time.process_time()
        load, seconds, peak = measured(
            lambda: load_demo(engine, cases=args.cases, months=args.months, seed=args.seed, progress=print)
        )
        cpu = time.process_time() - started_cpu
        summary = load.simulation
        assert summary is not None
        steps = summary.engine_steps
        print(f"\n{backend}: demo load of {summary.cases:,} cases over {summary.days} simulated days")
        print(f"  time {seconds:.1f} s wall ({cpu:.1f} s CPU in this process), peak RSS {peak:.0f} MiB")
        print(
            f"  engine steps: {steps:,} ({summary.tasks_completed:,} tasks, {summary.messages:,} messages, "
            f"{summary.timers_fired:,} timers, {summary.cases:,} starts) = "
            f"{steps / seconds:.0f} steps/s wall, {steps / cpu:.0f} steps/s of CPU"
        )
        print(f"  {load_average()}")
        report(db)
        db.dispose()
    return 0


def report(db: Database) -> None:
    """What the demo area looks like: stages, open work, the demo users' work, the critical few."""
    with db.transaction(write=False) as session:
        stages = Counter(stage.value for stage in session.scalars(select(Case.stage)))
        print("  cases by register stage: " + ", ".join(f"{s} {n}" for s, n in sorted(stages.items())))
        spread = process_stages(session)
        everyone = sum(spread.values()) or 1
        print(
            "  cases by process stage: "
            + ", ".join(f"{s} {spread[s]} ({spread[s] / everyone:.0%})" for s in PROCESS_STAGES)
        )
        outcomes = Counter(o.value for o in session.scalars(select(Case.sentence_outcome)) if o)
        tiers = Counter(t for t in session.scalars(select(Case.tier)) if t)
        rosh = Counter(r.value for r in session.scalars(select(Case.rosh)) if r)
        for name, counter in (("RoSH", rosh), ("tiers", tiers), ("sentence outcomes", outcomes)):
            total = sum(counter.values()) or 1
            print(
                f"  {name}: "
                + ", ".join(
                    f"{k} {n / total:.0%}" for k, n in sorted(counter.items(), key=lambda kv: str(kv[0]))
                )
            )
        open_tasks = session.execute(
            select(HumanTask.candidate_role, HumanTask.assignee).where(HumanTask.state == "open")
        ).all()
        by_role = Counter(role for role, _ in open_tasks)
        pooled = Counter(role for role, assignee in open_tasks if assignee is None)
        print(
            f"  open tasks: {len(open_tasks)}; by role "
            + ", ".join(f"{r} {n} ({pooled[r]} in the pool)" for r, n in sorted(by_role.items(), key=str))
        )
        held = Counter(
            owner
            for owner in session.scalars(
                select(Case.owner_id).where(Case.closed_at.is_(None), Case.owner_id.is_not(None))
            )
        )
        assigned = Counter(assignee for _, assignee in open_tasks if assignee)
        for person in demo_staff(session):
            print(
                f"    demo {person.grade.value:<20} {person.username:<24} "
                f"{held.get(person.id, 0):>3} open cases, "
                f"{assigned.get(person.username, 0):>3} tasks assigned, "
                f"{sum(pooled[r] for r in person.roles):>3} in their roles' pools"
            )
        open_cases = session.scalars(
            select(Case).where(Case.closed_at.is_(None)).options(selectinload(Case.registrations))
        ).all()
        critical = sum(assess(RiskProfile.of(case)).critical for case in open_cases)
        total = session.scalar(select(func.count()).select_from(Case)) or 0
        share = critical / len(open_cases) if open_cases else 0.0
        print(
            f"  critical few: {critical} of {len(open_cases)} open cases ({share:.1%}); {total} cases in all"
        )


if __name__ == "__main__":
    raise SystemExit(main())
