"""The central register's operations: each does one thing to a case and writes it on the case's timeline.

Every function takes the session of the unit of work it belongs to (an engine step, a web request,
the demo generator) and never commits: the caller's transaction keeps or drops all of it. Times
come in as arguments (`at`), so the register runs on whatever clock the caller uses. A refusal
raises a RegisterError whose message says what is wrong and whose `hint` says what to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casework.critical_few import keep_critical_flag
from casework.models import (
    AccessLimitation,
    AccessListChange,
    AccessListEntry,
    Case,
    CaseEvent,
    OversightPlan,
    OversightReview,
    OversightSampleDraw,
    OwnershipChange,
    Registration,
    RiskMeeting,
    Staff,
)
from casework.oversight_sample import SAMPLE_SEED, in_words, is_picked, sample_draw
from casework.register_types import MAPPA_REGISTER, ROSH_REGISTERS, register_type
from casework.vocabulary import (
    AccessList,
    Grade,
    MappaCategory,
    RiskGroup,
    RoshLevel,
    SentenceOutcome,
    Stage,
    highest_rosh,
)

CRN_PATTERN = re.compile(r"^[A-Z][0-9]{6}$")
_CASES = "casework.cases"
# Policy 12: a review not recorded within 7 days of falling due goes to the ACO; it is late.
OVERSIGHT_GRACE = timedelta(days=7)
# Registrations that stay when a case closes: MAPPA is the agencies' together, and is reviewed on its
# own period (its review falls due on the register as before), not ended with supervision.
OUTLIVE_SUPERVISION = frozenset({MAPPA_REGISTER})


class RegisterError(Exception):
    """The register refused an operation: the message says why, `hint` what to do about it."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message} {self.hint}" if self.hint else message


class DetailsRefused(RegisterError):
    """Details a person gave that the register cannot take; `field` names the one to correct."""

    def __init__(self, message: str, *, field: str, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.field = field


class CaseNotFound(RegisterError):
    """No case with that CRN is on the register."""


class StaffNotFound(RegisterError):
    """No member of staff with that username."""


class DuplicateCase(RegisterError):
    """The CRN is on the register already."""


class CaseClosed(RegisterError):
    """The case is closed; nothing more can be recorded on it."""


class OwnerNotSuitable(RegisterError):
    """The proposed owner may not hold this case (grade, role, or not active)."""


class AccessListRefused(RegisterError):
    """A change to a case's exclusion or restriction list was refused: the message says why."""


class RegistrationRefused(RegisterError):
    """A registration cannot be added, reviewed or ended as asked."""


# ------------------------------------------------------------------------------------ looking up


def find_case(session: Session, crn: str) -> Case:
    """The case with this CRN."""
    # A unit of work records many acts on the same case: keep it for the session (the identity map
    # holds only weak references, so a case no caller holds on to would be read again each time).
    known: dict[str, Case] = session.info.setdefault(_CASES, {})
    case = known.get(crn)
    if case is not None and case in session and case.crn == crn:
        return case
    case = session.scalar(select(Case).where(Case.crn == crn))
    if case is None:
        raise CaseNotFound(f"No case with CRN {crn} is on the register.", hint="Check the CRN.")
    known[crn] = case
    return case


def find_staff(session: Session, username: str) -> Staff:
    """The member of staff with this username."""
    staff = session.scalar(select(Staff).where(Staff.username == username))
    if staff is None:
        raise StaffNotFound(
            f"Nobody with the username {username!r} is on the staff list.", hint="Check the username."
        )
    return staff


def current_ownership(session: Session, case: Case) -> OwnershipChange | None:
    """The ownership change that names the case's current owner (None if it has never had one)."""
    return session.scalar(
        select(OwnershipChange).where(OwnershipChange.case_id == case.id, OwnershipChange.ended_at.is_(None))
    )


def current_oversight_plan(session: Session, case: Case) -> OversightPlan | None:
    """The case's oversight plan in force."""
    return session.scalar(
        select(OversightPlan).where(OversightPlan.case_id == case.id, OversightPlan.ended_at.is_(None))
    )


def timeline(session: Session, crn: str) -> list[CaseEvent]:
    """Everything recorded on a case, oldest first."""
    case = find_case(session, crn)
    return list(
        session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at, CaseEvent.id)
        )
    )


def active_registration(session: Session, case: Case, code: str) -> Registration | None:
    """The case's registration of type `code` in force, if any."""
    return session.scalar(
        select(Registration).where(
            Registration.case_id == case.id, Registration.code == code, Registration.deregistered_at.is_(None)
        )
    )


# ------------------------------------------------------------------------------ the case itself


def check_new_crn(session: Session, crn: str) -> None:
    """Refuse a CRN that is not one, or that is on the register already."""
    if not CRN_PATTERN.match(crn):
        raise RegisterError(
            f"{crn!r} is not a CRN.", hint="A CRN is a capital letter and six digits, such as X320741."
        )
    existing = session.scalar(select(Case.created_at).where(Case.crn == crn))
    if existing is not None:
        raise DuplicateCase(
            f"CRN {crn} is already on the register (since {existing:%d %B %Y}).",
            hint="Record against the case that is there rather than a new one.",
        )


def identify_case(
    session: Session,
    crn: str,
    *,
    at: datetime,
    by: str,
    forename: str | None = None,
    surname: str | None = None,
    date_of_birth: date | None = None,
    court: str | None = None,
) -> Case:
    """Put a case on the register the moment it is identified at court, before sentence."""
    check_new_crn(session, crn)
    case = Case(
        crn=crn,
        forename=forename,
        surname=surname,
        date_of_birth=date_of_birth,
        stage=Stage.IDENTIFIED,
        created_at=at,
    )
    session.add(case)
    session.flush()
    keep_critical_flag(session, case)
    where = f" at {court}" if court else ""
    _event(
        session, case, "case_identified", f"Case identified{where}", code="EAPP", at=at, by=by, court=court
    )
    return case


