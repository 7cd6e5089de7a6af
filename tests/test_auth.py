"""Signing in and out: passwords, the lock after repeated failures, the sign-in gate, CSRF, and the
demo users a demo deployment gets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from empty_database import empty_database_url
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_process_model import BUNDLE_DIR
from webui_client import PASSWORD, add_staff, fast_password_hashing, sign_in, web_app

from casework.vocabulary import Grade
from engine.clock import ManualClock
from engine.db import Database
from engine.models import AuditEvent
from webui import riskflow
from webui.cli import cli
from webui.credentials import StaffCredential
from webui.demo import demo_password

__all__ = ["fast_password_hashing"]  # autouse: cheap password hashing in these tests


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = web_app(database, clock)
    add_staff(database, "spo.north", Grade.SPO)
    yield app
    riskflow(app).db.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def audit_events(database: Database) -> list[tuple[str, str]]:
    with database.transaction(write=False) as session:
        return [(e.actor, e.event) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def csrf_token(client: FlaskClient, path: str = "/sign-in") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None, "the page has a form with a CSRF token"
    return found.group(1)


# ------------------------------------------------------------------------------------------ sign-in


def test_the_right_password_signs_in_and_goes_to_the_inbox(client: FlaskClient, database: Database) -> None:
    response = sign_in(client, "spo.north")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Signed in as" in client.get("/").text
    assert audit_events(database) == [("spo.north", "signed_in")]


def test_the_session_cookie_is_secure_http_only_and_same_site(client: FlaskClient) -> None:
    response = sign_in(client, "spo.north")

    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_a_wrong_password_is_refused_with_a_clear_message_and_audited(
    client: FlaskClient, database: Database
) -> None:
    response = sign_in(client, "spo.north", "not my password")

    assert response.status_code == 401
    assert "The username or password is not right" in response.text
    assert "There is a problem" in response.text
    assert client.get("/").status_code == 302
    assert audit_events(database) == [("spo.north", "sign_in_failed")]


def test_an_unknown_username_gets_the_same_message_as_a_wrong_password(client: FlaskClient) -> None:
    response = sign_in(client, "nobody.here")

    assert response.status_code == 401
    assert "The username or password is not right" in response.text


def test_an_empty_form_says_what_to_enter(client: FlaskClient) -> None:
    response = client.post("/sign-in", data={"username": "", "password": ""})

    assert response.status_code == 400
    assert "Enter your username" in response.text
    assert "Enter your password" in response.text


def test_staff_no_longer_active_cannot_sign_in(client: FlaskClient, database: Database) -> None:
    add_staff(database, "left.service", Grade.PO, active=False)

    assert sign_in(client, "left.service").status_code == 401


def test_a_password_is_kept_as_an_argon2id_hash(client: FlaskClient, database: Database) -> None:
    sign_in(client, "spo.north")

    with database.transaction(write=False) as session:
        credential = session.get(StaffCredential, "spo.north")
        assert credential is not None
        assert credential.password_hash.startswith("$argon2id$")


# ---------------------------------------------------------------------------------- the sign-in gate


@pytest.mark.parametrize("path", ["/", "/processes"])
def test_every_page_needs_sign_in(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=")


def test_the_health_check_and_sign_in_page_need_no_sign_in(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/sign-in").status_code == 200


def test_sign_in_returns_to_the_page_asked_for(client: FlaskClient) -> None:
    response = client.post("/sign-in?next=/processes", data={"username": "spo.north", "password": PASSWORD})

    assert response.headers["Location"] == "/processes"


def test_sign_in_never_sends_someone_to_another_site(client: FlaskClient) -> None:
    response = client.post(
        "/sign-in?next=//evil.example/x", data={"username": "spo.north", "password": PASSWORD}
    )

    assert response.headers["Location"] == "/"


def test_sign_out_ends_the_session(client: FlaskClient, database: Database) -> None:
    sign_in(client, "spo.north")

    response = client.post("/sign-out", follow_redirects=True)

    assert "You have signed out" in response.text
    assert client.get("/").status_code == 302
    assert audit_events(database)[-1] == ("spo.north", "signed_out")


def test_sign_out_is_a_post_only(client: FlaskClient) -> None:
    sign_in(client, "spo.north")

    assert client.get("/sign-out").status_code == 405


# --------------------------------------------------------------------------------------------- CSRF


def test_an_unsafe_request_without_the_csrf_token_is_refused(database: Database, clock: ManualClock) -> None:
    app = web_app(database, clock, WTF_CSRF_ENABLED=True)
    add_staff(database, "spo.north", Grade.SPO)
    client = app.test_client()

    refused = client.post("/sign-in", data={"username": "spo.north", "password": PASSWORD})
    assert refused.status_code == 400
    assert "CSRF" in refused.text
    assert "Traceback" not in refused.text

    token = csrf_token(client)
    signed_in = client.post(
        "/sign-in", data={"username": "spo.north", "password": PASSWORD, "csrf_token": token}
    )
    assert signed_in.status_code == 302
    assert client.post("/sign-out").status_code == 400  # signing out needs the token too
    assert client.post("/tasks/1/claim").status_code == 400
    riskflow(app).db.dispose()


# ---------------------------------------------------------------------------------------- demo users


@pytest.fixture
def demo_env(tmp_path: Path) -> Iterator[dict[str, str | None]]:
    with empty_database_url(tmp_path) as url:
        yield {
            "RISKFLOW_DATABASE_URL": url,
            "RISKFLOW_INSTANCE_DIR": str(tmp_path / "instance"),
            "RISKFLOW_PROCESSES_DIR": str(tmp_path / "no-processes"),
            "RISKFLOW_SECRET_KEY": None,
            "RISKFLOW_DEMO": "true",
        }


def test_demo_users_are_refused_outside_a_demo_deployment(demo_env: dict[str, str | None]) -> None:
    runner = CliRunner(env={**demo_env, "RISKFLOW_DEMO": "false"})

    result = runner.invoke(cli, ["demo", "load"])

    assert result.exit_code == 1
    assert "only made on a demo deployment (RISKFLOW_DEMO=true)" in result.output


@pytest.mark.slow
def test_demo_load_gives_one_user_per_grade_their_password_once(
    demo_env: dict[str, str | None], clock: ManualClock
) -> None:
    runner = CliRunner(env=demo_env)
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    missing = runner.invoke(cli, ["demo", "load", "--cases", "4"])
    assert missing.exit_code == 1
    assert "deploy it first (riskflow deploy processes)" in missing.output
    assert runner.invoke(cli, ["deploy", str(BUNDLE_DIR)]).exit_code == 0

    first = runner.invoke(cli, ["demo", "load", "--cases", "4"])
    again = runner.invoke(cli, ["demo", "load"])

    assert first.exit_code == 0, first.output
    assert "building the demo area: 4 cases" in first.output
    assert "built 4 cases through the process" in first.output
    assert "generated the synthetic demo area" in first.output
    assert "the demo area is already loaded" in again.output
    assert again.output.count("password already set: kept") == len(Grade)
    for grade in Grade:
        assert grade.display_name in first.output
        assert demo_password(grade) in first.output
    username = re.search(r"Senior Probation Officer\s+(\S+)\s", first.output)
    assert username is not None
    database = Database(str(demo_env["RISKFLOW_DATABASE_URL"]))
    app = web_app(database, clock, RISKFLOW_DEMO="true")
    plain = web_app(database, clock, RISKFLOW_DEMO="false")
    try:
        # The demo deployment's sign-in page lists them, with the published passwords; no other does.
        listed = app.test_client().get("/sign-in").text
        assert "Demo users of this demonstration deployment" in listed
        assert username.group(1) in listed and demo_password(Grade.SPO) in listed
        assert "Demo users" not in plain.test_client().get("/sign-in").text
        assert sign_in(app.test_client(), username.group(1), demo_password(Grade.SPO)).status_code == 302
    finally:
        database.dispose()
        riskflow(app).db.dispose()
        riskflow(plain).db.dispose()
