"""The process pages: versions, comparison, drafts (edit, check, publish) and migration.

Every signed-in member of staff may read the deployed versions and compare them (the model is the
area's policy, not case data). Drafts, publishing and migration are for process owners only; each
is audited by the engine (engine.drafts, ProcessEngine.migrate). A decision table is edited as a
grid of GOV.UK text inputs, so no JavaScript is needed to change, say, an oversight interval; the
other files are edited as text, and the diagram in the browser modeler where JavaScript runs.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from casework.roles import Role
from engine import drafts
from engine.bundle import LANES_FILE, read_lanes
from engine.catalogue import DeployedVersion, deployed_versions
from engine.checks import decision_cell_problems, form_schema_problems
from engine.compare import compare_files, decision_tables, steps_of
from engine.diagrams import diagram_with_marks
from engine.dmn_edit import Row, rewrite_rules
from engine.errors import Conflict, DefinitionError, EngineError, FieldError, InvalidData, NotFound
from engine.models import (
    AuditEvent,
    DefinitionDraft,
    DefinitionFile,
    ImpactRun,
    ProcessDefinition,
    ProcessInstance,
)
from engine.runtime import InstanceStatus
from engine.xmlsafe import parse_xml
from webui import impact, riskflow
from webui.forms_render import fields_of
from webui.policy import POLICY_FILE, read_policy
from webui.routing import database_int
from webui.security import allow_diagram_styles

bp = Blueprint("processes", __name__)

MIGRATION_LIST_LIMIT = 500


def owner_only() -> None:
    """Refuse anyone who is not a process owner (403, with the reason on the page)."""
    if Role.PROCESS_OWNER.value not in current_user.roles:
        abort(403, description="Only process owners can edit, publish or migrate process models.")


def is_owner() -> bool:
    return Role.PROCESS_OWNER.value in current_user.roles


# --------------------------------------------------------------------------- versions


@bp.get("/processes")
def index() -> str:
    """Each definition with its versions (who published each, when, why, how many run) and drafts."""
    with riskflow().db.transaction(write=False) as session:
        versions = deployed_versions(session)
        open_drafts = session.scalars(
            select(DefinitionDraft).order_by(DefinitionDraft.updated_at.desc(), DefinitionDraft.id.desc())
        ).all()
        by_name: dict[str, list[DeployedVersion]] = defaultdict(list)
        for version in versions:
            by_name[version.name].append(version)
        drafts_by_name: dict[str, list[DefinitionDraft]] = defaultdict(list)
        for draft in open_drafts:
            drafts_by_name[draft.name].append(draft)
        return render_template(
            "processes/index.html",
            by_name=dict(by_name),
            drafts=dict(drafts_by_name),
            owner=is_owner(),
        )


@bp.get("/processes/<name>/versions/<int:version>")
def version(name: str, version: int) -> str:
    """One version: its steps, its decision tables and its files."""
    with riskflow().db.transaction(write=False) as session:
        definition = _definition(session, name, version)
        files = _files(session, definition.id)
        latest = _latest_version(session, name)
        running = session.scalar(
            select(ProcessInstance.id)
            .where(
                ProcessInstance.definition_id == definition.id,
                ProcessInstance.status.not_in(InstanceStatus.FINISHED),
            )
            .limit(1)
        )
    return render_template(
        "processes/version.html",
        definition=definition,
        steps=steps_of(files),
        tables=decision_tables(files),
        paths=sorted(files),
        latest=latest,
        has_running=running is not None,
        owner=is_owner(),
    )


@bp.get("/processes/<name>/compare")
def compare(name: str) -> str:
    """Two versions side by side in words: steps, decision rows and files that changed."""
    with riskflow().db.transaction(write=False) as session:
        numbers = list(
            session.scalars(
                select(ProcessDefinition.version)
                .where(ProcessDefinition.name == name)
                .order_by(ProcessDefinition.version)
            )
        )
        if not numbers:
            abort(404)
        newer = request.args.get("to", type=database_int) or numbers[-1]
        older = request.args.get("from", type=database_int) or numbers[max(0, len(numbers) - 2)]
        old_definition = _definition(session, name, older)
        new_definition = _definition(session, name, newer)
        new_files = _files(session, new_definition.id)
        comparison = compare_files(_files(session, old_definition.id), new_files)
    marks = {kind: comparison.element_ids(kind) for kind in ("added", "changed")}
    diagram = diagram_with_marks(new_files, {*marks["added"], *marks["changed"]})
    allow_diagram_styles()
    return render_template(
        "processes/compare.html",
        name=name,
        numbers=numbers,
        old=old_definition,
        new=new_definition,
        comparison=comparison,
        diagram=diagram,
        marks=marks,
    )


@bp.get("/processes/<name>/versions/<int:version>/files/<path:path>")
def version_file(name: str, version: int, path: str) -> Response:
    """One file of a deployed version as it was published (for the diagrams)."""
    with riskflow().db.transaction(write=False) as session:
        files = _files(session, _definition(session, name, version).id)
    if path not in files:
        abort(404)
    kind = "application/xml" if path.endswith((".bpmn", ".dmn")) else "text/plain"
    return Response(files[path], mimetype=kind)


# ----------------------------------------------------------------------------- drafts


@bp.post("/processes/<name>/drafts")
def start_draft(name: str) -> BaseResponse:
    """Start a draft from a version (the newest unless the form names one)."""
    owner_only()
    shared = riskflow()
    with shared.db.transaction() as session:
        version = request.form.get("version", type=database_int) or _latest_version(session, name)
        try:
            draft = drafts.start_draft(
                session, name, version, actor=current_user.username, now=shared.clock.now()
            )
        except NotFound:
            abort(404)
        draft_id = draft.id
    flash(f"Draft started from version {version}. Nothing runs on a draft until it is published.", "success")
    return redirect(url_for("processes.draft", draft_id=draft_id))


@bp.get("/processes/drafts/<int:draft_id>")
def draft(draft_id: int) -> str:
    """A draft: its files, what it changes so far, the checks, and the publish form."""
    owner_only()
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        current = _draft(session, draft_id)
        base = _definition(session, current.name, current.base_version)
        comparison = compare_files(_files(session, base.id), drafts.bundle_of(current).files)
        report = drafts.check(shared.engine, current)
        return render_template(
            "processes/draft.html",
            draft=current,
            comparison=comparison,
            report=report,
            paths=sorted(current.files),
            tables=_tables_by_path(current),
            runs=_runs(session, draft_id),
            errors=[],
            note="",
        )


@bp.post("/processes/drafts/<int:draft_id>/publish")
def publish(draft_id: int) -> BaseResponse | tuple[str, int]:
    """Publish the draft as the next version, with its change note, when its checks pass."""
    owner_only()
    shared = riskflow()
    note = request.form.get("note", "")
    try:
        result = drafts.publish(shared.engine, draft_id, actor=current_user.username, note=note)
    except NotFound:
        abort(404)
    except (InvalidData, DefinitionError, Conflict) as err:
        with shared.db.transaction(write=False) as session:
            current = _draft(session, draft_id)
            base = _definition(session, current.name, current.base_version)
            comparison = compare_files(_files(session, base.id), drafts.bundle_of(current).files)
            report = drafts.check(shared.engine, current)
            errors = _form_errors(err)
            return (
                render_template(
                    "processes/draft.html",
                    draft=current,
                    comparison=comparison,
                    report=report,
                    paths=sorted(current.files),
                    tables=_tables_by_path(current),
                    runs=_runs(session, draft_id),
                    errors=errors,
                    note=note,
                ),
                422,
            )
    flash(
        f"Published as version {result.version}. New cases start on it; running cases stay on theirs."
        + _critical_few_remarked(result.name, result.version),
        "success",
    )
    return redirect(url_for("processes.version", name=result.name, version=result.version))


def _critical_few_remarked(name: str, version: int) -> str:
    """What the publish did to the critical-few marks, when it changed that rule (else nothing)."""
    with riskflow().db.transaction(write=False) as session:
        last = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.event == "critical_few_recomputed")
            .order_by(AuditEvent.id.desc())
        ).first()
    detail = last.detail or {} if last is not None else {}
    if detail.get("name") != name or detail.get("version") != version:
        return ""
    return (
        f" The critical-few rule changed: every case was marked again by it, and {detail.get('changed', 0)}"
        " case(s) changed."
    )


@bp.post("/processes/drafts/<int:draft_id>/discard")
def discard(draft_id: int) -> BaseResponse:
    owner_only()
    shared = riskflow()
    with shared.db.transaction() as session:
        try:
            drafts.discard(session, draft_id, actor=current_user.username, now=shared.clock.now())
        except NotFound:
            abort(404)
    flash("Draft discarded.", "success")
    return redirect(url_for("processes.index"))


@bp.route("/processes/drafts/<int:draft_id>/files/<path:path>", methods=["GET", "POST"])
def edit_file(draft_id: int, path: str) -> BaseResponse | str | tuple[str, int]:
    """Edit one file of a draft as text; a save over someone else's newer save is refused."""
    owner_only()
    shared = riskflow()
    errors: list[dict[str, str]] = []
    preview: list[Any] | None = None
    if request.method == "POST" and request.form.get("action") == "preview":
        preview, errors = _form_preview(request.form.get("content", ""))
    elif request.method == "POST":
        text = request.form.get("content", "").replace("\r\n", "\n")
        try:
            with shared.db.transaction() as session:
                drafts.save_file(
                    session,
                    draft_id,
                    path,
                    text,
                    revision=request.form.get("revision", type=database_int) or 0,
                    actor=current_user.username,
                    now=shared.clock.now(),
                    known_roles=shared.engine.known_roles,
                )
            flash(f"{path} saved in the draft.", "success")
            return redirect(url_for("processes.draft", draft_id=draft_id))
        except NotFound:
            abort(404)
        except (InvalidData, Conflict) as err:
            errors = _form_errors(err, default_field="content")
    with shared.db.transaction(write=False) as session:
        current = _draft(session, draft_id)
        if path not in current.files and request.method == "GET":
            abort(404)
        posted = request.method == "POST"
        content = request.form.get("content") if posted else current.files.get(path, "")
        page = render_template(
            "processes/edit_file.html",
            draft=current,
            path=path,
            content=content,
            revision=request.form.get("revision", type=database_int) if posted else current.revision,
            errors=errors,
            is_form=path.startswith("forms/") and path.endswith(".json"),
            preview=preview,
        )
    return (page, 409 if any(e["code"] == "draft_changed" for e in errors) else 422) if errors else page


