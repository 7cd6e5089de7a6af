"""The sentencing outcome as a structured record: what the court decided, checked in one place.

Every way an outcome arrives (the court results message through the JSON API or `riskflow message
send`, the case administrator's chase form, the SPO's overdue-outcome form) goes through
`check_outcome`, so a bad combination is refused with the same words everywhere and nothing is kept.
`record_outcome` then puts the checked record on the register: a `CourtOutcome` row, the case's
outcome and stage, and a line on its timeline in plain words.

The outcome codes are proposed (domain.md gives none); the legal limits used below are those of the
period (Criminal Justice Act 2003 and Powers of Criminal Courts (Sentencing) Act 2000), as the area
policy states them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import Case, CaseEvent, CourtOutcome
from casework.register_types import add_months
from casework.vocabulary import SentenceOutcome, Stage

Out = SentenceOutcome

# What each outcome code means, in the words the forms, the timeline and the documents use.
OUTCOME_TITLES: dict[SentenceOutcome, str] = {
    Out.CUSTODY_UNDER_12_MONTHS: "Custody, determinate, under 12 months",
    Out.CUSTODY_12_MONTHS_OR_MORE: "Custody, determinate, 12 months or more",
    Out.CUSTODY_EXTENDED: "Extended sentence (custody)",
    Out.CUSTODY_INDETERMINATE: "Indeterminate sentence (life or IPP)",
    Out.SUSPENDED_SENTENCE: "Suspended sentence order",
    Out.COMMUNITY_ORDER: "Community order",
    Out.FINE: "Fine",
    Out.CONDITIONAL_DISCHARGE: "Conditional discharge",
    Out.ABSOLUTE_DISCHARGE: "Absolute discharge",
    Out.ADJOURNED: "Adjourned to a later hearing",
    Out.DEFERRED: "Sentence deferred",
    Out.ACQUITTED: "Acquitted",
    Out.DISMISSED: "Dismissed",
    Out.WITHDRAWN: "Withdrawn",
}
# The codes a new record may use (CUSTODY and OTHER are only on older records).
CURRENT_OUTCOMES: tuple[SentenceOutcome, ...] = tuple(OUTCOME_TITLES)
LEGACY_TITLES = {Out.CUSTODY: "Custody", Out.OTHER: "Other outcome"}

DETERMINATE_CUSTODY = frozenset(
    {Out.CUSTODY_UNDER_12_MONTHS, Out.CUSTODY_12_MONTHS_OR_MORE, Out.CUSTODY_EXTENDED}
)
# Outcomes that carry an end date, and the longest the law allowed between sentence and end.
WITH_END_DATE: dict[SentenceOutcome, int] = {
    Out.COMMUNITY_ORDER: 36,  # up to 3 years
    Out.SUSPENDED_SENTENCE: 24,  # supervision period 6 months to 2 years
    Out.CONDITIONAL_DISCHARGE: 36,  # up to 3 years
}
# Orders the area supervises in the community until their end date (a conditional discharge has an
# end date too, but nobody supervises it).
SUPERVISED_ORDERS = frozenset({Out.COMMUNITY_ORDER, Out.SUSPENDED_SENTENCE})
# Outcomes that send the case to a later hearing; a deferment may be for at most 6 months.
TO_A_LATER_HEARING = frozenset({Out.ADJOURNED, Out.DEFERRED})
DEFERMENT_MONTHS = 6
NOT_CONVICTED = frozenset({Out.ACQUITTED, Out.DISMISSED, Out.WITHDRAWN})
# Custody followed by release on licence (CJA 2003): these need the release date and its kind, and
# (all but an indeterminate sentence, whose licence has no fixed end) the licence end date.
WITH_LICENCE = frozenset({Out.CUSTODY_12_MONTHS_OR_MORE, Out.CUSTODY_EXTENDED, Out.CUSTODY_INDETERMINATE})
# How the release comes: automatic conditional release (halfway), or when the Parole Board directs
# it from the parole eligibility date (or, for an indeterminate sentence, the end of the minimum term).
RELEASE_TYPES = {"AUTOMATIC": "automatic release", "PAROLE_ELIGIBLE": "parole eligibility"}
# The longest an extended sentence's licence may run beyond its custodial term (8 years, sexual offences).
EXTENSION_MONTHS = 96
MAX_COURT = 100
FIELDS = (
    "outcome",
    "sentence_date",
    "court",
    "end_date",
    "custody_months",
    "next_hearing_date",
    "release_date",
    "release_type",
    "licence_end_date",
)


class OutcomeRefused(Exception):
    """The outcome cannot be kept as given: `problems` maps each field to what to put right."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class SentencingRecord:
    """A checked outcome, ready for the register."""

    outcome: SentenceOutcome
    outcome_date: date
    court: str | None = None
    end_date: date | None = None
    custody_months: int | None = None
    next_hearing_date: date | None = None
    release_date: date | None = None
    release_type: str | None = None
    licence_end_date: date | None = None

    @property
    def title(self) -> str:
        return OUTCOME_TITLES.get(self.outcome) or LEGACY_TITLES[self.outcome]

    def as_payload(self) -> dict[str, Any]:
        """The record as the process keeps it (dates as ISO text, absent values as None)."""
        return {
            "outcome": self.outcome.value,
            "sentence_date": self.outcome_date.isoformat(),
            "court": self.court,
            "end_date": _iso(self.end_date),
            "custody_months": self.custody_months,
            "next_hearing_date": _iso(self.next_hearing_date),
            "release_date": _iso(self.release_date),
            "release_type": self.release_type,
            "licence_end_date": _iso(self.licence_end_date),
        }


