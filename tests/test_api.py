"""The JSON API: bearer tokens with scopes, need to know as in the web pages, JSON errors with stable
codes and per-field details, and every call in the audit trail with the token's name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from api_client import ALL_SCOPES, FIRST_DETAILS, api_app, call, token
from casework_area import om_username
from conftest import START
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select
from webui_client import fast_password_hashing, give_passwords, sign_in
from werkzeug.test import TestResponse

from casework.models import AccessLimitation, AccessListEntry, Case, Staff
from casework.vocabulary import AccessList, RoshLevel, Stage
from engine.clock import ManualClock
from engine.db import Database
from engine.errors import EngineError, InvalidData
from engine.forms import validate_form_data
from engine.models import AuditEvent, HumanTask
from webui import riskflow
from webui.api.tokens import ApiToken, hash_secret, issue_token, revoke_token

__all__ = ["fast_password_hashing"]

CRN = "X200001"
FINED = {"outcome": "FINE", "sentence_date": "2026-11-02"}
OM_NORTH = om_username("north", "PO", "E")


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = api_app(database, clock)
    yield app
    riskflow(app).db.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def started_case(client: FlaskClient, court: str, crn: str = CRN) -> dict[str, object]:
    response = call(client, "POST", "/cases", court, {"crn": crn, "first_details": FIRST_DETAILS})
    assert response.status_code == 201, response.json
    return dict(response.json)


def supervised_case(app: Flask, crn: str, owner: str, rosh: RoshLevel = RoshLevel.MEDIUM) -> None:
    with riskflow(app).db.transaction() as session:
        staff = session.scalar(select(Staff).where(Staff.username == owner))
        assert staff is not None
        session.add(
            Case(crn=crn, stage=Stage.SUPERVISED, rosh=rosh, owner=staff, team=staff.team, created_at=START)
        )


# ------------------------------------------------------------------------------ tokens and access


def test_a_call_without_a_token_is_refused_with_json(client: FlaskClient) -> None:
    response = call(client, "GET", "/cases", None)
    assert response.status_code == 401
    assert response.json["error"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_signed_in_session_cookie_is_not_accepted(app: Flask, client: FlaskClient) -> None:
    give_passwords(riskflow(app).db, ["admin.north"])
    assert sign_in(client, "admin.north").status_code == 302
    assert client.get("/").status_code == 200  # the session works for the pages
    response = call(client, "GET", "/tasks", None)
    assert response.status_code == 401
    assert response.json["error"] == "unauthenticated"
    assert "Set-Cookie" not in response.headers


def test_a_failure_inside_is_a_json_500_without_a_traceback(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the database fell over at line 42")

    monkeypatch.setattr(riskflow(app).engine, "deliver_message", broken)
    court = token(app, "court.results", ["messages:send"])
    body = {"name": "sentencing_outcome", "correlation_value": CRN, "payload": FINED}
    response = call(client, "POST", "/messages", court, body)
    assert response.status_code == 500
    assert response.json == {
        "error": "internal_error",
        "message": "Something went wrong on our side. Try again later.",
        "fields": [],
    }
    assert "line 42" in caplog.text  # the detail goes to the log, not to the caller


def test_the_api_needs_no_csrf_token_because_it_takes_no_cookies(
    database: Database, clock: ManualClock
) -> None:
    app = api_app(database, clock, WTF_CSRF_ENABLED=True)
    try:
        client = app.test_client()
        assert client.post("/sign-in", data={"username": "x", "password": "y"}).status_code == 400
        court = token(app, "court.results", ["messages:send"])
        body = {"name": "sentencing_outcome", "correlation_value": CRN, "payload": FINED}
        assert call(client, "POST", "/messages", court, body).status_code == 202
    finally:
        riskflow(app).db.dispose()


def test_a_token_is_kept_only_as_a_hash(app: Flask) -> None:
    secret = token(app, "court.results", ["messages:send"])
    with riskflow(app).db.transaction(write=False) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "court.results"))
        assert row is not None
        assert row.secret_hash == hash_secret(secret)
        assert secret not in (row.secret_hash, row.name)
        assert row.kind == "system"


def test_a_token_without_the_scope_is_refused(app: Flask, client: FlaskClient) -> None:
    court = token(app, "court.results", ["messages:send"])
    response = call(client, "GET", "/cases", court)
    assert response.status_code == 403
    assert response.json["error"] == "missing_scope"
    assert "cases:read" in response.json["message"]


def test_a_revoked_token_is_refused_from_the_next_call(app: Flask, client: FlaskClient) -> None:
    court = token(app, "court.results", ["cases:read"])
    assert call(client, "GET", "/cases", court).status_code == 200
    shared = riskflow(app)
    with shared.db.transaction() as session:
        revoke_token(session, "court.results", at=shared.clock.now(), by="service.desk")
    response = call(client, "GET", "/cases", court)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"


def test_a_token_stops_working_when_it_expires(app: Flask, client: FlaskClient, clock: ManualClock) -> None:
    shared = riskflow(app)
    with shared.db.transaction() as session:
        issued = issue_token(
            session,
            "oasys",
            ["cases:read"],
            username=None,
            at=clock.now(),
            by="desk",
            valid_for=timedelta(days=90),
        )
    assert issued.expires_at == clock.now() + timedelta(days=90)
    clock.set(issued.expires_at - timedelta(minutes=1))
    assert call(client, "GET", "/cases", issued.secret).status_code == 200

    clock.set(issued.expires_at)
    response = call(client, "GET", "/cases", issued.secret)
    assert response.status_code == 401
    assert response.json["error"] == "expired_token"
    assert "expired on" in response.json["message"] and "ask for a new one" in response.json["message"]

    with shared.db.transaction() as session, pytest.raises(EngineError, match="at most 730 days"):
        issue_token(
            session,
            "long",
            ["cases:read"],
            username=None,
            at=clock.now(),
            by="desk",
            valid_for=timedelta(days=800),
        )


def test_a_person_token_stops_working_when_they_leave(app: Flask, client: FlaskClient) -> None:
    secret = token(app, "om-north-laptop", ["cases:read"], person=OM_NORTH)
    with riskflow(app).db.transaction() as session:
        staff = session.scalar(select(Staff).where(Staff.username == OM_NORTH))
        assert staff is not None
        staff.active = False
    assert call(client, "GET", "/cases", secret).status_code == 401


def test_every_call_is_in_the_audit_trail_with_the_token_name(app: Flask, client: FlaskClient) -> None:
    court = token(app, "court.results", ["cases:read"])
    supervised_case(app, "N300001", OM_NORTH)
    call(client, "GET", "/cases/N300001", court)
    call(client, "GET", "/tasks", court)  # refused: still logged
    with riskflow(app).db.transaction(write=False) as session:
        calls = session.scalars(
            select(AuditEvent).where(AuditEvent.event == "api_call").order_by(AuditEvent.id)
        ).all()
    assert [(c.actor, c.business_key, (c.detail or {})["status"]) for c in calls] == [
        ("api:court.results", "N300001", 200),
        ("api:court.results", None, 403),
    ]
    assert all((c.detail or {})["token"] == "court.results" for c in calls)


# ----------------------------------------------------------------------------------------- cases


def test_a_case_created_at_court_is_on_the_register_at_once_with_its_process(
    app: Flask, client: FlaskClient
) -> None:
    court = token(app, "court.results", ["cases:write", "cases:read"])
    created = started_case(client, court)
    assert created["case"]["crn"] == CRN  # type: ignore[index]
    assert created["case"]["stage"] == "IDENTIFIED"  # type: ignore[index]
    assert created["status"] == "awaiting_people"
    with riskflow(app).db.transaction(write=False) as session:
        task = session.scalar(select(HumanTask).where(HumanTask.business_key == CRN))
        assert task is not None
        assert task.element_id == "record_first_details"
        assert task.draft == FIRST_DETAILS  # waiting, filled in, for the case administrator
    assert call(client, "GET", f"/cases/{CRN}", court).json["stage"] == "IDENTIFIED"


def test_a_case_already_on_the_register_is_a_conflict(app: Flask, client: FlaskClient) -> None:
    court = token(app, "court.results", ["cases:write"])
    started_case(client, court)
    response = call(client, "POST", "/cases", court, {"crn": CRN, "first_details": FIRST_DETAILS})
    assert response.status_code == 409
    assert response.json["error"] == "duplicate_case"


def test_bad_first_details_say_which_field_and_start_nothing(app: Flask, client: FlaskClient) -> None:
    court = token(app, "court.results", ["cases:write"])
    details = {**FIRST_DETAILS, "report_type": "LONG", "hearing_date": "yesterday"}
    response = call(client, "POST", "/cases", court, {"crn": CRN, "first_details": details})
    assert response.status_code == 422
    fields = {f["field"] for f in response.json["fields"]}
    assert fields == {"first_details.report_type", "first_details.hearing_date"}
    with riskflow(app).db.transaction(write=False) as session:
        assert session.scalar(select(Case).where(Case.crn == CRN)) is None


def test_an_offender_manager_does_not_record_new_cases(app: Flask, client: FlaskClient) -> None:
    om = token(app, "om", ["cases:write"], person=OM_NORTH)
    response = call(client, "POST", "/cases", om, {"crn": CRN, "first_details": FIRST_DETAILS})
    assert response.status_code == 403
    assert response.json["error"] == "wrong_role"


def limit_access(app: Flask, crn: str, username: str, on_list: AccessList) -> None:
    """Put `username` on the case's exclusion or restriction list."""
    with riskflow(app).db.transaction() as session:
        case = session.scalar(select(Case).where(Case.crn == crn))
        staff = session.scalar(select(Staff).where(Staff.username == username))
        assert case is not None and staff is not None
        limitation = AccessLimitation(case_id=case.id, set_at=START, set_by="aco.one")
        session.add(limitation)
        session.flush()
        session.add(
            AccessListEntry(
                limitation_id=limitation.id,
                staff_id=staff.id,
                on_list=on_list,
                added_at=START,
                added_by="aco.one",
            )
        )


