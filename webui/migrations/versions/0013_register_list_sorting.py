"""The register list filters and sorts through indexes: each case stores whether it is one of the
critical few (filled in here for every case on the register, by the decision table), with an index
that serves the critical-few list in name order; the RoSH index takes the name after the level,
so that a page sorted by RoSH reads each level in name order; open tasks are indexed by the pool
they wait in, for the inbox's "to claim" list.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 10_000
# The candidate role of a task that nobody holds (else NULL): engine.models.pool_role.
POOL_ROLE = "nullif(coalesce(claimed_by, assignee, candidate_role), coalesce(claimed_by, assignee))"


def upgrade() -> None:
    # Plain ALTER TABLE (SQLite has both since 3.35): a batch copy of the table would lose the
    # expression indexes on lower(surname) and lower(forename).
    op.add_column("case_record", sa.Column("critical", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index("ix_case_record_critical_name", "case_record", ["critical", "surname", "forename", "crn"])
    # RoSH with the name (a page sorted by RoSH reads each level in name order); it serves every
    # query the RoSH index did.
    op.drop_index("ix_case_record_rosh", table_name="case_record")
    op.create_index("ix_case_record_rosh_name", "case_record", ["rosh", "surname", "forename", "crn"])
    # The pool an open task waits in (its candidate role while nobody holds it): the inbox's "to
    # claim" list reads it through this index, whose statistics show how few tasks are in a pool.
    op.create_index("ix_human_task_pool", "human_task", [sa.text(POOL_ROLE), "state", "due_at"])
    _backfill()


def downgrade() -> None:
    op.drop_index("ix_human_task_pool", table_name="human_task")
    op.drop_index("ix_case_record_rosh_name", table_name="case_record")
    op.create_index("ix_case_record_rosh", "case_record", ["rosh"])
    op.drop_index("ix_case_record_critical_name", table_name="case_record")
    op.drop_column("case_record", "critical")


def _backfill() -> None:
    """Evaluate the critical-few decision table for every case, chunk by chunk, once per distinct set
    of inputs (RoSH, MAPPA level, registrations in force), and mark the critical ones."""
    from casework.critical_few import RiskProfile, critical_reasons
    from casework.vocabulary import RoshLevel
    from tasks.critical_few_rule import RULE_BOOK

    connection = op.get_bind()
    case = sa.table(
        "case_record",
        sa.column("id", sa.Integer()),
        sa.column("rosh", sa.String()),
        sa.column("mappa_level", sa.Integer()),
        sa.column("critical", sa.Boolean()),
    )
    registration = sa.table(
        "registration",
        sa.column("case_id", sa.Integer()),
        sa.column("code", sa.String()),
        sa.column("deregistered_at", sa.DateTime(timezone=True)),
    )
    mark = sa.update(case).where(case.c.id == sa.bindparam("case_id")).values(critical=sa.true())
    decided: dict[tuple[str | None, int | None, frozenset[str]], bool] = {}
    last = 0
    while True:
        rows = connection.execute(
            sa.select(case.c.id, case.c.rosh, case.c.mappa_level)
            .where(case.c.id > last)
            .order_by(case.c.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        first, last = rows[0][0], rows[-1][0]
        codes: dict[int, set[str]] = {}
        in_force = sa.select(registration.c.case_id, registration.c.code).where(
            registration.c.case_id.between(first, last), registration.c.deregistered_at.is_(None)
        )
        for case_id, code in connection.execute(in_force):
            codes.setdefault(case_id, set()).add(code)
        critical = []
        for case_id, rosh, mappa_level in rows:
            key = (rosh, mappa_level, frozenset(codes.get(case_id, ())))
            if key not in decided:
                profile = RiskProfile(RoshLevel(rosh) if rosh else None, mappa_level, key[2])
                decided[key] = bool(critical_reasons(profile, table=RULE_BOOK.last_read()))
            if decided[key]:
                critical.append({"case_id": case_id})
        if critical:
            connection.execute(mark, critical)
