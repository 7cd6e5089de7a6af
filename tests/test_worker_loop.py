"""The loop `riskflow worker` and `riskflow serve` run: Worker.run, in a thread, on the moved clock.

The worker keeps sweeping while there is work, so a full outbox or a backlog of due timers is
handled at once rather than one batch per poll interval; an error does not stop it: a failed
sweep is logged and the next one goes on, and an instance whose step fails is logged and left due
while the other instances' timers fire. Nothing here sleeps to make a point: each test waits for
an event or a condition, with a timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from conftest import START, bundle
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from engine.clock import ManualClock
from engine.messaging import OutboxHandlers
from engine.models import AuditEvent, HumanTask, ProcessInstance
from engine.runtime import InstanceStatus, ProcessEngine
from engine.scripting import ServiceRegistry, StepContext
from engine.worker import Worker

WAIT = 20.0  # seconds: the longest any test waits for what it expects
LONG_POLL = 600.0  # a poll interval no test may wait out


@contextmanager
def running(worker: Worker, stop: threading.Event | None = None) -> Iterator[threading.Thread]:
    """Run `worker.run` in a thread for the block; stop it and make sure it ended."""
    stop = threading.Event() if stop is None else stop
    failures: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(stop)
        except BaseException as err:  # noqa: BLE001 - reported when the block ends
            failures.append(err)

    thread = threading.Thread(target=run, name="worker-under-test", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=WAIT)
    assert not thread.is_alive(), "the worker did not stop when asked"
    assert failures == [], f"the worker loop ended with {failures!r}"


def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait, up to WAIT seconds, for `condition` to hold (checking every 20 ms)."""
    pause = threading.Event()
    for _ in range(int(WAIT / 0.02)):
        if condition():
            return
        pause.wait(0.02)
    raise AssertionError(f"not within {WAIT:.0f} s: {what}")


def court_cases(engine: ProcessEngine, count: int) -> list[str]:
    """Start `count` court cases; each throws a request for the court outcome into the outbox."""
    engine.deploy(bundle("timing"), actor="owner")
    crns = [f"X{100001 + n}" for n in range(count)]
    for crn in crns:
        engine.start("court_outcome", business_key=crn, data={"crn": crn, "court": "Carlisle"})
    return crns


def test_the_worker_hands_on_the_whole_outbox_without_waiting_for_the_poll_interval(
    engine: ProcessEngine,
) -> None:
    crns = court_cases(engine, 4)
    handed_on: list[str] = []
    all_sent = threading.Event()

    def court_system(message: Any) -> None:
        handed_on.append(str(message["business_key"]))
        if len(handed_on) == len(crns):
            all_sent.set()

    handlers = OutboxHandlers()
    handlers.register("request_outcome", court_system)
    # One message per sweep: the rest are only sent if the loop sweeps again while there is work.
    worker = Worker(engine, outbox=handlers, poll_seconds=LONG_POLL, batch=1)

    with running(worker):
        assert all_sent.wait(WAIT), f"handed on only {handed_on} within {WAIT:.0f} s"

    assert handed_on == crns


