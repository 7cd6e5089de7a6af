"""Staff records kept: the qualification date and senior-practitioner post the experience band
derives from, a leaver's leaving date, and absences (leave, sickness, training).

Records kept before keep the band typed by hand until their dates are recorded (no date is guessed).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("qualified_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("senior_practitioner_since", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("leaving_on", sa.Date(), nullable=True))
    op.create_table(
        "staff_absence",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_staff_absence_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_absence")),
    )
    with op.batch_alter_table("staff_absence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_absence_staff_id"), ["staff_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_absence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_absence_staff_id"))
    op.drop_table("staff_absence")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("leaving_on")
        batch_op.drop_column("senior_practitioner_since")
        batch_op.drop_column("qualified_on")
