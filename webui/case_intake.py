"""Record a new case identified at court: the case administrators' and SPOs' page for what the court
system would otherwise send over the API.

The person types the CRN and the court's first details (the form of the newest version of the
process, drawn as the task page draws it). tasks.intake checks them, puts the case on the register
and starts its process, keeping the details as the draft of the first-details task; a case
administrator then completes that task at once, an SPO leaves it for the case administrators to
check. A mistake shows the form again with what was typed and a GOV.UK error summary, and nothing is
started.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from casework import register
from casework.case_list import CRN
from engine.clock import area_date
from engine.errors import Conflict, FieldError, InvalidData, NotPermitted
from tasks import intake
from webui import riskflow
from webui.forms_render import Entered, entered_values, fields_of, form_data, page_errors, schema_errors

bp = Blueprint("case_intake", __name__)

CRN_ANCHOR = {"crn": "crn"}


def may_record_cases(roles: frozenset[str] | set[str]) -> bool:
    """Whether someone with `roles` records new cases: the case administrators and the SPOs."""
    return bool(set(roles) & intake.RECORDING_ROLES)


@bp.route("/cases/new", methods=["GET", "POST"])
def new_case() -> Response | str | tuple[str, int]:
    """The form (GET), or the case put on the register and its process started (POST)."""
    if not may_record_cases(current_user.roles):
        abort(403, "Only case administrators and Senior Probation Officers record a new case.")
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        schema = intake.first_details_form(shared.engine, session)
    fields = fields_of(schema)
    if request.method == "GET":
        return _page(schema, "", {}, [])
    crn = request.form.get("crn", "").strip().upper()[:20]
    entered = entered_values(fields, request.form)
    data, errors = form_data(fields, entered)
    errors += schema_errors(schema, data, {e.field for e in errors}, area_date(shared.clock.now()))
    if not CRN.match(crn):
        errors.insert(0, FieldError("crn", "Enter a CRN: a capital letter and six digits, such as X320741"))
    if errors:
        return _page(schema, crn, entered, errors), 422
    try:
        _, task = intake.identify_at_court(shared.engine, crn, data, current_user.actor)
    except InvalidData as err:
        return _page(schema, crn, entered, err.errors), 422
    except register.RegisterError as err:  # not a CRN, or one on the register already
        return _page(schema, crn, entered, [FieldError("crn", str(err))]), 422
    if task is not None and task.candidate_role in current_user.roles:
        try:
            shared.engine.complete_task(task.id, current_user.actor, data)
        except (InvalidData, Conflict, NotPermitted) as err:
            flash(f"{crn} is on the register, but its first details are not yet recorded: {err}", "error")
            return redirect(url_for("task.page", task_id=task.id))
        flash(
            f"{crn} is on the register and its first details are recorded. "
            "Its pre-sentence report waits for an Offender Manager to pick it up.",
            "success",
        )
    else:
        flash(
            f"{crn} is on the register. Its first details wait, filled in, for a case administrator "
            "to check and complete.",
            "success",
        )
    return redirect(url_for("cases.record", crn=crn))


def _page(schema: dict[str, Any], crn: str, entered: Entered, errors: list[FieldError]) -> str:
    fields = fields_of(schema)
    return render_template(
        "cases/new.html",
        schema=schema,
        fields=fields,
        crn=crn,
        entered=entered,
        errors=page_errors(fields, errors, CRN_ANCHOR),
    )
