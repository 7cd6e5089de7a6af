"""The critical few: the small set of cases that need the closest eye, each with the reasons why.

The proposed rule of domain.md 2.4. "Critical" is not only MAPPA level 3: most serious further
offences are committed by people assessed as medium or low risk, so high RoSH with child protection,
domestic abuse, risk to staff or weapons counts too. "Watch" is the next band down; everything
else is background. The other registrations collapse into five lenses instead of ~200 flags.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from casework.models import Case
from casework.registers import REGISTER_TYPES, Lens
from casework.vocabulary import RoshLevel

# Registrations that make a high-RoSH case critical, with the words the reason uses.
HIGH_RISK_AGGRAVATING: dict[str, str] = {
    "RCPR": "child protection",
    "RCHD": "risk to children",
    "ADVP": "domestic abuse perpetrator",
    "IMAR": "MARAC",
    "AV2S": "risk to staff",
    "WEAP": "weapons",
}
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


def critical_reasons(profile: RiskProfile, *, today: date | None = None) -> list[str]:
    """Every reason the case is critical; an empty list if it is not."""
    reasons: list[str] = []
    rosh, level, codes = profile.rosh, profile.mappa_level or 0, profile.registrations
    high = rosh in (RoshLevel.HIGH, RoshLevel.VERY_HIGH)
    if rosh is RoshLevel.VERY_HIGH:
        reasons.append("Very High RoSH")
    if level == 3:
        reasons.append("MAPPA level 3")
    elif level == 2 and high:
        reasons.append(f"MAPPA level 2 with {rosh.display_name if rosh else ''} RoSH")
    if rosh is RoshLevel.HIGH:
        reasons.extend(
            f"High RoSH + {words}" for code, words in HIGH_RISK_AGGRAVATING.items() if code in codes
        )
    if profile.open_recall_or_breach and high:
        reasons.append(f"Open recall or breach on a {rosh.display_name if rosh else ''} RoSH case")
    if "RPIR" in codes:
        reasons.append("Public interest case")
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


def assess(profile: RiskProfile, *, today: date | None = None) -> Assessment:
    """The case's band (critical, watch or background) with its reasons."""
    critical = critical_reasons(profile, today=today)
    if critical:
        return Assessment(Band.CRITICAL, critical)
    watch = watch_reasons(profile)
    if watch:
        return Assessment(Band.WATCH, watch)
    return Assessment(Band.BACKGROUND)


def lenses(codes: Collection[str]) -> dict[Lens, list[str]]:
    """The case's registrations gathered under the five lenses (codes with no lens are left out)."""
    gathered: dict[Lens, list[str]] = {lens: [] for lens in Lens}
    for code in sorted(codes):
        kind = REGISTER_TYPES.get(code)
        if kind is not None and kind.lens is not None:
            gathered[kind.lens].append(code)
    return gathered