def outcome_title(code: str | None) -> str:
    """The outcome in words, for any code the register holds."""
    if code is None:
        return ""
    try:
        outcome = SentenceOutcome(code)
    except ValueError:
        return code
    return OUTCOME_TITLES.get(outcome) or LEGACY_TITLES[outcome]


def check_outcome(given: Mapping[str, Any], *, today: date | None = None) -> SentencingRecord:
    """Check an outcome as given (text, numbers or dates) and return the record, or raise OutcomeRefused.

    `today`, when given, also refuses a sentence dated in the future and a next hearing that is not
    after today; an outcome that arrived earlier and is only now reaching its case is checked
    without it, against its own hearing date."""
    problems: dict[str, str] = {}
    outcome = _outcome(given.get("outcome"), problems)
    outcome_date = _a_date(given, "sentence_date", problems, "the date of the hearing that gave the outcome")
    court = given.get("court")
    if court is not None and (not isinstance(court, str) or len(court.strip()) > MAX_COURT):
        problems["court"] = f"Give the court's name in at most {MAX_COURT} characters"
    court = court.strip() or None if isinstance(court, str) else None
    end_date = _a_date(given, "end_date", problems, None)
    months = _months(given.get("custody_months"), problems)
    next_hearing = _a_date(given, "next_hearing_date", problems, None)
    release_date = _a_date(given, "release_date", problems, None)
    licence_end = _a_date(given, "licence_end_date", problems, None)
    release_type = given.get("release_type") or None
    if release_type is not None and release_type not in RELEASE_TYPES:
        problems["release_type"] = "Say how release comes: AUTOMATIC or PAROLE_ELIGIBLE"
    if outcome_date is not None and today is not None and outcome_date > today:
        problems["sentence_date"] = "The outcome's date cannot be in the future"
    if outcome is None or outcome_date is None or problems:
        raise OutcomeRefused(problems)
    title = OUTCOME_TITLES[outcome].lower()
    _check_end_date(outcome, title, outcome_date, end_date, problems)
    _check_custody_length(outcome, title, months, problems)
    _check_next_hearing(outcome, title, outcome_date, next_hearing, problems, today=today)
    release = Release(release_date, release_type, licence_end)
    _check_release(outcome, title, on=outcome_date, months=months, release=release, problems=problems)
    if problems:
        raise OutcomeRefused(problems)
    return SentencingRecord(
        outcome, outcome_date, court, end_date, months, next_hearing, release_date, release_type, licence_end
    )


