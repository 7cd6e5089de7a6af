"""Benchmark: publishing a changed critical-few table on a national-scale register.

Run it with `.venv/bin/python -m bench.critical_few [--postgres URL]`. It builds (or reuses) the
national data set of bench.webui_pages (250,000 cases by default), then a process owner publishes a
version whose `critical_few.dmn` makes lifers critical, then one that only rewords that row: each
publish re-marks every case on the register in the same transaction (tasks.critical_few_rule), the
second changing none. It prints
the wall-clock time of each publish, how long the re-marking took and how many cases changed, with
the load average. Figures, never pass/fail.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select

from bench.webui_pages import NATIONAL_CASES, NOW, load_average, prepare, progress, sqlite_url
from engine import drafts
from engine.clock import ManualClock
from engine.db import Database
from engine.models import AuditEvent, ProcessDefinition
from tasks.wiring import build_engine

LIFER_ROW = """      <rule id="critical_few_rule_lifer_RUN">
        <description>Lifer</description>
        <inputEntry id="critical_few_rule_lifer_RUN_in_1"><text>-</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_RUN_in_2"><text>-</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_RUN_in_3"><text>"INLL" in ?</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_RUN_in_4"><text>-</text></inputEntry>
        <outputEntry id="critical_few_rule_lifer_RUN_out_1"><text>"Life sentence RUN"</text></outputEntry>
      </rule>
    </decisionTable>"""
END = "    </decisionTable>"


def publish(db: Database, old: str, new: str, note: str) -> tuple[float, dict[str, object]]:
    """Publish the newest version with `old` replaced by `new` in the table; seconds and the audit detail."""
    engine = build_engine(db, ManualClock(NOW))
    with db.transaction() as session:
        version = session.scalar(select(func.max(ProcessDefinition.version))) or 1
        draft = drafts.start_draft(session, "offender-management", version, actor="bench", now=NOW)
        text = draft.files["critical_few.dmn"]
        drafts.save_file(
            session,
            draft.id,
            "critical_few.dmn",
            text.replace(old, new),
            revision=draft.revision,
            actor="bench",
            now=NOW,
        )
        draft_id = draft.id
    started = time.perf_counter()
    drafts.publish(engine, draft_id, actor="bench", note=note)
    seconds = time.perf_counter() - started
    with db.transaction(write=False) as session:
        last = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.event == "critical_few_recomputed")
            .order_by(AuditEvent.id.desc())
        ).first()
    return seconds, dict(last.detail or {}) if last else {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sqlite-dir", type=Path, default=Path("instance/bench"))
    parser.add_argument("--postgres", default=os.environ.get("RISKFLOW_BENCH_DATABASE_URL", ""))
    parser.add_argument("--cases", type=int, default=NATIONAL_CASES)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args(argv)
    targets = []
    if args.only != "postgresql":
        args.sqlite_dir.mkdir(parents=True, exist_ok=True)
        targets.append(("SQLite", sqlite_url(args.sqlite_dir.resolve() / "pages-national.db")))
    if args.only != "sqlite" and args.postgres:
        targets.append(("PostgreSQL", args.postgres))
    for label, url in targets:
        progress(f"{label}, {args.cases:,} cases:")
        prepare(url, "national", args.cases, rebuild=False)
        db = Database(url)
        try:
            run = str(time.time_ns())  # each run adds its own row: a version's content is never repeated
            row = LIFER_ROW.replace("RUN", run)
            reworded = row.replace(f'"Life sentence {run}"', f'"Serving a life sentence {run}"')
            for old, new, note in ((END, row, "Lifers are critical"), (row, reworded, "Lifers reworded")):
                seconds, detail = publish(db, old, new, note)
                print(
                    f"  publish '{note}': {seconds:.1f} s in all; re-marking {detail.get('seconds')} s, "
                    f"{detail.get('changed')} case(s) changed; load average {load_average()}"
                )
        finally:
            db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
