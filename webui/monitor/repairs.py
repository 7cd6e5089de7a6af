"""The monitor's put-it-right actions: retry, skip, suspend, resume or terminate an instance; give a
task, or all of one officer's tasks, to someone else; out-of-office routing; move a case's owner.

Each is a plain form with a required reason; the engine (or the register) records it, with who and
why, on the case's audit trail. They are routes of the monitor's blueprint (webui.monitor), behind
its managers-only gate and in the manager's scope.
"""

from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from casework.register import RegisterError
from engine.db import retried_when_deadlocked
from engine.errors import Conflict, EngineError, NotFound, NotPermitted
from engine.models import HumanTask
from engine.monitoring import reassign_all_tasks, reassign_task
from tasks import monitor as probation
from webui import riskflow
from webui.auth import SignedInStaff
from webui.monitor import OUT_OF_OFFICE_IDS, POOL, REASON_LIMIT, _instance_or_404, _scope, bp, log
from webui.routing import database_int

ACTIONS = {
    "retry": "Failed step retried",
    "skip": "Failed step skipped",
    "suspend": "Instance suspended",
    "resume": "Instance resumed",
    "terminate": "Instance terminated",
}


@bp.post("/instances/<int:instance_id>/<action>")
def act_on_instance(instance_id: int, action: str) -> Response:
    """Retry or skip a failed step, suspend, resume or terminate an instance (a reason is required)."""
    if action not in ACTIONS:
        abort(404)
    shared = riskflow()
    reason = _reason()
    with shared.db.transaction(write=False) as session:
        _instance_or_404(session, _scope(session), instance_id)
    back = redirect(url_for("monitor.instance", instance_id=instance_id))
    if not reason:
        flash("Give a reason: it is recorded on the case timeline. Nothing was changed.", "error")
        return back
    user: SignedInStaff = current_user
    engine = shared.engine
    try:
        if action == "retry":
            result = engine.retry(instance_id, user.actor, reason=reason)
        elif action == "skip":
            result = engine.skip(instance_id, user.actor, reason=reason)
        elif action == "suspend":
            engine.suspend(instance_id, user.actor, reason=reason)
            result = None
        elif action == "resume":
            engine.resume(instance_id, user.actor, reason=reason)
            result = None
        else:
            engine.terminate(instance_id, user.actor, reason=reason)
            result = None
    except (Conflict, NotFound, EngineError) as err:
        flash(f"{err.message} Nothing was changed.", "error")
        return back
    log.info(
        "%s by %s",
        ACTIONS[action],
        user.username,
        extra={"instance_id": instance_id, "actor": user.username, "event": action},
    )
    if result is not None and result.error:
        flash(f"{ACTIONS[action]}, but it failed again: {result.error.get('message', '')}", "error")
    else:
        flash(f"{ACTIONS[action]}. The reason is on the case timeline.", "success")
    return back


# ------------------------------------------------------------------------------------------- tasks


@bp.post("/tasks/<int:task_id>/reassign")
def reassign(task_id: int) -> Response:
    """Give one task to someone else in scope, or back to its pool."""
    shared = riskflow()
    reason, to = _reason(), request.form.get("to", "").strip()
    user: SignedInStaff = current_user
    with shared.db.transaction(write=False) as session:
        task = session.get(HumanTask, task_id)
        if task is None:
            abort(404)
        instance_id = task.instance_id

    @retried_when_deadlocked
    def give() -> None:
        with shared.db.transaction() as session:
            scope = _scope(session)
            _instance_or_404(session, scope, instance_id)
            taker = None if to == POOL else probation.person_in_scope(session, scope, to)
            reassign_task(
                session,
                task_id,
                taker.username if taker else None,
                actor=user.username,
                at=shared.clock.now(),
                reason=reason,
                check=probation.check_taker(session, taker) if taker else None,
            )

    try:
        give()
    except (EngineError, NotPermitted) as err:  # the transaction is rolled back: nothing changed
        flash(f"{err.message} Nothing was changed.", "error")
        return redirect(url_for("monitor.instance", instance_id=instance_id))
    log.info(
        "task reassigned by %s",
        user.username,
        extra={"task_id": task_id, "actor": user.username, "event": "task_reassigned"},
    )
    flash("Task reassigned. The reason is on the case timeline.", "success")
    return redirect(url_for("monitor.instance", instance_id=instance_id))


