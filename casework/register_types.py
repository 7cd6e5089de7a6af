"""The nDelius register types ("flags") as reference data: code, name, flag group, colour, review period.

From domain.md 2.3 (community-api seed data). Each type also belongs to at most one of the five
lenses the critical-few view collapses ~200 register types into (domain.md 2.4).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class FlagGroup(StrEnum):
    """The five flag groups nDelius sorts registers into."""

    ROSH = "RoSH"
    ALERTS = "Alerts"
    SAFEGUARDING = "Safeguarding"
    INFORMATION = "Information"
    PUBLIC_PROTECTION = "Public Protection"


class Colour(StrEnum):
    """A register's colour on the case."""

    RED = "Red"
    AMBER = "Amber"
    GREEN = "Green"
    WHITE = "White"


class Lens(StrEnum):
    """The few ways of looking at risk that replace the long list of flags."""

    ROSH = "RoSH"
    MAPPA = "MAPPA"
    CHILDREN_SAFEGUARDING = "Children and safeguarding"
    DOMESTIC_ABUSE = "Domestic abuse"
    STAFF_WEAPONS = "Staff and weapons"


@dataclass(frozen=True)
class RegisterType:
    """One type of registration a case can carry."""

    code: str
    name: str
    flag: FlagGroup
    colour: Colour
    review_months: int
    lens: Lens | None = None
    selectable: bool = True

    def next_review(self, after: date) -> date | None:
        """When a registration of this type next needs reviewing (None: it is never reviewed)."""
        return add_months(after, self.review_months) if self.review_months else None


_F, _C, _L = FlagGroup, Colour, Lens

