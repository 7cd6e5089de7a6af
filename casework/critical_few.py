"""The critical few: the small set of cases that need the closest eye, each with the reasons why.

The proposed rule of domain.md 2.4. "Critical" is not only MAPPA level 3: most serious further
offences are committed by people assessed as medium or low risk, so high RoSH with child protection,
domestic abuse, risk to staff or weapons counts too. Which cases are critical, and the words of each
reason, are the decision table `critical_few` in the offender management bundle
(processes/offender-management/critical_few.dmn), so the process owner can change the rule without
changing code. The table in force is the one in the newest deployed version of the bundle (a process
owner's publish changes it at once); the file on disk counts only until a version with it is deployed.
Reading and evaluating that table needs the process engine, so it lives in tasks.critical_few_rule,
which plugs it in here at start-up (`use_rule_book`); this module holds the shapes the rule reads and
answers in, and keeps the register's stored mark by it. "Watch" is the next band down; everything else
is background.
The other registrations collapse into five lenses instead of ~200 flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from casework.models import Case, Registration
from casework.vocabulary import RoshLevel

# Registrations that put a medium-RoSH case on the watch list.
MEDIUM_RISK_WATCH: dict[str, str] = {
    "RCPR": "child protection",
    "RCHD": "risk to children",
    "RCCO": "child concerns",
    "ADVP": "domestic abuse perpetrator",
    "REG30": "domestic abuse history",
    "IMAR": "MARAC",
}


class Band(StrEnum):
    """How closely a case needs watching."""

    CRITICAL = "critical"
    WATCH = "watch"
    BACKGROUND = "background"


@dataclass(frozen=True)
class Override:
    """An SPO's or ACO's decision to treat a case as critical, with a reason and an end date."""

    by: str
    reason: str
    until: date


@dataclass(frozen=True)
class RiskProfile:
    """What the rule looks at: the case's risk, MAPPA level and active registrations."""

    rosh: RoshLevel | None
    mappa_level: int | None = None
    registrations: frozenset[str] = frozenset()
    open_recall_or_breach: bool = False
    override: Override | None = None

    @classmethod
    def of(
        cls, case: Case, *, open_recall_or_breach: bool = False, override: Override | None = None
    ) -> RiskProfile:
        """The profile of a case on the register, from its active registrations."""
        return cls(
            rosh=case.rosh,
            mappa_level=case.mappa_level,
            registrations=frozenset(r.code for r in case.active_registrations()),
            open_recall_or_breach=open_recall_or_breach,
            override=override,
        )


@dataclass(frozen=True)
class Assessment:
    """The band a case is in and, for critical and watch cases, the reasons in plain words."""

    band: Band
    reasons: list[str] = field(default_factory=list)

    @property
    def critical(self) -> bool:
        """Whether the case is one of the critical few."""
        return self.band is Band.CRITICAL


def critical_reasons(
    profile: RiskProfile, *, today: date | None = None, table: CriticalFewRule | None = None
) -> list[str]:
    """Every reason the case is critical (from the decision table, then any override); empty if not.

    `table` is the table in force (`table_in_force(session)`); without it, the one this process last
    read from the database, or the file on disk before any was read.
    """
    reasons = list((table or _last_table()).reasons(_table_inputs(profile)))
    override = profile.override
    if override is not None and (today is None or today <= override.until):
        reasons.append(f"Marked critical by {override.by} until {override.until:%d %B %Y}: {override.reason}")
    return reasons


def watch_reasons(profile: RiskProfile) -> list[str]:
    """Why a case that is not critical is on the watch list; empty for background cases."""
    if profile.rosh is RoshLevel.HIGH:
        return ["High RoSH"]
    if profile.rosh is RoshLevel.MEDIUM:
        return [
            f"Medium RoSH + {words}"
            for code, words in MEDIUM_RISK_WATCH.items()
            if code in profile.registrations
        ]
    return []


def assess(
    profile: RiskProfile, *, today: date | None = None, table: CriticalFewRule | None = None
) -> Assessment:
    """The case's band (critical, watch or background) with its reasons."""
    critical = critical_reasons(profile, today=today, table=table)
    if critical:
        return Assessment(Band.CRITICAL, critical)
    watch = watch_reasons(profile)
    if watch:
        return Assessment(Band.WATCH, watch)
    return Assessment(Band.BACKGROUND)


