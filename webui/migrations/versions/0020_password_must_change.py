"""A password an administrator set (a reset) must be changed at the next sign-in, and stops working if
it is not changed in time: a flag on the credential, and when its password was set.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_credential") as batch:
        batch.add_column(
            sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        # Passwords set before this revision have no time; none of them is temporary, so none expires.
        batch.add_column(sa.Column("password_set_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_credential") as batch:
        batch.drop_column("password_set_at")
        batch.drop_column("must_change_password")
