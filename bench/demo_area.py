"""Benchmark: building the demo area, and running cases through the real process over simulated months.

Prints the time and peak memory to build the synthetic area (`casework.demo_area`, rows written
through the register), then the time, peak memory and engine steps per second of simulated staff
running cases through the offender management process day by day on a ManualClock
(`casework.simulation`), with the share of those cases the critical-few rule marks. SQLite in a
temporary directory; deterministic for a seed.

    .venv/bin/python -m bench.demo_area                    # 60 cases over 12 months
    .venv/bin/python -m bench.demo_area --cases 200 --months 18 --scale 1.0
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from casework.critical_few import RiskProfile, assess
from casework.demo_area import generate_area
from casework.models import Case
from casework.simulation import AreaSimulation
from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from tasks.wiring import build_engine
from webui.schema import TARGET_METADATA

BUNDLE = Path(__file__).resolve().parent.parent / "processes" / "offender-management"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T = TypeVar("T")


def measured(call: Callable[[], T]) -> tuple[T, float, float]:
    """The call's result, its wall time in seconds and the process's peak resident memory in MiB after it."""
    started = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - started
    return result, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fresh_database(directory: Path, name: str) -> Database:
    db = Database(f"sqlite:///{directory / name}")
    for metadata in TARGET_METADATA:
        metadata.create_all(db.engine)
    return db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=60, help="cases run through the process (default 60)")
    parser.add_argument("--months", type=int, default=12, help="simulated months (default 12)")
    parser.add_argument("--scale", type=float, default=1.0, help="demo area scale, 1.0 = 1,900 cases")
    parser.add_argument("--seed", type=int, default=2008)
    args = parser.parse_args(argv)
    print(f"riskflow demo-area benchmark: seed {args.seed}; Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        db = fresh_database(directory, "area.db")

        def build() -> int:
            with db.transaction() as session:
                return sum(generate_area(session, seed=args.seed, scale=args.scale).cases.values())

        cases, seconds, peak = measured(build)
        print(
            f"demo area (rows through the register): {cases:,} cases in {seconds:.1f} s, "
            f"peak RSS {peak:.0f} MiB"
        )
        db.dispose()

        db = fresh_database(directory, "process.db")
        with db.transaction() as session:
            generate_area(session, seed=args.seed, scale=0.0)  # the staff (and one case of its own)
        clock = ManualClock(START)
        engine = build_engine(db, clock)
        engine.deploy(Bundle.from_directory(BUNDLE), actor="bench")
        simulation = AreaSimulation(engine, clock, seed=args.seed)
        summary, seconds, peak = measured(lambda: simulation.run(cases=args.cases, months=args.months))
        steps = summary.engine_steps
        print(
            f"real process: {summary.cases} cases over {summary.days} simulated days in {seconds:.1f} s, "
            f"peak RSS {peak:.0f} MiB"
        )
        print(
            f"  engine steps: {steps:,} ({summary.tasks_completed:,} tasks, {summary.messages} messages, "
            f"{summary.timers_fired:,} timers) = {steps / seconds:.0f} steps/s"
        )
        print(f"  cases closed by their termination review: {summary.closed}")
        for element, count in sorted(summary.by_element.items(), key=lambda kv: -kv[1])[:8]:
            print(f"    {element:<28} {count:>6}")
        with db.transaction(write=False) as session:
            simulated = session.scalars(
                select(Case)
                .where(Case.crn.in_(simulation.profiles), Case.closed_at.is_(None))
                .options(selectinload(Case.registrations))
            ).all()
            critical = sum(assess(RiskProfile.of(case)).critical for case in simulated)
        share = critical / len(simulated) if simulated else 0.0
        print(f"  critical few among the open simulated cases: {critical} of {len(simulated)} ({share:.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
