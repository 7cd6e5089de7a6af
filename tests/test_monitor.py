"""The stuck rules with the clock moved: a step is stuck once it has waited longer than its expected
time (from the model's expectedDuration, or the default), an errored instance always is, and each
says why it waits in plain words; counts per step; reassigning work and out-of-office routing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from casework_area import om_username
from conftest import START
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_process_model import CRN, Case, case, om_engine

from casework.models import Staff
from engine.clock import ManualClock, WorkingCalendar
from engine.errors import EngineError, NotPermitted
from engine.models import AuditEvent, ProcessInstance
from engine.monitoring import (
    DEFAULT_EXPECTED,
    Expected,
    Monitor,
    Step,
    read_bpmn,
    reassign_all_tasks,
    reassign_task,
    working_days_before,
)
from engine.runtime import Actor
from tasks import monitor as probation
from tasks.assignment import covering
from tasks.staff_names import display_names

__all__ = ["case", "om_engine"]  # fixtures shared with the process model tests

DAY = timedelta(days=1)
CALENDAR = WorkingCalendar()
OWNER = om_username("north", "PO", "E")


def stuck_reasons(case: Case, clock: ManualClock) -> list[str]:
    with case.engine.db.transaction(write=False) as session:
        monitor = Monitor(session, clock.now(), case.engine.calendar)
        people = display_names(session, [i.holder for i in monitor.stuck().items], clock.now().date())
        return [item.reason(clock.now(), case.engine.calendar, people) for item in monitor.stuck().items]


# ------------------------------------------------------------------------------- expected times


def test_expected_durations_read_working_days_and_iso_durations() -> None:
    monday = START  # Monday 2 November 2026, 09:00
    assert Expected.parse("2 working days").cutoff(monday, CALENDAR) == monday - 4 * DAY  # the Thursday
    assert Expected.parse("P3D").cutoff(monday, CALENDAR) == monday - 3 * DAY
    assert Expected.parse("PT4H").cutoff(monday, CALENDAR) == monday - timedelta(hours=4)
    assert working_days_before(monday + 2 * DAY, 2, CALENDAR) == monday
    with pytest.raises(ValueError, match="expectedDuration 'soon' is not a duration"):
        Expected.parse("soon")


def test_a_step_without_expected_duration_gets_the_default() -> None:
    xml = b"""<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
        xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core">
      <bpmn:process id="p">
        <bpmn:userTask id="a" name="Do A"><bpmn:extensionElements><spiffworkflow:properties>
          <spiffworkflow:property name="expectedDuration" value="P1D" />
        </spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>
        <bpmn:userTask id="b" name="Do B" />
      </bpmn:process></bpmn:definitions>"""
    steps: dict[str, Step] = {}
    read_bpmn(etree.fromstring(xml), steps, {}, {})
    assert (steps["a"].expected.text, steps["a"].expected_set) == ("P1D", True)
    assert (steps["b"].expected.text, steps["b"].expected_set) == (DEFAULT_EXPECTED, False)


# ---------------------------------------------------------------------------------- stuck rules


def test_an_open_task_is_stuck_only_after_its_steps_expected_time(case: Case, clock: ManualClock) -> None:
    case.start()  # "Write the pre-sentence report": due in 15 working days, expected in 15
    case.engine.claim(case.task("write_psr").id, Actor(OWNER, frozenset({"OM"})))
    clock.set(START + 20 * DAY)  # Sunday 22 November: 15 working days, as expected
    assert stuck_reasons(case, clock) == []
    clock.set(START + 22 * DAY)  # Tuesday 24 November: 16 working days
    assert stuck_reasons(case, clock) == [
        "task held by OM North PO E for 16 working days (overdue since 23 Nov)"
    ]


def test_a_task_held_by_someone_on_leave_says_so(case: Case, clock: ManualClock) -> None:
    case.start()
    case.engine.claim(case.task("write_psr").id, Actor(OWNER, frozenset({"OM"})))
    with case.engine.db.transaction() as session:
        scope = probation.scope_for(session, _staff_id(session, "spo.north"))
        probation.set_out_of_office(
            session,
            scope,
            OWNER,
            om_username("north", "PO", "N"),
            date(2026, 12, 31),
            at=START,
            by="spo.north",
            reason="annual leave",
        )
    clock.set(START + 22 * DAY)
    assert stuck_reasons(case, clock) == [
        "task held by OM North PO E (on leave) for 16 working days (overdue since 23 Nov)"
    ]


def test_waiting_for_a_message_is_stuck_after_the_expected_time_and_says_since_when(
    case: Case, clock: ManualClock
) -> None:
    case.start()
    case.screen("MEDIUM", "NOT_ELIGIBLE", [])  # now waiting for the sentencing outcome (20 working days)
    with case.engine.db.transaction() as session:  # no chase timer for this test: only the message
        session.get(ProcessInstance, case.instance_id).next_timer_at = None  # type: ignore[union-attr]
    clock.set(START + 27 * DAY)  # Sunday 29 November: 19 working days since the wait began
    assert stuck_reasons(case, clock) == []
    clock.set(START + 29 * DAY)  # Tuesday 1 December: 21
    assert stuck_reasons(case, clock) == ["waiting for the sentencing outcome message since 2 Nov"]


def test_a_timer_the_workers_have_not_fired_is_stuck(case: Case, clock: ManualClock) -> None:
    case.start()
    case.screen("MEDIUM", "NOT_ELIGIBLE", [])
    due = case.instance().next_timer_at
    assert due is not None
    clock.set(due + timedelta(minutes=10))
    assert stuck_reasons(case, clock) == []
    clock.set(due + timedelta(minutes=20))
    assert "timer due 4 Nov has not fired: the workers are behind or stopped" in stuck_reasons(case, clock)


def test_an_instance_in_error_is_stuck_with_step_and_message(case: Case, clock: ManualClock) -> None:
    case.start()
    with case.engine.db.transaction() as session:
        instance = session.get(ProcessInstance, case.instance_id)
        assert instance is not None
        instance.status = "error"
        instance.error = {
            "element_id": "write_psr",
            "line": 3,
            "message": "NameError: name 'x' is not defined",
        }
    assert stuck_reasons(case, clock) == [
        "failed at Write the pre-sentence report line 3: NameError: name 'x' is not defined"
    ]


def test_counts_by_step_say_how_many_are_there_and_how_many_are_late(case: Case, clock: ManualClock) -> None:
    case.start()
    second = Case(case.engine, "X100002")
    second.start()
    second.screen("MEDIUM", "NOT_ELIGIBLE", [])
    clock.set(START + 22 * DAY)  # past the report's due date; the outcome is within its 20 working days
    with case.engine.db.transaction(write=False) as session:
        monitor = Monitor(session, clock.now(), case.engine.calendar)
        counts = monitor.counts_by_step(monitor.definitions("offender_management"))
    assert counts == {
        "write_psr": {"now": 1, "overdue": 1, "errors": 0},
        "receive_outcome": {"now": 1, "overdue": 0, "errors": 0},
    }


# ------------------------------------------------------------------------------ putting it right


def test_reassigning_one_task_or_all_of_an_officers_tasks_is_audited_with_the_reason(
    case: Case, clock: ManualClock
) -> None:
    case.start()
    other = Case(case.engine, "X100002")
    other.start()
    for c in (case, other):
        case.engine.claim(c.task("write_psr").id, Actor(OWNER, frozenset({"OM"})))
    cover = om_username("north", "PO", "N")
    with case.engine.db.transaction() as session:
        with pytest.raises(EngineError, match="Give a reason"):
            reassign_task(session, case.task("write_psr").id, cover, actor="spo.north", at=START, reason=" ")
        reassign_task(session, case.task("write_psr").id, cover, actor="spo.north", at=START, reason="urgent")
    with case.engine.db.transaction() as session:
        moved = reassign_all_tasks(session, OWNER, None, actor="spo.north", at=START, reason="long-term sick")
        assert [t.business_key for t in moved] == ["X100002"]
    assert (case.task("write_psr").assignee, case.task("write_psr").claimed_by) == (cover, None)
    assert (other.task("write_psr").assignee, other.task("write_psr").claimed_by) == (None, None)
    with case.engine.db.transaction(write=False) as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.event == "task_reassigned").order_by(AuditEvent.id)
        ).all()
    assert [(r.business_key, r.actor, r.reason) for r in rows] == [
        (CRN, "spo.north", "urgent"),
        ("X100002", "spo.north", "long-term sick"),
    ]


def test_out_of_office_routing_sends_new_tasks_to_the_cover_until_the_date(
    case: Case, clock: ManualClock
) -> None:
    cover = om_username("north", "PO", "N")
    with case.engine.db.transaction() as session:
        scope = probation.scope_for(session, _staff_id(session, "spo.north"))
        with pytest.raises(EngineError, match="colleague other than"):
            probation.set_out_of_office(
                session,
                scope,
                "spo.north",
                "spo.north",
                date(2026, 11, 6),
                at=START,
                by="aco.one",
                reason="x",
            )
        probation.set_out_of_office(
            session, scope, "spo.north", cover, date(2026, 11, 6), at=START, by="spo.north", reason="training"
        )
    with case.engine.db.transaction(write=False) as session:
        assert probation.routings(session, scope, START.date())[0].cover.username == cover
    with case.engine.db.transaction(write=False) as session:
        assert covering(session, "spo.north", date(2026, 11, 6)) == cover
        assert covering(session, "spo.north", date(2026, 11, 7)) == "spo.north"
        assert covering(session, OWNER, date(2026, 11, 6)) == OWNER


def test_only_spos_and_acos_have_a_scope(case: Case) -> None:
    with case.engine.db.transaction(write=False) as session:
        assert probation.scope_for(session, _staff_id(session, "aco.one")).area
        north = probation.scope_for(session, _staff_id(session, "spo.north"))
        assert not north.area and north.team_id is not None
        with pytest.raises(NotPermitted, match="Only Senior Probation Officers and ACOs"):
            probation.scope_for(session, _staff_id(session, OWNER))


def _staff_id(session: Session, username: str) -> int:
    found = session.scalar(select(Staff.id).where(Staff.username == username))
    assert found is not None
    return int(found)
