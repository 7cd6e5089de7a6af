"""The monitor's pages as SPOs and ACOs use them: only they reach it, each sees their own scope, an
overdue task is found from the overview and reassigned, an absent officer's tasks move in bulk, a
failed instance is retried after a fix, and every change needs a reason that the timeline shows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from casework_area import om_username
from conftest import START, bundle
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_process_model import Case, case, om_engine, under_oversight
from test_webui import table_rows
from webui_client import fast_password_hashing, give_passwords, sign_in, text_of, web_app

from casework import register
from casework.models import Case as CaseRecord
from casework.models import OversightReview, Staff
from casework.vocabulary import AccessList, RoshLevel, Stage
from engine.clock import ManualClock
from engine.db import Database
from engine.models import AuditEvent, ProcessInstance
from engine.runtime import Actor, InstanceStatus, ProcessEngine
from tasks import events
from tasks.case_team import pass_case_team_on
from webui import riskflow

__all__ = ["case", "fast_password_hashing", "om_engine"]

DAY = timedelta(days=1)
OWNER = om_username("north", "PO", "E")
COVER = om_username("north", "PO", "N")
SOUTH_OWNER = om_username("south", "PO", "E")
OM = Actor(OWNER, frozenset({"OM"}))


def allocate(database: Database, crn: str, owner: str) -> None:
    with database.transaction() as session:
        register.assign_owner(session, crn, owner, at=START, by="spo.north", reason="allocation")
        pass_case_team_on(session, crn)  # as the process's allocation does


@pytest.fixture
def cases(case: Case, database: Database) -> dict[str, Case]:
    """Two north cases with the report claimed by their owner, and one south case."""
    north = case
    north.start()
    north2 = Case(case.engine, "X100002")
    north2.start()
    south = Case(case.engine, "X100003")
    south.start()
    for c, owner in ((north, OWNER), (north2, OWNER), (south, SOUTH_OWNER)):
        allocate(database, c.crn, owner)
        case.engine.claim(c.task("write_psr").id, Actor(owner, frozenset({"OM"})))
    give_passwords(database, ["spo.north", "spo.south", "aco.one", OWNER, "admin.north"])
    return {"north": north, "north2": north2, "south": south}


@pytest.fixture
def app(database: Database, clock: ManualClock, cases: dict[str, Case]) -> Iterator[Flask]:
    app = web_app(database, clock)
    yield app
    riskflow(app).db.dispose()


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def section(html: str, heading_id: str) -> list[list[str]]:
    start = html.index(f'id="{heading_id}"')
    end = html.find("</table>", start)
    return table_rows(html[start : end + 8])


# -------------------------------------------------------------------------------------- access


@pytest.mark.parametrize("username", [OWNER, "admin.north"])
def test_only_spos_and_acos_reach_the_monitor(app: Flask, username: str) -> None:
    client = signed_in(app, username)
    for path in ["/monitor/", "/monitor/stuck", "/monitor/diagram", "/monitor/people", "/monitor/tasks"]:
        assert client.get(path).status_code == 403, path
    assert client.post("/monitor/people", data={"action": "reassign_all"}).status_code == 403
    assert 'href="/monitor/"' not in client.get("/").text


def test_a_signed_out_visitor_is_sent_to_sign_in(app: Flask) -> None:
    response = app.test_client().get("/monitor/")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_an_spo_sees_their_team_and_an_aco_the_area(app: Flask, cases: dict[str, Case]) -> None:
    north = signed_in(app, "spo.north").get("/monitor/tasks").text
    assert "X100001" in north and "X100002" in north and "X100003" not in north
    area = signed_in(app, "aco.one").get("/monitor/tasks").text
    assert "X100003" in area and "X100001" in area
    # Another team's instance answers exactly as one that does not exist: its existence is not told.
    south_instance = cases["south"].instance_id
    out_of_scope = signed_in(app, "spo.north").get(f"/monitor/instances/{south_instance}")
    missing = signed_in(app, "spo.north").get("/monitor/instances/999999")
    assert (out_of_scope.status_code, text_of(out_of_scope.text)) == (404, text_of(missing.text))
    assert cases["south"].crn not in out_of_scope.text
    assert 'href="/monitor/"' in signed_in(app, "spo.north").get("/").text


# ------------------------------------------------------------------------- overview and lists


def test_find_an_overdue_task_from_the_overview_and_reassign_it(
    app: Flask, clock: ManualClock, cases: dict[str, Case]
) -> None:
    clock.set(START + 22 * DAY)  # the reports were due on 23 November... Tuesday 24th: overdue
    client = signed_in(app, "spo.north")
    overview = client.get("/monitor/").text
    assert section(overview, "tasks-by-person") == [["OM North PO E", "2 overdue", "0"]]
    assert section(overview, "tasks-by-team") == [["North Case Management", "2", "0"]]
    tasks_page = client.get(f"/monitor/tasks?holder={OWNER}&due=overdue").text
    rows = section(tasks_page, "task-list")
    assert [row[1] for row in rows] == ["Rowan Testbrook X100001", "Rowan Testbrook X100002"]
    assert all("Overdue" in row[3] for row in rows)
    task_id = cases["north"].task("write_psr").id

    refused = client.post(f"/monitor/tasks/{task_id}/reassign", data={"to": COVER, "reason": " "})
    assert refused.status_code == 302
    assert cases["north"].task("write_psr").claimed_by == OWNER
    assert "Give a reason" in client.get(refused.headers["Location"]).text

    done = client.post(
        f"/monitor/tasks/{task_id}/reassign", data={"to": COVER, "reason": "Owner in court all week"}
    )
    page = client.get(done.headers["Location"]).text
    assert "Task reassigned" in page
    assert (cases["north"].task("write_psr").assignee, cases["north"].task("write_psr").claimed_by) == (
        COVER,
        None,
    )
    timeline = section(page, "timeline")
    assert timeline[-1][1:] == [
        "SPO North",
        "Task reassigned: Write the pre-sentence report",
        "Owner in court all week",
    ]


def test_an_spo_cannot_hand_a_task_to_someone_outside_their_team(app: Flask, cases: dict[str, Case]) -> None:
    client = signed_in(app, "spo.north")
    task_id = cases["north"].task("write_psr").id
    response = client.post(f"/monitor/tasks/{task_id}/reassign", data={"to": SOUTH_OWNER, "reason": "cover"})
    assert "is not in your team" in client.get(response.headers["Location"]).text
    assert cases["north"].task("write_psr").claimed_by == OWNER


def test_a_task_is_only_given_to_someone_who_holds_its_role_and_may_see_the_case(
    app: Flask, database: Database, cases: dict[str, Case]
) -> None:
    client = signed_in(app, "spo.north")
    north = cases["north"]
    task_id = north.task("write_psr").id
    # The picker offers the team's Offender Managers, not its case administrator.
    picker = client.get(f"/monitor/instances/{north.instance_id}").text
    assert f'value="{COVER}"' in picker and 'value="admin.north"' not in picker
    # A case administrator cannot take an Offender Manager's step: refused, and the task stays put.
    refused = client.post(f"/monitor/tasks/{task_id}/reassign", data={"to": "admin.north", "reason": "cover"})
    page = text_of(client.get(refused.headers["Location"]).text)
    assert "cannot take “Write the pre-sentence report”: the step is for a Offender Manager" in page
    assert "Nothing was changed" in page
    assert north.task("write_psr").claimed_by == OWNER
    # Nor can an officer on the case's exclusion list, however right their grade.
    with database.transaction() as session:
        register.add_to_access_list(
            session, north.crn, COVER, AccessList.EXCLUSION, reason="conflict", at=START, by="spo.north"
        )
    assert f'value="{COVER}"' not in client.get(f"/monitor/instances/{north.instance_id}").text
    refused = client.post(f"/monitor/tasks/{task_id}/reassign", data={"to": COVER, "reason": "cover"})
    assert "they may not see case X100001" in text_of(client.get(refused.headers["Location"]).text)
    assert north.task("write_psr").claimed_by == OWNER
    # A bulk move that would put one of the tasks out of reach moves none of them.
    bulk = client.post(
        "/monitor/people",
        data={"action": "reassign_all", "officer": OWNER, "to": COVER, "reason": "Long-term sick leave"},
        follow_redirects=True,
    )
    assert "they may not see case X100001" in text_of(bulk.text)
    assert [c.task("write_psr").claimed_by for c in (north, cases["north2"])] == [OWNER, OWNER]


def test_reassign_an_absent_officers_tasks_in_bulk(
    app: Flask, database: Database, cases: dict[str, Case]
) -> None:
    client = signed_in(app, "aco.one")
    missing = client.post("/monitor/people", data={"action": "reassign_all", "officer": OWNER, "to": COVER})
    assert missing.status_code == 400
    assert "There is a problem" in missing.text and "Enter a reason" in missing.text
    moved = client.post(
        "/monitor/people",
        data={"action": "reassign_all", "officer": OWNER, "to": COVER, "reason": "Long-term sick leave"},
        follow_redirects=True,
    )
    assert "2 open tasks of OM North PO E moved to OM North PO N" in moved.text
    for c in (cases["north"], cases["north2"]):
        assert c.task("write_psr").assignee == COVER
    assert cases["south"].task("write_psr").claimed_by == SOUTH_OWNER
    with database.transaction(write=False) as session:
        reasons = session.scalars(
            select(AuditEvent.reason).where(AuditEvent.event == "task_reassigned")
        ).all()
    assert reasons == ["Long-term sick leave", "Long-term sick leave"]


def test_out_of_office_routing_from_the_people_page(app: Flask, database: Database) -> None:
    client = signed_in(app, "spo.north")
    bad = client.post(
        "/monitor/people",
        data={
            "action": "out_of_office",
            "officer": OWNER,
            "cover": COVER,
            "until": "soon",
            "reason": "leave",
        },
    )
    assert bad.status_code == 400 and "Enter the last day" in bad.text
    page = client.post(
        "/monitor/people",
        data={
            "action": "out_of_office",
            "officer": OWNER,
            "cover": COVER,
            "until": "2026-11-20",
            "reason": "leave",
        },
        follow_redirects=True,
    ).text
    assert "New tasks for OM North PO E go to OM North PO N until 20 November 2026" in page
    assert section(page, "routings")[0][:3] == ["OM North PO E", "OM North PO N", "20 November 2026"]


def test_the_stuck_list_says_why_each_instance_waits_and_downloads_as_csv(
    app: Flask, clock: ManualClock
) -> None:
    clock.set(START + 22 * DAY)
    client = signed_in(app, "spo.north")
    rows = section(client.get("/monitor/stuck").text, "stuck")
    assert [row[0] for row in rows] == ["X100001", "X100002"]
    assert rows[0][1:4] == [
        "North Case Management",
        "Write the pre-sentence report",
        "Overdue by 1 working day, held by OM North PO E",
    ]
    response = client.get("/monitor/stuck?format=csv")
    assert response.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0] == ["Instance", "CRN", "Team", "Reason kind", "Step", "Since", "Reason"]
    assert [line[1] for line in table[1:]] == ["X100001", "X100002"]
    assert table[1][3] == "Late tasks"


def test_the_stuck_list_filters_by_step_team_and_reason(app: Flask, clock: ManualClock) -> None:
    clock.set(START + 22 * DAY)
    aco = signed_in(app, "aco.one")
    assert [r[0] for r in section(aco.get("/monitor/stuck").text, "stuck")] == [
        "X100001",
        "X100002",
        "X100003",
    ]
    page = aco.get("/monitor/stuck").text
    assert '<option value="write_psr">Write the pre-sentence report (3)</option>' in page
    with riskflow(app).db.transaction(write=False) as session:
        south = session.scalar(select(CaseRecord.team_id).where(CaseRecord.crn == "X100003"))
    assert [r[0] for r in section(aco.get(f"/monitor/stuck?team={south}").text, "stuck")] == ["X100003"]
    assert len(section(aco.get("/monitor/stuck?step=write_psr&reason=task").text, "stuck")) == 3
    empty = aco.get("/monitor/stuck?reason=timer").text
    assert "Nothing stuck matches these filters." in empty
    table = list(csv.reader(io.StringIO(aco.get(f"/monitor/stuck?team={south}&format=csv").text)))
    assert [line[1] for line in table[1:]] == ["X100003"]
    for bad, message in [
        ("step=nowhere", "The process has no step &#39;nowhere&#39;: choose a step from the list."),
        ("reason=late", "Choose a reason from the list"),
        ("team=abc", "There is no team &#39;abc&#39;: choose a team from the list."),
        ("team=9999", "There is no team 9999: choose a team from the list."),
    ]:
        response = aco.get(f"/monitor/stuck?{bad}")
        assert response.status_code == 400 and message in response.text, (bad, response.text[:2000])
    spo = signed_in(app, "spo.north")
    assert 'id="filter-team"' not in spo.get("/monitor/stuck").text
    refused = spo.get(f"/monitor/stuck?team={south}")
    assert refused.status_code == 403 and "You oversee your own team&#39;s work only." in refused.text


def test_every_overview_list_downloads_as_csv(app: Flask) -> None:
    client = signed_in(app, "aco.one")
    for name in ["stages", "teams", "people", "compliance", "critical", "reallocation", "errors"]:
        response = client.get(f"/monitor/?format=csv&list={name}")
        assert response.status_code == 200 and response.mimetype == "text/csv", name
    assert client.get("/monitor/?format=csv&list=nothing").status_code == 404
    stages = list(csv.reader(io.StringIO(client.get("/monitor/?format=csv&list=stages").text)))
    assert ["Allocated", "3"] in stages


# ------------------------------------------------------------------------------------- diagram


def test_the_diagram_page_counts_each_step_in_a_table_and_as_json(app: Flask, clock: ManualClock) -> None:
    clock.set(START + 22 * DAY)
    client = signed_in(app, "aco.one")
    page = client.get("/monitor/diagram").text
    assert section(page, "step-counts") == [["Write the pre-sentence report", "3", "3", "0"]]
    assert "bpmn-navigated-viewer.production.min.js" in page and "monitor-diagram.js" in page
    counts = client.get("/monitor/diagram/counts.json").get_json()
    assert counts["steps"]["write_psr"] == {"now": 3, "overdue": 3, "errors": 0, "heat": 4}
    north = signed_in(app, "spo.north").get("/monitor/diagram/counts.json").get_json()
    assert north["steps"]["write_psr"]["now"] == 2
    listed = client.get("/monitor/diagram?step=write_psr").text
    assert [row[0] for row in section(listed, "at-step")] == ["X100001", "X100002", "X100003"]
    xml_url = page.split('data-diagram-url="', 1)[1].split('"', 1)[0]
    xml = client.get(xml_url)
    assert xml.mimetype == "application/xml" and b'id="write_psr"' in xml.data


# ------------------------------------------------------------------------- instance and repairs


def test_suspend_and_resume_need_a_reason_and_show_on_the_timeline(
    app: Flask, cases: dict[str, Case]
) -> None:
    client = signed_in(app, "spo.north")
    instance_id = cases["north"].instance_id
    client.post(f"/monitor/instances/{instance_id}/suspend", data={"reason": ""})
    assert cases["north"].instance().status == InstanceStatus.AWAITING_PEOPLE
    client.post(f"/monitor/instances/{instance_id}/suspend", data={"reason": "Court adjourned"})
    assert cases["north"].instance().status == InstanceStatus.SUSPENDED
    page = client.post(
        f"/monitor/instances/{instance_id}/resume", data={"reason": "Hearing relisted"}, follow_redirects=True
    ).text
    assert cases["north"].instance().status == InstanceStatus.AWAITING_PEOPLE
    whys = [row[3] for row in section(page, "timeline")]
    assert whys[-2:] == ["Court adjourned", "Hearing relisted"]


def test_move_a_cases_ownership_moves_the_owners_open_tasks(app: Flask, cases: dict[str, Case]) -> None:
    client = signed_in(app, "spo.north")
    instance_id = cases["north"].instance_id
    page = client.post(
        f"/monitor/cases/{cases['north'].crn}/owner",
        data={"owner": COVER, "reason": "Caseload balance", "back_to_instance": str(instance_id)},
        follow_redirects=True,
    ).text
    assert "moved; 1 open task moved with it" in page
    assert cases["north"].task("write_psr").assignee == COVER
    with riskflow(app).db.transaction(write=False) as session:
        record = session.scalar(select(CaseRecord).where(CaseRecord.crn == cases["north"].crn))
        assert record is not None and record.owner is not None and record.owner.username == COVER


@pytest.fixture
def failed(database: Database, engine: ProcessEngine, cases: dict[str, Case]) -> int:
    """An instance of the fixture 'divide' model that failed (divide by zero) on a north case."""
    with database.transaction() as session:
        owner = session.scalar(select(Staff).where(Staff.username == OWNER))
        assert owner is not None
        session.add(
            CaseRecord(crn="X100009", stage=Stage.ALLOCATED, owner=owner, team=owner.team, created_at=START)
        )
    engine.deploy(bundle("scripts"), actor="owner")
    result = engine.start("divide", business_key="X100009", data={"divisor": 0})
    assert result.status == InstanceStatus.ERROR
    with database.transaction() as session:  # the test engine has no on_step hook: the rows take the team
        pass_case_team_on(session, "X100009")
    return result.instance_id


def test_retry_an_errored_instance_after_a_fix(app: Flask, database: Database, failed: int) -> None:
    client = signed_in(app, "spo.north")
    overview = client.get("/monitor/").text
    errors = section(overview, "errors")
    assert errors[0][:2] == ["X100009", "Run divide"]
    assert "ZeroDivisionError" in errors[0][2]
    page = client.get(f"/monitor/instances/{failed}").text
    assert "A step failed" in page and "result = 10 / divisor" in page
    again = client.post(f"/monitor/instances/{failed}/retry", data={"reason": "retry before the fix"})
    assert "failed again" in client.get(again.headers["Location"]).text
    with database.transaction() as session:  # the data is corrected, as a data fix would
        row = session.get(ProcessInstance, failed)
        assert row is not None
        row.state = row.state.replace('"divisor": 0', '"divisor": 2')
    page = client.post(
        f"/monitor/instances/{failed}/retry", data={"reason": "Divisor corrected"}, follow_redirects=True
    ).text
    assert "Failed step retried" in page
    with database.transaction(write=False) as session:
        row = session.get(ProcessInstance, failed)
        assert row is not None and row.status == InstanceStatus.AWAITING_PEOPLE
    assert section(page, "timeline")[-2][1:] == [
        "SPO North",
        "Step retried: Run divide",
        "Divisor corrected",
    ]


def test_csv_cells_never_run_as_spreadsheet_formulas() -> None:
    from webui.monitor import csv_response

    response = csv_response("x.csv", ["a"], [["=HYPERLINK(1)"], ["-1"], ["plain"]])
    assert response.get_data(as_text=True).splitlines() == ["a", "'=HYPERLINK(1)", "'-1", "plain"]


# ------------------------------------------------------------------------------------- metrics


def scrape(client: FlaskClient) -> dict[str, float]:
    """The samples of one scrape, by name and labels as the text shows them."""
    response = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert response.status_code == 200 and response.mimetype == "text/plain"
    samples: dict[str, float] = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_metrics_need_the_operators_token(
    database: Database, clock: ManualClock, cases: dict[str, Case]
) -> None:
    off = web_app(database, clock)
    assert off.test_client().get("/metrics").status_code == 404  # no token set: switched off
    riskflow(off).db.dispose()
    app = web_app(database, clock, METRICS_TOKEN="s3cret-token")
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert "riskflow_instances" not in client.get("/metrics").text
    riskflow(app).db.dispose()


def test_metrics_report_the_work_and_move_when_a_step_completes(
    database: Database, clock: ManualClock, cases: dict[str, Case]
) -> None:
    app = web_app(database, clock, METRICS_TOKEN="s3cret-token")
    client = app.test_client()
    clock.set(START + 22 * DAY)
    before = scrape(client)
    assert before['riskflow_instances{state="awaiting_people"}'] == 3
    assert before['riskflow_tasks_open{state="claimed"}'] == 3
    assert before['riskflow_tasks_open{state="unclaimed"}'] == 0
    assert before["riskflow_tasks_overdue"] == 3
    assert (before["riskflow_timers_due"], before["riskflow_timer_lag_seconds"]) == (0, 0)
    assert (before["riskflow_outbox_backlog"], before["riskflow_outbox_oldest_seconds"]) == (0, 0)

    def counted(samples: dict[str, float], name: str) -> float:
        return samples.get(name, 0.0)

    steps = 'riskflow_steps_total{process="offender_management"}'
    psr_done = 'riskflow_tasks_completed_total{step="write_psr"}'
    psr_took = 'riskflow_task_duration_seconds_count{step="write_psr"}'
    north = cases["north"]
    report = {
        "report_date": north.today(),
        "rosh": "MEDIUM",
        "mappa_category": "NOT_ELIGIBLE",
        "registrations": [],
        "proposal": "Community order with a rehabilitation activity requirement",
    }
    # The owner who claimed it writes the pre-sentence report: one step, one task done.
    north.engine.complete_task(north.task("write_psr").id, OM, report)
    after = scrape(client)
    assert counted(after, steps) == counted(before, steps) + 1
    assert counted(after, psr_done) == counted(before, psr_done) + 1
    assert counted(after, psr_took) == counted(before, psr_took) + 1
    assert after['riskflow_tasks_open{state="claimed"}'] == 2
    # Each answer is timed, by route (the endpoint) rather than by path.
    timed = 'riskflow_request_duration_seconds_count{endpoint="metrics.metrics",method="GET",status="2xx"}'
    assert after[timed] == counted(before, timed) + 1
    riskflow(app).db.dispose()


def test_a_wrong_password_counts_as_a_sign_in_failure(
    database: Database, clock: ManualClock, cases: dict[str, Case]
) -> None:
    app = web_app(database, clock, METRICS_TOKEN="s3cret-token")
    client = app.test_client()
    failed = 'riskflow_sign_in_failures_total{reason="sign_in_failed"}'
    before = scrape(client).get(failed, 0.0)
    refused = sign_in(client, "spo.north", "not-the-password")
    assert refused.status_code == 401
    assert scrape(client)[failed] == before + 1
    riskflow(app).db.dispose()


def test_json_log_lines_carry_the_instance_and_task_ids() -> None:
    import json
    import logging

    from webui.metrics import JsonFormatter

    record = logging.LogRecord("riskflow.monitor", logging.INFO, __file__, 1, "retried", None, None)
    record.instance_id, record.task_id = 7, 12
    line = json.loads(JsonFormatter().format(record))
    assert (line["message"], line["instance_id"], line["task_id"], line["level"]) == (
        "retried",
        7,
        12,
        "info",
    )


def test_the_overview_shows_the_critical_few_and_oversight_compliance(
    app: Flask, database: Database, clock: ManualClock
) -> None:
    with database.transaction() as session:
        north = session.scalar(select(CaseRecord).where(CaseRecord.crn == "X100001"))
        north2 = session.scalar(select(CaseRecord).where(CaseRecord.crn == "X100002"))
        assert north is not None and north2 is not None
        north.rosh = RoshLevel.HIGH
        north2.rosh = RoshLevel.HIGH  # high but nothing aggravating: watched, not critical
        register.add_registration(session, "X100001", "RCPR", at=START, by="spo.north")
        for crn_case, on_time, when in (
            (north, True, START),
            (north2, False, START + DAY),
            (north, True, START - 31 * DAY),
        ):
            session.add(
                OversightReview(
                    case_id=crn_case.id, done_at=when, done_by="spo.north", on_time=on_time, due_at=when
                )
            )
    clock.set(START + 2 * DAY)
    page = signed_in(app, "spo.north").get("/monitor/").text
    assert section(page, "critical") == [
        ["Rowan Testbrook X100001", "OM North PO E, North Case Management", "High RoSH + child protection"]
    ]
    assert "1 critical case. " in page
    assert (
        '<a class="govuk-link" href="/cases/X100001">Rowan Testbrook' in page
    )  # the case record is a click away
    assert 'href="/cases?critical=yes"' in page
    assert section(page, "compliance-team") == [["North Case Management", "50% (1 of 2)"]]
    assert section(page, "compliance-spo") == [["SPO North", "50% (1 of 2)"]]
    assert section(page, "compliance-trend")[-2:] == [
        ["Oct 2026", "100% (1 of 1)"],
        ["Nov 2026", "50% (1 of 2)"],
    ]


def test_the_critical_few_total_and_list_leave_out_cases_the_manager_may_not_see(
    app: Flask, database: Database
) -> None:
    with database.transaction() as session:
        for crn in ("X100001", "X100002"):
            register.record_rosh(session, crn, RoshLevel.VERY_HIGH, at=START, by="om", source="OASys")
        register.limit_access(session, "X100002", at=START, by="aco.one", excluded=["spo.north"])
    spo_page = signed_in(app, "spo.north").get("/monitor/").text
    assert [row[0] for row in section(spo_page, "critical")] == ["Rowan Testbrook X100001"]
    assert "1 critical case. " in spo_page
    aco_page = signed_in(app, "aco.one").get("/monitor/").text
    assert sorted(row[0] for row in section(aco_page, "critical")) == [
        "Rowan Testbrook X100001",
        "Rowan Testbrook X100002",
    ]
    assert "2 critical cases. " in aco_page


def test_the_diagram_pages_load_bpmn_js_from_this_site_with_its_licence(
    app: Flask, cases: dict[str, Case]
) -> None:
    from webui.vendor import VENDOR_DIR, viewer_files

    client = signed_in(app, "spo.north")
    page = client.get(f"/monitor/instances/{cases['north'].instance_id}").text
    for path in viewer_files():
        url = "/static/vendor/" + path.relative_to(VENDOR_DIR).as_posix()
        if path.name != "LICENSE":
            assert url in page
        with client.get(url) as asset:
            assert asset.status_code == 200
    licence = viewer_files()[-1].read_text()
    assert "bpmn.io" in licence


def test_an_spo_cannot_touch_another_teams_work(app: Flask, cases: dict[str, Case]) -> None:
    client = signed_in(app, "spo.north")
    south = cases["south"]
    assert (
        client.post(
            f"/monitor/tasks/{south.task('write_psr').id}/reassign", data={"to": COVER, "reason": "x"}
        ).status_code
        == 404
    )
    assert (
        client.post(f"/monitor/instances/{south.instance_id}/suspend", data={"reason": "x"}).status_code
        == 404
    )
    assert (
        client.post(f"/monitor/cases/{south.crn}/owner", data={"owner": COVER, "reason": "x"}).status_code
        == 302
    )
    assert south.task("write_psr").claimed_by == SOUTH_OWNER
    assert south.instance().status == InstanceStatus.AWAITING_PEOPLE


def test_a_task_goes_back_to_the_pool_and_an_instance_is_terminated_with_reasons(
    app: Flask, cases: dict[str, Case]
) -> None:
    client = signed_in(app, "aco.one")
    north = cases["north"]
    client.post(
        f"/monitor/tasks/{north.task('write_psr').id}/reassign",
        data={"to": "__pool__", "reason": "Owner left"},
    )
    assert (north.task("write_psr").assignee, north.task("write_psr").claimed_by) == (None, None)
    page = client.post(
        f"/monitor/instances/{north.instance_id}/terminate",
        data={"reason": "Case withdrawn by the court"},
        follow_redirects=True,
    ).text
    assert "Instance terminated" in page
    assert north.instance().status == InstanceStatus.TERMINATED
    assert north.open_tasks() == []
    whys = [row[3] for row in section(page, "timeline")]
    assert whys[-2:] == ["Owner left", "Case withdrawn by the court"]
    again = client.post(
        f"/monitor/instances/{north.instance_id}/terminate", data={"reason": "again"}, follow_redirects=True
    )
    assert "already terminated" in again.text and "Nothing was changed" in again.text


def test_skip_a_failed_step_from_the_instance_page(app: Flask, failed: int, database: Database) -> None:
    client = signed_in(app, "spo.north")
    stuck = section(client.get("/monitor/stuck").text, "stuck")
    assert stuck[0][:3] == ["X100009", "North Case Management", "Run divide Error"]
    assert stuck[0][3].startswith("Error at Run divide, line 1: ZeroDivisionError")
    page = client.post(
        f"/monitor/instances/{failed}/skip", data={"reason": "Result not needed"}, follow_redirects=True
    ).text
    assert "Failed step skipped" in page
    with database.transaction(write=False) as session:
        row = session.get(ProcessInstance, failed)
        assert row is not None and row.status == InstanceStatus.AWAITING_PEOPLE


def test_monitor_pages_have_unique_ids_and_every_label_names_a_field(
    app: Flask, clock: ManualClock, cases: dict[str, Case], failed: int
) -> None:
    import re

    clock.set(START + 22 * DAY)
    client = signed_in(app, "spo.north")
    client.post(
        "/monitor/people",
        data={
            "action": "out_of_office",
            "officer": OWNER,
            "cover": COVER,
            "until": "2026-12-20",
            "reason": "leave",
        },
    )
    pages = [
        "/monitor/",
        "/monitor/stuck",
        "/monitor/diagram?step=write_psr",
        "/monitor/tasks",
        "/monitor/people",
        f"/monitor/instances/{cases['north'].instance_id}",
        f"/monitor/instances/{failed}",
    ]
    for path in pages:
        html = client.get(path).text
        ids = re.findall(r'\sid="([^"]+)"', html)
        assert len(ids) == len(set(ids)), (path, sorted(i for i in ids if ids.count(i) > 1))
        for target in re.findall(r'<label[^>]*\sfor="([^"]+)"', html):
            assert target in ids, (path, target)
        assert html.count("<h1") == 1, path


def test_a_case_that_needs_reallocation_is_on_its_spos_overview_until_it_is_reallocated(
    app: Flask, cases: dict[str, Case]
) -> None:
    pso = om_username("north", "PSO", "E")
    risen = Case(cases["north"].engine, "X100004")
    under_oversight(risen, "MEDIUM", "E", grade="PSO")
    events.change_rosh(risen.engine, risen.crn, RoshLevel.HIGH, by=pso, source="OASys review")
    client = signed_in(app, "spo.north")
    page = client.get("/monitor/").text
    assert "1 case whose Offender Manager's grade no longer fits the risk (policy 7)" in page
    task = risen.task("choose_new_owner")
    [row] = section(page, "reallocation")
    assert row[:3] == [
        "Rowan Testbrook X100004",
        "OM North PSO E, North Case Management",
        "OM North PSO E (Probation Services Officer) cannot own a case with High RoSH: the grade rules "
        "(policy 7) do not allow a Probation Services Officer to hold it.",
    ]
    assert row[3].startswith("Reallocate the case, held by SPO North, due ")
    assert f'href="/tasks/{task.id}"' in page
    assert "0 cases whose" in signed_in(app, "spo.south").get("/monitor/").text  # not their team's
    risen.complete("choose_new_owner", {"new_owner_staff_id": OWNER})
    assert "No case needs reallocation." in client.get("/monitor/").text