def same_apart_from(response: TestResponse, name: str) -> tuple[int, str, bytes, str | None]:
    """What a refusal gives away: status, content type, body (with `name` blanked) and any cookie."""
    body = response.get_data().replace(name.encode(), b"<id>")
    return response.status_code, response.content_type, body, response.headers.get("Set-Cookie")


def test_a_person_sees_only_the_cases_they_need_to_know_about(app: Flask, client: FlaskClient) -> None:
    supervised_case(app, "N300001", OM_NORTH)
    supervised_case(app, "S300001", om_username("south", "PO", "E"))
    om = token(app, "om", ["cases:read"], person=OM_NORTH)
    listed = call(client, "GET", "/cases", om).json["cases"]
    assert [c["crn"] for c in listed] == ["N300001"]
    assert call(client, "GET", "/cases/Z999999", om).status_code == 404
    assert call(client, "GET", "/cases/S300001", om).status_code == 404


def test_a_case_without_need_to_know_answers_exactly_as_a_case_not_on_the_register(
    app: Flask, client: FlaskClient
) -> None:
    south_om = om_username("south", "PO", "E")
    supervised_case(app, "S300001", south_om)
    om = token(app, "om", ["cases:read", "cases:write"], person=OM_NORTH)
    hidden = call(client, "GET", "/cases/S300001", om)
    missing = call(client, "GET", "/cases/S399999", om)
    assert hidden.status_code == 404
    assert same_apart_from(hidden, "S300001") == same_apart_from(missing, "S399999")
    assert b"South" not in hidden.get_data() and b"held by" not in hidden.get_data()
    # Reporting a change to it, too: no hint that the CRN is on the register.
    change = {"level": "HIGH", "source": "OASys"}
    hidden = call(client, "POST", "/cases/S300001/rosh", om, change)
    missing = call(client, "POST", "/cases/S399999/rosh", om, change)
    assert hidden.status_code == 404
    assert same_apart_from(hidden, "S300001") == same_apart_from(missing, "S399999")