@bp.route("/processes/drafts/<int:draft_id>/decisions/<path:path>", methods=["GET", "POST"])
def edit_decision(draft_id: int, path: str) -> BaseResponse | str | tuple[str, int]:
    """Edit a decision table as a grid of cells: change cells, add a row, remove or move rows."""
    owner_only()
    shared = riskflow()
    decision_id = request.values.get("decision", "")
    errors: list[dict[str, str]] = []
    with shared.db.transaction(write=False) as session:
        current = _draft(session, draft_id)
        if path not in current.files or not path.endswith(".dmn"):
            abort(404)
        text, revision = current.files[path], current.revision
    tables = [t for t in decision_tables({path: text.encode()}) if t.decision_id == decision_id]
    if not tables:
        abort(404)
    table = tables[0]
    rows = [Row(rule_id, description, cells) for rule_id, description, cells in table.rows]
    if request.method == "POST":
        rows = _rows_from_form(len(table.columns))
        action = request.form.get("action", "save")
        rows = _apply_row_action(rows, action, len(table.columns))
        if action == "save":
            try:
                new_text = rewrite_rules(text, path, decision_id, rows)
                _refuse_faulty_cells(new_text, path, table.columns)
                with shared.db.transaction() as session:
                    drafts.save_file(
                        session,
                        draft_id,
                        path,
                        new_text,
                        revision=request.form.get("revision", type=database_int) or 0,
                        actor=current_user.username,
                        now=shared.clock.now(),
                    )
                flash(f"The decision table “{table.name}” was saved in the draft.", "success")
                return redirect(url_for("processes.draft", draft_id=draft_id))
            except (InvalidData, Conflict) as err:
                errors = _form_errors(err, default_field="rows")
        revision = request.form.get("revision", type=database_int) or revision
    page = render_template(
        "processes/edit_decision.html",
        draft_id=draft_id,
        path=path,
        table=table,
        rows=rows,
        revision=revision,
        errors=errors,
    )
    return (page, 409 if any(e["code"] == "draft_changed" for e in errors) else 422) if errors else page


