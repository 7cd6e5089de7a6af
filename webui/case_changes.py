"""Reporting a change to a case from its record: a new registration, the end of one, a new RoSH level,
a transfer to another Offender Manager, a referral to MAPPA.

Each change goes on the register and, where the process must hear of it, to the case's process as a
message, in one transaction (tasks.events): a new child protection or domestic abuse registration,
or a rise in RoSH, brings the next oversight review forward (policy 14); a transfer goes to the
receiving team's SPO to accept; a MAPPA referral to the MAPPA coordinator. Only the people
casework.access.may_change names may report a change; anyone else gets the same answer as from the
case record (limited-access message, or not found). A form with a mistake is shown again with what
was typed and a GOV.UK error summary, and nothing changes. Every page view and every refusal goes
to the case's access log; every change is on the case's timeline with who made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from casework import register
from casework.access import Decision, may_change, may_view
from casework.access_log import AccessOutcome, Purpose
from casework.models import Case, Registration, Staff, Team
from casework.register_types import REGISTER_TYPES, FlagGroup, RegisterType, chosen_by_hand
from casework.vocabulary import CASE_HOLDING_GRADES, RoshLevel
from engine.clock import area_date
from engine.messaging import Delivery
from tasks import events
from webui import riskflow
from webui.cases import CRN_LENGTH, _case, _not_found, _staff
from webui.reads import log_read

bp = Blueprint("case_changes", __name__)

TEXT_LIMIT = 1000


@dataclass(frozen=True)
class Change:
    """One kind of change: its page title, the button, and what the form asks."""

    title: str
    button: str
    intro: str


CHANGES = {
    "registration": Change(
        "Add a registration",
        "Add the registration",
        "The registration goes on the register with you as the person who added it. A new child "
        "protection, risk to children, domestic abuse or MARAC registration brings the next oversight "
        "review forward.",
    ),
    "rosh": Change(
        "Record a new RoSH level",
        "Record the RoSH level",
        "Record the level the latest assessment gives. A rise brings the next oversight review forward; "
        "a fall is looked at in the next review.",
    ),
    "transfer": Change(
        "Ask to transfer the case",
        "Ask for the transfer",
        "The receiving team's SPO accepts or declines. When they accept, the case and its Offender "
        "Manager's open tasks move to the new owner.",
    ),
    "mappa-referral": Change(
        "Refer the case to MAPPA",
        "Refer to MAPPA",
        "The MAPPA coordinator sets the category and level. A change of MAPPA level brings the next "
        "oversight review forward.",
    ),
}


# ------------------------------------------------------------------------------------------ views


@bp.route("/cases/<crn>/changes/<kind>", methods=["GET", "POST"])
def change(crn: str, kind: str) -> Response | str | tuple[str, int]:
    """The form for one kind of change, and its submission."""
    if kind not in CHANGES:
        abort(404)
    crn = crn.strip().upper()[:CRN_LENGTH]
    form = request.form if request.method == "POST" else MultiDict()
    shared = riskflow()
    with shared.db.transaction() as session:
        case, refusal = _changeable_case(session, crn)
        if case is None:
            return refusal
        choices = _choices(session, case, kind)
        if request.method == "GET":
            return _page(case, kind, choices, {}, {})
        wanted, errors = _read(kind, form, choices)
    if errors:
        return _page_again(crn, kind, wanted, errors)
    try:
        message = _apply(kind, crn, wanted)
    except (register.RegisterError, ValueError) as err:
        return _page_again(crn, kind, wanted, {_field_of(kind): str(err)})
    flash(message, "success")
    return redirect(url_for("cases.record", crn=crn))


@bp.route("/cases/<crn>/registrations/<int:registration_id>/end", methods=["GET", "POST"])
def end_registration(crn: str, registration_id: int) -> Response | str | tuple[str, int]:
    """Deregister: the registration stays on the case with when, who and why."""
    crn = crn.strip().upper()[:CRN_LENGTH]
    shared = riskflow()
    notes = request.form.get("notes", "").strip()[:TEXT_LIMIT]
    with shared.db.transaction() as session:
        case, refusal = _changeable_case(session, crn)
        if case is None:
            return refusal
        registration = session.get(Registration, registration_id)
        if (
            registration is None
            or registration.case_id != case.id
            or registration.deregistered_at is not None
            or not chosen_by_hand(registration.code)
        ):
            abort(404)
        kind = REGISTER_TYPES[registration.code]
        if request.method == "GET":
            return _end_page(case, registration, kind, notes, {})
        if not notes:
            errors = {"notes": "Say why the registration no longer applies"}
            return _end_page(case, registration, kind, notes, errors)
    events.end_registration(shared.engine, crn, registration_id, by=current_user.username, notes=notes)
    flash(f"{kind.name} ({kind.code}) deregistered.", "success")
    return redirect(url_for("cases.record", crn=crn))


# ------------------------------------------------------------------------------------- internals


def _changeable_case(session: Session, crn: str) -> tuple[Case | None, tuple[str, int]]:
    """The case when the signed-in person may change it, else (None, the page to answer with)."""
    staff = _staff(session)
    case = _case(session, crn)
    if case is None:
        return None, _not_found(crn)
    seen = may_view(staff, case)
    decision = may_change(staff, case) if seen else seen
    log_read(session, Purpose.REPORT_CHANGE, [case], basis=decision.reason, outcome=_outcome(decision))
    if seen and not decision:
        return None, (render_template("cases/limited.html", crn=crn, message=_cannot_change(case)), 403)
    if not decision:
        if decision.message:
            return None, (render_template("cases/limited.html", crn=crn, message=decision.message), 403)
        return None, _not_found(crn)
    if case.closed_at is not None:
        return None, (
            render_template(
                "cases/limited.html", crn=crn, message=f"{crn} is closed: nothing more can be reported on it."
            ),
            409,
        )
    return case, ("", 200)


def _cannot_change(case: Case) -> str:
    owner = case.owner.display_name if case.owner else "the SPO who allocates it"
    return (
        f"You can read {case.crn} but not report changes to it: that is for {owner}, their SPO or "
        "line manager, or an ACO."
    )


def _outcome(decision: Decision) -> AccessOutcome:
    return AccessOutcome.VIEWED if decision else AccessOutcome.REFUSED


def _choices(session: Session, case: Case, kind: str) -> dict[str, list[tuple[str, str, str]]]:
    """The values each field offers, as (group, value, text)."""
    if kind == "registration":
        held = {r.code for r in case.registrations if r.deregistered_at is None}
        return {
            "code": [
                (t.flag.value, t.code, f"{t.name} ({t.code})")
                for t in sorted(REGISTER_TYPES.values(), key=_register_order)
                if chosen_by_hand(t.code) and t.code not in held
            ]
        }
    if kind == "rosh":
        return {"level": [("", level.value, level.display_name) for level in RoshLevel]}
    if kind == "transfer":
        officers = session.scalars(
            select(Staff)
            .options(joinedload(Staff.team))
            .join(Team, Team.id == Staff.team_id)
            .where(Staff.active.is_(True), Staff.grade.in_(CASE_HOLDING_GRADES))
            .order_by(Team.name, Staff.display_name, Staff.id)
        )
        return {
            "owner": [
                (s.team.name if s.team else "", s.username, f"{s.display_name} ({s.grade.display_name})")
                for s in officers
                if case.owner is None or s.id != case.owner_id
            ]
        }
    return {}


def _register_order(kind: RegisterType) -> tuple[int, str]:
    return list(FlagGroup).index(kind.flag), kind.name


def _read(
    kind: str, form: MultiDict[str, str], choices: dict[str, list[tuple[str, str, str]]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """What the form asks for, and a message for each field that cannot be used."""
    wanted: dict[str, Any] = {name: form.get(name, "").strip()[:TEXT_LIMIT] for name in _FIELDS[kind]}
    errors: dict[str, str] = {}
    for name, options in choices.items():
        if wanted[name] not in {value for _group, value, _text in options}:
            errors[name] = _CHOOSE[name]
    if kind == "registration":
        started, problem = _date_from(form, "started")
        wanted["started"] = {
            part: form.get(f"started-{part}", "").strip()[:4] for part in ("day", "month", "year")
        }
        wanted["started_on"] = started
        if problem:
            errors["started"] = problem
    for name in ("source", "reason"):
        if name in wanted and not wanted[name]:
            errors[name] = _REQUIRED[name]
    return wanted, errors


_FIELDS = {
    "registration": ("code", "notes"),
    "rosh": ("level", "source"),
    "transfer": ("owner", "reason"),
    "mappa-referral": ("reason",),
}
_CHOOSE = {
    "code": "Choose the type of registration",
    "level": "Choose the RoSH level",
    "owner": "Choose the Offender Manager the case should move to",
}
_REQUIRED = {
    "source": "Say what the new level comes from, such as an OASys review",
    "reason": "Give the reason",
}


def _date_from(form: MultiDict[str, str], name: str) -> tuple[date | None, str | None]:
    """A GOV.UK date input's value: None when left empty (today), or a message saying what to fix."""
    parts = [form.get(f"{name}-{part}", "").strip() for part in ("day", "month", "year")]
    if not any(parts):
        return None, None
    if not all(p.isdigit() for p in parts):
        return None, "The start date must be a real date, like 27 11 2026"
    try:
        when = date(int(parts[2]), int(parts[1]), int(parts[0]))
    except ValueError:
        return None, "The start date must be a real date, like 27 11 2026"
    if when > area_date(riskflow().clock.now()):
        return None, "The start date must be today or in the past"
    return when, None


