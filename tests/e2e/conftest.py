"""Fixtures for the browser tests: the real app served by a real WSGI server, Debian's Chromium
driven by Playwright, and a screenshot and trace of every test that fails.

- `live_server`: a fresh database (SQLite file, or PostgreSQL with RISKFLOW_TEST_BACKEND=postgresql,
  as tests/conftest.py decides) holding the area of tests/e2e/area.py, and `webui.create_app` on it
  with the test clock, CSRF on and testing mode off, served by Werkzeug's threaded server on a free
  port of 127.0.0.1 in a background thread. One per test, so no test sees another's clicks. On
  SQLite the area is built once per run (`area_template`) and each test's `database` is its own
  copy of that file (so a test's own `engine` works on what the server serves); on PostgreSQL it is
  built afresh on the emptied test database for each test.
- `browser`: one Chromium for the whole run. The browser is the system's (`chromium`, or the path
  in RISKFLOW_CHROMIUM); nothing is ever downloaded. Without it every browser test fails, saying
  how to install it: the browser tests never skip silently.
- `page`: a page in a new browser context per test, pointed at the live server. A JavaScript error
  or a console error on any page fails the test (an HTTP error status is the test's to check;
  `page_problems` holds what was reported, for a test that causes errors on purpose). On
  failure, a full-page screenshot and a Playwright trace go to test-results/e2e/<test>/ (git-ignored;
  open a trace with `.venv/bin/playwright show-trace <file>`).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from conftest import POSTGRES, START, copy_sqlite, postgres_database
from flask import Flask
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Playwright,
    expect,
    sync_playwright,
)
from webui_client import FAST_HASHER, PASSWORD, fast_password_hashing, web_app
from werkzeug.serving import BaseWSGIServer, make_server

from engine.clock import ManualClock
from engine.db import Database
from webui import credentials, riskflow
from webui.config import PROJECT_DIR

from .area import Area, build_area

__all__ = ["fast_password_hashing"]  # autouse: cheap password hashing for the area's staff

E2E_DIR = Path(__file__).resolve().parent
RESULTS = PROJECT_DIR / "test-results" / "e2e"
CHROMIUM_HELP = (
    "The browser tests drive Debian's Chromium and found none at {where}. Install it with "
    "`apt-get install -y chromium` (.ci/run does), or set RISKFLOW_CHROMIUM to a Chromium binary. "
    "To run everything else without them, deselect them knowingly: `pytest -m 'not e2e'`."
)
# Generous for a busy two-core machine; Playwright waits only as long as a page needs.
ACTION_TIMEOUT_MS = 15_000
expect.set_options(timeout=10_000)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "browser_context(**options): Playwright new_context options for this test, such as "
        "java_script_enabled=False or viewport={'width': 320, 'height': 640}",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/e2e `e2e`, so `-m 'not e2e'` can leave them out."""
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the test, so fixtures can tell whether it failed."""
    report: pytest.TestReport = yield
    setattr(item, f"report_{report.when}", report)
    return report


def chromium_path() -> Path:
    """The system's Chromium (RISKFLOW_CHROMIUM, else `chromium` on PATH, else /usr/bin/chromium)."""
    configured = os.environ.get("RISKFLOW_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return Path(configured)


# ------------------------------------------------------------------------------------- the server


@dataclass
class LiveServer:
    """The app being served: its address, its database and clock, and the area's task ids."""

    url: str
    app: Flask
    database: Database
    clock: ManualClock
    area: Area
    server: BaseWSGIServer = field(repr=False)

    def task_id(self, name: str) -> int:
        return self.area.tasks[name]


@dataclass(frozen=True)
class AreaTemplate:
    """The area built once into an SQLite file, the task ids it holds, and its clock's time then."""

    path: Path
    area: Area
    now: datetime

    def copy(self, target: Path) -> Database:
        """A database of the test's own holding the area, copied page by page from the template."""
        copy_sqlite(self.path, target)
        return Database(f"sqlite:///{target}")


@pytest.fixture(scope="session")
def area_template(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AreaTemplate | None:
    """On SQLite, the area of tests/e2e/area.py built once for the run (building it deploys the
    process and runs three cases, seconds a test); None on PostgreSQL, where each test builds it."""
    if POSTGRES:
        return None
    path = tmp_path_factory.mktemp("e2e-area") / "area.db"
    copy_sqlite(request.getfixturevalue("empty_sqlite_schema"), path)
    database = Database(f"sqlite:///{path}")
    clock = ManualClock(START)
    with pytest.MonkeyPatch.context() as patch:
        # The same cheap hashing the tests sign in with (fast_password_hashing is per test).
        patch.setattr(credentials, "_hasher", FAST_HASHER)
        area = build_area(database, clock)
    database.dispose()
    return AreaTemplate(path, area, clock.now())


@pytest.fixture
def database(area_template: AreaTemplate | None, tmp_path: Path) -> Iterator[Database]:
    """The test's database, as in tests/conftest.py; on SQLite it already holds the area (a copy of
    `area_template`), so that the server and the test's own engine share it."""
    if area_template is None:
        database = postgres_database()
    else:
        database = area_template.copy(tmp_path / "riskflow-test.db")
    yield database
    database.dispose()


@pytest.fixture
def area(database: Database, clock: ManualClock, area_template: AreaTemplate | None) -> Area:
    """The area on the test's database, with `clock` where building it left it."""
    if area_template is None:
        return build_area(database, clock)
    clock.set(area_template.now)
    return area_template.area


@pytest.fixture
def live_server(database: Database, area: Area, clock: ManualClock) -> Iterator[LiveServer]:
    """The real app on a fresh test database, served over HTTP on a free port (see the module doc)."""
    # As deployed: CSRF on, and not in testing mode, so an unexpected error gets the app's own page.
    app = web_app(database, clock, TESTING=False, WTF_CSRF_ENABLED=True, SECRET_KEY=secrets.token_hex(32))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app, database, clock, area, server)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        riskflow(app).db.dispose()


# ------------------------------------------------------------------------------------ the browser


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the whole run: the system's, never a downloaded one."""
    executable = chromium_path()
    if not executable.is_file():
        pytest.fail(CHROMIUM_HELP.format(where=executable), pytrace=False)
    browser = playwright.chromium.launch(executable_path=str(executable))
    yield browser
    browser.close()


# Console errors a vendored package logs by design rather than by fault: dmn-js 17's production
# bundle still carries Inferno's development-build notice (a console.error once per page).
VENDOR_NOTICES = ("It looks like you're using a minified copy of the development build of Inferno.",)


@dataclass
class PageProblems:
    """What went wrong inside the page while a test ran: uncaught errors and console errors."""

    errors: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        # A page served with a 4xx or 5xx status logs "Failed to load resource"; the tests that
        # cause one assert on the status and page themselves.
        if message.text.startswith(VENDOR_NOTICES):
            return
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console error at {message.location.get('url')}: {message.text}")

    def uncaught(self, error: Error) -> None:
        self.errors.append(f"uncaught JavaScript error: {error.message}")


@pytest.fixture
def context(
    browser: Browser, live_server: LiveServer, request: pytest.FixtureRequest
) -> Iterator[BrowserContext]:
    """A fresh browser context (no cookies) per test, recording a trace kept only on failure.

    `@pytest.mark.browser_context(...)` passes options to it, such as java_script_enabled=False.
    """
    marker = request.node.get_closest_marker("browser_context")
    options = {"locale": "en-GB", "timezone_id": "Europe/London", **(marker.kwargs if marker else {})}
    context = browser.new_context(base_url=live_server.url, **options)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.tracing.start(screenshots=True, snapshots=True, sources=False)
    yield context
    if _failed(request.node):
        folder = _results_folder(request.node)
        for number, page in enumerate(context.pages, start=1):
            page.screenshot(path=folder / f"page-{number}.png", full_page=True)
        context.tracing.stop(path=folder / "trace.zip")
        print(f"\nbrowser test failed: screenshot and trace in {folder}")
    else:
        context.tracing.stop()
    context.close()


@pytest.fixture
def page_problems() -> PageProblems:
    """The errors `page` has reported so far; a test that causes some on purpose checks and clears them."""
    return PageProblems()


@pytest.fixture
def page(
    context: BrowserContext, page_problems: PageProblems, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A page in this test's context; any JavaScript or console error on it fails the test."""
    page = context.new_page()
    problems = page_problems
    page.on("console", problems.console)
    page.on("pageerror", problems.uncaught)
    yield page
    if problems.errors and not _failed(request.node):
        pytest.fail("the page reported errors:\n" + "\n".join(problems.errors), pytrace=False)


def _failed(item: pytest.Item) -> bool:
    return any(getattr(getattr(item, f"report_{when}", None), "failed", False) for when in ("setup", "call"))


def _results_folder(item: pytest.Item) -> Path:
    folder = RESULTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", item.nodeid.split("::", 1)[-1]).strip("-")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


# ------------------------------------------------------------------------------------ signing in


@pytest.fixture
def sign_in(page: Page) -> Callable[..., Page]:
    """Sign in on the sign-in page as `username` (the area's password unless given); return the page."""

    def signing_in(username: str, password: str = PASSWORD) -> Page:
        page.goto("/sign-in")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        return page

    return signing_in
