"""Tallies of open work, kept by the database itself in the transaction that changes the work.

A dashboard over a large population cannot count every open task and every message wait on each
request. The `work_tally` table holds those counts, grouped the way the monitor asks, and database
triggers on `human_task`, `message_wait` and `process_instance` add and take away from it in the
same statement as the row changes: whichever code writes the row (the engine's step, a
reassignment, a bulk update), the tally moves with it, commits with it and rolls back with it. A
change adds to or takes from a row with `n = n + 1` (INSERT ... ON CONFLICT DO UPDATE), never by
reading and writing back, so two steps committing at once cannot lose a change.

Three kinds of row, each keyed by a name, the team (`team_id`, 0 for none), the day something
started waiting (`since_day`, days from 1 January 1970 UTC) and the week it is due (`due_week`,
weeks from Monday 5 January 1970 UTC; NO_WEEK without a due date), 0 where a kind has no such part:

- `holder`: open tasks by the user holding them (claimer, else assignee; '' for the pool), team and
  due week;
- `step`: open tasks by element id, creation day and due week, over every team (`team_id` 0: one
  team's tasks are few enough to count from the rows);
- `wait`: message waits of unfinished instances by message name, team and the day the instance
  last moved.

What is overdue depends on the present, so a question reads the tallies of the days and weeks that
are wholly on one side of the moment it asks about, and counts the rows of the day or week that
holds that moment (this week, for due dates; the day of a step's cutoff, for waiting) from the
indexed tables: a few days of rows instead of all of them.

`rebuild` recomputes every tally from the rows (the migration that creates the table does, and
`riskflow tally rebuild` can); `differences` compares the tallies with a direct count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, text

NO_WEEK = 2_147_483_647  # no due date: never past
_EPOCH_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)
_WEEK = timedelta(days=7)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)
UNFINISHED = ("running", "waiting", "awaiting_people", "suspended", "error")
KINDS = ("holder", "step", "wait")


def week_of(moment: datetime) -> int:
    """The week (counted from Monday 5 January 1970, UTC) that holds `moment`."""
    return (moment - _EPOCH_MONDAY) // _WEEK


def week_start(week: int) -> datetime:
    """Monday 00:00 UTC of the week."""
    return _EPOCH_MONDAY + week * _WEEK


def day_of(moment: datetime) -> int:
    """The day (counted from 1 January 1970, UTC) that holds `moment`."""
    return (moment - _EPOCH) // _DAY


def day_start(day: int) -> datetime:
    """00:00 UTC of the day."""
    return _EPOCH + day * _DAY


# ----------------------------------------------------------------------------------- SQL pieces


def _week_sql(dialect: str, column: str) -> str:
    if dialect == "sqlite":
        return f"((CAST(strftime('%s', {column}) AS INTEGER) - 345600) / 604800)"
    return f"CAST(floor((extract(epoch FROM {column}) - 345600) / 604800) AS INTEGER)"


def _day_sql(dialect: str, column: str) -> str:
    if dialect == "sqlite":
        return f"(CAST(strftime('%s', {column}) AS INTEGER) / 86400)"
    return f"CAST(floor(extract(epoch FROM {column}) / 86400) AS INTEGER)"


def _due_week_sql(dialect: str, column: str) -> str:
    return f"COALESCE({_week_sql(dialect, column)}, {NO_WEEK})"


_UPSERT = (
    " ON CONFLICT (kind, name, team_id, since_day, due_week) DO UPDATE SET n = work_tally.n + excluded.n"
)
_COLUMNS = "INSERT INTO work_tally (kind, name, team_id, since_day, due_week, n) "


def _task_rows(dialect: str, row: str, sign: str) -> list[str]:
    """The two statements that add (sign '+') or take away ('-') one open task row (NEW or OLD)."""
    holder = f"COALESCE({row}.claimed_by, {row}.assignee, '')"
    team = f"COALESCE({row}.team_id, 0)"
    due = _due_week_sql(dialect, f"{row}.due_at")
    created = _day_sql(dialect, f"{row}.created_at")
    return [
        f"{_COLUMNS}VALUES ('holder', {holder}, {team}, 0, {due}, {sign}1){_UPSERT}",
        f"{_COLUMNS}VALUES ('step', {row}.element_id, 0, {created}, {due}, {sign}1){_UPSERT}",
    ]


def _wait_row(dialect: str, wait: str, sign: str) -> str:
    """Add or take away one message wait, at its instance's team and week, if the instance is unfinished."""
    statuses = ", ".join(f"'{s}'" for s in UNFINISHED)
    return (
        f"{_COLUMNS}SELECT 'wait', {wait}.message_name, COALESCE(i.team_id, 0), "
        f"{_day_sql(dialect, 'i.updated_at')}, 0, {sign}1 FROM process_instance i "
        f"WHERE i.id = {wait}.instance_id AND i.status IN ({statuses}){_UPSERT}"
    )


