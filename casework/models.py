"""The central case register's tables: teams, staff, cases and everything recorded against a case.

Every case has exactly one current owner, with the full history of who owned it; registrations are
ended by a recorded deregistration, never deleted; every significant act on a case writes a row to
its timeline (CaseEvent) with the nDelius contact code where one exists. casework imports nothing of
the rest of riskflow, so it has its own declarative base and its own UTC datetime type.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from casework.roles import Role
from casework.vocabulary import (
    AccessList,
    ExperienceBand,
    Grade,
    MappaCategory,
    RoshLevel,
    SentenceOutcome,
    Stage,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids on PostgreSQL, plain INTEGER PRIMARY KEY (rowid) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every database (SQLite keeps no zone, so we restore it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the register stores only timezone-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _vocabulary(enum: type[StrEnum]) -> Enum:
    """A column of one of our vocabularies, stored as its value in a plain VARCHAR."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=30,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class CaseworkBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        Grade: _vocabulary(Grade),
        ExperienceBand: _vocabulary(ExperienceBand),
        RoshLevel: _vocabulary(RoshLevel),
        MappaCategory: _vocabulary(MappaCategory),
        Stage: _vocabulary(Stage),
        SentenceOutcome: _vocabulary(SentenceOutcome),
        AccessList: _vocabulary(AccessList),
    }


class Team(CaseworkBase):
    """A team of the area: an SPO with their Offender Managers and case administrators, at an office."""

    __tablename__ = "team"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    office: Mapped[str] = mapped_column(String(100))
    district: Mapped[str] = mapped_column(String(50))
    # Team and staff refer to each other; this side is added after both tables exist.
    spo_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", use_alter=True))

    spo: Mapped[Staff | None] = relationship(foreign_keys=[spo_id], post_update=True)


class Staff(CaseworkBase):
    """A member of staff: their grade gives their roles; Offender Managers also have an experience band."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    grade: Mapped[Grade]
    # Roles held beyond the grade's own, such as PROCESS_OWNER.
    extra_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    line_manager_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    # The band recorded by hand before qualification dates were kept: used only when the record's
    # dates cannot decide it (casework.staff_record.band_on), and kept up to date as the band today.
    experience: Mapped[ExperienceBand | None]
    started_on: Mapped[date]
    # The day a probation officer qualified, and the day their senior-practitioner post began: the
    # experience band derives from them (casework.staff_record).
    qualified_on: Mapped[date | None]
    senior_practitioner_since: Mapped[date | None]
    # The last working day of a leaver, once known (ahead of it, or the day they were deactivated).
    leaving_on: Mapped[date | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    team: Mapped[Team | None] = relationship(foreign_keys=[team_id])
    line_manager: Mapped[Staff | None] = relationship(remote_side=[id])

    @property
    def roles(self) -> frozenset[str]:
        """Every role code this person holds: their grade's and any extra ones."""
        return frozenset({*(r.value for r in self.grade.roles), *self.extra_roles})

    def holds(self, role: Role) -> bool:
        """Whether this person holds `role`."""
        return role.value in self.roles


