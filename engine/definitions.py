"""Deployed definitions: checking and deploying bundles, and what a step reads from the version an
instance runs (its specs and lane map, a task's form, an element's details), kept in memory.

Each deployed version is read from the database once per process and cached: definitions are
immutable once deployed, so the cache never goes stale. What else a new version implies is done
by the deploy hooks the domain registers (`on_deploy`), in the deploy's own transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.bundle import Bundle, ParsedBundle, form_path, load_form_schema, parse_bundle
from engine.clock import Clock
from engine.compare import compare_files
from engine.db import Database
from engine.errors import DefinitionError, NotFound, Problem
from engine.models import AuditEvent, DefinitionFile, ProcessDefinition
from engine.scripting import ServiceRegistry
from engine.standards import TimescaleTable, load_timescales
from engine.state import ProcessSpecs, StateSerializer

# Called with the deploy's session, the new version's row and the bundle's files (path -> content),
# once the version, its files and its audit event are written and before the deploy commits.
DeployHook = Callable[[Session, ProcessDefinition, Mapping[str, bytes]], None]


@dataclass(frozen=True)
class LoadedDefinition:
    """What running a definition version needs, kept in memory: its specs, lane map and the table
    of the standards its steps may be due by (engine.standards; None when it has none)."""

    specs: dict[str, ProcessSpecs]
    lanes: dict[str, str]
    timescales: TimescaleTable | None = None


@dataclass(frozen=True)
class ElementDetails:
    """What the model says about one element, for a task page: name, documentation, properties."""

    name: str
    documentation: str
    properties: dict[str, str]
    instructions: str  # the element's instructionsForEndUser: a template over the task's data


@dataclass
class DeployResult:
    """The definition version a deployment produced (or found), and the warnings to show."""

    definition_id: int
    name: str
    version: int
    created: bool
    warnings: list[Any] = field(default_factory=list)


def _refuse_processes_of_other_bundles(session: Session, name: str, parsed: ParsedBundle) -> None:
    """A process id belongs to one bundle: a copied folder deployed under another name would
    otherwise take over every new instance of the processes it shares (DefinitionError, nothing
    deployed)."""
    taken: dict[str, str] = {}
    rows = session.execute(
        select(ProcessDefinition.name, ProcessDefinition.process_ids).where(ProcessDefinition.name != name)
    )
    for other, ids in rows:
        for pid in ids or ():
            taken.setdefault(pid, other)
    clashes = [pid for pid in parsed.process_ids if pid in taken]
    if clashes:
        raise DefinitionError(
            [
                Problem(
                    str(getattr(parsed.specs.get(pid), "file", None) or name),
                    f"process id {pid!r} is already deployed by the bundle {taken[pid]!r}: a process "
                    f"belongs to one bundle; rename the process in {name!r}, or deploy it as a new "
                    f"version of {taken[pid]!r}",
                    element_id=pid,
                )
                for pid in clashes
            ]
        )


class Definitions:
    """Deploys bundles as numbered versions and serves each version's specs, forms and elements."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        serializer: StateSerializer,
        *,
        known_roles: Collection[str],
        services: ServiceRegistry,
        on_deploy: Sequence[DeployHook] = (),
    ) -> None:
        self.db = db
        self.clock = clock
        self.serializer = serializer
        self.known_roles = known_roles
        self.services = services
        self.on_deploy = tuple(on_deploy)
        self._specs: dict[int, LoadedDefinition] = {}
        self._forms: dict[tuple[int, str], dict[str, Any]] = {}
        self._cache_lock = threading.Lock()

    def check(self, bundle: Bundle) -> ParsedBundle:
        """Parse and check a bundle without deploying it (raises DefinitionError on errors)."""
        return parse_bundle(bundle, known_roles=self.known_roles, service_operations=self.services.names())

    def deploy(self, bundle: Bundle, *, actor: str, note: str = "") -> DeployResult:
        """Deploy a bundle: the same content keeps its version, new content becomes version N+1."""
        parsed = self.check(bundle)
        content_hash = bundle.content_hash
        with self.db.transaction() as session:
            existing = session.scalar(
                select(ProcessDefinition).where(
                    ProcessDefinition.name == bundle.name, ProcessDefinition.content_hash == content_hash
                )
            )
            if existing is not None:
                return DeployResult(existing.id, existing.name, existing.version, False, parsed.warnings)
            _refuse_processes_of_other_bundles(session, bundle.name, parsed)
            latest = session.scalar(
                select(func.max(ProcessDefinition.version)).where(ProcessDefinition.name == bundle.name)
            )
            changed_steps = self._changed_steps(session, bundle, latest) if latest else None
            definition = ProcessDefinition(
                name=bundle.name,
                version=(latest or 0) + 1,
                content_hash=content_hash,
                process_ids=parsed.process_ids,
                lanes=parsed.lanes,
                specs=self.serializer.specs_to_json(parsed.specs, parsed.dependencies),
                deployed_at=self.clock.now(),
                deployed_by=actor,
                note=note,
                changed_steps=changed_steps,
            )
            session.add(definition)
            session.flush()
            session.add_all(
                DefinitionFile(definition_id=definition.id, path=path, content=content)
                for path, content in sorted(bundle.files.items())
            )
            session.add(
                AuditEvent(
                    at=self.clock.now(),
                    actor=actor,
                    event="definition_deployed",
                    detail={"name": bundle.name, "version": definition.version, "note": note},
                )
            )
            for hook in self.on_deploy:
                hook(session, definition, bundle.files)
            return DeployResult(definition.id, definition.name, definition.version, True, parsed.warnings)

    def _changed_steps(self, session: Session, bundle: Bundle, previous_version: int) -> list[str]:
        """The steps (not paths) `bundle` adds or changes compared with version `previous_version`."""
        previous = session.scalar(
            select(ProcessDefinition.id).where(
                ProcessDefinition.name == bundle.name, ProcessDefinition.version == previous_version
            )
        )
        query = select(DefinitionFile.path, DefinitionFile.content)
        rows = session.execute(query.where(DefinitionFile.definition_id == previous))
        comparison = compare_files({path: bytes(content) for path, content in rows}, bundle.files)
        return sorted({c.element_id for c in comparison.steps if c.kind != "removed" and not c.is_path})

    def latest_definition(self, session: Session, process_id: str) -> ProcessDefinition:
        """The newest deployed definition that contains `process_id`."""
        for definition in session.scalars(
            select(ProcessDefinition).order_by(
                ProcessDefinition.deployed_at.desc(), ProcessDefinition.id.desc()
            )
        ):
            if process_id in definition.process_ids:
                return definition
        raise NotFound(f"no deployed definition contains a process with id {process_id!r}")

    def loaded(self, session: Session, definition_id: int) -> LoadedDefinition:
        """A definition's restored specs, lane map and timescales, read once per process and cached."""
        with self._cache_lock:
            cached = self._specs.get(definition_id)
        if cached is None:
            row = session.execute(
                select(ProcessDefinition.specs, ProcessDefinition.lanes).where(
                    ProcessDefinition.id == definition_id
                )
            ).one_or_none()
            if row is None:
                raise NotFound(f"definition {definition_id} does not exist")
            decision_files = session.execute(
                select(DefinitionFile.path, DefinitionFile.content).where(
                    DefinitionFile.definition_id == definition_id, DefinitionFile.path.like("%.dmn")
                )
            )
            cached = LoadedDefinition(
                self.serializer.specs_from_json(row.specs),
                dict(row.lanes or {}),
                load_timescales({path: bytes(content) for path, content in decision_files}),
            )
            with self._cache_lock:
                cached = self._specs.setdefault(definition_id, cached)
        return cached

    def process_specs(self, session: Session, definition_id: int, process_id: str) -> ProcessSpecs:
        """The specs of one process of a definition version (NotFound when it has no such process)."""
        specs = self.loaded(session, definition_id).specs
        if process_id not in specs:
            raise NotFound(f"definition {definition_id} has no process {process_id!r}")
        return specs[process_id]

    def form_schema(self, session: Session, definition_id: int, form_file: str) -> dict[str, Any]:
        """The JSON Schema of a task's form, from the definition version the instance runs."""
        key = (definition_id, form_file)
        with self._cache_lock:
            schema = self._forms.get(key)
        if schema is not None:
            return schema
        paths = set(
            session.scalars(select(DefinitionFile.path).where(DefinitionFile.definition_id == definition_id))
        )
        path = form_path(paths, form_file)
        if path is None:
            raise NotFound(f"form {form_file!r} is not in definition {definition_id}")
        content = session.scalar(
            select(DefinitionFile.content).where(
                DefinitionFile.definition_id == definition_id, DefinitionFile.path == path
            )
        )
        schema = load_form_schema(content or b"{}", path)
        with self._cache_lock:
            self._forms[key] = schema
        return schema

    def element_details(
        self, session: Session, definition_id: int, process_id: str, element_id: str
    ) -> ElementDetails:
        """The documentation, properties and instructions of an element, from the deployed version."""
        spec = self.process_specs(session, definition_id, process_id).spec
        task_spec = spec.task_specs.get(element_id)
        if task_spec is None:
            raise NotFound(f"process {process_id!r} has no element {element_id!r}")
        extensions = getattr(task_spec, "extensions", None) or {}
        return ElementDetails(
            name=str(getattr(task_spec, "bpmn_name", None) or element_id),
            documentation=str(getattr(task_spec, "documentation", None) or ""),
            properties={str(k): str(v) for k, v in (extensions.get("properties") or {}).items()},
            instructions=str(extensions.get("instructionsForEndUser") or ""),
        )