def record_outcome(
    session: Session, case: Case, record: SentencingRecord, *, at: datetime, by: str
) -> CourtOutcome:
    """Put a checked outcome on an open case: its row, the case's outcome and stage, a timeline line.

    An adjournment or deferment leaves the case waiting for sentence; any other outcome sentences it
    (an acquittal too: the case then closes on it)."""
    row = CourtOutcome(
        case_id=case.id,
        outcome=record.outcome,
        outcome_date=record.outcome_date,
        court=record.court,
        end_date=record.end_date,
        custody_months=record.custody_months,
        next_hearing_date=record.next_hearing_date,
        release_date=record.release_date,
        release_type=record.release_type,
        licence_end_date=record.licence_end_date,
        recorded_at=at,
        recorded_by=by,
    )
    session.add(row)
    case.sentence_outcome = record.outcome
    if record.outcome in TO_A_LATER_HEARING:
        if case.stage == Stage.IDENTIFIED:
            case.stage = Stage.AWAITING_SENTENCE
    else:
        case.sentence_date = record.outcome_date
        if case.stage in (Stage.IDENTIFIED, Stage.AWAITING_SENTENCE):
            case.stage = Stage.SENTENCED
    if record.outcome in SUPERVISED_ORDERS and record.end_date is not None:
        # Supervision ends when the last order running ends.
        case.order_ends_on = max(filter(None, (case.order_ends_on, record.end_date)))
    # nDelius: ECOM when an order starts, EAPP (court appearance) for any other outcome.
    code = "ECOM" if record.outcome in (Out.COMMUNITY_ORDER, Out.SUSPENDED_SENTENCE) else "EAPP"
    detail = {**record.as_payload(), "title": record.title}
    session.add(
        CaseEvent(
            case_id=case.id,
            at=at,
            kind="sentence_outcome",
            code=code,
            summary=describe(record),
            actor=by,
            detail=detail,
        )
    )
    return row


def record_release(
    session: Session,
    case: Case,
    *,
    released_on: date,
    licence_end: date | None,
    again: bool,
    at: datetime,
    by: str,
) -> CaseEvent:
    """The person is released (or re-released after a recall) on licence: supervised in the community."""
    case.stage = Stage.SUPERVISED
    ends = f"; the licence ends {_words(licence_end)}" if licence_end else "; the licence has no fixed end"
    words = "Re-released on licence after recall" if again else "Released on licence"
    event = CaseEvent(
        case_id=case.id,
        at=at,
        kind="released_on_licence",
        code=None,
        summary=f"{words} on {released_on:%d %B %Y}{ends}",
        actor=by,
        detail={"released_on": released_on.isoformat(), "licence_end": _iso(licence_end), "again": again},
    )
    session.add(event)
    return event


# A fixed-term recall returns the person to custody for 28 days, then re-releases them on licence.
FIXED_TERM_RECALL_DAYS = 28
RECALL_TYPES = {
    "FIXED_TERM": f"fixed-term recall, re-release after {FIXED_TERM_RECALL_DAYS} days",
    "STANDARD": "standard recall",
}


def record_recall(
    session: Session,
    case: Case,
    *,
    reason: str,
    approved_by: list[str],
    at: datetime,
    by: str,
    recall_type: str = "STANDARD",
) -> CaseEvent:
    """The licence is revoked and the person returned to custody, with the type of recall and who
    approved it."""
    approvers = " and ".join(approved_by)
    kind_words = RECALL_TYPES[recall_type]
    event = CaseEvent(
        case_id=case.id,
        at=at,
        kind="recalled",
        code=None,
        summary=(
            f"Recalled to custody on {at:%d %B %Y}: {reason.strip()} ({kind_words}; approved by {approvers})"
        ),
        actor=by,
        detail={"reason": reason.strip(), "approved_by": approved_by, "recall_type": recall_type},
    )
    session.add(event)
    return event