# ------------------------------------------------------------------- the stored critical-few flag


def keep_critical_flag(session: Session, case: Case) -> bool:
    """Store on `case` whether the rule puts it among the critical few, from its RoSH, MAPPA level and
    the registrations in force as the database has them now (read here, so pending changes count).

    The register calls this in the same transaction as every change to one of those, so that the
    register list can filter on the stored flag. Overrides and recalls are not part of it (the
    register list never counted them). Returns the flag.
    """
    codes = session.scalars(
        select(Registration.code).where(
            Registration.case_id == case.id, Registration.deregistered_at.is_(None)
        )
    )
    table = table_in_force(session)
    critical = bool(table.reasons(_table_inputs(RiskProfile(case.rosh, case.mappa_level, frozenset(codes)))))
    if case.critical is not critical:
        case.critical = critical
    return critical


def recompute_critical_flags(
    session: Session, table: CriticalFewRule | None = None, *, chunk: int = 10_000
) -> int:
    """Evaluate the rule again for every case on the register and store what changed (after the
    decision table is republished, or for rows written without the register); the number changed.

    Cases are read in chunks of ids with their registrations in force; the table is evaluated once
    for each distinct set of inputs, not once per case. `table` defaults to the table in force.
    """
    table = table or table_in_force(session)
    decided: dict[tuple[Any, ...], bool] = {}
    changed = 0
    last = 0
    while True:
        cases = session.execute(
            select(Case.id, Case.rosh, Case.mappa_level, Case.critical)
            .where(Case.id > last)
            .order_by(Case.id)
            .limit(chunk)
        ).all()
        if not cases:
            return changed
        first, last = cases[0][0], cases[-1][0]
        codes: dict[int, set[str]] = {}
        in_force = select(Registration.case_id, Registration.code).where(
            Registration.case_id.between(first, last), Registration.deregistered_at.is_(None)
        )
        for case_id, code in session.execute(in_force):
            codes.setdefault(case_id, set()).add(code)
        updates = []
        for case_id, rosh, mappa_level, stored in cases:
            profile = RiskProfile(rosh, mappa_level, frozenset(codes.get(case_id, ())))
            key = (profile.rosh, profile.mappa_level, profile.registrations)
            if key not in decided:
                decided[key] = bool(table.reasons(_table_inputs(profile)))
            if decided[key] != bool(stored):
                updates.append({"id": case_id, "critical": decided[key]})
        if updates:
            session.execute(update(Case), updates)
            changed += len(updates)


# ------------------------------------------------------------------- the table in force


class CriticalFewRule(Protocol):
    """The decision table `critical_few`, as the register asks it."""

    def reasons(self, inputs: Mapping[str, Any]) -> list[str]:
        """The reasons of every row that matches `inputs` (`table_inputs`), in the table's order."""
        ...


class RuleBook(Protocol):
    """Where the table in force is found (tasks.critical_few_rule reads it from the deployed versions)."""

    def in_force(self, session: Session) -> CriticalFewRule:
        """The table in force as the database in `session` has it."""
        ...

    def last_read(self) -> CriticalFewRule:
        """The table this process last found in force (the file on disk before any was read)."""
        ...


_rule_book: list[RuleBook] = []


def use_rule_book(book: RuleBook) -> None:
    """Plug in where the table in force is found (tasks.wiring does, before the register is used)."""
    _rule_book[:] = [book]


def table_in_force(session: Session) -> CriticalFewRule:
    """The critical-few table of the newest deployed version (the file on disk before any is deployed)."""
    return _book().in_force(session)


def _book() -> RuleBook:
    if not _rule_book:
        raise LookupError(
            "No critical-few table is plugged in: call tasks.wiring.plug_in_the_register() at start-up"
        )
    return _rule_book[0]


def _last_table() -> CriticalFewRule:
    return _book().last_read()


def table_inputs(profile: RiskProfile) -> dict[str, Any]:
    """What the critical-few table reads of a case (for evaluating another version of the table)."""
    return _table_inputs(profile)


def _table_inputs(profile: RiskProfile) -> dict[str, Any]:
    return {
        "rosh": profile.rosh.value if profile.rosh else "",
        "mappa_level": profile.mappa_level or 0,
        "registrations": sorted(profile.registrations),
        "open_recall_or_breach": profile.open_recall_or_breach,
    }
