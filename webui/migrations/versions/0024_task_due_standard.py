"""A task due by a standard keeps the standard in words beside its due date ("National Standard:
15 working days from sentence"), for the inbox, the case record and the monitor.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no table copy on SQLite): the work tally's triggers on the table stay.
    op.add_column("human_task", sa.Column("due_standard", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("human_task", "due_standard")
