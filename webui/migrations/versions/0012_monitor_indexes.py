"""The monitor at national scale: each process instance and human task carries its case's team
(kept in step by the domain in the same transaction as the row or the case changes), and indexes
from which the overview, the diagram's counts and the stuck list are answered.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TASK_INDEXES = {
    "ix_human_task_open_team_holder": ["state", "team_id", "claimed_by", "assignee", "due_at"],
    "ix_human_task_open_step": ["state", "element_id", "created_at", "due_at"],
    "ix_human_task_open_team_created": ["state", "team_id", "created_at", "element_id", "due_at"],
}


def upgrade() -> None:
    for table in ("process_instance", "human_task"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        # Every existing row takes the team its case has now.
        op.execute(
            f"UPDATE {table} SET team_id = "
            f"(SELECT case_record.team_id FROM case_record WHERE case_record.crn = {table}.business_key)"
        )
    op.create_index(
        "ix_process_instance_status_updated", "process_instance", ["status", "updated_at"], unique=False
    )
    op.create_index(
        "ix_process_instance_team_status", "process_instance", ["team_id", "status", "updated_at"], unique=False
    )
    for name, columns in TASK_INDEXES.items():
        op.create_index(name, "human_task", columns, unique=False)
    op.create_index("ix_case_record_open_stage", "case_record", ["closed_at", "stage", "team_id"], unique=False)
    op.create_index(
        "ix_case_record_team_open_stage", "case_record", ["team_id", "closed_at", "stage"], unique=False
    )
    op.create_index(
        "ix_oversight_review_done", "oversight_review", ["done_at", "on_time", "case_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_oversight_review_done", table_name="oversight_review")
    op.drop_index("ix_case_record_team_open_stage", table_name="case_record")
    op.drop_index("ix_case_record_open_stage", table_name="case_record")
    for name in TASK_INDEXES:
        op.drop_index(name, table_name="human_task")
    op.drop_index("ix_process_instance_team_status", table_name="process_instance")
    op.drop_index("ix_process_instance_status_updated", table_name="process_instance")
    for table in ("human_task", "process_instance"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("team_id")
