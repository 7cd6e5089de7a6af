"""The order's end: each case knows the day its order ends (the end date of a community order or a
suspended sentence order), and why it closed.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain column changes (no batch copy of the table), so the register's expression indexes stay.
    op.add_column("case_record", sa.Column("order_ends_on", sa.Date(), nullable=True))
    op.add_column("case_record", sa.Column("closure_reason", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("case_record", "closure_reason")
    op.drop_column("case_record", "order_ends_on")
