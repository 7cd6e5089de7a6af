"""A database with no tables at all, for tests that build the schema themselves with migrations.

On SQLite: a file in a folder that does not exist yet. On PostgreSQL: a fresh schema of its own in
the test database (first on the connection's search path), dropped afterwards with everything in
it, so the tables the other tests create in the default schema are never touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import POSTGRES, POSTGRES_URL
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


@contextmanager
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database on the backend under test."""
    if not POSTGRES:
        yield f"sqlite:///{tmp_path / 'not-yet' / 'riskflow.db'}"
        return
    if not POSTGRES_URL:
        pytest.fail("RISKFLOW_TEST_BACKEND=postgresql needs RISKFLOW_TEST_DATABASE_URL")
    schema = f"riskflow_scratch_{uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, poolclass=NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
