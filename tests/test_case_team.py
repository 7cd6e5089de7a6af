"""Each case's team is kept on its process instance and human tasks (the monitor narrows and counts
by it), in the same transaction as the change: when the case is registered, when a task opens,
when the case moves to an officer in another team, and never by a reassignment within the case."""

from __future__ import annotations

from datetime import timedelta

from casework_area import om_username
from conftest import START
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_process_model import Case, case, om_engine

from casework import register
from casework.models import Case as CaseRecord
from casework.models import Staff, Team
from engine.clock import ManualClock
from engine.models import HumanTask, ProcessInstance
from engine.monitoring import Monitor, reassign_task
from engine.runtime import Actor
from tasks import monitor as probation
from tasks.case_team import pass_case_team_on

__all__ = ["case", "om_engine"]  # fixtures shared with the process model tests

NORTH_PO = om_username("north", "PO", "E")
SOUTH_PO = om_username("south", "PO", "E")


def rows_and_case_teams(case: Case) -> tuple[set[int | None], int | None]:
    """The teams on the case's instance and every task row, and the case's team on the register."""
    with case.engine.db.transaction(write=False) as session:
        on_rows = set(
            session.scalars(select(ProcessInstance.team_id).where(ProcessInstance.business_key == case.crn))
        )
        on_rows |= set(session.scalars(select(HumanTask.team_id).where(HumanTask.business_key == case.crn)))
        return on_rows, session.scalar(select(CaseRecord.team_id).where(CaseRecord.crn == case.crn))


def allocate(case: Case, owner: str) -> None:
    """The case's first owner, as the process's allocation gives it: the register, then the rows."""
    with case.engine.db.transaction() as session:
        register.assign_owner(session, case.crn, owner, at=START, by="spo.north", reason="allocation")
        pass_case_team_on(session, case.crn)


def team_id(session: Session, code: str) -> int:
    found = session.scalar(select(Team.id).where(Team.code == code))
    assert found is not None
    return int(found)


def staff_id(session: Session, username: str) -> int:
    found = session.scalar(select(Staff.id).where(Staff.username == username))
    assert found is not None
    return int(found)


def test_a_new_case_gives_its_team_to_its_instance_and_tasks(case: Case) -> None:
    case.start()
    allocate(case, NORTH_PO)
    on_rows, team = rows_and_case_teams(case)
    with case.engine.db.transaction(write=False) as session:
        assert team == team_id(session, "NORTH")
    assert on_rows == {team}


def test_a_task_opened_by_a_completion_carries_the_cases_team(case: Case) -> None:
    case.start()
    allocate(case, NORTH_PO)
    case.screen("MEDIUM")  # completes the report; the next step opens a new task or waits for the court
    case.sentenced()
    on_rows, team = rows_and_case_teams(case)
    assert team is not None and on_rows == {team}
    assert case.open_tasks() and {t.team_id for t in case.open_tasks()} == {team}


def test_an_ownership_transfer_to_another_team_moves_the_team_on_every_row(case: Case) -> None:
    case.start()
    allocate(case, NORTH_PO)
    with case.engine.db.transaction() as session:
        aco = probation.scope_for(session, staff_id(session, "aco.one"))
        probation.move_ownership(
            session, aco, case.crn, SOUTH_PO, at=START + timedelta(hours=1), by="aco.one", reason="moved"
        )
        # Rows already loaded in the transaction see the change at once.
        task = session.scalars(select(HumanTask).where(HumanTask.business_key == case.crn)).first()
        assert task is not None and task.team_id == team_id(session, "SOUTH")
    on_rows, team = rows_and_case_teams(case)
    with case.engine.db.transaction(write=False) as session:
        assert team == team_id(session, "SOUTH")
    assert on_rows == {team}


def test_reassigning_a_task_keeps_the_cases_team_and_the_monitor_follows_the_holder(
    case: Case, clock: ManualClock
) -> None:
    case.start()
    allocate(case, NORTH_PO)
    cover = om_username("north", "PO", "N")
    with case.engine.db.transaction() as session:
        reassign_task(session, case.task("write_psr").id, cover, actor="spo.north", at=START, reason="urgent")
    on_rows, team = rows_and_case_teams(case)
    assert team is not None and on_rows == {team}
    clock.set(START + timedelta(days=30))  # the report is overdue
    with case.engine.db.transaction(write=False) as session:
        north = probation.scope_for(session, staff_id(session, "spo.north"))
        south = probation.scope_for(session, staff_id(session, "spo.south"))
        by_team, by_person = probation.task_counts(session, north, clock.now())
        assert [(c.key, c.figures) for c in by_person] == [(cover, (1, 0))]
        assert [c.figures for c in by_team] == [(1, 0)]
        assert probation.task_counts(session, south, clock.now()) == ([], [])
        monitor = Monitor(session, clock.now(), case.engine.calendar)
        counts = monitor.counts_by_step(monitor.definitions("offender_management"), team_id=north.team_id)
        assert counts["write_psr"]["now"] == 1
        assert monitor.counts_by_step(monitor.definitions("offender_management"), team_id=south.team_id) == {}
        assert [i.business_key for i in monitor.stuck(team_id=north.team_id).items] == [case.crn]
        assert monitor.stuck(team_id=south.team_id).items == []


def test_claiming_and_completing_keep_the_team(case: Case) -> None:
    case.start()
    allocate(case, NORTH_PO)
    task = case.task("write_psr")
    case.engine.claim(task.id, Actor(NORTH_PO, frozenset({"OM"})))
    assert case.task("write_psr").claimed_by == NORTH_PO
    with case.engine.db.transaction() as session:  # back to the pool, so the case driver may complete it
        reassign_task(session, task.id, None, actor="spo.north", at=START, reason="back to the pool")
    case.screen("LOW")
    on_rows, team = rows_and_case_teams(case)
    assert team is not None and on_rows == {team}
    assert case.task_row("write_psr").state == "completed"
