"""Tallies of open work kept by the database (engine.tally): the `work_tally` table, the triggers on
`human_task`, `message_wait` and `process_instance` that keep it in step with every change, the
tallies of the work already there, an index for the tasks due this week (replacing the
overview's index by team and holder, which the tallies answer now), an instance's message
waits indexed with their names (replacing the index on the instance alone), and open critical cases
indexed for the overview's count of them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from engine.tally import drop_trigger_ddl, rebuild, trigger_ddl

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUE_COLUMNS = ["state", "due_at", "team_id", "element_id", "created_at", "claimed_by", "assignee"]
HOLDER_COLUMNS = ["state", "team_id", "claimed_by", "assignee", "due_at"]


def upgrade() -> None:
    op.create_table(
        "work_tally",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("since_day", sa.Integer(), nullable=False),
        sa.Column("due_week", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_tally")),
        sa.UniqueConstraint("kind", "name", "team_id", "since_day", "due_week", name="uq_work_tally_key"),
    )
    connection = op.get_bind()
    for statement in trigger_ddl(connection.dialect.name):
        op.execute(statement)
    rebuild(connection)
    op.create_index("ix_human_task_open_due", "human_task", DUE_COLUMNS, unique=False)
    op.drop_index("ix_human_task_open_team_holder", table_name="human_task")
    op.create_index("ix_message_wait_instance", "message_wait", ["instance_id", "message_name"], unique=False)
    op.drop_index("ix_message_wait_instance_id", table_name="message_wait")
    op.create_index(
        "ix_case_record_critical_open", "case_record", ["critical", "closed_at", "team_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_case_record_critical_open", table_name="case_record")
    op.create_index("ix_message_wait_instance_id", "message_wait", ["instance_id"], unique=False)
    op.drop_index("ix_message_wait_instance", table_name="message_wait")
    op.create_index("ix_human_task_open_team_holder", "human_task", HOLDER_COLUMNS, unique=False)
    op.drop_index("ix_human_task_open_due", table_name="human_task")
    for statement in drop_trigger_ddl(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table("work_tally")
