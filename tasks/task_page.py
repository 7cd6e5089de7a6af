"""The task page's read: one step of a case, whether the person may act on it, and the case panel.

`task_view` takes the database session, the engine, the person, the time and how a time is shown
(the page's formatting), never the Flask app: webui.taskpage builds those per request. A task on a
case the person may not see is None, and says nothing about it. A task they may see but not act on
(someone else's, another role's, a finished one) comes with the reason; a pool task they may take
comes as "claim".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from casework.access import may_view
from casework.critical_few import RiskProfile, assess, table_in_force
from casework.models import AccessLimitation, Case, Staff
from casework.register import current_oversight_plan
from casework.register_types import REGISTER_TYPES
from casework.roles import Role
from engine.errors import NotPermitted
from engine.models import HumanTask, ProcessDefinition, ProcessInstance
from engine.runtime import Actor, ElementDetails, ProcessEngine
from tasks import handoffs
from tasks.due_dates import due_status
from tasks.handoffs import Record
from tasks.open_tasks import OpenTask, open_tasks_on_case
from tasks.person import Person
from tasks.staff_names import staff_names

CHANGE_NOTICE = timedelta(days=28)  # how long staff are told that a step has changed

ShowTime = Callable[[datetime | None], str]  # how the page writes a time ("2 Nov 2026, 09:00")


@dataclass(frozen=True)
class CaseEssentials:
    """What the person needs to know about the case beside the form."""

    crn: str
    name: str | None  # None when the register has no name for the person yet
    owner: str
    team: str | None
    rosh: str
    mappa: str
    band: str  # critical, watch or background
    reasons: list[str]
    flags: list[str]
    oversight_due: datetime | None
    open_tasks: list[OpenTask]


@dataclass(frozen=True)
class StepChange:
    """A recent change to this step of the process, with the process owner's note."""

    version: int
    published_at: datetime
    note: str


@dataclass(frozen=True)
class TaskView:
    """Everything the task page shows, read in one transaction."""

    id: int
    title: str
    element_id: str
    instance_id: int
    definition_id: int
    process_id: str
    form_file: str | None
    due_at: datetime | None
    due: str
    due_standard: str | None  # the standard the due date keeps, in words; None: the step's own time
    mode: str  # "act": the form; "claim": a pool task to take first; "read": read-only with `reason`
    reason: str | None
    draft: dict[str, Any] | None
    case: CaseEssentials
    details: ElementDetails
    change: StepChange | None = None  # shown for CHANGE_NOTICE after a version changes this step


def task_view(
    session: Session,
    engine: ProcessEngine,
    user: Person,
    task_id: int,
    now: datetime,
    *,
    show_time: ShowTime,
) -> TaskView | None:
    """The task page's content, or None when the task is not there or its case is not the person's to see."""
    row = session.get(HumanTask, task_id)
    staff = session.get(Staff, user.staff_id)
    if row is None or staff is None:
        return None
    case = session.scalar(
        select(Case)
        .where(Case.crn == row.business_key)
        .options(
            joinedload(Case.owner),
            joinedload(Case.team),
            joinedload(Case.access_limitation).selectinload(AccessLimitation.entries),
            selectinload(Case.registrations),
        )
    )
    if case is None or not may_view(staff, case):
        return None
    instance = session.get(ProcessInstance, row.instance_id)
    if instance is None:
        return None
    mode, reason = standing(session, engine, row, user, show_time)
    return TaskView(
        id=row.id,
        title=row.title,
        element_id=row.element_id,
        instance_id=row.instance_id,
        definition_id=instance.definition_id,
        process_id=row.process_id,
        form_file=row.form_file,
        due_at=row.due_at,
        due=due_status(row.due_at, now) if row.state == "open" else "",
        due_standard=row.due_standard,
        mode=mode,
        reason=reason,
        draft=row.draft,
        case=essentials(session, case, now, row.id),
        details=engine.element_details(session, instance.definition_id, row.process_id, row.element_id),
        change=recent_change(session, instance.definition_id, row.element_id, now),
    )