def test_an_instance_on_a_case_without_need_to_know_answers_as_one_that_is_not_there(
    app: Flask, client: FlaskClient
) -> None:
    court = token(app, "court.results", ["cases:write"])
    instance_id = str(started_case(client, court)["instance_id"])
    consultant = token(app, "risk", ["instances:read"], person="risk.consultant")
    hidden = call(client, "GET", f"/instances/{instance_id}", consultant)
    missing = call(client, "GET", "/instances/987654", consultant)
    assert hidden.status_code == 404
    assert same_apart_from(hidden, instance_id) == same_apart_from(missing, "987654")
    assert CRN.encode() not in hidden.get_data()
    aco = token(app, "aco", ["instances:read"], person="aco.one")
    assert call(client, "GET", f"/instances/{instance_id}", aco).status_code == 200


def test_someone_on_the_exclusion_list_gets_the_case_records_limited_access_message(
    app: Flask, client: FlaskClient
) -> None:
    supervised_case(app, "N300001", OM_NORTH)
    limit_access(app, "N300001", "spo.north", AccessList.EXCLUSION)
    spo = token(app, "spo", ["cases:read", "instances:read"], person="spo.north")
    response = call(client, "GET", "/cases/N300001", spo)
    assert response.status_code == 403
    assert response.json["error"] == "limited_access"
    assert response.json["message"].startswith("You are excluded from viewing this offender record.")
    give_passwords(riskflow(app).db, ["spo.north"])
    browser = app.test_client()
    assert sign_in(browser, "spo.north").status_code == 302
    page = browser.get("/cases/N300001")
    assert page.status_code == 403
    assert str(escape(response.json["message"])) in page.text


