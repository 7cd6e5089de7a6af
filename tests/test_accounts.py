"""Local accounts an area can run: a member of staff changes their own password; an administrator
adds staff, sets their roles, deactivates and reactivates them and resets a password to a temporary
one that must be changed at the next sign-in; every change is audited with who made it, and bad input
changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_cli import assert_clear_error, run
from webui_client import PASSWORD, add_staff, fast_password_hashing, sign_in, web_app

from casework.models import Staff, Team
from casework.vocabulary import ExperienceBand, Grade
from engine.clock import ManualClock
from engine.db import Database
from engine.models import AuditEvent
from tasks.staff_admin import reset_password
from webui import create_app, riskflow, throttle
from webui.accounts import SignInRecords
from webui.auth import NOT_RIGHT
from webui.config import ConfigError, load_settings
from webui.credentials import StaffCredential

pytest_plugins = ["test_cli"]
__all__ = ["fast_password_hashing"]

NEW_PASSWORD = "kettle orbit lantern"


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = web_app(database, clock, wall_clock=clock)
    add_staff(database, "spo.north", Grade.SPO)
    yield app
    riskflow(app).db.dispose()


def signed_in(app: Flask, username: str = "spo.north", password: str = PASSWORD) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username, password).status_code == 302
    return client


def change(client: FlaskClient, current: str, new: str, confirm: str | None = None) -> Any:
    return client.post(
        "/account/password",
        data={"current": current, "new": new, "confirm": new if confirm is None else confirm},
    )


def opens_the_inbox(client: FlaskClient) -> bool:
    response = client.get("/")
    return response.status_code == 200


def audited(database: Database, event: str) -> list[AuditEvent]:
    with database.transaction(write=False) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event == event)))


# ------------------------------------------------------------------------------ change my password


def test_changing_my_password_keeps_this_browser_and_ends_every_other_session(
    app: Flask, database: Database
) -> None:
    here, elsewhere = signed_in(app), signed_in(app)

    response = change(here, PASSWORD, NEW_PASSWORD)

    assert response.status_code == 302
    assert opens_the_inbox(here)
    assert not opens_the_inbox(elsewhere)
    assert sign_in(app.test_client(), "spo.north", PASSWORD).status_code == 401
    assert sign_in(app.test_client(), "spo.north", NEW_PASSWORD).status_code == 302
    assert [event.actor for event in audited(database, "password_changed")] == ["spo.north"]


def test_a_new_password_that_breaks_the_policy_is_refused_with_what_to_fix(
    app: Flask, database: Database
) -> None:
    client = signed_in(app)
    response = change(client, PASSWORD, "qwerty123456")
    assert response.status_code == 400
    assert "one of the most commonly used passwords" in response.get_data(as_text=True)
    assert sign_in(app.test_client(), "spo.north", PASSWORD).status_code == 302  # unchanged
    assert audited(database, "password_changed") == []


def test_changing_my_password_needs_my_current_password(app: Flask) -> None:
    response = change(signed_in(app), "not my password at all", NEW_PASSWORD)
    assert response.status_code == 400
    assert "Your current password is not right" in response.get_data(as_text=True)
    assert sign_in(app.test_client(), "spo.north", NEW_PASSWORD).status_code == 401


def test_the_new_password_must_be_typed_the_same_twice(app: Flask) -> None:
    response = change(signed_in(app), PASSWORD, NEW_PASSWORD, "kettle orbit lanterns")
    assert response.status_code == 400
    assert "The two new passwords are not the same" in response.get_data(as_text=True)


def test_a_wrong_current_password_counts_against_the_sign_in_slowdown(
    app: Flask, database: Database, clock: ManualClock
) -> None:
    client = signed_in(app)
    for _ in range(throttle.USERNAME_LIMIT):
        assert change(client, "a guess at the password", NEW_PASSWORD).status_code == 400

    # Slowed down like five failed sign-ins: even the right password waits for the next minute,
    # on the change-password page and at sign-in, with the same answer as a wrong one.
    held = change(client, PASSWORD, NEW_PASSWORD)
    assert held.status_code == 400
    assert "Your current password is not right" in held.get_data(as_text=True)
    assert sign_in(app.test_client(), "spo.north", PASSWORD).status_code == 401
    assert len(audited(database, "password_change_wrong_current")) == throttle.USERNAME_LIMIT
    assert len(audited(database, "sign_in_username_slowed")) == 1
    assert len(audited(database, "password_change_refused_username_throttled")) == 1

    clock.advance(throttle.USERNAME_INTERVAL)
    assert change(client, PASSWORD, NEW_PASSWORD).status_code == 302
    assert audited(database, "password_changed") != []


def test_a_wrong_current_password_counts_against_the_address_throttle(app: Flask) -> None:
    client = signed_in(app)
    for number in range(throttle.ADDRESS_LIMIT - 1):  # one short of the address's limit
        assert sign_in(app.test_client(), f"someone.{number}", "a guess").status_code == 401

    assert change(client, "one more guess", NEW_PASSWORD).status_code == 400
    held = change(client, PASSWORD, NEW_PASSWORD)

    assert held.status_code == 429
    assert "too many failed sign-ins from your network" in held.get_data(as_text=True)
    assert sign_in(app.test_client(), "spo.north", PASSWORD).status_code == 429


def reset(database: Database, clock: ManualClock, username: str = "spo.north") -> str:
    with database.transaction() as session:
        return reset_password(session, username, SignInRecords(clock), by="service.desk", now=clock.now())


def test_a_temporary_password_expires_if_not_changed_in_time(
    app: Flask, database: Database, clock: ManualClock
) -> None:
    temporary = reset(database, clock)
    lifetime = timedelta(hours=riskflow(app).settings.temporary_password_hours)
    assert lifetime == timedelta(hours=72)  # the documented default

    clock.advance(lifetime - timedelta(minutes=1))
    assert sign_in(app.test_client(), "spo.north", temporary).status_code == 302  # still in time
    clock.advance(timedelta(minutes=1))
    refused = sign_in(app.test_client(), "spo.north", temporary)

    assert refused.status_code == 401
    assert NOT_RIGHT in refused.get_data(as_text=True)  # the same answer as any wrong password
    assert [e.actor for e in audited(database, "sign_in_refused_temporary_password_expired")] == ["spo.north"]
    # A new reset starts the time again.
    assert sign_in(app.test_client(), "spo.north", reset(database, clock)).status_code == 302


def test_a_password_a_person_chose_never_expires(app: Flask, database: Database, clock: ManualClock) -> None:
    temporary = reset(database, clock)
    client = signed_in(app, "spo.north", temporary)
    assert change(client, temporary, NEW_PASSWORD).status_code == 302
    clock.advance(timedelta(days=365))
    assert sign_in(app.test_client(), "spo.north", NEW_PASSWORD).status_code == 302


def test_how_long_a_temporary_password_lasts_is_a_setting_and_nonsense_is_refused() -> None:
    assert load_settings({}, {"RISKFLOW_TEMPORARY_PASSWORD_HOURS": "24"}).temporary_password_hours == 24
    for value in ("0", "-1", "three days", "1000"):
        with pytest.raises(ConfigError, match="RISKFLOW_TEMPORARY_PASSWORD_HOURS must be how many hours"):
            load_settings({}, {"RISKFLOW_TEMPORARY_PASSWORD_HOURS": value})


# ------------------------------------------------------------------------- the operators' commands


def web_app_on(url: str) -> Flask:
    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RISKFLOW_DATABASE_URL": url})


def staff_named(url: str, username: str) -> Staff | None:
    database = Database(url)
    try:
        with database.transaction(write=False) as session:
            staff = session.scalar(select(Staff).where(Staff.username == username))
            if staff is not None:
                session.expunge(staff)
            return staff
    finally:
        database.dispose()


def events(url: str, event: str) -> list[AuditEvent]:
    database = Database(url)
    try:
        return audited(database, event)
    finally:
        database.dispose()


def add_team(url: str, code: str = "N1") -> None:
    database = Database(url)
    try:
        with database.transaction() as session:
            session.add(Team(code=code, name="North", office="Carlisle", district="North"))
    finally:
        database.dispose()


def test_a_reset_password_is_temporary_and_must_be_changed_at_the_next_sign_in(
    riskflow: CliRunner, upgraded: str
) -> None:
    app = web_app_on(upgraded)
    try:
        before = signed_in(app, "aco.one")

        result = run(riskflow, "staff", "reset-password", "aco.one", "--by", "service.desk")

        assert result.exit_code == 0, result.output
        temporary = result.output.split("temporary password (shown once, give it to them privately): ")[1]
        temporary = temporary.strip()
        assert not opens_the_inbox(before)  # a reset ends every session
        assert sign_in(app.test_client(), "aco.one", PASSWORD).status_code == 401
        client = signed_in(app, "aco.one", temporary)
        page = client.get("/cases")
        assert page.status_code == 302 and page.headers["Location"].endswith("/account/password")
        assert change(client, temporary, NEW_PASSWORD).status_code == 302
        assert client.get("/cases").status_code == 200  # chosen their own: every page opens
        assert [event.actor for event in events(upgraded, "password_reset")] == ["service.desk"]
    finally:
        riskflow_of(app).dispose()


def riskflow_of(app: Flask) -> Database:
    return riskflow(app).db


def test_a_temporary_password_can_be_read_from_standard_input_and_must_meet_the_policy(
    riskflow: CliRunner, upgraded: str
) -> None:
    weak = riskflow.invoke(
        cli_command(), ["staff", "reset-password", "aco.one", "--stdin"], input="password\n"
    )
    assert_clear_error(weak, "at least 12 characters")
    assert events(upgraded, "password_reset") == []
    given = riskflow.invoke(
        cli_command(), ["staff", "reset-password", "aco.one", "--stdin"], input="sable quartz meadow\n"
    )
    assert given.exit_code == 0, given.output
    assert "sable quartz meadow" not in given.output  # the operator chose it: it is not echoed
    app = web_app_on(upgraded)
    try:
        assert sign_in(app.test_client(), "aco.one", "sable quartz meadow").status_code == 302
    finally:
        riskflow_of(app).dispose()


def cli_command() -> Any:
    from webui.cli import cli

    return cli


def test_an_administrator_adds_an_offender_manager_who_signs_in_after_a_reset(
    riskflow: CliRunner, upgraded: str
) -> None:
    add_team(upgraded)
    result = run(
        riskflow, "staff", "add", "sam.okoro", "--name", "Sam Okoro", "--grade", "PO", "--team", "N1",
        "--qualified", "2015-09-01", "--by", "aco.one",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    added = staff_named(upgraded, "sam.okoro")
    assert added is not None and added.active and added.grade is Grade.PO
    assert added.experience is ExperienceBand.EXPERIENCED
    assert [event.actor for event in events(upgraded, "staff_added")] == ["aco.one"]
    assert "sam.okoro" in run(riskflow, "staff", "list").output
    assert "no password yet" in run(riskflow, "staff", "list").output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["Sam Okoro!", "--name", "Sam", "--grade", "PO"], "is not a username"),
        (["aco.one", "--name", "Someone", "--grade", "ACO"], "already a member of staff with username"),
        (["sam.okoro", "--name", "Sam", "--grade", "CHIEF"], "'CHIEF' is not a grade: use one of PO"),
        (["sam.okoro", "--name", "Sam", "--grade", "PO", "--team", "ZZ"], "no team with code 'ZZ'"),
        (
            ["sam.okoro", "--name", "Sam", "--grade", "PO"],
            "Enter the date they qualified as a probation officer",
        ),
        (
            ["sam.okoro", "--name", "Sam", "--grade", "PO", "--qualified", "1.9.2015"],
            "--qualified '1.9.2015' is not a date",
        ),
        (
            ["sam.okoro", "--name", "Sam", "--grade", "SPO", "--qualified", "2015-09-01"],
            "only probation officers and senior practitioners have one",
        ),
        (["sam.okoro", "--name", "  ", "--grade", "ACO"], "Enter the person's name"),
        (["sam.okoro", "--name", "Sam", "--grade", "ACO", "--started", "01/04/2024"], "is not a date"),
    ],
)
def test_adding_staff_with_bad_input_says_what_to_fix_and_adds_nobody(
    riskflow: CliRunner, upgraded: str, arguments: list[str], message: str
) -> None:
    assert_clear_error(run(riskflow, "staff", "add", *arguments), message)
    assert staff_named(upgraded, "sam.okoro") is None
    assert events(upgraded, "staff_added") == []


def test_deactivating_someone_ends_their_sessions_and_reactivating_lets_them_back(
    riskflow: CliRunner, upgraded: str
) -> None:
    app = web_app_on(upgraded)
    try:
        desk = signed_in(app, "aco.one")
        result = run(riskflow, "staff", "deactivate", "aco.one", "--by", "service.desk")
        assert result.exit_code == 0, result.output
        assert "ended 1 signed-in session" in result.output
        assert not opens_the_inbox(desk)
        assert sign_in(app.test_client(), "aco.one").status_code == 401
        assert_clear_error(run(riskflow, "staff", "deactivate", "aco.one"), "already inactive")

        assert run(riskflow, "staff", "reactivate", "aco.one", "--by", "service.desk").exit_code == 0
        assert sign_in(app.test_client(), "aco.one").status_code == 302
        assert_clear_error(run(riskflow, "staff", "reactivate", "aco.one"), "already active")
        assert [e.actor for e in events(upgraded, "staff_deactivated")] == ["service.desk"]
        assert [e.actor for e in events(upgraded, "staff_reactivated")] == ["service.desk"]
    finally:
        riskflow_of(app).dispose()


def test_setting_roles_gives_exactly_those_roles_beyond_the_grade(riskflow: CliRunner, upgraded: str) -> None:
    result = run(riskflow, "staff", "set-roles", "aco.one", "process_owner", "--by", "aco.two")
    assert result.exit_code == 0, result.output
    staff = staff_named(upgraded, "aco.one")
    assert staff is not None and staff.extra_roles == ["PROCESS_OWNER"]
    assert "PROCESS_OWNER" in staff.roles and "ACO" in staff.roles

    assert run(riskflow, "staff", "set-roles", "aco.one", "--none").exit_code == 0
    staff = staff_named(upgraded, "aco.one")
    assert staff is not None and staff.extra_roles == []
    assert [e.actor for e in events(upgraded, "staff_roles_set")][0] == "aco.two"


def test_an_unknown_role_or_username_is_refused_and_changes_nothing(
    riskflow: CliRunner, upgraded: str
) -> None:
    assert_clear_error(run(riskflow, "staff", "set-roles", "aco.one", "KING"), "KING is not a role: use ACO")
    assert_clear_error(run(riskflow, "staff", "set-roles", "aco.one"), "or --none for none")
    for command in ("deactivate", "reactivate", "reset-password"):
        assert_clear_error(
            run(riskflow, "staff", command, "no.one"), "no member of staff with username 'no.one'"
        )
    staff = staff_named(upgraded, "aco.one")
    assert staff is not None and staff.extra_roles == [] and staff.active
    assert events(upgraded, "staff_roles_set") == []


def test_the_staff_list_shows_who_must_change_a_temporary_password(
    riskflow: CliRunner, upgraded: str
) -> None:
    assert "aco.one" in run(riskflow, "staff", "list").output
    run(riskflow, "staff", "reset-password", "aco.one")
    line = next(row for row in run(riskflow, "staff", "list").output.splitlines() if "aco.one" in row)
    assert line.endswith("temporary password")
    database = Database(upgraded)
    try:
        with database.transaction(write=False) as session:
            credential = session.get(StaffCredential, "aco.one")
            assert credential is not None and credential.must_change_password
    finally:
        database.dispose()


def test_an_administrator_changes_a_team_line_manager_and_grade_from_the_command_line(
    riskflow: CliRunner, upgraded: str
) -> None:
    add_team(upgraded)
    add_team(upgraded, "S1")
    added = run(
        riskflow, "staff", "add", "sam.okoro", "--name", "Sam Okoro", "--grade", "PO", "--team", "N1",
        "--qualified", "2015-09-01", "--line-manager", "aco.one",
    )  # fmt: skip
    assert added.exit_code == 0, added.output

    moved = run(
        riskflow, "staff", "set", "sam.okoro", "--team", "S1", "--senior-practitioner-since", "2024-04-01",
        "--by", "aco.one",
    )  # fmt: skip
    assert moved.exit_code == 0, moved.output
    staff = staff_named(upgraded, "sam.okoro")
    assert (
        staff is not None and staff.experience is ExperienceBand.SENIOR and staff.line_manager_id is not None
    )
    (event,) = events(upgraded, "staff_changed")
    assert event.actor == "aco.one" and event.detail is not None
    assert event.detail["changes"]["team"] == {"before": "N1", "after": "S1"}

    # Promoted to SPO: the band and the dates it came from go with the Offender Manager's grade.
    assert (
        run(riskflow, "staff", "set", "sam.okoro", "--grade", "SPO", "--line-manager", "none").exit_code == 0
    )
    staff = staff_named(upgraded, "sam.okoro")
    assert staff is not None and staff.grade is Grade.SPO and staff.experience is None
    assert staff.qualified_on is None and staff.senior_practitioner_since is None
    assert staff.line_manager_id is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--line-manager", "sam.okoro"], "Nobody can be their own line manager"),
        (["--line-manager", "no.body"], "'no.body' cannot be a line manager"),
        (["--team", "ZZ"], "There is no team with code 'ZZ'"),
        (["--qualified", "2015-09-01"], "Leave the qualification date empty"),
        ([], "say what to change"),
    ],
)
def test_changing_staff_with_bad_input_says_what_to_fix_and_changes_nothing(
    riskflow: CliRunner, upgraded: str, arguments: list[str], message: str
) -> None:
    add_team(upgraded)
    run(riskflow, "staff", "add", "sam.okoro", "--name", "Sam Okoro", "--grade", "SPO", "--team", "N1")
    before = staff_named(upgraded, "sam.okoro")
    changes = len(events(upgraded, "staff_changed"))

    assert_clear_error(run(riskflow, "staff", "set", "sam.okoro", *arguments), message)

    after = staff_named(upgraded, "sam.okoro")
    assert before is not None and after is not None
    assert (after.grade, after.team_id, after.experience) == (before.grade, before.team_id, before.experience)
    assert len(events(upgraded, "staff_changed")) == changes


def test_nobody_takes_away_their_own_staff_administration_or_deactivates_themselves(
    riskflow: CliRunner, upgraded: str
) -> None:
    assert_clear_error(
        run(riskflow, "staff", "set", "aco.one", "--grade", "SPO", "--by", "aco.one"),
        "You cannot take away your own staff administration",
    )
    assert_clear_error(
        run(riskflow, "staff", "deactivate", "aco.one", "--by", "aco.one"), "deactivate yourself"
    )
    staff = staff_named(upgraded, "aco.one")
    assert staff is not None and staff.grade is Grade.ACO and staff.active
