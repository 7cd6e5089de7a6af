"""Messages from outside: correlated by case reference, kept when early, never applied twice."""

from __future__ import annotations

from datetime import timedelta

from conftest import CLERK, bundle
from sqlalchemy import select
from test_runtime import instance_row, open_tasks

from engine.clock import ManualClock
from engine.models import InboundMessage, MessageWait, OutboxMessage
from engine.runtime import InstanceStatus, ProcessEngine


def start_court_case(engine: ProcessEngine, crn: str) -> int:
    return engine.start("court_outcome", business_key=crn, data={"crn": crn, "court": "Carlisle"}).instance_id


def test_the_wait_is_indexed_by_message_name_and_case_reference(engine: ProcessEngine) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    instance_id = start_court_case(engine, "X100001")
    with engine.db.transaction(write=False) as session:
        waits = session.execute(select(MessageWait.message_name, MessageWait.correlation_value)).all()
    assert waits == [("outcome", "X100001")]
    assert instance_row(engine, instance_id).status == InstanceStatus.WAITING


def test_an_outcome_reaches_the_waiting_case_and_its_payload_is_kept(engine: ProcessEngine) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    instance_id = start_court_case(engine, "X100001")
    delivery = engine.deliver_message("outcome", "X100001", {"result": "custody"}, idempotency_key="court-1")
    assert (delivery.status, delivery.instance_id) == ("delivered", instance_id)
    assert [t.element_id for t in open_tasks(engine, instance_id)] == ["co_record"]
    assert '"result": "custody"' in instance_row(engine, instance_id).state
    with engine.db.transaction(write=False) as session:
        assert session.scalars(select(MessageWait)).all() == []


def test_a_message_for_another_case_does_not_touch_this_one(engine: ProcessEngine) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    first = start_court_case(engine, "X100001")
    second = start_court_case(engine, "X100002")
    delivery = engine.deliver_message("outcome", "X100002", {"result": "community order"})
    assert delivery.instance_id == second
    assert open_tasks(engine, first) == []
    assert instance_row(engine, first).status == InstanceStatus.WAITING


def test_an_outcome_that_arrives_before_the_request_is_kept_and_delivered_when_the_wait_appears(
    engine: ProcessEngine,
) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    early = engine.deliver_message("outcome", "X100001", {"result": "suspended sentence"})
    assert early.status == "unknown_case"
    instance_id = start_court_case(engine, "X100001")
    assert [t.element_id for t in open_tasks(engine, instance_id)] == ["co_record"]
    with engine.db.transaction(write=False) as session:
        message = session.get(InboundMessage, early.message_id)
    assert message is not None
    assert (message.status, message.instance_id) == ("delivered", instance_id)


def test_a_message_for_a_known_case_not_yet_waiting_is_stored(engine: ProcessEngine) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    instance_id = start_court_case(engine, "X100001")
    engine.deliver_message("outcome", "X100001", {"result": "custody"})
    again = engine.deliver_message("outcome", "X100001", {"result": "custody, corrected"})
    # The case no longer waits for an outcome: the second message is kept, not lost or applied.
    assert again.status == "stored"
    assert '"result": "custody"' in instance_row(engine, instance_id).state


def test_a_repeated_idempotency_key_is_acknowledged_and_not_applied_twice(engine: ProcessEngine) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    first_case = start_court_case(engine, "X100001")
    first = engine.deliver_message("outcome", "X100001", {"result": "custody"}, idempotency_key="court-77")
    start_court_case(engine, "X100002")
    repeat = engine.deliver_message("outcome", "X100001", {"result": "custody"}, idempotency_key="court-77")
    assert repeat.status == "duplicate"
    assert (repeat.message_id, repeat.instance_id) == (first.message_id, first_case)
    with engine.db.transaction(write=False) as session:
        assert len(session.scalars(select(InboundMessage)).all()) == 1


def test_a_message_for_an_unknown_case_is_kept_and_reported(engine: ProcessEngine) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    delivery = engine.deliver_message("outcome", "Z999999", {"result": "fine"}, sender="court-system")
    assert delivery.status == "unknown_case"
    with engine.db.transaction(write=False) as session:
        kept = session.scalars(select(InboundMessage).where(InboundMessage.status == "unknown_case")).all()
    assert [(m.correlation_value, m.sender) for m in kept] == [("Z999999", "court-system")]


def test_a_message_without_a_case_reference_is_refused(engine: ProcessEngine) -> None:
    import pytest

    from engine.errors import EngineError

    with pytest.raises(EngineError) as caught:
        engine.deliver_message("outcome", "", {})
    assert caught.value.code == "invalid_message"


def test_an_event_based_gateway_indexes_both_its_message_and_its_timer(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    started = engine.start("outcome_or_deadline", business_key="X100001", data={"crn": "X100001"})
    row = instance_row(engine, started.instance_id)
    assert row.next_timer_at == clock.now() + timedelta(days=3)
    with engine.db.transaction(write=False) as session:
        waits = session.execute(select(MessageWait.message_name, MessageWait.correlation_value)).all()
    assert waits == [("outcome", "X100001")]
    engine.deliver_message("outcome", "X100001", {"result": "custody"})
    assert [t.element_id for t in open_tasks(engine, started.instance_id)] == ["od_record"]
    assert instance_row(engine, started.instance_id).next_timer_at is None


def test_when_the_gateway_timer_wins_the_message_wait_is_withdrawn(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    started = engine.start("outcome_or_deadline", business_key="X100001", data={"crn": "X100001"})
    clock.advance(timedelta(days=3))
    assert engine.fire_due_timers() == 1
    assert [t.element_id for t in open_tasks(engine, started.instance_id)] == ["od_chase"]
    with engine.db.transaction(write=False) as session:
        assert session.scalars(select(MessageWait)).all() == []
    assert engine.deliver_message("outcome", "X100001", {"result": "late"}).status == "stored"


def test_a_thrown_message_is_queued_once_however_many_steps_follow(engine: ProcessEngine) -> None:
    engine.deploy(bundle("timing"), actor="owner")
    instance_id = start_court_case(engine, "X100001")
    engine.deliver_message("outcome", "X100001", {"result": "custody"})
    [record] = open_tasks(engine, instance_id)
    engine.complete_task(record.id, CLERK, {})
    with engine.db.transaction(write=False) as session:
        names = session.scalars(select(OutboxMessage.message_name)).all()
    assert names == ["request_outcome"]
