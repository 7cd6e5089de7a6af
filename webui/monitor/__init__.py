"""The managers' monitor under /monitor: where work is, what is late, what is stuck, and putting it right.

Only Senior Probation Officers (their team's cases) and ACOs (the area) reach these pages; everyone
else gets 403. Every list can be downloaded as CSV (?format=csv). Each put-it-right action is a
plain form with a required reason; the engine (or the register) records it, with who and why, on
the case's audit trail, which the instance page shows as its timeline. The lists are here; the
put-it-right actions are webui.monitor.repairs, routes of the same blueprint.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from werkzeug.wrappers import Response

from casework.access_log import Purpose
from casework.models import AccessLimitation, Case
from engine.errors import EngineError, NotFound, NotPermitted
from engine.models import DefinitionFile, HumanTask, MessageWait, ProcessDefinition, ProcessInstance
from engine.monitoring import (
    Monitor,
    Waiting,
    instance_history,
    model_steps,
    step_marks,
)
from tasks import access_log
from tasks import monitor as probation
from tasks.monitor import Scope
from tasks.staff_names import display_names
from tasks.stuck import REASONS, stuck_work
from webui import riskflow
from webui.auth import SignedInStaff
from webui.reads import log_read

bp = Blueprint("monitor", __name__, url_prefix="/monitor")
log = logging.getLogger("riskflow.monitor")

MAIN_PROCESS = "offender_management"
REASON_LIMIT = 2000
STEP_LIST_LIMIT = 200
POOL = "__pool__"
CRN_LIMIT = 7
PERSON_LIMIT = 100
# The out-of-office form's field ids, where they differ from the names the other form uses.
OUT_OF_OFFICE_IDS = {"officer": "ooo-officer", "reason": "ooo-reason"}


@dataclass(frozen=True)
class Line:
    """One waiting instance as a list shows it: the wait, why in words, and whether it is stuck."""

    item: Waiting
    reason: str
    stuck: bool = True


@bp.before_request
def managers_only() -> None:
    """403 for anyone who is neither an SPO nor an ACO."""
    user: SignedInStaff = current_user
    if not user.is_authenticated or not (user.roles & probation.MANAGER_ROLES):
        abort(403, "The monitor is for Senior Probation Officers and Assistant Chief Officers.")


def _scope(session: Session) -> Scope:
    try:
        return probation.scope_for(session, current_user.staff_id)
    except NotPermitted as err:
        abort(403, err.message)


# ---------------------------------------------------------------------------------------- overview


@bp.get("/")
def overview() -> str | Response:
    """Open cases by stage, overdue work by team and person, oversight compliance, critical few, errors."""
    shared = riskflow()
    now = shared.clock.now()
    with shared.db.transaction() as session:
        scope = _scope(session)
        view = probation.overview(session, scope, now, shared.engine.calendar)
        log_read(
            session,
            Purpose.MONITOR_LIST,
            [c.crn for c in view.critical]
            + [c.crn for c in view.reallocation]
            + [e["crn"] for e in view.errors],
        )
        label = scope.label()
    wanted = request.args.get("list")
    if request.args.get("format") == "csv":
        tables: dict[str, tuple[list[str], list[list[Any]]]] = {
            "stages": (["Stage", "Open cases"], [[c.label, *c.figures] for c in view.stages]),
            "teams": (
                ["Team", "Overdue", "Due this week"],
                [[c.label, *c.figures] for c in view.tasks_by_team],
            ),
            "people": (
                ["Person", "Overdue", "Due this week"],
                [[c.label, *c.figures] for c in view.tasks_by_person],
            ),
            "compliance": (
                ["Team", "On time", "Done"],
                [list(row) for row in view.compliance.by_team],
            ),
            "critical": (
                ["CRN", "Name", "Owner", "Team", "Reasons"],
                [[c.crn, c.name, c.owner, c.team, "; ".join(c.reasons)] for c in view.critical],
            ),
            "reallocation": (
                ["CRN", "Name", "Owner", "Team", "Why", "Due", "Held by"],
                [
                    [
                        c.crn,
                        c.name,
                        c.owner,
                        c.team,
                        c.why,
                        c.due_at.isoformat() if c.due_at else "",
                        c.held_by,
                    ]
                    for c in view.reallocation
                ],
            ),
            "errors": (
                ["Instance", "CRN", "Step", "Reason"],
                [[e["instance_id"], e["crn"], e["step"], e["reason"]] for e in view.errors],
            ),
        }
        if wanted not in tables:
            abort(404, "There is no such list on the overview.")
        header, rows = tables[wanted or ""]
        return csv_response(f"monitor-{wanted}.csv", header, rows)
    return render_template("monitor/overview.html", view=view, scope_label=label, now=now)


# ------------------------------------------------------------------------------------------- stuck


@bp.get("/stuck")
def stuck() -> str | Response:
    """Late tasks, timers not fired, instances in error or suspended, and waits past their expected
    time; ?step=, ?team= (ACOs) and ?reason= narrow the list. Each line says why in words."""
    shared = riskflow()
    now, calendar = shared.clock.now(), shared.engine.calendar
    team = request.args.get("team") or None
    if team is not None and not team.isdigit():
        abort(400, f"There is no team {team!r}: choose a team from the list.")
    with shared.db.transaction() as session:
        scope = _scope(session)
        try:
            work = stuck_work(
                session,
                scope,
                now,
                calendar,
                step=request.args.get("step") or None,
                team_id=int(team) if team else None,
                kind=request.args.get("reason") or None,
            )
        except NotPermitted as err:
            abort(403, err.message)
        except EngineError as err:
            abort(400, err.message)
        log_read(session, Purpose.MONITOR_LIST, [line.item.business_key for line in work.lines])
    if request.args.get("format") == "csv":
        return csv_response(
            "monitor-stuck.csv",
            ["Instance", "CRN", "Team", "Reason kind", "Step", "Since", "Reason"],
            [
                [
                    line.item.instance_id,
                    line.item.business_key,
                    line.team,
                    REASONS[line.item.kind],
                    line.item.step,
                    line.item.since.isoformat() if line.item.since else "",
                    line.reason,
                ]
                for line in work.lines
            ],
        )
    return render_template("monitor/stuck.html", work=work, reasons=REASONS, area=scope.area)


def _visible(session: Session, scope: Scope, items: Sequence[Waiting]) -> list[Waiting]:
    """The items on cases the manager may see (need-to-know decides, case by case)."""
    keys = {item.business_key for item in items}
    if not keys:
        return []
    cases = {
        c.crn: c for c in session.scalars(select(Case).where(Case.crn.in_(keys)).options(*_case_options()))
    }
    return [item for item in items if item.business_key in cases and scope.covers(cases[item.business_key])]


def _case_options() -> list[Any]:
    return [
        joinedload(Case.owner),
        joinedload(Case.team),
        joinedload(Case.access_limitation).selectinload(AccessLimitation.entries),
    ]


# ----------------------------------------------------------------------------------------- diagram


@bp.get("/diagram")
def diagram() -> str | Response:
    """The process diagram with counts per step; ?step= lists the instances at one step."""
    shared = riskflow()
    now, calendar = shared.clock.now(), shared.engine.calendar
    with shared.db.transaction() as session:
        scope = _scope(session)
        monitor = Monitor(session, now, calendar)
        definitions = monitor.definitions(MAIN_PROCESS)
        if not definitions:
            return render_template(
                "monitor/diagram.html", definition_id=None, rows=[], step=None, at_step=[], off={}
            )
        steps = monitor.steps(definitions)
        counts = monitor.counts_by_step(definitions, team_id=scope.team_id)
        off = monitor.stuck_off_the_diagram(team_id=scope.team_id)
        rows = [
            {"id": element_id, "name": steps.name(element_id), **figures}
            for element_id, figures in sorted(counts.items(), key=lambda kv: steps.name(kv[0]))
        ]
        step = request.args.get("step") or None
        at_step = _at_step(session, scope, monitor, definitions, step) if step else []
        if step:
            log_read(session, Purpose.MONITOR_LIST, [w.business_key for w in at_step])
        people = display_names(session, [w.holder for w in at_step], now.date())
        at_step_lines = [Line(w, w.reason(now, calendar, people)) for w in at_step]
    if request.args.get("format") == "csv":
        if step:
            return csv_response(
                f"monitor-step-{step}.csv",
                ["Instance", "CRN", "Since", "Reason"],
                [
                    [x.item.instance_id, x.item.business_key, x.item.since or "", x.reason]
                    for x in at_step_lines
                ],
            )
        return csv_response(
            "monitor-steps.csv",
            ["Step", "Instances now", "Overdue", "Failed"],
            [[r["name"], r["now"], r["overdue"], r["errors"]] for r in rows],
        )
    return render_template(
        "monitor/diagram.html",
        definition_id=definitions[0],
        rows=rows,
        step=step,
        step_name=steps.name(step) if step else None,
        at_step=at_step_lines,
        off=off,
    )


def _at_step(
    session: Session, scope: Scope, monitor: Monitor, definitions: list[int], step: str
) -> list[Waiting]:
    """The instances at one step now (first STEP_LIST_LIMIT), with why each waits."""
    found: list[Waiting] = []
    steps = monitor.steps(definitions)
    tasks = select(HumanTask.instance_id).where(HumanTask.state == "open", HumanTask.element_id == step)
    message_names = [name for name, ids in steps.message_steps.items() if step in ids[:1]]
    waits = select(MessageWait.instance_id).where(MessageWait.message_name.in_(message_names))
    query = (
        select(ProcessInstance)
        .where(
            ProcessInstance.definition_id.in_(definitions),
            ProcessInstance.id.in_(tasks.union(waits)) | (ProcessInstance.status == "error"),
        )
        .order_by(ProcessInstance.updated_at, ProcessInstance.id)
        .limit(STEP_LIST_LIMIT * 2)
    )
    if not scope.area:
        query = query.where(ProcessInstance.team_id == scope.team_id)
    for instance in session.scalars(query):
        for item in monitor.waiting(instance):
            if item.element_id == step:
                found.append(item)
    return _visible(session, scope, found)[:STEP_LIST_LIMIT]


@bp.get("/diagram/counts.json")
def diagram_counts() -> Response:
    """Counts per step as JSON, for the script that draws the badges and shading on the diagram."""
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        scope = _scope(session)
        monitor = Monitor(session, shared.clock.now(), shared.engine.calendar)
        definitions = monitor.definitions(MAIN_PROCESS)
        counts = monitor.counts_by_step(definitions, team_id=scope.team_id) if definitions else {}
    peak = max((c["now"] for c in counts.values()), default=0)
    return jsonify(
        {
            "steps": {
                element_id: {**figures, "heat": _heat(figures["now"], peak)}
                for element_id, figures in counts.items()
            },
            "stepUrl": url_for("monitor.diagram", step="__step__"),
        }
    )


def _heat(n: int, peak: int) -> int:
    """A shading class 0 to 4, relative to the busiest step."""
    if n <= 0 or peak <= 0:
        return 0
    return min(4, 1 + (4 * n - 1) // peak)


@bp.get("/definitions/<int:definition_id>/diagram.bpmn")
def definition_xml(definition_id: int) -> Response:
    """The BPMN file of a deployed definition, for the diagram viewer."""
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        _scope(session)
        if session.get(ProcessDefinition, definition_id) is None:
            abort(404)
        path = model_steps(session, definition_id).bpmn_path
        content = session.scalar(
            select(DefinitionFile.content).where(
                DefinitionFile.definition_id == definition_id, DefinitionFile.path == path
            )
        )
    if content is None:
        abort(404)
    return Response(content, mimetype="application/xml")


# ---------------------------------------------------------------------------------------- instance


@bp.get("/instances/<int:instance_id>")
def instance(instance_id: int) -> str | Response:
    """One instance: its diagram marked, what it waits for, its error, its timeline, and the repairs."""
    shared = riskflow()
    now, calendar = shared.clock.now(), shared.engine.calendar
    with shared.db.transaction() as session:
        scope = _scope(session)
        record, case = _instance_or_404(session, scope, instance_id)
        log_read(session, Purpose.MONITOR_INSTANCE, [case])
        monitor = Monitor(session, now, calendar)
        waiting = monitor.waiting(record)
        history = instance_history(session, record.id)
        people = display_names(session, [w.holder for w in waiting] + [e.actor for e in history], now.date())
        lines = [
            {"item": w, "reason": w.reason(now, calendar, people), "stuck": monitor.is_stuck(w)}
            for w in waiting
        ]
        marks = step_marks(session, record, waiting)
        open_rows = [session.get(HumanTask, w.task_id) for w in waiting if w.task_id]
        takers = probation.takers_of(session, scope, [t for t in open_rows if t is not None])
        context = {
            "instance": record,
            "case": case,
            "lines": lines,
            "history": history,
            "people": people,
            "marks": marks,
            "takers": takers,
            "steps": model_steps(session, record.definition_id),
        }
    if request.args.get("format") == "csv":
        return csv_response(
            f"instance-{instance_id}-timeline.csv",
            ["At", "Who", "Event", "Step", "Reason"],
            [[e.at.isoformat(), e.actor, e.event, e.element_id or "", e.reason or ""] for e in history],
        )
    return render_template("monitor/instance.html", **context)


@bp.get("/instances/<int:instance_id>/marks.json")
def instance_marks(instance_id: int) -> Response:
    """The completed, current and errored steps of one instance, for the diagram viewer."""
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        scope = _scope(session)
        record, _case = _instance_or_404(session, scope, instance_id)
        waiting = Monitor(session, shared.clock.now(), shared.engine.calendar).waiting(record)
        return jsonify(step_marks(session, record, waiting))


def _instance_or_404(session: Session, scope: Scope, instance_id: int) -> tuple[ProcessInstance, Case]:
    """The instance and its case; 404 when there is none and, in the same words, when the manager
    does not oversee its case: a manager out of scope learns nothing of it, not even that it exists."""
    try:
        return probation.instance_case(session, scope, instance_id)
    except (NotFound, NotPermitted):
        abort(404)


# ------------------------------------------------------------------------------------- access log


@bp.get("/access-log")
def access_log_search() -> str | Response | tuple[str, int]:
    """Who has seen a case (?crn=), or what a person has seen (?person=), within the manager's scope;
    every search, and every download of one, is itself written to the access log."""
    shared = riskflow()
    crn = request.args.get("crn", "").strip().upper()[:CRN_LIMIT]
    person = request.args.get("person", "").strip()[:PERSON_LIMIT]
    if crn and person:
        return _access_log_page(
            crn, person, errors={"crn": "Search by case or by person, not both at once"}
        ), 400
    if not crn and not person:
        return _access_log_page(crn, person)
    with shared.db.transaction() as session:
        scope = _scope(session)
        if crn:
            try:
                _case, lines = access_log.reads_of(session, scope, crn)
            except NotPermitted:
                return _access_log_page(crn, person, errors={"crn": f"{crn} is not a case you oversee"}), 403
        else:
            lines = access_log.reads_by_person(session, scope, person)
        log_read(session, Purpose.ACCESS_LOG, [crn] if crn else [line.crn for line in lines])
    if request.args.get("format") == "csv":
        name = f"access-log-{crn}.csv" if crn else f"access-log-{_filename_safe(person)}.csv"
        return csv_response(name, access_log.CSV_HEADER, [line.row() for line in lines])
    return _access_log_page(crn, person, lines=lines)


def _access_log_page(
    crn: str,
    person: str,
    *,
    lines: list[access_log.LogLine] | None = None,
    errors: dict[str, str] | None = None,
) -> str:
    return render_template(
        "monitor/access_log.html",
        crn=crn,
        person=person,
        lines=lines,
        errors=errors or {},
        limit=access_log.READS_LIMIT,
    )


def _filename_safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in text)


# ---------------------------------------------------------------------------------------- helpers


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """A CSV download; cells that a spreadsheet would run as a formula are made plain text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _cell(value: Any) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return f"'{text}" if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


