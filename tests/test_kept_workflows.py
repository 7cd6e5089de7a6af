"""Workflows kept in memory between steps: used only for the exact state the database holds, never
after a step that rolled back or a step taken elsewhere."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import CLERK, MANAGER, bundle
from test_runtime import instance_row, open_tasks, task_by_element

from engine.clock import ManualClock
from engine.db import Database
from engine.errors import FieldError, InvalidData
from engine.runtime import InstanceStatus, ProcessEngine
from engine.scripting import ServiceRegistry, StepContext
from engine.state import KeptWorkflows


def refusing_engine(database: Database, clock: ManualClock, calls: list[int]) -> ProcessEngine:
    """An engine whose record_decision service refuses an amount of 13 (as a register would)."""
    services = ServiceRegistry()

    def record_decision(ctx: StepContext, amount: int, approved: bool) -> dict[str, Any]:
        calls.append(amount)
        if amount == 13:
            raise InvalidData([FieldError("amount", "Enter an amount other than 13")])
        return {"receipt": f"R-{amount}", "approved": approved}

    services.register("record_decision", record_decision)
    engine = ProcessEngine(database, clock=clock, services=services, known_roles={"CLERK", "MANAGER"})
    engine.deploy(bundle("approval"), actor="owner")
    return engine


def test_the_next_step_of_a_case_uses_the_workflow_kept_after_its_last(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    assert len(engine.kept) == 1
    submit = task_by_element(engine, started.instance_id, "submit")
    engine.complete_task(submit.id, CLERK, {"amount": 5000, "reason": "new desk"})
    assert (engine.kept.hits, engine.kept.misses) == (1, 0)
    approve = task_by_element(engine, started.instance_id, "approve")
    engine.complete_task(approve.id, MANAGER, {"approved": True})
    assert engine.kept.hits == 2
    assert sorted(t.element_id for t in open_tasks(engine, started.instance_id)) == [
        "notify_clerk",
        "notify_manager",
    ]


def test_a_step_that_rolls_back_leaves_nothing_kept(database: Database, clock: ManualClock) -> None:
    calls: list[int] = []
    engine = refusing_engine(database, clock, calls)
    started = engine.start("approval", business_key="A1")
    submit = task_by_element(engine, started.instance_id, "submit")
    before = instance_row(engine, started.instance_id)
    with pytest.raises(InvalidData):
        engine.complete_task(submit.id, CLERK, {"amount": 13, "reason": "unlucky"})
    # The workflow that ran the refused submission is gone; the database still has the open task.
    assert len(engine.kept) == 0
    assert instance_row(engine, started.instance_id).state == before.state
    result = engine.complete_task(submit.id, CLERK, {"amount": 12, "reason": "pens"})
    assert calls == [13, 12]
    assert result.status == InstanceStatus.AWAITING_PEOPLE
    assert len(result.ready_task_ids) == 2


def test_a_step_another_engine_took_is_read_from_the_database(
    engine: ProcessEngine, database: Database, clock: ManualClock, services: ServiceRegistry
) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")  # kept by this engine, at "submit"
    other = ProcessEngine(database, clock=clock, services=services, known_roles={"CLERK", "MANAGER"})
    submit = task_by_element(engine, started.instance_id, "submit")
    other.complete_task(submit.id, CLERK, {"amount": 5000, "reason": "new desk"})
    approve = task_by_element(engine, started.instance_id, "approve")
    # This engine's kept workflow still waits at "submit": it is dropped, the database's state used.
    engine.complete_task(approve.id, MANAGER, {"approved": True})
    assert (engine.kept.hits, engine.kept.misses) == (0, 1)
    assert sorted(t.element_id for t in open_tasks(engine, started.instance_id)) == [
        "notify_clerk",
        "notify_manager",
    ]


def test_a_step_undone_with_the_change_that_caused_it_is_not_kept(engine: ProcessEngine) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    instance_id = engine.start(
        "court_outcome", business_key="X1", data={"crn": "X1", "court": "Carlisle"}
    ).instance_id
    assert len(engine.kept) == 1
    with pytest.raises(RuntimeError), engine.db.transaction() as session:
        engine.deliver_message_within(session, "outcome", "X1", {"result": "custody"})
        raise RuntimeError("the change that sent the message was refused")
    # The step ran and saved its state, then the transaction rolled back: nothing of it is kept.
    assert len(engine.kept) == 0
    assert open_tasks(engine, instance_id) == []
    engine.deliver_message("outcome", "X1", {"result": "community order"})
    assert [t.element_id for t in open_tasks(engine, instance_id)] == ["co_record"]
    assert "community order" in instance_row(engine, instance_id).state


def test_a_case_whose_process_ended_is_not_kept(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    engine.complete_task(
        task_by_element(engine, started.instance_id, "submit").id, CLERK, {"amount": 5, "reason": "pens"}
    )
    engine.complete_task(task_by_element(engine, started.instance_id, "notify_clerk").id, CLERK, {})
    engine.complete_task(task_by_element(engine, started.instance_id, "notify_manager").id, MANAGER, {})
    assert len(engine.kept) == 1
    result = engine.complete_task(task_by_element(engine, started.instance_id, "file_it").id, CLERK, {})
    assert result.status == InstanceStatus.COMPLETED
    assert len(engine.kept) == 0


def test_the_keep_is_bounded_and_drops_the_least_recently_kept() -> None:
    keep = KeptWorkflows(2)
    for instance_id in (1, 2, 3):
        keep.keep(instance_id, f"state {instance_id}", object())  # type: ignore[arg-type]
    assert len(keep) == 2
    assert keep.take(1, "state 1") is None
    assert keep.take(3, "state 3") is not None
    assert keep.take(2, "another state") is None  # saved as a different state: dropped
    assert len(keep) == 0
    none = KeptWorkflows(0)
    none.keep(1, "state 1", object())  # type: ignore[arg-type]
    assert len(none) == 0
    with pytest.raises(ValueError, match="negative"):
        KeptWorkflows(-1)
