"""One access log for every read of case data: each page, API call, list and download that shows a
case writes to casework.access_log through record_reads, saying who read (signed in, or an API token
and whose), for what and when; a route that takes a case, task or instance and is not known to log
fails the guard; managers search the log by case and by person within their scope, others are
refused; the log's own views and downloads are logged too."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from api_client import ALL_SCOPES, FIRST_DETAILS, api_app, call, token
from casework_area import om_username
from conftest import START
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from webui_client import add_staff, fast_password_hashing, give_passwords, sign_in

from casework import register
from casework.access_log import CaseAccess
from casework.models import Registration
from casework.vocabulary import Grade, RoshLevel
from engine.clock import ManualClock
from engine.db import Database
from engine.models import HumanTask
from engine.runtime import Actor
from tasks import intake
from webui import riskflow

__all__ = ["fast_password_hashing"]  # autouse: cheap password hashing in these tests

CRN = "N300001"
SOUTH_CRN = "S300001"
OM_NORTH = om_username("north", "PO", "E")
OM_SOUTH = om_username("south", "PO", "E")
STAFF = [OM_NORTH, OM_SOUTH, "spo.north", "spo.south", "admin.north", "aco.one"]
ID_ARGUMENTS = {"crn", "task_id", "instance_id", "registration_id"}


@dataclass
class Area:
    """The app, a North case with its process (an instance and a first task), and a South case."""

    app: Flask
    instance_id: int
    task_id: int
    registration_id: int

    def web(self, username: str) -> FlaskClient:
        client = self.app.test_client()
        assert sign_in(client, username).status_code == 302
        return client

    def token(self, username: str | None = "admin.north") -> str:
        name = f"{username or 'court'}-tool"
        return token(self.app, name, ALL_SCOPES, person=username)


@pytest.fixture
def area(database: Database, clock: ManualClock) -> Iterator[Area]:
    app = api_app(database, clock)
    engine = riskflow(app).engine
    result, _task = intake.identify_at_court(engine, CRN, FIRST_DETAILS, Actor("admin.north"))
    with database.transaction() as session:
        register.assign_owner(session, CRN, OM_NORTH, at=START, by="spo.north", reason="allocation")
        register.add_registration(session, CRN, "RCPR", at=START, by="spo.north")
        register.identify_case(
            session, SOUTH_CRN, at=START, by="admin.south", forename="Hester", surname="Yewdale"
        )
        register.record_rosh(session, SOUTH_CRN, RoshLevel.MEDIUM, at=START, by="admin.south", source="test")
        register.assign_owner(session, SOUTH_CRN, OM_SOUTH, at=START, by="spo.south")
        registration_id = session.scalar(select(Registration.id).where(Registration.code == "RCPR"))
        task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == result.instance_id))
    assert registration_id is not None and task_id is not None
    give_passwords(database, STAFF)
    add_staff(database, "aco.two", Grade.ACO)  # an ACO who manages neither team: asked for a reason
    yield Area(app, result.instance_id, task_id, registration_id)
    riskflow(app).db.dispose()


def log_lines(area: Area) -> list[CaseAccess]:
    with riskflow(area.app).db.transaction(write=False) as session:
        return list(session.scalars(select(CaseAccess).order_by(CaseAccess.id)))


# ------------------------------------------------------------------- every route that reads a case


@dataclass(frozen=True)
class Read:
    """A request that shows a case's data, and the line it must leave in the access log."""

    method: str
    endpoint: str
    path: str  # with {crn}, {task_id}, {instance_id}, {registration_id}
    reader: str  # a username signed in, or "token:<username>" for that person's API token
    purpose: str
    form: dict[str, str] | None = None


READS = [
    Read("GET", "cases.record", "/cases/{crn}", "spo.north", "case record"),
    Read(
        "POST",
        "cases.give_reason",
        "/cases/{crn}/reason",
        "aco.two",
        "case record",
        {"justification": "QUALITY_ASSURANCE", "details": "Audit sample"},
    ),
    Read("GET", "case_changes.change", "/cases/{crn}/changes/rosh", "spo.north", "report a change"),
    Read("POST", "case_changes.change", "/cases/{crn}/changes/rosh", "spo.north", "report a change", {}),
    Read(
        "GET",
        "case_changes.end_registration",
        "/cases/{crn}/registrations/{registration_id}/end",
        "spo.north",
        "report a change",
    ),
    Read(
        "POST",
        "case_changes.end_registration",
        "/cases/{crn}/registrations/{registration_id}/end",
        "spo.north",
        "report a change",
        {},
    ),
    Read("GET", "access_lists.access_lists_page", "/cases/{crn}/access-lists", "spo.north", "access lists"),
    Read(
        "POST",
        "access_lists.access_lists_page",
        "/cases/{crn}/access-lists",
        "spo.north",
        "access lists",
        {},
    ),
    Read("GET", "task.page", "/tasks/{task_id}", "admin.north", "task page"),
    Read("GET", "monitor.instance", "/monitor/instances/{instance_id}", "spo.north", "monitor: instance"),
    Read("GET", "api.get_case", "/api/v1/cases/{crn}", "token:admin.north", "API: case"),
    Read("GET", "api.get_task", "/api/v1/tasks/{task_id}", "token:admin.north", "API: task"),
    Read("GET", "api.get_instance", "/api/v1/instances/{instance_id}", "token:admin.north", "API: instance"),
]