# A defendant at a magistrates' or Crown Court is at least 10 (the age of criminal responsibility).
YOUNGEST_AT_COURT = 10
OLDEST_AT_COURT = 110


def check_person(
    *, forename: str, surname: str, date_of_birth: date | None, hearing_date: date | None, crn: str
) -> tuple[str, str]:
    """The person's names as the register keeps them (spaces tidied), or DetailsRefused saying which
    detail to correct: an empty name, or a date of birth that makes the person a child at the hearing."""
    forename, surname = " ".join(forename.split()), " ".join(surname.split())
    for field, value in (("forename", forename), ("surname", surname)):
        if not value:
            raise DetailsRefused(
                f"The first details for {crn} need the person's {field}.",
                field=field,
                hint="Copy it from the court list.",
            )
    if date_of_birth is None or hearing_date is None:
        return forename, surname
    birthday_to_come = (hearing_date.month, hearing_date.day) < (date_of_birth.month, date_of_birth.day)
    age = hearing_date.year - date_of_birth.year - birthday_to_come
    if not YOUNGEST_AT_COURT <= age <= OLDEST_AT_COURT:
        raise DetailsRefused(
            f"A date of birth of {date_of_birth:%d %B %Y} makes the person {age} at the hearing on "
            f"{hearing_date:%d %B %Y}.",
            field="date_of_birth",
            hint=f"Check the date of birth on the court list: a defendant is {YOUNGEST_AT_COURT} or older.",
        )
    return forename, surname


def record_first_details(
    session: Session,
    crn: str,
    *,
    forename: str,
    surname: str,
    date_of_birth: date,
    court: str,
    hearing_date: date,
    offence: str,
    at: datetime,
    by: str,
) -> Case:
    """The court's first details: who the person is (name and date of birth) and the hearing."""
    case = _open_case(session, crn)
    forename, surname = check_person(
        forename=forename, surname=surname, date_of_birth=date_of_birth, hearing_date=hearing_date, crn=crn
    )
    case.forename, case.surname, case.date_of_birth = forename, surname, date_of_birth
    _event(
        session,
        case,
        "first_details",
        f"First details recorded: hearing at {court} on {hearing_date:%d %B %Y} ({offence})",
        code="EAPP",
        at=at,
        by=by,
        court=court,
        hearing_date=hearing_date.isoformat(),
        offence=offence,
    )
    return case


def record_sentence_outcome(
    session: Session,
    crn: str,
    outcome: SentenceOutcome,
    *,
    sentence_date: date,
    at: datetime,
    by: str,
    as_given: str | None = None,
) -> Case:
    """Record what the court decided (`as_given`: the court's own word for an outcome recorded as OTHER)."""
    case = _open_case(session, crn)
    case.sentence_outcome = outcome
    case.sentence_date = sentence_date
    if case.stage in (Stage.IDENTIFIED, Stage.AWAITING_SENTENCE):
        case.stage = Stage.SENTENCED
    code = (
        "ECOM" if outcome in (SentenceOutcome.COMMUNITY_ORDER, SentenceOutcome.SUSPENDED_SENTENCE) else "EAPP"
    )
    words = outcome.value.replace("_", " ").lower() + (f" ({as_given})" if as_given else "")
    _event(
        session,
        case,
        "sentence_outcome",
        f"Sentenced on {sentence_date:%d %B %Y}: {words}",
        code=code,
        at=at,
        by=by,
        outcome=outcome.value,
        as_given=as_given,
        sentence_date=sentence_date.isoformat(),
    )
    return case


def mark_awaiting_sentence(session: Session, crn: str, *, at: datetime, by: str) -> Case:
    """The pre-sentence report is with the court: the case waits for its outcome."""
    case = _open_case(session, crn)
    if case.stage == Stage.IDENTIFIED:
        case.stage = Stage.AWAITING_SENTENCE
        _event(session, case, "report_written", "Pre-sentence report written", code="ECRP", at=at, by=by)
    return case


def record_tier(session: Session, crn: str, tier: int, *, at: datetime, by: str) -> Case:
    """Record the case's tier (1 to 4 under the Offender Management Model)."""
    if tier not in (1, 2, 3, 4):
        raise RegisterError(f"Tier {tier} does not exist.", hint="Tiers run from 1 (punish) to 4 (control).")
    case = _open_case(session, crn)
    if case.tier == tier:
        return case
    before = case.tier
    case.tier = tier
    summary = f"Tier {tier}" if before is None else f"Tier changed from {before} to {tier}"
    _event(session, case, "tier_changed", summary, code="ETCH", at=at, by=by, tier=tier, previous=before)
    return case