@bp.get("/processes/drafts/<int:draft_id>/diagram/<path:path>")
def diagram(draft_id: int, path: str) -> str:
    """The diagram editor (bpmn-js modeler with the properties panel and riskflow's settings)."""
    owner_only()
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        current = _draft(session, draft_id)
        if path not in current.files or not path.endswith(".bpmn"):
            abort(404)
        report = drafts.check(shared.engine, current)
        policy = read_policy(current.files.get(POLICY_FILE, ""))
        allow_diagram_styles()
        return render_template(
            "processes/diagram.html",
            draft=current,
            path=path,
            report=report,
            lanes=_lanes_of(current),
            roles=[(r.value, r.display_name) for r in Role if r.value in shared.engine.known_roles],
            forms=sorted(p.removeprefix("forms/") for p in current.files if p.startswith("forms/")),
            policy_points=[
                (s.anchor.removeprefix("section-"), s.heading)
                for s in policy.sections
                if s.anchor.startswith("section-")
            ],
            operations=sorted(shared.engine.services.names()),
        )


@bp.get("/processes/drafts/<int:draft_id>/decision-editor/<path:path>")
def decision_editor(draft_id: int, path: str) -> str:
    """The decision table editor (dmn-js) for one DMN file of a draft; the table form is the other way."""
    owner_only()
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        current = _draft(session, draft_id)
        if path not in current.files or not path.endswith(".dmn"):
            abort(404)
        report = drafts.check(shared.engine, current)
        tables = decision_tables({path: current.files[path].encode()})
        allow_diagram_styles()
        return render_template(
            "processes/decision_editor.html", draft=current, path=path, report=report, tables=tables
        )


