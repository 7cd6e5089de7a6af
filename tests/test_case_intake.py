"""Recording a new case identified at court from the web pages, as the court's system does over the API.

A case administrator types the CRN and the court's first details: the case is on the register at
once with the person's name, its process has started and the first details are recorded, so the
pre-sentence report waits for an Offender Manager. An SPO's entry waits, filled in, for the case
administrators to check. A mistake starts nothing and keeps what was typed; only case
administrators and SPOs record new cases."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from casework_area import om_username, small_area
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from test_process_model import BUNDLE_DIR
from webui_client import fast_password_hashing, give_passwords, sign_in, text_of, web_app

from casework import register
from casework.vocabulary import Stage
from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.models import HumanTask, ProcessInstance
from webui import riskflow

__all__ = ["fast_password_hashing"]  # autouse: cheap password hashing in these tests

CRN = "X200001"
OM = om_username("north", "PO", "E")
STAFF = [OM, "spo.north", "admin.north"]
DETAILS = {
    "crn": CRN,
    "forename": "Tamsin",
    "surname": "Ullock",
    "date_of_birth-day": "9",
    "date_of_birth-month": "3",
    "date_of_birth-year": "1988",
    "court_name": "Kendal Magistrates' Court",
    "hearing_date-day": "2",
    "hearing_date-month": "11",
    "hearing_date-year": "2026",
    "offence": "Theft from a shop",
    "report_type": "FAST",
    "remanded_in_custody": "no",
}


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    with database.transaction() as session:
        small_area(session)
    give_passwords(database, STAFF)
    app = web_app(database, clock)
    riskflow(app).engine.deploy(Bundle.from_directory(BUNDLE_DIR), actor="process.owner")
    yield app
    riskflow(app).db.dispose()


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def open_steps(app: Flask) -> list[tuple[str, str | None]]:
    with riskflow(app).db.transaction(write=False) as session:
        query = select(HumanTask.element_id, HumanTask.candidate_role).where(
            HumanTask.business_key == CRN, HumanTask.state == "open"
        )
        return [(element, role) for element, role in session.execute(query)]


def instances(app: Flask) -> int:
    with riskflow(app).db.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(ProcessInstance)) or 0


def test_a_case_administrator_records_a_new_case_and_its_report_waits_for_an_officer(app: Flask) -> None:
    client = signed_in(app, "admin.north")
    assert "Record a new case" in client.get("/cases").text
    form = client.get("/cases/new").text
    assert 'id="crn"' in form and 'id="f-forename"' in form and 'id="f-date_of_birth-day"' in form

    response = client.post("/cases/new", data=DETAILS)

    assert response.status_code == 302 and response.headers["Location"] == f"/cases/{CRN}"
    record = text_of(client.get(response.headers["Location"]).text)
    assert "X200001 is on the register and its first details are recorded." in record
    assert "Tamsin Ullock" in record
    with riskflow(app).db.transaction(write=False) as session:
        case = register.find_case(session, CRN)
        assert (case.stage, str(case.date_of_birth)) == (Stage.IDENTIFIED, "1988-03-09")
        assert [e.kind for e in register.timeline(session, CRN)] == ["case_identified", "first_details"]
        assert {e.actor for e in register.timeline(session, CRN)} == {"admin.north"}
    assert open_steps(app) == [("write_psr", "OM")]


def test_an_spo_records_a_new_case_and_the_details_wait_for_a_case_administrator(app: Flask) -> None:
    client = signed_in(app, "spo.north")

    response = client.post("/cases/new", data=DETAILS)

    assert response.status_code == 302
    assert "Its first details wait, filled in, for a case administrator" in text_of(
        client.get(response.headers["Location"]).text
    )
    assert open_steps(app) == [("record_first_details", "CASE_ADMIN")]
    with riskflow(app).db.transaction(write=False) as session:
        task = session.scalars(select(HumanTask).where(HumanTask.business_key == CRN)).one()
        assert task.draft is not None and task.draft["surname"] == "Ullock"
        assert task.draft["date_of_birth"] == "1988-03-09"


def test_mistakes_start_nothing_and_keep_what_was_typed(app: Flask) -> None:
    client = signed_in(app, "admin.north")
    form = {**DETAILS, "crn": "x12", "forename": " "}

    response = client.post("/cases/new", data=form)

    assert response.status_code == 422
    html = response.text
    summary = re.findall(r'<li><a href="#([^"]+)">([^<]+)</a></li>', html)
    assert summary[0] == ("crn", "Enter a CRN: a capital letter and six digits, such as X320741")
    assert summary[1][0] == "f-forename"
    assert 'value="X12"' in html and 'value="Ullock"' in html and 'value="Theft from a shop"' in html
    assert instances(app) == 0


def test_a_date_of_birth_that_makes_a_child_of_the_defendant_starts_nothing(app: Flask) -> None:
    client = signed_in(app, "admin.north")

    response = client.post("/cases/new", data={**DETAILS, "date_of_birth-year": "2019"})

    assert response.status_code == 422
    assert (
        '<a href="#f-date_of_birth-day">A date of birth of 09 March 2019 makes the person 7' in response.text
    )
    assert instances(app) == 0


def test_a_crn_already_on_the_register_is_refused(app: Flask) -> None:
    client = signed_in(app, "admin.north")
    assert client.post("/cases/new", data=DETAILS).status_code == 302

    again = client.post("/cases/new", data={**DETAILS, "forename": "Verity"})

    assert again.status_code == 422
    assert '<a href="#crn">CRN X200001 is already on the register' in again.text
    assert instances(app) == 1


def test_an_offender_manager_does_not_record_new_cases(app: Flask) -> None:
    client = signed_in(app, OM)

    assert "Record a new case" not in client.get("/cases").text
    assert client.get("/cases/new").status_code == 403
    assert client.post("/cases/new", data=DETAILS).status_code == 403
    assert instances(app) == 0