def record_recall_request(session: Session, case: Case, *, reason: str, at: datetime, by: str) -> CaseEvent:
    """The Offender Manager asks for a recall: on the timeline until the SPO and the ACO decide."""
    event = CaseEvent(
        case_id=case.id,
        at=at,
        kind="recall_asked",
        code=None,
        summary=(
            f"Recall asked for on {at:%d %B %Y}: {reason.strip()} (awaiting the SPO's and the ACO's approval)"
        ),
        actor=by,
        detail={"reason": reason.strip()},
    )
    session.add(event)
    return event


def record_recall_refused(
    session: Session, case: Case, *, refused_by: str, note: str, at: datetime, by: str
) -> CaseEvent:
    """The SPO or the ACO refused the recall: the licence runs on."""
    because = f" {note.strip()}" if note.strip() else ""
    event = CaseEvent(
        case_id=case.id,
        at=at,
        kind="recall_refused",
        code=None,
        summary=f"Recall refused by {refused_by} on {at:%d %B %Y}; the licence runs on.{because}",
        actor=by,
        detail={"refused_by": refused_by, "note": note.strip()},
    )
    session.add(event)
    return event


# The timeline's steps of a licence, newest last: what stands when the licence ends.
LICENCE_STEPS = ("released_on_licence", "recall_asked", "recall_refused", "recalled")


def licence_standing(session: Session, case: Case) -> str | None:
    """The licence's last step on the timeline: `recall_asked` while a recall awaits approval,
    `recalled` while the person is back in custody on recall; None before any release."""
    return session.scalar(
        select(CaseEvent.kind)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind.in_(LICENCE_STEPS))
        .order_by(CaseEvent.at.desc(), CaseEvent.id.desc())
        .limit(1)
    )


def record_recall_lapsed(
    session: Session, case: Case, *, licence_end: date, at: datetime, by: str
) -> CaseEvent:
    """A recall still awaiting approval when the licence ends lapses: there is no licence left to revoke."""
    event = CaseEvent(
        case_id=case.id,
        at=at,
        kind="recall_lapsed",
        code=None,
        summary=(
            f"Recall not decided: the licence ended on {licence_end:%d %B %Y} before it was approved, "
            "so there is no licence left to revoke; the approval is withdrawn"
        ),
        actor=by,
        detail={"licence_end": licence_end.isoformat()},
    )
    session.add(event)
    return event


def licence_end_reason(licence_end: date, *, in_custody_on_recall: bool = False) -> str:
    """Why a case closes when its licence ends, for the register's closure and the timeline."""
    if in_custody_on_recall:
        return f"licence ended on {licence_end:%d %B %Y} while in custody on recall; supervision complete"
    return f"licence ended on {licence_end:%d %B %Y}; supervision complete"


def outcomes_of(session: Session, case: Case) -> list[CourtOutcome]:
    """Every outcome recorded on the case, oldest first."""
    return list(
        session.scalars(select(CourtOutcome).where(CourtOutcome.case_id == case.id).order_by(CourtOutcome.id))
    )


ADJOURNMENT_DAYS = 14  # [A] a typical adjournment, for the demonstration area
DEFERMENT_DAYS = 91  # [A] about three months