@bp.get("/processes/drafts/<int:draft_id>/raw/<path:path>")
def raw_file(draft_id: int, path: str) -> BaseResponse:
    """One file of a draft as it is saved (for the diagram editor)."""
    owner_only()
    with riskflow().db.transaction(write=False) as session:
        current = _draft(session, draft_id)
        if path not in current.files:
            abort(404)
        text = current.files[path]
    kind = "application/xml" if path.endswith((".bpmn", ".dmn")) else "text/plain"
    return Response(text, mimetype=kind, headers={"Cache-Control": "no-store"})


@bp.put("/processes/drafts/<int:draft_id>/raw/<path:path>")
def put_file(draft_id: int, path: str) -> tuple[Response, int]:
    """Save one file from the diagram editor: the body is the file, X-Draft-Revision the revision
    it was opened at; JSON says the new revision, or the errors (422) or the newer save (409)."""
    owner_only()
    shared = riskflow()
    try:
        with shared.db.transaction() as session:
            saved = drafts.save_file(
                session,
                draft_id,
                path,
                request.get_data(as_text=True),
                revision=request.headers.get("X-Draft-Revision", type=database_int) or 0,
                actor=current_user.username,
                now=shared.clock.now(),
                known_roles=shared.engine.known_roles,
            )
            revision = saved.revision
    except NotFound:
        abort(404)
    except (InvalidData, Conflict) as err:
        return _save_refused(err)
    return jsonify(revision=revision), 200


def _save_refused(err: InvalidData | Conflict) -> tuple[Response, int]:
    """A save the draft refused: 409 when someone saved it since it was opened, 422 for bad content."""
    status = 409 if isinstance(err, Conflict) else 422
    return jsonify(errors=_form_errors(err, default_field="content")), status


