"""The sentencing outcome as a structured record: one row per outcome a court gave on a case (an
adjournment, then the sentence), with its date, court, end date, custody length or next hearing.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "court_outcome",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("outcome", sa.String(length=30), nullable=False),
        sa.Column("outcome_date", sa.Date(), nullable=False),
        sa.Column("court", sa.String(length=100), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("custody_months", sa.Integer(), nullable=True),
        sa.Column("next_hearing_date", sa.Date(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_court_outcome_case_id_case_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_court_outcome")),
    )
    op.create_index("ix_court_outcome_case_id", "court_outcome", ["case_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_court_outcome_case_id", table_name="court_outcome")
    op.drop_table("court_outcome")
