"""The migrations build exactly the tables the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from empty_database import empty_database_url
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from engine.tally import differences as tally_differences
from webui.schema import (
    TARGET_METADATA,
    SchemaNotReadyError,
    downgrade,
    head_revisions,
    require_current_schema,
    upgrade,
)


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with empty_database_url(tmp_path) as empty:
        yield empty


def differences(url: str) -> list[Any]:
    """What autogenerate would change to make the database match the models (nothing, we hope)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, TARGET_METADATA))  # type: ignore[arg-type]
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_on_an_empty_database_matches_the_models(url: str) -> None:
    before, after = upgrade(url)
    assert before == set()
    assert after == head_revisions(url)
    assert differences(url) == []


def test_every_model_table_is_made_by_a_migration(url: str) -> None:
    upgrade(url)
    model_tables = {t.name for metadata in TARGET_METADATA for t in metadata.sorted_tables}
    assert model_tables <= table_names(url)


def test_downgrade_to_base_removes_every_table_and_upgrade_brings_them_back(url: str) -> None:
    upgrade(url)
    downgrade(url, "base")
    assert table_names(url) <= {"alembic_version"}
    upgrade(url)
    assert differences(url) == []


def test_upgrading_twice_changes_nothing(url: str) -> None:
    upgrade(url)
    before, after = upgrade(url)
    assert before == after == head_revisions(url)


def test_the_migrations_end_at_one_head(url: str) -> None:
    assert len(head_revisions(url)) == 1


def test_a_database_never_upgraded_is_refused_with_what_to_run(url: str) -> None:
    upgrade(url)
    downgrade(url, "base")
    engine = create_engine(url, poolclass=NullPool)
    try:
        with pytest.raises(SchemaNotReadyError, match="riskflow db upgrade"):
            require_current_schema(engine, url)
        upgrade(url)
        require_current_schema(engine, url)
    finally:
        engine.dispose()


def two_cases_at_work(connection: Any, at: str) -> None:
    """Two cases (one in a team, one in none), each with a waiting instance and an open task."""
    connection.execute(
        text("INSERT INTO team (id, code, name, office, district) VALUES (7, 'N', 'North', 'o', 'd')")
    )
    connection.execute(
        text(
            "INSERT INTO case_record (id, crn, stage, team_id, created_at) "
            "VALUES (1, 'X100001', 'IDENTIFIED', 7, :at), (2, 'X100002', 'IDENTIFIED', NULL, :at)"
        ),
        {"at": at},
    )
    connection.execute(
        text(
            "INSERT INTO process_definition (id, name, version, content_hash, process_ids, "
            "lanes, specs, deployed_at, deployed_by, note) "
            "VALUES (1, 'om', 1, 'h', '[]', '{}', '', :at, 'x', '')"
        ),
        {"at": at},
    )
    for n, crn in ((1, "X100001"), (2, "X100002")):
        connection.execute(
            text(
                "INSERT INTO process_instance (id, definition_id, process_id, business_key, status, "
                "state, version, started_by, created_at, updated_at) "
                "VALUES (:n, 1, 'om', :crn, 'waiting', '', 1, 'x', :at, :at)"
            ),
            {"n": n, "crn": crn, "at": at},
        )
        connection.execute(
            text(
                "INSERT INTO human_task (instance_id, task_guid, element_id, process_id, title, "
                "business_key, state, created_at, priority) "
                "VALUES (:n, :guid, 'a', 'om', 'A', :crn, 'open', :at, 0)"
            ),
            {"n": n, "guid": f"guid-{n}", "crn": crn, "at": at},
        )


def test_upgrading_to_0012_gives_existing_instances_and_tasks_their_cases_team(url: str) -> None:
    upgrade(url, "0011")
    engine = create_engine(url, poolclass=NullPool)
    at = "2026-11-02 09:00:00"
    try:
        with engine.begin() as connection:
            two_cases_at_work(connection, at)
        upgrade(url)
        with engine.connect() as connection:
            for table in ("process_instance", "human_task"):
                rows = connection.execute(
                    text(f"SELECT business_key, team_id FROM {table} ORDER BY business_key")
                )
                assert [tuple(row) for row in rows] == [("X100001", 7), ("X100002", None)]
    finally:
        engine.dispose()


def test_upgrading_to_0015_tallies_the_open_work_already_there_and_keeps_it_tallied(url: str) -> None:
    upgrade(url, "0014")
    engine = create_engine(url, poolclass=NullPool)
    at = "2026-11-02 09:00:00"
    try:
        with engine.begin() as connection:
            two_cases_at_work(connection, at)
            for table in ("process_instance", "human_task"):  # as tasks.case_team keeps them
                connection.execute(text(f"UPDATE {table} SET team_id = 7 WHERE business_key = 'X100001'"))
            connection.execute(
                text(
                    "INSERT INTO message_wait (instance_id, message_name) "
                    "VALUES (1, 'outcome'), (2, 'outcome')"
                )
            )
        upgrade(url)
        with engine.begin() as connection:
            assert tally_differences(connection) == []
            tallied = connection.execute(
                text(
                    "SELECT kind, team_id, sum(n) FROM work_tally "
                    "GROUP BY kind, team_id ORDER BY kind, team_id"
                )
            )
            assert [tuple(row) for row in tallied] == [
                ("holder", 0, 1),
                ("holder", 7, 1),
                ("step", 0, 2),
                ("wait", 0, 1),
                ("wait", 7, 1),
            ]
            connection.execute(text("UPDATE human_task SET state = 'completed' WHERE instance_id = 1"))
            connection.execute(text("UPDATE process_instance SET status = 'completed' WHERE id = 2"))
            assert tally_differences(connection) == []
            assert connection.scalar(text("SELECT sum(n) FROM work_tally WHERE kind = 'wait'")) == 1
        downgrade(url, "0014")
        assert "work_tally" not in table_names(url)
    finally:
        engine.dispose()


def test_upgrading_to_0019_gives_people_already_on_a_list_their_history(url: str) -> None:
    upgrade(url, "0018")
    engine = create_engine(url, poolclass=NullPool)
    at = "2026-11-02 09:00:00"
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO staff (id, username, display_name, grade, started_on, active, extra_roles) "
                    "VALUES (3, 'admin.north', 'Admin North', 'CASE_ADMIN', '2015-04-01', true, '[]')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO case_record (id, crn, stage, created_at) "
                    "VALUES (5, 'X100001', 'IDENTIFIED', :at)"
                ),
                {"at": at},
            )
            connection.execute(
                text(
                    "INSERT INTO access_limitation (id, case_id, set_at, set_by) "
                    "VALUES (1, 5, :at, 'aco.one')"
                ),
                {"at": at},
            )
            connection.execute(
                text(
                    "INSERT INTO access_list_entry (limitation_id, staff_id, on_list, added_at, added_by) "
                    "VALUES (1, 3, 'EXCLUSION', :at, 'aco.one')"
                ),
                {"at": at},
            )
        upgrade(url)
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT case_id, by, action, on_list, staff_id, reason FROM access_list_change")
            )
            assert [tuple(r) for r in rows] == [
                (5, "aco.one", "added", "EXCLUSION", 3, "On the list before changes to the lists were kept.")
            ]
    finally:
        engine.dispose()
