"""The `riskflow` command: database set-up, check and deploy, and clear errors instead of tracebacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import POSTGRES
from empty_database import empty_database_url
from sqlalchemy import func, select, text
from webui_client import PASSWORD

from casework import register
from casework.models import Case, Staff
from casework.vocabulary import Grade, RoshLevel
from engine.db import Database
from engine.models import ProcessDefinition
from webui.cli import cli
from webui.credentials import set_password

LANES = '{"lanes": {"Offender Manager": "OM"}}'
FORM = json.dumps(
    {"type": "object", "required": ["notes"], "properties": {"notes": {"type": "string", "maxLength": 500}}}
)
INDUCTION = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs_{name}" targetNamespace="https://riskflow.example/bpmn">
  <bpmn:process id="{name}" name="Induction" isExecutable="true">
    <bpmn:laneSet id="ls_{name}">
      <bpmn:lane id="lane_{name}" name="{lane}"><bpmn:flowNodeRef>hold_{name}</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start_{name}"/>
    <bpmn:sequenceFlow id="f1_{name}" sourceRef="start_{name}" targetRef="hold_{name}"/>
    <bpmn:userTask id="hold_{name}" name="Hold the induction">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="induction.json"/>
          <spiffworkflow:property name="dueIn" value="5 working days"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2_{name}" sourceRef="hold_{name}" targetRef="{after}"/>
    {loop}
    <bpmn:endEvent id="end_{name}"/>
  </bpmn:process>
</bpmn:definitions>
"""
LOOP = """<bpmn:exclusiveGateway id="again_{name}" default="f3_{name}"/>
    <bpmn:sequenceFlow id="f3_{name}" sourceRef="again_{name}" targetRef="end_{name}"/>
    <bpmn:sequenceFlow id="f4_{name}" sourceRef="again_{name}" targetRef="hold_{name}">
      <bpmn:conditionExpression>again</bpmn:conditionExpression>
    </bpmn:sequenceFlow>"""


def write_bundle(folder: Path, *, lane: str = "Offender Manager", loop: bool = False) -> Path:
    """A one-task bundle in `folder`, named after it; `lane` not in lanes.json makes it invalid."""
    name = folder.name
    (folder / "forms").mkdir(parents=True)
    (folder / "lanes.json").write_text(LANES)
    (folder / "forms" / "induction.json").write_text(FORM)
    after = f"again_{name}" if loop else f"end_{name}"
    (folder / f"{name}.bpmn").write_text(
        INDUCTION.format(name=name, lane=lane, after=after, loop=LOOP.format(name=name) if loop else "")
    )
    return folder


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with empty_database_url(tmp_path) as url:
        yield url


@pytest.fixture
def processes(tmp_path: Path) -> Path:
    folder = tmp_path / "processes"
    folder.mkdir()
    return folder


@pytest.fixture
def riskflow(tmp_path: Path, database_url: str, processes: Path) -> CliRunner:
    """Runs `riskflow ...` with settings aimed at this test's database and folders."""
    return CliRunner(
        env={
            "RISKFLOW_DATABASE_URL": database_url,
            "RISKFLOW_PROCESSES_DIR": str(processes),
            "RISKFLOW_INSTANCE_DIR": str(tmp_path / "instance"),
            "RISKFLOW_SECRET_KEY": None,
            "RISKFLOW_DEMO": None,
            "RISKFLOW_HOST": None,
            "RISKFLOW_PORT": None,
        }
    )


def run(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli, list(args), catch_exceptions=True)