@bp.route("/people", methods=["GET", "POST"])
def people() -> str | Response | tuple[str, int]:
    """Move all of one officer's open tasks (absence, leaving), and out-of-office routing."""
    shared = riskflow()
    now = shared.clock.now()
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        what = form.get("action", "")
        errors = _check_people_form(what)
        if not errors:
            message = _people_action(what)
            if isinstance(message, dict):
                errors = message
            else:
                flash(message, "success")
                return redirect(url_for("monitor.people"))
    with shared.db.transaction(write=False) as session:
        scope = _scope(session)
        staff = probation.team_people(session, scope)
        active = probation.routings(session, scope, now.date())
    if errors and form.get("action") == "out_of_office":
        errors = {OUT_OF_OFFICE_IDS.get(name, name): message for name, message in errors.items()}
    status = 400 if errors else 200
    return render_template(
        "monitor/people.html", staff=staff, routings=active, errors=errors, form=form
    ), status


def _check_people_form(what: str) -> dict[str, str]:
    form = request.form
    errors = {}
    if what not in {"reassign_all", "out_of_office", "end_out_of_office"}:
        errors["action"] = "Choose what to do"
    if not form.get("officer", "").strip():
        errors["officer"] = "Choose the officer"
    if what == "reassign_all" and not form.get("to", "").strip():
        errors["to"] = "Choose who takes the tasks, or the pool"
    if what == "out_of_office":
        if not form.get("cover", "").strip():
            errors["cover"] = "Choose the colleague who covers"
        if _date(form.get("until", "")) is None:
            errors["until"] = "Enter the last day of the absence as a date, such as 2026-12-24"
    if not _reason():
        errors["reason"] = "Enter a reason: it is recorded on the case timeline"
    return errors


def _people_action(what: str) -> str | dict[str, str]:
    shared = riskflow()
    form = request.form
    user: SignedInStaff = current_user
    officer, reason, now = form.get("officer", "").strip(), _reason(), shared.clock.now()

    @retried_when_deadlocked
    def act() -> str:
        with shared.db.transaction() as session:
            scope = _scope(session)
            away = probation.person_in_scope(session, scope, officer)
            if what == "reassign_all":
                to = form.get("to", "").strip()
                taker = None if to == POOL else probation.person_in_scope(session, scope, to)
                moved = reassign_all_tasks(
                    session,
                    away.username,
                    taker.username if taker else None,
                    actor=user.username,
                    at=now,
                    reason=reason,
                    keys=scope.keys(),
                    check=probation.check_taker(session, taker) if taker else None,
                )
                whom = "the pool" if taker is None else taker.display_name
                plural = "" if len(moved) == 1 else "s"
                return f"{len(moved)} open task{plural} of {away.display_name} moved to {whom}."
            if what == "out_of_office":
                until = _date(form.get("until", ""))
                assert until is not None  # noqa: S101 - checked by _check_people_form
                routing = probation.set_out_of_office(
                    session,
                    scope,
                    officer,
                    form.get("cover", "").strip(),
                    until,
                    at=now,
                    by=user.username,
                    reason=reason,
                )
                return (
                    f"New tasks for {away.display_name} go to {routing.cover.display_name} "
                    f"until {until.day} {until:%B %Y}."
                )
            probation.end_out_of_office(session, scope, officer, at=now, by=user.username, reason=reason)
            return f"New tasks for {away.display_name} go to them again."

    try:
        return act()
    except (EngineError, NotPermitted) as err:
        field = "cover" if err.code == "same_person" and what == "out_of_office" else "officer"
        if err.code == "date_past":
            field = "until"
        return {field: err.message}


# -------------------------------------------------------------------------------------- ownership


@bp.post("/cases/<crn>/owner")
def move_owner(crn: str) -> Response:
    """Move a case to a new owner; the old owner's open tasks move with it."""
    shared = riskflow()
    user: SignedInStaff = current_user
    reason, owner = _reason(), request.form.get("owner", "").strip()
    back = request.form.get("back_to_instance", type=database_int)
    target = url_for("monitor.instance", instance_id=back) if back else url_for("monitor.overview")
    if not reason or not owner:
        flash("Choose the new owner and give a reason. Nothing was changed.", "error")
        return redirect(target)

    @retried_when_deadlocked
    def move() -> int:
        with shared.db.transaction() as session:
            scope = _scope(session)
            return probation.move_ownership(
                session, scope, crn.upper(), owner, at=shared.clock.now(), by=user.username, reason=reason
            )

    try:
        moved = move()
    except (EngineError, NotPermitted, RegisterError) as err:
        flash(f"{getattr(err, 'message', str(err))} Nothing was changed.", "error")
        return redirect(target)
    flash(f"Case {crn.upper()} moved; {moved} open task{'' if moved == 1 else 's'} moved with it.", "success")
    return redirect(target)


# ---------------------------------------------------------------------------------------- helpers


def _reason() -> str:
    return request.form.get("reason", "").strip()[:REASON_LIMIT]


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None
