"""The case record: everything the register knows about one case, gathered for reading.

The summary (owner from the ownership history, RoSH to whom, MAPPA, tier, oversight plan, the
critical-few reasons), the registrations with the ones that make the case critical first and the
rest under the five lenses, and the case's timeline newest first. Who may read it is decided
elsewhere (casework.access); this module only reads.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from casework.critical_few import (
    Assessment,
    CriticalFewRule,
    RiskProfile,
    assess,
    table_in_force,
    table_inputs,
)
from casework.models import Case, CaseEvent, OversightPlan, OwnershipChange, Registration, Staff
from casework.register import current_oversight_plan, current_ownership
from casework.register_types import MAPPA_REGISTER, REGISTER_TYPES, ROSH_REGISTERS, Lens, RegisterType

TIMELINE_LIMIT = 200
OTHER_REGISTRATIONS = "Other registrations"


@dataclass(frozen=True)
class RegistrationLine:
    """A registration in force, with its type's reference data and whether its review is overdue."""

    registration: Registration
    kind: RegisterType | None  # None for a code the reference data does not know
    review_overdue: bool

    @property
    def name(self) -> str:
        """The register's name, or its code when unknown."""
        return self.kind.name if self.kind else self.registration.code


@dataclass(frozen=True)
class CaseRecord:
    """One case, read whole."""

    case: Case
    ownership: OwnershipChange | None
    ownership_history: list[OwnershipChange]  # newest first
    plan: OversightPlan | None
    oversight_overdue: bool
    assessment: Assessment
    critical_registrations: list[RegistrationLine]
    lenses: list[tuple[str, list[RegistrationLine]]]
    timeline: list[CaseEvent]  # newest first, at most TIMELINE_LIMIT
    timeline_total: int

    @property
    def owner(self) -> Staff | None:
        """The current owner as the ownership history names it (the open change), else the case's own."""
        return self.ownership.to_staff if self.ownership is not None else self.case.owner


def read_case(session: Session, case: Case, *, now: datetime, today: date) -> CaseRecord:
    """The whole record of `case`, as of `now` (`today` is the date reviews fall due against)."""
    history = list(
        session.scalars(
            select(OwnershipChange)
            .where(OwnershipChange.case_id == case.id)
            .options(selectinload(OwnershipChange.to_staff), selectinload(OwnershipChange.from_staff))
            .order_by(OwnershipChange.changed_at.desc(), OwnershipChange.id.desc())
        )
    )
    plan = current_oversight_plan(session, case)
    table = table_in_force(session)
    assessment = assess(RiskProfile.of(case), today=today, table=table)
    lines = [
        RegistrationLine(
            r,
            REGISTER_TYPES.get(r.code),
            case.is_open and r.next_review_on is not None and r.next_review_on < today,
        )
        for r in sorted(case.active_registrations(), key=lambda r: (r.code, r.id))
    ]
    critical_codes = critical_registration_codes(case, table)
    events = list(
        session.scalars(
            select(CaseEvent)
            .where(CaseEvent.case_id == case.id)
            .order_by(CaseEvent.at.desc(), CaseEvent.id.desc())
            .limit(TIMELINE_LIMIT + 1)
        )
    )
    return CaseRecord(
        case=case,
        ownership=current_ownership(session, case),
        ownership_history=history,
        plan=plan,
        oversight_overdue=plan is not None and case.is_open and plan.next_review_due < now,
        assessment=assessment,
        critical_registrations=[line for line in lines if line.registration.code in critical_codes],
        lenses=_by_lens([line for line in lines if line.registration.code not in critical_codes]),
        timeline=events[:TIMELINE_LIMIT],
        timeline_total=len(events),
    )


def critical_registration_codes(case: Case, table: CriticalFewRule) -> set[str]:
    """The registrations in force that make this case one of the critical few, as the decision table
    in force says: a registration counts when, without it, the table would give the case fewer
    reasons. The MAPPA register stands for the MAPPA level and counts the same way. RoSH is what every
    case is banded by (High RoSH alone is the watch band), so the RoSH register counts only when the
    table makes the RoSH level a reason on its own (Very High RoSH)."""
    profile = RiskProfile.of(case)
    reasons = set(table.reasons(table_inputs(profile)))
    if not reasons:
        return set()

    def fewer(without: RiskProfile) -> bool:
        return not reasons <= set(table.reasons(table_inputs(without)))

    counted = {
        code
        for code in profile.registrations
        if fewer(replace(profile, registrations=profile.registrations - {code}))
    }
    if case.mappa_level and fewer(replace(profile, mappa_level=None)):
        counted.add(MAPPA_REGISTER)
    if case.rosh is not None and table.reasons(table_inputs(RiskProfile(case.rosh))):
        counted.add(ROSH_REGISTERS[case.rosh.value])
    return counted & profile.registrations


def _by_lens(lines: list[RegistrationLine]) -> list[tuple[str, list[RegistrationLine]]]:
    groups: dict[str, list[RegistrationLine]] = {}
    for line in lines:
        lens = line.kind.lens.value if line.kind and line.kind.lens else OTHER_REGISTRATIONS
        groups.setdefault(lens, []).append(line)
    order = [*(lens.value for lens in Lens), OTHER_REGISTRATIONS]
    return [(lens, groups[lens]) for lens in order if lens in groups]
