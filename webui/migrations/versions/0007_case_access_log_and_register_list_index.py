"""The case access log (every view of a case record, and every refusal, with any reason given), an
index for the register list's default order (surname, forename, CRN) and one for finding whom a
member of staff line-manages.

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-26 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "case_access",
        sa.Column("id", ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("crn", sa.String(length=7), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("justification", sa.String(length=30), nullable=True),
        sa.Column("justification_text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_case_access_case_id_case_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_access")),
    )
    op.create_index("ix_case_access_case_at", "case_access", ["case_id", "at"])
    op.create_index("ix_case_access_username_at", "case_access", ["username", "at"])
    op.create_index("ix_case_record_name", "case_record", ["surname", "forename", "crn"])
    op.create_index("ix_case_record_surname_lower", "case_record", [sa.text("lower(surname)")])
    op.create_index("ix_case_record_forename_lower", "case_record", [sa.text("lower(forename)")])
    op.create_index("ix_staff_line_manager_id", "staff", ["line_manager_id"])


def downgrade() -> None:
    op.drop_index("ix_staff_line_manager_id", table_name="staff")
    op.drop_index("ix_case_record_forename_lower", table_name="case_record")
    op.drop_index("ix_case_record_surname_lower", table_name="case_record")
    op.drop_index("ix_case_record_name", table_name="case_record")
    op.drop_index("ix_case_access_username_at", table_name="case_access")
    op.drop_index("ix_case_access_case_at", table_name="case_access")
    op.drop_table("case_access")
