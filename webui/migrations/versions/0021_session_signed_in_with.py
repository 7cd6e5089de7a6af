"""How each signed-in session began: with a password, or through the area's identity provider
(OpenID Connect). Sessions from before this revision were all password sign-ins.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_session") as batch:
        batch.add_column(
            sa.Column("signed_in_with", sa.String(length=20), nullable=False, server_default="password")
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_session") as batch:
        batch.drop_column("signed_in_with")
