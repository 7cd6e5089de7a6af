"""The words of the central register: grades, experience bands, RoSH, MAPPA, stages and outcomes.

Codes follow the vocabularies of domain.md (OASys RoSH levels, MAPPA categories and levels, the
grades of a c.2008 probation area); the enums are stored by their values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from casework.roles import Role


class Grade(StrEnum):
    """A member of staff's grade: it gives their roles and decides which cases they may own."""

    PO = "PO"
    PSO = "PSO"
    TRAINEE_PO = "TRAINEE_PO"
    SENIOR_PRACTITIONER = "SENIOR_PRACTITIONER"
    SPO = "SPO"
    ACO = "ACO"
    CASE_ADMIN = "CASE_ADMIN"
    RISK_CONSULTANT = "RISK_CONSULTANT"
    MAPPA_COORDINATOR = "MAPPA_COORDINATOR"

    @property
    def display_name(self) -> str:
        """The grade as staff say it."""
        return GRADE_TITLES[self]

    @property
    def roles(self) -> frozenset[Role]:
        """The roles this grade gives."""
        return GRADE_ROLES[self]


GRADE_TITLES: dict[Grade, str] = {
    Grade.PO: "Probation Officer",
    Grade.PSO: "Probation Services Officer",
    Grade.TRAINEE_PO: "Trainee Probation Officer",
    Grade.SENIOR_PRACTITIONER: "Senior Practitioner",
    Grade.SPO: "Senior Probation Officer",
    Grade.ACO: "Assistant Chief Officer",
    Grade.CASE_ADMIN: "Case Administrator",
    Grade.RISK_CONSULTANT: "Risk Consultant",
    Grade.MAPPA_COORDINATOR: "MAPPA Coordinator",
}

GRADE_ROLES: dict[Grade, frozenset[Role]] = {
    Grade.PO: frozenset({Role.OFFENDER_MANAGER}),
    Grade.PSO: frozenset({Role.OFFENDER_MANAGER}),
    Grade.TRAINEE_PO: frozenset({Role.OFFENDER_MANAGER}),
    Grade.SENIOR_PRACTITIONER: frozenset({Role.OFFENDER_MANAGER}),
    Grade.SPO: frozenset({Role.SENIOR_PROBATION_OFFICER}),
    Grade.ACO: frozenset({Role.ASSISTANT_CHIEF_OFFICER}),
    Grade.CASE_ADMIN: frozenset({Role.CASE_ADMINISTRATOR}),
    Grade.RISK_CONSULTANT: frozenset({Role.RISK_CONSULTANT}),
    Grade.MAPPA_COORDINATOR: frozenset({Role.MAPPA_COORDINATOR}),
}

# The grades that hold cases as Offender Manager.
CASE_HOLDING_GRADES = frozenset({Grade.PO, Grade.PSO, Grade.TRAINEE_PO, Grade.SENIOR_PRACTITIONER})
# Qualified probation officers: the only owners for high risk (domain.md section 4).
QUALIFIED_OFFICER_GRADES = frozenset({Grade.PO, Grade.SENIOR_PRACTITIONER})


class ExperienceBand(StrEnum):
    """How experienced an Offender Manager is: it sets countersigning and oversight (domain.md 3.4)."""

    NEWLY_QUALIFIED = "N"
    EXPERIENCED = "E"
    SENIOR = "S"


class RoshLevel(StrEnum):
    """The OASys risk of serious harm levels; there is no such thing as no risk."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    VERY_HIGH = "VERY_HIGH"

    @property
    def rank(self) -> int:
        """0 for low up to 3 for very high, to compare levels."""
        return list(RoshLevel).index(self)

    @property
    def display_name(self) -> str:
        """The level as it is written on a case: Low, Medium, High, Very High."""
        return self.value.replace("_", " ").title()


HIGH_ROSH = frozenset({RoshLevel.HIGH, RoshLevel.VERY_HIGH})


class RiskGroup(StrEnum):
    """Who a person is a risk to: the OASys 'risk in community' groups, and prisoners (risk in custody)."""

    CHILDREN = "CHILDREN"
    PUBLIC = "PUBLIC"
    KNOWN_ADULT = "KNOWN_ADULT"
    STAFF = "STAFF"
    PRISONERS = "PRISONERS"

    @property
    def display_name(self) -> str:
        """The group as it is written on a case: Children, Public, Known adult, Staff, Prisoners."""
        return self.value.replace("_", " ").capitalize()


# What an assessment says of a group it finds no risk to (the register keeps no level for it).
NOT_AT_RISK = "NOT_AT_RISK"


def highest_rosh(levels: Iterable[RoshLevel]) -> RoshLevel | None:
    """The overall RoSH of an assessment: the highest of its groups' levels (None: no group at risk)."""
    return max(levels, key=lambda level: level.rank, default=None)