def record_rosh(
    session: Session,
    crn: str,
    level: RoshLevel,
    *,
    at: datetime,
    by: str,
    source: str,
    to_whom: Mapping[RiskGroup, RoshLevel] | None = None,
) -> Case:
    """Record the case's risk of serious harm (overall, and to whom) and keep its RoSH register in step.

    `to_whom` gives the level for each group at risk (a group left out is not at risk); the overall
    level must then be the highest of them. Without it, the overall level is recorded alone: the
    groups' levels of an earlier assessment are kept while they still add up to it, and cleared when
    they do not (the case's history keeps them)."""
    case = _open_case(session, crn)
    groups = {group: to_whom[group] for group in RiskGroup if group in to_whom} if to_whom else {}
    if groups:
        highest = highest_rosh(groups.values())
        if highest != level:
            raise RegisterError(
                f"The overall RoSH ({level.display_name}) is not the highest of the groups' levels "
                f"({highest.display_name if highest else 'no group at risk'}).",
                hint="The overall RoSH is the highest of the groups' levels: give that, or leave it out.",
            )
        for group in RiskGroup:
            setattr(case, _ROSH_TO[group], groups.get(group))
    cleared = not groups and highest_rosh(rosh_to_groups(case).values()) not in (None, level)
    if cleared:
        for group in RiskGroup:
            setattr(case, _ROSH_TO[group], None)
    before = case.rosh
    case.rosh = level
    case.rosh_assessed_at = at
    if before is None:
        summary = f"RoSH {level.display_name} ({source})"
    elif before == level:
        summary = f"RoSH confirmed {level.display_name} ({source})"
    else:
        summary = f"RoSH changed from {before.display_name} to {level.display_name} ({source})"
    if groups:
        summary += ": " + ", ".join(f"{g.display_name} {v.display_name}" for g, v in groups.items())
    elif cleared:
        summary += "; the levels by group of the earlier assessment no longer apply"
    _event(
        session,
        case,
        "rosh_recorded",
        summary,
        code=None,
        at=at,
        by=by,
        rosh=level.value,
        previous=before.value if before else None,
        source=source,
        to_whom={g.value: v.value for g, v in groups.items()},
    )
    _keep_rosh_register(session, case, level, at=at, by=by)
    keep_critical_flag(session, case)
    return case


# The register's column for the RoSH to each group.
_ROSH_TO = {group: f"rosh_to_{group.value.lower()}" for group in RiskGroup}


def rosh_to_groups(case: Case) -> dict[RiskGroup, RoshLevel]:
    """The case's RoSH to each group at risk, as its latest assessment by group found it (a group
    not at risk, or never assessed by group, is left out)."""
    levels = {group: getattr(case, column) for group, column in _ROSH_TO.items()}
    return {group: level for group, level in levels.items() if level is not None}


def record_mappa(
    session: Session,
    crn: str,
    category: MappaCategory | None,
    level: int | None,
    *,
    at: datetime,
    by: str,
) -> Case:
    """Record the MAPPA category and level (None: not MAPPA eligible) and keep the MAPP register in step."""
    if category is None:
        level = None
    elif level not in (1, 2, 3):
        raise RegisterError(
            f"MAPPA level {level} does not exist.", hint="An eligible case is at level 1, 2 or 3."
        )
    case = _open_case(session, crn)
    if (case.mappa_category, case.mappa_level) == (category, level):
        return case
    case.mappa_category, case.mappa_level = category, level
    summary = f"MAPPA category {category.value[-1]}, level {level}" if category else "Not MAPPA eligible"
    _event(
        session,
        case,
        "mappa_recorded",
        summary,
        code=None,
        at=at,
        by=by,
        category=category.value if category else None,
        level=level,
    )
    current = active_registration(session, case, MAPPA_REGISTER)
    if current is not None:
        deregister(session, current.id, at=at, by=by, notes=f"Superseded: {summary.lower()}")
    if category is not None:
        add_registration(
            session,
            crn,
            MAPPA_REGISTER,
            at=at,
            by=by,
            level=f"M{level}",
            category=f"M{category.value[-1]}",
        )
    keep_critical_flag(session, case)
    return case


def close_case(
    session: Session, crn: str, *, at: datetime, by: str, reason: str, end_registrations: bool = True
) -> Case:
    """Close a case: its ownership and oversight plan end, and (by default) every registration with it
    but a MAPPA registration, which does not end with supervision: it stays for its own review."""
    case = _open_case(session, crn)
    if end_registrations:
        for registration in case.active_registrations():
            if registration.code in OUTLIVE_SUPERVISION:
                continue
            deregister(session, registration.id, at=at, by=by, notes=f"Case closed: {reason}")
    ownership = current_ownership(session, case)
    if ownership is not None:
        ownership.ended_at = at
    plan = current_oversight_plan(session, case)
    if plan is not None:
        plan.ended_at = at
    case.stage = Stage.CLOSED
    case.closed_at = at
    case.closure_reason = reason[:200]
    _event(session, case, "case_closed", f"Case closed: {reason}", code=None, at=at, by=by, reason=reason)
    session.expire(case, ["registrations"])
    return case


# -------------------------------------------------------------------------------------- ownership


# The grade rules: which grade may own a case of which RoSH level, MAPPA level and tier. They are the
# decision table `owner_grade` of the offender management bundle, which the process owner edits;
# tasks.ownership reads the table in force; tasks.wiring.plug_in_the_register installs it here
# (`use_grade_rules`), as every entry point does. The rule gives the reasons a member of staff may
# not own a case, in words ("High RoSH", "MAPPA level 2"); none when they may.
GradeRules = Callable[[Staff, Case], list[str]]
_grade_rules: list[GradeRules] = []


def use_grade_rules(rules: GradeRules) -> None:
    """Make `rules` the grade rules every owner is checked against."""
    _grade_rules[:] = [rules]


def owner_problem(staff: Staff, case: Case) -> str | None:
    """Why `staff` may not own `case`, in words for the person allocating; None if they may."""
    name = f"{staff.display_name} ({staff.grade.display_name})"
    if not staff.active:
        return f"{name} is not active on the staff list."
    if not _grade_rules:
        raise RuntimeError("no grade rules are in use: call tasks.wiring.plug_in_the_register() first")
    reasons = _grade_rules[0](staff, case)
    if not reasons:
        return None
    standalone = [r for r in reasons if r.startswith("does not")]
    if standalone:
        return f"{name} {standalone[0]}."
    return (
        f"{name} cannot own a case with {' and '.join(reasons)}: the grade rules (policy 7) do not "
        f"allow a {staff.grade.display_name} to hold it."
    )


