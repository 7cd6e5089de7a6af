"""Impact runs: a draft and the published version measured on the same simulated area, in the
background, with their progress and result kept in the database (so any web process can show them
and nothing lives only in one process's memory).

The run itself is tasks.impact.measure_impact, on a scratch database: live data is never touched.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask
from sqlalchemy import select

from engine import drafts
from engine.models import DefinitionFile, ImpactRun, ProcessDefinition
from tasks.impact import measure_impact
from webui import riskflow

log = logging.getLogger("riskflow.impact")

PROGRESS_STEP = 0.02  # write progress to the database at most every 2% of the run


def start_run(app: Flask, draft_id: int, *, actor: str, months: int, cases: int, seed: int) -> int:
    """Record a run for the draft and start it in a background thread; return its id."""
    shared = riskflow(app)
    with shared.db.transaction() as session:
        draft = drafts.get_draft(session, draft_id)
        latest = session.scalar(
            select(ProcessDefinition.version)
            .where(ProcessDefinition.name == draft.name)
            .order_by(ProcessDefinition.version.desc())
            .limit(1)
        )
        run = ImpactRun(
            draft_id=draft_id,
            requested_by=actor,
            requested_at=shared.clock.now(),
            months=months,
            cases=cases,
            seed=seed,
            against_version=latest or draft.base_version,
            status="queued",
            progress=0.0,
        )
        session.add(run)
        session.flush()
        run_id = run.id
    thread = threading.Thread(target=_run, args=(app, run_id), name=f"impact-{run_id}", daemon=True)
    thread.start()
    return run_id


def _run(app: Flask, run_id: int) -> None:
    shared = riskflow(app)
    try:
        with shared.db.transaction() as session:
            run = session.get(ImpactRun, run_id)
            assert run is not None  # noqa: S101 - made by start_run just before
            run.status = "running"
            draft = drafts.get_draft(session, run.draft_id)
            name, draft_files = draft.name, drafts.bundle_of(draft).files
            published = session.scalar(
                select(ProcessDefinition.id).where(
                    ProcessDefinition.name == name, ProcessDefinition.version == run.against_version
                )
            )
            published_files = {
                path: bytes(content)
                for path, content in session.execute(
                    select(DefinitionFile.path, DefinitionFile.content).where(
                        DefinitionFile.definition_id == published
                    )
                )
            }
            settings = {"months": run.months, "cases": run.cases, "seed": run.seed}
        result = {}
        for index, (label, files) in enumerate((("published", published_files), ("draft", draft_files))):
            figures = measure_impact(name, files, progress=_reporter(shared, run_id, index), **settings)
            result[label] = figures.as_dict()
        with shared.db.transaction() as session:
            run = session.get(ImpactRun, run_id)
            if run is not None:
                run.status, run.progress, run.result = "done", 1.0, result
                run.finished_at = shared.clock.now()
    except Exception as err:  # the page must say the run failed rather than spin for ever
        log.exception("impact run %s failed", run_id)
        with shared.db.transaction() as session:
            run = session.get(ImpactRun, run_id)
            if run is not None:
                run.status, run.error = "failed", f"{type(err).__name__}: {err}"
                run.finished_at = shared.clock.now()


def _reporter(shared: Any, run_id: int, index: int) -> Any:
    """A progress callback for half `index` of the run that writes at most every PROGRESS_STEP."""
    last = [-1.0]

    def report(share: float) -> None:
        overall = (index + share) / 2
        if overall - last[0] < PROGRESS_STEP and share < 1.0:
            return
        last[0] = overall
        with shared.db.transaction() as session:
            run = session.get(ImpactRun, run_id)
            if run is not None:
                run.progress = overall

    return report
