"""What a member of staff's record says on a given day: their experience band and whether they are
there to hold their cases.

The experience band (domain.md 3.4, the oversight matrix's second input) derives from the record's
dates, never typed: a senior practitioner is S from the day their post began; a trainee is N; a
probation officer is N for the 12 months from qualifying and E after; a PSO (not a qualified officer)
is N for their first 12 months in post and E after. A record kept before the dates were recorded
keeps the band typed then, until an administrator records the dates.

An owner is not there to hold their cases when they have left (or leave on a recorded date), or when
an absence longer than the long-absence threshold has not yet ended: their SPO reallocates the cases.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from casework.models import Staff, StaffAbsence
from casework.register_types import add_months
from casework.vocabulary import CASE_HOLDING_GRADES, ExperienceBand, Grade

# How long a qualified officer (or a PSO in post) is "newly qualified" (domain.md 3.4: < 12 months).
NEWLY_QUALIFIED_MONTHS = 12
# Why someone may be away, as the absence form offers them.
ABSENCE_REASONS = {"LEAVE": "Leave", "SICKNESS": "Sickness", "TRAINING": "Training"}


def band_on(staff: Staff, day: date) -> ExperienceBand | None:  # noqa: PLR0911 - one return a rule
    """`staff`'s experience band on `day` from their record's dates; None for anyone who holds no cases."""
    if staff.grade not in CASE_HOLDING_GRADES:
        return None
    since = staff.senior_practitioner_since
    if since is not None and since <= day and staff.grade in {Grade.PO, Grade.SENIOR_PRACTITIONER}:
        return ExperienceBand.SENIOR
    if staff.grade == Grade.SENIOR_PRACTITIONER and since is None:
        return ExperienceBand.SENIOR  # the grade is the post; its start date not recorded
    if staff.grade == Grade.TRAINEE_PO:
        return ExperienceBand.NEWLY_QUALIFIED
    start = staff.started_on if staff.grade == Grade.PSO else staff.qualified_on
    if start is None:  # a record kept before qualification dates were
        return staff.experience or ExperienceBand.EXPERIENCED
    if day < add_months(start, NEWLY_QUALIFIED_MONTHS):
        return ExperienceBand.NEWLY_QUALIFIED
    return ExperienceBand.EXPERIENCED


def how_band_derives(staff: Staff) -> str:  # noqa: PLR0911 - one sentence a rule
    """In words, what the band derives from on this record (for the staff page)."""
    if staff.grade not in CASE_HOLDING_GRADES:
        return "Not an Offender Manager: no band."
    if staff.senior_practitioner_since is not None:
        return f"Senior practitioner from {staff.senior_practitioner_since:%-d %B %Y}."
    if staff.grade == Grade.SENIOR_PRACTITIONER:
        return "Senior practitioner (the post's start date is not recorded)."
    if staff.grade == Grade.TRAINEE_PO:
        return "A trainee: newly qualified band until they qualify."
    if staff.grade == Grade.PSO:
        return f"In post from {staff.started_on:%-d %B %Y}: experienced 12 months after."
    if staff.qualified_on is None:
        return "Qualification date not recorded: the band typed before is kept until it is."
    return f"Qualified {staff.qualified_on:%-d %B %Y}: experienced 12 months after."


def long_absence(absences: Iterable[StaffAbsence], day: date, longer_than_days: int) -> StaffAbsence | None:
    """The first absence longer than `longer_than_days` that has not ended by `day`, if any."""
    running = [a for a in absences if a.ends_on >= day and a.days > longer_than_days]
    return min(running, key=lambda a: a.starts_on) if running else None


def not_there_to_hold(
    staff: Staff, absences: Iterable[StaffAbsence], day: date, longer_than_days: int
) -> str | None:
    """Why `staff` is not there to hold their cases from `day` (left, leaving, a long absence), or None."""
    if not staff.active:
        return f"{staff.display_name} has left the staff list."
    if staff.leaving_on is not None:
        return f"{staff.display_name} leaves on {staff.leaving_on:%-d %B %Y}."
    away = long_absence(absences, day, longer_than_days)
    if away is not None:
        reason = ABSENCE_REASONS.get(away.reason, away.reason).lower()
        return (
            f"{staff.display_name} is away ({reason}) from {away.starts_on:%-d %B %Y} to "
            f"{away.ends_on:%-d %B %Y}, longer than {longer_than_days} days."
        )
    return None
