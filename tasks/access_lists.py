"""Changing who may see a case: its exclusion and restriction lists, from the case's access lists page.

Only the people casework.access.may_manage_access_lists names may change them (the owning team's
SPO and the ACOs). Each change goes on the register with its reason (casework.register keeps the
history and refuses changes that would shut out the case's owner or the person making it), is
written to the audit trail (`access_list_changed`), and, in the same transaction, takes the case's
open tasks away from anyone the lists now keep out: a task they claimed from a pool goes back to
that pool unclaimed; a task assigned to them personally goes to the owning team's SPO, or to its
role's pool when the SPO is the person kept out (or is kept out too). Each move is audited with the
reason "excluded from the case".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from casework import register
from casework.access import may_manage_access_lists, may_view
from casework.models import AccessListChange, Case, Staff
from casework.register import AccessListRefused
from casework.vocabulary import AccessList
from engine.humantasks import release_open_tasks
from engine.models import AuditEvent, HumanTask

EXCLUDED_FROM_THE_CASE = "excluded from the case"


class NotYoursToChange(AccessListRefused):
    """The person asking may not change this case's lists."""


@dataclass(frozen=True)
class ListChanged:
    """What a change did: the history rows it wrote and how many open tasks it moved."""

    changes: list[AccessListChange]
    tasks_moved: int


def add_person(
    session: Session, crn: str, username: str, on_list: AccessList, *, reason: str, by: str, at: datetime
) -> ListChanged:
    """Put `username` on the case's exclusion or restriction list, for `by` (who must be allowed)."""
    case = _managed_case(session, crn, by)
    changes = register.add_to_access_list(session, crn, username, on_list, reason=reason, at=at, by=by)
    return _after(session, case, changes, by=by, at=at)


def remove_person(
    session: Session, crn: str, username: str, on_list: AccessList, *, reason: str, by: str, at: datetime
) -> ListChanged:
    """Take `username` off the case's exclusion or restriction list, for `by` (who must be allowed)."""
    case = _managed_case(session, crn, by)
    change = register.remove_from_access_list(session, crn, username, on_list, reason=reason, at=at, by=by)
    return _after(session, case, [change], by=by, at=at)


def set_messages(
    session: Session,
    crn: str,
    *,
    exclusion_message: str,
    restriction_message: str,
    reason: str,
    by: str,
    at: datetime,
) -> ListChanged:
    """Set the messages the case's lists show to the people they keep out."""
    case = _managed_case(session, crn, by)
    change = register.set_access_messages(
        session,
        crn,
        exclusion_message=exclusion_message,
        restriction_message=restriction_message,
        reason=reason,
        at=at,
        by=by,
    )
    return _after(session, case, [change], by=by, at=at)


def release_tasks_of_people_kept_out(session: Session, case: Case, *, by: str, at: datetime) -> int:
    """Move the case's open tasks away from everyone who may no longer see it; how many moved."""
    holders = session.execute(
        select(HumanTask.assignee, HumanTask.claimed_by).where(
            HumanTask.business_key == case.crn,
            HumanTask.state == "open",
            or_(HumanTask.assignee.is_not(None), HumanTask.claimed_by.is_not(None)),
        )
    ).all()
    names = sorted({name for row in holders for name in row if name is not None})
    people = session.scalars(select(Staff).where(Staff.username.in_(names))).all()
    return sum(
        take_open_tasks_from(session, case, person, by=by, at=at, reason=EXCLUDED_FROM_THE_CASE)
        for person in people
        if not may_view(person, case)
    )


def take_open_tasks_from(
    session: Session, case: Case, person: Staff, *, by: str, at: datetime, reason: str
) -> int:
    """Take the case's open tasks away from `person`: a task they claimed goes back to its pool; one
    assigned to them goes to the owning team's SPO when the SPO is someone else, is active and may see
    the case, else to its role's pool. Each move is audited with `reason`; returns how many moved."""
    spo = case.team.spo if case.team is not None else None
    spo_takes = spo is not None and spo.id != person.id and spo.active and bool(may_view(spo, case))
    return release_open_tasks(
        session,
        business_key=case.crn,
        person=person.username,
        assigned_to=spo.username if spo is not None and spo_takes else None,
        actor=by,
        at=at,
        reason=reason,
    )


def _managed_case(session: Session, crn: str, by: str) -> Case:
    case = register.find_case(session, crn)
    staff = register.find_staff(session, by)
    decision = may_manage_access_lists(staff, case)
    if not decision:
        raise NotYoursToChange(
            f"You cannot change who may see {crn}: {decision.reason}.",
            hint="Ask the SPO of the case's team or an ACO.",
        )
    return case


def _after(
    session: Session, case: Case, changes: list[AccessListChange], *, by: str, at: datetime
) -> ListChanged:
    for change in changes:
        session.add(
            AuditEvent(
                at=at,
                actor=by,
                event="access_list_changed",
                business_key=case.crn,
                reason=change.reason,
                detail={
                    "action": change.action,
                    "on_list": change.on_list.value if change.on_list else None,
                    "staff": change.staff.username if change.staff else None,
                },
            )
        )
    session.flush()
    session.expire(case, ["access_limitation"])
    return ListChanged(changes, release_tasks_of_people_kept_out(session, case, by=by, at=at))