def test_a_system_does_not_see_a_case_restricted_to_named_staff(app: Flask, client: FlaskClient) -> None:
    supervised_case(app, "N300001", OM_NORTH)
    limit_access(app, "N300001", OM_NORTH, AccessList.RESTRICTION)
    court = token(app, "oasys", ["cases:read"])
    assert call(client, "GET", "/cases", court).json["cases"] == []
    refused = call(client, "GET", "/cases/N300001", court)
    assert refused.status_code == 403
    assert refused.json["error"] == "limited_access"
    om = token(app, "om", ["cases:read"], person=OM_NORTH)
    assert call(client, "GET", "/cases/N300001", om).status_code == 200


def test_cases_can_be_filtered(app: Flask, client: FlaskClient) -> None:
    supervised_case(app, "N300001", OM_NORTH, RoshLevel.HIGH)
    supervised_case(app, "N300002", OM_NORTH, RoshLevel.LOW)
    aco = token(app, "aco", ["cases:read"], person="aco.one")
    high = call(client, "GET", "/cases?rosh=HIGH", aco).json["cases"]
    assert [c["crn"] for c in high] == ["N300001"]
    mine = call(client, "GET", f"/cases?owner={OM_NORTH}&limit=1&offset=1", aco).json["cases"]
    assert [c["crn"] for c in mine] == ["N300002"]
    bad = call(client, "GET", "/cases?rosh=NONE&limit=0", aco)
    assert bad.status_code == 422
    assert {f["field"] for f in bad.json["fields"]} == {"rosh", "limit"}


# ----------------------------------------------------------------------------------------- tasks


def test_tasks_belong_to_people_not_systems(app: Flask, client: FlaskClient) -> None:
    court = token(app, "court.results", ALL_SCOPES)
    response = call(client, "GET", "/tasks", court)
    assert response.status_code == 403
    assert response.json["error"] == "person_only"


