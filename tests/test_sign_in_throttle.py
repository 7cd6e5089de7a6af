"""Failed sign-ins: one answer for every refusal (no way to tell a username that exists from one that
does not, nor a slowed one from either), in the same time; a throttle per client address that holds
across web processes; and a slowdown per username that never locks its owner out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from webui_client import PASSWORD, add_staff, fast_password_hashing, web_app

from casework.vocabulary import Grade
from engine.clock import ManualClock
from engine.db import Database
from engine.models import AuditEvent
from webui import credentials, riskflow
from webui.config import ConfigError, load_settings
from webui.throttle import ADDRESS_LIMIT, USERNAME_INTERVAL, USERNAME_LIMIT, WINDOW

__all__ = ["fast_password_hashing"]

OFFICE = "192.0.2.10"
ELSEWHERE = "198.51.100.7"
ONE_OFF = re.compile(rb'(nonce|value)="[^"]*"')  # every value: the username's is blanked already


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = web_app(database, clock, wall_clock=clock)
    add_staff(database, "spo.north", Grade.SPO)
    add_staff(database, "om.north", Grade.PO)
    add_staff(database, "left.service", Grade.PO, active=False)
    yield app
    riskflow(app).db.dispose()


def attempt(app: Flask, username: str, password: str = PASSWORD, address: str = OFFICE) -> Any:
    """Post the sign-in form from `address` with a fresh browser; return the response."""
    client: FlaskClient = app.test_client()
    form = {"username": username, "password": password}
    return client.post("/sign-in", data=form, environ_base={"REMOTE_ADDR": address})


def answer(response: Any, username: str) -> tuple[int, bytes, str | None]:
    """What the person signing in is shown, with the username they typed and the page's one-off values
    (script nonce, CSRF token) blanked out."""
    body = ONE_OFF.sub(rb'\1=""', response.get_data().replace(username.encode(), b"<username>"))
    return response.status_code, body, response.headers.get("Retry-After")


def audit(database: Database, username: str) -> list[str]:
    with database.transaction(write=False) as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.actor == username).order_by(AuditEvent.id))
        return [row.event for row in rows]


def fail(app: Flask, username: str, times: int, address: str = OFFICE) -> None:
    for _ in range(times):
        assert attempt(app, username, "a wrong guess", address).status_code == 401


# -------------------------------------------------------------------------- one answer for all


def test_unknown_wrong_inactive_and_slowed_usernames_get_exactly_the_same_answer(
    app: Flask, database: Database
) -> None:
    fail(app, "om.north", USERNAME_LIMIT, ELSEWHERE)  # om.north is now slowed down
    answers = {
        "unknown": answer(attempt(app, "no.such.person", "a wrong guess"), "no.such.person"),
        "wrong password": answer(attempt(app, "spo.north", "a wrong guess"), "spo.north"),
        "inactive": answer(attempt(app, "left.service"), "left.service"),
        "slowed, right password": answer(attempt(app, "om.north"), "om.north"),
    }
    assert len(set(answers.values())) == 1, answers
    status, body, _ = answers["unknown"]
    assert status == 401
    assert b"The username or password is not right" in body
    assert b"locked" not in body.lower() and b"slow" not in body.lower()
    assert "sign_in_refused_username_slowed" in audit(database, "om.north")  # the audit trail knows


def test_every_refusal_but_the_address_throttle_costs_one_password_check(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            checks.append(str(password))
            return super().verify(hash, password)

    monkeypatch.setattr(credentials, "_hasher", CountingHasher(time_cost=1, memory_cost=8, parallelism=1))
    fail(app, "om.north", USERNAME_LIMIT, ELSEWHERE)
    for username, password in (
        ("no.such.person", "a wrong guess"),
        ("spo.north", "a wrong guess"),
        ("left.service", PASSWORD),
        ("om.north", "slowed down"),
    ):
        checks.clear()
        attempt(app, username, password)
        assert checks == [password], username


def test_the_stand_in_hash_for_unknown_usernames_costs_what_a_real_one_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.undo()  # the real hasher and stand-in, not the tests' cheap ones
    real = credentials.hash_password("some password")
    stand_in = credentials._UNKNOWN_USER_HASH
    assert stand_in.split("$")[:4] == real.split("$")[:4]  # algorithm, version, memory, time, lanes


# ------------------------------------------------------------------------- slowdown per username


def test_a_username_with_repeated_failures_is_slowed_down_not_locked_out(
    app: Flask, database: Database, clock: ManualClock
) -> None:
    fail(app, "spo.north", USERNAME_LIMIT, ELSEWHERE)
    assert attempt(app, "spo.north").status_code == 401  # within the minute: not even looked at
    clock.advance(USERNAME_INTERVAL)
    assert attempt(app, "spo.north").status_code == 302  # a minute on, the owner gets in
    events = audit(database, "spo.north")
    assert "sign_in_username_slowed" in events and events[-1] == "signed_in"


def test_a_slowed_username_may_still_be_tried_once_a_minute(app: Flask, clock: ManualClock) -> None:
    fail(app, "spo.north", USERNAME_LIMIT, ELSEWHERE)
    clock.advance(USERNAME_INTERVAL)
    assert attempt(app, "spo.north", "another guess").status_code == 401
    assert attempt(app, "spo.north").status_code == 401  # the guess just now starts another minute
    clock.advance(USERNAME_INTERVAL)
    assert attempt(app, "spo.north").status_code == 302


def test_fewer_failures_than_the_limit_do_not_slow_a_username(app: Flask) -> None:
    fail(app, "spo.north", USERNAME_LIMIT - 1)
    assert attempt(app, "spo.north").status_code == 302


def test_signing_in_clears_the_usernames_failures(app: Flask) -> None:
    fail(app, "spo.north", USERNAME_LIMIT - 1)
    assert attempt(app, "spo.north").status_code == 302
    fail(app, "spo.north", USERNAME_LIMIT - 1)
    assert attempt(app, "spo.north").status_code == 302


# --------------------------------------------------------------------------- throttle per address


def test_too_many_failures_from_one_address_stop_sign_in_from_it_for_a_while(
    app: Flask, database: Database, clock: ManualClock
) -> None:
    for n in range(ADDRESS_LIMIT):
        assert attempt(app, f"guess.{n}", "a wrong guess").status_code == 401
    refused = attempt(app, "spo.north")  # even a right password, for someone else
    assert refused.status_code == 429
    assert "too many failed sign-ins from your network. Try again in 15 minutes" in refused.text
    assert refused.headers["Retry-After"] == str(15 * 60)
    assert attempt(app, "spo.north", address=ELSEWHERE).status_code == 302  # other addresses go on
    assert "sign_in_refused_address_throttled" in audit(database, "spo.north")
    clock.advance(WINDOW)
    assert attempt(app, "spo.north").status_code == 302


def test_the_throttle_says_how_long_is_left(app: Flask, clock: ManualClock) -> None:
    for n in range(ADDRESS_LIMIT):
        attempt(app, f"guess.{n}", "a wrong guess")
        clock.advance(timedelta(seconds=30))
    refused = attempt(app, "spo.north")  # the first failure was 10 minutes ago
    assert "Try again in 5 minutes" in refused.text


def test_the_throttle_holds_across_web_processes(app: Flask, database: Database, clock: ManualClock) -> None:
    other_process = web_app(database, clock, wall_clock=clock)
    try:
        for n in range(ADDRESS_LIMIT):
            the_app = app if n % 2 else other_process
            assert attempt(the_app, f"guess.{n}", "a wrong guess").status_code == 401
        assert attempt(app, "spo.north").status_code == 429
        assert attempt(other_process, "spo.north").status_code == 429
    finally:
        riskflow(other_process).db.dispose()


def test_a_right_password_does_not_reset_the_addresss_count(app: Flask) -> None:
    for n in range(ADDRESS_LIMIT - 1):
        attempt(app, f"guess.{n}", "a wrong guess")
    assert attempt(app, "spo.north").status_code == 302
    attempt(app, "guess.last", "a wrong guess")
    assert attempt(app, "om.north").status_code == 429


# ------------------------------------------------------------------------------ behind a proxy


def test_a_forwarded_address_is_believed_only_from_a_trusted_proxy(
    app: Flask, database: Database, clock: ManualClock
) -> None:
    def through_proxy(the_app: Flask, username: str, password: str, client_address: str) -> Any:
        form = {"username": username, "password": password}
        headers = {"X-Forwarded-For": client_address, "X-Forwarded-Proto": "https"}
        return the_app.test_client().post(
            "/sign-in", data=form, headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.1"}
        )

    # Untrusted: a guesser cannot dodge the throttle by making up a new address for each guess.
    for n in range(ADDRESS_LIMIT):
        through_proxy(app, f"guess.{n}", "a wrong guess", f"203.0.113.{n}")
    assert through_proxy(app, "spo.north", PASSWORD, "203.0.113.99").status_code == 429
    clock.advance(WINDOW)

    behind_proxy = web_app(database, clock, wall_clock=clock, RISKFLOW_TRUSTED_PROXIES="1")
    try:
        for n in range(ADDRESS_LIMIT):
            through_proxy(behind_proxy, f"guess.{n}", "a wrong guess", "203.0.113.66")
        assert through_proxy(behind_proxy, "spo.north", PASSWORD, "203.0.113.66").status_code == 429
        signed_in = through_proxy(behind_proxy, "spo.north", PASSWORD, "203.0.113.99")
        assert signed_in.status_code == 302  # the rest of the office, behind the same proxy
        assert signed_in.headers["Strict-Transport-Security"] == "max-age=31536000"
    finally:
        riskflow(behind_proxy).db.dispose()


@pytest.mark.parametrize("value", ["-1", "6", "one", "1.5"])
def test_a_wrong_number_of_trusted_proxies_is_refused_with_what_to_set(value: str) -> None:
    with pytest.raises(ConfigError, match="RISKFLOW_TRUSTED_PROXIES must be the number of reverse proxies"):
        load_settings({}, {"RISKFLOW_TRUSTED_PROXIES": value})
