"""An oversight review keeps the steps it found late against their National Standard (the first
review, due from allocation, checks the induction, the OASys assessment and the plans).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Reviews recorded before it checked nothing: NULL, not an empty list.
    op.add_column("oversight_review", sa.Column("late_standards", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("oversight_review", "late_standards")
