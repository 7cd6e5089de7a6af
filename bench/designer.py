"""Benchmark: what a process owner waits for: checking and publishing the full model, and the
6-month impact run of a draft on the demo area.

    .venv/bin/python -m bench.designer                   # 5 checks, 3 publishes, one impact run
    .venv/bin/python -m bench.designer --months 6 --cases 60 --repeat 5

Checking and publishing run on a fresh SQLite database in a temporary folder; each publish deploys a
version that differs in one decision-table cell (so each is a new version). The impact run is the
one the draft page starts (tasks.impact.measure_impact for the published version, then for a draft
that reviews medium-RoSH cases of experienced officers every 4 weeks instead of at the 4-month
review), same seed. Figures are medians of
wall-clock time; the goal for the impact run is under 2 minutes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from tasks.impact import START, measure_impact
from tasks.wiring import build_engine
from webui.schema import TARGET_METADATA

BUNDLE = Path(__file__).resolve().parent.parent / "processes" / "offender-management"
GOAL_SECONDS = 120.0
CELL = '<outputEntry id="oversight_frequency_rule_1_out_1"><text>2</text>'
# Medium RoSH with an experienced or senior OM: from "at the 4-month review" (17 weeks) to every 4.
MEDIUM_CELL = ('<outputEntry id="oversight_frequency_rule_15_out_1"><text>17</text>', "<text>4</text>")


def weekly(bundle: Bundle, weeks: int) -> Bundle:
    files = dict(bundle.files)
    dmn = files["oversight_frequency.dmn"]
    files["oversight_frequency.dmn"] = dmn.replace(CELL.encode(), CELL.replace(">2<", f">{weeks}<").encode())
    assert files["oversight_frequency.dmn"] != dmn, "the oversight table no longer has the cell this changes"
    return Bundle(bundle.name, files)


def monthly_for_medium_risk(bundle: Bundle) -> Bundle:
    files = dict(bundle.files)
    old, new = MEDIUM_CELL
    dmn = files["oversight_frequency.dmn"]
    files["oversight_frequency.dmn"] = dmn.replace(old.encode(), old.replace("<text>17</text>", new).encode())
    assert files["oversight_frequency.dmn"] != dmn, "the oversight table no longer has the cell this changes"
    return Bundle(bundle.name, files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5, help="checks timed (publishes: 3)")
    args = parser.parse_args(argv)
    bundle = Bundle.from_directory(BUNDLE)
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{Path(folder) / 'designer.db'}")
        for metadata in TARGET_METADATA:
            metadata.create_all(db.engine)
        engine = build_engine(db, ManualClock(START))
        checks = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            engine.check(bundle)
            checks.append(time.perf_counter() - began)
        publishes = []
        for weeks in (3, 4, 5):
            began = time.perf_counter()
            result = engine.deploy(weekly(bundle, weeks), actor="bench", note=f"every {weeks} weeks")
            publishes.append(time.perf_counter() - began)
            assert result.created
        db.dispose()
    print(f"bench.designer: {len(bundle.files)} files in {bundle.name}")
    print(f"  check the full model:   median {statistics.median(checks) * 1000:.0f} ms of {len(checks)}")
    print(
        f"  publish the full model: median {statistics.median(publishes) * 1000:.0f} ms of {len(publishes)}"
    )

    began = time.perf_counter()
    published = measure_impact(bundle.name, bundle.files, months=args.months, cases=args.cases, seed=1)
    changed = monthly_for_medium_risk(bundle)
    draft = measure_impact(bundle.name, changed.files, months=args.months, cases=args.cases, seed=1)
    total = time.perf_counter() - began
    verdict = "meets" if total <= GOAL_SECONDS else "misses"
    print(
        f"  impact run, {args.months} months, {args.cases} cases, both versions: {total:.1f} s "
        f"(goal <= {GOAL_SECONDS:.0f} s: {verdict}); "
        f"engine steps {published.engine_steps} + {draft.engine_steps}"
    )
    print(f"    oversight reviews: published {published.oversight_reviews}, draft {draft.oversight_reviews}")
    print(
        f"    SPO tasks: published {published.tasks_by_grade.get('Senior Probation Officer', 0)}, "
        f"draft {draft.tasks_by_grade.get('Senior Probation Officer', 0)}"
    )
    print(f"    finished late: published {published.finished_late}, draft {draft.finished_late}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
