"""The database schema: Alembic migrations to bring it up to date, and a check that it is.

`riskflow db upgrade` runs the migrations under webui/migrations/; every other command that uses the
database first checks that the schema is at the revision this code expects, so a missing or old
database gives a message that says what to run rather than an SQL error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import casework.access_log  # noqa: F401 - the access log's table joins CaseworkBase's metadata
import casework.case_list  # noqa: F401 - and the register list's indexes
import webui.staff_sessions  # noqa: F401 - and signed-in sessions
import webui.throttle  # noqa: F401 - failed sign-ins join WebuiBase's metadata
from casework.models import CaseworkBase
from engine.models import EngineBase
from webui.api.tokens import ApiBase
from webui.credentials import WebuiBase

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
UPGRADE_HINT = "run `riskflow db upgrade`"

# Every table set the migrations manage (env.py and the drift test both read this list); a new
# package's tables are one more entry here.
TARGET_METADATA: list[MetaData] = [
    EngineBase.metadata,
    CaseworkBase.metadata,
    WebuiBase.metadata,
    ApiBase.metadata,
]


class SchemaNotReadyError(Exception):
    """The database is missing, empty, or at another revision than this code expects."""


def alembic_config(url: str) -> Config:
    """Alembic's configuration for our migrations, aimed at `url` (kept out of the ini file)."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = url
    config.attributes["configure_logging"] = False
    return config


def migration_engine(url: str) -> Engine:
    """An engine for running migrations: no pool, and on SQLite one transaction per run.

    The app's own SQLite connections turn foreign keys on, which would break the table copies
    that batch migrations make, so migrations use this plainer engine. Taking BEGIN into our own
    hands makes SQLite's DDL transactional: a failed migration leaves nothing half-applied.
    """
    engine = create_engine(make_url(url), poolclass=NullPool)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _own_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN")

    return engine


def create_sqlite_folder(url: str) -> None:
    """Make the folder that will hold an SQLite database file, if it is missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)


def upgrade(url: str, revision: str = "head") -> tuple[set[str], set[str]]:
    """Apply every migration up to `revision`, all in one transaction; return before and after."""
    create_sqlite_folder(url)
    before = _current(url)
    _run(url, command.upgrade, revision)
    return before, _current(url)


def downgrade(url: str, revision: str) -> None:
    """Undo migrations down to `revision` ("base" removes every table)."""
    _run(url, command.downgrade, revision)


def head_revisions(url: str) -> set[str]:
    """The revisions this code's migrations end at."""
    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def current_revisions(connection: Connection) -> set[str]:
    """The revisions the database is stamped with (empty for a database never upgraded)."""
    return set(MigrationContext.configure(connection).get_current_heads())


def require_current_schema(engine: Engine, url: str) -> None:
    """Raise SchemaNotReadyError, with what to do, unless the database is at this code's head."""
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None and not sqlite_file.exists():
        raise SchemaNotReadyError(f"there is no database at {sqlite_file}: {UPGRADE_HINT} to create it")
    with engine.connect() as connection:
        current = current_revisions(connection)
    heads = head_revisions(url)
    if current == heads:
        return
    safe_url = make_url(url).render_as_string(hide_password=True)
    if not current:
        raise SchemaNotReadyError(f"the database at {safe_url} has no riskflow tables yet: {UPGRADE_HINT}")
    script = ScriptDirectory.from_config(alembic_config(url))
    known = {rev.revision for rev in script.walk_revisions()}
    if current - known:
        raise SchemaNotReadyError(
            f"the database at {safe_url} is at revision {_names(current)}, which this version of "
            "riskflow does not know: it was upgraded by a newer riskflow; run that version"
        )
    raise SchemaNotReadyError(
        f"the database at {safe_url} is at revision {_names(current)}, this version of riskflow "
        f"needs {_names(heads)}: {UPGRADE_HINT}"
    )


def _run(url: str, step: Any, revision: str) -> None:
    config = alembic_config(url)
    engine = migration_engine(url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            step(config, revision)
    except CommandError as err:
        raise SchemaNotReadyError(f"cannot migrate to {revision!r}: {err}") from None
    finally:
        engine.dispose()


def _current(url: str) -> set[str]:
    engine = migration_engine(url)
    try:
        with engine.connect() as connection:
            return current_revisions(connection)
    finally:
        engine.dispose()


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


def _names(revisions: set[str]) -> str:
    return ", ".join(sorted(revisions))