def assign_owner(
    session: Session, crn: str, username: str, *, at: datetime, by: str, reason: str = ""
) -> OwnershipChange:
    """Make `username` the case's one accountable owner; the previous ownership ends and is kept."""
    case = _open_case(session, crn)
    staff = find_staff(session, username)
    limitation = case.access_limitation
    if limitation is not None and staff.id in limitation.listed(AccessList.EXCLUSION):
        raise OwnerNotSuitable(
            f"{staff.display_name} is on the exclusion list of {crn}.",
            hint="Remove them from the exclusion list first, or choose someone else.",
        )
    problem = owner_problem(staff, case)
    if problem:
        raise OwnerNotSuitable(
            problem,
            hint="Choose someone the grade rules allow: the allocation list offers only them.",
        )
    previous = current_ownership(session, case)
    if previous is not None and previous.to_staff_id == staff.id:
        raise OwnerNotSuitable(f"{staff.display_name} already owns {crn}.", hint="Nothing to change.")
    if previous is not None:
        previous.ended_at = at
        session.flush()  # one open ownership per case: end the old before the new one is written
    change = OwnershipChange(
        case_id=case.id,
        from_staff_id=previous.to_staff_id if previous else None,
        to_staff_id=staff.id,
        changed_at=at,
        changed_by=by,
        reason=reason,
    )
    session.add(change)
    if limitation is not None and limitation.listed(AccessList.RESTRICTION):
        _put_on_list(
            session, case, limitation, staff, AccessList.RESTRICTION, at=at, by=by, reason=OWNER_STAYS
        )
    old_owner = case.owner
    case.owner = staff
    case.team = staff.team
    if case.stage in (Stage.IDENTIFIED, Stage.AWAITING_SENTENCE, Stage.SENTENCED):
        case.stage = Stage.ALLOCATED
    session.flush()
    if old_owner is None:
        summary = f"Allocated to {staff.display_name}"
    else:
        summary = f"Owner changed from {old_owner.display_name} to {staff.display_name}"
    _event(
        session,
        case,
        "owner_changed",
        summary + (f": {reason}" if reason else ""),
        code="ROC",
        at=at,
        by=by,
        owner=staff.username,
        previous=old_owner.username if old_owner else None,
        team=staff.team.code if staff.team else None,
    )
    return change


# ---------------------------------------------------------------------------------- registrations


def add_registration(
    session: Session,
    crn: str,
    code: str,
    *,
    at: datetime,
    by: str,
    started_on: date | None = None,
    level: str | None = None,
    category: str | None = None,
    notes: str = "",
) -> Registration:
    """Register a flag on a case; its first review falls due after the type's review period."""
    try:
        kind = register_type(code)
    except KeyError as err:
        raise RegistrationRefused(str(err.args[0]), hint="Use one of the nDelius register codes.") from None
    case = _open_case(session, crn)
    existing = active_registration(session, case, code)
    if existing is not None:
        raise RegistrationRefused(
            f"{crn} already has a {kind.name} ({code}) registration, since {existing.started_on:%d %B %Y}.",
            hint="Review the registration that is there instead.",
        )
    start = started_on or at.date()
    registration = Registration(
        case_id=case.id,
        code=code,
        started_on=start,
        next_review_on=kind.next_review(start),
        registered_at=at,
        registered_by=by,
        level=level,
        category=category,
        notes=notes,
    )
    session.add(registration)
    session.flush()
    _event(
        session,
        case,
        "registration_added",
        f"Registered: {kind.name} ({code})",
        code="ERGN",
        at=at,
        by=by,
        registration_id=registration.id,
        register=code,
        level=level,
        category=category,
    )
    session.expire(case, ["registrations"])
    keep_critical_flag(session, case)
    return registration


def review_registration(
    session: Session, registration_id: int, *, at: datetime, by: str, notes: str = ""
) -> Registration:
    """Record a review of a registration; the next review falls due a full period later."""
    registration = _active_registration_by_id(session, registration_id)
    kind = register_type(registration.code)
    registration.last_reviewed_at = at
    registration.last_reviewed_by = by
    registration.next_review_on = kind.next_review(at.date())
    case = session.get_one(Case, registration.case_id)
    _event(
        session,
        case,
        "registration_reviewed",
        f"Registration reviewed: {kind.name} ({registration.code})" + (f": {notes}" if notes else ""),
        code="ERGR",
        at=at,
        by=by,
        registration_id=registration.id,
        register=registration.code,
        next_review_on=registration.next_review_on.isoformat() if registration.next_review_on else None,
    )
    return registration


def deregister(session: Session, registration_id: int, *, at: datetime, by: str, notes: str) -> Registration:
    """End a registration: it stays on the case with when, who and why (a deregistration, not a deletion)."""
    if not notes.strip():
        raise RegistrationRefused(
            "A deregistration needs a note.", hint="Say why the registration no longer applies."
        )
    registration = _active_registration_by_id(session, registration_id)
    kind = register_type(registration.code)
    registration.deregistered_at = at
    registration.deregistered_by = by
    registration.deregistration_notes = notes
    case = session.get_one(Case, registration.case_id)
    _event(
        session,
        case,
        "registration_ended",
        f"Deregistered: {kind.name} ({registration.code}): {notes}",
        code="ERGD",
        at=at,
        by=by,
        registration_id=registration.id,
        register=registration.code,
    )
    session.expire(case, ["registrations"])
    keep_critical_flag(session, case)
    return registration


# ----------------------------------------------------------------------------------- oversight