def needs_of(outcome: SentenceOutcome, on: date, *, months: int, extension_months: int = 0) -> dict[str, Any]:
    """A complete outcome of this type given on `on`, of about `months` (an order's or a custodial
    sentence's length, an indeterminate sentence's minimum term), as the court would send it: for the
    demonstration area and its simulation. An extended sentence's licence runs `extension_months`
    beyond its custodial term."""
    given: dict[str, Any] = {"outcome": outcome.value, "sentence_date": on.isoformat()}
    if outcome in WITH_END_DATE:
        given["end_date"] = add_months(on, min(months, WITH_END_DATE[outcome])).isoformat()
    elif outcome == Out.CUSTODY_UNDER_12_MONTHS:
        given["custody_months"] = months if months < 12 else 6
    elif outcome in DETERMINATE_CUSTODY:
        given["custody_months"] = length = max(months, 12)
        # Automatic release at the halfway point, on licence to the end of the sentence (CJA 2003).
        given["release_date"] = add_months(on, length // 2).isoformat()
        given["release_type"] = "AUTOMATIC"
        extension = min(extension_months, EXTENSION_MONTHS) if outcome == Out.CUSTODY_EXTENDED else 0
        given["licence_end_date"] = add_months(on, length + extension).isoformat()
    elif outcome == Out.CUSTODY_INDETERMINATE:
        given["release_date"] = add_months(on, max(months, 12)).isoformat()
        given["release_type"] = "PAROLE_ELIGIBLE"
    elif outcome in TO_A_LATER_HEARING:
        days = ADJOURNMENT_DAYS if outcome == Out.ADJOURNED else DEFERMENT_DAYS
        given["next_hearing_date"] = (on + timedelta(days=days)).isoformat()
    return given


def describe(record: SentencingRecord) -> str:
    """The outcome in a sentence for the case's timeline."""
    at = f" at {record.court}" if record.court else ""
    on = f"{record.outcome_date:%d %B %Y}"
    o = record.outcome
    if o == Out.ADJOURNED:
        return f"Hearing{at} on {on} adjourned to {_words(record.next_hearing_date)}"
    if o == Out.DEFERRED:
        return f"Sentence deferred{at} on {on} to {_words(record.next_hearing_date)}"
    if o in NOT_CONVICTED:
        return f"{OUTCOME_TITLES[o]}{at} on {on}"
    if o in DETERMINATE_CUSTODY or o == Out.CUSTODY_INDETERMINATE:
        return f"Sentenced{at} on {on}: {_custody_words(record)}{_release_words(record)}"
    if o in WITH_END_DATE:
        return f"Sentenced{at} on {on}: {OUTCOME_TITLES[o].lower()}, ending {_words(record.end_date)}"
    return f"Sentenced{at} on {on}: {record.title.lower()}"


# How a closure on the outcome reads ("Case closed: fined on 09 November 2026; no supervision follows").
CLOSING_WORDS: dict[SentenceOutcome, str] = {
    Out.FINE: "fined",
    Out.CONDITIONAL_DISCHARGE: "conditionally discharged",
    Out.ABSOLUTE_DISCHARGE: "absolutely discharged",
    Out.CUSTODY_UNDER_12_MONTHS: "sentenced to custody under 12 months (no licence)",
    Out.ACQUITTED: "acquitted",
    Out.DISMISSED: "case dismissed",
    Out.WITHDRAWN: "case withdrawn",
}


# Why supervision ends, as the process gives it (the order's end date reached, or an early end the
# SPO records at an oversight review), in the words of the closure on the register.
END_REASONS: dict[str, str] = {
    "ORDER_ENDED": "order ended",
    "REVOKED": "order revoked",
    "EARLY_TERMINATION": "ended early for good progress",
    "DIED": "died",
    "TRANSFERRED_OUT": "transferred out of the area",
}


def end_reason_words(reason: str, on: date) -> str:
    """Why supervision ended, for the register's closure: "order ended on 08 November 2027"."""
    words = END_REASONS.get(reason) or reason.replace("_", " ").lower()
    return f"{words} on {on:%d %B %Y}"


def closing_reason(outcome_code: str, outcome_date: date) -> str:
    """Why a case closes on its outcome, in words for the register's closure and the timeline."""
    try:
        outcome = SentenceOutcome(outcome_code)
    except ValueError:
        outcome = None
    words = CLOSING_WORDS.get(outcome) if outcome else None
    words = words or outcome_title(outcome_code).lower()
    follows = "nothing to supervise" if outcome in NOT_CONVICTED else "no supervision follows"
    return f"{words} on {outcome_date:%d %B %Y}; {follows}"


def _custody_words(record: SentencingRecord) -> str:
    if record.outcome == Out.CUSTODY_INDETERMINATE:
        return "indeterminate sentence (life or IPP)"
    months = record.custody_months or 0
    kind = {
        Out.CUSTODY_UNDER_12_MONTHS: "custody (under 12 months: no licence)",
        Out.CUSTODY_12_MONTHS_OR_MORE: "custody",
        Out.CUSTODY_EXTENDED: "custody, extended sentence",
    }[record.outcome]
    return f"{months} month{'s' if months != 1 else ''}' {kind}"


def _release_words(record: SentencingRecord) -> str:
    if record.release_date is None:
        return ""
    if record.outcome == Out.CUSTODY_INDETERMINATE:
        return f"; minimum term ends {_words(record.release_date)} (parole decision)"
    kind = RELEASE_TYPES.get(record.release_type or "", "release")
    words = f"; {kind} {_words(record.release_date)}"
    if record.licence_end_date is not None:
        words += f", licence ends {_words(record.licence_end_date)}"
    return words


# ----------------------------------------------------------------------------------- the checks


@dataclass(frozen=True)
class Release:
    """What a custodial outcome says about release: the date, how it comes, and the licence's end."""

    on: date | None
    type: str | None
    licence_end: date | None


def _outcome(value: Any, problems: dict[str, str]) -> SentenceOutcome | None:
    codes = ", ".join(o.value for o in CURRENT_OUTCOMES)
    if value in (None, ""):
        problems["outcome"] = f"Select the outcome: one of {codes}"
        return None
    if value == Out.CUSTODY.value:
        problems["outcome"] = (
            "Say which custodial sentence: CUSTODY_UNDER_12_MONTHS, CUSTODY_12_MONTHS_OR_MORE, "
            "CUSTODY_EXTENDED or CUSTODY_INDETERMINATE"
        )
        return None
    if not isinstance(value, str) or value not in {o.value for o in CURRENT_OUTCOMES}:
        problems["outcome"] = f"{value!r} is not an outcome riskflow knows: use one of {codes}"
        return None
    return SentenceOutcome(value)


def _a_date(
    given: Mapping[str, Any], field: str, problems: dict[str, str], required: str | None
) -> date | None:
    value = given.get(field)
    if value in (None, ""):
        if required:
            problems[field] = f"Enter {required}"
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        problems[field] = "Enter a real date, written YYYY-MM-DD"
        return None


def _months(value: Any, problems: dict[str, str]) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        problems["custody_months"] = "Enter the length of custody as a whole number of months"
        return None
    try:
        months = int(value)
    except ValueError:
        problems["custody_months"] = "Enter the length of custody as a whole number of months"
        return None
    if months < 1:
        problems["custody_months"] = "Enter a length of custody of at least 1 month"
        return None
    return months


def _check_end_date(
    outcome: SentenceOutcome, title: str, on: date, end: date | None, problems: dict[str, str]
) -> None:
    longest = WITH_END_DATE.get(outcome)
    if longest is None:
        if end is not None:
            problems["end_date"] = f"A {title} has no end date: leave it out"
        return
    if end is None:
        problems["end_date"] = f"Enter the date the {title} ends"
    elif end <= on:
        problems["end_date"] = f"The end date must be after the date of sentence ({on:%d %B %Y})"
    elif end > add_months(on, longest):
        problems["end_date"] = f"A {title} can last at most {longest // 12} years: check the end date"


def _check_custody_length(
    outcome: SentenceOutcome, title: str, months: int | None, problems: dict[str, str]
) -> None:
    if outcome == Out.CUSTODY_INDETERMINATE:
        if months is not None:
            problems["custody_months"] = (
                "An indeterminate sentence has no length (the court sets a minimum term): leave it out"
            )
        return
    if outcome not in DETERMINATE_CUSTODY:
        if months is not None:
            problems["custody_months"] = f"A {title} has no length of custody: leave it out"
        return
    if months is None:
        problems["custody_months"] = "Enter the length of the custodial sentence in months"
    elif outcome == Out.CUSTODY_UNDER_12_MONTHS and months >= 12:
        problems["custody_months"] = "A sentence of 12 months or more is CUSTODY_12_MONTHS_OR_MORE"
    elif outcome != Out.CUSTODY_UNDER_12_MONTHS and months < 12:
        problems["custody_months"] = "A sentence under 12 months is CUSTODY_UNDER_12_MONTHS"


def _check_next_hearing(
    outcome: SentenceOutcome,
    title: str,
    on: date,
    next_hearing: date | None,
    problems: dict[str, str],
    *,
    today: date | None,
) -> None:
    if outcome not in TO_A_LATER_HEARING:
        if next_hearing is not None:
            problems["next_hearing_date"] = f"A {title} has no next hearing: leave it out"
        return
    if next_hearing is None:
        problems["next_hearing_date"] = "Enter the date of the next hearing"
    elif next_hearing <= on or (today is not None and next_hearing <= today):
        problems["next_hearing_date"] = "The next hearing must be on a date still to come"
    elif outcome == Out.DEFERRED and next_hearing > add_months(on, DEFERMENT_MONTHS):
        problems["next_hearing_date"] = f"Sentence can be deferred for at most {DEFERMENT_MONTHS} months"


def _check_release(
    outcome: SentenceOutcome,
    title: str,
    *,
    on: date,
    months: int | None,
    release: Release,
    problems: dict[str, str],
) -> None:
    if outcome not in WITH_LICENCE:
        no_licence = (
            "has no licence" if outcome == Out.CUSTODY_UNDER_12_MONTHS else "is not a custodial sentence"
        )
        for field, value in (
            ("release_date", release.on),
            ("release_type", release.type),
            ("licence_end_date", release.licence_end),
        ):
            if value is not None and field not in problems:
                problems[field] = f"A {title} {no_licence}: leave the {field.replace('_', ' ')} out"
        return
    _check_release_date(outcome, on=on, months=months, release=release, problems=problems)
    _check_licence_end(outcome, on=on, months=months, release=release, problems=problems)


def _check_release_date(
    outcome: SentenceOutcome, *, on: date, months: int | None, release: Release, problems: dict[str, str]
) -> None:
    indeterminate = outcome == Out.CUSTODY_INDETERMINATE
    if release.on is None:
        what = "the end of the minimum term (tariff)" if indeterminate else "the release date"
        problems.setdefault("release_date", f"Enter {what}: the date pre-release planning works towards")
    elif release.on <= on:
        problems.setdefault(
            "release_date", f"The release date must be after the date of sentence ({on:%d %B %Y})"
        )
    elif months is not None and release.on >= add_months(on, months):
        problems.setdefault(
            "release_date", f"The release date must fall before the {months}-month sentence ends: check it"
        )
    if release.type is None:
        problems.setdefault(
            "release_type",
            "Say how release comes: AUTOMATIC (automatic release) or PAROLE_ELIGIBLE (the Parole Board)",
        )
    elif indeterminate and release.type != "PAROLE_ELIGIBLE":
        problems.setdefault(
            "release_type",
            "An indeterminate sentence is released only when the Parole Board directs: PAROLE_ELIGIBLE",
        )


def _check_licence_end(
    outcome: SentenceOutcome, *, on: date, months: int | None, release: Release, problems: dict[str, str]
) -> None:
    if outcome == Out.CUSTODY_INDETERMINATE:
        if release.licence_end is not None:
            problems.setdefault(
                "licence_end_date",
                "A life or IPP licence has no fixed end date: leave the licence end date out",
            )
        return
    if release.licence_end is None:
        problems.setdefault("licence_end_date", "Enter the date the licence ends (the sentence expiry date)")
    elif release.on is not None and release.licence_end <= release.on:
        problems.setdefault("licence_end_date", "The licence must end after the release date")
    elif months is not None:
        longest = months + (EXTENSION_MONTHS if outcome == Out.CUSTODY_EXTENDED else 0)
        if release.licence_end > add_months(on, longest):
            limit = (
                "the custodial term and its extension period"
                if longest > months
                else f"the {months}-month sentence"
            )
            problems.setdefault(
                "licence_end_date", f"The licence cannot run beyond {limit}: check the licence end date"
            )


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _words(value: date | None) -> str:
    return f"{value:%d %B %Y}" if value else "a date not given"
