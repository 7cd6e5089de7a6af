"""Signed-in sessions kept on the server (webui.staff_sessions): one row per sign-in, named by the
hash of the secret its cookie carries, so that ending it ends every copy of the cookie.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_session",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_session")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_staff_session_secret_hash")),
    )
    op.create_index("ix_staff_session_username", "staff_session", ["username"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_staff_session_username", table_name="staff_session")
    op.drop_table("staff_session")
