"""Helpers for web tests: the app on the test database, staff with passwords, and signing in."""

from __future__ import annotations

import re
from datetime import date
from html import unescape
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from casework.models import Staff
from casework.vocabulary import Grade
from engine.clock import Clock
from engine.db import Database
from webui import create_app, credentials
from webui.credentials import set_password

PASSWORD = "correct horse battery staple"
# Argon2id with the smallest cost: the same code paths, a thousandth of the time.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with the smallest cost: the same code paths, a thousandth of the time."""
    monkeypatch.setattr(credentials, "_hasher", FAST_HASHER)
    monkeypatch.setattr(credentials, "_UNKNOWN_USER_HASH", FAST_HASHER.hash("riskflow: no such user"))


def url_of(database: Database) -> str:
    return database.url.render_as_string(hide_password=False)


def web_app(database: Database, clock: Clock, *, wall_clock: Clock | None = None, **config: Any) -> Flask:
    """The app on the test database, CSRF off unless asked for (one module tests it on); sign-ins and
    sessions on real time unless `wall_clock` is given."""
    settings = {"TESTING": True, "WTF_CSRF_ENABLED": False, "RISKFLOW_DATABASE_URL": url_of(database)}
    return create_app({**settings, **config}, clock=clock, wall_clock=wall_clock)


def give_passwords(database: Database, usernames: list[str], password: str = PASSWORD) -> None:
    """Give each of these staff a password."""
    with database.transaction() as session:
        for username in usernames:
            set_password(session, username, password)


def add_staff(database: Database, username: str, grade: Grade = Grade.ACO, *, active: bool = True) -> None:
    """A member of staff outside any team, with the test password."""
    with database.transaction() as session:
        session.add(
            Staff(
                username=username,
                display_name=username.replace(".", " ").title(),
                grade=grade,
                started_on=date(2015, 4, 1),
                active=active,
                extra_roles=[],
            )
        )
        set_password(session, username, PASSWORD)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD, **form: str) -> Any:
    """Post the sign-in form; return the response (not followed)."""
    return client.post("/sign-in", data={"username": username, "password": password, **form})


def text_of(html: str) -> str:
    """A page's words as a person reads them: no tags, no scripts, entities decoded, spaces collapsed."""
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
