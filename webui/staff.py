"""The staff pages: an area's Assistant Chief Officers run its staff list in the browser.

/staff lists the staff (filtered by team, grade and whether they are active or have left, by name,
a page at a time); /staff/new adds someone and shows their temporary password once; /staff/<username>
is a person's record, with their details to change (the experience band follows from the
qualification date and senior-practitioner post), their absences and leaving date, a new temporary
password, signing them out everywhere, deactivation (a leaver) or reactivation, and the record's
history (who changed what, when, before and after). A leaver, a leaving date and a long absence ask
for each case the person owns to be reallocated: the engine is handed to tasks.staff_admin for that.

Only staff administrators (tasks.staff_admin.may_administer_staff: the ACOs) reach these pages;
anyone else gets 403. The views only read the forms and show the result: tasks.staff_admin decides,
records and audits each change, as it does for the `riskflow staff` commands. A refused change
shows the form again with what was entered and a GOV.UK error summary, and nothing changes. Staff
records are not case data, so reading them writes nothing to the case access log; every change is
in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from casework.models import Staff, Team
from casework.roles import Role
from casework.staff_record import ABSENCE_REASONS, how_band_derives
from casework.vocabulary import CASE_HOLDING_GRADES, ExperienceBand, Grade
from engine.clock import DISPLAY_ZONE
from tasks import staff_admin
from tasks.reallocation import LONG_ABSENCE_DAYS
from tasks.staff_admin import StaffAdminRefused
from webui import riskflow
from webui.accounts import SignInRecords, sign_in_state

bp = Blueprint("staff", __name__, url_prefix="/staff")

PAGE_SIZE = 50
STATUSES = {"active": True, "left": False, "all": None}
DETAIL_FIELDS = ("grade", "team", "line_manager")
ADD_FIELDS = ("username", "display_name", *DETAIL_FIELDS)
DATE_FIELDS = ("qualified_on", "senior_practitioner_since")
DATE_WORDS = {
    "started": "The start date",
    "qualified_on": "The qualification date",
    "senior_practitioner_since": "The senior-practitioner post's start",
    "starts_on": "The absence's first day",
    "ends_on": "The absence's last day",
    "leaving_on": "The leaving date",
}
BAND_NAMES = {
    ExperienceBand.NEWLY_QUALIFIED: "Newly qualified, or a trainee (N)",
    ExperienceBand.EXPERIENCED: "Experienced (E)",
    ExperienceBand.SENIOR: "Senior practitioner (S)",
}
# Where the error summary's link for each problem goes on the page.
ANCHORS = {
    "started": "started-day",
    "qualified_on": "qualified_on-day",
    "senior_practitioner_since": "senior_practitioner_since-day",
    "starts_on": "starts_on-day",
    "ends_on": "ends_on-day",
    "leaving_on": "leaving_on-day",
    "extra_roles": "extra_roles",
    "reason": "reason",
}


@bp.before_request
def only_staff_administrators() -> None:
    """403 for anyone who is not a staff administrator (the area's ACOs)."""
    if not staff_admin.may_administer_staff(current_user.roles):
        abort(
            403,
            "The staff pages are for Assistant Chief Officers, who run the area's staff list. Ask an ACO "
            "to add a member of staff or change a record.",
        )


@dataclass(frozen=True)
class ListFilters:
    """The staff list's filters, from the address, so a view can be bookmarked."""

    team: str
    grade: str
    status: str
    page: int

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> ListFilters:
        status = args.get("status", "active")
        grade = args.get("grade", "")
        page = args.get("page", "1")
        return cls(
            team=args.get("team", "")[:20],
            grade=grade if grade in {g.value for g in Grade} else "",
            status=status if status in STATUSES else "active",
            page=max(1, min(int(page), 10_000)) if page.isdigit() else 1,
        )

    def args(self, **changes: Any) -> dict[str, Any]:
        """The address's query for these filters with `changes` (empty values left out)."""
        values = {"team": self.team, "grade": self.grade, "status": self.status, "page": self.page, **changes}
        defaults = {"status": "active", "page": 1}
        return {k: v for k, v in values.items() if v and defaults.get(k) != v}


@bp.get("")
def index() -> str:
    """The staff list, filtered, by name, a page at a time."""
    filters = ListFilters.from_args(request.args)
    with riskflow().db.transaction(write=False) as session:
        found = staff_admin.staff_on_list(
            session,
            team_code=filters.team or None,
            grade=Grade(filters.grade) if filters.grade else None,
            active=STATUSES[filters.status],
            offset=(filters.page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        pages = max(1, -(-found.total // PAGE_SIZE))
        now = riskflow().clock.now()
        return render_template(
            "staff/index.html",
            people=found.people,
            bands={p.id: staff_admin.band_today(p, now) for p in found.people},
            total=found.total,
            pages=pages,
            filters=filters,
            teams=_teams(session),
            grades=list(Grade),
        )


@bp.route("/new", methods=["GET", "POST"])
def new() -> str | tuple[str, int]:
    """Add a member of staff; on success, their temporary password, shown this once."""
    shared = riskflow()
    form: dict[str, Any] = {name: request.form.get(name, "").strip() for name in ADD_FIELDS}
    for name in ("started", *DATE_FIELDS):
        form[name] = _date_parts(name)
    if request.method == "GET":
        with shared.db.transaction(write=False) as session:
            return render_template("staff/form.html", **_form_page(session, None, form, {}))
    dates, errors = _dates_from(form, ("started", *DATE_FIELDS))
    try:
        with shared.db.transaction() as session:
            now = shared.clock.now()
            staff = staff_admin.add_staff(
                session,
                form["username"],
                display_name=form["display_name"],
                grade=form["grade"],
                team_code=form["team"] or None,
                line_manager=form["line_manager"] or None,
                qualified_on=dates["qualified_on"],
                senior_practitioner_since=dates["senior_practitioner_since"],
                started_on=dates["started"] or now.astimezone(DISPLAY_ZONE).date(),
                by=current_user.username,
                now=now,
            )
            if errors:  # the date was wrong: report it with every other problem, change nothing
                raise StaffAdminRefused(errors)
            password = staff_admin.reset_password(
                session, staff.username, _sign_in(), by=current_user.username, now=now
            )
            return _password_page(staff, password, added=True)
    except StaffAdminRefused as refused:
        errors = {**refused.problems, **errors}
    with shared.db.transaction(write=False) as session:
        return render_template("staff/form.html", **_form_page(session, None, form, errors)), 400


@bp.get("/<username>")
def record(username: str) -> str:
    """A member of staff's record: their details, how they sign in, what they hold, and the actions."""
    return _record_page(username)


def _record_page(
    username: str, form: dict[str, Any] | None = None, errors: dict[str, str] | None = None
) -> str:
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        staff = _staff_or_404(session, username)
        now = shared.clock.now()
        band = staff_admin.band_today(staff, now)
        return render_template(
            "staff/record.html",
            staff=staff,
            band=BAND_NAMES[band] if band else "None: not an Offender Manager",
            band_from=how_band_derives(staff),
            absences=staff_admin.absences(session, staff),
            away=staff_admin.availability(session, staff, now),
            history=staff_admin.history(session, staff.username),
            reasons=ABSENCE_REASONS,
            long_absence_days=LONG_ABSENCE_DAYS,
            today=now.astimezone(DISPLAY_ZONE).date(),
            form=form or {},
            errors=errors or {},
            anchors=ANCHORS,
            sign_in=sign_in_state(session, staff),
            holdings=staff_admin.holdings(session, staff),
            yourself=staff.username == current_user.username,
            extra_roles=", ".join(_role_title(code) for code in staff.extra_roles),
        )


@bp.route("/<username>/edit", methods=["GET", "POST"])
def edit(username: str) -> str | Response | tuple[str, int]:
    """Change a member of staff's grade, team, line manager, experience band and extra roles."""
    shared = riskflow()
    if request.method == "GET":
        with shared.db.transaction(write=False) as session:
            staff = _staff_or_404(session, username)
            return render_template("staff/form.html", **_form_page(session, staff, _form_of(staff), {}))
    form: dict[str, Any] = {name: request.form.get(name, "").strip() for name in DETAIL_FIELDS}
    form["extra_roles"] = request.form.getlist("extra_roles")
    for name in DATE_FIELDS:
        form[name] = _date_parts(name)
    dates, errors = _dates_from(form, DATE_FIELDS)
    try:
        with shared.db.transaction() as session:
            _staff_or_404(session, username)
            staff_admin.change_staff(
                session,
                username,
                grade=form["grade"],
                team_code=form["team"] or None,
                line_manager=form["line_manager"] or None,
                qualified_on=dates["qualified_on"],
                senior_practitioner_since=dates["senior_practitioner_since"],
                extra_roles=form["extra_roles"],
                by=current_user.username,
                now=shared.clock.now(),
            )
            if errors:  # a date was wrong: report it with every other problem, change nothing
                raise StaffAdminRefused(errors)
    except StaffAdminRefused as refused:
        refused.problems.update(errors)
        with shared.db.transaction(write=False) as session:
            staff = _staff_or_404(session, username)
            return render_template(
                "staff/form.html", **_form_page(session, staff, form, refused.problems)
            ), 400
    flash("The record has been changed.", "success")
    return redirect(url_for("staff.record", username=username))


@bp.post("/<username>/reset-password")
def reset_password(username: str) -> str:
    """Give a member of staff a new temporary password, shown this once; their sessions end."""
    shared = riskflow()
    with shared.db.transaction() as session:
        staff = _staff_or_404(session, username)
        password = staff_admin.reset_password(
            session,
            username,
            _sign_in(),
            by=current_user.username,
            now=shared.clock.now(),
        )
        return _password_page(staff, password, added=False)


@bp.post("/<username>/sign-out-everywhere")
def sign_out_everywhere(username: str) -> Response:
    """End every signed-in session of a member of staff."""
    shared = riskflow()
    with shared.db.transaction() as session:
        _staff_or_404(session, username)
        ended = staff_admin.sign_out_everywhere(
            session,
            username,
            _sign_in(),
            by=current_user.username,
            now=shared.clock.now(),
        )
    flash(f"Signed out everywhere: {ended} signed-in session{'s' if ended != 1 else ''} ended.", "success")
    return redirect(url_for("staff.record", username=username))


@bp.route("/<username>/deactivate", methods=["GET", "POST"])
def deactivate(username: str) -> str | Response | tuple[str, int]:
    """Before: what the person owns and holds, and what deactivating does; on POST, deactivate them."""
    shared = riskflow()
    error = ""
    if request.method == "POST":
        try:
            with shared.db.transaction() as session:
                _staff_or_404(session, username)
                done = staff_admin.deactivate(
                    session,
                    username,
                    _sign_in(),
                    by=current_user.username,
                    now=shared.clock.now(),
                    cases=shared.engine,
                )
        except StaffAdminRefused as refused:
            error = refused.message
        else:
            moved = done.tasks_moved
            flash(
                f"Deactivated: they can no longer sign in, {done.sessions_ended} signed-in "
                f"session{'s' if done.sessions_ended != 1 else ''} ended and {moved} open "
                f"task{'s' if moved != 1 else ''} taken back from them; {_cases(done.cases_to_reallocate)} "
                "asked to be reallocated by their SPO.",
                "success",
            )
            return redirect(url_for("staff.record", username=username))
    with shared.db.transaction(write=False) as session:
        staff = _staff_or_404(session, username)
        page = render_template(
            "staff/deactivate.html",
            staff=staff,
            holdings=staff_admin.holdings(session, staff),
            yourself=staff.username == current_user.username,
            error=error,
        )
    return (page, 400) if error else page


@bp.post("/<username>/reactivate")
def reactivate(username: str) -> Response | tuple[str, int]:
    """Make a member of staff active again."""
    shared = riskflow()
    try:
        with shared.db.transaction() as session:
            _staff_or_404(session, username)
            staff_admin.reactivate(session, username, by=current_user.username, now=shared.clock.now())
    except StaffAdminRefused as refused:
        flash(refused.message, "info")
        return redirect(url_for("staff.record", username=username))
    flash("Reactivated: they can sign in again with their password, or a new temporary one.", "success")
    return redirect(url_for("staff.record", username=username))


@bp.post("/<username>/absences")
def record_absence(username: str) -> Response | tuple[str, int]:
    """Record an absence; a long one asks for each case the person owns to be reallocated."""
    shared = riskflow()
    form: dict[str, Any] = {"reason": request.form.get("reason", "").strip()}
    for name in ("starts_on", "ends_on"):
        form[name] = _date_parts(name)
    dates, errors = _dates_from(form, ("starts_on", "ends_on"))
    try:
        with shared.db.transaction() as session:
            _staff_or_404(session, username)
            if errors:
                raise StaffAdminRefused(errors)
            done = staff_admin.record_absence(
                session,
                username,
                starts_on=dates["starts_on"],
                ends_on=dates["ends_on"],
                reason=form["reason"],
                by=current_user.username,
                now=shared.clock.now(),
                cases=shared.engine,
            )
            days = done.absence.days
    except StaffAdminRefused as refused:
        return _record_page(username, form, {**refused.problems, **errors}), 400
    if done.long:
        flash(
            f"Absence recorded: {days} days, longer than {LONG_ABSENCE_DAYS}, so "
            f"{_cases(done.cases_to_reallocate)} asked to be reallocated by their SPO.",
            "success",
        )
    else:
        flash(
            f"Absence recorded: {days} day{'s' if days != 1 else ''}; their cases stay with them.", "success"
        )
    return redirect(url_for("staff.record", username=username))


@bp.post("/<username>/absences/<int:absence_id>/remove")
def remove_absence(username: str, absence_id: int) -> Response:
    """Remove an absence recorded in error."""
    shared = riskflow()
    try:
        with shared.db.transaction() as session:
            _staff_or_404(session, username)
            staff_admin.remove_absence(
                session, username, absence_id, by=current_user.username, now=shared.clock.now()
            )
    except StaffAdminRefused as refused:
        flash(refused.message, "info")
    else:
        flash("Absence removed.", "success")
    return redirect(url_for("staff.record", username=username))


@bp.post("/<username>/leaving-date")
def leaving_date(username: str) -> Response | tuple[str, int]:
    """Record (or clear) a leaving date; a date asks for each case the person owns to be reallocated."""
    shared = riskflow()
    form: dict[str, Any] = {"leaving_on": _date_parts("leaving_on")}
    dates, errors = _dates_from(form, ("leaving_on",))
    try:
        with shared.db.transaction() as session:
            _staff_or_404(session, username)
            if errors:
                raise StaffAdminRefused(errors)
            asked = staff_admin.set_leaving_date(
                session,
                username,
                dates["leaving_on"],
                by=current_user.username,
                now=shared.clock.now(),
                cases=shared.engine,
            )
    except StaffAdminRefused as refused:
        return _record_page(username, form, {**refused.problems, **errors}), 400
    if dates["leaving_on"] is None:
        flash("Leaving date cleared.", "success")
    else:
        flash(f"Leaving date recorded: {_cases(asked)} asked to be reallocated by their SPO.", "success")
    return redirect(url_for("staff.record", username=username))


def _cases(count: int) -> str:
    return f"{count} open case{'s' if count != 1 else ''}"


def _password_page(staff: Staff, password: str, *, added: bool) -> str:
    """The one page that shows a temporary password (never stored, never in a cookie or a log)."""
    hours = riskflow().settings.temporary_password_hours
    return render_template(
        "staff/password.html", staff=staff, password=password, added=added, temporary_hours=hours
    )


def _sign_in() -> SignInRecords:
    """The passwords and sessions, timed on real time as sign-ins are."""
    return SignInRecords(riskflow().wall_clock)


def _role_title(code: str) -> str:
    try:
        return Role(code).display_name
    except ValueError:
        return code


def _staff_or_404(session: Session, username: str) -> Staff:
    staff = session.scalar(select(Staff).where(Staff.username == username[:100]))
    if staff is None:
        abort(404, f"There is no member of staff with username {username[:100]!r}.")
    return staff


def _teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.name, Team.code)))


def _form_of(staff: Staff) -> dict[str, Any]:
    return {
        "grade": staff.grade.value,
        "team": staff.team.code if staff.team else "",
        "line_manager": staff.line_manager.username if staff.line_manager else "",
        "qualified_on": _parts_of(staff.qualified_on),
        "senior_practitioner_since": _parts_of(staff.senior_practitioner_since),
        "extra_roles": list(staff.extra_roles),
    }


def _form_page(
    session: Session, staff: Staff | None, form: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    managers = [m for m in staff_admin.possible_line_managers(session) if staff is None or m.id != staff.id]
    return {
        "staff": staff,
        "form": form,
        "errors": errors,
        "anchors": ANCHORS,
        "grade_options": [(g.value, g.display_name) for g in Grade],
        "om_grades": [g.display_name for g in Grade if g in CASE_HOLDING_GRADES],
        "team_options": [(t.code, f"{t.name} ({t.code})") for t in _teams(session)],
        "manager_options": [(m.username, f"{m.display_name} ({m.grade.display_name})") for m in managers],
        "roles": list(Role),
    }


def _date_parts(name: str) -> dict[str, str]:
    """A GOV.UK date input's three parts, as entered."""
    return {p: request.form.get(f"{name}-{p}", "").strip()[:4] for p in ("day", "month", "year")}


def _parts_of(day: date | None) -> dict[str, str]:
    return {"day": str(day.day), "month": str(day.month), "year": str(day.year)} if day else {}


def _dates_from(
    form: dict[str, Any], names: tuple[str, ...]
) -> tuple[dict[str, date | None], dict[str, str]]:
    """Each named date input's value (None when left empty) and what to fix in any that is not a date."""
    dates: dict[str, date | None] = {}
    errors: dict[str, str] = {}
    for name in names:
        dates[name], problem = _date_from(form[name], DATE_WORDS[name])
        if problem:
            errors[name] = problem
    return dates, errors


def _date_from(parts: dict[str, str], words: str) -> tuple[date | None, str | None]:
    """A GOV.UK date input's value: None when left empty, or a message saying what to fix."""
    values = [parts.get(p, "") for p in ("day", "month", "year")]
    if not any(values):
        return None, None
    try:
        if not all(v.isdigit() for v in values) or len(values[2]) != 4:
            raise ValueError
        return date(int(values[2]), int(values[1]), int(values[0])), None
    except ValueError:
        return None, f"{words} must be a real date, like 1 4 2026"