def set_oversight_plan(
    session: Session,
    crn: str,
    *,
    interval_weeks: int,
    reviewer_grade: Grade,
    reason: str,
    at: datetime,
    by: str,
    sampled: bool = False,
    sample_rate: int | None = None,
    under_supervision: bool = True,
) -> OversightPlan:
    """Set the case's management oversight plan; an unchanged plan is kept, a changed one replaces it.

    `sample_rate`: for a sampled plan, the per cent of its review periods picked for review (none
    given: the plan keeps the rate it has, or 100 for a new one).

    `under_supervision`: the plans are written, so the case is now supervised; false for the plan
    set at allocation, while the induction, the assessment and the plans are under way."""
    if interval_weeks < 1:
        raise RegisterError(
            f"An oversight interval of {interval_weeks} weeks is not possible.", hint="Give 1 week or more."
        )
    case = _open_case(session, crn)
    if under_supervision and case.stage in (Stage.SENTENCED, Stage.ALLOCATED):
        case.stage = Stage.SUPERVISED
    if sample_rate is not None and not 0 <= sample_rate <= 100:
        raise RegisterError(
            f"A sample of {sample_rate}% is not possible.", hint="Give a rate from 0 to 100 per cent."
        )
    current = current_oversight_plan(session, case)
    if sample_rate is None:
        sample_rate = current.sample_rate if current is not None and current.sample_rate is not None else 100
    rate = sample_rate if sampled else None
    terms = (interval_weeks, reviewer_grade, reason, sampled, rate)
    if (
        current is not None
        and (
            current.interval_weeks,
            current.reviewer_grade,
            current.reason,
            current.sampled,
            current.sample_rate,
        )
        == terms
    ):
        return current
    if current is not None:
        current.ended_at = at
        session.flush()  # one plan in force per case: end the old before the new one is written
    plan = OversightPlan(
        case_id=case.id,
        interval_weeks=interval_weeks,
        reviewer_grade=reviewer_grade,
        reason=reason,
        sampled=sampled,
        sample_rate=rate,
        next_review_due=_oversight_counted_from(session, case, at) + timedelta(weeks=interval_weeks),
        set_at=at,
        set_by=by,
    )
    session.add(plan)
    session.flush()
    every = "fortnightly" if interval_weeks == 2 else f"every {interval_weeks} weeks"
    sample = f", {rate}% sample" if sampled else ""
    _event(
        session,
        case,
        "oversight_plan_set",
        f"Oversight plan: {every} by the {reviewer_grade.value}{sample} ({reason})",
        code=None,
        at=at,
        by=by,
        plan_id=plan.id,
        interval_weeks=interval_weeks,
        reviewer_grade=reviewer_grade.value,
        sampled=sampled,
        sample_rate=rate,
        next_review_due=plan.next_review_due.isoformat(),
    )
    return plan


def sample_draw_for(crn: str, plan: OversightPlan, period: date) -> tuple[int, bool]:
    """The draw for a sampled plan's review period and whether it is picked (every period of a plan
    that is not sampled is reviewed)."""
    draw = sample_draw(crn, period, SAMPLE_SEED)
    if not plan.sampled or plan.sample_rate is None:
        return draw, True
    return draw, is_picked(draw, plan.sample_rate)


def record_sample_draw(
    session: Session, crn: str, *, period: date, at: datetime, by: str
) -> OversightSampleDraw:
    """Keep the draw for the sampled plan's review period falling due now, picked or not. A period not
    picked is passed over: no review, and the plan's next review falls due an interval on (the next
    period). The same period drawn again gives back the draw already kept."""
    case = _open_case(session, crn)
    plan = current_oversight_plan(session, case)
    if plan is None or not plan.sampled or plan.sample_rate is None:
        raise RegisterError(
            f"{crn} has no sampled oversight plan to draw for.",
            hint="Only a sampled plan's periods are drawn.",
        )
    kept = session.scalar(
        select(OversightSampleDraw).where(
            OversightSampleDraw.case_id == case.id, OversightSampleDraw.period == period
        )
    )
    if kept is not None:
        return kept
    draw, picked = sample_draw_for(case.crn, plan, period)
    row = OversightSampleDraw(
        case_id=case.id,
        plan_id=plan.id,
        period=period,
        seed=SAMPLE_SEED,
        rate=plan.sample_rate,
        draw=draw,
        picked=picked,
        drawn_at=at,
        drawn_by=by,
    )
    session.add(row)
    if not picked:
        plan.next_review_due = plan.next_review_due + timedelta(weeks=plan.interval_weeks)
    session.flush()
    why = f"draw {in_words(draw)}, picked below {in_words(plan.sample_rate * 100)}"
    if picked:
        summary = (
            f"Picked in the {plan.sample_rate}% oversight sample for the review due {period:%d %B %Y} ({why})"
        )
    else:
        summary = (
            f"Not picked in the {plan.sample_rate}% oversight sample for the review due {period:%d %B %Y}"
            f" ({why}): no review this period; the next falls due {plan.next_review_due:%d %B %Y}"
        )
    _event(
        session,
        case,
        "oversight_sample_draw",
        summary,
        code=None,
        at=at,
        by=by,
        plan_id=plan.id,
        period=period.isoformat(),
        seed=SAMPLE_SEED,
        rate=plan.sample_rate,
        draw=draw,
        picked=picked,
    )
    return row


def _oversight_counted_from(session: Session, case: Case, at: datetime) -> datetime:
    """When a new plan's interval counts from: the case's last oversight review, or, with none yet,
    the first plan (set at allocation), so that a plan changed before the first review (the OASys
    found a different RoSH) keeps that review due from allocation; `at` for the case's first plan."""
    last_review = session.scalar(
        select(func.max(OversightReview.done_at)).where(OversightReview.case_id == case.id)
    )
    if last_review is not None:
        return last_review
    first_plan = session.scalar(
        select(func.min(OversightPlan.set_at)).where(OversightPlan.case_id == case.id)
    )
    return first_plan if first_plan is not None else at


