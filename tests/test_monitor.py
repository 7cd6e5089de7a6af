"""The stuck rules with the clock moved: a task is stuck once past its due date or its step's expected
time (from the model's expectedDuration, or the default); a wait for a message only once past the
expected time its receiving step sets (a standing wait never is); a timer once the workers have not
fired it; an instance in error or suspended always is. Each says why in plain words; the list filters
by step, team and kind, and the diagram's counts agree with it. Reassigning work and out-of-office
routing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from casework_area import om_username
from conftest import START
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_process_model import CRN, Case, case, om_engine, under_oversight

from casework.models import Case as CaseRecord
from casework.models import Staff, Team
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
from tasks.case_team import pass_case_team_on
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
    assert stuck_reasons(case, clock) == ["Overdue by 1 working day, held by OM North PO E"]
    clock.set(START + 29 * DAY)  # Tuesday 1 December
    assert stuck_reasons(case, clock) == ["Overdue by 6 working days, held by OM North PO E"]


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
    assert stuck_reasons(case, clock) == ["Overdue by 1 working day, held by OM North PO E (on leave)"]


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
    assert stuck_reasons(case, clock) == [
        "Waiting for the sentencing outcome for 21 working days; expected within 20 working days"
    ]


def test_a_timer_the_workers_have_not_fired_is_stuck(case: Case, clock: ManualClock) -> None:
    case.start()
    case.screen("MEDIUM", "NOT_ELIGIBLE", [])
    due = case.instance().next_timer_at
    assert due is not None
    clock.set(due + timedelta(minutes=10))
    assert stuck_reasons(case, clock) == []
    clock.set(due + timedelta(minutes=20))
    assert stuck_reasons(case, clock) == [
        "Timer due 20 minutes ago has not fired: the workers are behind or stopped"
    ]
    clock.set(due + timedelta(hours=3, minutes=5))
    assert stuck_reasons(case, clock) == [
        "Timer due 3 hours ago has not fired: the workers are behind or stopped"
    ]


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
        "Error at Write the pre-sentence report, line 3: NameError: name 'x' is not defined"
    ]


def test_a_healthy_supervised_case_on_its_review_timer_and_standing_waits_is_not_stuck(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "MEDIUM", "E")
    assert case.open_tasks() == []
    standing = sorted(name for name, _crn in case.waits())
    assert len(standing) >= 5  # transfer requested, arrest or new charge, case ending, ...
    due = case.instance().next_timer_at
    assert due is not None
    clock.set(due - timedelta(hours=1))  # months on: every standing wait is far past 10 working days
    assert due - START > 30 * DAY
    assert stuck_reasons(case, clock) == []
    with case.engine.db.transaction(write=False) as session:
        monitor = Monitor(session, clock.now(), case.engine.calendar)
        instance = session.get(ProcessInstance, case.instance_id)
        assert instance is not None
        waits = monitor.waiting(instance)
        assert [w.kind for w in waits].count("message") == len(standing)
        assert [monitor.is_stuck(w) for w in waits] == [False] * len(waits)
        reasons = [w.reason(clock.now(), case.engine.calendar) for w in waits if w.kind == "message"]
        assert all(r.endswith("a standing wait, with no expected time") for r in reasons), reasons
        counts = monitor.counts_by_step(monitor.definitions("offender_management"))
        assert sum(c["now"] for c in counts.values()) == len(standing)
        assert sum(c["overdue"] + c["errors"] for c in counts.values()) == 0
        assert monitor.stuck_off_the_diagram() == {"timer": 0, "suspended": 0}
    clock.set(due + timedelta(hours=1))  # the review timer is an hour late: the workers are down
    assert stuck_reasons(case, clock) == [
        "Timer due 1 hour ago has not fired: the workers are behind or stopped"
    ]


def test_a_suspended_instance_is_stuck_with_who_suspended_it_and_why(case: Case, clock: ManualClock) -> None:
    case.start()
    case.engine.suspend(
        case.instance_id, Actor("spo.north", frozenset({"SPO"})), reason="court appeal lodged"
    )
    clock.set(START + DAY)
    assert stuck_reasons(case, clock) == ["Suspended on 2 Nov by SPO North: court appeal lodged"]


def _mixed_area(case: Case, clock: ManualClock) -> None:
    """Four North cases on 1 December: a late report, an outcome overdue by its expected time (its
    chase timer cleared), one failed at the report, one whose chase timer has not fired."""
    case.start()  # the report is overdue by 1 December
    waiting = Case(case.engine, "X100002")
    waiting.start()
    waiting.screen("MEDIUM", "NOT_ELIGIBLE", [])
    failed = Case(case.engine, "X100003")
    failed.start()
    timer = Case(case.engine, "X100004")
    clock.set(START + 26 * DAY)
    timer.start()
    timer.screen("MEDIUM", "NOT_ELIGIBLE", [])
    with case.engine.db.transaction() as session:
        row = session.get(ProcessInstance, waiting.instance_id)
        assert row is not None
        row.next_timer_at = None
        row = session.get(ProcessInstance, failed.instance_id)
        assert row is not None
        row.status, row.error = "error", {"element_id": "write_psr", "message": "KeyError: 'rosh'"}
        teams = list(session.scalars(select(Team).order_by(Team.id)))
        for crn, team in (
            (CRN, teams[0]),
            ("X100002", teams[0]),
            ("X100003", teams[1]),
            ("X100004", teams[1]),
        ):
            found = session.scalar(select(CaseRecord).where(CaseRecord.crn == crn))
            assert found is not None
            found.team = team
            pass_case_team_on(session, crn)  # the instance and its tasks take the case's team
    clock.set(START + 29 * DAY)  # Tuesday 1 December


def test_the_stuck_list_filters_by_step_team_and_kind(case: Case, clock: ManualClock) -> None:
    _mixed_area(case, clock)
    with case.engine.db.transaction(write=False) as session:
        monitor = Monitor(session, clock.now(), case.engine.calendar)
        teams = session.scalars(select(ProcessInstance.team_id).order_by(ProcessInstance.id)).all()
        first, second = teams[0], teams[2]
        assert first is not None and second is not None and first != second

        def listed(**filters: Any) -> list[tuple[str, str, str]]:
            return [(i.business_key, i.kind, i.step) for i in monitor.stuck(**filters).items]

        # Errors first, then the longest waiting (the failed case's report is late too); ties by instance.
        assert listed() == [
            ("X100003", "error", "Write the pre-sentence report"),
            (CRN, "task", "Write the pre-sentence report"),
            ("X100002", "message", "Receive the sentencing outcome"),
            ("X100003", "task", "Write the pre-sentence report"),
            ("X100004", "timer", "a timer"),
        ]
        assert listed(step="write_psr") == [
            ("X100003", "error", "Write the pre-sentence report"),
            (CRN, "task", "Write the pre-sentence report"),
            ("X100003", "task", "Write the pre-sentence report"),
        ]
        assert listed(step="receive_outcome") == [("X100002", "message", "Receive the sentencing outcome")]
        assert listed(kind="timer") == [("X100004", "timer", "a timer")]
        assert listed(kind="task", step="receive_outcome") == []
        assert listed(team_id=first) == [
            (CRN, "task", "Write the pre-sentence report"),
            ("X100002", "message", "Receive the sentencing outcome"),
        ]
        assert listed(team_id=second, kind="error") == [("X100003", "error", "Write the pre-sentence report")]
        assert listed(team_id=-1) == []
        with pytest.raises(ValueError, match="'late' is not a kind of stuck work: use one of error, "):
            monitor.stuck(kind="late")


def test_the_diagrams_counts_agree_with_the_stuck_list(case: Case, clock: ManualClock) -> None:
    _mixed_area(case, clock)
    with case.engine.db.transaction(write=False) as session:
        monitor = Monitor(session, clock.now(), case.engine.calendar)
        definitions = monitor.definitions("offender_management")
        team = session.get(ProcessInstance, case.instance_id).team_id  # type: ignore[union-attr]
        area = (
            {},
            {
                "write_psr": {"now": 3, "overdue": 2, "errors": 1},
                "receive_outcome": {"now": 2, "overdue": 1, "errors": 0},
            },
            {"timer": 1, "suspended": 0},
        )
        one_team = (
            {"team_id": team},
            {
                "write_psr": {"now": 1, "overdue": 1, "errors": 0},
                "receive_outcome": {"now": 1, "overdue": 1, "errors": 0},
            },
            {"timer": 0, "suspended": 0},
        )
        for scope, late_steps, off_the_diagram in (area, one_team):  # from the tallies, and from rows
            counts = monitor.counts_by_step(definitions, **scope)
            assert {e: c for e, c in counts.items() if c["overdue"] or c["errors"]} == late_steps
            for element_id, figures in counts.items():
                at_step = monitor.stuck(step=element_id, **scope).items
                assert len([i for i in at_step if i.kind != "error"]) == figures["overdue"], element_id
                assert len([i for i in at_step if i.kind == "error"]) == figures["errors"], element_id
            assert monitor.stuck_off_the_diagram(**scope) == off_the_diagram
            for kind, n in off_the_diagram.items():
                assert len(monitor.stuck(kind=kind, **scope).items) == n


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
