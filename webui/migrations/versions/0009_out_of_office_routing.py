"""Out-of-office routing (while an officer is away their new tasks go to a named colleague), and an
index for the monitor's stuck list (open tasks, longest waiting first).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "out_of_office",
        sa.Column("id", Id, nullable=False),
        sa.Column("staff_id", Id, nullable=False),
        sa.Column("cover_id", Id, nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["cover_id"], ["staff.id"], name=op.f("fk_out_of_office_cover_id_staff")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_out_of_office_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_out_of_office")),
        sa.UniqueConstraint("staff_id", name=op.f("uq_out_of_office_staff_id")),
    )
    op.create_index("ix_human_task_open_created", "human_task", ["state", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_human_task_open_created", table_name="human_task")
    op.drop_table("out_of_office")
