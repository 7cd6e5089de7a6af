"""Signed-in sessions live on the server: signing out, a new password, being made inactive and an
administrator's `riskflow staff sign-out-everywhere` end every copy of the cookie at once, and a
session ends after 30 minutes unused or 8 hours in all."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_cli import assert_clear_error, run
from webui_client import add_staff, fast_password_hashing, sign_in, url_of, web_app

from casework.models import Staff
from casework.vocabulary import Grade
from engine.clock import ManualClock
from engine.db import Database
from engine.democlock import advance_demo_clock
from engine.models import AuditEvent
from webui import create_app, riskflow
from webui.config import ConfigError, load_settings
from webui.credentials import set_password
from webui.staff_sessions import StaffSession

pytest_plugins = ["test_cli"]
__all__ = ["fast_password_hashing"]

COOKIE = "riskflow_session"
CASE_PAGE = "/cases"  # a page with case data on it


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = web_app(database, clock, wall_clock=clock)
    add_staff(database, "spo.north", Grade.SPO)
    add_staff(database, "om.north", Grade.PO)
    yield app
    riskflow(app).db.dispose()


def signed_in(app: Flask, username: str = "spo.north") -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of `client`'s session cookie (taken from a shared computer)."""
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie.value)
    return thief


def opens_case_pages(client: FlaskClient) -> bool:
    response = client.get(CASE_PAGE)
    if response.status_code == 302:
        assert "/sign-in" in response.headers["Location"]
        return False
    assert response.status_code == 200
    return True


def test_a_copied_cookie_is_refused_once_its_owner_signs_out(app: Flask) -> None:
    owner = signed_in(app)
    thief = copy_of(app, owner)
    assert opens_case_pages(thief)  # the copy works while the session does: it is the same session

    owner.post("/sign-out")

    assert not opens_case_pages(thief)
    assert not opens_case_pages(owner)


def test_signing_out_ends_only_that_session(app: Flask) -> None:
    desk = signed_in(app)
    laptop = signed_in(app)
    desk.post("/sign-out")
    assert opens_case_pages(laptop)


def test_a_new_password_ends_every_session(app: Flask, database: Database) -> None:
    desk, laptop = signed_in(app), signed_in(app)
    other_person = signed_in(app, "om.north")
    with database.transaction() as session:
        set_password(session, "spo.north", "a brand new passphrase")
    assert not opens_case_pages(desk) and not opens_case_pages(laptop)
    assert opens_case_pages(other_person)


def test_being_made_inactive_ends_every_session_for_good(app: Flask, database: Database) -> None:
    client = signed_in(app)
    copy = copy_of(app, client)

    def make_active(active: bool) -> None:
        with database.transaction() as session:
            staff = session.scalar(select(Staff).where(Staff.username == "spo.north"))
            assert staff is not None
            staff.active = active

    make_active(False)
    assert not opens_case_pages(client)
    make_active(True)  # back on the staff list: they sign in again, the old cookies stay dead
    assert not opens_case_pages(copy)


def test_a_session_unused_for_30_minutes_is_over(app: Flask, clock: ManualClock, database: Database) -> None:
    client = signed_in(app)
    clock.advance(timedelta(minutes=29))
    assert opens_case_pages(client)  # use keeps it going
    clock.advance(timedelta(minutes=29))
    assert opens_case_pages(client)
    clock.advance(timedelta(minutes=30))
    assert not opens_case_pages(client)
    with database.transaction(write=False) as session:
        events = list(session.scalars(select(AuditEvent.event).where(AuditEvent.actor == "spo.north")))
    assert "session_idle" in events


def test_the_idle_limit_can_be_set(database: Database, clock: ManualClock) -> None:
    app = web_app(database, clock, wall_clock=clock, RISKFLOW_SESSION_IDLE_MINUTES="5")
    try:
        add_staff(database, "spo.north", Grade.SPO)
        client = signed_in(app)
        clock.advance(timedelta(minutes=5))
        assert not opens_case_pages(client)
    finally:
        riskflow(app).db.dispose()


@pytest.mark.parametrize("value", ["0", "481", "half an hour", "-5"])
def test_a_wrong_idle_limit_is_refused_with_what_to_set(value: str) -> None:
    with pytest.raises(ConfigError, match="RISKFLOW_SESSION_IDLE_MINUTES must be how many minutes"):
        load_settings({}, {"RISKFLOW_SESSION_IDLE_MINUTES": value})


def test_a_session_ends_after_8_hours_however_busy(app: Flask, clock: ManualClock) -> None:
    client = signed_in(app)
    for _ in range(31):
        clock.advance(timedelta(minutes=15))
        assert opens_case_pages(client)
    clock.advance(timedelta(minutes=15))  # 8 hours since signing in
    assert not opens_case_pages(client)


def test_the_cookie_holds_only_a_secret_and_the_server_only_its_hash(app: Flask, database: Database) -> None:
    client = signed_in(app)
    with database.transaction(write=False) as session:
        row = session.scalar(select(StaffSession))
        assert row is not None and len(row.secret_hash) == 64
        cookie = client.get_cookie(COOKIE)
        assert cookie is not None and row.secret_hash not in cookie.value


# ------------------------------------------------------------------------------ the operators' command


def database_of(app: Flask) -> Database:
    """The app's database (the `riskflow` fixture, the command runner, hides webui.riskflow here)."""
    return riskflow(app).db


def test_an_administrator_signs_someone_out_everywhere(riskflow: CliRunner, upgraded: str) -> None:
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RISKFLOW_DATABASE_URL": upgraded})
    try:
        desk, laptop = signed_in(app, "aco.one"), signed_in(app, "aco.one")
        copy = copy_of(app, desk)

        result = run(riskflow, "staff", "sign-out-everywhere", "aco.one", "--by", "service.desk")

        assert result.exit_code == 0, result.output
        assert "ended 2 signed-in sessions of aco.one" in result.output
        assert not any(opens_case_pages(c) for c in (desk, laptop, copy))
        assert opens_case_pages(signed_in(app, "aco.one"))  # signing in again works
        with database_of(app).transaction(write=False) as session:
            audit = session.scalar(select(AuditEvent).where(AuditEvent.event == "signed_out_everywhere"))
            assert audit is not None and audit.actor == "service.desk"
    finally:
        database_of(app).dispose()


def test_signing_out_an_unknown_username_everywhere_says_so(riskflow: CliRunner, upgraded: str) -> None:
    assert_clear_error(
        run(riskflow, "staff", "sign-out-everywhere", "no.one"), "no member of staff with username 'no.one'"
    )


def test_moving_a_demos_clock_on_does_not_sign_anyone_out(database: Database, tmp_path: Path) -> None:
    demo = create_app(
        {
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "RISKFLOW_DATABASE_URL": url_of(database),
            "RISKFLOW_DEMO": "true",
            "RISKFLOW_INSTANCE_DIR": str(tmp_path),
        }
    )
    try:
        add_staff(database, "spo.north", Grade.SPO)
        client = signed_in(demo)
        shared = riskflow(demo)
        advance_demo_clock(shared.db, shared.clock, timedelta(days=14), actor="presenter")
        assert opens_case_pages(client)
    finally:
        riskflow(demo).db.dispose()