def test_a_case_administrator_claims_and_completes_the_first_details(app: Flask, client: FlaskClient) -> None:
    court = token(app, "court.results", ["cases:write"])
    admin = token(app, "admin", ["tasks:read", "tasks:write"], person="admin.north")
    started_case(client, court)
    to_claim = call(client, "GET", "/tasks", admin).json["to_claim"]
    assert [(t["crn"], t["title"]) for t in to_claim] == [(CRN, "Record the first details")]
    task_id = to_claim[0]["id"]
    detail = call(client, "GET", f"/tasks/{task_id}", admin).json
    assert detail["form_schema"]["required"] == [
        "forename",
        "surname",
        "date_of_birth",
        "court_name",
        "hearing_date",
        "offence",
        "report_type",
        "remanded_in_custody",
    ]
    assert detail["draft"] == FIRST_DETAILS
    assert call(client, "POST", f"/tasks/{task_id}/claim", admin).json["claimed_by"] == "admin.north"
    assert [t["id"] for t in call(client, "GET", "/tasks", admin).json["mine"]] == [task_id]

    wrong = call(client, "POST", f"/tasks/{task_id}/complete", admin, {"data": {"court_name": ""}})
    assert wrong.status_code == 422
    assert wrong.json["error"] == "invalid_data"
    given = [(f["field"], f["message"]) for f in wrong.json["fields"]]
    with pytest.raises(InvalidData) as form_errors:  # what the web form shows for the same data
        validate_form_data(detail["form_schema"], {"court_name": ""})
    assert given == [(e.field, e.message) for e in form_errors.value.errors]
    assert ("hearing_date", "Enter date of the hearing") in given
    assert call(client, "GET", f"/tasks/{task_id}", admin).json["state"] == "open"

    done = call(client, "POST", f"/tasks/{task_id}/complete", admin, {"data": FIRST_DETAILS})
    assert done.status_code == 200, done.json
    assert done.json["status"] == "awaiting_people"
    again = call(client, "POST", f"/tasks/{task_id}/complete", admin, {"data": FIRST_DETAILS})
    assert again.status_code == 409


def test_a_task_someone_else_claimed_is_a_conflict(app: Flask, client: FlaskClient) -> None:
    court = token(app, "court.results", ["cases:write"])
    admin = token(app, "admin", ["tasks:read", "tasks:write"], person="admin.north")
    spo = token(app, "spo", ["tasks:read", "tasks:write"], person="spo.north")
    created = started_case(client, court)
    task_id = created["task_ids"][0]  # type: ignore[index]
    assert call(client, "POST", f"/tasks/{task_id}/claim", admin).status_code == 200
    # The SPO may see the case but holds another role: refused as in the inbox.
    refused = call(client, "POST", f"/tasks/{task_id}/claim", spo)
    assert refused.status_code == 403
    assert refused.json["error"] == "wrong_role"
    other_admin = token(app, "admin2", ["tasks:write"], person="admin.south")
    taken = call(client, "POST", f"/tasks/{task_id}/release", other_admin)
    assert taken.status_code == 403
    assert taken.json["error"] == "not_yours"


def test_a_task_on_a_case_the_person_may_not_see_is_not_there(app: Flask, client: FlaskClient) -> None:
    court = token(app, "court.results", ["cases:write"])
    consultant = token(app, "rc", ["tasks:read", "tasks:write"], person="risk.consultant")
    created = started_case(client, court)  # unallocated, no RoSH yet: not a risk consultant's case
    task_id = created["task_ids"][0]  # type: ignore[index]
    for method, path in (("GET", f"/tasks/{task_id}"), ("POST", f"/tasks/{task_id}/claim")):
        response = call(client, method, path, consultant)
        assert response.status_code == 404
        assert response.json["error"] == "not_found"


# ------------------------------------------------------------------------------------- instances


def test_a_manager_suspends_and_resumes_with_a_reason_and_others_may_not(
    app: Flask, client: FlaskClient
) -> None:
    court = token(app, "court.results", ["cases:write"])
    created = started_case(client, court)
    instance_id = created["instance_id"]
    spo = token(app, "spo", ["instances:read", "instances:manage"], person="spo.north")
    admin = token(app, "admin", ["instances:manage"], person="admin.north")
    refused = call(client, "POST", f"/instances/{instance_id}/suspend", admin, {"reason": "x"})
    assert refused.status_code == 403
    assert refused.json["error"] == "not_a_manager"
    no_reason = call(client, "POST", f"/instances/{instance_id}/suspend", spo, {"reason": "   "})
    assert no_reason.status_code == 422
    assert [f["field"] for f in no_reason.json["fields"]] == ["reason"]
    suspended = call(client, "POST", f"/instances/{instance_id}/suspend", spo, {"reason": "Court adjourned"})
    assert suspended.json["status"] == "suspended"
    twice = call(client, "POST", f"/instances/{instance_id}/suspend", spo, {"reason": "again"})
    assert twice.status_code == 409
    resumed = call(client, "POST", f"/instances/{instance_id}/resume", spo, {"reason": "Hearing relisted"})
    assert resumed.json["status"] == "awaiting_people"
    detail = call(client, "GET", f"/instances/{instance_id}", spo).json
    assert [t["element_id"] for t in detail["open_tasks"]] == ["record_first_details"]
    listed = call(client, "GET", f"/instances?crn={CRN}", spo).json["instances"]
    assert [i["id"] for i in listed] == [instance_id]


