"""Failed sign-ins counted per client address and per username (webui.throttle), in the database so
every web process sees the same counts; the per-credential run of failures and lock go, since a
username is now slowed down rather than locked.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 16:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failure",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failure")),
    )
    op.create_index("ix_sign_in_failure_address_at", "sign_in_failure", ["address", "at"], unique=False)
    op.create_index("ix_sign_in_failure_username_at", "sign_in_failure", ["username", "at"], unique=False)
    with op.batch_alter_table("staff_credential") as batch:
        batch.drop_column("failed_attempts")
        batch.drop_column("locked_until")


def downgrade() -> None:
    with op.batch_alter_table("staff_credential") as batch:
        batch.add_column(sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("staff_credential") as batch:
        batch.alter_column("failed_attempts", existing_type=sa.Integer(), server_default=None)
    op.drop_index("ix_sign_in_failure_username_at", table_name="sign_in_failure")
    op.drop_index("ix_sign_in_failure_address_at", table_name="sign_in_failure")
    op.drop_table("sign_in_failure")
