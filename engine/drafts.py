"""Drafts: edit a definition's files without running them, check them, and publish a new version.

A draft starts as a copy of a deployed version's files. Saving a file parses it safely first (XML
through engine.xmlsafe, JSON as JSON), so nothing unsafe or unreadable is ever stored, and checks
the draft's revision so that a second editor's save cannot silently overwrite the first's.
`check` runs exactly the checks of deployment (`riskflow check`); `publish` deploys the draft as
the next version with its change note, only when those checks pass, and removes the draft.
Permission (who is a process owner) is the caller's to decide.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bundle import LANES_FILE, MODEL_SUFFIXES, Bundle, read_lanes
from engine.checks import POLICY_FILE, decision_cell_problems, step_setting_errors
from engine.errors import Conflict, DefinitionError, FieldError, InvalidData, NotFound, Problem
from engine.models import AuditEvent, DefinitionDraft, DefinitionFile, ProcessDefinition
from engine.runtime import DeployResult, ProcessEngine
from engine.xmlsafe import parse_xml

MAX_FILE_CHARACTERS = 2_000_000


@dataclass(frozen=True)
class CheckReport:
    """The outcome of checking a draft: errors block publishing, warnings do not."""

    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    @property
    def passed(self) -> bool:
        return not self.errors


def start_draft(session: Session, name: str, version: int, *, actor: str, now: datetime) -> DefinitionDraft:
    """A new draft holding a copy of version `version` of definition `name`."""
    definition = session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.name == name, ProcessDefinition.version == version)
    )
    if definition is None:
        raise NotFound(f"{name} has no version {version}")
    files = {
        path: content.decode("utf-8")
        for path, content in session.execute(
            select(DefinitionFile.path, DefinitionFile.content).where(
                DefinitionFile.definition_id == definition.id
            )
        )
    }
    draft = DefinitionDraft(
        name=name,
        base_version=version,
        files=files,
        revision=1,
        created_by=actor,
        created_at=now,
        updated_by=actor,
        updated_at=now,
    )
    session.add(draft)
    session.flush()
    session.add(
        AuditEvent(
            at=now,
            actor=actor,
            event="draft_started",
            detail={"draft_id": draft.id, "name": name, "from_version": version},
        )
    )
    return draft


def get_draft(session: Session, draft_id: int, *, for_update: bool = False) -> DefinitionDraft:
    query = select(DefinitionDraft).where(DefinitionDraft.id == draft_id)
    if for_update:
        query = query.with_for_update()
    draft = session.scalar(query)
    if draft is None:
        raise NotFound(f"draft {draft_id} does not exist (it may have been published or discarded)")
    return draft


def save_file(
    session: Session,
    draft_id: int,
    path: str,
    text: str,
    *,
    revision: int,
    actor: str,
    now: datetime,
    known_roles: Collection[str] | None = None,
) -> DefinitionDraft:
    """Save one file of a draft; refuse unsafe or unreadable content, a step setting or decision
    cell the engine could not run, and a save over a newer one."""
    return save_files(
        session, draft_id, {path: text}, revision=revision, actor=actor, now=now, known_roles=known_roles
    )


def save_files(
    session: Session,
    draft_id: int,
    texts: Mapping[str, str],
    *,
    revision: int,
    actor: str,
    now: datetime,
    known_roles: Collection[str] | None = None,
) -> DefinitionDraft:
    """Save several files of a draft as one change (the diagram and its lanes' roles): all or none.

    `known_roles` are the role codes lanes.json may use (None: not checked here, only by `check`)."""
    draft = get_draft(session, draft_id, for_update=True)
    if draft.revision != revision:
        raise Conflict(
            f"{draft.updated_by} saved this draft after you opened it. Your text is kept below: "
            "copy what you need, reload the draft and apply your change again.",
            code="draft_changed",
        )
    files = dict(draft.files)
    for path, text in texts.items():
        _check_path(path)
        _check_content(path, text)
        files[path] = text
    errors = [e for path, text in texts.items() for e in _setting_errors(path, text, files, known_roles)]
    if errors:
        raise InvalidData(errors)
    draft.files = files
    draft.revision += 1
    draft.updated_by = actor
    draft.updated_at = now
    for path in texts:
        session.add(
            AuditEvent(at=now, actor=actor, event="draft_saved", detail={"draft_id": draft.id, "path": path})
        )
    return draft


def _setting_errors(
    path: str, text: str, files: Mapping[str, str], known_roles: Collection[str] | None
) -> list[FieldError]:
    """What a save refuses beyond well-formedness: a value the engine could not run. The rest of
    the checks (an unmapped lane, a timer, a script) are the draft's to list before publishing."""
    problems: list[Problem] = []
    if path.endswith(".bpmn"):
        problems = step_setting_errors(
            path,
            parse_xml(text.encode("utf-8"), path),
            form_paths=[p for p in files if p.endswith(".json") and p != LANES_FILE],
            policy=files.get(POLICY_FILE),
        )
    elif path.endswith(".dmn"):
        cells = decision_cell_problems(parse_xml(text.encode("utf-8"), path))
        problems = [
            Problem(path, f"row {c.row}, column {c.label!r}: {c.message}", element_id=c.entry.get("id"))
            for c in cells
            if c.severity == "error"
        ]
    elif path == LANES_FILE:
        lanes, problems = read_lanes(Bundle("draft", {LANES_FILE: text.encode("utf-8")}))
        if known_roles is not None:
            for lane, role in lanes.items():
                if role not in known_roles:
                    message = (
                        f"lane {lane!r} has the role {role!r}, which riskflow does not know: "
                        f"use one of {', '.join(sorted(known_roles))}"
                    )
                    problems.append(Problem(path, message))
    return [FieldError("content", _where(p) + p.message) for p in problems]


def _where(problem: Problem) -> str:
    return f"{problem.file}, line {problem.line}: " if problem.line else f"{problem.file}: "


def discard(session: Session, draft_id: int, *, actor: str, now: datetime) -> None:
    draft = get_draft(session, draft_id, for_update=True)
    session.delete(draft)
    session.add(
        AuditEvent(
            at=now, actor=actor, event="draft_discarded", detail={"draft_id": draft_id, "name": draft.name}
        )
    )


def bundle_of(draft: DefinitionDraft) -> Bundle:
    return Bundle(draft.name, {path: text.encode("utf-8") for path, text in draft.files.items()})


def check(engine: ProcessEngine, draft: DefinitionDraft) -> CheckReport:
    """The same checks as deployment and `riskflow check`."""
    try:
        parsed = engine.check(bundle_of(draft))
    except DefinitionError as err:
        return CheckReport(list(err.problems))
    return CheckReport(list(parsed.problems))


def publish(engine: ProcessEngine, draft_id: int, *, actor: str, note: str) -> DeployResult:
    """Deploy the draft as the next version with its change note, then remove the draft."""
    if not note.strip():
        raise InvalidData([FieldError("note", "Enter a change note: staff whose steps changed are shown it")])
    with engine.db.transaction(write=False) as session:
        draft = get_draft(session, draft_id)
        bundle, revision = bundle_of(draft), draft.revision
    result = engine.deploy(bundle, actor=actor, note=note.strip())  # raises DefinitionError if checks fail
    if not result.created:
        raise Conflict(
            f"This draft is the same as version {result.version}: change something before publishing.",
            code="no_change",
        )
    with engine.db.transaction() as session:
        draft = get_draft(session, draft_id, for_update=True)
        if draft.revision == revision:  # saved again meanwhile: keep the newer edit as a draft
            session.delete(draft)
        session.add(
            AuditEvent(
                at=engine.clock.now(),
                actor=actor,
                event="draft_published",
                reason=note.strip(),
                detail={"draft_id": draft_id, "name": result.name, "version": result.version},
            )
        )
    return result


def _check_path(path: str) -> None:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in {"", ".", ".."} for p in parts) or "\\" in path:
        raise InvalidData([FieldError("path", "Use a relative file name, without .. or a leading /")])
    if not path.endswith(tuple(MODEL_SUFFIXES)):
        suffixes = ", ".join(sorted(MODEL_SUFFIXES))
        raise InvalidData([FieldError("path", f"Use a file name ending in one of: {suffixes}")])


def _check_content(path: str, text: str) -> None:
    if len(text) > MAX_FILE_CHARACTERS:
        raise InvalidData([FieldError("content", "The file is too large: keep a model file under 2 MB")])
    try:
        if path.endswith((".bpmn", ".dmn")):
            parse_xml(text.encode("utf-8"), path)
        elif path.endswith(".json"):
            json.loads(text)
    except DefinitionError as err:
        raise InvalidData([FieldError("content", str(p)) for p in err.problems]) from err
    except ValueError as err:
        raise InvalidData([FieldError("content", f"{path} is not valid JSON: {err}")]) from err