def test_a_manager_reassigns_a_case_task_to_someone_who_may_see_the_case(
    app: Flask, client: FlaskClient
) -> None:
    court = token(app, "court.results", ["cases:write"])
    created = started_case(client, court)
    task_id = created["task_ids"][0]  # type: ignore[index]
    admin = token(app, "admin", ["tasks:write"], person="admin.north")
    call(client, "POST", f"/tasks/{task_id}/claim", admin)
    spo = token(app, "spo", ["instances:manage"], person="spo.north")
    path = f"/instances/{created['instance_id']}/reassign"
    body = {"from_username": "admin.north", "to_username": "risk.consultant", "reason": "Admin on leave"}
    refused = call(client, "POST", path, spo, body)
    assert refused.status_code == 422  # the risk consultant may not see a case with no RoSH yet
    body["to_username"] = "admin.south"
    moved = call(client, "POST", path, spo, body)
    assert moved.json == {"moved": 1}
    with riskflow(app).db.transaction(write=False) as session:
        row = session.get(HumanTask, task_id)
        assert row is not None
        assert (row.assignee, row.claimed_by) == ("admin.south", None)


def test_definitions_are_listed(app: Flask, client: FlaskClient) -> None:
    reader = token(app, "monitoring", ["instances:read"])
    definitions = call(client, "GET", "/definitions", reader).json["definitions"]
    assert [(d["name"], d["version"]) for d in definitions] == [("offender-management", 1)]
    one = call(client, "GET", f"/definitions/{definitions[0]['id']}", reader).json
    assert one["process_ids"] == ["custody_licence", "offender_management"]
    assert call(client, "GET", "/definitions/999", reader).status_code == 404


# ---------------------------------------------------------------------------------------- errors


def test_unknown_addresses_and_methods_under_the_api_are_json(client: FlaskClient) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json["error"] == "not_found"
    wrong_method = client.delete("/api/v1/cases")
    assert wrong_method.status_code == 405
    assert wrong_method.json["error"] == "method_not_allowed"


def test_a_body_that_is_not_json_is_refused_clearly(app: Flask, client: FlaskClient) -> None:
    court = token(app, "court.results", ["messages:send"])
    response = client.post(
        "/api/v1/messages", data="outcome=custody", headers={"Authorization": f"Bearer {court}"}
    )
    assert response.status_code == 422
    assert response.json["error"] == "invalid_body"


def test_the_openapi_document_is_served_and_names_each_operations_scope(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    assert document["openapi"].startswith("3.1")
    operations = {
        (method.upper(), path): op for path, item in document["paths"].items() for method, op in item.items()
    }
    assert operations[("POST", "/api/v1/messages")]["x-scope"] == "messages:send"
    assert operations[("POST", "/api/v1/tasks/{task_id}/complete")]["x-scope"] == "tasks:write"
    assert {"401", "403", "422"} <= set(operations[("POST", "/api/v1/cases")]["responses"])


def test_the_openapi_document_lists_exactly_the_operations_the_api_serves(
    app: Flask, client: FlaskClient
) -> None:
    # The document is generated from the same declarations that route the requests, so it lists
    # every operation the app answers under the API, and no other.
    document = client.get("/openapi.json").json
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    served = {
        (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    assert documented == served
    assert ("POST", "/api/v1/tasks/{task_id}/complete") in served
