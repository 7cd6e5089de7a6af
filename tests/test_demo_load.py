"""The demo area is built through the process: its staff are written as rows, and every case on the
register then came from simulated staff running the offender management process over the months
before the deployment's present, so every case has a process instance and a real history."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from conftest import START
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from test_process_model import BUNDLE_DIR

from casework import register
from casework.models import Case, Staff
from casework.vocabulary import Grade, Stage
from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.models import AuditEvent, HumanTask, ProcessInstance
from tasks.simulation import process_stages
from tasks.wiring import build_engine
from webui.demo import DemoProcessMissing, demo_staff, load_demo

CASES, MONTHS = 60, 4


@pytest.mark.slow
def test_the_demo_area_is_built_through_the_process(database: Database) -> None:
    engine = build_engine(database, ManualClock(START))
    engine.deploy(Bundle.from_directory(BUNDLE_DIR), actor="process.owner")
    lines: list[str] = []

    generated, users, summary = load_demo(engine, cases=CASES, months=MONTHS, progress=lines.append)

    assert generated and {u.grade for u in users} == set(Grade)
    # Each case's steps: its start, the tasks, the court's message and the timers (more than six a case
    # over four months, since reports and assessments take their time, a registration review cycle
    # with nothing falling due sleeps for 3 months, and about a fifth of the outcomes close the case).
    assert summary is not None and summary.cases == CASES and summary.engine_steps > 6 * CASES
    # The court gives outcomes on the routes that close the case as well as those supervised.
    given = set(summary.outcomes)
    assert {"COMMUNITY_ORDER", "SUSPENDED_SENTENCE"} <= given
    assert given & {"FINE", "CONDITIONAL_DISCHARGE", "ABSOLUTE_DISCHARGE", "CUSTODY_UNDER_12_MONTHS"}
    assert lines[0].startswith(f"building the demo area: {CASES} cases")
    assert lines[-2].startswith(f"built {CASES} cases through the process")
    assert lines[-1].startswith("court outcomes given: ") and "community order" in lines[-1]
    with database.transaction(write=False) as session:
        _every_case_came_through_the_process(session)
        _cases_at_every_stage_up_to_the_present(session)
        _the_demo_users_have_work(session)
    again = load_demo(engine, cases=CASES, months=MONTHS)
    assert not again.generated and again.simulation is None
    assert [u.username for u in again.users] == [u.username for u in users]  # the same people
    assert not any(u.new for u in again.users)  # loaded once: a second load keeps the area


def _every_case_came_through_the_process(session: Session) -> None:
    crns = set(session.scalars(select(Case.crn)))
    instances = session.scalars(select(ProcessInstance)).all()
    started = set(
        session.scalars(select(AuditEvent.business_key).where(AuditEvent.event == "instance_started"))
    )
    assert len(crns) == CASES
    assert {i.business_key for i in instances} == crns
    assert started == crns
    assert not [i.business_key for i in instances if i.status == "error"]
    for crn in sorted(crns)[:10]:
        assert [e.code for e in register.timeline(session, crn)][0] == "EAPP"


def _cases_at_every_stage_up_to_the_present(session: Session) -> None:
    stages = Counter(session.scalars(select(Case.stage)))
    # A quarter at least supervised after four months (custody of 12 months or more, about one
    # sentence in seven, waits in custody for its release first).
    assert stages[Stage.SUPERVISED] > CASES / 4, stages
    assert len(stages) >= 4, stages
    assert {Stage.IDENTIFIED, Stage.AWAITING_SENTENCE} & set(stages), stages
    # Reports, hearings and assessments take their time, so on the last day a real share of the
    # caseload is still on its way to supervision (not nearly all of it supervised).
    spread = process_stages(session)
    assert sum(spread.values()) == CASES
    open_cases = CASES - spread["closed"]
    # Supervised in the community or on licence, or in custody waiting for release.
    assert 0.5 <= (spread["supervised"] + spread["in custody"]) / open_cases <= 0.85, spread
    before = ("identified", "pre-sentence report", "awaiting sentence", "risk meeting", "allocation")
    assert sum(spread[s] for s in before) >= 2, spread
    assert spread["induction and assessment"] >= 2, spread
    first = _aware(session.scalar(select(func.min(AuditEvent.at))))
    last = _aware(session.scalar(select(func.max(AuditEvent.at))))
    assert START - timedelta(days=30 * MONTHS) <= first
    assert START - timedelta(days=4) <= last <= START  # the simulated months end at the present


def _the_demo_users_have_work(session: Session) -> None:
    users = {person.grade: person for person in demo_staff(session)}
    po = users[Grade.PO]
    held = session.scalar(
        select(func.count()).select_from(Case).where(Case.owner_id == po.id, Case.closed_at.is_(None))
    )
    assert held, "the demo PO holds cases"
    open_tasks = session.scalars(select(HumanTask).where(HumanTask.state == "open")).all()
    assert open_tasks
    assert any(t.assignee == po.username for t in open_tasks), "the demo PO has tasks in hand"
    trainee = users[Grade.TRAINEE_PO]
    assert session.scalar(select(func.count()).select_from(Case).where(Case.owner_id == trainee.id))
    assert (session.scalar(select(func.count()).select_from(Staff)) or 0) > 150


def _aware(at: datetime | None) -> datetime:
    assert at is not None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def test_the_demo_load_needs_the_process_deployed(database: Database) -> None:
    engine = build_engine(database, ManualClock(START))
    with pytest.raises(DemoProcessMissing, match="deploy it first"):
        load_demo(engine, cases=3, months=1)
    with database.transaction(write=False) as session:
        assert not session.scalar(select(func.count()).select_from(Staff))
