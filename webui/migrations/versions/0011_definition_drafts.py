"""Drafts: a process owner's unpublished edit of a definition's files; and, on each version, the
steps it changed from the one before (to show staff the change note).

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-26 15:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0011"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "definition_draft",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_definition_draft")),
    )
    op.create_index(op.f("ix_definition_draft_name"), "definition_draft", ["name"], unique=False)
    with op.batch_alter_table("process_definition") as batch:
        batch.add_column(sa.Column("changed_steps", sa.JSON(), nullable=True))
    op.create_table(
        "impact_run",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("draft_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("against_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["draft_id"], ["definition_draft.id"], name=op.f("fk_impact_run_draft_id_definition_draft"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_impact_run")),
    )
    op.create_index(op.f("ix_impact_run_draft_id"), "impact_run", ["draft_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_impact_run_draft_id"), table_name="impact_run")
    op.drop_table("impact_run")
    with op.batch_alter_table("process_definition") as batch:
        batch.drop_column("changed_steps")
    op.drop_index(op.f("ix_definition_draft_name"), table_name="definition_draft")
    op.drop_table("definition_draft")