def record_oversight_review(
    session: Session,
    crn: str,
    *,
    at: datetime,
    by: str,
    review_date: date | None = None,
    rosh: RoshLevel | None = None,
    findings: str = "",
    escalated: bool = False,
    late_standards: Collection[str] = (),
) -> OversightReview:
    """Record an oversight review against the plan in force; its next review falls due an interval on.
    `late_standards`: the steps due by a National Standard the review found late (the first review)."""
    case = _open_case(session, crn)
    plan = current_oversight_plan(session, case)
    due = plan.next_review_due if plan else None
    on_time = not escalated and (due is None or at <= due + OVERSIGHT_GRACE)
    review = OversightReview(
        case_id=case.id,
        plan_id=plan.id if plan else None,
        due_at=due,
        done_at=at,
        done_by=by,
        review_date=review_date,
        on_time=on_time,
        escalated=escalated,
        rosh=rosh,
        findings=findings,
        late_standards=list(late_standards),
    )
    session.add(review)
    if plan is not None:
        plan.next_review_due = at + timedelta(weeks=plan.interval_weeks)
    session.flush()
    late = "" if on_time else (" after escalation to the ACO" if escalated else " late")
    missed = f" Late against the standard: {'; '.join(late_standards)}." if late_standards else ""
    _event(
        session,
        case,
        "oversight_review",
        f"Oversight review recorded{late}" + (f": {findings}" if findings else "") + missed,
        code=None,
        at=at,
        by=by,
        review_id=review.id,
        due_at=due.isoformat() if due else None,
        on_time=on_time,
        escalated=escalated,
        late_standards=list(late_standards),
    )
    return review


def sign_off_oversight_review(
    session: Session, crn: str, *, review_id: int, at: datetime, by: str, actions: str = ""
) -> OversightReview:
    """The ACO signs off an SPO's oversight review (very high RoSH or MAPPA level 3), with any actions."""
    case = _open_case(session, crn)
    review = session.get(OversightReview, review_id)
    if review is None or review.case_id != case.id:
        raise RegisterError(
            f"{crn} has no oversight review {review_id}.", hint="Sign off a review of this case."
        )
    review.signed_off_at = at
    review.signed_off_by = by
    review.sign_off_actions = actions or None
    session.flush()
    _event(
        session,
        case,
        "oversight_review_signed_off",
        "Oversight review signed off by the ACO" + (f": {actions}" if actions else ""),
        code=None,
        at=at,
        by=by,
        review_id=review.id,
    )
    return review


def bring_oversight_forward(
    session: Session, crn: str, *, at: datetime, by: str, reason: str
) -> OversightPlan:
    """An event brings the next oversight review forward: it falls due now, and the timeline says why."""
    case = _open_case(session, crn)
    plan = current_oversight_plan(session, case)
    if plan is None:
        raise RegisterError(
            f"{crn} has no oversight plan to bring forward.", hint="Set the oversight plan first."
        )
    previous = plan.next_review_due
    plan.next_review_due = at
    session.flush()
    _event(
        session,
        case,
        "oversight_brought_forward",
        f"Oversight review brought forward: {reason}",
        code=None,
        at=at,
        by=by,
        plan_id=plan.id,
        reason=reason,
        was_due=previous.isoformat() if previous else None,
    )
    return plan


def note_oversight_event(session: Session, crn: str, *, at: datetime, by: str, reason: str) -> CaseEvent:
    """An event reported while an oversight review is open: kept on the timeline for that review."""
    case = _open_case(session, crn)
    return _event(
        session,
        case,
        "oversight_event_noted",
        f"Reported during the open oversight review: {reason}",
        code=None,
        at=at,
        by=by,
        reason=reason,
    )


def registration_due_for_review(session: Session, crn: str) -> Registration | None:
    """The case's active registration whose review falls due first (None: none is ever reviewed)."""
    case = _open_case(session, crn)
    # One query for the first due (not the case's whole registration history): this runs for every
    # open case each time its registration review wakes.
    return session.scalar(
        select(Registration)
        .where(
            Registration.case_id == case.id,
            Registration.deregistered_at.is_(None),
            Registration.next_review_on.is_not(None),
        )
        .order_by(Registration.next_review_on, Registration.id)
        .limit(1)
    )


def record_risk_meeting(
    session: Session,
    crn: str,
    *,
    held_on: date,
    chair: str,
    decision: str,
    at: datetime,
    by: str,
    attendees: Collection[str] = (),
    rosh_agreed: RoshLevel | None = None,
    information_shared_with: Collection[str] = (),
    mappa_referral: bool = False,
) -> RiskMeeting:
    """Record a risk meeting and what it decided (held whatever the sentence outcome)."""
    case = _open_case(session, crn)
    meeting = RiskMeeting(
        case_id=case.id,
        held_on=held_on,
        recorded_at=at,
        chair=chair,
        attendees=list(attendees),
        rosh_agreed=rosh_agreed,
        decision=decision,
        information_shared_with=list(information_shared_with),
        mappa_referral=mappa_referral,
    )
    session.add(meeting)
    session.flush()
    referral = "; referred to MAPPA" if mappa_referral else ""
    _event(
        session,
        case,
        "risk_meeting",
        f"Risk meeting held on {held_on:%d %B %Y}{referral}: {decision}",
        code="RROD",
        at=at,
        by=by,
        meeting_id=meeting.id,
        rosh_agreed=rosh_agreed.value if rosh_agreed else None,
        mappa_referral=mappa_referral,
        shared_with=list(information_shared_with),
    )
    return meeting


