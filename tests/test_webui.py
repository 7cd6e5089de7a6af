"""The web app: the processes page, the health check, security headers, error pages and settings."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import MANAGER, bundle
from flask import Flask
from flask.testing import FlaskClient
from webui_client import PASSWORD, add_staff, fast_password_hashing, sign_in, url_of, web_app

from engine.bundle import Bundle
from engine.clock import ManualClock, OffsetClock, SystemClock
from engine.db import Database
from engine.runtime import ProcessEngine
from webui import create_app, riskflow
from webui.config import PROJECT_DIR, ConfigError, load_settings
from webui.security import SECURITY_HEADERS
from webui.vendor import VENDOR_DIR, layout_files, locked_versions, missing_files

__all__ = ["fast_password_hashing"]  # autouse: cheap password hashing in these tests


def csrf_token(client: FlaskClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    """The app on the test database (whose tables the conftest made), with the test clock."""
    app = web_app(database, clock)
    yield app
    riskflow(app).db.dispose()


@pytest.fixture
def client(app: Flask, database: Database) -> FlaskClient:
    """A client signed in as an ACO (every page but sign-in needs a signed-in person)."""
    add_staff(database, "aco.one")
    client = app.test_client()
    assert sign_in(client, "aco.one").status_code == 302
    return client


class TableRows(HTMLParser):
    """The text of each body row's cells in a page's tables."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag in ("td", "th") and self._in_body:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str) -> list[list[str]]:
    parser = TableRows()
    parser.feed(html)
    return parser.rows


# --------------------------------------------------------------------------------- processes page


def test_the_processes_page_lists_a_deployed_bundle_at_version_1(
    client: FlaskClient, engine: ProcessEngine
) -> None:
    engine.deploy(bundle("approval"), actor="process.owner")

    response = client.get("/processes")

    assert response.status_code == 200
    assert '<h2 class="govuk-heading-m" id="process-approval">approval</h2>' in response.text
    assert table_rows(response.text) == [["Version 1", "2 Nov 2026, 09:00", "process.owner", "—", "0"]]


def test_the_processes_page_counts_unfinished_instances_per_version(
    client: FlaskClient, engine: ProcessEngine
) -> None:
    engine.deploy(bundle("approval"), actor="process.owner")
    engine.start("approval", business_key="A1")
    engine.start("approval", business_key="A2")
    done = engine.start("approval", business_key="A3")
    engine.terminate(done.instance_id, MANAGER, reason="opened by mistake")

    rows = table_rows(client.get("/processes").text)

    assert [(row[0], row[4]) for row in rows] == [("Version 1", "2")]


def test_the_processes_page_lists_each_version_newest_first(
    client: FlaskClient, engine: ProcessEngine
) -> None:
    original = bundle("approval")
    engine.deploy(original, actor="process.owner")
    engine.start("approval", business_key="A1")
    changed = Bundle(original.name, {**original.files, "policy.md": b"Approve within two days."})
    engine.deploy(changed, actor="process.owner", note="Two-day approval")

    rows = table_rows(client.get("/processes").text)

    assert [(row[0], row[3], row[4]) for row in rows] == [
        ("Version 2", "Two-day approval", "0"),
        ("Version 1", "—", "1"),
    ]


def test_the_processes_page_says_when_nothing_is_deployed(client: FlaskClient) -> None:
    response = client.get("/processes")

    assert response.status_code == 200
    assert "No processes are deployed yet" in response.text
    assert table_rows(response.text) == []


def test_pages_load_nothing_from_other_sites(client: FlaskClient, engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="process.owner")

    page = client.get("/processes").text

    assert "http://" not in page
    assert "https://" not in page
    assert "cdn" not in page.lower()


def test_the_only_inline_scripts_carry_the_responses_nonce(client: FlaskClient) -> None:
    response = client.get("/processes")

    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    assert nonce is not None
    scripts = re.findall(r"<script([^>]*)>", response.text)
    assert scripts, "the GOV.UK template's inline script is there"
    assert all(f'nonce="{nonce.group(1)}"' in attributes for attributes in scripts)


def test_each_response_gets_a_new_nonce(client: FlaskClient) -> None:
    first = client.get("/processes").headers["Content-Security-Policy"]
    second = client.get("/processes").headers["Content-Security-Policy"]

    assert first != second


# ----------------------------------------------------------------------------------- health check


