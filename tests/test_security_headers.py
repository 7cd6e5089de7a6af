"""Headers that protect case data: nothing a signed-in person sees (page or API answer) is kept by a
browser or proxy, and over HTTPS the browser is told to use nothing else for the host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_client import api_app, call, token
from conftest import START
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from webui_client import fast_password_hashing, give_passwords, sign_in

from casework.models import Case, Staff
from casework.vocabulary import Stage
from engine.clock import ManualClock
from engine.db import Database
from webui import riskflow
from webui.security import SECURITY_HEADERS

__all__ = ["fast_password_hashing"]

CRN = "N300001"
OWNER = "om.north.po.e"


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = api_app(database, clock)
    with riskflow(app).db.transaction() as session:
        owner = session.scalar(select(Staff).where(Staff.username == OWNER))
        assert owner is not None
        session.add(Case(crn=CRN, stage=Stage.SUPERVISED, owner=owner, team=owner.team, created_at=START))
    give_passwords(riskflow(app).db, [OWNER])
    yield app
    riskflow(app).db.dispose()


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, OWNER).status_code == 302
    return client


@pytest.mark.parametrize("path", ["/", f"/cases/{CRN}", "/cases", "/cases/Z999999", "/no-such-page"])
def test_no_page_a_signed_in_person_sees_is_stored_by_the_browser(browser: FlaskClient, path: str) -> None:
    response = browser.get(path)
    assert response.headers["Cache-Control"] == "no-store"
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


def test_the_case_record_itself_is_not_stored(browser: FlaskClient) -> None:
    response = browser.get(f"/cases/{CRN}")
    assert response.status_code == 200 and CRN in response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_no_api_answer_is_stored(app: Flask) -> None:
    client = app.test_client()
    secret = token(app, "om", ["cases:read"], person=OWNER)
    for path, status in ((f"/cases/{CRN}", 200), ("/cases/Z999999", 404), ("/cases", 200)):
        response = call(client, "GET", path, secret)
        assert response.status_code == status
        assert response.headers["Cache-Control"] == "no-store"
    assert call(client, "GET", "/cases", None).headers["Cache-Control"] == "no-store"


def test_the_sign_in_and_sign_out_answers_are_not_stored(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/sign-in").headers["Cache-Control"] == "no-store"
    assert sign_in(client, OWNER).headers["Cache-Control"] == "no-store"
    assert client.post("/sign-out").headers["Cache-Control"] == "no-store"


def test_static_assets_may_be_cached(browser: FlaskClient) -> None:
    with browser.get("/static/riskflow.css", buffered=True) as response:
        assert response.status_code == 200
        assert "no-store" not in response.headers.get("Cache-Control", "")


def test_over_https_the_browser_is_told_to_use_nothing_else(browser: FlaskClient) -> None:
    secure = browser.get("/", base_url="https://riskflow.example")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in browser.get("/").headers  # meaningless over plain HTTP
    assert "Strict-Transport-Security" in browser.get("/sign-in", base_url="https://riskflow.example").headers
