"""The inbox's pages: the lists (tasks.inbox reads them), filters and pages in the URL, claim/release.

Filters and pages live in the URL, so any view of the inbox can be bookmarked and shared.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from casework.access_log import Purpose
from casework.vocabulary import RoshLevel
from engine.errors import Conflict, NotFound, NotPermitted
from engine.models import HumanTask
from tasks.handoffs import RECENT_LIMIT, recently_completed
from tasks.inbox import DUE_FILTERS, Filters, inbox_for, may_see_task
from tasks.staff_names import with_staff_names
from webui import riskflow
from webui.auth import SignedInStaff
from webui.reads import log_read

bp = Blueprint("inbox", __name__)


def is_htmx() -> bool:
    """Whether htmx sent this request (it then wants only the part of the page it swaps)."""
    return request.headers.get("HX-Request") == "true"


# ------------------------------------------------------------------------------------------ views


@bp.get("/")
def index() -> str:
    """The signed-in person's inbox, narrowed and paged by the query string (a link that can be shared)."""
    return _render(Filters.from_args(request.args))


def _render(filters: Filters, message: tuple[str, str] | None = None) -> str:
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        inbox = inbox_for(session, current_user, shared.clock.now(), filters)
    template = "inbox/_lists.html" if is_htmx() else "inbox/index.html"
    return render_template(
        template,
        inbox=inbox,
        filters=filters,
        crn=filters.crn,
        due_filters=DUE_FILTERS,
        rosh_levels=list(RoshLevel),
        message=message,
    )


@bp.get("/completed")
def completed() -> str:
    """The person's own recently completed tasks, each linking to what they recorded (a task on a
    case they no longer work on shows nothing of the case)."""
    shared = riskflow()
    user: SignedInStaff = current_user
    with shared.db.transaction() as session:
        rows = recently_completed(session, user.staff_id)
        shown = sorted({row.crn for row in rows if row.crn})
        if shown:
            log_read(session, Purpose.RECENTLY_COMPLETED, shown)
    return render_template("inbox/completed.html", rows=rows, limit=RECENT_LIMIT)


@bp.post("/tasks/<int:task_id>/claim")
def claim(task_id: int) -> Response | str:
    """Claim a pool task; if someone was quicker, say so and go back to where the person was."""
    return _act(task_id, "claim")


@bp.post("/tasks/<int:task_id>/release")
def release(task_id: int) -> Response | str:
    """Give a claimed task back to its pool."""
    return _act(task_id, "release")


def _act(task_id: int, action: str) -> Response | str:
    shared = riskflow()
    user: SignedInStaff = current_user
    with shared.db.transaction(write=False) as session:
        visible = may_see_task(session, user, task_id)
    if not visible:
        return _done(("error", "That task is not there any more, or is not one you can work on."))
    try:
        if action == "claim":
            shared.engine.claim(task_id, user.actor)
            message = ("success", "Task claimed: it is now in My tasks.")
        else:
            shared.engine.release(task_id, user.actor)
            message = ("success", "Task released: it is back in the list to claim.")
    except (Conflict, NotPermitted, NotFound) as err:
        message = ("error", with_display_names(task_id, err.message))
    if request.form.get("then") == "task":  # claimed from the task page: back to it, either way
        flash(message[1], message[0])
        return redirect(url_for("task.page", task_id=task_id))
    return _done(message)


def _done(message: tuple[str, str]) -> Response | str:
    """Back to the inbox view the person acted from: the lists for htmx, else a redirect."""
    back = safe_return(request.form.get("return_to"))
    if is_htmx():
        return _render(Filters.from_args(MultiDict(parse_qsl(urlsplit(back).query))), message)
    flash(message[1], message[0])
    return redirect(back)


def safe_return(target: str | None) -> str:
    """`target` when it is an inbox address on this site, else the inbox itself (no open redirects)."""
    inbox = url_for("inbox.index")
    if not target:
        return inbox
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path != inbox:
        return inbox
    return f"{inbox}?{urlencode(parse_qsl(parts.query))}" if parts.query else inbox


def with_display_names(task_id: int, message: str) -> str:
    """The engine names people by username; staff read their colleagues' names."""
    with riskflow().db.transaction(write=False) as session:
        task = session.get(HumanTask, task_id)
        people = [task.claimed_by, task.assignee, task.completed_by] if task else []
        return with_staff_names(session, message, people)