# ------------------------------------------------------------------------------ limited access


def limit_access(
    session: Session,
    crn: str,
    *,
    at: datetime,
    by: str,
    excluded: Collection[str] = (),
    restricted_to: Collection[str] = (),
    exclusion_message: str | None = None,
    restriction_message: str | None = None,
    reason: str = "Named when the case was made limited-access.",
) -> AccessLimitation:
    """Make a case limited-access: name staff excluded from it, or the only staff allowed to see it."""
    case = find_case(session, crn)
    limitation = session.scalar(select(AccessLimitation).where(AccessLimitation.case_id == case.id))
    if limitation is None:
        limitation = AccessLimitation(case_id=case.id, set_at=at, set_by=by)
        session.add(limitation)
    limitation.exclusion_message = exclusion_message or limitation.exclusion_message
    limitation.restriction_message = restriction_message or limitation.restriction_message
    limitation.set_at, limitation.set_by = at, by
    for which, usernames in ((AccessList.EXCLUSION, excluded), (AccessList.RESTRICTION, restricted_to)):
        on_list = limitation.listed(which)
        for username in usernames:
            staff = find_staff(session, username)
            if staff.id not in on_list:
                limitation.entries.append(
                    AccessListEntry(staff_id=staff.id, on_list=which, added_at=at, added_by=by)
                )
                session.add(
                    AccessListChange(
                        case_id=case.id,
                        at=at,
                        by=by,
                        action="added",
                        on_list=which,
                        staff_id=staff.id,
                        reason=reason,
                    )
                )
    session.flush()
    _event(
        session,
        case,
        "access_limited",
        "Access limited: "
        + ", ".join(
            part
            for part in (
                f"{len(excluded)} excluded" if excluded else "",
                f"restricted to {len(restricted_to)}" if restricted_to else "",
            )
            if part
        ),
        code=None,
        at=at,
        by=by,
        excluded=list(excluded),
        restricted_to=list(restricted_to),
    )
    session.expire(case, ["access_limitation"])
    return limitation


# Why someone is put on a restriction list without being asked for.
OWNER_STAYS = "The case's Offender Manager is always on its restriction list."
STARTER_STAYS = "Whoever starts a restriction list is on it, so that they can still manage it."


def add_to_access_list(
    session: Session, crn: str, username: str, on_list: AccessList, *, reason: str, at: datetime, by: str
) -> list[AccessListChange]:
    """Put a member of staff on the case's exclusion or restriction list, with the reason.

    Refused (AccessListRefused, nothing changed): no reason; someone not on the staff list; someone
    already on that list; the case's owner on the exclusion list (move the case first); the person
    making the change on the exclusion list. A restriction list, when it starts, also names the
    case's owner and the person starting it, so neither is shut out of the case by it. Returns the
    history rows written (the person asked for first).
    """
    case = find_case(session, crn)
    reason = _reason(reason)
    staff = _listed_staff(session, username)
    limitation = _limitation(session, case, at=at, by=by)
    if staff.id in limitation.listed(on_list):
        raise AccessListRefused(f"{staff.display_name} is already on the {_list_name(on_list)} of {crn}.")
    if on_list == AccessList.EXCLUSION:
        _check_may_be_excluded(case, staff, by)
    starting = on_list == AccessList.RESTRICTION and not limitation.listed(on_list)
    changes = [_put_on_list(session, case, limitation, staff, on_list, at=at, by=by, reason=reason)]
    if starting:
        starter = session.scalar(select(Staff).where(Staff.username == by))
        for keep, why in ((case.owner, OWNER_STAYS), (starter, STARTER_STAYS)):
            if keep is not None and keep.id not in limitation.listed(on_list):
                changes.append(
                    _put_on_list(session, case, limitation, keep, on_list, at=at, by=by, reason=why)
                )
    session.expire(case, ["access_limitation"])
    return changes


def remove_from_access_list(
    session: Session, crn: str, username: str, on_list: AccessList, *, reason: str, at: datetime, by: str
) -> AccessListChange:
    """Take a member of staff off the case's exclusion or restriction list, with the reason.

    Refused (AccessListRefused, nothing changed): no reason; someone not on that list; the case's
    owner or the person making the change off a restriction list (it would shut them out).
    """
    case = find_case(session, crn)
    reason = _reason(reason)
    staff = _listed_staff(session, username)
    limitation = session.scalar(select(AccessLimitation).where(AccessLimitation.case_id == case.id))
    entries = limitation.entries if limitation is not None else []
    entry = next((e for e in entries if e.staff_id == staff.id and e.on_list == on_list), None)
    if limitation is None or entry is None:
        raise AccessListRefused(f"{staff.display_name} is not on the {_list_name(on_list)} of {crn}.")
    if on_list == AccessList.RESTRICTION and case.owner is not None and case.owner.id == staff.id:
        raise AccessListRefused(
            f"{staff.display_name} owns {crn}, and the owner stays on its restriction list.",
            hint="Transfer the case to another Offender Manager first.",
        )
    if on_list == AccessList.RESTRICTION and staff.username == by:
        raise AccessListRefused(
            "You cannot take yourself off the restriction list: you would no longer see the case.",
            hint="Ask the case's SPO or an ACO named on the list to do it.",
        )
    limitation.entries.remove(entry)
    change = AccessListChange(
        case_id=case.id, at=at, by=by, action="removed", on_list=on_list, staff_id=staff.id, reason=reason
    )
    session.add(change)
    session.flush()
    _event(
        session,
        case,
        "access_list_changed",
        f"{staff.display_name} taken off the {_list_name(on_list)}: {reason}",
        code=None,
        at=at,
        by=by,
        action="removed",
        on_list=on_list.value,
        staff=staff.username,
    )
    session.expire(case, ["access_limitation"])
    return change