def recent_change(session: Session, definition_id: int, element_id: str, now: datetime) -> StepChange | None:
    """The change note of the version this task runs on, if that version changed this step and
    was published less than CHANGE_NOTICE ago: staff whose steps changed are told what and why."""
    definition = session.get(ProcessDefinition, definition_id)
    if definition is None or not definition.note or element_id not in (definition.changed_steps or []):
        return None
    if now - definition.deployed_at > CHANGE_NOTICE:
        return None
    return StepChange(definition.version, definition.deployed_at, definition.note)


def standing(
    session: Session, engine: ProcessEngine, row: HumanTask, user: Person, show_time: ShowTime
) -> tuple[str, str | None]:
    """Whether `user` may act on the task ("act"), must claim it first ("claim"), or only read it."""
    names = staff_names(session, [row.completed_by, row.claimed_by, row.assignee])
    if row.state == "completed":
        who = names.get(row.completed_by or "", row.completed_by)
        return "read", f"This task was completed by {who} on {show_time(row.completed_at)}."
    if row.state != "open":
        return (
            "read",
            "The process withdrew this task (for example, a deadline passed), so it needs nothing more.",
        )
    try:
        engine.policy.check_may_complete(row, Actor(user.username, user.roles))
    except NotPermitted as err:
        if err.code == "wrong_role" and row.candidate_role:
            role = _role_title(row.candidate_role)
            return "read", f"This task is for a {role}, and you do not hold that role."
        holder = row.claimed_by or row.assignee or ""
        return "read", f"This task is held by {names.get(holder, holder)}; only they can work on it."
    if row.claimed_by is None and row.assignee is None:
        return "claim", None
    return "act", None


def essentials(session: Session, case: Case, now: datetime, task_id: int) -> CaseEssentials:
    """The case panel: owner, RoSH, MAPPA, the critical-few band and why, flags, oversight and open work."""
    assessment = assess(RiskProfile.of(case), today=now.date(), table=table_in_force(session))
    plan = current_oversight_plan(session, case)
    open_tasks = open_tasks_on_case(session, case, now, besides=task_id)
    flags = [
        f"{REGISTER_TYPES[r.code].name} ({r.code})" if r.code in REGISTER_TYPES else r.code
        for r in sorted(case.active_registrations(), key=lambda r: r.code)
    ]
    return CaseEssentials(
        crn=case.crn,
        name=case.name if (case.forename or case.surname) else None,
        owner=case.owner.display_name if case.owner else "Unallocated",
        team=case.team.name if case.team else None,
        rosh=case.rosh.display_name if case.rosh else "Not assessed",
        mappa=_mappa(case),
        band=assessment.band.value,
        reasons=assessment.reasons,
        flags=flags,
        oversight_due=plan.next_review_due if plan else None,
        open_tasks=open_tasks,
    )


def _mappa(case: Case) -> str:
    if case.mappa_category is None:
        return "Not a MAPPA case"
    category = f"Category {case.mappa_category.value.removeprefix('CAT')}"
    return f"{category}, level {case.mappa_level}" if case.mappa_level else category


def _role_title(code: str) -> str:
    try:
        return Role(code).display_name
    except ValueError:
        return code


def next_task_id(session: Session, user: Person, crn: str) -> int | None:
    """The person's next open task on the case (assigned to or claimed by them), soonest due first."""
    return session.scalar(
        select(HumanTask.id)
        .where(
            HumanTask.business_key == crn,
            HumanTask.state == "open",
            or_(HumanTask.assignee == user.username, HumanTask.claimed_by == user.username),
        )
        .order_by(HumanTask.due_at.asc().nulls_last(), HumanTask.id)
        .limit(1)
    )


@dataclass(frozen=True)
class Shown:
    """The case's data as the task sees it, and what earlier steps recorded that the form `shows`."""

    data: dict[str, Any]
    records: list[Record]


def shown_records(
    session: Session, engine: ProcessEngine, task_id: int, schema: dict[str, Any], data: dict[str, Any]
) -> tuple[Shown, Record | None]:
    """What the step's form shows from earlier steps (with the case's `data`), and (once done) what
    the task itself recorded. Only for a task the person may see (after `task_view`)."""

    def form_of(definition_id: int, form_file: str) -> dict[str, Any]:
        return engine.form_schema(session, definition_id, form_file)

    row = session.get(HumanTask, task_id)
    if row is None:
        return Shown(data, []), None
    shown = handoffs.shown_records(session, row, schema, data, form_of)
    return Shown(data, shown), handoffs.own_record(session, row, form_of)