class RoshByGroupRefused(ValueError):
    """An assessment's levels by group that cannot be recorded; `group` is the one at fault, if one is."""

    def __init__(self, message: str, group: str | None = None) -> None:
        super().__init__(message)
        self.group = group


def rosh_by_group(answers: Mapping[str, object]) -> dict[RiskGroup, RoshLevel]:
    """An assessment's RoSH to each group at risk, from its answers: a group's code and a level's code
    (LOW, MEDIUM, HIGH, VERY_HIGH) or NOT_AT_RISK. A group not answered is not at risk; at least one
    group must have a level, since the overall RoSH is the highest of them (there is no such thing as
    no risk)."""
    levels = {}
    for group, answer in answers.items():
        if group not in RiskGroup.__members__:
            raise RoshByGroupRefused(f"{group} is not a group at risk: give {', '.join(RiskGroup)}.", group)
        if answer == NOT_AT_RISK:
            continue
        if not isinstance(answer, str) or answer not in RoshLevel.__members__:
            raise RoshByGroupRefused(
                f"The risk to {RiskGroup(group).display_name.lower()} must be one of "
                f"{', '.join(RoshLevel)} or {NOT_AT_RISK}.",
                group,
            )
        levels[RiskGroup(group)] = RoshLevel(answer)
    if not levels:
        raise RoshByGroupRefused(
            "Give the RoSH level to at least one group: the overall RoSH is the highest of the groups' "
            "levels, and a case with no identified risk is Low to the public."
        )
    return levels


def overall_rosh(groups: Mapping[RiskGroup, RoshLevel]) -> RoshLevel:
    """The overall RoSH of an assessment by group (`rosh_by_group`): the highest of the groups' levels."""
    highest = highest_rosh(groups.values())
    if highest is None:
        raise RoshByGroupRefused("An assessment by group gives the level to at least one group.")
    return highest


class MappaCategory(StrEnum):
    """MAPPA categories as they were in 2008 (category 4, terrorism, came later)."""

    CAT1 = "CAT1"
    CAT2 = "CAT2"
    CAT3 = "CAT3"


class Stage(StrEnum):
    """Where a case stands in the process (domain.md 1.1)."""

    IDENTIFIED = "IDENTIFIED"
    AWAITING_SENTENCE = "AWAITING_SENTENCE"
    SENTENCED = "SENTENCED"
    ALLOCATED = "ALLOCATED"
    SUPERVISED = "SUPERVISED"
    CLOSED = "CLOSED"


class SentenceOutcome(StrEnum):
    """What the court decided at a hearing (casework.sentencing checks and words them).

    The codes are proposed (domain.md has none). CUSTODY and OTHER are only on cases recorded before
    the outcome was structured (and by older versions of the model); a new record gives the outcome
    itself."""

    CUSTODY_UNDER_12_MONTHS = "CUSTODY_UNDER_12_MONTHS"
    CUSTODY_12_MONTHS_OR_MORE = "CUSTODY_12_MONTHS_OR_MORE"
    CUSTODY_EXTENDED = "CUSTODY_EXTENDED"
    CUSTODY_INDETERMINATE = "CUSTODY_INDETERMINATE"
    SUSPENDED_SENTENCE = "SUSPENDED_SENTENCE"
    COMMUNITY_ORDER = "COMMUNITY_ORDER"
    FINE = "FINE"
    CONDITIONAL_DISCHARGE = "CONDITIONAL_DISCHARGE"
    ABSOLUTE_DISCHARGE = "ABSOLUTE_DISCHARGE"
    ADJOURNED = "ADJOURNED"
    DEFERRED = "DEFERRED"
    ACQUITTED = "ACQUITTED"
    DISMISSED = "DISMISSED"
    WITHDRAWN = "WITHDRAWN"
    CUSTODY = "CUSTODY"
    OTHER = "OTHER"


class AccessList(StrEnum):
    """The two limited-access lists of a case (nDelius LAO): users excluded, or the only users allowed."""

    EXCLUSION = "EXCLUSION"
    RESTRICTION = "RESTRICTION"
