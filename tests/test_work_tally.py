"""The tallies of open work (engine.tally) stay exactly equal to a direct count of the rows through
everything that opens, moves or closes work, and the monitor's counts read from them match the
counts taken from the rows at any moment, across week boundaries; on PostgreSQL two transactions
changing the same tally at once both count."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from casework_area import om_username
from conftest import POSTGRES, START
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session
from test_process_model import Case, case, om_engine, under_oversight

from casework import register
from casework.models import Case as CaseRecord
from casework.models import Staff, Team
from engine.clock import ManualClock
from engine.models import HumanTask, ProcessInstance, WorkTally
from engine.monitoring import Monitor, reassign_all_tasks, reassign_task
from engine.runtime import Actor, ProcessEngine
from engine.tally import differences, rebuild, week_of, week_start
from tasks import monitor as probation
from tasks.due_dates import end_of_week
from tasks.monitor import Count, Scope, _busiest_first
from tasks.staff_names import display_names

__all__ = ["case", "om_engine"]  # fixtures shared with the process model tests

NORTH_PO = om_username("north", "PO", "E")
SOUTH_PO = om_username("south", "PO", "E")
COVER = om_username("north", "PO", "N")
MANAGER = Actor("spo.north", frozenset({"SPO"}))
DAY = timedelta(days=1)


def assert_in_step(case: Case) -> None:
    with case.engine.db.engine.connect() as connection:
        assert differences(connection) == []


def counted_and_tallied(case: Case, now: datetime) -> None:
    """The diagram's counts and the overview's task counts, from the tallies and from the rows."""
    with case.engine.db.transaction(write=False) as session:
        monitor = Monitor(session, now, case.engine.calendar)
        versions = monitor.definitions("offender_management")
        every_key = select(ProcessInstance.business_key)  # a key scope: counted from the rows
        for team_id in (None, *session.scalars(select(CaseRecord.team_id).distinct())):
            tallied = monitor.counts_by_step(versions, team_id=team_id)
            assert tallied == monitor.counts_by_step(versions, every_key, team_id=team_id)
        for staff in ("aco.one", "spo.north", "spo.south"):
            scope = probation.scope_for(
                session, session.scalars(select(Staff.id).filter_by(username=staff)).one()
            )
            assert probation.task_counts(session, scope, now) == rows_task_counts(session, scope, now)


def rows_task_counts(session: Session, scope: Scope, now: datetime) -> tuple[list[Count], list[Count]]:
    """The overview's task counts straight from the open task rows."""
    end = end_of_week(now)
    teams: dict[int, list[int]] = {}
    people: dict[str, list[int]] = {}
    rows = session.scalars(select(HumanTask).where(HumanTask.state == "open", HumanTask.due_at < end))
    for task in rows:
        if not scope.area and task.team_id != scope.team_id:
            continue
        late, week = (1, 0) if task.due_at < now else (0, 1)
        holder = task.claimed_by or task.assignee
        for totals in ([teams.setdefault(task.team_id, [0, 0])] if task.team_id else []) + (
            [people.setdefault(holder, [0, 0])] if holder else []
        ):
            totals[0] += late
            totals[1] += week
    names = display_names(session, people)
    team_names = dict(session.execute(select(Team.id, Team.name)).all())
    return (
        _busiest_first([Count(team_names[k], (v[0], v[1]), str(k)) for k, v in teams.items()]),
        _busiest_first([Count(names.get(k, k), (v[0], v[1]), k) for k, v in people.items()]),
    )


def test_the_tallies_follow_every_step_move_and_end_of_work(
    om_engine: ProcessEngine, clock: ManualClock
) -> None:
    first, second, third = Case(om_engine, "X100001"), Case(om_engine, "X100002"), Case(om_engine, "X100003")
    first.start()
    assert_in_step(first)
    second.start()
    second.screen("MEDIUM")  # waits for the sentencing outcome: a message wait
    assert_in_step(second)
    third.start()
    with om_engine.db.transaction() as session:
        register.assign_owner(session, first.crn, NORTH_PO, at=START, by="spo.north", reason="allocation")
        register.assign_owner(session, third.crn, NORTH_PO, at=START, by="spo.north", reason="allocation")
    assert_in_step(first)
    om_engine.claim(first.task("write_psr").id, Actor(NORTH_PO, frozenset({"OM"})))
    assert_in_step(first)
    with om_engine.db.transaction() as session:  # one task to a colleague, then all of theirs back
        reassign_task(session, first.task("write_psr").id, COVER, actor="spo.north", at=START, reason="leave")
    with om_engine.db.transaction() as session:
        reassign_all_tasks(session, COVER, None, actor="spo.north", at=START, reason="back to the pool")
    assert_in_step(first)
    with om_engine.db.transaction() as session:  # the case moves team: every row of it moves
        aco = probation.scope_for(
            session, session.scalars(select(Staff.id).filter_by(username="aco.one")).one()
        )
        probation.move_ownership(session, aco, third.crn, SOUTH_PO, at=START, by="aco.one", reason="moved")
    assert_in_step(third)
    clock.set(START + 3 * DAY)
    second.sentenced()  # the wait ends, new tasks open
    assert_in_step(second)
    om_engine.suspend(first.instance_id, MANAGER, reason="paused")
    assert_in_step(first)
    om_engine.resume(first.instance_id, MANAGER, reason="go on")
    first.screen("LOW")  # completes the report
    assert_in_step(first)
    with om_engine.db.transaction() as session:  # an instance fails: its waits no longer count
        session.execute(
            update(ProcessInstance)
            .where(ProcessInstance.id == first.instance_id)
            .values(status="error", error={"element_id": "write_psr"}, updated_at=START + 4 * DAY)
        )
    assert_in_step(first)
    om_engine.terminate(third.instance_id, MANAGER, reason="closed in error")
    assert_in_step(third)
    for now in (START + 3 * DAY, START + 20 * DAY, START + 40 * DAY):
        counted_and_tallied(first, now)


