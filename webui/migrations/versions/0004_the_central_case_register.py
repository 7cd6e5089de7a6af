"""The central case register: teams, staff, cases, ownership history, registrations, oversight plans
and reviews, risk meetings, the case timeline and limited-access lists.

Vocabulary columns (grade, RoSH level, stage...) are plain VARCHAR(30): the values are checked in
casework, so adding a value needs no migration. Datetimes are timezone-aware (casework.models.UTCDateTime
keeps them in UTC). At most one open ownership and one oversight plan in force per case, by partial
unique indexes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 13:23:01.984737
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "team",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("office", sa.String(length=100), nullable=False),
        sa.Column("district", sa.String(length=50), nullable=False),
        sa.Column("spo_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team")),
        sa.UniqueConstraint("code", name=op.f("uq_team_code")),
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("grade", sa.String(length=30), nullable=False),
        sa.Column("extra_roles", sa.JSON(), nullable=False),
        sa.Column("team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("line_manager_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("experience", sa.String(length=30), nullable=True),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_manager_id"], ["staff.id"], name=op.f("fk_staff_line_manager_id_staff")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_staff_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_username")),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_team_id"), ["team_id"], unique=False)
    # Team and staff refer to each other: the team's SPO is added once the staff table exists.
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f("fk_team_spo_id_staff"), "staff", ["spo_id"], ["id"])

    op.create_table(
        "case_record",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("crn", sa.String(length=7), nullable=False),
        sa.Column("forename", sa.String(length=100), nullable=True),
        sa.Column("surname", sa.String(length=100), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("stage", sa.String(length=30), nullable=False),
        sa.Column("sentence_outcome", sa.String(length=30), nullable=True),
        sa.Column("sentence_date", sa.Date(), nullable=True),
        sa.Column("tier", sa.Integer(), nullable=True),
        sa.Column("rosh", sa.String(length=30), nullable=True),
        sa.Column("rosh_to_children", sa.String(length=30), nullable=True),
        sa.Column("rosh_to_public", sa.String(length=30), nullable=True),
        sa.Column("rosh_to_known_adult", sa.String(length=30), nullable=True),
        sa.Column("rosh_to_staff", sa.String(length=30), nullable=True),
        sa.Column("rosh_assessed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mappa_category", sa.String(length=30), nullable=True),
        sa.Column("mappa_level", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["staff.id"], name=op.f("fk_case_record_owner_id_staff")),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_case_record_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_record")),
        sa.UniqueConstraint("crn", name=op.f("uq_case_record_crn")),
    )
    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_record_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_record_rosh"), ["rosh"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_record_stage"), ["stage"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_record_team_id"), ["team_id"], unique=False)

    op.create_table(
        "access_limitation",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("exclusion_message", sa.Text(), nullable=True),
        sa.Column("restriction_message", sa.Text(), nullable=True),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_access_limitation_case_id_case_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_limitation")),
        sa.UniqueConstraint("case_id", name=op.f("uq_access_limitation_case_id")),
    )
    op.create_table(
        "case_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=10), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_case_event_case_id_case_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_event")),
    )
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.create_index("ix_case_event_case_at", ["case_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_event_kind"), ["kind"], unique=False)

    op.create_table(
        "oversight_plan",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("interval_weeks", sa.Integer(), nullable=False),
        sa.Column("reviewer_grade", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("sampled", sa.Boolean(), nullable=False),
        sa.Column("next_review_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_oversight_plan_case_id_case_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oversight_plan")),
    )
    with op.batch_alter_table("oversight_plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oversight_plan_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_oversight_plan_due", ["ended_at", "next_review_due"], unique=False)
        batch_op.create_index(
            "uq_oversight_plan_one_current",
            ["case_id"],
            unique=True,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )

    op.create_table(
        "ownership_change",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("from_staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("to_staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_ownership_change_case_id_case_record")
        ),
        sa.ForeignKeyConstraint(
            ["from_staff_id"], ["staff.id"], name=op.f("fk_ownership_change_from_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["to_staff_id"], ["staff.id"], name=op.f("fk_ownership_change_to_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ownership_change")),
    )
    with op.batch_alter_table("ownership_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ownership_change_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ownership_change_to_staff_id"), ["to_staff_id"], unique=False)
        batch_op.create_index(
            "uq_ownership_change_one_open",
            ["case_id"],
            unique=True,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )

    op.create_table(
        "registration",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("next_review_on", sa.Date(), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=True),
        sa.Column("category", sa.String(length=10), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("last_reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_reviewed_by", sa.String(length=100), nullable=True),
        sa.Column("deregistered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deregistered_by", sa.String(length=100), nullable=True),
        sa.Column("deregistration_notes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_registration_case_id_case_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration")),
    )
    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registration_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_registration_code"), ["code"], unique=False)
        batch_op.create_index(
            "ix_registration_review_due", ["deregistered_at", "next_review_on"], unique=False
        )

    op.create_table(
        "risk_meeting",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chair", sa.String(length=100), nullable=False),
        sa.Column("attendees", sa.JSON(), nullable=False),
        sa.Column("rosh_agreed", sa.String(length=30), nullable=True),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("information_shared_with", sa.JSON(), nullable=False),
        sa.Column("mappa_referral", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_risk_meeting_case_id_case_record")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_meeting")),
    )
    with op.batch_alter_table("risk_meeting", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_meeting_case_id"), ["case_id"], unique=False)

    op.create_table(
        "access_list_entry",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("limitation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("on_list", sa.String(length=30), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["limitation_id"],
            ["access_limitation.id"],
            name=op.f("fk_access_list_entry_limitation_id_access_limitation"),
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_access_list_entry_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_list_entry")),
        sa.UniqueConstraint("limitation_id", "staff_id", "on_list", name="uq_access_list_entry_staff"),
    )
    with op.batch_alter_table("access_list_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_list_entry_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "oversight_review",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_by", sa.String(length=100), nullable=False),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("rosh", sa.String(length=30), nullable=True),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_oversight_review_case_id_case_record")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["oversight_plan.id"], name=op.f("fk_oversight_review_plan_id_oversight_plan")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oversight_review")),
    )
    with op.batch_alter_table("oversight_review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oversight_review_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oversight_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oversight_review_case_id"))

    op.drop_table("oversight_review")
    with op.batch_alter_table("access_list_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_list_entry_staff_id"))

    op.drop_table("access_list_entry")
    with op.batch_alter_table("risk_meeting", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_meeting_case_id"))

    op.drop_table("risk_meeting")
    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.drop_index("ix_registration_review_due")
        batch_op.drop_index(batch_op.f("ix_registration_code"))
        batch_op.drop_index(batch_op.f("ix_registration_case_id"))

    op.drop_table("registration")
    with op.batch_alter_table("ownership_change", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_ownership_change_one_open",
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_ownership_change_to_staff_id"))
        batch_op.drop_index(batch_op.f("ix_ownership_change_case_id"))

    op.drop_table("ownership_change")
    with op.batch_alter_table("oversight_plan", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_oversight_plan_one_current",
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )
        batch_op.drop_index("ix_oversight_plan_due")
        batch_op.drop_index(batch_op.f("ix_oversight_plan_case_id"))

    op.drop_table("oversight_plan")
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_event_kind"))
        batch_op.drop_index("ix_case_event_case_at")

    op.drop_table("case_event")
    op.drop_table("access_limitation")
    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_record_team_id"))
        batch_op.drop_index(batch_op.f("ix_case_record_stage"))
        batch_op.drop_index(batch_op.f("ix_case_record_rosh"))
        batch_op.drop_index(batch_op.f("ix_case_record_owner_id"))

    op.drop_table("case_record")
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_team_spo_id_staff"), type_="foreignkey")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_team_id"))

    op.drop_table("staff")
    op.drop_table("team")
