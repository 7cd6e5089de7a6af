"""A case's limited-access lists in the browser: who is on its exclusion and restriction lists, the
messages they show, the history of every change, and forms to change them.

Only the people casework.access.may_manage_access_lists names see this page (the owning team's SPO
and the ACOs); anyone else gets the same answer as from the case record. The view only reads the
form and shows the result: tasks.access_lists decides, records and audits each change. A refused
change is shown again with what was chosen and a GOV.UK error summary, and nothing changes.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from werkzeug.wrappers import Response

from casework import register
from casework.access import may_manage_access_lists, may_view
from casework.access_log import AccessOutcome, Purpose
from casework.models import Case, Staff, Team
from casework.register import AccessListRefused
from casework.vocabulary import AccessList
from tasks import access_lists
from webui import riskflow
from webui.cases import CRN_LENGTH, _case, _not_found, _staff
from webui.reads import log_read

bp = Blueprint("access_lists", __name__)

LISTS = {"exclusion": AccessList.EXCLUSION, "restriction": AccessList.RESTRICTION}
ACTIONS = ("add", "remove", "messages")


@bp.route("/cases/<crn>/access-lists", methods=["GET", "POST"])
def access_lists_page(crn: str) -> Response | str | tuple[str, int]:
    """Show the case's lists and history; on POST, make the one change the form asks for."""
    crn = crn.strip().upper()[:CRN_LENGTH]
    shared = riskflow()
    form = {
        k: request.form.get(k, "")
        for k in ("action", "list", "person", "reason", "exclusion_message", "restriction_message")
    }
    errors: dict[str, str] = {}
    with shared.db.transaction() as session:
        case, refusal = _managed_case(session, crn)
        if case is None:
            return refusal
        if request.method == "POST":
            errors = _change(session, crn, form, at=shared.clock.now())
            if not errors:
                flash("The access lists have been changed.", "success")
                return redirect(url_for("access_lists.access_lists_page", crn=crn))
        page = render_template("cases/access_lists.html", **_page(session, case, form, errors))
    return (page, 400) if errors else page


def _change(session: Session, crn: str, form: dict[str, str], *, at: Any) -> dict[str, str]:
    """Make the change; the errors by field when it was refused (nothing changed)."""
    action, on_list = form["action"], LISTS.get(form["list"])
    if action not in ACTIONS or (action != "messages" and on_list is None):
        return {"list": "Choose the exclusion list or the restriction list"}
    if action != "messages" and not form["person"]:
        return {"person": "Choose a person from the staff list"}
    if not form["reason"].strip():
        return {"reason": "Say why you are making this change"}
    by = current_user.username
    savepoint = session.begin_nested()  # a refused change leaves nothing behind, the access log stays
    try:
        if action == "messages":
            access_lists.set_messages(
                session,
                crn,
                exclusion_message=form["exclusion_message"],
                restriction_message=form["restriction_message"],
                reason=form["reason"],
                by=by,
                at=at,
            )
        elif action == "add":
            assert on_list is not None  # noqa: S101 - checked above
            access_lists.add_person(
                session, crn, form["person"], on_list, reason=form["reason"], by=by, at=at
            )
        else:
            assert on_list is not None  # noqa: S101 - checked above
            access_lists.remove_person(
                session, crn, form["person"], on_list, reason=form["reason"], by=by, at=at
            )
    except AccessListRefused as refused:
        savepoint.rollback()
        return {"person" if action != "messages" else "reason": str(refused)}
    savepoint.commit()
    return {}


def _managed_case(session: Session, crn: str) -> tuple[Case | None, tuple[str, int]]:
    """The case when the signed-in person may manage its lists, else (None, the page to answer with)."""
    staff = _staff(session)
    case = _case(session, crn)
    if case is None:
        return None, _not_found(crn)
    seen = may_view(staff, case)
    decision = may_manage_access_lists(staff, case) if seen else seen
    outcome = AccessOutcome.VIEWED if decision else AccessOutcome.REFUSED
    log_read(session, Purpose.ACCESS_LISTS, [case], basis=decision.reason, outcome=outcome)
    if decision:
        return case, ("", 200)
    if seen:
        message = (
            f"You can read {crn} but not change who may see it: that is for the SPO of its team or an ACO."
        )
        return None, (render_template("cases/limited.html", crn=crn, message=message), 403)
    if decision.message:
        return None, (render_template("cases/limited.html", crn=crn, message=decision.message), 403)
    return None, _not_found(crn)


def _page(session: Session, case: Case, form: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    limitation = case.access_limitation
    on = {which: limitation.listed(which) if limitation else set() for which in AccessList}
    staff = session.scalars(
        select(Staff)
        .options(joinedload(Staff.team))
        .where(Staff.active.is_(True))
        .order_by(Staff.display_name, Staff.id)
    ).all()
    by_id = {
        s.id: s
        for s in session.scalars(
            select(Staff).where(Staff.id.in_(on[AccessList.EXCLUSION] | on[AccessList.RESTRICTION]))
        )
    }
    return {
        "case": case,
        "excluded": sorted((by_id[i] for i in on[AccessList.EXCLUSION]), key=lambda s: s.display_name),
        "restricted_to": sorted((by_id[i] for i in on[AccessList.RESTRICTION]), key=lambda s: s.display_name),
        "messages": limitation,
        "people": [
            (_team_name(s.team), s.username, f"{s.display_name} ({s.grade.display_name})") for s in staff
        ],
        "history": register.access_list_history(session, case),
        "form": form,
        "errors": errors,
    }


def _team_name(team: Team | None) -> str:
    return team.name if team is not None else "Area"