def _instance_waits(dialect: str, row: str, sign: str) -> str:
    """Add or take away every wait of an instance, as the instance row `row` (NEW or OLD) places them."""
    statuses = ", ".join(f"'{s}'" for s in UNFINISHED)
    return (
        f"{_COLUMNS}SELECT 'wait', w.message_name, COALESCE({row}.team_id, 0), "
        f"{_day_sql(dialect, f'{row}.updated_at')}, 0, {sign}count(*) FROM message_wait w "
        f"WHERE w.instance_id = {row}.id AND {row}.status IN ({statuses}) "
        f"GROUP BY w.message_name{_UPSERT}"
    )


def _task_key(dialect: str, row: str) -> str:
    """The task columns the tallies depend on, compared between OLD and NEW to skip no-op updates."""
    return (
        f"{row}.state, COALESCE({row}.claimed_by, {row}.assignee, ''), COALESCE({row}.team_id, 0), "
        f"{row}.element_id, {row}.created_at, {row}.due_at"
    )


def trigger_ddl(dialect: str) -> list[str]:
    """The statements that create the triggers keeping `work_tally` in step, for the dialect."""
    statuses = ", ".join(f"'{s}'" for s in UNFINISHED)
    if dialect == "sqlite":
        changed_task = " OR ".join(
            f"OLD.{c} IS NOT NEW.{c}"
            for c in ("state", "claimed_by", "assignee", "team_id", "element_id", "created_at", "due_at")
        )
        changed_instance = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ("status", "team_id", "updated_at"))
        return [
            "CREATE TRIGGER work_tally_task_insert AFTER INSERT ON human_task WHEN NEW.state = 'open' "
            f"BEGIN {'; '.join(_task_rows(dialect, 'NEW', '+'))}; END",
            "CREATE TRIGGER work_tally_task_delete AFTER DELETE ON human_task WHEN OLD.state = 'open' "
            f"BEGIN {'; '.join(_task_rows(dialect, 'OLD', '-'))}; END",
            "CREATE TRIGGER work_tally_task_leave AFTER UPDATE ON human_task "
            f"WHEN OLD.state = 'open' AND ({changed_task}) "
            f"BEGIN {'; '.join(_task_rows(dialect, 'OLD', '-'))}; END",
            "CREATE TRIGGER work_tally_task_enter AFTER UPDATE ON human_task "
            f"WHEN NEW.state = 'open' AND ({changed_task}) "
            f"BEGIN {'; '.join(_task_rows(dialect, 'NEW', '+'))}; END",
            "CREATE TRIGGER work_tally_wait_insert AFTER INSERT ON message_wait "
            f"BEGIN {_wait_row(dialect, 'NEW', '+')}; END",
            "CREATE TRIGGER work_tally_wait_delete AFTER DELETE ON message_wait "
            f"BEGIN {_wait_row(dialect, 'OLD', '-')}; END",
            "CREATE TRIGGER work_tally_instance_update AFTER UPDATE ON process_instance "
            f"WHEN ({changed_instance}) AND (OLD.status IN ({statuses}) OR NEW.status IN ({statuses})) "
            f"BEGIN {_instance_waits(dialect, 'OLD', '-')}; {_instance_waits(dialect, 'NEW', '+')}; END",
        ]
    task_minus = ";\n    ".join(_task_rows(dialect, "OLD", "-"))
    task_plus = ";\n    ".join(_task_rows(dialect, "NEW", "+"))
    return [
        f"""CREATE OR REPLACE FUNCTION work_tally_task() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF ROW({_task_key(dialect, "OLD")}) IS NOT DISTINCT FROM ROW({_task_key(dialect, "NEW")}) THEN
      RETURN NULL;
    END IF;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    IF OLD.state = 'open' THEN
    {task_minus};
    END IF;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    IF NEW.state = 'open' THEN
    {task_plus};
    END IF;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
        f"""CREATE OR REPLACE FUNCTION work_tally_wait() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    {_wait_row(dialect, "OLD", "-")};
  ELSE
    {_wait_row(dialect, "NEW", "+")};
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
        f"""CREATE OR REPLACE FUNCTION work_tally_instance() RETURNS trigger AS $$
BEGIN
  IF ROW(OLD.status, OLD.team_id, OLD.updated_at) IS NOT DISTINCT FROM
     ROW(NEW.status, NEW.team_id, NEW.updated_at) THEN
    RETURN NULL;
  END IF;
  {_instance_waits(dialect, "OLD", "-")};
  {_instance_waits(dialect, "NEW", "+")};
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
        "CREATE TRIGGER work_tally_task AFTER INSERT OR UPDATE OR DELETE ON human_task "
        "FOR EACH ROW EXECUTE FUNCTION work_tally_task()",
        "CREATE TRIGGER work_tally_wait AFTER INSERT OR DELETE ON message_wait "
        "FOR EACH ROW EXECUTE FUNCTION work_tally_wait()",
        "CREATE TRIGGER work_tally_instance AFTER UPDATE OF status, team_id, updated_at ON process_instance "
        "FOR EACH ROW EXECUTE FUNCTION work_tally_instance()",
    ]


def drop_trigger_ddl(dialect: str) -> list[str]:
    """The statements that remove the triggers (and on PostgreSQL their functions)."""
    if dialect == "sqlite":
        names = ["task_insert", "task_delete", "task_leave", "task_enter", "wait_insert", "wait_delete"]
        return [f"DROP TRIGGER IF EXISTS work_tally_{n}" for n in [*names, "instance_update"]]
    return [
        "DROP TRIGGER IF EXISTS work_tally_task ON human_task",
        "DROP TRIGGER IF EXISTS work_tally_wait ON message_wait",
        "DROP TRIGGER IF EXISTS work_tally_instance ON process_instance",
        "DROP FUNCTION IF EXISTS work_tally_task()",
        "DROP FUNCTION IF EXISTS work_tally_wait()",
        "DROP FUNCTION IF EXISTS work_tally_instance()",
    ]


def _direct_sql(dialect: str) -> str:
    """Every tally as a direct count over the rows (what the triggers keep)."""
    statuses = ", ".join(f"'{s}'" for s in UNFINISHED)
    holder = "COALESCE(claimed_by, assignee, '')"
    due = _due_week_sql(dialect, "due_at")
    created = _day_sql(dialect, "created_at")
    return f"""
        SELECT 'holder' AS kind, {holder} AS name, COALESCE(team_id, 0) AS team_id, 0 AS since_day,
               {due} AS due_week, count(*) AS n
        FROM human_task WHERE state = 'open' GROUP BY {holder}, COALESCE(team_id, 0), {due}
        UNION ALL
        SELECT 'step', element_id, 0, {created}, {due}, count(*)
        FROM human_task WHERE state = 'open' GROUP BY element_id, {created}, {due}
        UNION ALL
        SELECT 'wait', w.message_name, COALESCE(i.team_id, 0), {_day_sql(dialect, "i.updated_at")}, 0,
               count(*)
        FROM message_wait w JOIN process_instance i ON i.id = w.instance_id
        WHERE i.status IN ({statuses})
        GROUP BY w.message_name, COALESCE(i.team_id, 0), {_day_sql(dialect, "i.updated_at")}
    """


def rebuild(connection: Connection) -> int:
    """Recompute every tally from the rows, in the caller's transaction; returns the rows written.

    Writers of tasks, waits and instances wait until the caller commits (on PostgreSQL the three
    tables are locked against writes; SQLite has one writer at a time), so no step is missed.
    """
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("LOCK TABLE human_task, message_wait, process_instance IN SHARE MODE"))
    connection.execute(text("DELETE FROM work_tally"))
    result = connection.execute(
        text(f"INSERT INTO work_tally (kind, name, team_id, since_day, due_week, n) {_direct_sql(dialect)}")
    )
    return int(result.rowcount or 0)


def differences(connection: Connection) -> list[tuple[str, str, int, int, int, int, int]]:
    """Tallies that differ from a direct count: (kind, name, team, since_day, due_week, kept, counted).

    One statement, so the tallies and the count are read from one snapshot while steps go on."""
    key = "kind, name, team_id, since_day, due_week"
    found = connection.execute(
        text(
            f"SELECT {key}, sum(kept), sum(counted) FROM ("
            f"SELECT {key}, n AS kept, 0 AS counted FROM work_tally UNION ALL "
            f"SELECT {key}, 0, n FROM ({_direct_sql(connection.dialect.name)}) AS direct"
            f") AS both_sides GROUP BY {key} HAVING sum(kept) <> sum(counted) ORDER BY {key}"
        )
    )
    return [
        (str(kind), str(name), int(team), int(day), int(week), int(kept), int(counted))
        for kind, name, team, day, week, kept, counted in found
    ]
