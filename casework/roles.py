"""The grades and roles of the probation area: who does which step of the process."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A role a member of staff holds; process lanes map onto these codes."""

    CASE_ADMINISTRATOR = "CASE_ADMIN"
    OFFENDER_MANAGER = "OM"
    SENIOR_PROBATION_OFFICER = "SPO"
    RISK_CONSULTANT = "RISK_CONSULTANT"
    ASSISTANT_CHIEF_OFFICER = "ACO"
    MAPPA_COORDINATOR = "MAPPA_COORDINATOR"
    PROCESS_OWNER = "PROCESS_OWNER"

    @property
    def display_name(self) -> str:
        """The role's name as staff say it."""
        return ROLE_TITLES[self]


ROLE_TITLES: dict[Role, str] = {
    Role.CASE_ADMINISTRATOR: "Case Administrator",
    Role.OFFENDER_MANAGER: "Offender Manager",
    Role.SENIOR_PROBATION_OFFICER: "Senior Probation Officer",
    Role.RISK_CONSULTANT: "Risk Consultant",
    Role.ASSISTANT_CHIEF_OFFICER: "Assistant Chief Officer",
    Role.MAPPA_COORDINATOR: "MAPPA Coordinator",
    Role.PROCESS_OWNER: "Process Owner",
}

# Roles that do steps of the process (a process owner edits the model instead).
TASK_ROLES = frozenset(r.value for r in Role if r is not Role.PROCESS_OWNER)