def assert_clear_error(result: Result, message: str) -> None:
    """Exit 1 with one line that says what is wrong, and no traceback."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert message in result.output


@pytest.fixture
def upgraded(riskflow: CliRunner, database_url: str) -> str:
    """A database brought to the newest schema, with one ACO (aco.one) who can sign in."""
    assert run(riskflow, "db", "upgrade").exit_code == 0
    database = Database(database_url)
    with database.transaction() as session:
        session.add(
            Staff(
                username="aco.one",
                display_name="Morwenna Tallis",
                grade=Grade.ACO,
                started_on=date(2015, 4, 1),
                active=True,
                extra_roles=[],
            )
        )
        set_password(session, "aco.one", PASSWORD)
    database.dispose()
    return database_url


def definitions_in(url: str) -> int:
    database = Database(url)
    try:
        with database.transaction(write=False) as session:
            return session.scalar(select(func.count()).select_from(ProcessDefinition)) or 0
    finally:
        database.dispose()


# --------------------------------------------------------------------------------------- db upgrade


def test_db_upgrade_creates_the_database_then_finds_it_up_to_date(
    riskflow: CliRunner, database_url: str, tmp_path: Path
) -> None:
    first = run(riskflow, "db", "upgrade")
    again = run(riskflow, "db", "upgrade")

    assert first.exit_code == 0, first.output
    assert "upgraded the database" in first.output
    assert again.exit_code == 0, again.output
    assert "is up to date at revision" in again.output
    if not POSTGRES:
        assert (tmp_path / "not-yet" / "riskflow.db").is_file()


# ------------------------------------------------------------------------------------------- deploy


def test_deploy_gives_version_1_then_reports_the_bundle_unchanged(
    riskflow: CliRunner, processes: Path
) -> None:
    write_bundle(processes / "induction")
    run(riskflow, "db", "upgrade")

    first = run(riskflow, "deploy", "--by", "process.owner")
    again = run(riskflow, "deploy", "--by", "process.owner")

    assert first.exit_code == 0, first.output
    assert first.output.strip() == "deployed induction version 1"
    assert again.exit_code == 0, again.output
    assert again.output.strip() == "induction is unchanged at version 1"


def test_a_changed_bundle_deploys_as_the_next_version(riskflow: CliRunner, processes: Path) -> None:
    folder = write_bundle(processes / "induction")
    run(riskflow, "db", "upgrade")
    run(riskflow, "deploy", "--by", "process.owner")
    (folder / "policy.md").write_text("Hold the induction within five working days.")

    result = run(riskflow, "deploy", str(folder), "--by", "process.owner")

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "deployed induction version 2"


def test_deploy_prints_the_warnings_of_a_deployed_bundle(riskflow: CliRunner, processes: Path) -> None:
    write_bundle(processes / "supervision", loop=True)
    run(riskflow, "db", "upgrade")

    result = run(riskflow, "deploy", "--by", "process.owner")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "deployed supervision version 1"
    assert "warning: loop back to 'Hold the induction'" in lines[1]


def test_deploy_refuses_every_bundle_when_one_has_an_error(
    riskflow: CliRunner, processes: Path, database_url: str
) -> None:
    write_bundle(processes / "induction")
    write_bundle(processes / "transfer", lane="Nobody")
    run(riskflow, "db", "upgrade")

    result = run(riskflow, "deploy", "--by", "process.owner")

    assert_clear_error(result, "nothing was deployed: 1 error(s), 0 warning(s)")
    assert "transfer.bpmn:7 [lane_transfer]: error: lane 'Nobody' is not in lanes.json" in result.output
    assert definitions_in(database_url) == 0


def test_deploy_before_db_upgrade_says_to_run_it(riskflow: CliRunner, processes: Path) -> None:
    write_bundle(processes / "induction")

    result = run(riskflow, "deploy")

    assert_clear_error(result, "run `riskflow db upgrade`")


def test_deploy_says_so_when_there_is_nothing_to_deploy(riskflow: CliRunner) -> None:
    result = run(riskflow, "deploy")

    assert result.exit_code == 0, result.output
    assert "no process bundles in" in result.output


# -------------------------------------------------------------------------------------------- check


def test_check_prints_every_problem_and_exits_1_on_an_error(riskflow: CliRunner, tmp_path: Path) -> None:
    broken = write_bundle(tmp_path / "models" / "broken", lane="Nobody")

    result = run(riskflow, "check", str(broken))

    assert result.exit_code == 1, result.output
    assert "broken: 1 error(s), 0 warning(s)" in result.output
    assert "broken.bpmn:7 [lane_broken]: error: lane 'Nobody' is not in lanes.json" in result.output
    assert result.output.splitlines()[-1] == "1 error(s), 0 warning(s)"


def test_check_lists_warnings_but_passes_a_bundle_without_errors(
    riskflow: CliRunner, processes: Path
) -> None:
    write_bundle(processes / "induction")
    write_bundle(processes / "supervision", loop=True)

    result = run(riskflow, "check")

    assert result.exit_code == 0, result.output
    assert "induction: no problems" in result.output
    assert "warning: loop back to 'Hold the induction'" in result.output
    assert result.output.splitlines()[-1] == "0 error(s), 1 warning(s)"


def test_check_needs_no_database(riskflow: CliRunner, processes: Path) -> None:
    write_bundle(processes / "induction")

    result = run(riskflow, "check")

    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------------- errors, no traces


def test_a_missing_processes_folder_is_a_clear_error(riskflow: CliRunner, tmp_path: Path) -> None:
    result = run(riskflow, "deploy", str(tmp_path / "nowhere"))

    assert_clear_error(result, "does not exist: create it, give another PATH, or set RISKFLOW_PROCESSES_DIR")


def test_a_wrong_setting_is_a_clear_error(riskflow: CliRunner) -> None:
    result = riskflow.invoke(cli, ["serve"], env={"RISKFLOW_PORT": "eighty"})

    assert_clear_error(result, "configuration: RISKFLOW_PORT must be a port number")


def test_serve_refuses_to_start_without_a_secret_key(riskflow: CliRunner) -> None:
    run(riskflow, "db", "upgrade")

    result = run(riskflow, "serve")

    assert_clear_error(result, "RISKFLOW_SECRET_KEY is not set")


def test_serve_refuses_a_database_that_is_not_set_up(riskflow: CliRunner) -> None:
    result = riskflow.invoke(cli, ["serve"], env={"RISKFLOW_SECRET_KEY": "x" * 64})

    assert_clear_error(result, "run `riskflow db upgrade`")


def test_a_database_server_that_does_not_answer_is_a_clear_error(
    riskflow: CliRunner, processes: Path
) -> None:
    write_bundle(processes / "induction")
    nobody_listens = "postgresql+psycopg://riskflow@127.0.0.1:9/riskflow?connect_timeout=2"

    result = riskflow.invoke(cli, ["deploy"], env={"RISKFLOW_DATABASE_URL": nobody_listens})

    assert_clear_error(result, "the database at postgresql+psycopg://riskflow@127.0.0.1:9/riskflow")
    assert "did not answer" in result.output


def test_recompute_critical_few_marks_every_case_by_the_rule_in_force(
    riskflow: CliRunner, database_url: str
) -> None:
    assert run(riskflow, "db", "upgrade").exit_code == 0
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    database = Database(database_url)
    try:
        with database.transaction() as session:
            register.identify_case(session, "X100001", at=at, by="admin")
            register.record_rosh(session, "X100001", RoshLevel.VERY_HIGH, at=at, by="om", source="OASys")
            register.find_case(session, "X100001").critical = False  # as if written before the rule said so
        result = run(riskflow, "recompute-critical-few")
        assert result.exit_code == 0, result.output
        assert "1 case(s) changed" in result.output
        with database.transaction(write=False) as session:
            assert session.get_one(Case, 1).critical
        assert "0 case(s) changed" in run(riskflow, "recompute-critical-few").output
    finally:
        database.dispose()


def test_tally_check_finds_a_damaged_tally_and_rebuild_puts_it_right(
    riskflow: CliRunner, database_url: str
) -> None:
    assert run(riskflow, "db", "upgrade").exit_code == 0
    database = Database(database_url)
    try:
        with database.engine.begin() as connection:  # a tally no row backs
            connection.execute(
                text(
                    "INSERT INTO work_tally (kind, name, team_id, since_day, due_week, n) "
                    "VALUES ('step', 'write_psr', 0, 20000, 2900, 3)"
                )
            )
        result = run(riskflow, "tally", "check")
        assert result.exit_code == 1
        assert "step 'write_psr' team 0 day 20000 week 2900: tallied 3, counted 0" in result.output
        assert "1 tally row(s) differ" in result.output
        assert run(riskflow, "tally", "rebuild").exit_code == 0
        result = run(riskflow, "tally", "check")
        assert result.exit_code == 0, result.output
        assert "every tally matches the rows" in result.output
    finally:
        database.dispose()