@bp.put("/processes/drafts/<int:draft_id>/diagram/<path:path>")
def save_diagram(draft_id: int, path: str) -> tuple[Response, int]:
    """Save the diagram editor's model and the grades of its lanes as one change: the body is JSON,
    `{"xml": the BPMN file, "lanes": {lane name: role code}}` (lanes.json; left out if unchanged),
    X-Draft-Revision the revision it was opened at. A step setting the engine could not run, or an
    unknown role, is refused (422) naming the step or lane, and then nothing is saved."""
    owner_only()
    shared = riskflow()
    body = request.get_json(silent=True)
    xml = body.get("xml") if isinstance(body, dict) else None
    lanes = body.get("lanes") if isinstance(body, dict) else None
    valid_lanes = lanes is None or (
        isinstance(lanes, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in lanes.items())
    )
    if not path.endswith(".bpmn") or not isinstance(xml, str) or not valid_lanes:
        message = 'Send {"xml": "<the BPMN file>", "lanes": {"Lane name": "ROLE"}} to save a diagram'
        return jsonify(errors=[{"field": "content", "code": "invalid", "message": message}]), 422
    texts = {path: xml}
    try:
        with shared.db.transaction() as session:
            current = _draft(session, draft_id)
            if path not in current.files:
                abort(404)
            if lanes is not None and lanes != _lanes_of(current):
                texts[LANES_FILE] = json.dumps({"lanes": lanes}, ensure_ascii=False) + "\n"
            saved = drafts.save_files(
                session,
                draft_id,
                texts,
                revision=request.headers.get("X-Draft-Revision", type=database_int) or 0,
                actor=current_user.username,
                now=shared.clock.now(),
                known_roles=shared.engine.known_roles,
            )
            revision = saved.revision
    except NotFound:
        abort(404)
    except (InvalidData, Conflict) as err:
        return _save_refused(err)
    return jsonify(revision=revision, saved=sorted(texts)), 200


def _lanes_of(draft: DefinitionDraft) -> dict[str, str]:
    """The draft's lane -> role map, empty when lanes.json is missing or not a map (the checks say why)."""
    lanes, _ = read_lanes(drafts.bundle_of(draft))
    return lanes


@bp.get("/processes/drafts/<int:draft_id>/problems.json")
def problems(draft_id: int) -> BaseResponse:
    """The checks' problems for the draft as it is saved, to mark them on the diagram."""
    owner_only()
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        report = drafts.check(shared.engine, _draft(session, draft_id))
    return jsonify([problem.as_dict() for problem in report.problems])


# ----------------------------------------------------------------------------- impact

IMPACT_LIMITS = {"months": (1, 12, 6), "cases": (5, 300, 60)}  # (least, most, default)


@bp.post("/processes/drafts/<int:draft_id>/impact")
def measure(draft_id: int) -> BaseResponse | tuple[str, int]:
    """Start measuring the draft against the published version on the simulated area."""
    owner_only()
    settings: dict[str, int] = {}
    errors = []
    for name, (least, most, default) in IMPACT_LIMITS.items():
        value = request.form.get(name, type=database_int)
        value = default if value is None and not request.form.get(name) else value
        if value is None or not least <= value <= most:
            errors.append(
                {"field": name, "code": "out_of_range", "message": f"Enter {name} from {least} to {most}"}
            )
        else:
            settings[name] = value
    if errors:
        with riskflow().db.transaction(write=False) as session:
            _draft(session, draft_id)
        flash(" ".join(e["message"] for e in errors), "error")
        return redirect(url_for("processes.draft", draft_id=draft_id) + "#impact")
    try:
        run_id = impact.start_run(
            current_app._get_current_object(),  # type: ignore[attr-defined]  # the real app, for the thread
            draft_id,
            actor=current_user.username,
            seed=request.form.get("seed", type=database_int) or 1,
            **settings,
        )
    except NotFound:
        abort(404)
    return redirect(url_for("processes.impact_run", draft_id=draft_id, run_id=run_id))


