"""How Alembic reaches riskflow's database and which tables it manages.

The URL comes from the caller (`riskflow db upgrade` passes its connection), from `-x url=...`,
or from the riskflow settings (RISKFLOW_DATABASE_URL). Migrations are rendered in batch mode so
that the same script can alter tables on SQLite as well as on PostgreSQL.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, MetaData

from webui.config import load_settings
from webui.schema import TARGET_METADATA, migration_engine

# The table sets riskflow owns: add a package's metadata to TARGET_METADATA in webui/schema.py.
target_metadata: list[MetaData] = TARGET_METADATA

config = context.config


def database_url() -> str:
    """The URL to migrate: given by the caller, by `-x url=...`, or by the riskflow settings."""
    given = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    return str(given) if given else load_settings().database_url


def run_migrations_offline() -> None:
    """Write the SQL to standard output instead of running it (`alembic upgrade --sql`)."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_with(connection: Connection) -> None:
    """Run the migrations on an open connection, in one transaction."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations against the database."""
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    engine = migration_engine(database_url())
    try:
        with engine.begin() as own_connection:
            run_with(own_connection)
    finally:
        engine.dispose()


if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