def test_counts_from_the_tallies_match_the_rows_on_every_day_around_week_and_cutoff_boundaries(
    om_engine: ProcessEngine, clock: ManualClock
) -> None:
    cases = [Case(om_engine, f"X2000{n:02d}") for n in range(6)]
    for n, one in enumerate(cases):
        clock.set(START + n * timedelta(days=2, hours=7))
        one.start()
        if n % 2:
            one.screen("MEDIUM")
    with om_engine.db.transaction() as session:
        register.assign_owner(session, cases[0].crn, NORTH_PO, at=START, by="spo.north", reason="allocation")
    assert_in_step(cases[0])
    for hours in range(0, 45 * 24, 17):  # every few hours for six weeks
        counted_and_tallied(cases[0], START + timedelta(hours=hours))


def test_rebuild_recounts_a_damaged_tally(case: Case) -> None:
    under_oversight(case, "MEDIUM", "E")
    with case.engine.db.engine.begin() as connection:
        connection.execute(text("UPDATE work_tally SET n = n + 5"))
        assert differences(connection) != []
        rebuild(connection)
        assert differences(connection) == []


def test_weeks_start_on_monday_utc() -> None:
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    assert week_start(week_of(monday)) == monday
    assert week_of(monday - timedelta(microseconds=1)) == week_of(monday) - 1
    assert week_of(monday + timedelta(days=6, hours=23)) == week_of(monday)


@pytest.mark.skipif(not POSTGRES, reason="concurrent writers need PostgreSQL")
def test_two_transactions_changing_one_tally_at_once_both_count(om_engine: ProcessEngine) -> None:
    cases = [Case(om_engine, "X300001"), Case(om_engine, "X300002")]
    for one in cases:
        one.start()  # both wait at the same step, in the same team and weeks: one tally row
    task_ids = [one.task("write_psr").id for one in cases]

    def tally() -> int:
        with om_engine.db.engine.connect() as connection:
            return int(
                connection.scalar(
                    select(WorkTally.n).where(WorkTally.kind == "step", WorkTally.name == "write_psr")
                )
                or 0
            )

    assert tally() == 2
    first = om_engine.db.engine.connect()
    first_tx = first.begin()
    first.execute(update(HumanTask).where(HumanTask.id == task_ids[0]).values(state="completed"))
    done = threading.Event()

    def second_writer() -> None:
        with om_engine.db.engine.begin() as second:  # waits for the first to commit, then adds to it
            second.execute(update(HumanTask).where(HumanTask.id == task_ids[1]).values(state="completed"))
        done.set()

    writer = threading.Thread(target=second_writer)
    writer.start()
    assert not done.wait(0.5)  # held on the tally row, not reading a stale count
    first_tx.commit()
    first.close()
    writer.join(10)
    assert done.is_set()
    assert tally() == 0
    assert_in_step(cases[0])
    # Two new tally rows for the same key, inserted at once: one insert, then one update.
    a, b = om_engine.db.engine.connect(), om_engine.db.engine.connect()
    a_tx = a.begin()
    a.execute(update(HumanTask).where(HumanTask.id == task_ids[0]).values(state="open", element_id="fresh"))
    inserted = threading.Event()

    def other() -> None:
        with b.begin():
            b.execute(
                update(HumanTask).where(HumanTask.id == task_ids[1]).values(state="open", element_id="fresh")
            )
        inserted.set()

    thread = threading.Thread(target=other)
    thread.start()
    assert not inserted.wait(0.5)
    a_tx.commit()
    thread.join(10)
    a.close()
    b.close()
    assert inserted.is_set()
    with om_engine.db.engine.connect() as connection:
        assert (
            connection.scalar(select(WorkTally.n).where(WorkTally.kind == "step", WorkTally.name == "fresh"))
            == 2
        )
        assert differences(connection) == []