def _apply(kind: str, crn: str, wanted: dict[str, Any]) -> str:
    """Make the change (register and process together) and say what happened."""
    engine = riskflow().engine
    me = current_user.username
    if kind == "registration":
        reported = events.add_registration(
            engine, crn, wanted["code"], by=me, started_on=wanted["started_on"], notes=wanted["notes"]
        )
        name = REGISTER_TYPES[wanted["code"]].name
        return f"{name} ({wanted['code']}) registered.{_told(reported.delivery)}"
    if kind == "rosh":
        level = RoshLevel(wanted["level"])
        reported = events.change_rosh(engine, crn, level, by=me, source=wanted["source"])
        return f"RoSH recorded as {level.display_name}.{_told(reported.delivery)}"
    if kind == "transfer":
        events.request_transfer(engine, crn, owner=wanted["owner"], reason=wanted["reason"], requested_by=me)
        return "Transfer asked for: the receiving team's SPO has a task to accept or decline it."
    events.refer_to_mappa(engine, crn, reason=wanted["reason"], referred_by=me)
    return "Referred to MAPPA: the MAPPA coordinator has a task to set the category and level."


def _told(delivery: Delivery | None) -> str:
    if delivery is None:
        return ""
    if delivery.status == "delivered":
        return " The next oversight review has been brought forward."
    return " The case's oversight review will be brought forward when its plan is in force."