class Case(CaseworkBase):
    """A case on the register, from the day it is identified at court to its closure."""

    __tablename__ = "case_record"
    # The monitor's open cases by stage, for the area and for one team, from an index in its order.
    __table_args__ = (
        Index("ix_case_record_open_stage", "closed_at", "stage", "team_id"),
        Index("ix_case_record_team_open_stage", "team_id", "closed_at", "stage"),
        # The monitor's count of open critical cases, from the index alone.
        Index("ix_case_record_critical_open", "critical", "closed_at", "team_id", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    crn: Mapped[str] = mapped_column(String(7), unique=True)
    forename: Mapped[str | None] = mapped_column(String(100))
    surname: Mapped[str | None] = mapped_column(String(100))
    date_of_birth: Mapped[date | None]
    stage: Mapped[Stage] = mapped_column(index=True)
    sentence_outcome: Mapped[SentenceOutcome | None]
    sentence_date: Mapped[date | None]
    # The day supervision ends: the end date of the community order or suspended sentence order
    # (the later one when a second order is running); None for a case no order supervises.
    order_ends_on: Mapped[date | None]
    tier: Mapped[int | None] = mapped_column(Integer)
    rosh: Mapped[RoshLevel | None]  # indexed with the name (casework.case_list)
    rosh_to_children: Mapped[RoshLevel | None]
    rosh_to_public: Mapped[RoshLevel | None]
    rosh_to_known_adult: Mapped[RoshLevel | None]
    rosh_to_staff: Mapped[RoshLevel | None]
    rosh_to_prisoners: Mapped[RoshLevel | None]
    rosh_assessed_at: Mapped[datetime | None]
    mappa_category: Mapped[MappaCategory | None]
    mappa_level: Mapped[int | None] = mapped_column(Integer)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # Why the case closed, in words ("order ended on 08 November 2027", "order revoked on ...").
    closure_reason: Mapped[str | None] = mapped_column(String(200))
    # Whether the critical-few rule (casework.critical_few) puts the case among the critical few, by
    # its RoSH, MAPPA level and registrations in force (no override, no recall): stored so that the
    # register list can filter on it through an index. casework.register keeps it in step whenever
    # one of those changes; casework.critical_few.recompute_critical_flags after the rule changes.
    critical: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    owner: Mapped[Staff | None] = relationship(foreign_keys=[owner_id])
    team: Mapped[Team | None] = relationship(foreign_keys=[team_id])
    registrations: Mapped[list[Registration]] = relationship(
        back_populates="case", order_by="Registration.id", viewonly=True
    )
    access_limitation: Mapped[AccessLimitation | None] = relationship(viewonly=True)

    @property
    def name(self) -> str:
        """The person's name as the register shows it, or the CRN when none is recorded."""
        parts = [p for p in (self.forename, self.surname) if p]
        return " ".join(parts) if parts else self.crn

    @property
    def is_open(self) -> bool:
        """Whether the case is still open."""
        return self.closed_at is None

    def active_registrations(self) -> list[Registration]:
        """The registrations in force (not deregistered)."""
        return [r for r in self.registrations if r.deregistered_at is None]


class OwnershipChange(CaseworkBase):
    """A change of the case's owner: the history of who held the case, and from when to when.

    The latest change (the one not yet ended) names the current owner; the database allows only
    one open change per case.
    """

    __tablename__ = "ownership_change"
    __table_args__ = (
        Index(
            "uq_ownership_change_one_open",
            "case_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    from_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    to_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    changed_at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    ended_at: Mapped[datetime | None]

    from_staff: Mapped[Staff | None] = relationship(foreign_keys=[from_staff_id])
    to_staff: Mapped[Staff] = relationship(foreign_keys=[to_staff_id])


class Registration(CaseworkBase):
    """A register ("flag") on a case, from its start to its recorded deregistration."""

    __tablename__ = "registration"
    __table_args__ = (Index("ix_registration_review_due", "deregistered_at", "next_review_on"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    code: Mapped[str] = mapped_column(String(10), index=True)
    started_on: Mapped[date]
    next_review_on: Mapped[date | None]
    registered_at: Mapped[datetime]
    registered_by: Mapped[str] = mapped_column(String(100))
    level: Mapped[str | None] = mapped_column(String(10))
    category: Mapped[str | None] = mapped_column(String(10))
    notes: Mapped[str] = mapped_column(Text, default="")
    last_reviewed_at: Mapped[datetime | None]
    last_reviewed_by: Mapped[str | None] = mapped_column(String(100))
    deregistered_at: Mapped[datetime | None]
    deregistered_by: Mapped[str | None] = mapped_column(String(100))
    deregistration_notes: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship(back_populates="registrations")

    @property
    def active(self) -> bool:
        """Whether the registration is in force."""
        return self.deregistered_at is None


class OversightPlan(CaseworkBase):
    """A case's management oversight plan: how often, by which grade, and why; a new plan ends the old."""

    __tablename__ = "oversight_plan"
    __table_args__ = (
        Index(
            "uq_oversight_plan_one_current",
            "case_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_oversight_plan_due", "ended_at", "next_review_due"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    interval_weeks: Mapped[int] = mapped_column(Integer)
    reviewer_grade: Mapped[Grade]
    reason: Mapped[str] = mapped_column(Text)
    sampled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The sample's rate in per cent (the table's sample_rate) for a sampled plan; NULL otherwise.
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    next_review_due: Mapped[datetime]
    set_at: Mapped[datetime]
    set_by: Mapped[str] = mapped_column(String(100))
    ended_at: Mapped[datetime | None]


class OversightReview(CaseworkBase):
    """A recorded management oversight review, and whether it was done on time."""

    __tablename__ = "oversight_review"
    # The monitor's oversight compliance: reviews done since a date, from the index.
    __table_args__ = (Index("ix_oversight_review_done", "done_at", "on_time", "case_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("oversight_plan.id"))
    due_at: Mapped[datetime | None]
    done_at: Mapped[datetime]
    done_by: Mapped[str] = mapped_column(String(100))
    review_date: Mapped[date | None]
    on_time: Mapped[bool] = mapped_column(Boolean)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    rosh: Mapped[RoshLevel | None]
    findings: Mapped[str] = mapped_column(Text, default="")
    # The case's steps due by a National Standard that missed their date, as the first review saw
    # them ("Hold the induction: due 16 Nov 2026, done 18 Nov 2026"); empty when all met theirs,
    # NULL on reviews recorded before reviews checked the standards.
    late_standards: Mapped[list[str] | None] = mapped_column(JSON, default=list)
    # The ACO's sign-off of an SPO's review of a very high RoSH or MAPPA level 3 case (policy 11).
    signed_off_at: Mapped[datetime | None]
    signed_off_by: Mapped[str | None] = mapped_column(String(100))
    sign_off_actions: Mapped[str | None] = mapped_column(Text)


class OversightSampleDraw(CaseworkBase):
    """One draw of the low-risk sample: a sampled case's review period, picked for review or not.

    `draw` and the threshold are in hundredths (casework.oversight_sample): picked when the draw is
    below `rate` per cent. The seed is kept so that anyone can make the same draw again."""

    __tablename__ = "oversight_sample_draw"
    __table_args__ = (
        UniqueConstraint("case_id", "period", name="uq_oversight_sample_draw_period"),
        Index("ix_oversight_sample_draw_drawn", "drawn_at", "picked"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("oversight_plan.id"))
    period: Mapped[date]
    seed: Mapped[str] = mapped_column(String(100))
    rate: Mapped[int] = mapped_column(Integer)
    draw: Mapped[int] = mapped_column(Integer)
    picked: Mapped[bool] = mapped_column(Boolean)
    drawn_at: Mapped[datetime]
    drawn_by: Mapped[str] = mapped_column(String(100))


class RiskMeeting(CaseworkBase):
    """A risk meeting held on a case (whatever the sentence), and what it decided."""

    __tablename__ = "risk_meeting"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    held_on: Mapped[date]
    recorded_at: Mapped[datetime]
    chair: Mapped[str] = mapped_column(String(100))
    attendees: Mapped[list[str]] = mapped_column(JSON, default=list)
    rosh_agreed: Mapped[RoshLevel | None]
    decision: Mapped[str] = mapped_column(Text)
    information_shared_with: Mapped[list[str]] = mapped_column(JSON, default=list)
    mappa_referral: Mapped[bool] = mapped_column(Boolean, default=False)


class CaseEvent(CaseworkBase):
    """A significant act on a case, for its timeline; `code` is the nDelius contact type if one exists."""

    __tablename__ = "case_event"
    __table_args__ = (Index("ix_case_event_case_at", "case_id", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40), index=True)
    code: Mapped[str | None] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AccessLimitation(CaseworkBase):
    """A limited-access case: the messages shown to people the exclusion or restriction list keeps out."""

    __tablename__ = "access_limitation"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), unique=True)
    exclusion_message: Mapped[str | None] = mapped_column(Text)
    restriction_message: Mapped[str | None] = mapped_column(Text)
    set_at: Mapped[datetime]
    set_by: Mapped[str] = mapped_column(String(100))

    entries: Mapped[list[AccessListEntry]] = relationship(
        back_populates="limitation", cascade="all, delete-orphan", order_by="AccessListEntry.id"
    )

    def listed(self, which: AccessList) -> set[int]:
        """The staff ids on the exclusion or the restriction list."""
        return {e.staff_id for e in self.entries if e.on_list == which}


class AccessListEntry(CaseworkBase):
    """A member of staff on a case's exclusion list or restriction list."""

    __tablename__ = "access_list_entry"
    __table_args__ = (
        UniqueConstraint("limitation_id", "staff_id", "on_list", name="uq_access_list_entry_staff"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    limitation_id: Mapped[int] = mapped_column(ForeignKey("access_limitation.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    on_list: Mapped[AccessList]
    added_at: Mapped[datetime]
    added_by: Mapped[str] = mapped_column(String(100))

    limitation: Mapped[AccessLimitation] = relationship(back_populates="entries")


class AccessListChange(CaseworkBase):
    """One change to a case's limited-access lists or messages: who made it, when, what, and why.

    `action` is "added" or "removed" (a person on `on_list`) or "messages" (the messages were set).
    Rows are only ever added: this is the history shown on the case's access lists page.
    """

    __tablename__ = "access_list_change"
    __table_args__ = (Index("ix_access_list_change_case_at", "case_id", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"))
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))
    on_list: Mapped[AccessList | None]
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    reason: Mapped[str] = mapped_column(Text)

    staff: Mapped[Staff | None] = relationship()


class OutOfOffice(CaseworkBase):
    """An officer's out-of-office routing: their new tasks go to a named colleague until a date."""

    __tablename__ = "out_of_office"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), unique=True)
    cover_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    until: Mapped[date]
    reason: Mapped[str] = mapped_column(Text)
    set_at: Mapped[datetime]
    set_by: Mapped[str] = mapped_column(String(100))

    staff: Mapped[Staff] = relationship(foreign_keys=[staff_id])
    cover: Mapped[Staff] = relationship(foreign_keys=[cover_id])


class StaffAbsence(CaseworkBase):
    """A member of staff away from work (leave, sickness or training), from one day to another."""

    __tablename__ = "staff_absence"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    reason: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))

    staff: Mapped[Staff] = relationship(foreign_keys=[staff_id])

    @property
    def days(self) -> int:
        """How many calendar days it lasts, both ends counted."""
        return (self.ends_on - self.starts_on).days + 1


class CourtOutcome(CaseworkBase):
    """One outcome a court gave on the case, as recorded (casework.sentencing checks it first).

    A case may have several: an adjournment or a deferment, then the sentence at the later hearing."""

    __tablename__ = "court_outcome"
    __table_args__ = (Index("ix_court_outcome_case_id", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"))
    outcome: Mapped[SentenceOutcome]
    # The date of the hearing that gave the outcome (the sentence date for a sentence).
    outcome_date: Mapped[date]
    court: Mapped[str | None] = mapped_column(String(100))
    # Community order, suspended sentence order (its supervision period), conditional discharge.
    end_date: Mapped[date | None]
    # Determinate custody: the length of the custodial sentence in whole months.
    custody_months: Mapped[int | None] = mapped_column(Integer)
    # Adjourned or deferred: the date of the next hearing.
    next_hearing_date: Mapped[date | None]
    # Custody with a licence: the release date (for an indeterminate sentence the end of the minimum
    # term), how release comes (AUTOMATIC or PAROLE_ELIGIBLE) and the licence's end (none for life or IPP).
    release_date: Mapped[date | None]
    release_type: Mapped[str | None] = mapped_column(String(20))
    licence_end_date: Mapped[date | None]
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))
