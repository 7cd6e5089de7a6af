"""Database connections and the one transaction helper every unit of work goes through."""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("riskflow.db")

P = ParamSpec("P")
R = TypeVar("R")

# PostgreSQL's "deadlock detected" and "could not serialize access": the database rolled the whole
# transaction back, and running it again from the start is safe.
RETRYABLE_STATES = frozenset({"40P01", "40001"})
ATTEMPTS = 4
_AFTER_COMMIT = "riskflow_after_commit"


def after_commit(session: Session, hook: Callable[[], None]) -> None:
    """Run `hook` once the transaction `session` belongs to has committed (never if it rolls back).

    For what may only be kept in memory once the database holds it too, such as a stepped workflow.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)


class Database:
    """An SQLAlchemy engine plus sessions, tuned for SQLite (WAL) or PostgreSQL.

    On SQLite a writing transaction starts with BEGIN IMMEDIATE, so two writers queue on the
    database lock instead of failing half-way; on PostgreSQL instance rows are locked with
    SELECT ... FOR UPDATE inside the transaction.
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _tune_sqlite(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def supports_skip_locked(self) -> bool:
        """Whether several workers may claim work concurrently (PostgreSQL)."""
        return not self.is_sqlite

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """One unit of work: commit when the block ends, roll everything back on any exception."""
        if self.is_sqlite and write:
            connection = self.engine.connect().execution_options(riskflow_sqlite_begin="IMMEDIATE")
            session = Session(bind=connection, expire_on_commit=False)
        else:
            connection = None
            session = self._sessions()
        try:
            with session.begin():
                yield session
            committed: list[Callable[[], None]] = session.info.pop(_AFTER_COMMIT, [])
        finally:
            session.info.pop(_AFTER_COMMIT, None)
            session.close()
            if connection is not None:
                connection.close()
        for hook in committed:
            hook()

    def dispose(self) -> None:
        """Close every pooled connection (at shutdown, and in tests)."""
        self.engine.dispose()


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the sqlite3 module so BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("riskflow_sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def is_retryable(err: BaseException) -> bool:
    """Whether `err` is a transaction the database undid only because another got in its way."""
    return isinstance(err, DBAPIError) and getattr(err.orig, "sqlstate", None) in RETRYABLE_STATES


def retried_when_deadlocked(unit: Callable[P, R]) -> Callable[P, R]:
    """Run `unit` (one whole transaction, nothing done outside it before it commits) again when the
    database undid it for a deadlock with another transaction, up to ATTEMPTS times in all.

    Two steps that count their work in the same tally rows in opposite orders can deadlock on
    PostgreSQL; the database then rolls one back, and that one simply runs again.
    """

    @functools.wraps(unit)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return unit(*args, **kwargs)
            except DBAPIError as err:
                if attempt == ATTEMPTS or not is_retryable(err):
                    raise
                log.warning("%s undone by the database (%s); running it again", unit.__name__, err.orig)
                time.sleep(random.uniform(0.005, 0.05) * attempt)  # noqa: S311 - jitter, not a secret
        raise AssertionError("unreachable")

    return run
