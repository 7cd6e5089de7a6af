"""Reporting a change to a case over the API: OASys records a rise in RoSH and the oversight review
comes forward; the case management system adds and ends registrations; a person asks for a
transfer or refers to MAPPA; the errors say what to fix and change nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_client import api_app, call, token
from casework_area import om_username
from flask import Flask
from flask.testing import FlaskClient
from test_process_model import Case, to_allocation, under_oversight

from casework import register
from casework.vocabulary import RoshLevel
from engine.clock import ManualClock
from engine.db import Database
from webui import riskflow

CRN = "X100001"
OM = om_username("north", "PO", "E")
OM_SOUTH = om_username("south", "PO", "E")


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = api_app(database, clock)
    yield app
    riskflow(app).db.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def case(app: Flask) -> Case:
    driven = Case(riskflow(app).engine, CRN)
    under_oversight(driven, "MEDIUM", "E")
    return driven


def test_oasys_records_a_rise_in_rosh_and_the_oversight_review_comes_forward(
    app: Flask, client: FlaskClient, case: Case
) -> None:
    oasys = token(app, "oasys", ["cases:write"])

    answer = call(
        client,
        "POST",
        f"/cases/{CRN}/rosh",
        oasys,
        {"level": "HIGH", "source": "OASys assessment 20 Nov 2026"},
    )

    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["change"] == "rosh_recorded" and body["message_status"] == "delivered"
    assert body["description"] == "RoSH recorded as High. delivered now to the case's process."
    with riskflow(app).db.transaction(write=False) as session:
        assert register.find_case(session, CRN).rosh == RoshLevel.HIGH
    assert case.task("oversight_review").assignee == "spo.north"


def test_registrations_are_added_and_ended_and_the_level_registers_are_refused(
    app: Flask, client: FlaskClient, case: Case
) -> None:
    cms = token(app, "case-management", ["cases:write"])

    added = call(client, "POST", f"/cases/{CRN}/registrations", cms, {"code": "RCPR", "notes": "Conference."})
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["message_status"] == "delivered"
    assert "oversight_review" in case.open_elements()

    level = call(client, "POST", f"/cases/{CRN}/registrations", cms, {"code": "RHRH"})
    assert level.status_code == 422
    assert "follows the case's RoSH or MAPPA level" in level.get_json()["message"]

    future = call(
        client, "POST", f"/cases/{CRN}/registrations", cms, {"code": "WEAP", "started_on": "2099-01-01"}
    )
    assert future.status_code == 422 and "cannot start in the future" in future.get_json()["message"]

    registration = added.get_json()["record_id"]
    ended = call(
        client, "POST", f"/cases/{CRN}/registrations/{registration}/end", cms, {"notes": "Case closed."}
    )
    assert ended.status_code == 200 and ended.get_json()["change"] == "registration_ended"
    again = call(client, "POST", f"/cases/{CRN}/registrations/{registration}/end", cms, {"notes": "Again."})
    assert again.status_code == 422


def test_a_person_reports_changes_only_to_the_cases_they_manage(
    app: Flask, client: FlaskClient, case: Case
) -> None:
    own = token(app, "om", ["cases:write"], person=OM)
    other = token(app, "other-om", ["cases:write"], person=OM_SOUTH)
    admin = token(app, "admin", ["cases:write"], person="admin.north")
    reader = token(app, "reader", ["cases:read"], person=OM)

    # Someone with no need to know is told no more than for a CRN not on the register.
    assert call(client, "POST", f"/cases/{CRN}/mappa-referrals", other, {"reason": "x"}).status_code == 404
    refused = call(client, "POST", f"/cases/{CRN}/mappa-referrals", admin, {"reason": "x"})
    assert refused.status_code == 403 and refused.get_json()["error"] == "may_not_change"
    assert call(client, "POST", f"/cases/{CRN}/mappa-referrals", reader, {"reason": "x"}).status_code == 403
    assert call(client, "POST", "/cases/X999999/mappa-referrals", own, {"reason": "x"}).status_code == 404
    assert "set_referred_mappa_level" not in case.open_elements()

    referred = call(
        client, "POST", f"/cases/{CRN}/mappa-referrals", own, {"reason": "Threats to a former partner."}
    )
    assert referred.status_code == 202 and referred.get_json()["message_status"] == "delivered"
    assert case.task("set_referred_mappa_level").candidate_role == "MAPPA_COORDINATOR"

    transfer = call(
        client,
        "POST",
        f"/cases/{CRN}/transfer-requests",
        own,
        {"owner": OM_SOUTH, "reason": "Moved to Kendal."},
    )
    assert transfer.status_code == 202
    assert case.task("accept_transfer").assignee == "spo.south"


def test_a_transfer_before_allocation_is_refused_as_the_wrong_stage(app: Flask, client: FlaskClient) -> None:
    early = Case(riskflow(app).engine, CRN)
    to_allocation(early, "MEDIUM")
    spo = token(app, "spo", ["cases:write"], person="spo.north")

    answer = call(
        client, "POST", f"/cases/{CRN}/transfer-requests", spo, {"owner": OM_SOUTH, "reason": "Moved."}
    )

    assert answer.status_code == 409
    assert answer.get_json()["error"] == "wrong_stage"
    assert "cannot be transferred yet" in answer.get_json()["message"]
