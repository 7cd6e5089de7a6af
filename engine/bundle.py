"""Model bundles: the BPMN, DMN and form files of one definition, read safely and checked.

A bundle is a folder (or the same files from the designer): `*.bpmn`, `*.dmn`, `forms/*.json`
(JSON Schema), `lanes.json` (lane name -> role) and any `*.md` text. Its content hash is its
identity: the same files deploy as the same version.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from engine.checks import POLICY_FILE, check_documents
from engine.errors import DefinitionError, Problem
from engine.xmlsafe import parse_json, parse_xml

LANES_FILE = "lanes.json"
MODEL_SUFFIXES = {".bpmn", ".dmn", ".json", ".md"}
MAX_BUNDLE_FILES = 500


@dataclass(frozen=True)
class Bundle:
    """The files of one definition, by relative POSIX path."""

    name: str
    files: Mapping[str, bytes]

    @classmethod
    def from_directory(cls, path: str | Path, name: str | None = None) -> Bundle:
        """Read every model file under `path` (hidden files and other suffixes are ignored)."""
        root = Path(path)
        if not root.is_dir():
            raise DefinitionError([Problem(str(root), "not a folder of model files")])
        files: dict[str, bytes] = {}
        for file in sorted(root.rglob("*")):
            relative = file.relative_to(root)
            if file.is_file() and file.suffix in MODEL_SUFFIXES and not _hidden(relative):
                files[relative.as_posix()] = file.read_bytes()
        if len(files) > MAX_BUNDLE_FILES:
            raise DefinitionError([Problem(str(root), f"more than {MAX_BUNDLE_FILES} model files")])
        return cls(name or root.resolve().name, files)

    @property
    def content_hash(self) -> str:
        """A SHA-256 over every path and its content."""
        digest = hashlib.sha256()
        for path in sorted(self.files):
            digest.update(path.encode() + b"\0" + hashlib.sha256(self.files[path]).digest())
        return digest.hexdigest()

    def paths(self, suffix: str) -> list[str]:
        """The files with this suffix, sorted."""
        return sorted(p for p in self.files if p.endswith(suffix))


def _hidden(relative: Path) -> bool:
    return any(part.startswith((".", "_")) for part in relative.parts)


@dataclass
class ParsedBundle:
    """What deployment needs: the specs of every process, what each calls, and the lane map."""

    bundle: Bundle
    specs: dict[str, Any]
    dependencies: dict[str, list[str]]
    process_ids: list[str]
    lanes: dict[str, str]
    problems: list[Problem] = field(default_factory=list)

    @property
    def warnings(self) -> list[Problem]:
        """Problems that do not block deployment."""
        return [p for p in self.problems if p.severity != "error"]


def read_lanes(bundle: Bundle) -> tuple[dict[str, str], list[Problem]]:
    """The bundle's lane -> role map from lanes.json (`{"lanes": {"Lane name": "ROLE"}}`)."""
    if LANES_FILE not in bundle.files:
        return {}, [Problem(LANES_FILE, "missing: add lanes.json mapping each lane name to a role code")]
    try:
        raw = parse_json(bundle.files[LANES_FILE], LANES_FILE)
    except DefinitionError as err:
        return {}, err.problems
    lanes = raw.get("lanes") if isinstance(raw, dict) else None
    if not isinstance(lanes, dict) or not all(isinstance(v, str) for v in lanes.values()):
        return {}, [Problem(LANES_FILE, 'expected {"lanes": {"Lane name": "ROLE", ...}}')]
    return dict(lanes), []


# Parsed bundles by content: a draft is checked and then published, `riskflow deploy` runs at every
# start, and each test area deploys the same files. The specs are never changed once built, so one
# parse serves them all. A few entries: one per version a process owner works between.
_PARSED: OrderedDict[tuple[str, str, frozenset[str], frozenset[str]], ParsedBundle] = OrderedDict()
_PARSED_KEPT = 8
_PARSED_LOCK = threading.Lock()


def parse_bundle(
    bundle: Bundle, *, known_roles: Collection[str], service_operations: Collection[str]
) -> ParsedBundle:
    """Read, check and parse a bundle; raise DefinitionError listing every error found."""
    key = (bundle.name, bundle.content_hash, frozenset(known_roles), frozenset(service_operations))
    with _PARSED_LOCK:
        parsed = _PARSED.get(key)
    if parsed is None:
        parsed = _parse_bundle(bundle, known_roles=known_roles, service_operations=service_operations)
        with _PARSED_LOCK:
            _PARSED[key] = parsed
            while len(_PARSED) > _PARSED_KEPT:
                _PARSED.popitem(last=False)
    return replace(parsed, bundle=bundle, problems=list(parsed.problems))