def _field_of(kind: str) -> str:
    return {"registration": "code", "rosh": "level", "transfer": "owner", "mappa-referral": "reason"}[kind]


def _page(
    case: Case,
    kind: str,
    choices: dict[str, list[tuple[str, str, str]]],
    wanted: dict[str, Any],
    errors: dict[str, str],
) -> str:
    return render_template(
        "cases/change.html",
        case=case,
        kind=kind,
        change=CHANGES[kind],
        choices=choices,
        form=wanted,
        errors=errors,
        rosh_levels=list(RoshLevel),
    )


def _page_again(crn: str, kind: str, wanted: dict[str, Any], errors: dict[str, str]) -> tuple[str, int]:
    """The form again with what was typed and what to fix; nothing was changed."""
    with riskflow().db.transaction(write=False) as session:
        case = _case(session, crn)
        assert case is not None  # noqa: S101 - checked a moment ago, and cases are never deleted
        return _page(case, kind, _choices(session, case, kind), wanted, errors), 400


def _end_page(
    case: Case, registration: Registration, kind: RegisterType, notes: str, errors: dict[str, str]
) -> str | tuple[str, int]:
    page = render_template(
        "cases/end_registration.html",
        case=case,
        registration=registration,
        kind=kind,
        form={"notes": notes},
        errors=errors,
    )
    return (page, 400) if errors else page