def set_access_messages(
    session: Session,
    crn: str,
    *,
    exclusion_message: str,
    restriction_message: str,
    reason: str,
    at: datetime,
    by: str,
) -> AccessListChange:
    """Set the messages shown to people the case's lists keep out (empty: the standard message)."""
    case = find_case(session, crn)
    reason = _reason(reason)
    limitation = _limitation(session, case, at=at, by=by)
    limitation.exclusion_message = exclusion_message.strip() or None
    limitation.restriction_message = restriction_message.strip() or None
    limitation.set_at, limitation.set_by = at, by
    change = AccessListChange(case_id=case.id, at=at, by=by, action="messages", reason=reason)
    session.add(change)
    session.flush()
    _event(
        session,
        case,
        "access_list_changed",
        f"Limited-access messages set: {reason}",
        code=None,
        at=at,
        by=by,
        action="messages",
    )
    session.expire(case, ["access_limitation"])
    return change


def access_list_history(session: Session, case: Case) -> list[AccessListChange]:
    """Every change to the case's limited-access lists and messages, newest first."""
    return list(
        session.scalars(
            select(AccessListChange)
            .where(AccessListChange.case_id == case.id)
            .order_by(AccessListChange.at.desc(), AccessListChange.id.desc())
        )
    )


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if not reason:
        raise AccessListRefused("Give a reason for the change.", hint="It is kept with the case's history.")
    return reason


def _listed_staff(session: Session, username: str) -> Staff:
    staff = session.scalar(select(Staff).where(Staff.username == username)) if username else None
    if staff is None:
        raise AccessListRefused(
            f"Nobody with the username {username!r} is on the staff list."
            if username
            else "Choose a person.",
            hint="Choose a person from the staff list.",
        )
    return staff


def _limitation(session: Session, case: Case, *, at: datetime, by: str) -> AccessLimitation:
    limitation = session.scalar(select(AccessLimitation).where(AccessLimitation.case_id == case.id))
    if limitation is None:
        limitation = AccessLimitation(case_id=case.id, set_at=at, set_by=by)
        session.add(limitation)
        session.flush()
    return limitation


def _check_may_be_excluded(case: Case, staff: Staff, by: str) -> None:
    if case.owner is not None and case.owner.id == staff.id:
        raise AccessListRefused(
            f"{staff.display_name} owns {case.crn}: the case's owner cannot be excluded from it.",
            hint="Transfer the case to another Offender Manager first, then exclude them.",
        )
    if staff.username == by:
        raise AccessListRefused(
            "You cannot put yourself on the exclusion list: you would no longer see or manage the case.",
            hint="Ask the case's SPO or an ACO to do it.",
        )


def _put_on_list(
    session: Session,
    case: Case,
    limitation: AccessLimitation,
    staff: Staff,
    on_list: AccessList,
    *,
    at: datetime,
    by: str,
    reason: str,
) -> AccessListChange:
    limitation.entries.append(AccessListEntry(staff_id=staff.id, on_list=on_list, added_at=at, added_by=by))
    change = AccessListChange(
        case_id=case.id, at=at, by=by, action="added", on_list=on_list, staff_id=staff.id, reason=reason
    )
    session.add(change)
    session.flush()
    _event(
        session,
        case,
        "access_list_changed",
        f"{staff.display_name} put on the {_list_name(on_list)}: {reason}",
        code=None,
        at=at,
        by=by,
        action="added",
        on_list=on_list.value,
        staff=staff.username,
    )
    return change


def _list_name(on_list: AccessList) -> str:
    return "exclusion list" if on_list == AccessList.EXCLUSION else "restriction list"


# --------------------------------------------------------------------------------- internals


def _open_case(session: Session, crn: str) -> Case:
    case = find_case(session, crn)
    if not case.is_open:
        raise CaseClosed(
            f"Case {crn} was closed on {case.closed_at:%d %B %Y}.",
            hint="Nothing more can be recorded on a closed case.",
        )
    return case


def _active_registration_by_id(session: Session, registration_id: int) -> Registration:
    registration = session.get(Registration, registration_id)
    if registration is None:
        raise RegistrationRefused(f"There is no registration {registration_id}.")
    if not registration.active:
        raise RegistrationRefused(
            f"The {registration.code} registration was ended on {registration.deregistered_at:%d %B %Y}.",
            hint="Add a new registration if it applies again.",
        )
    return registration


def _keep_rosh_register(session: Session, case: Case, level: RoshLevel, *, at: datetime, by: str) -> None:
    """nDelius holds the RoSH level as a registration too: keep exactly the one that matches."""
    wanted = ROSH_REGISTERS[level.value]
    current = session.scalars(
        select(Registration).where(
            Registration.case_id == case.id,
            Registration.code.in_(ROSH_REGISTERS.values()),
            Registration.deregistered_at.is_(None),
        )
    ).all()
    for registration in current:
        if registration.code != wanted:
            deregister(session, registration.id, at=at, by=by, notes=f"RoSH now {level.display_name}")
    if wanted not in {r.code for r in current}:
        add_registration(session, case.crn, wanted, at=at, by=by)


def _event(
    session: Session,
    case: Case,
    kind: str,
    summary: str,
    *,
    code: str | None,
    at: datetime,
    by: str,
    **detail: Any,
) -> CaseEvent:
    event = CaseEvent(case_id=case.id, at=at, kind=kind, code=code, summary=summary, actor=by, detail=detail)
    session.add(event)
    return event
