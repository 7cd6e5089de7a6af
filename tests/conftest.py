"""Shared fixtures: a fresh database per test (SQLite file, or PostgreSQL when asked), a clock
that only moves when told to, and an engine wired with test services.

Set RISKFLOW_TEST_BACKEND=postgresql and RISKFLOW_TEST_DATABASE_URL to run the suite on PostgreSQL.

Generated tests (Hypothesis, and schemathesis on it) draw the same cases on every run, and keep no
example database whose finds would change the next run: a failure means the code changed. `make fuzz`
sets RISKFLOW_HYPOTHESIS_PROFILE=fuzz to draw fresh random cases instead.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from sqlalchemy import text

from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.runtime import Actor, ProcessEngine
from engine.scripting import ServiceRegistry, StepContext
from tasks.wiring import plug_in_the_register
from webui.schema import TARGET_METADATA

settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("fuzz", derandomize=False, database=None)
settings.load_profile(os.environ.get("RISKFLOW_HYPOTHESIS_PROFILE", "deterministic"))

FIXTURES = Path(__file__).parent / "fixtures"
BUNDLES = FIXTURES / "bundles"
POSTGRES = os.environ.get("RISKFLOW_TEST_BACKEND") == "postgresql"
POSTGRES_URL = os.environ.get("RISKFLOW_TEST_DATABASE_URL", "")

# Monday 2 November 2026, 09:00 UTC: a working day, so due-date arithmetic is easy to read.
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

CLERK = Actor("clerk.one", frozenset({"CLERK"}))
CLERK_TWO = Actor("clerk.two", frozenset({"CLERK"}))
MANAGER = Actor("manager.one", frozenset({"MANAGER"}))


def metadatas() -> list[Any]:
    """Every table set the app creates: the same list the migrations manage."""
    return list(TARGET_METADATA)


_pg_tests_so_far: list[bool] = []  # one entry per PostgreSQL test so far; the first rebuilt the schema


def postgres_database() -> Database:
    """The PostgreSQL test database, emptied (its schema made once per run)."""
    if not POSTGRES_URL:
        pytest.fail("RISKFLOW_TEST_BACKEND=postgresql needs RISKFLOW_TEST_DATABASE_URL")
    db = Database(POSTGRES_URL)
    if not _pg_tests_so_far:
        _commit_without_waiting_for_the_disk(db)
        for metadata in metadatas():
            metadata.drop_all(db.engine)
            metadata.create_all(db.engine)
        _vacuum(db, tables=())  # the whole database, its catalogs too: earlier runs' dropped tables
    _pg_tests_so_far.append(True)
    if len(_pg_tests_so_far) % VACUUM_EVERY == 0:
        _vacuum(db, tables=_TABLES)
    with db.engine.begin() as conn:
        conn.execute(text(_EMPTY_EVERY_TABLE))
        # The tally triggers (engine.tally) counted those deletions in work_tally at the statement's end.
        conn.execute(text("DELETE FROM work_tally"))
        conn.execute(text(_RESTART_EVERY_SEQUENCE))
    return db


def _commit_without_waiting_for_the_disk(db: Database) -> None:
    """Let every connection to the test database (this run's, its workers' and its subprocesses')
    commit without waiting for the write-ahead log to reach the disk: about 6 ms a commit saved,
    thousands of times a run. A crash of the server itself could lose the last commits; a test
    database can bear that, and killing a worker (as the timer tests do) loses nothing."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        name = conn.execute(text("SELECT current_database()")).scalar_one()
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    db.engine.dispose()  # connections opened from now on take the setting


# Every test deletes every row, and a server without autovacuum (as CI's may be) keeps the dead
# rows: scans, and the per-test reset itself, then slow down through the run. A plain VACUUM of
# the app's tables every so many tests keeps them small (about 0.1 s each time).
VACUUM_EVERY = 40


def _vacuum(db: Database, tables: tuple[str, ...]) -> None:
    """VACUUM the named tables (every table, catalogs included, when none are named). It cannot
    run inside a transaction, so on a connection of its own in autocommit."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM {', '.join(tables)}"))


def _empty_every_table() -> str:
    """One statement deleting every row of every table. Foreign keys are checked at the end of a
    statement, so the order of the tables (and the cycle between team and staff) does not matter.
    Far cheaper than TRUNCATE, which rewrites each table's files: about a second a test."""
    tables = [t.name for m in metadatas() for t in m.sorted_tables]
    deletes = ", ".join(f"emptied_{n} AS (DELETE FROM {name})" for n, name in enumerate(tables[1:]))
    return f"WITH {deletes} DELETE FROM {tables[0]}"


_TABLES = tuple(t.name for m in metadatas() for t in m.sorted_tables)
_EMPTY_EVERY_TABLE = _empty_every_table()
# Ids start at 1 again in every test, as after TRUNCATE ... RESTART IDENTITY.
_RESTART_EVERY_SEQUENCE = (
    "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, 1, false) "
    "FROM pg_sequences WHERE schemaname = current_schema()"
)


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy an SQLite database file page by page (whatever its journal holds): a fresh database
    of a test's own, far cheaper than creating its tables again."""
    reading, writing = sqlite3.connect(source), sqlite3.connect(target)
    try:
        reading.backup(writing)
    finally:
        reading.close()
        writing.close()


@pytest.fixture(scope="session", autouse=True)
def _register_plugged_in() -> None:
    """The register finds the critical-few table in force as the app, the worker and the CLI do."""
    plug_in_the_register()


@pytest.fixture(scope="session")
def empty_sqlite_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file with every table and no rows, made once per run for `database` to copy."""
    path = tmp_path_factory.mktemp("schema") / "empty.db"
    db = Database(f"sqlite:///{path}")
    for metadata in metadatas():
        metadata.create_all(db.engine)
    db.dispose()
    return path


@pytest.fixture
def database(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """An empty database with every table, on the backend under test."""
    if POSTGRES:
        db = postgres_database()
    else:
        path = tmp_path / "riskflow-test.db"
        copy_sqlite(request.getfixturevalue("empty_sqlite_schema"), path)
        db = Database(f"sqlite:///{path}")
    yield db
    db.dispose()


@pytest.fixture
def clock() -> ManualClock:
    """A clock standing still at START until a test moves it."""
    return ManualClock(START)


@pytest.fixture
def service_calls() -> list[dict[str, Any]]:
    """What the test service operations were called with."""
    return []


@pytest.fixture
def services(service_calls: list[dict[str, Any]]) -> ServiceRegistry:
    """Service operations the fixture models call."""
    registry = ServiceRegistry()

    def record_decision(ctx: StepContext, amount: int, approved: bool) -> dict[str, Any]:
        service_calls.append({"op": "record_decision", "key": ctx.business_key, "amount": amount})
        return {"receipt": f"R-{ctx.business_key}-{amount}", "approved": approved}

    def flaky(ctx: StepContext, note: str) -> dict[str, Any]:
        service_calls.append({"op": "flaky", "note": note})
        if note != "fixed":
            raise ConnectionError("the records system did not answer")
        return {"ok": True}

    registry.register("record_decision", record_decision)
    registry.register("flaky", flaky)
    return registry


@pytest.fixture
def engine(database: Database, clock: ManualClock, services: ServiceRegistry) -> ProcessEngine:
    """An engine on the test database with the fixture roles and services."""
    return ProcessEngine(database, clock=clock, services=services, known_roles={"CLERK", "MANAGER"})


def bundle(name: str) -> Bundle:
    """A fixture bundle by folder name."""
    return Bundle.from_directory(BUNDLES / name, name=name)
