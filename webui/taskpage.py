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

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from werkzeug.wrappers import Response

from casework.access_log import Purpose
from engine.clock import area_date
from engine.errors import Conflict, FieldError, InvalidData, NotFound, NotPermitted
from engine.runtime import ElementDetails
from tasks import handoffs
from tasks.handoffs import NextStep, Record
from tasks.task_page import Shown, TaskView, next_task_id, shown_records, task_view
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

_instructions = SandboxedEnvironment(autoescape=False)  # the page escapes the result


def instructions(details: ElementDetails, data: dict[str, Any]) -> str:
    """The step's instructions with the case's values filled in (the template as written if it fails)."""
    if not details.instructions:
        return ""
    try:
        return _instructions.from_string(details.instructions).render(**data)
    except TemplateError:
        return details.instructions


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


def records(task_id: int, schema: dict[str, Any], instructions_text: str) -> tuple[Shown, Record | None]:
    """What the step's form shows from earlier steps, and (once done) what the task itself recorded.
    Called only for a task the person may see (after `_load`)."""
    shared = riskflow()
    data = shared.engine.task_data(task_id) if instructions_text or schema.get(handoffs.SHOWS) else {}
    with shared.db.transaction(write=False) as session:
        return shown_records(session, shared.engine, task_id, schema, data)


def _load(task_id: int, *, audit: bool) -> tuple[TaskView, dict[str, Any] | None]:
    """The page's content and the step's schema; 404 when the person may not see the task."""
    shared = riskflow()
    user: SignedInStaff = current_user
    with shared.db.transaction(write=audit) as session:
        view = task_view(session, shared.engine, user, task_id, shared.clock.now(), show_time=local_time)
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