REGISTER_TYPES: dict[str, RegisterType] = {
    t.code: t
    for t in (
        RegisterType("RVHR", "Very High RoSH", _F.ROSH, _C.RED, 6, _L.ROSH),
        RegisterType("RHRH", "High RoSH", _F.ROSH, _C.RED, 6, _L.ROSH),
        RegisterType("RMRH", "Medium RoSH", _F.ROSH, _C.AMBER, 6, _L.ROSH),
        RegisterType("RLRH", "Low RoSH", _F.ROSH, _C.GREEN, 6, _L.ROSH),
        RegisterType("MAPP", "MAPPA", _F.PUBLIC_PROTECTION, _C.RED, 3, _L.MAPPA),
        RegisterType("ARSO", "Registered Sex Offender", _F.PUBLIC_PROTECTION, _C.RED, 3, _L.MAPPA),
        RegisterType("ANSO", "Non Registered Sex Offender", _F.ALERTS, _C.AMBER, 3),
        RegisterType(
            "ADVP", "Domestic Abuse Perpetrator", _F.PUBLIC_PROTECTION, _C.RED, 3, _L.DOMESTIC_ABUSE
        ),
        RegisterType("REG30", "Domestic Abuse History", _F.SAFEGUARDING, _C.AMBER, 6, _L.DOMESTIC_ABUSE),
        RegisterType("ADVV", "Domestic Abuse Victim", _F.SAFEGUARDING, _C.AMBER, 6, _L.DOMESTIC_ABUSE),
        RegisterType("IMAR", "MARAC", _F.PUBLIC_PROTECTION, _C.RED, 3, _L.DOMESTIC_ABUSE),
        RegisterType("RCPR", "Child Protection", _F.SAFEGUARDING, _C.RED, 3, _L.CHILDREN_SAFEGUARDING),
        RegisterType("RCHD", "Risk to Children", _F.SAFEGUARDING, _C.RED, 3, _L.CHILDREN_SAFEGUARDING),
        RegisterType("RCCO", "Child Concerns", _F.SAFEGUARDING, _C.AMBER, 3, _L.CHILDREN_SAFEGUARDING),
        RegisterType(
            "CSEP",
            "Child Sexual Exploitation - Perpetrator",
            _F.SAFEGUARDING,
            _C.RED,
            3,
            _L.CHILDREN_SAFEGUARDING,
        ),
        RegisterType(
            "ADWC",
            "Barred from working with children",
            _F.SAFEGUARDING,
            _C.AMBER,
            6,
            _L.CHILDREN_SAFEGUARDING,
        ),
        RegisterType(
            "RVAD", 'Safeguarding - "Adult At Risk"', _F.SAFEGUARDING, _C.RED, 6, _L.CHILDREN_SAFEGUARDING
        ),
        RegisterType(
            "REG22", 'Risk to "Adult at Risk"', _F.SAFEGUARDING, _C.AMBER, 6, _L.CHILDREN_SAFEGUARDING
        ),
        RegisterType(
            "RVLN", 'Safeguarding - "To be Identified"', _F.SAFEGUARDING, _C.RED, 6, _L.CHILDREN_SAFEGUARDING
        ),
        RegisterType("ALSH", "Suicide/Self Harm", _F.SAFEGUARDING, _C.RED, 6),
        RegisterType("AMHL", "Mental Health Issues", _F.ALERTS, _C.AMBER, 6),
        RegisterType("RMDO", "Mentally Disordered Offender", _F.INFORMATION, _C.RED, 6),
        RegisterType("AV2S", "Risk to Staff", _F.PUBLIC_PROTECTION, _C.RED, 6, _L.STAFF_WEAPONS),
        RegisterType("REG15", "Risk to Known Adult", _F.PUBLIC_PROTECTION, _C.AMBER, 6),
        RegisterType("REG17", "Risk to Public", _F.PUBLIC_PROTECTION, _C.AMBER, 6),
        RegisterType("REG16", "Risk to Prisoner", _F.PUBLIC_PROTECTION, _C.AMBER, 6),
        RegisterType("WEAP", "Weapons", _F.ALERTS, _C.RED, 3, _L.STAFF_WEAPONS),
        RegisterType("IRMO", "Hate Crime", _F.PUBLIC_PROTECTION, _C.RED, 6),
        RegisterType("RTAO", "Terrorism Act Offender", _F.INFORMATION, _C.RED, 6),
        RegisterType("STRG", "Street Gangs", _F.PUBLIC_PROTECTION, _C.AMBER, 3),
        RegisterType("REG26", "Organised Crime", _F.ALERTS, _C.AMBER, 6),
        RegisterType("APPO", "PPO (prolific and priority offender)", _F.PUBLIC_PROTECTION, _C.AMBER, 6),
        RegisterType("IIOM", "Integrated Offender Management", _F.INFORMATION, _C.WHITE, 6),
        RegisterType("INLL", "Lifer", _F.ALERTS, _C.RED, 12),
        RegisterType("ASFO", "SFO (serious further offence)", _F.PUBLIC_PROTECTION, _C.RED, 3),
        RegisterType("RPIR", "Public Interest Case", _F.PUBLIC_PROTECTION, _C.AMBER, 6),
        RegisterType("INVI", "Victim Contact", _F.ALERTS, _C.AMBER, 3),
        RegisterType("RSTO", "Restraining Order", _F.ALERTS, _C.AMBER, 6),
        RegisterType("SHPO", "Sexual Harm Prevention Order / Sexual Risk Order", _F.ALERTS, _C.RED, 3),
        RegisterType("AVIS", "ViSOR", _F.PUBLIC_PROTECTION, _C.AMBER, 6, _L.MAPPA),
        RegisterType("WRSM", "Warrant / Summons", _F.INFORMATION, _C.AMBER, 3),
        RegisterType("RRR", "Required Risk Review", _F.PUBLIC_PROTECTION, _C.WHITE, 3),
        # Legacy local flags for the case study's own ideas; kept so old data reads, not selectable.
        RegisterType("REG11", "Critical Few", _F.PUBLIC_PROTECTION, _C.RED, 0, selectable=False),
        RegisterType("REG14", "Management Oversight", _F.ALERTS, _C.WHITE, 6, selectable=False),
    )
}

# The RoSH register that goes with each overall RoSH level (nDelius keeps RoSH as a registration).
ROSH_REGISTERS: dict[str, str] = {"LOW": "RLRH", "MEDIUM": "RMRH", "HIGH": "RHRH", "VERY_HIGH": "RVHR"}
MAPPA_REGISTER = "MAPP"


# The RoSH registers follow the case's RoSH level, and the MAPPA register its MAPPA level (casework.register
# keeps them in step): nobody adds or ends one of these by hand.
FOLLOWS_A_LEVEL = frozenset(code for code, kind in REGISTER_TYPES.items() if kind.lens == Lens.ROSH) | {
    "MAPP"
}


def chosen_by_hand(code: str) -> bool:
    """Whether staff (or a feed) may add or end a registration of this type directly."""
    kind = REGISTER_TYPES.get(code)
    return kind is not None and kind.selectable and code not in FOLLOWS_A_LEVEL


def register_type(code: str) -> RegisterType:
    """The register type with this code; a KeyError names the codes that exist."""
    try:
        return REGISTER_TYPES[code]
    except KeyError:
        raise KeyError(f"{code!r} is not a register type; known codes: {', '.join(REGISTER_TYPES)}") from None


def add_months(start: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has fewer days (31 Jan + 1 = 28 Feb)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