@bp.get("/tasks")
def tasks() -> str | Response:
    """Open tasks on the watched cases: ?holder= one person's, ?due=overdue or week."""
    shared = riskflow()
    now = shared.clock.now()
    holder = request.args.get("holder", "").strip() or None
    due = request.args.get("due") if request.args.get("due") in {"overdue", "week"} else None
    with shared.db.transaction() as session:
        scope = _scope(session)
        rows = probation.open_tasks(session, scope, now, holder=holder, due=due)
        log_read(session, Purpose.MONITOR_LIST, [r.crn for r in rows])
        people = display_names(session, [r.holder for r in rows] + [holder], now.date())
    if request.args.get("format") == "csv":
        return csv_response(
            "monitor-tasks.csv",
            ["Task", "CRN", "Name", "Held by", "Due", "Due by", "Overdue"],
            [
                [
                    r.title,
                    r.crn,
                    r.name,
                    people.get(r.holder or "", "the pool"),
                    r.due_at or "",
                    r.due_standard or "",
                    r.overdue,
                ]
                for r in rows
            ],
        )
    return render_template("monitor/tasks.html", rows=rows, people=people, holder=holder, due=due, now=now)


# The put-it-right actions are routes of the same blueprint.
from webui.monitor import repairs  # noqa: E402

__all__ = ["bp", "csv_response", "repairs"]
