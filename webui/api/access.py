"""What an API caller may see and do, on top of its token's scopes.

A person is held to casework.access.may_view (need to know) exactly as in the web pages. A system
has no place in a team, so it has no need to know in may_view's sense: it may read the cases its
scope allows except those whose restriction list names the only staff who may see them.

A refusal says no more than the case record in the web pages does: someone a limited-access case
keeps out (its exclusion list, or a restriction list that does not name them) gets the case's own
message with 403; any other case the caller has no need to know about answers exactly as a case
that is not on the register (404), so the API never tells anyone that a case exists or who holds it.
Managing
instances (retry, skip, suspend, resume, reassign) is for Senior Probation Officers and Assistant
Chief Officers, on cases they may see.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import Session

from casework.access import Decision, may_change, may_view
from casework.case_list import visible_to
from casework.models import AccessLimitation, AccessListEntry, Case, Staff
from casework.roles import Role
from casework.vocabulary import AccessList
from webui.api.callers import Caller
from webui.api.problems import ApiProblem

MANAGER_ROLES = frozenset({Role.SENIOR_PROBATION_OFFICER.value, Role.ASSISTANT_CHIEF_OFFICER.value})
SYSTEM_REFUSAL = "This case's record is restricted to named staff."


def case_decision(session: Session, caller: Caller, case: Case) -> Decision:
    """Whether `caller` may see `case`, and why not."""
    if caller.staff is None:
        limitation = case.access_limitation
        if limitation is not None and limitation.listed(AccessList.RESTRICTION):
            return Decision(False, "restricted to named staff", SYSTEM_REFUSAL)
        return Decision(True, f"system {caller.token}")
    staff = session.get(Staff, caller.staff.staff_id)
    if staff is None:
        return Decision(False, "not on the staff list")
    return may_view(staff, case)


def visible_cases(session: Session, caller: Caller) -> ColumnElement[bool]:
    """case_decision as SQL, for lists: a person's need to know (casework.case_list.visible_to), or,
    for a system, every case but those restricted to named staff."""
    if caller.staff is None:
        restricted = (
            select(AccessLimitation.case_id)
            .join(AccessListEntry, AccessListEntry.limitation_id == AccessLimitation.id)
            .where(AccessListEntry.on_list == AccessList.RESTRICTION)
        )
        return Case.id.not_in(restricted)
    staff = session.get(Staff, caller.staff.staff_id)
    return visible_to(session, staff) if staff is not None else false()


def case_not_found(crn: str) -> ApiProblem:
    """The answer for a CRN that is not on the register, and for a case the caller may not know of."""
    return ApiProblem(404, "not_found", f"There is no case with CRN {crn} on the register.")


def require_case(
    session: Session, caller: Caller, case: Case, *, hidden_as: ApiProblem | None = None
) -> None:
    """Refuse unless `caller` may see `case`: with the case's limited-access message (403) when it has
    one, else with `hidden_as`, the answer for something that is not there (default: no such CRN)."""
    decision = case_decision(session, caller, case)
    if decision:
        return
    if decision.message:
        raise ApiProblem(403, "limited_access", decision.message)
    raise hidden_as or case_not_found(case.crn)


def require_change(session: Session, caller: Caller, case: Case) -> None:
    """Refuse unless `caller` may report a change to `case` (as require_case when they may not see it,
    403 when they may see it but not change it): a person as on the case record
    (casework.access.may_change), a system for any case it may see."""
    require_case(session, caller, case)
    if caller.staff is None:
        return
    staff = session.get(Staff, caller.staff.staff_id)
    decision = may_change(staff, case) if staff is not None else Decision(False, "not on the staff list")
    if not decision:
        raise ApiProblem(
            403, "may_not_change", f"You may not report changes to {case.crn}: {decision.reason}."
        )


def require_manager(caller: Caller) -> None:
    """Refuse with 403 unless the caller is a person who manages instances."""
    staff = caller.person()
    if not staff.roles & MANAGER_ROLES:
        raise ApiProblem(
            403,
            "not_a_manager",
            "Only a Senior Probation Officer or Assistant Chief Officer can manage a case's process.",
        )
