"""The task page: one step of a case, with its instructions, the case essentials and the step's form.

Everything on the page passes need-to-know first: a task on a case the person may not see is a 404
that says nothing about it. A task they may see but not act on (someone else's, another role's, a
finished one) is shown read-only with the reason; a pool task they may take is shown with a Claim
button. The form comes from the step's JSON Schema (webui.forms_render) and is checked on the
server; a page with errors keeps everything entered. Completing goes to the person's next task on
the same case, else back to the inbox. Every view of the page is written to the access log
(webui.reads.log_read), as it shows the person's name, CRN and RoSH.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload, selectinload
from werkzeug.wrappers import Response

from casework.access import may_view
from casework.access_log import Purpose
from casework.critical_few import RiskProfile, assess, table_in_force
from casework.models import AccessLimitation, Case, Staff
from casework.register import current_oversight_plan
from casework.register_types import REGISTER_TYPES
from casework.roles import Role
from engine.clock import area_date
from engine.errors import Conflict, FieldError, InvalidData, NotFound, NotPermitted
from engine.models import HumanTask, ProcessDefinition, ProcessInstance
from engine.runtime import ElementDetails
from tasks import handoffs
from tasks.due_dates import due_status
from tasks.handoffs import NextStep, Record
from tasks.open_tasks import OpenTask, open_tasks_on_case
from tasks.staff_names import staff_names
from webui import riskflow
from webui.auth import SignedInStaff
from webui.display import local_time
from webui.forms_render import (
    Entered,
    answer_text,
    entered_from,
    entered_values,
    fields_of,
    form_data,
    page_errors,
    schema_errors,
)
from webui.inbox import with_display_names
from webui.reads import log_read

bp = Blueprint("task", __name__)
CHANGE_NOTICE = timedelta(days=28)  # how long staff are told that a step has changed

_instructions = SandboxedEnvironment(autoescape=False)  # the page escapes the result


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


def task_view(session: Session, user: SignedInStaff, task_id: int, now: datetime) -> TaskView | None:
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
    shared = riskflow()
    mode, reason = standing(session, row, user)
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
        details=shared.engine.element_details(
            session, instance.definition_id, row.process_id, row.element_id
        ),
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


def standing(session: Session, row: HumanTask, user: SignedInStaff) -> tuple[str, str | None]:
    """Whether `user` may act on the task ("act"), must claim it first ("claim"), or only read it."""
    names = staff_names(session, [row.completed_by, row.claimed_by, row.assignee])
    if row.state == "completed":
        who = names.get(row.completed_by or "", row.completed_by)
        return "read", f"This task was completed by {who} on {local_time(row.completed_at)}."
    if row.state != "open":
        return (
            "read",
            "The process withdrew this task (for example, a deadline passed), so it needs nothing more.",
        )
    try:
        riskflow().engine.policy.check_may_complete(row, user.actor)
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


def instructions(details: ElementDetails, data: dict[str, Any]) -> str:
    """The step's instructions with the case's values filled in (the template as written if it fails)."""
    if not details.instructions:
        return ""
    try:
        return _instructions.from_string(details.instructions).render(**data)
    except TemplateError:
        return details.instructions


def next_task_id(session: Session, user: SignedInStaff, crn: str) -> int | None:
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


def case_url(crn: str) -> str:
    """The case record page, where the app has one."""
    if "cases.record" in current_app.view_functions:
        return url_for("cases.record", crn=crn)
    return f"/cases/{crn}"


# ------------------------------------------------------------------------------------------ views


@bp.get("/tasks/<int:task_id>")
def page(task_id: int) -> str:
    """The task page; a task on a case the person may not see is not found."""
    view, schema = _load(task_id, audit=True)
    entered = entered_from(view.draft) if view.mode == "act" else {}
    return _render(view, schema, entered, [])


@bp.post("/tasks/<int:task_id>")
def submit(task_id: int) -> Response | tuple[str, int]:
    """Save a draft, or complete the task: errors re-show the form with everything entered."""
    shared = riskflow()
    user: SignedInStaff = current_user
    view, schema = _load(task_id, audit=False)
    fields = fields_of(schema) if schema else []
    entered = entered_values(fields, request.form)
    try:
        if request.form.get("action") == "draft":
            shared.engine.save_draft(task_id, user.actor, entered)
            flash("Draft saved. You can come back to this task from your inbox.", "success")
            return redirect(url_for("task.page", task_id=task_id))
        data, errors = form_data(fields, entered)
        errors += schema_errors(schema, data, {e.field for e in errors}, area_date(shared.clock.now()))
        if errors:
            return _render(view, schema, entered, errors), 422
        shared.engine.complete_task(task_id, user.actor, data)
    except InvalidData as err:
        return _render(view, schema, entered, err.errors), 422
    except (Conflict, NotPermitted, NotFound) as err:
        flash(with_display_names(task_id, err.message), "error")
        return redirect(url_for("task.page", task_id=task_id))
    with shared.db.transaction(write=False) as session:
        following = next_task_id(session, user, view.case.crn)
        steps = handoffs.next_steps(session, task_id, user.username)
        sees = handoffs.still_sees(session, user.staff_id, view.case.crn)
    if following is not None:
        flash(f"{view.title} is complete. This is your next task on {view.case.crn}.", "success")
        return redirect(url_for("task.page", task_id=following))
    flash(completion_banner(view.title, view.case.crn, steps, still_sees=sees), "success")
    return redirect(url_for("inbox.index"))


def completion_banner(title: str, crn: str, steps: list[NextStep], *, still_sees: bool) -> str:
    """What the person is told when a task is done: who has the next step, and (when the case has
    moved out of their sight, as a report writer's does before allocation) that it has."""
    words = f"{title} is complete for {crn}."
    if steps:
        nexts = "; ".join(f"{s.title}, now with {'you' if s.mine else s.holder}" for s in steps)
        words += f" Next: {nexts}."
    else:
        words += " No step waits for a person now: the case waits for what the process needs next."
    if not still_sees:
        words += (
            " The case is no longer one you work on, so it is not in your lists;"
            " your completed tasks are under Recently completed."
        )
    return words


@dataclass(frozen=True)
class Shown:
    """The case's data as the task sees it, and what earlier steps recorded that the form `shows`."""

    data: dict[str, Any]
    records: list[Record]


def records(task_id: int, schema: dict[str, Any], instructions_text: str) -> tuple[Shown, Record | None]:
    """What the step's form shows from earlier steps, and (once done) what the task itself recorded.
    Called only for a task the person may see (after `_load`)."""
    shared = riskflow()
    data = shared.engine.task_data(task_id) if instructions_text or schema.get(handoffs.SHOWS) else {}
    with shared.db.transaction(write=False) as session:

        def form_of(definition_id: int, form_file: str) -> dict[str, Any]:
            return shared.engine.form_schema(session, definition_id, form_file)

        row = session.get(HumanTask, task_id)
        if row is None:
            return Shown(data, []), None
        shown = handoffs.shown_records(session, row, schema, data, form_of)
        return Shown(data, shown), handoffs.own_record(session, row, form_of)


def _load(task_id: int, *, audit: bool) -> tuple[TaskView, dict[str, Any] | None]:
    """The page's content and the step's schema; 404 when the person may not see the task."""
    shared = riskflow()
    user: SignedInStaff = current_user
    with shared.db.transaction(write=audit) as session:
        view = task_view(session, user, task_id, shared.clock.now())
        if view is None:
            abort(404)
        # The form as drawn now: a field whose choices come from a source lists what it offers today.
        schema = shared.engine.task_form(session, task_id, user.actor) if view.form_file else None
        if audit:
            log_read(session, Purpose.TASK_PAGE, [view.case.crn])
    return view, schema


def _render(view: TaskView, schema: dict[str, Any] | None, entered: Entered, errors: list[FieldError]) -> str:
    fields = fields_of(schema) if schema else []
    shown, record = records(view.id, schema or {}, view.details.instructions)
    return render_template(
        "task/page.html",
        view=view,
        schema=schema or {},
        fields=fields,
        entered=entered,
        errors=page_errors(fields, errors),
        instructions=instructions(view.details, shown.data),
        shown=shown.records,
        record=record,
        answer_text=answer_text,
        policy_section=view.details.properties.get("policySection"),
        case_url=case_url(view.case.crn),
    )
