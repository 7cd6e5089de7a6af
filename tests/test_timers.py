"""Timers on the moved clock: cycles, interrupting and non-interrupting deadlines, lateness, the worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import CLERK, START, bundle
from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_runtime import audit_events, instance_row, open_tasks

from engine.clock import ManualClock
from engine.messaging import OutboxHandlers
from engine.models import AuditEvent, HumanTask, ProcessInstance
from engine.runtime import InstanceStatus, ProcessEngine
from engine.worker import Worker


def test_a_fortnightly_cycle_fires_26_times_in_a_simulated_year(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    started = engine.start("fortnightly", business_key="F1", data={"reviews": 0, "limit": 1000})
    assert instance_row(engine, started.instance_id).next_timer_at == START + timedelta(days=14)
    fired = 0
    for _ in range(365):
        clock.advance(timedelta(days=1))
        fired += engine.fire_due_timers()
    assert fired == 26
    assert '"reviews": 26' in instance_row(engine, started.instance_id).state


def test_a_timer_is_not_fired_before_it_is_due(engine: ProcessEngine, clock: ManualClock) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    engine.start("fortnightly", business_key="F1", data={"reviews": 0, "limit": 10})
    clock.advance(timedelta(days=13, hours=23))
    assert engine.fire_due_timers() == 0


def test_a_late_timer_fires_once_the_worker_is_back_and_records_its_lateness(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    started = engine.start("fortnightly", business_key="F1", data={"reviews": 0, "limit": 1})
    clock.advance(timedelta(days=17))  # the worker was down for three days past the due time
    assert engine.fire_due_timers() == 1
    assert instance_row(engine, started.instance_id).status == InstanceStatus.COMPLETED
    with engine.db.transaction(write=False) as session:
        fired = session.scalar(select(AuditEvent).where(AuditEvent.event == "timer_fired"))
    assert fired is not None and fired.detail is not None
    assert fired.detail["late_seconds"] == 3 * 24 * 3600


def test_after_a_long_outage_a_duration_timer_fires_once_and_the_next_turn_counts_from_now(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    started = engine.start("fortnightly", business_key="F1", data={"reviews": 0, "limit": 1000})
    clock.advance(timedelta(days=70))
    assert engine.fire_due_timers() == 1
    row = instance_row(engine, started.instance_id)
    assert '"reviews": 1' in row.state
    assert row.next_timer_at == clock.now() + timedelta(days=14)


def test_a_non_interrupting_deadline_creates_a_chaser_and_leaves_the_task_open(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    started = engine.start("deadline", business_key="D1")
    [assess] = open_tasks(engine, started.instance_id)
    assert assess.due_at == START + timedelta(days=2)
    clock.advance(timedelta(days=2))
    engine.fire_due_timers()
    assert sorted(t.element_id for t in open_tasks(engine, started.instance_id)) == ["dl_assess", "dl_chase"]


def test_an_interrupting_deadline_cancels_the_task_and_escalates(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    started = engine.start("deadline", business_key="D1")
    [assess] = open_tasks(engine, started.instance_id)
    clock.advance(timedelta(days=5))
    engine.fire_due_timers()
    open_now = {t.element_id: t for t in open_tasks(engine, started.instance_id)}
    assert "dl_assess" not in open_now
    assert open_now["dl_escalated"].candidate_role == "MANAGER"
    with engine.db.transaction(write=False) as session:
        cancelled = session.get(HumanTask, assess.id)
    assert cancelled is not None and cancelled.state == "cancelled"
    assert "task_cancelled" in audit_events(engine, started.instance_id)


def test_completing_the_task_in_time_disarms_its_deadlines(engine: ProcessEngine, clock: ManualClock) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    started = engine.start("deadline", business_key="D1")
    [assess] = open_tasks(engine, started.instance_id)
    clock.advance(timedelta(days=1))
    result = engine.complete_task(assess.id, CLERK, {})
    assert result.status == InstanceStatus.COMPLETED
    assert instance_row(engine, started.instance_id).next_timer_at is None
    clock.advance(timedelta(days=10))
    assert engine.fire_due_timers() == 0


def test_a_suspended_instance_does_not_fire_its_timers_until_resumed(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    started = engine.start("deadline", business_key="D1")
    engine.suspend(started.instance_id, CLERK, reason="paused for review")
    clock.advance(timedelta(days=5))
    assert engine.fire_due_timers() == 0
    engine.resume(started.instance_id, CLERK, reason="review finished")
    assert engine.fire_due_timers() == 1


def test_the_worker_sleeps_until_the_next_timer_at_most_the_poll_interval(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    worker = Worker(engine, poll_seconds=30)
    assert worker.seconds_until_next_timer() == 30
    engine.start("deadline", business_key="D1")
    clock.advance(timedelta(days=2) - timedelta(seconds=10))
    assert worker.seconds_until_next_timer() == 10
    clock.advance(timedelta(seconds=10))
    assert worker.run_once().timers_fired == 1


def test_the_worker_hands_thrown_messages_to_their_handler_once(engine: ProcessEngine) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    received: list[dict[str, object]] = []
    handlers = OutboxHandlers()
    handlers.register("request_outcome", lambda m: received.append(dict(m)))
    engine.start("court_outcome", business_key="X100001", data={"crn": "X100001", "court": "Carlisle"})
    worker = Worker(engine, outbox=handlers)
    assert worker.run_once().messages_sent == 1
    assert worker.run_once().messages_sent == 0
    assert [(m["message_name"], m["payload"]) for m in received] == [
        ("request_outcome", {"crn": "X100001", "court": "Carlisle"})
    ]


def test_a_failing_handler_keeps_the_message_for_the_next_sweep(engine: ProcessEngine) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    attempts: list[int] = []
    handlers = OutboxHandlers()

    def flaky(message: object) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("court system unavailable")

    handlers.register("request_outcome", flaky)
    engine.start("court_outcome", business_key="X100001", data={"crn": "X100001", "court": "Carlisle"})
    assert engine.deliver_outbox(handlers) == 0
    assert engine.deliver_outbox(handlers) == 1
    assert len(attempts) == 2


def test_a_deadline_on_nested_sub_processes_cancels_them_all_and_archives_them(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    started = engine.start("nested_deadline", business_key="N1")
    assert [t.element_id for t in open_tasks(engine, started.instance_id)] == ["nd_task"]
    clock.advance(timedelta(days=7))
    assert engine.fire_due_timers() == 1
    assert [t.element_id for t in open_tasks(engine, started.instance_id)] == ["nd_late"]
    state = instance_row(engine, started.instance_id).state
    assert '"subprocesses": {}' in state


def test_a_timer_start_event_waits_for_its_date(engine: ProcessEngine, clock: ManualClock) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    started = engine.start("timer_start", business_key="T1")
    assert started.status == InstanceStatus.WAITING
    assert instance_row(engine, started.instance_id).next_timer_at == datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    clock.set(datetime(2026, 11, 10, 9, 0, tzinfo=UTC))
    engine.fire_due_timers()
    assert [t.element_id for t in open_tasks(engine, started.instance_id)] == ["ts_task"]


def test_a_cycle_timer_fires_each_week_for_its_count_then_stops(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    started = engine.start("weekly_reminder", business_key="W1", data={"reminders": 0})
    fired = 0
    for _ in range(6):
        clock.advance(timedelta(days=7))
        fired += engine.fire_due_timers()
    assert fired == 3
    assert instance_row(engine, started.instance_id).next_timer_at is None
    assert [t.element_id for t in open_tasks(engine, started.instance_id)] == ["wr_task"]


def test_a_sweep_claims_in_batches_and_an_unexpected_failure_leaves_only_that_instance_due(
    engine: ProcessEngine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    ids = [
        engine.start("fortnightly", business_key=f"F{n}", data={"reviews": 0, "limit": 1}).instance_id
        for n in range(5)
    ]
    broken = ids[2]
    load = engine.stepper.load

    def failing_load(session: Session, instance: ProcessInstance, *, step: bool = False) -> BpmnWorkflow:
        if instance.id == broken:
            raise RuntimeError("storage hiccup")
        return load(session, instance, step=step)

    monkeypatch.setattr(engine.stepper, "load", failing_load)
    clock.advance(timedelta(days=14))
    assert engine.fire_due_timers(batch=2) == 4  # its batch rolls back; the others are claimed again
    assert instance_row(engine, broken).next_timer_at == START + timedelta(days=14)  # still due, untouched
    assert "timer_fired" not in audit_events(engine, broken)
    for other in (i for i in ids if i != broken):
        assert instance_row(engine, other).status == InstanceStatus.COMPLETED

    monkeypatch.setattr(engine.stepper, "load", load)  # the fault is gone: the next sweep fires it once
    assert engine.fire_due_timers() == 1
    assert instance_row(engine, broken).status == InstanceStatus.COMPLETED