# Routes that take a case, task or instance but show no case data of their own, and why.
NOT_READS = {
    (
        "POST",
        "task.submit",
    ): "saves or completes the task (the engine audits it); the page was logged when shown",
    ("POST", "inbox.claim"): "claims a task: the engine audits the claim",
    ("POST", "inbox.release"): "releases a task: the engine audits it",
    ("GET", "monitor.instance_marks"): "step ids for the diagram of an instance page already logged",
    ("POST", "monitor.act_on_instance"): "a repair, audited with its reason on the case timeline",
    ("POST", "monitor.reassign"): "a reassignment, audited with its reason",
    ("POST", "monitor.move_owner"): "an ownership change, recorded on the register with its reason",
    ("POST", "api.add_registration"): "a change, recorded on the register (and the API call audit)",
    ("POST", "api.end_registration"): "a change, recorded on the register (and the API call audit)",
    ("POST", "api.record_rosh"): "a change, recorded on the register (and the API call audit)",
    ("POST", "api.request_transfer"): "a change, recorded on the register (and the API call audit)",
    ("POST", "api.refer_to_mappa"): "a change, recorded on the register (and the API call audit)",
    ("POST", "api.claim_task"): "claims a task: the engine audits the claim",
    ("POST", "api.release_task"): "releases a task: the engine audits it",
    ("POST", "api.complete_task"): "completes a task: the engine audits it",
    ("POST", "api.retry_instance"): "a repair, audited with its reason",
    ("POST", "api.skip_instance"): "a repair, audited with its reason",
    ("POST", "api.suspend_instance"): "a repair, audited with its reason",
    ("POST", "api.resume_instance"): "a repair, audited with its reason",
    ("POST", "api.reassign_instance_tasks"): "a reassignment, audited with its reason",
}


