"""One access log for every read of case data: who read (a person signed in, or an API token and
whose), for what purpose, and any detail of what was shown; a line may name no case (a search that
showed none). Lines written before this were all case record views by people signed in, except those
made on the way to reporting a change, which said so in their basis.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORT_A_CHANGE = "report a change: "


def upgrade() -> None:
    with op.batch_alter_table("case_access") as batch:
        batch.add_column(
            sa.Column("caller_kind", sa.String(length=20), nullable=False, server_default="person")
        )
        batch.add_column(sa.Column("token", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("purpose", sa.String(length=40), nullable=False, server_default="case record"))
        batch.add_column(sa.Column("detail", sa.Text(), nullable=True))
        batch.alter_column("case_id", existing_type=_id(), nullable=True)
        batch.alter_column("crn", existing_type=sa.String(length=7), nullable=True)
    op.execute(
        sa.text(
            "UPDATE case_access SET purpose = 'report a change', basis = substr(basis, :start) "
            "WHERE basis LIKE :prefix"
        ).bindparams(start=len(REPORT_A_CHANGE) + 1, prefix=REPORT_A_CHANGE + "%")
    )
    # The defaults were only for the lines already there: every new line says who and why.
    with op.batch_alter_table("case_access") as batch:
        batch.alter_column("caller_kind", existing_type=sa.String(length=20), server_default=None)
        batch.alter_column("purpose", existing_type=sa.String(length=40), server_default=None)


def downgrade() -> None:
    # Lines with no case cannot go back into a table that needs one; the rest keep their purpose
    # only where the old basis carried it.
    op.execute(sa.text("DELETE FROM case_access WHERE case_id IS NULL"))
    op.execute(
        sa.text(
            "UPDATE case_access SET basis = :prefix || basis WHERE purpose = 'report a change'"
        ).bindparams(prefix=REPORT_A_CHANGE)
    )
    with op.batch_alter_table("case_access") as batch:
        batch.alter_column("crn", existing_type=sa.String(length=7), nullable=False)
        batch.alter_column("case_id", existing_type=_id(), nullable=False)
        batch.drop_column("detail")
        batch.drop_column("purpose")
        batch.drop_column("token")
        batch.drop_column("caller_kind")


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")
