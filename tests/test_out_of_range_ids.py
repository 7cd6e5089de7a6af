"""A number in a URL, form or query string that no database id can be is answered as an address
that is not there (404), never as a failure (500): SQLite cannot even compare a column with a number
beyond 64 bits, and PostgreSQL's bigint overflows."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from api_client import ALL_SCOPES, api_app, call, token
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from webui_client import fast_password_hashing, give_passwords, sign_in

from casework.models import Staff
from engine.clock import ManualClock
from engine.db import Database
from webui import riskflow
from webui.routing import LARGEST_ID, database_int

__all__ = ["fast_password_hashing"]

TOO_LARGE = "99999999999999999999"  # beyond 64 bits
MODEL = "offender-management"
HOLDER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = api_app(database, clock)
    with riskflow(app).db.transaction() as session:
        aco = session.scalar(select(Staff).where(Staff.username == "aco.one"))
        assert aco is not None
        aco.extra_roles = ["PROCESS_OWNER"]  # every page: the monitor, the process pages, the drafts
    give_passwords(riskflow(app).db, ["aco.one"])
    yield app
    riskflow(app).db.dispose()


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, "aco.one").status_code == 302
    return client


def paths_with_ids(app: Flask, number: str) -> list[tuple[str, str]]:
    """(method, path) for every route with an integer in it, each integer set to `number`."""
    found = []
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        path = HOLDER.sub(lambda m: number if m.group(1) == "int" else MODEL, rule.rule)
        found += [
            (method, path) for method in sorted(rule.methods or ()) if method not in ("HEAD", "OPTIONS")
        ]
    return found


def test_every_page_and_api_path_answers_an_id_too_large_for_the_database_with_404(
    app: Flask, browser: FlaskClient
) -> None:
    secret = token(app, "aco", ALL_SCOPES, person="aco.one")
    paths = paths_with_ids(app, TOO_LARGE)
    assert ("GET", f"/tasks/{TOO_LARGE}") in paths and ("GET", f"/api/v1/tasks/{TOO_LARGE}") in paths
    for method, path in paths:
        headers = {"Authorization": f"Bearer {secret}"} if path.startswith("/api/") else {}
        response = browser.open(path, method=method, headers=headers, json={} if method != "GET" else None)
        assert response.status_code == 404, (method, path, response.status_code)


@pytest.mark.parametrize("number", [str(LARGEST_ID), str(LARGEST_ID + 1)])
def test_the_largest_id_is_looked_for_and_one_beyond_it_is_not_a_route(
    app: Flask, browser: FlaskClient, number: str
) -> None:
    assert browser.get(f"/tasks/{number}").status_code == 404
    assert browser.get(f"/monitor/instances/{number}").status_code == 404
    secret = token(app, f"aco-{number}", ALL_SCOPES, person="aco.one")
    response = call(app.test_client(), "GET", f"/instances/{number}", secret)
    assert response.status_code == 404 and response.json["error"] == "not_found"


@pytest.mark.parametrize(
    "path",
    [
        f"/cases?owner={TOO_LARGE}",
        "/cases?page=%C2%B2",  # a superscript two: a digit to str.isdigit, not to int()
        "/cases?owner=%C2%B2",
        f"/processes/{MODEL}/compare?to={TOO_LARGE}",
        f"/processes/{MODEL}/compare?from={TOO_LARGE}",
        f"/processes/{MODEL}/versions/1/migrate?to={TOO_LARGE}",
        f"/?page={TOO_LARGE}",
    ],
)
def test_a_number_too_large_in_a_query_string_is_not_a_failure(browser: FlaskClient, path: str) -> None:
    assert browser.get(path).status_code < 500


def test_a_number_too_large_in_a_form_is_not_a_failure(browser: FlaskClient) -> None:
    response = browser.post(f"/processes/{MODEL}/drafts", data={"version": TOO_LARGE})
    assert response.status_code < 500


@pytest.mark.parametrize("text", [TOO_LARGE, "²", "1.5", "", "0x10", str(LARGEST_ID + 1)])
def test_only_a_number_a_column_can_hold_is_read_from_a_form(text: str) -> None:
    with pytest.raises(ValueError):
        database_int(text)
    assert database_int(str(LARGEST_ID)) == LARGEST_ID
