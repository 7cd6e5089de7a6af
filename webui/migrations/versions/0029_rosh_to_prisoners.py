"""The register keeps the RoSH to prisoners with the other groups at risk.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-14 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | Sequence[str] | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # No assessment before this kept it: NULL, as for a group not at risk.
    op.add_column("case_record", sa.Column("rosh_to_prisoners", sa.String(length=30), nullable=True))


def downgrade() -> None:
    op.drop_column("case_record", "rosh_to_prisoners")
