"""The history of each case's limited-access lists (casework.models.AccessListChange): who added or
removed whom, or set the messages, when and why. People already on a list get an "added" row from
their entry, with a reason saying it was made before changes were kept.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EARLIER_ENTRY = "On the list before changes to the lists were kept."


def upgrade() -> None:
    op.create_table(
        "access_list_change",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("on_list", sa.String(length=30), nullable=True),
        sa.Column("staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_access_list_change_case_id_case_record")
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_access_list_change_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_list_change")),
    )
    op.create_index("ix_access_list_change_case_at", "access_list_change", ["case_id", "at"], unique=False)
    # The people already on a list keep a history that says how they got there.
    op.execute(
        sa.text(
            "INSERT INTO access_list_change (case_id, at, by, action, on_list, staff_id, reason) "
            "SELECT l.case_id, e.added_at, e.added_by, 'added', e.on_list, e.staff_id, :reason "
            "FROM access_list_entry e JOIN access_limitation l ON l.id = e.limitation_id ORDER BY e.id"
        ).bindparams(reason=EARLIER_ENTRY)
    )


def downgrade() -> None:
    op.drop_index("ix_access_list_change_case_at", table_name="access_list_change")
    op.drop_table("access_list_change")