def test_healthz_says_ok_when_the_database_answers(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    unreachable = f"sqlite:///{tmp_path / 'no-such-folder' / 'riskflow.db'}"
    app = create_app({"TESTING": True, "RISKFLOW_DATABASE_URL": unreachable})

    response = app.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unavailable"}
    riskflow(app).db.dispose()


# ------------------------------------------------------------------------- headers and error pages


@pytest.mark.parametrize("path", ["/processes", "/healthz", "/no-such-page", "/sign-in"])
def test_every_response_carries_the_security_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


def test_a_missing_page_is_a_plain_404_without_a_traceback(client: FlaskClient) -> None:
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Not Found</h1>" in response.text
    assert "Traceback" not in response.text


def test_an_unexpected_error_shows_a_plain_page_and_keeps_the_detail_out_of_it(
    database: Database,
) -> None:
    app = create_app({"RISKFLOW_DATABASE_URL": url_of(database), "SECRET_KEY": "test"})

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret detail of the failure")

    add_staff(database, "aco.one")
    client = app.test_client()
    client.post(
        "/sign-in", data={"username": "aco.one", "password": PASSWORD, "csrf_token": csrf_token(client)}
    )
    response = client.get("/boom")

    assert response.status_code == 500
    assert "Internal Server Error" in response.text
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["X-Frame-Options"] == "DENY"
    riskflow(app).db.dispose()


# ---------------------------------------------------------------------------------------- settings


def test_settings_default_to_a_local_sqlite_demo_free_deployment() -> None:
    settings = load_settings(environ={})

    assert settings.database_url == f"sqlite:///{PROJECT_DIR / 'instance' / 'riskflow.db'}"
    assert (settings.host, settings.port, settings.demo) == ("127.0.0.1", 5000, False)
    assert settings.processes_dir == PROJECT_DIR / "processes"
    assert settings.secret_key is None


def test_a_plain_postgresql_url_gets_the_psycopg_driver() -> None:
    settings = load_settings(environ={"RISKFLOW_DATABASE_URL": "postgresql://rf:pw@db.internal/riskflow"})

    assert settings.database_url == "postgresql+psycopg://rf:pw@db.internal/riskflow"
    assert settings.safe_database_url == "postgresql+psycopg://rf:***@db.internal/riskflow"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RISKFLOW_PORT", "eighty", "RISKFLOW_PORT must be a port number"),
        ("RISKFLOW_PORT", "70000", "RISKFLOW_PORT must be a port number"),
        ("RISKFLOW_DEMO", "maybe", "RISKFLOW_DEMO must be true or false"),
        ("RISKFLOW_DATABASE_URL", "not a url", "RISKFLOW_DATABASE_URL is not a database URL"),
        ("RISKFLOW_DATABASE_URL", "mysql://db/riskflow", "riskflow runs on SQLite or PostgreSQL"),
    ],
)
def test_a_wrong_setting_is_named_in_the_error(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ={name: value})


def test_the_app_refuses_to_start_without_a_secret_key_outside_demo_and_testing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RISKFLOW_SECRET_KEY", raising=False)
    monkeypatch.delenv("RISKFLOW_DEMO", raising=False)

    with pytest.raises(ConfigError, match="RISKFLOW_SECRET_KEY is not set"):
        create_app({"RISKFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'riskflow.db'}"})


def test_a_demo_makes_its_secret_key_once_readable_by_its_owner_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RISKFLOW_SECRET_KEY", raising=False)
    config = {
        "RISKFLOW_DEMO": "true",
        "RISKFLOW_INSTANCE_DIR": str(tmp_path / "instance"),
        "RISKFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'riskflow.db'}",
    }

    first, second = create_app(config), create_app(config)

    key_file = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.secret_key == second.secret_key == key_file.read_text().strip()
    assert len(key_file.read_text().strip()) == 64
    for app in (first, second):
        riskflow(app).db.dispose()


def test_a_demo_runs_on_the_clock_kept_in_the_database(
    monkeypatch: pytest.MonkeyPatch, database: Database, tmp_path: Path
) -> None:
    monkeypatch.delenv("RISKFLOW_SECRET_KEY", raising=False)
    config = {
        "RISKFLOW_DEMO": "true",
        "RISKFLOW_INSTANCE_DIR": str(tmp_path),
        "RISKFLOW_DATABASE_URL": url_of(database),
    }
    demo, production = create_app(config), create_app({**config, "RISKFLOW_DEMO": "false", "TESTING": True})

    assert isinstance(riskflow(demo).clock, OffsetClock)
    assert isinstance(riskflow(production).clock, SystemClock)
    for app in (demo, production):
        riskflow(app).db.dispose()


# ------------------------------------------------------------------------------- front-end packages


def test_the_vendored_front_end_matches_package_lock() -> None:
    lock = json.loads((PROJECT_DIR / "package-lock.json").read_text())["packages"]
    versions = locked_versions()

    assert versions["govuk-frontend"] == lock["node_modules/govuk-frontend"]["version"]
    assert versions["moj-frontend"] == lock["node_modules/@ministryofjustice/frontend"]["version"]
    assert missing_files() == [], "run `make setup` to copy the front-end packages"


def test_the_stylesheet_is_set_in_arial_without_the_gds_transport_font() -> None:
    css = next(p for p in layout_files() if p.suffix == ".css").read_text()

    assert "font-family:arial,sans-serif" in css
    assert "GDS Transport" not in css
    assert "@font-face" not in css


def test_pages_load_the_design_system_from_this_site(client: FlaskClient) -> None:
    page = client.get("/processes").text

    for path in layout_files():
        url = "/static/vendor/" + path.relative_to(VENDOR_DIR).as_posix()
        assert url in page
        with client.get(url) as asset:
            assert asset.status_code == 200
    assert "govuk-generic-header" in page
    assert "govuk-header__logotype" not in page  # no crown
