"""Two people, two workers, two processes: exactly one wins, nothing is lost or done twice, and two
workers share the due timers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from select import select as wait_until_readable

import pytest
from conftest import CLERK, CLERK_TWO, POSTGRES, bundle
from sqlalchemy import func, select, text
from test_runtime import instance_row, open_tasks

from engine.clock import ManualClock
from engine.db import retried_when_deadlocked
from engine.errors import Conflict, EngineError, NotPermitted
from engine.models import AuditEvent, HumanTask
from engine.runtime import Actor, InstanceStatus, ProcessEngine, StepResult
from engine.scripting import ServiceRegistry, StepContext

CHILD = Path(__file__).parent / "worker_child.py"


def race(action: Callable[[Actor], object], actors: tuple[Actor, ...]) -> list[object]:
    """Run `action` for each actor at the same moment, in threads; each result or EngineError."""
    barrier = threading.Barrier(len(actors))
    outcomes: list[object] = []

    def run(actor: Actor) -> None:
        barrier.wait()
        try:
            outcomes.append(action(actor))
        except EngineError as err:
            outcomes.append(err)

    threads = [threading.Thread(target=run, args=(a,)) for a in actors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_concurrent_completions_of_one_task_exactly_one_wins(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    [submit] = open_tasks(engine, started.instance_id)
    data = {"amount": 5000, "reason": "desk"}
    outcomes = race(lambda actor: engine.complete_task(submit.id, actor, data), (CLERK, CLERK_TWO))
    wins = [o for o in outcomes if isinstance(o, StepResult)]
    losses = [o for o in outcomes if isinstance(o, Conflict | NotPermitted)]
    assert (len(wins), len(losses)) == (1, 1)
    assert isinstance(losses[0], Conflict) and losses[0].code == "task_not_ready"
    row = instance_row(engine, started.instance_id)
    assert row.version == 2  # started once, completed once
    assert [t.element_id for t in open_tasks(engine, started.instance_id)] == ["approve"]
    with engine.db.transaction(write=False) as session:
        completed = session.scalar(select(func.count()).where(AuditEvent.event == "task_completed"))
    assert completed == 1


def test_concurrent_claims_give_the_task_to_one_person(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    [submit] = open_tasks(engine, started.instance_id)
    outcomes = race(lambda actor: engine.claim(submit.id, actor), (CLERK, CLERK_TWO))
    assert len([o for o in outcomes if isinstance(o, Conflict)]) == 1
    with engine.db.transaction(write=False) as session:
        row = session.get(HumanTask, submit.id)
    assert row is not None and row.claimed_by in {"clerk.one", "clerk.two"}


def _child(
    url: str, now: datetime, *, markers: Path, hold: bool = False, peer: Path | None = None
) -> subprocess.Popen[bytes]:
    """A worker process sweeping the timers due at `now`; it says on stdout when it is in a step."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    options = [
        "--markers",
        str(markers),
        *(["--meet", str(peer)] if peer else []),
        *(["--hold"] if hold else []),
    ]
    with (markers / "worker.log").open("wb") as log:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(CHILD), url, now.isoformat(), *options],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
        )


def _wait_for_line(worker: subprocess.Popen[bytes], line: str, seconds: float = 300) -> None:
    """Block until the worker prints `line` (it prints nothing else), or fail after `seconds`."""
    assert worker.stdout is not None
    ready, _, _ = wait_until_readable([worker.stdout], [], [], seconds)
    assert ready, f"the worker did not say {line!r} within {seconds} seconds"
    assert worker.stdout.readline().decode().strip() == line


def _slow_engine(engine: ProcessEngine) -> ProcessEngine:
    services = ServiceRegistry()
    services.register("slow_step", lambda ctx: {"done": True})
    return ProcessEngine(engine.db, clock=engine.clock, services=services, known_roles={"CLERK", "MANAGER"})


def test_a_worker_killed_mid_step_loses_nothing_and_the_timer_fires_once(
    engine: ProcessEngine, clock: ManualClock, tmp_path: Path
) -> None:
    local = _slow_engine(engine)
    local.deploy(bundle("slow"), actor="owner")
    started = local.start("slow_timer", business_key="K1")
    # The worker's clock stands a week on, when the one-day timer is due.
    worker = _child(
        engine.db.url.render_as_string(hide_password=False),
        clock.now() + timedelta(days=7),
        markers=tmp_path,
        hold=True,
    )
    with worker:
        try:
            _wait_for_line(worker, f"in step {started.instance_id}")
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
    row = instance_row(local, started.instance_id)
    assert row.status == InstanceStatus.WAITING and row.version == 1  # the step rolled back whole
    assert open_tasks(local, started.instance_id) == []
    clock.set(row.next_timer_at)  # type: ignore[arg-type]
    assert local.fire_due_timers() == 1
    assert [t.element_id for t in open_tasks(local, started.instance_id)] == ["sl_review"]
    with local.db.transaction(write=False) as session:
        fired = session.scalar(select(func.count()).where(AuditEvent.event == "timer_fired"))
    assert fired == 1


