"""`riskflow worker`, `riskflow message send` and the demo `riskflow clock`, run as an operator would."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BUNDLES, START
from sqlalchemy import select
from test_cli import assert_clear_error, run

from engine.clock import ManualClock
from engine.db import Database
from engine.democlock import demo_clock
from engine.models import HumanTask, InboundMessage
from engine.runtime import ProcessEngine
from webui.cli import parse_duration

pytest_plugins = ["test_cli"]


@pytest.fixture
def deployed(riskflow: CliRunner, processes: Path, database_url: str) -> Iterator[Database]:
    """The timing bundle deployed through the CLI; the database handed back for checks."""
    shutil.copytree(BUNDLES / "timing", processes / "timing")
    # The app knows the probation roles; give the fixture's lanes to two of them.
    (processes / "timing" / "lanes.json").write_text('{"lanes": {"Clerk": "CASE_ADMIN", "Manager": "SPO"}}')
    assert run(riskflow, "db", "upgrade").exit_code == 0
    result = run(riskflow, "deploy", "--by", "owner")
    assert result.exit_code == 0, result.output
    database = Database(database_url)
    yield database
    database.dispose()


def engine_in_the_past(database: Database) -> ProcessEngine:
    # Started at START (in the past), so the instance's timers are already due in real time.
    return ProcessEngine(database, clock=ManualClock(START), known_roles={"CLERK", "MANAGER"})


def test_worker_once_fires_what_is_due_and_hands_on_the_outbox(
    riskflow: CliRunner, deployed: Database
) -> None:
    started = engine_in_the_past(deployed).start("deadline", business_key="D1")
    result = run(riskflow, "worker", "--once")
    assert result.exit_code == 0, result.output
    assert "fired 1 timer(s)" in result.output
    with deployed.transaction(write=False) as session:
        open_tasks = session.scalars(
            select(HumanTask.element_id).where(
                HumanTask.instance_id == started.instance_id, HumanTask.state == "open"
            )
        ).all()
    # Both deadlines were long past: the chaser fired, then the five-day deadline withdrew the task.
    assert sorted(open_tasks) == ["dl_chase", "dl_escalated"]


def test_the_worker_log_leaves_out_each_task_state_change(
    riskflow: CliRunner, deployed: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    engine_in_the_past(deployed).start("deadline", business_key="D2")
    caplog.clear()
    result = run(riskflow, "worker", "--once")
    assert result.exit_code == 0, result.output
    assert "fired 1 timer(s)" in result.output
    chatter = [
        r.getMessage() for r in caplog.records if r.name.startswith("spiff") and r.levelno < logging.WARNING
    ]
    assert chatter == []


def test_message_send_delivers_to_the_waiting_case(riskflow: CliRunner, deployed: Database) -> None:
    engine_in_the_past(deployed).start(
        "court_outcome", business_key="X100001", data={"crn": "X100001", "court": "C"}
    )
    result = run(
        riskflow, "message", "send", "outcome", "X100001", "--payload", '{"result": "custody"}', "--key", "k1"
    )
    assert result.exit_code == 0, result.output
    assert "outcome for X100001: delivered to instance 1" in result.output
    again = run(
        riskflow, "message", "send", "outcome", "X100001", "--payload", '{"result": "custody"}', "--key", "k1"
    )
    assert "duplicate" in again.output


def test_message_send_keeps_a_message_for_an_unknown_case(riskflow: CliRunner, deployed: Database) -> None:
    result = run(riskflow, "message", "send", "outcome", "Z999999", "--sender", "court-system")
    assert "unknown_case" in result.output
    with deployed.transaction(write=False) as session:
        kept = session.scalar(select(InboundMessage))
    assert kept is not None and kept.sender == "court-system"


def test_message_send_refuses_a_payload_that_is_not_a_json_object(
    riskflow: CliRunner, deployed: Database
) -> None:
    assert_clear_error(run(riskflow, "message", "send", "outcome", "X1", "--payload", "[1"), "not valid JSON")
    assert_clear_error(run(riskflow, "message", "send", "outcome", "X1", "--payload", "[1]"), "JSON object")


def test_the_clock_cannot_be_moved_outside_a_demo(riskflow: CliRunner, deployed: Database) -> None:
    assert_clear_error(run(riskflow, "clock", "advance", "14d"), "only be moved on a demo deployment")


def test_a_demo_clock_moves_on_and_timers_fall_due(riskflow: CliRunner, deployed: Database) -> None:
    riskflow.env["RISKFLOW_DEMO"] = "true"
    ProcessEngine(deployed, clock=demo_clock(deployed)).start("deadline", business_key="D1")
    assert "fired 0 timer(s)" in run(riskflow, "worker", "--once").output
    result = run(riskflow, "clock", "advance", "3d")
    assert result.exit_code == 0, result.output
    assert "3 day(s) ahead of real time" in result.output
    assert "fired 1 timer(s)" in run(riskflow, "worker", "--once").output
    assert_clear_error(run(riskflow, "clock", "advance", "soon"), "is not a duration")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14d", timedelta(days=14)),
        ("36h", timedelta(hours=36)),
        ("2w", timedelta(weeks=2)),
        ("P3D", timedelta(days=3)),
    ],
)
def test_durations_read_as_operators_write_them(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
