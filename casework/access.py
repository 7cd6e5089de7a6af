"""Who may see a case: the one place that decides need-to-know (domain.md 6.1 and 6.2).

A case's limited-access lists come first, as in nDelius: someone on its exclusion list is kept out
with the exclusion message, and when it has a restriction list only the people on that list may see
it. Otherwise a case is seen by the people who work on it: its owner, the owner's line manager, the
SPO and case administrators of the owning team, the ACOs (area-wide), the risk consultants (high
and very high RoSH), the MAPPA coordinator (MAPPA cases); an unallocated case by the case
administrators and SPOs who record and allocate it, and, until its pre-sentence report is written
(stage IDENTIFIED), by the Offender Managers who may pick the report up from their pool. Nobody
else.
"""

from __future__ import annotations

from dataclasses import dataclass

from casework.models import Case, Staff
from casework.roles import Role
from casework.vocabulary import HIGH_ROSH, AccessList, Stage

DEFAULT_EXCLUSION_MESSAGE = "You are excluded from viewing this offender record."
DEFAULT_RESTRICTION_MESSAGE = "This offender record is restricted to named staff."


@dataclass(frozen=True)
class Decision:
    """Whether someone may see a case, why, and (when refused for limited access) the message to show."""

    allowed: bool
    reason: str
    message: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


def may_view(staff: Staff, case: Case) -> Decision:
    """Decide whether `staff` may see `case`, and why."""
    if not staff.active:
        return Decision(False, f"{staff.display_name} is not active on the staff list.")
    limited = _limited_access(staff, case)
    if limited is not None:
        return limited
    reasons = _relationships(staff, case)
    if reasons:
        return Decision(True, "; ".join(reasons))
    return Decision(False, _no_need_to_know(case))


def kept_out(staff: Staff, case: Case) -> Decision | None:
    """Whether `staff` is kept from `case` whatever their part in it (inactive, or the case's access
    lists); None when nothing keeps them out, so that work on the case given to them lets them see it."""
    if not staff.active:
        return Decision(False, f"{staff.display_name} is not active on the staff list.")
    return _limited_access(staff, case)


# The relationships that let someone report a change to a case (not only read it).
CHANGE_REASONS = (
    "owns the case",
    "line manager of the case's owner",
    "SPO of the owning team",
    "ACO: oversight across the area",
)


def may_change(staff: Staff, case: Case) -> Decision:
    """Decide whether `staff` may report a change to `case` (a registration, its RoSH, a transfer, a
    MAPPA referral): its owner, the owner's line manager, the owning team's SPO and the ACOs; for an
    unallocated case, the SPOs who allocate it. Never anyone the case's access lists keep out."""
    seen = may_view(staff, case)
    if not seen:
        return seen
    allowed = [r for r in _relationships(staff, case) if r in CHANGE_REASONS]
    if case.owner is None and staff.holds(Role.SENIOR_PROBATION_OFFICER):
        allowed.append("SPO: allocates the case")
    if allowed:
        return Decision(True, "; ".join(allowed))
    return Decision(
        False, "only the case's Offender Manager, their line manager and SPO, and the ACOs report changes"
    )


# The relationships that let someone change a case's exclusion and restriction lists: the senior
# officers who answer for who sees a case, not the officer who holds it (docs/security.md).
ACCESS_LIST_REASONS = ("SPO of the owning team", "ACO: oversight across the area")


def may_manage_access_lists(staff: Staff, case: Case) -> Decision:
    """Decide whether `staff` may change who is on the case's exclusion and restriction lists: the
    owning team's SPO and the ACOs, when the lists themselves let them see the case."""
    seen = may_view(staff, case)
    if not seen:
        return seen
    allowed = [r for r in _relationships(staff, case) if r in ACCESS_LIST_REASONS]
    if allowed:
        return Decision(True, "; ".join(allowed))
    return Decision(False, "only the SPO of the case's team and the ACOs change who may see a case")


def _limited_access(staff: Staff, case: Case) -> Decision | None:
    limitation = case.access_limitation
    if limitation is None:
        return None
    if staff.id in limitation.listed(AccessList.EXCLUSION):
        message = limitation.exclusion_message or _with_owner(DEFAULT_EXCLUSION_MESSAGE, case)
        return Decision(False, "on the case's exclusion list", message)
    restricted_to = limitation.listed(AccessList.RESTRICTION)
    if not restricted_to:
        return None
    if staff.id in restricted_to:
        return Decision(True, "named on the case's restriction list")
    message = limitation.restriction_message or _with_owner(DEFAULT_RESTRICTION_MESSAGE, case)
    return Decision(False, "not on the case's restriction list", message)


def _relationships(staff: Staff, case: Case) -> list[str]:
    """Every reason `staff` has to work on `case` (empty: no need to know)."""
    owner = case.owner
    reasons = []
    if owner is not None and owner.id == staff.id:
        reasons.append("owns the case")
    if owner is not None and owner.line_manager_id == staff.id:
        reasons.append("line manager of the case's owner")
    in_owning_team = case.team_id is not None and case.team_id == staff.team_id
    spo_of_team = case.team is not None and case.team.spo_id == staff.id
    if staff.holds(Role.SENIOR_PROBATION_OFFICER) and (in_owning_team or spo_of_team):
        reasons.append("SPO of the owning team")
    if staff.holds(Role.CASE_ADMINISTRATOR) and in_owning_team:
        reasons.append("case administrator in the owning team")
    if owner is None and (staff.holds(Role.CASE_ADMINISTRATOR) or staff.holds(Role.SENIOR_PROBATION_OFFICER)):
        reasons.append("the case is not yet allocated: records and allocation")
    if owner is None and case.stage == Stage.IDENTIFIED and staff.holds(Role.OFFENDER_MANAGER):
        reasons.append("court work: its pre-sentence report is for an officer on court duty")
    if staff.holds(Role.ASSISTANT_CHIEF_OFFICER):
        reasons.append("ACO: oversight across the area")
    if staff.holds(Role.RISK_CONSULTANT) and case.rosh in HIGH_ROSH:
        reasons.append("risk consultant: high or very high RoSH case")
    if staff.holds(Role.MAPPA_COORDINATOR) and case.mappa_category is not None:
        reasons.append("MAPPA coordinator: MAPPA case")
    return reasons


def _no_need_to_know(case: Case) -> str:
    if case.owner is None:
        return "no need to know: the case is not yet allocated"
    team = f" in {case.team.name}" if case.team else ""
    return f"no need to know: the case is held by {case.owner.display_name}{team}"


def _with_owner(message: str, case: Case) -> str:
    if case.owner is None:
        return message
    return (
        f"{message} Contact {case.owner.display_name}, the case's Offender Manager, if you need to know more."
    )