@bp.get("/processes/drafts/<int:draft_id>/impact/<int:run_id>")
def impact_run(draft_id: int, run_id: int) -> str:
    """A run's progress while it runs (htmx polls the panel), then both versions side by side."""
    owner_only()
    with riskflow().db.transaction(write=False) as session:
        run = session.get(ImpactRun, run_id)
        if run is None or run.draft_id != draft_id:
            abort(404)
        session.expunge(run)
    template = (
        "processes/_impact_panel.html" if request.headers.get("HX-Request") else "processes/impact.html"
    )
    return render_template(template, run=run, draft_id=draft_id, rows=_impact_rows(run))


def _impact_rows(run: ImpactRun) -> list[tuple[str, object, object]]:
    """(what, published, draft) for each figure of a finished run."""
    if run.status != "done" or not run.result:
        return []
    published, draft = run.result["published"], run.result["draft"]
    rows: list[tuple[str, object, object]] = [
        ("Cases simulated", published["cases"], draft["cases"]),
        ("Oversight reviews", published["oversight_reviews"], draft["oversight_reviews"]),
        ("Tasks finished late", published["finished_late"], draft["finished_late"]),
        ("Tasks overdue at the end", published["overdue_at_end"], draft["overdue_at_end"]),
        ("Critical few among open cases", published["critical_few"], draft["critical_few"]),
    ]
    grades = sorted(set(published["tasks_by_grade"]) | set(draft["tasks_by_grade"]))
    rows += [
        (
            f"Tasks for the {grade}",
            published["tasks_by_grade"].get(grade, 0),
            draft["tasks_by_grade"].get(grade, 0),
        )
        for grade in grades
    ]
    return rows


# -------------------------------------------------------------------------- migration


@bp.route("/processes/<name>/versions/<int:version>/migrate", methods=["GET", "POST"])
def migrate(name: str, version: int) -> str | tuple[str, int]:
    """Dry run for the running instances of a version, then move the chosen ones to a newer one."""
    owner_only()
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        source = _definition(session, name, version)
        target_version = request.values.get("to", type=database_int) or _latest_version(session, name)
        target = _definition(session, name, target_version)
        instance_ids = list(
            session.scalars(
                select(ProcessInstance.id)
                .where(
                    ProcessInstance.definition_id == source.id,
                    ProcessInstance.status.not_in(InstanceStatus.FINISHED),
                )
                .order_by(ProcessInstance.id)
                .limit(MIGRATION_LIST_LIMIT)
            )
        )
        target_id = target.id
    errors: list[dict[str, str]] = []
    moved = None
    note = request.form.get("note", "")
    if request.method == "POST":
        chosen = [int(i) for i in request.form.getlist("instance") if i.isdigit() and int(i) in instance_ids]
        if not chosen:
            errors.append(
                {"field": "instance", "code": "none_chosen", "message": "Choose at least one case to move"}
            )
        else:
            try:
                moved = shared.engine.migrate(chosen, target_id, current_user.actor, note=note)
            except EngineError as err:
                errors.append({"field": "note", "code": err.code, "message": err.message})
    checks = shared.engine.check_migration(instance_ids, target_id) if target_id != source.id else []
    page = render_template(
        "processes/migrate.html",
        source=source,
        target=target,
        checks=checks,
        moved=moved,
        errors=errors,
        note=note if errors else "",
        limit=MIGRATION_LIST_LIMIT,
    )
    return (page, 422) if errors else page


# ---------------------------------------------------------------------------- helpers


def _definition(session: Session, name: str, version: int) -> ProcessDefinition:
    found = session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.name == name, ProcessDefinition.version == version)
    )
    if found is None:
        abort(404)
    return found


def _latest_version(session: Session, name: str) -> int:
    latest = session.scalar(
        select(ProcessDefinition.version)
        .where(ProcessDefinition.name == name)
        .order_by(ProcessDefinition.version.desc())
        .limit(1)
    )
    if latest is None:
        abort(404)
    return latest


