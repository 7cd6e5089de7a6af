"""Custody with a licence: a court outcome carries the release date, how release comes (automatic or
parole-eligible) and the date the licence ends.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-14 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("court_outcome") as batch:
        batch.add_column(sa.Column("release_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("release_type", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("licence_end_date", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("court_outcome") as batch:
        batch.drop_column("licence_end_date")
        batch.drop_column("release_type")
        batch.drop_column("release_date")