def _run_workers(engine: ProcessEngine, tmp_path: Path, *, meet: bool) -> dict[str, set[int]]:
    """Run two worker processes a week on until both are done; the instances each one stepped."""
    url = engine.db.url.render_as_string(hide_password=False)
    now = engine.clock.now() + timedelta(days=7)
    names = ("a", "b")
    for name in names:
        (tmp_path / name).mkdir()
    workers = [
        _child(url, now, markers=tmp_path / name, peer=tmp_path / other if meet else None)
        for name, other in zip(names, reversed(names), strict=True)
    ]
    for name, worker in zip(names, workers, strict=True):
        with worker:
            worker.communicate(timeout=300)  # drains its "in step" lines as it goes
            assert worker.returncode == 0, (tmp_path / name / "worker.log").read_text()
    return {
        name: {int(marker.name.removeprefix("in-step-")) for marker in (tmp_path / name).glob("in-step-*")}
        for name in names
    }


def _fired_once_each(engine: ProcessEngine, count: int) -> None:
    with engine.db.transaction(write=False) as session:
        fired = Counter(
            session.scalars(select(AuditEvent.instance_id).where(AuditEvent.event == "timer_fired"))
        )
        reviews = Counter(
            session.scalars(select(HumanTask.instance_id).where(HumanTask.element_id == "sl_review"))
        )
    assert len(fired) == count and set(fired.values()) == {1}
    assert len(reviews) == count and set(reviews.values()) == {1}


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES, reason="several workers at once need PostgreSQL (SKIP LOCKED)")
def test_two_worker_processes_share_300_due_timers_and_fire_each_exactly_once(
    engine: ProcessEngine, tmp_path: Path
) -> None:
    local = _slow_engine(engine)
    local.deploy(bundle("slow"), actor="owner")
    started = {local.start("slow_timer", business_key=f"T{n:06d}").instance_id for n in range(300)}

    stepped = _run_workers(local, tmp_path, meet=True)

    _fired_once_each(local, 300)
    assert stepped["a"] | stepped["b"] == started and not stepped["a"] & stepped["b"]
    # Both took part at the same time: each was inside a step while the other held its claim. A claim
    # that waited for the other worker's locked rows (no SKIP LOCKED) could not have.
    assert (tmp_path / "a" / "met-peer").exists() and (tmp_path / "b" / "met-peer").exists()


def test_two_worker_processes_fire_each_due_timer_exactly_once_on_either_database(
    engine: ProcessEngine, tmp_path: Path
) -> None:
    # On SQLite a write transaction takes the database lock, so the second worker's claim waits for
    # the first worker's batch to commit and then sees those timers moved on: never fired twice.
    local = _slow_engine(engine)
    local.deploy(bundle("slow"), actor="owner")
    started = {local.start("slow_timer", business_key=f"T{n:06d}").instance_id for n in range(120)}

    stepped = _run_workers(local, tmp_path, meet=False)

    _fired_once_each(local, 120)
    assert stepped["a"] | stepped["b"] == started and not stepped["a"] & stepped["b"]


def test_a_service_that_fails_half_way_leaves_no_partial_writes(
    database: object, clock: ManualClock, engine: ProcessEngine
) -> None:
    services = ServiceRegistry()

    def flaky(ctx: StepContext, note: str) -> dict[str, bool]:
        ctx.session.add(AuditEvent(at=clock.now(), actor="service", event="half_written"))
        ctx.session.flush()
        raise ConnectionError("the records system went away")

    services.register("flaky", flaky)
    services.register("record_decision", lambda ctx, amount, approved: {})
    local = ProcessEngine(engine.db, clock=clock, services=services, known_roles={"CLERK", "MANAGER"})
    local.deploy(bundle("scripts"), actor="owner")
    result = local.start("service_failure", business_key="S1", data={"note": "x"})
    assert result.status == InstanceStatus.ERROR
    with local.db.transaction(write=False) as session:
        half = session.scalar(select(func.count()).where(AuditEvent.event == "half_written"))
    assert half == 0


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES, reason="deadlocks between transactions are PostgreSQL's to detect")
def test_a_transaction_the_database_undoes_for_a_deadlock_runs_again(engine: ProcessEngine) -> None:
    db = engine.db
    with db.transaction() as session:
        session.execute(text("CREATE TABLE deadlock_probe (id integer PRIMARY KEY, n integer NOT NULL)"))
        session.execute(text("INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)"))
    barrier = threading.Barrier(2)
    attempts: Counter[int] = Counter()
    failures: list[BaseException] = []

    @retried_when_deadlocked
    def count_both(first: int, second: int) -> None:
        attempts[first] += 1
        with db.transaction() as session:
            session.execute(text("UPDATE deadlock_probe SET n = n + 1 WHERE id = :id"), {"id": first})
            if attempts[first] == 1:
                barrier.wait(timeout=10)  # each holds one row and now wants the other's: a deadlock
            session.execute(text("UPDATE deadlock_probe SET n = n + 1 WHERE id = :id"), {"id": second})

    def run(first: int, second: int) -> None:
        try:
            count_both(first, second)
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            failures.append(err)

    try:
        threads = [threading.Thread(target=run, args=pair) for pair in ((1, 2), (2, 1))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with db.transaction(write=False) as session:
            counts = dict(session.execute(text("SELECT id, n FROM deadlock_probe ORDER BY id")).all())
    finally:
        with db.transaction() as session:
            session.execute(text("DROP TABLE deadlock_probe"))
    assert failures == []
    assert counts == {1: 2, 2: 2}  # both transactions counted, each once
    assert sorted(attempts.values()) == [1, 2]  # the one the database undid ran again