def _files(session: Session, definition_id: int) -> dict[str, bytes]:
    rows = session.execute(
        select(DefinitionFile.path, DefinitionFile.content).where(
            DefinitionFile.definition_id == definition_id
        )
    )
    return {path: bytes(content) for path, content in rows}


def _draft(session: Session, draft_id: int) -> DefinitionDraft:
    try:
        return drafts.get_draft(session, draft_id)
    except NotFound:
        abort(404)


def _form_preview(text: str) -> tuple[list[Any] | None, list[dict[str, str]]]:
    """The fields a step's form would show for this JSON Schema text (nothing is saved)."""
    problems = form_schema_problems("the form", text.encode("utf-8"))
    if problems:
        return None, [{"field": "content", "code": "invalid_form", "message": p.message} for p in problems]
    return fields_of(json.loads(text)), []


def _runs(session: Session, draft_id: int) -> list[ImpactRun]:
    """The draft's latest impact measurements, newest first."""
    query = select(ImpactRun).where(ImpactRun.draft_id == draft_id).order_by(ImpactRun.id.desc()).limit(5)
    return list(session.scalars(query))


def _tables_by_path(draft: DefinitionDraft) -> dict[str, list[Any]]:
    """The decision tables of each DMN file of a draft (a file that does not parse has none)."""
    tables: dict[str, list[Any]] = {}
    for path, text in draft.files.items():
        if path.endswith(".dmn"):
            try:
                tables[path] = decision_tables({path: text.encode("utf-8")})
            except DefinitionError:
                tables[path] = []
    return tables


def _form_errors(err: EngineError, *, default_field: str = "note") -> list[dict[str, Any]]:
    """An engine error as GOV.UK error-summary entries (field, code, message)."""
    if isinstance(err, InvalidData):
        return [
            {"field": e.field or default_field, "code": err.code, "message": e.message} for e in err.errors
        ]
    if isinstance(err, DefinitionError):
        return [
            {
                "field": "checks",
                "code": err.code,
                "message": "The draft does not pass its checks: fix the problems listed",
            }
        ]
    return [{"field": default_field, "code": err.code, "message": err.message}]


def _refuse_faulty_cells(text: str, path: str, columns: Sequence[str]) -> None:
    """Refuse a grid whose cells the engine could not run, each error at its cell ("Row 2, then
    Weeks between reviews: ..."), before anything is saved. (Saving also refuses them, for the file
    as a whole; this names the grid's own fields.)"""
    cells = decision_cell_problems(parse_xml(text.encode("utf-8"), path))
    errors = [
        FieldError(f"cell-{c.row - 1}-{c.column}", f"Row {c.row}, {columns[c.column]}: {c.message}")
        for c in cells
        if c.severity == "error" and c.column < len(columns)
    ]
    if errors:
        raise InvalidData(errors)


def _rows_from_form(width: int) -> list[Row]:
    rows = []
    # Each row posts at least its description, so a larger count than the form has fields is not real.
    count = min(request.form.get("rows", type=database_int) or 0, len(request.form))
    for n in range(count):
        rule_id = request.form.get(f"rule-{n}") or None
        cells = [request.form.get(f"cell-{n}-{c}", "") for c in range(width)]
        rows.append(Row(rule_id, request.form.get(f"description-{n}", ""), cells))
    return rows


def _apply_row_action(rows: list[Row], action: str, width: int) -> list[Row]:
    """The grid after an "add", "remove-N", "up-N" or "down-N" button (no JavaScript needed)."""
    kind, _, index_text = action.partition("-")
    if kind == "add":
        return [*rows, Row(None, "", ["-"] * width)]
    if not index_text.isdigit() or int(index_text) >= len(rows):
        return rows
    index = int(index_text)
    if kind == "remove":
        return rows[:index] + rows[index + 1 :]
    other = index - 1 if kind == "up" else index + 1 if kind == "down" else -1
    if 0 <= other < len(rows):
        rows = list(rows)
        rows[index], rows[other] = rows[other], rows[index]
    return rows
