"""Contract tests for the court-outcome flow over the API, end to end: the court identifies a case,
the case administrator records its first details, the pre-sentence report goes in, the request for
the sentencing outcome goes out, the court's outcome message comes in, and the SPO finds the risk
meeting to hold. An outcome that arrives early is kept and used as soon as the case waits for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_client import FIRST_DETAILS, api_app, call, token
from casework_area import om_username
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from webui_client import fast_password_hashing

from engine.clock import ManualClock
from engine.db import Database
from engine.messaging import OutboxHandlers
from engine.models import HumanTask, InboundMessage
from engine.runtime import Actor
from webui import riskflow

__all__ = ["fast_password_hashing"]

CRN = "X400001"
PSR = {
    "report_date": "2026-11-02",  # the day of the hearing: the test clock stands there
    "rosh": "HIGH",
    "mappa_category": "NOT_ELIGIBLE",
    "registrations": [],
    "proposal": "Community order with a rehabilitation activity requirement",
}
OUTCOME = {
    "crn": CRN,
    "outcome": "CUSTODY_12_MONTHS_OR_MORE",
    "sentence_date": "2026-11-02",
    "custody_months": 18,
    "release_date": "2027-08-02",
    "release_type": "AUTOMATIC",
    "licence_end_date": "2028-05-01",
}
# Until a case is allocated only case administrators and SPOs may see it, so no Offender Manager
# can reach the report task through the inbox or the API yet: the report goes in through the engine.
REPORT_WRITER = Actor(om_username("north", "PO", "E"), frozenset({"OM"}))


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = api_app(database, clock)
    yield app
    riskflow(app).db.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def secrets(app: Flask) -> dict[str, str]:
    return {
        "court": token(app, "court.results", ["cases:write", "messages:send"]),
        "admin": token(app, "admin", ["tasks:read", "tasks:write", "cases:read"], person="admin.north"),
        "spo": token(app, "spo", ["tasks:read", "cases:read"], person="spo.north"),
        "risk": token(app, "risk", ["tasks:read", "tasks:write"], person="risk.consultant"),
    }


def give_risk_advice(client: FlaskClient, secrets: dict[str, str], crn: str = CRN) -> None:
    """High RoSH: the risk consultant advises before the meeting."""
    to_claim = call(client, "GET", f"/tasks?crn={crn}", secrets["risk"]).json["to_claim"]
    assert [t["title"] for t in to_claim] == ["Give risk advice for the meeting"]
    task_id = to_claim[0]["id"]
    assert call(client, "POST", f"/tasks/{task_id}/claim", secrets["risk"]).status_code == 200
    advice = {"rosh_view": "HIGH", "advice": "Agree the level.", "will_attend": True}
    done = call(client, "POST", f"/tasks/{task_id}/complete", secrets["risk"], {"data": advice})
    assert done.status_code == 200, done.json


def open_task(app: Flask, crn: str, element_id: str) -> int:
    with riskflow(app).db.transaction(write=False) as session:
        ids = session.scalars(
            select(HumanTask.id).where(
                HumanTask.business_key == crn, HumanTask.element_id == element_id, HumanTask.state == "open"
            )
        ).all()
    assert len(ids) == 1, f"expected one open {element_id}"
    return ids[0]


def identify_and_report(app: Flask, client: FlaskClient, secrets: dict[str, str], crn: str = CRN) -> None:
    """The court identifies the case, the administrator records its first details, the report goes in."""
    created = call(client, "POST", "/cases", secrets["court"], {"crn": crn, "first_details": FIRST_DETAILS})
    assert created.status_code == 201, created.json
    task_id = created.json["task_ids"][0]
    assert call(client, "POST", f"/tasks/{task_id}/claim", secrets["admin"]).status_code == 200
    draft = call(client, "GET", f"/tasks/{task_id}", secrets["admin"]).json["draft"]
    done = call(client, "POST", f"/tasks/{task_id}/complete", secrets["admin"], {"data": draft})
    assert done.status_code == 200, done.json
    riskflow(app).engine.complete_task(open_task(app, crn, "write_psr"), REPORT_WRITER, {**PSR})


def sent_messages(app: Flask) -> list[dict[str, Any]]:
    """Hand on the outbox as the worker does; return what went out."""
    sent: list[dict[str, Any]] = []
    handlers = OutboxHandlers()
    handlers.register("request_sentencing_outcome", sent.append)
    riskflow(app).engine.deliver_outbox(handlers)
    return sent


def test_the_court_outcome_flow_end_to_end(app: Flask, client: FlaskClient, secrets: dict[str, str]) -> None:
    identify_and_report(app, client, secrets)
    requests = sent_messages(app)
    assert [(m["message_name"], m["business_key"]) for m in requests] == [("request_sentencing_outcome", CRN)]

    body = {
        "name": "sentencing_outcome",
        "correlation_value": CRN,
        "payload": OUTCOME,
        "idempotency_key": "K1",
    }
    delivered = call(client, "POST", "/messages", secrets["court"], body)
    assert delivered.status_code == 200
    assert delivered.json["status"] == "delivered"
    assert delivered.json["instance_id"] is not None

    again = call(client, "POST", "/messages", secrets["court"], body)
    assert again.status_code == 200
    assert again.json["status"] == "duplicate"
    assert again.json["message_id"] == delivered.json["message_id"]

    case = call(client, "GET", f"/cases/{CRN}", secrets["spo"]).json
    assert (case["stage"], case["sentence_outcome"]) == ("SENTENCED", "CUSTODY_12_MONTHS_OR_MORE")
    give_risk_advice(client, secrets)
    to_claim = call(client, "GET", f"/tasks?crn={CRN}", secrets["spo"]).json["to_claim"]
    assert "Hold the risk meeting" in [t["title"] for t in to_claim]


def test_an_outcome_that_arrives_early_is_kept_and_used_when_the_case_waits(
    app: Flask, client: FlaskClient, secrets: dict[str, str]
) -> None:
    created = call(client, "POST", "/cases", secrets["court"], {"crn": CRN, "first_details": FIRST_DETAILS})
    assert created.status_code == 201
    body = {
        "name": "sentencing_outcome",
        "correlation_value": CRN,
        "payload": OUTCOME,
        "idempotency_key": "K2",
    }
    early = call(client, "POST", "/messages", secrets["court"], body)
    assert early.status_code == 202
    assert early.json["status"] == "stored"

    task_id = created.json["task_ids"][0]
    call(client, "POST", f"/tasks/{task_id}/claim", secrets["admin"])
    call(client, "POST", f"/tasks/{task_id}/complete", secrets["admin"], {"data": FIRST_DETAILS})
    riskflow(app).engine.complete_task(open_task(app, CRN, "write_psr"), REPORT_WRITER, {**PSR})

    give_risk_advice(client, secrets)
    to_claim = call(client, "GET", f"/tasks?crn={CRN}", secrets["spo"]).json["to_claim"]
    assert "Hold the risk meeting" in [t["title"] for t in to_claim]


def test_a_message_for_a_case_nobody_knows_is_kept_not_lost(app: Flask, client: FlaskClient) -> None:
    oasys = token(app, "oasys", ["messages:send"])
    body = {"name": "oasys_assessment_completed", "correlation_value": "Z999999", "payload": {"rosh": "HIGH"}}
    kept = call(client, "POST", "/messages", oasys, body)
    assert kept.status_code == 202
    assert kept.json["status"] == "unknown_case"


@pytest.mark.parametrize(
    ("name", "payload", "words"),
    [
        ("oasys_assessment_completed", {"score": 3}, "rosh must be one of LOW, MEDIUM, HIGH, VERY_HIGH"),
        ("oasys_assessment_completed", {"rosh": "HIGH", "registrations": ["RHRH"]}, "registrations must be"),
        ("oasys_assessment_completed", {"rosh": "LOW", "assessment_date": "20/11/2026"}, "YYYY-MM-DD"),
        ("arrest_or_new_charge", {"kind": "CAUTION"}, "kind must be ARREST or NEW_CHARGE"),
        ("arrest_or_new_charge", {"kind": "ARREST", "detail": "x" * 501}, "at most 500 characters"),
    ],
)
def test_a_message_with_a_wrong_payload_is_refused_and_nothing_is_kept(
    app: Flask, client: FlaskClient, name: str, payload: dict[str, object], words: str
) -> None:
    police = token(app, "police", ["messages:send"])
    body = {"name": name, "correlation_value": CRN, "payload": payload}
    refused = call(client, "POST", "/messages", police, body)
    assert refused.status_code == 422
    assert refused.json["error"] == "invalid_message"
    assert words in refused.json["message"]
    with riskflow(app).engine.db.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_a_system_sends_only_what_its_scopes_allow(app: Flask, client: FlaskClient) -> None:
    oasys = token(app, "oasys", ["messages:send"])
    for method, path in (("GET", "/cases"), ("GET", "/instances"), ("GET", "/tasks")):
        response = call(client, method, path, oasys)
        assert response.status_code == 403
        assert response.json["error"] == "missing_scope"
    refused = call(client, "POST", "/cases", oasys, {"crn": CRN, "first_details": FIRST_DETAILS})
    assert refused.status_code == 403