def test_a_sweep_that_fails_is_logged_and_the_worker_goes_on(
    engine: ProcessEngine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    court_cases(engine, 1)
    sent = threading.Event()
    handlers = OutboxHandlers()
    handlers.register("request_outcome", lambda message: sent.set())
    fire_due_timers = engine.fire_due_timers
    calls: list[int] = []

    def database_away_once(**kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 1:  # the database connection drops during the first sweep
            raise OperationalError("SELECT ...", {}, ConnectionError("server closed the connection"))
        return fire_due_timers(**kwargs)

    monkeypatch.setattr(engine, "fire_due_timers", database_away_once)
    worker = Worker(engine, outbox=handlers, poll_seconds=0.05)

    with caplog.at_level(logging.ERROR, logger="riskflow.worker"), running(worker):
        assert sent.wait(WAIT), "the worker did not go on after the failed sweep"

    [failed] = [r for r in caplog.records if r.name == "riskflow.worker" and r.levelno == logging.ERROR]
    assert "worker sweep failed" in failed.getMessage()
    assert failed.exc_info is not None and "server closed the connection" in str(failed.exc_info[1])


def slow_cases(
    engine: ProcessEngine, clock: ManualClock, services: ServiceRegistry
) -> tuple[ProcessEngine, dict[str, int]]:
    """Three instances each waiting a day, then calling `slow_step`; the clock moved to when they are due."""
    local = ProcessEngine(engine.db, clock=clock, services=services, known_roles={"CLERK", "MANAGER"})
    local.deploy(bundle("slow"), actor="owner")
    ids = {key: local.start("slow_timer", business_key=key).instance_id for key in ("K1", "K2", "K3")}
    clock.set(START + timedelta(days=1))
    return local, ids


def reviews_open(engine: ProcessEngine) -> set[str]:
    with engine.db.transaction(write=False) as session:
        return set(session.scalars(select(HumanTask.business_key).where(HumanTask.element_id == "sl_review")))


def test_a_service_failing_in_one_instances_step_puts_it_in_error_and_the_other_timers_fire(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    services = ServiceRegistry()

    def slow_step(ctx: StepContext) -> dict[str, bool]:
        if ctx.business_key == "K2":  # writes a row the database refuses
            ctx.session.add(AuditEvent(at=ctx.clock.now(), actor="service", event=None))
        return {"done": True}

    services.register("slow_step", slow_step)
    local, ids = slow_cases(engine, clock, services)

    with running(Worker(local, poll_seconds=LONG_POLL)):
        eventually(lambda: reviews_open(local) == {"K1", "K3"}, "the other instances' timers fire")

    with local.db.transaction(write=False) as session:
        failed = session.get_one(ProcessInstance, ids["K2"])
        errored = session.scalars(
            select(AuditEvent.instance_id).where(AuditEvent.event == "instance_errored")
        )
        assert list(errored) == [ids["K2"]]  # on the case's timeline, for an operator to retry
    assert failed.status == InstanceStatus.ERROR and failed.error is not None
    assert "slow_step" in failed.error["message"] and "IntegrityError" in failed.error["message"]


class ObservedStop(threading.Event):
    """The worker's stop flag, noting each time the loop goes to sleep for the poll interval."""

    def __init__(self) -> None:
        super().__init__()
        self.asleep_for_the_poll_interval = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        if timeout == LONG_POLL:
            self.asleep_for_the_poll_interval.set()
        return super().wait(timeout)


def test_a_step_failing_unexpectedly_is_logged_left_due_and_retried_after_the_poll_interval(
    engine: ProcessEngine,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    services = ServiceRegistry()
    services.register("slow_step", lambda ctx: {"done": True})
    local, ids = slow_cases(engine, clock, services)
    fire_timer = local.timers._fire_timer
    tries: list[int] = []

    def state_cannot_be_saved(session: Any, instance: ProcessInstance, now: Any, *, flush: bool) -> None:
        if instance.id == ids["K2"]:
            tries.append(1)
            raise RuntimeError("the instance's state cannot be saved")
        fire_timer(session, instance, now, flush=flush)

    monkeypatch.setattr(local.timers, "_fire_timer", state_cannot_be_saved)
    stop = ObservedStop()

    with (
        caplog.at_level(logging.WARNING, logger="riskflow"),
        running(Worker(local, poll_seconds=LONG_POLL), stop),
    ):
        eventually(lambda: reviews_open(local) == {"K1", "K3"}, "the other instances' timers fire")
        # Once nothing more can be fired, the worker sleeps for the poll interval: it does not
        # retry the failing instance at once, over and over, filling the log.
        assert stop.asleep_for_the_poll_interval.wait(WAIT), f"still retrying after {len(tries)} tries"
        retries_before_sleeping = len(tries)

    assert 1 <= retries_before_sleeping <= 4  # one sweep in a batch and alone, and the next the same
    logged = [r for r in caplog.records if f"timer step of instance {ids['K2']} failed" in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    with local.db.transaction(write=False) as session:
        failing = session.get_one(ProcessInstance, ids["K2"])
    assert failing.status == InstanceStatus.WAITING and failing.next_timer_at == clock.now()  # stays due