def test_every_route_that_takes_a_case_task_or_instance_is_known_to_log_its_reads(area: Area) -> None:
    """A new route on a case, task or instance must be added to READS (and log) or to NOT_READS."""
    routes = {
        (method, rule.endpoint)
        for rule in area.app.url_map.iter_rules()
        if rule.arguments & ID_ARGUMENTS
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    known = {(read.method, read.endpoint) for read in READS} | set(NOT_READS)
    assert routes - known == set(), "log the reads of these routes (webui.reads.log_read), then add them here"
    assert known - routes == set(), "these routes are gone: take them out of READS or NOT_READS"


def _send(area: Area, read: Read) -> int:
    path = read.path.format(
        crn=CRN, task_id=area.task_id, instance_id=area.instance_id, registration_id=area.registration_id
    )
    if read.reader.startswith("token:"):
        return int(
            call(area.app.test_client(), read.method, path.removeprefix("/api/v1"), area.token()).status_code
        )
    client = area.web(read.reader)
    return client.open(path, method=read.method, data=read.form).status_code


@pytest.mark.parametrize("read", READS, ids=[f"{r.method} {r.endpoint}" for r in READS])
def test_every_read_of_a_case_is_in_the_access_log(area: Area, read: Read) -> None:
    status = _send(area, read)

    assert status < 500
    lines = log_lines(area)
    assert [(line.crn, line.purpose) for line in lines] == [(CRN, read.purpose)]
    line = lines[0]
    assert line.username == read.reader.removeprefix("token:")
    assert line.at == START  # the app's clock
    if read.reader.startswith("token:"):
        assert (line.caller_kind, line.token) == ("api_token", "admin.north-tool")
    else:
        assert (line.caller_kind, line.token) == ("person", None)


def test_a_system_token_is_logged_as_the_system_not_a_person(area: Area) -> None:
    secret = area.token(None)

    assert call(area.app.test_client(), "GET", f"/cases/{CRN}", secret).status_code == 200

    [line] = log_lines(area)
    assert (line.username, line.caller_kind, line.token, line.purpose) == (
        "api:court-tool",
        "api_token",
        "court-tool",
        "API: case",
    )


# ---------------------------------------------------------------------- lists, searches and exports


LISTS: list[tuple[str, str, str, str]] = [
    # (reader, path, purpose, what the line's detail holds)
    ("spo.north", f"/cases?q={CRN}", "register list", f"/cases?q={CRN}"),
    ("token:admin.north", "/api/v1/cases", "API: case list", "/api/v1/cases"),
    (
        "token:admin.north",
        f"/api/v1/instances?crn={CRN}",
        "API: instance list",
        f"/api/v1/instances?crn={CRN}",
    ),
    ("spo.north", "/monitor/tasks", "monitor: list", "/monitor/tasks"),
    ("spo.north", "/monitor/tasks?format=csv", "export", "/monitor/tasks?format=csv"),
]


@pytest.mark.parametrize(("reader", "path", "purpose", "detail"), LISTS, ids=[p for _, p, _, _ in LISTS])
def test_a_list_logs_one_line_for_each_case_it_shows(
    area: Area, reader: str, path: str, purpose: str, detail: str
) -> None:
    if reader.startswith("token:"):
        response = call(area.app.test_client(), "GET", path.removeprefix("/api/v1"), area.token())
    else:
        response = area.web(reader).get(path)

    assert response.status_code == 200
    lines = log_lines(area)
    assert [(line.crn, line.purpose, line.detail) for line in lines] == [(CRN, purpose, detail)]
    assert CRN in response.get_data(as_text=True)


def test_a_search_that_shows_no_case_is_logged_with_no_case(area: Area) -> None:
    assert area.web("spo.north").get("/cases?q=Nobody").status_code == 200

    assert [(line.crn, line.purpose, line.detail) for line in log_lines(area)] == [
        (None, "register list", "/cases?q=Nobody")
    ]


# ----------------------------------------------------------------------------- the managers' page


def _reads(area: Area, username: str, crn: str) -> None:
    """`username` opens the case record of `crn` (logged)."""
    assert area.web(username).get(f"/cases/{crn}").status_code == 200


def test_an_spo_sees_who_has_seen_a_case_of_their_team_and_the_search_is_logged(area: Area) -> None:
    _reads(area, OM_NORTH, CRN)
    _reads(area, "aco.one", CRN)

    page = area.web("spo.north").get(f"/monitor/access-log?crn={CRN}")

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Who has seen N300001" in text
    assert "OM North PO E" in text and "Morwenna Tallis" in text
    last = log_lines(area)[-1]
    assert (last.username, last.crn, last.purpose) == ("spo.north", CRN, "access log")


def test_the_case_record_links_a_manager_to_who_has_seen_it(area: Area) -> None:
    link = f'href="/monitor/access-log?crn={CRN}"'
    assert link in area.web("spo.north").get(f"/cases/{CRN}").get_data(as_text=True)
    assert link not in area.web(OM_NORTH).get(f"/cases/{CRN}").get_data(as_text=True)


def test_an_spo_may_not_search_another_teams_case(area: Area) -> None:
    _reads(area, OM_SOUTH, SOUTH_CRN)

    page = area.web("spo.north").get(f"/monitor/access-log?crn={SOUTH_CRN}")

    assert page.status_code == 403
    assert OM_SOUTH not in page.get_data(as_text=True)


def test_a_search_by_person_shows_an_spo_only_their_teams_cases_and_an_aco_the_area(area: Area) -> None:
    _reads(area, "aco.one", CRN)
    _reads(area, "aco.one", SOUTH_CRN)

    by_spo = area.web("spo.north").get("/monitor/access-log?person=aco.one").get_data(as_text=True)
    by_aco = area.web("aco.one").get("/monitor/access-log?person=aco.one").get_data(as_text=True)

    assert CRN in by_spo and SOUTH_CRN not in by_spo
    assert CRN in by_aco and SOUTH_CRN in by_aco
    spo_search = [line for line in log_lines(area) if line.username == "spo.north"]
    assert [(line.crn, line.purpose, line.detail) for line in spo_search] == [
        (CRN, "access log", "/monitor/access-log?person=aco.one")
    ]


@pytest.mark.parametrize("username", [OM_NORTH, "admin.north"])
def test_anyone_but_a_manager_is_refused_the_access_log(area: Area, username: str) -> None:
    _reads(area, "spo.north", CRN)

    for query in (f"crn={CRN}", "person=spo.north", f"crn={CRN}&format=csv"):
        assert area.web(username).get(f"/monitor/access-log?{query}").status_code == 403
    assert all(line.purpose != "access log" for line in log_lines(area))


def test_the_access_log_downloads_as_csv_and_the_download_is_logged(area: Area) -> None:
    _reads(area, OM_NORTH, CRN)
    assert call(area.app.test_client(), "GET", f"/cases/{CRN}", area.token()).status_code == 200

    download = area.web("spo.north").get(f"/monitor/access-log?crn={CRN}&format=csv")

    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert rows[0][:5] == ["At", "Reader", "Reader's name", "Came with", "Purpose"]
    assert [(r[1], r[3], r[4], r[5]) for r in rows[1:]] == [
        ("admin.north", "API token admin.north-tool", "API: case", CRN),
        (OM_NORTH, "signed in", "case record", CRN),
    ]
    last = log_lines(area)[-1]
    assert (last.username, last.crn, last.purpose, last.detail) == (
        "spo.north",
        CRN,
        "export",
        f"/monitor/access-log?crn={CRN}&format=csv",
    )


def test_asking_for_a_case_and_a_person_at_once_is_a_clear_error_that_logs_nothing(area: Area) -> None:
    page = area.web("aco.one").get(f"/monitor/access-log?crn={CRN}&person=spo.north")

    assert page.status_code == 400
    assert "Search by case or by person, not both at once" in page.get_data(as_text=True)
    assert log_lines(area) == []
