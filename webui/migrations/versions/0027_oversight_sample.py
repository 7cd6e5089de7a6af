"""The low-risk oversight sample: a sampled plan keeps its rate, and every draw (picked or not) is kept
with its period, seed, rate and number. An oversight review keeps the ACO's sign-off (very high RoSH
and MAPPA level 3 cases).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("oversight_plan", sa.Column("sample_rate", sa.Integer(), nullable=True))
    op.add_column("oversight_review", sa.Column("signed_off_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("oversight_review", sa.Column("signed_off_by", sa.String(length=100), nullable=True))
    op.add_column("oversight_review", sa.Column("sign_off_actions", sa.Text(), nullable=True))
    op.create_table(
        "oversight_sample_draw",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("plan_id", ID, nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("seed", sa.String(length=100), nullable=False),
        sa.Column("rate", sa.Integer(), nullable=False),
        sa.Column("draw", sa.Integer(), nullable=False),
        sa.Column("picked", sa.Boolean(), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drawn_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_oversight_sample_draw_case_id_case_record")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["oversight_plan.id"], name=op.f("fk_oversight_sample_draw_plan_id_oversight_plan")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oversight_sample_draw")),
        sa.UniqueConstraint("case_id", "period", name="uq_oversight_sample_draw_period"),
    )
    op.create_index("ix_oversight_sample_draw_case_id", "oversight_sample_draw", ["case_id"])
    op.create_index("ix_oversight_sample_draw_drawn", "oversight_sample_draw", ["drawn_at", "picked"])


def downgrade() -> None:
    op.drop_table("oversight_sample_draw")
    op.drop_column("oversight_review", "sign_off_actions")
    op.drop_column("oversight_review", "signed_off_by")
    op.drop_column("oversight_review", "signed_off_at")
    op.drop_column("oversight_plan", "sample_rate")