def _parse_bundle(
    bundle: Bundle, *, known_roles: Collection[str], service_operations: Collection[str]
) -> ParsedBundle:
    problems: list[Problem] = []
    bpmn = _parse_all(bundle, ".bpmn", problems)
    dmn = _parse_all(bundle, ".dmn", problems)
    lanes, lane_problems = read_lanes(bundle)
    problems += lane_problems
    if not bpmn and not problems:
        problems.append(Problem(bundle.name, "the bundle has no .bpmn file"))
    if any(p.severity == "error" for p in problems):
        raise DefinitionError(problems)
    forms = {p: c for p, c in bundle.files.items() if p.endswith(".json") and p != LANES_FILE}
    policy = bundle.files.get(POLICY_FILE)
    problems += check_documents(
        bpmn,
        dmn,
        forms,
        lanes=lanes,
        known_roles=known_roles,
        service_operations=service_operations,
        policy=policy.decode("utf-8", "replace") if policy is not None else None,
    )
    if any(p.severity == "error" for p in problems):
        raise DefinitionError(problems)
    specs, dependencies, process_ids = _build_specs(bpmn, dmn, problems)
    if any(p.severity == "error" for p in problems):
        raise DefinitionError(problems)
    return ParsedBundle(bundle, specs, dependencies, process_ids, lanes, problems)


def _parse_all(bundle: Bundle, suffix: str, problems: list[Problem]) -> dict[str, etree._Element]:
    trees: dict[str, etree._Element] = {}
    for path in bundle.paths(suffix):
        try:
            trees[path] = parse_xml(bundle.files[path], path)
        except DefinitionError as err:
            problems += err.problems
    return trees


def _build_specs(
    bpmn: Mapping[str, etree._Element], dmn: Mapping[str, etree._Element], problems: list[Problem]
) -> tuple[dict[str, Any], dict[str, list[str]], list[str]]:
    # A fresh parser per bundle: one parser cannot hold two versions of a process id.
    parser = SpiffBpmnParser(validator=VALIDATOR)
    for path, root in dmn.items():
        _guarded(problems, path, parser.add_dmn_xml, root, filename=path)
    for path, root in bpmn.items():
        # The validator rewrites a few tags in place; give it a copy so our trees stay as read.
        _guarded(problems, path, parser.add_bpmn_xml, etree.ElementTree(_copy(root)), filename=path)
    if problems and any(p.severity == "error" for p in problems):
        return {}, {}, []
    specs: dict[str, Any] = {}
    dependencies: dict[str, list[str]] = {}
    process_ids = sorted(parser.get_process_ids())
    for pid in process_ids:
        spec = _guarded(problems, pid, parser.get_spec, pid)
        called = _guarded(problems, pid, parser.get_subprocess_specs, pid)
        if spec is None or called is None:
            continue
        specs[pid] = spec
        for name, sub in called.items():
            specs.setdefault(name, sub)
        dependencies[pid] = sorted(called)
    for name in list(specs):
        dependencies.setdefault(name, [])
    return specs, dependencies, process_ids


def _copy(root: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(root), parser=etree.XMLParser(resolve_entities=False))


def _guarded(problems: list[Problem], where: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except ValidationException as err:
        problems.append(
            Problem(
                err.file_name or kwargs.get("filename") or where,
                _first_line(str(err)),
                line=int(err.line_number) if str(err.line_number).isdigit() else None,
                element_id=err.id or None,
            )
        )
    except SpiffWorkflowException as err:
        problems.append(Problem(kwargs.get("filename") or where, _first_line(str(err))))
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "invalid model"


def form_path(bundle_paths: Collection[str], reference: str) -> str | None:
    """The bundle path a task's form reference names: exact, or under forms/."""
    if reference in bundle_paths:
        return reference
    candidate = str(PurePosixPath("forms") / reference)
    return candidate if candidate in bundle_paths else None


def load_form_schema(content: bytes, path: str) -> dict[str, Any]:
    """A form's JSON Schema from its file."""
    schema = json.loads(content)
    if not isinstance(schema, dict):
        raise DefinitionError([Problem(path, "a form schema must be a JSON object")])
    return schema
