"""Simulated staff running cases through the real process: every case's history is workflow history,
and the same seed gives the same cases, decisions and steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from casework_area import small_area
from conftest import START
from sqlalchemy import select
from test_process_model import BUNDLE_DIR

from casework import register
from casework.models import Case
from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.models import HumanTask, ProcessInstance
from tasks.simulation import AreaSimulation, SimulationSummary
from tasks.wiring import build_engine
from webui.schema import TARGET_METADATA


def _simulate(
    database: Database, *, seed: int, area: bool = False, cases: int = 3, kept_workflows: int = 256
) -> tuple[SimulationSummary, dict[str, str]]:
    with database.transaction() as session:
        small_area(session)
    clock = ManualClock(START)
    engine = build_engine(database, clock, kept_workflows=kept_workflows)
    engine.deploy(Bundle.from_directory(BUNDLE_DIR), actor="process.owner")
    summary = AreaSimulation(engine, clock, seed=seed, area=area).run(cases=cases, months=3)
    with database.transaction(write=False) as session:
        stages = {c.crn: c.stage.value for c in session.scalars(select(Case).order_by(Case.crn))}
        # Every case was started by the process and moved on only by its steps.
        instances = session.scalars(select(ProcessInstance)).all()
        assert sorted(i.business_key for i in instances) == sorted(stages)
        assert all(i.status != "error" for i in instances), [i.error for i in instances]
        done = session.scalars(select(HumanTask.element_id).where(HumanTask.state == "completed")).all()
        assert done.count("record_first_details") == cases
        for crn in stages:
            assert [e.code for e in register.timeline(session, crn)][0] == "EAPP"
    return summary, stages


def test_simulated_staff_take_cases_through_the_real_process(database: Database) -> None:
    summary, stages = _simulate(database, seed=7)
    assert summary.cases == 3 and summary.messages == 3
    assert summary.by_element["allocate_owner"] == 3
    assert (
        summary.engine_steps
        == summary.cases + summary.tasks_completed + summary.messages + summary.timers_fired
    )
    assert set(stages.values()) <= {"SUPERVISED", "ALLOCATED", "CLOSED"}


@pytest.mark.parametrize("area", [False, True], ids=["model", "area"])
def test_the_same_seed_gives_the_same_history(tmp_path: Path, area: bool) -> None:
    runs = []
    for name in ("first", "second"):
        database = Database(f"sqlite:///{tmp_path / name}.db")
        for metadata in TARGET_METADATA:
            metadata.create_all(database.engine)
        summary, stages = _simulate(database, seed=11, area=area)
        runs.append((summary.by_element, summary.timers_fired, summary.messages, stages))
        database.dispose()
    assert runs[0] == runs[1]


def test_workflows_kept_between_steps_give_the_same_history_as_restoring_each_step(tmp_path: Path) -> None:
    runs = []
    for kept in (0, 256):
        database = Database(f"sqlite:///{tmp_path / f'kept-{kept}'}.db")
        for metadata in TARGET_METADATA:
            metadata.create_all(database.engine)
        summary, stages = _simulate(database, seed=5, area=True, cases=8, kept_workflows=kept)
        with database.transaction(write=False) as session:
            tasks = sorted(
                session.execute(select(HumanTask.element_id, HumanTask.state, HumanTask.due_at)).all()
            )
            waits = sorted(
                session.execute(select(ProcessInstance.status, ProcessInstance.next_timer_at)).all()
            )
        runs.append((summary.by_element, summary.timers_fired, summary.messages, stages, tasks, waits))
        database.dispose()
    assert runs[0] == runs[1]
