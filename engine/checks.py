"""Model checks beyond the BPMN and DMN XSDs, on parsed XML trees.

Each check catches a mistake that SpiffWorkflow either accepts silently or reports only when an
instance reaches the element: a task nobody can see, a timer that cannot be evaluated, a decision
cell that is FEEL rather than Python, a loop that stops after a few hundred turns. Every finding is
a `Problem` located at the element, with a message that says what to change.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache, partial
from typing import Any

import jsonschema
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from engine.errors import DefinitionError, Problem
from engine.forms import DATE_BOUNDS, TODAY
from engine.monitoring.model import EXPECTED_PROPERTY, Expected
from engine.sandbox import policy_findings
from engine.standards import (
    OUTPUTS,
    STANDARD_INPUT,
    STANDARD_PROPERTY,
    TIMESCALES_DECISION,
    is_timescale,
    literal_text,
    standards_named,
    timescale_words,
)
from engine.xmlsafe import parse_json

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
DMN_NAMESPACES = (
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
)
NS = {"bpmn": BPMN_NS, "spiff": SPIFF_NS}

FORM_PROPERTY = "formJsonSchemaFilename"
HUMAN_TASKS = frozenset(f"{{{BPMN_NS}}}{tag}" for tag in ("userTask", "manualTask"))
# Elements whose children are flow nodes joined by their own sequence flows.
CONTAINERS = frozenset(
    f"{{{BPMN_NS}}}{tag}" for tag in ("process", "subProcess", "transaction", "adHocSubProcess")
)
TIMER_KINDS = ("timeDuration", "timeDate", "timeCycle")

LOOP_WARNING = (
    "this loop runs inside one task tree; after about 300 turns SpiffWorkflow stops silently. "
    "Model a long-running cycle as a sub-process with a standard loop (riskflow archives each finished turn)"
)

# ISO 8601 shapes, used both to validate quoted timer values and to spot unquoted ones.
_NUM = r"\d+(?:[.,]\d+)?"
DURATION = re.compile(
    rf"P(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?"
)
_CYCLE_OR_DATE = re.compile(r"R\d*/\S+|\d{4}-\d{2}-\d{2}(?:T\S*)?")
_DMN_INPUT = "dmninputexpr"
_WORD_OPERATOR = re.compile(r"(?:in|not|is|and|or)\b")

# A DMN cell check: the cell text to (severity, message), or None when the cell is fine.
CellCheck = Callable[[str], tuple[str, str] | None]


def check_documents(
    bpmn: Mapping[str, etree._Element],
    dmn: Mapping[str, etree._Element],
    forms: Mapping[str, bytes],
    *,
    lanes: Mapping[str, str],
    known_roles: Collection[str],
    service_operations: Collection[str],
    policy: str | None = None,
) -> list[Problem]:
    """Check a bundle's parsed BPMN and DMN trees and its forms; return every error and warning.

    `policy` is the text of the bundle's policy.md (None when it has none), for `policySection`."""
    process_ids = {p.get("id") for root in bpmn.values() for p in root.iterfind("bpmn:process", NS)}
    decision_ids, problems = _check_dmn_files(dmn)
    problems += _check_duplicate_ids(bpmn)
    problems += _check_forms(bpmn, forms)
    problems += _check_standards(bpmn, dmn)
    for name, root in bpmn.items():
        problems += check_step_settings(name, root, policy)
        problems += _check_lanes(name, root, lanes, known_roles)
        problems += _check_service_tasks(name, root, service_operations)
        problems += _check_timers(name, root)
        problems += _check_call_activities(name, root, process_ids)
        problems += _check_decision_refs(name, root, decision_ids)
        problems += _check_loops(name, root)
        problems += _check_model_code(name, root)
        problems += _check_other_modellers(name, root)
    return problems


# --- helpers -------------------------------------------------------------------------------------


def _bpmn(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


def _owner_id(element: etree._Element) -> str | None:
    """The id of the flow node (or top-level element) that the element belongs to."""
    for node in _ancestors_or_self(element):
        parent = node.getparent()
        top_level = parent is None or parent.getparent() is None
        if node.get("id") and (top_level or (parent is not None and parent.tag in CONTAINERS)):
            return str(node.get("id"))
    return None


def _ancestors_or_self(element: etree._Element) -> Iterator[etree._Element]:
    node: etree._Element | None = element
    while node is not None:
        yield node
        node = node.getparent()


def _at(
    file: str,
    element: etree._Element,
    message: str,
    *,
    severity: str = "error",
    element_id: str | None = None,
) -> Problem:
    owner = element_id or _owner_id(element)
    return Problem(file, message, line=element.sourceline, element_id=owner, severity=severity)


def _short(text: str, limit: int = 60) -> str:
    # Messages quote the model's text; a pasted page should not fill the designer's problem list.
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _label(element: etree._Element) -> str:
    return str(element.get("name") or element.get("id") or etree.QName(element).localname)


# --- duplicate ids -------------------------------------------------------------------------------


def _check_duplicate_ids(bpmn: Mapping[str, etree._Element]) -> list[Problem]:
    # Only BPMN model elements: diagram-interchange ids (shapes, planes) never reach the engine.
    seen: dict[str, tuple[str, int | None]] = {}
    problems: list[Problem] = []
    for name, root in bpmn.items():
        for element in root.iter(f"{{{BPMN_NS}}}*"):
            element_id = element.get("id")
            if not element_id:
                continue
            if element_id in seen and element.tag == _bpmn("process"):
                file, line = seen[element_id]
                message = (
                    f"process id {element_id!r} is defined in both {file} (line {line}) and {name}: "
                    "a bundle may define each process once; rename one of them (a copied file keeps its id)"
                )
                problems.append(Problem(name, message, line=element.sourceline, element_id=element_id))
            elif element_id in seen:
                file, line = seen[element_id]
                problems.append(
                    Problem(
                        name,
                        f"id {element_id!r} is already used at {file}:{line}; ids must be unique across "
                        "the bundle's BPMN files: rename one of them",
                        line=element.sourceline,
                        element_id=element_id,
                    )
                )
            else:
                seen[element_id] = (name, element.sourceline)
    return problems


# --- step settings ------------------------------------------------------------------------------

# The element properties riskflow reads (docs/modelling.md, "Task properties"), besides the form.
DUE_PROPERTIES = ("dueIn", "followUpIn")
PRIORITY_PROPERTY = "priority"
POLICY_PROPERTY = "policySection"
POLICY_FILE = "policy.md"
_POLICY_POINT = re.compile(r"^##\s+(\d+)\.\s", re.MULTILINE)
_INSTRUCTIONS = SandboxedEnvironment()  # parsed only, never rendered here
TIME_FORMS = "an ISO 8601 duration such as P10D or a number of working days such as '5 working days'"


def policy_points(text: str) -> list[str]:
    """The numbers of the policy's points, in order: each heading `## 7. ...` is point 7."""
    return _POLICY_POINT.findall(text)


def check_step_settings(name: str, root: etree._Element, policy: str | None) -> list[Problem]:
    """The values of the step settings riskflow runs on, each at its step: due and follow-up
    times, expected duration, priority, policy point and the instructions for staff. The form is
    `_check_forms`'s; expressions in due times are also checked by the sandbox (`_check_model_code`)."""
    problems: list[Problem] = []
    points = policy_points(policy) if policy is not None else None
    for prop in root.iterfind(".//spiff:property", NS):
        value = (prop.get("value") or "").strip()
        message = _setting_problem(str(prop.get("name")), value, points) if value else None
        if message:
            problems.append(_at(name, prop, f"{_step_label(prop)}: {message}"))
    for instructions in root.iterfind(".//spiff:instructionsForEndUser", NS):
        try:
            _INSTRUCTIONS.parse(instructions.text or "")
        except TemplateSyntaxError as err:
            message = (
                f"the instructions for staff, line {err.lineno}, are not a valid template ({err.message}): "
                + "write values as {{ crn }}, and close every {% if %} with {% endif %}"
            )
            problems.append(_at(name, instructions, f"{_step_label(instructions)}: {message}"))
    return problems


def step_setting_errors(
    name: str, root: etree._Element, *, form_paths: Collection[str], policy: str | None
) -> list[Problem]:
    """The errors in one BPMN file's step settings, as a save of the file refuses them: each value
    above, a form the bundle does not hold, and what the sandbox refuses in a due time."""
    problems = check_step_settings(name, root, policy)
    forms = dict.fromkeys(form_paths, b"")
    for prop in root.iterfind(".//spiff:property", NS):
        value = (prop.get("value") or "").strip()
        if prop.get("name") == FORM_PROPERTY and _form_key(forms, value) is None:
            choices = ", ".join(sorted(p.removeprefix("forms/") for p in form_paths)) or "none yet"
            message = f"form {value!r} is not in the bundle (its forms: {choices}): "
            message += "choose one, or add the form first"
            problems.append(_at(name, prop, f"{_step_label(prop)}: {message}"))
        elif prop.get("name") in _EVALUATED_PROPERTIES:
            found = _code_problems(name, prop, value, f"{prop.get('name')} property")
            problems += [replace(p, message=f"{_step_label(prop)}: {p.message}") for p in found]
    return [p for p in problems if p.severity == "error"]


def _step_label(element: etree._Element) -> str:
    owner = _owner_id(element)
    step = next((e for e in _ancestors_or_self(element) if e.get("id") == owner), None)
    return f"step {_label(step)!r}" if step is not None else "a step"


def _setting_problem(prop: str, value: str, points: list[str] | None) -> str | None:
    if prop in DUE_PROPERTIES:
        return _due_problem(prop, value)
    if prop == EXPECTED_PROPERTY:
        try:
            Expected.parse(value)
        except ValueError as err:
            return str(err)
        return None
    if prop == PRIORITY_PROPERTY and not re.fullmatch(r"-?\d+", value):
        return f"{prop} {_short(value)!r} is not a whole number: write a number such as 1 or 2"
    if prop == POLICY_PROPERTY:
        return _policy_point_problem(prop, value, points)
    return None


def _policy_point_problem(prop: str, value: str, points: list[str] | None) -> str | None:
    if points is None:
        return f"{prop} {_short(value)!r} names a point of the policy, but the bundle has no {POLICY_FILE}"
    if value in points:
        return None
    known = f"{points[0]} to {points[-1]}" if points else "none"
    return (
        f"{prop} {_short(value)!r} is not a point of {POLICY_FILE} (its numbered points are {known}): "
        "write the number of the point the step puts into practice"
    )


def _due_problem(prop: str, value: str) -> str | None:
    try:
        Expected.parse(value)
    except ValueError:
        pass
    else:
        return None  # a literal time, as TaskPolicy.when reads it
    try:
        tree = _compile_eval(value)
    except SyntaxError:
        return f"{prop} {_short(value)!r} is not a time: write {TIME_FORMS}, or an expression that gives one"
    if isinstance(tree.body, ast.Name) and re.fullmatch(r"P[0-9A-Z]*", value):
        return f"{prop} {_short(value)!r} is not an ISO 8601 duration: write e.g. P10D, or '5 working days'"
    return None


# --- lanes ---------------------------------------------------------------------------------------


def _check_lanes(
    name: str, root: etree._Element, lanes: Mapping[str, str], known_roles: Collection[str]
) -> list[Problem]:
    problems = [p for lane in _leaf_lanes(root) for p in _check_lane(name, lane, lanes, known_roles)]
    refs = _lane_by_node(root)
    for process in root.iterfind("bpmn:process", NS):
        for task, lane in _human_tasks(process, refs, None):
            if lane is None:
                message = "is in no lane: put it in a lane named after the grade that does it"
            elif not lane.get("name"):
                message = "is in a lane with no name: name the lane after the grade that does it"
            else:
                continue
            problems.append(_at(name, task, f"{_label(task)!r} {message}"))
    return problems


def _leaf_lanes(root: etree._Element) -> Iterator[etree._Element]:
    # A parent lane only groups its child lanes; tasks take the innermost lane's name.
    for lane in root.iterfind(".//bpmn:lane", NS):
        if lane.find("bpmn:childLaneSet", NS) is None:
            yield lane


def _check_lane(
    file: str, lane: etree._Element, lanes: Mapping[str, str], known_roles: Collection[str]
) -> list[Problem]:
    lane_name = lane.get("name")
    if not lane_name:
        return []
    if lane_name not in lanes:
        message = f"lane {lane_name!r} is not in lanes.json: add it there with its role code"
    elif lanes[lane_name] not in known_roles:
        message = (
            f"lane {lane_name!r} maps to role {lanes[lane_name]!r}, which the application does not know: "
        )
        message += "fix the role code in lanes.json"
    else:
        return []
    return [Problem(file, message, line=lane.sourceline, element_id=lane.get("id"))]


def _lane_by_node(root: etree._Element) -> dict[str, etree._Element]:
    # As SpiffWorkflow reads it: every flowNodeRef in the document, the last one for a node wins.
    refs: dict[str, etree._Element] = {}
    for ref in root.iterfind(".//bpmn:flowNodeRef", NS):
        lane = ref.getparent()
        if ref.text is not None and lane is not None:
            refs[ref.text] = lane
    return refs


def _human_tasks(
    container: etree._Element, refs: Mapping[str, etree._Element], inherited: etree._Element | None
) -> Iterator[tuple[etree._Element, etree._Element | None]]:
    """Each user or manual task under the container with the lane SpiffWorkflow gives it."""
    for child in container:
        lane = inherited if inherited is not None else refs.get(str(child.get("id")))
        if child.tag in HUMAN_TASKS:
            yield child, lane
        elif child.tag in CONTAINERS:
            # An embedded sub-process passes its lane down (a nameless lane passes nothing).
            yield from _human_tasks(child, refs, lane if lane is not None and lane.get("name") else None)


# --- forms ---------------------------------------------------------------------------------------


def _check_forms(bpmn: Mapping[str, etree._Element], forms: Mapping[str, bytes]) -> list[Problem]:
    problems: list[Problem] = []
    checked: set[str] = set()
    for name, root in bpmn.items():
        for prop in root.iterfind(f".//spiff:property[@name='{FORM_PROPERTY}']", NS):
            reference = prop.get("value") or ""
            key = _form_key(forms, reference)
            if key is None:
                message = (
                    f"form {reference!r} is not in the bundle: add forms/{reference} or fix {FORM_PROPERTY}"
                )
                problems.append(_at(name, prop, message))
            elif key not in checked:
                checked.add(key)
                problems += form_schema_problems(key, forms[key])
    return problems + _check_shows(bpmn, forms)


# --- steps due by a standard (engine.standards) ---------------------------------------------------


def _check_standards(bpmn: Mapping[str, etree._Element], dmn: Mapping[str, etree._Element]) -> list[Problem]:
    """Every `dueByStandard` names a standard the `timescales` table has rows for, and the table
    gives what the engine reads: a timescale it can count, and wording that says the same."""
    found = _timescales_table(dmn)
    problems = _check_timescales_table(*found) if found else []
    known = standards_named(found[2]) if found else set()
    for name, root in bpmn.items():
        for prop in root.iterfind(f".//spiff:property[@name='{STANDARD_PROPERTY}']", NS):
            standard = (prop.get("value") or "").strip()
            if found is None:
                message = (
                    f"{STANDARD_PROPERTY} {standard!r} needs the decision table {TIMESCALES_DECISION!r}, "
                    f"which no DMN file in the bundle defines: add {TIMESCALES_DECISION}.dmn or use dueIn"
                )
                problems.append(_at(name, prop, message))
            elif standard not in known:
                listed = ", ".join(sorted(known)) or "none"
                message = (
                    f"{STANDARD_PROPERTY} {standard!r} is not a standard the decision table "
                    f"{TIMESCALES_DECISION!r} has rows for (known: {listed}): fix the name or add its rows "
                    "to the table"
                )
                problems.append(_at(name, prop, message))
    return problems


def _timescales_table(
    dmn: Mapping[str, etree._Element],
) -> tuple[str, etree._Element, list[str | None]] | None:
    """The file and table of the `timescales` decision, and the cells of its standard column."""
    for name, root in dmn.items():
        ns = etree.QName(root).namespace
        decision = root.find(f"{{{ns}}}decision[@id='{TIMESCALES_DECISION}']")
        table = decision.find(f"{{{ns}}}decisionTable") if decision is not None else None
        if table is None:
            continue
        inputs = table.findall(f"{{{ns}}}input")
        column = next(
            (
                n
                for n, i in enumerate(inputs)
                if (_text(i.find(f"{{{ns}}}inputExpression/{{{ns}}}text")) or "").strip() == STANDARD_INPUT
            ),
            None,
        )
        cells: list[str | None] = []
        if column is not None:
            for rule in table.iterfind(f"{{{ns}}}rule"):
                entries = rule.findall(f"{{{ns}}}inputEntry")
                if column < len(entries):
                    cells.append(_text(entries[column].find(f"{{{ns}}}text")))
        return name, table, cells
    return None


def _check_timescales_table(file: str, table: etree._Element, cells: Sequence[str | None]) -> list[Problem]:
    ns = etree.QName(table).namespace
    problems: list[Problem] = []
    inputs = [
        _text(i.find(f"{{{ns}}}inputExpression/{{{ns}}}text")) for i in table.iterfind(f"{{{ns}}}input")
    ]
    if STANDARD_INPUT not in [(text or "").strip() for text in inputs]:
        message = (
            f"the decision table {TIMESCALES_DECISION!r} needs an input whose expression is {STANDARD_INPUT} "
            "(the standard a step's dueByStandard names): add that column"
        )
        problems.append(_at(file, table, message))
    names = [str(o.get("name") or "") for o in table.iterfind(f"{{{ns}}}output")]
    missing = [name for name in OUTPUTS if name not in names]
    if missing:
        message = (
            f"the decision table {TIMESCALES_DECISION!r} has no output named {', '.join(missing)}: "
            f"it needs {', '.join(OUTPUTS)} (how long, from what date, in what words)"
        )
        return [*problems, _at(file, table, message)]
    at = {name: names.index(name) for name in OUTPUTS}
    for row, rule in enumerate(table.iterfind(f"{{{ns}}}rule"), start=1):
        entries = rule.findall(f"{{{ns}}}outputEntry")
        if len(entries) != len(names):
            continue  # the table check already says so
        timescale = literal_text(_text(entries[at["timescale"]].find(f"{{{ns}}}text")))
        wording = literal_text(_text(entries[at["wording"]].find(f"{{{ns}}}text")))
        where = f"rule {row}, column 'timescale': "
        if timescale is not None and not is_timescale(timescale):
            message = (
                f"{where}{timescale!r} is not a timescale: write a number of working days such as "
                '"15 working days" or an ISO 8601 duration such as "P8W"'
            )
            problems.append(_at(file, entries[at["timescale"]], message, element_id=rule.get("id")))
            continue
        words = timescale_words(timescale) if timescale is not None else None
        if (
            words is not None
            and wording is not None
            and not re.search(rf"(?<!\d){re.escape(words)}\b", wording)
        ):
            said = f"{timescale!r}" if words == timescale else f"{timescale!r} ({words})"
            message = (
                f"rule {row}: the wording {_short(wording)!r} does not say the timescale {said}: "
                "make them agree, so that what staff read is the date the task is due"
            )
            problems.append(_at(file, entries[at["wording"]], message, element_id=rule.get("id")))
    return problems


# The form keyword that shows a task what earlier steps recorded (docs/modelling.md).
SHOWS = "shows"


def _check_shows(bpmn: Mapping[str, etree._Element], forms: Mapping[str, bytes]) -> list[Problem]:
    """Every `shows` names a step that exists (a human task with a form) and fields its form asks
    for, or a key of the case's data that the model names and fields some form of the bundle asks
    for (its title and choices say the value in words)."""
    schemas = {key: _json_object(content, key) for key, content in forms.items()}
    step_forms: dict[str, str | None] = {}
    for root in bpmn.values():
        for task in root.iter(*HUMAN_TASKS):
            prop = task.find(f".//spiff:property[@name='{FORM_PROPERTY}']", NS)
            step_forms[str(task.get("id"))] = (
                _form_key(forms, prop.get("value") or "") if prop is not None else None
            )
    model_text = " ".join(
        " ".join([*(t for t in root.itertext()), *(v for e in root.iter() for v in e.attrib.values())])
        for root in bpmn.values()
    )
    asked = {name for schema in schemas.values() for name in _properties(schema)}
    problems: list[Problem] = []
    for key, schema in sorted(schemas.items()):
        entries = schema.get(SHOWS)
        if entries is None:
            continue
        if not isinstance(entries, list):
            problems.append(Problem(key, f'"{SHOWS}" is a list of {{"from": ..., "fields": [...]}}'))
            continue
        for n, entry in enumerate(entries, start=1):
            problems += [
                Problem(key, f'"{SHOWS}" entry {n}: {text}')
                for text in _shows_entry(entry, step_forms, schemas, model_text, asked)
            ]
    return problems


def _shows_entry(
    entry: Any,
    step_forms: Mapping[str, str | None],
    schemas: Mapping[str, Mapping[str, Any]],
    model_text: str,
    asked: set[str],
) -> list[str]:
    shape = _shows_shape(entry)
    if shape is not None:
        return [shape]
    source, fields = entry["from"], entry["fields"]
    if source in step_forms:
        form = step_forms[source]
        if form is None:
            return [f"step {source!r} has no form, so it records nothing to show"]
        missing = [f for f in fields if f not in _properties(schemas.get(form, {}))]
        return [f"step {source!r} (form {form}) has no field {f!r}" for f in missing]
    if not re.search(rf"(?<![\w.]){re.escape(source)}(?!\w)", model_text):
        return [f"{source!r} is neither a step of the bundle nor a key of the case's data its model names"]
    return [
        f"no form of the bundle asks for {f!r}, so its label and choices are not known: "
        f"check the name (fields of {source!r})"
        for f in fields
        if f not in asked
    ]


def _shows_shape(entry: Any) -> str | None:
    """What is wrong with the shape of a `shows` entry, or None."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("from"), str) or not entry["from"]:
        return 'give "from": the id of an earlier step, or a key of the case\'s data'
    fields = entry.get("fields")
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) and f for f in fields):
        return 'give "fields": the names of the fields to show, as a list'
    title = entry.get("title")
    if title is not None and (not isinstance(title, str) or not title.strip()):
        return '"title" is the heading to show, as text'
    unknown = sorted(set(entry) - {"from", "fields", "title"})
    if unknown:
        return f'unknown key {", ".join(map(repr, unknown))}: an entry has "from", "fields" and "title"'
    return None


def _json_object(content: bytes, key: str) -> Mapping[str, Any]:
    try:
        schema = parse_json(content, key)
    except DefinitionError:
        return {}  # reported by form_schema_problems
    return schema if isinstance(schema, Mapping) else {}


def _properties(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    properties = schema.get("properties")
    return properties if isinstance(properties, Mapping) else {}


def _form_key(forms: Mapping[str, bytes], reference: str) -> str | None:
    if not reference:
        return None
    if reference in forms:
        return reference
    return f"forms/{reference}" if f"forms/{reference}" in forms else None


def form_schema_problems(key: str, content: bytes) -> list[Problem]:
    """What is wrong with a form file (JSON, an object schema, a valid JSON Schema); empty if nothing."""
    try:
        schema = parse_json(content, key)
    except DefinitionError as err:
        return err.problems
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return [Problem(key, 'a form schema must be a JSON object with "type": "object" at the top level')]
    message = _schema_problem_of(content, key)
    if message:
        return [Problem(key, message)]
    return form_audit(key, schema)


def form_audit(key: str, schema: Mapping[str, Any]) -> list[Problem]:
    """What a form would make people do wrong: a required list that cannot be answered "none" (it
    forces a false answer), free text without a length limit, riskflow's keywords where they mean
    nothing. Each problem names the field."""
    problems: list[Problem] = []
    required = set(schema.get("required") or [])
    properties = schema.get("properties")
    for name, prop in (properties if isinstance(properties, Mapping) else {}).items():
        if isinstance(prop, Mapping):
            problems += [
                Problem(key, f"field {name!r}: {text}", severity=severity)
                for severity, text in _field_audit(prop, name in required)
            ]
    return problems


def _field_audit(prop: Mapping[str, Any], required: bool) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    kind, is_date = prop.get("type"), prop.get("format") == "date"
    none_option, min_items = prop.get("noneOption"), prop.get("minItems")
    if none_option is not None and (
        kind != "array" or not isinstance(none_option, str) or not none_option.strip()
    ):
        found.append(
            ("error", '"noneOption" gives the words of a list\'s "None" answer: use it on an array, as text')
        )
    elif none_option and isinstance(min_items, int) and min_items > 0:
        found.append(("error", f'"noneOption" and "minItems": {min_items} contradict each other: keep one'))
    elif (
        kind == "array"
        and required
        and not none_option
        and not (isinstance(min_items, int) and min_items > 0)
    ):
        found.append(
            (
                "error",
                'a required list that may be empty cannot be answered "none" on the task page, '
                "so people must tick something untrue: "
                'add "noneOption" (the words of its None answer) or "minItems": 1',
            )
        )
    for keyword in DATE_BOUNDS:
        if keyword in prop and (not is_date or prop[keyword] != TODAY):
            found.append(
                ("error", f'"{keyword}" works on a date field ("format": "date") with the value "{TODAY}"')
            )
    free_text = kind == "string" and not is_date and "enum" not in prop and "oneOf" not in prop
    if free_text and not isinstance(prop.get("maxLength"), int):
        found.append(
            ("warning", 'free text with no "maxLength": give it a limit, and the page counts the characters')
        )
    return found


@lru_cache(maxsize=512)
def _schema_problem_of(content: bytes, key: str) -> str | None:
    """`_schema_problem` for a form file's content, remembered: checking a schema against its
    metaschema is most of the cost of checking a bundle, and the same forms are checked again at
    every save of a draft and every deploy."""
    schema = parse_json(content, key)
    return _schema_problem(schema) if isinstance(schema, dict) else None


def _schema_problem(schema: dict[str, Any]) -> str | None:
    meta = schema.get("$schema")
    if meta is not None and not isinstance(meta, str):
        return '"$schema" must be a URI string: fix it or remove it'
    try:
        with warnings.catch_warnings():
            # jsonschema only warns about an unknown $schema; treat it as the mistake it is.
            warnings.simplefilter("error", DeprecationWarning)
            validator = jsonschema.validators.validator_for(schema)
        validator.check_schema(schema)
    except DeprecationWarning:
        return f'unknown "$schema" {meta!r}: use a JSON Schema draft URI or remove it'
    except jsonschema.exceptions.SchemaError as err:
        path = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        return f"not a valid JSON Schema at {path}: {err.message}"
    except RecursionError:
        return "the schema is nested too deeply to check: flatten it"
    return None


# --- service tasks -------------------------------------------------------------------------------


def _check_service_tasks(name: str, root: etree._Element, operations: Collection[str]) -> list[Problem]:
    problems: list[Problem] = []
    known = ", ".join(sorted(operations)) or "none are registered"
    for task in root.iterfind(".//bpmn:serviceTask", NS):
        operator = task.find("bpmn:extensionElements/spiff:serviceTaskOperator", NS)
        if operator is None:
            problems.append(_at(name, task, f"service task has no operator: choose one of: {known}"))
        elif operator.get("id") not in operations:
            message = f"operation {operator.get('id')!r} is not registered: use one of: {known}"
            problems.append(_at(name, operator, message))
    return problems


# --- timers --------------------------------------------------------------------------------------


def _check_timers(name: str, root: etree._Element) -> list[Problem]:
    problems: list[Problem] = []
    ids = {str(e.get("id")): e for e in root.iter() if e.get("id")}
    for definition in root.iterfind(".//bpmn:timerEventDefinition", NS):
        for kind in TIMER_KINDS:
            expression = definition.find(f"bpmn:{kind}", NS)
            if expression is not None:
                message = _timer_problem(kind, expression.text or "", definition.getparent(), ids)
                if message:
                    problems.append(_at(name, expression, message))
    return problems


def _timer_problem(
    kind: str, text: str, event: etree._Element | None, ids: Mapping[str, etree._Element]
) -> str | None:
    source = text.strip()
    if not source:
        return f'the {kind} is empty: give an ISO 8601 value in quotes, e.g. "P14D"'
    if _looks_iso(source):
        return f'timer expression {_short(source)} is read as Python; quote it: "{_short(source)}"'
    tree = _parse_timer(text)
    if isinstance(tree, str):
        return f"timer expression {_short(source)!r} {tree}"
    if isinstance(tree.body, ast.Constant):
        value = tree.body.value
        if isinstance(value, str):
            return _iso_problem(kind, value)
        return f"timer expression {_short(source)!r} is not a string: give an ISO 8601 value in quotes"
    return _boundary_problem(tree, event, ids)


def _parse_timer(text: str) -> ast.Expression | str:
    """The expression's tree, or what is wrong with it."""
    try:
        # eval(), which SpiffWorkflow uses, strips leading spaces and tabs but not newlines.
        return _compile_eval(text.lstrip(" \t"))
    except IndentationError:
        return "starts on an indented line: remove the line break before it"
    except SyntaxError as err:
        return f"is not valid Python ({err.msg}): quote an ISO 8601 literal"


def _looks_iso(source: str) -> bool:
    # Only uppercase designators: a lowercase name is more likely a real variable.
    if source.startswith("P"):
        return source == source.upper() and _is_duration(source)
    return bool(_CYCLE_OR_DATE.fullmatch(source))


def _iso_problem(kind: str, value: str) -> str | None:
    if kind == "timeDuration":
        return (
            None
            if _is_duration(value)
            else f'"{_short(value)}" is not an ISO 8601 duration: write e.g. "P14D" or "PT1H"'
        )
    if kind == "timeDate":
        return _date_problem(value)
    return _cycle_problem(value)


def _is_duration(value: str) -> bool:
    # SpiffWorkflow reads designators case-insensitively and refuses weeks mixed with Y/M/D.
    upper = value.upper()
    if not DURATION.fullmatch(upper) or upper.endswith("T") or not any(c.isdigit() for c in upper):
        return False
    return "W" not in upper or not re.search(r"[YMD]", upper.split("T")[0])


def _date_problem(value: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return f'"{_short(value)}" is not an ISO 8601 date-time: write e.g. "2026-12-01T09:00:00Z"'
    if parsed.tzinfo is None:
        return f'"{_short(value)}" has no time zone: add Z or an offset; naive times use the server\'s zone'
    return None


def _cycle_problem(value: str) -> str | None:
    parts = value.split("/")
    example = 'write R<count>/<duration>, e.g. "R3/P7D" or "R/P7D"'
    if not re.fullmatch(r"R\d*", parts[0].upper()) or len(parts) not in (2, 3):
        return f'"{_short(value)}" is not an ISO 8601 repeating interval: {example}'
    durations = [p for p in parts[1:] if p.upper().startswith("P")]
    if len(durations) != 1 or not _is_duration(durations[0]):
        return f'"{_short(value)}" needs exactly one valid duration: {example}'
    dates = [p for p in parts[1:] if not p.upper().startswith("P")]
    return next((m for m in map(_date_problem, dates) if m), None)


def _boundary_problem(
    tree: ast.Expression, event: etree._Element | None, ids: Mapping[str, etree._Element]
) -> str | None:
    # A boundary timer is evaluated when its task is reached, before the task's preScript runs.
    if event is None or event.tag != _bpmn("boundaryEvent"):
        return None
    task = ids.get(str(event.get("attachedToRef")))
    if task is None:
        return None
    clash = sorted(_names(tree, ast.Load) & _prescript_assigns(task))
    if not clash:
        return None
    names = ", ".join(clash)
    return (
        f"the timer uses {names}, which the preScript of {_label(task)!r} sets; the boundary timer is "
        f"evaluated before that preScript runs: set {names} in an earlier task"
    )


def _prescript_assigns(task: etree._Element) -> set[str]:
    script = task.find("bpmn:extensionElements/spiff:preScript", NS)
    if script is None or not script.text:
        return set()
    try:
        return _names(_parse_exec(script.text), ast.Store)
    except SyntaxError:
        return set()  # a script that does not parse is not this check's concern


def _names(tree: ast.AST, context: type[ast.expr_context]) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, context)}


# --- models from other modellers ---------------------------------------------------------------

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
# Camunda settings that would change who does a task, when, with what form or what runs: riskflow
# does not run them, so a model that relies on them would behave differently here. What riskflow
# reads instead, for the warning. Any other camunda: attribute (historyTimeToLive, asyncBefore,
# versionTag, ...) tunes Camunda's own engine and is ignored without a word.
CAMUNDA_NOT_RUN = {
    "assignee": "a task's people come from its lane (lanes.json)",
    "candidateUsers": "a task's people come from its lane (lanes.json)",
    "candidateGroups": "a task's people come from its lane (lanes.json)",
    "formKey": "a task's form is its formJsonSchemaFilename property",
    "formRef": "a task's form is its formJsonSchemaFilename property",
    "dueDate": "a task's due date is its dueIn or dueByStandard property",
    "followUpDate": "a task's follow-up date is its followUpIn property",
    "priority": "a task's priority is its priority property",
    "class": "a service task calls a riskflow service (spiffworkflow:serviceTaskOperator)",
    "delegateExpression": "a service task calls a riskflow service (spiffworkflow:serviceTaskOperator)",
    "expression": "a service task calls a riskflow service (spiffworkflow:serviceTaskOperator)",
    "type": "a service task calls a riskflow service (spiffworkflow:serviceTaskOperator)",
    "topic": "a service task calls a riskflow service (spiffworkflow:serviceTaskOperator)",
    "resultVariable": "a script sets its own variables",
    "decisionRef": "a business rule task names its table in spiffworkflow:calledDecisionId",
    "calledElementBinding": "a call activity runs the called process of the same deployed version",
    "taskListener": "listeners do not run; put the work in a script task",
    "executionListener": "listeners do not run; put the work in a script task",
    "inputOutput": "input and output mappings do not run; a script task can copy the data",
    "in": "a call activity sees all of its caller's data",
    "out": "a call activity returns all of its data to its caller",
    "connector": "a service task calls a riskflow service (spiffworkflow:serviceTaskOperator)",
    "formData": "a task's form is its formJsonSchemaFilename property",
}
_JUEL = re.compile(r"\s*[$#]\{(.*)\}\s*", re.S)
PYTHON_SCRIPT_FORMATS = {"", "python", "python3", "text/x-python"}


def _check_other_modellers(name: str, root: etree._Element) -> list[Problem]:
    """What a model drawn for another engine carries that riskflow would run differently: Camunda
    settings it does not run (warnings), scripts that are not Python and JUEL or other expressions
    SpiffWorkflow could not evaluate (errors: the instance would fail at that step)."""
    return _camunda_settings(name, root) + _manual_task_forms(name, root) + _foreign_code(name, root)


def _camunda_settings(name: str, root: etree._Element) -> list[Problem]:
    problems: list[Problem] = []
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        unrun = [a for a in element.attrib if etree.QName(a).namespace == CAMUNDA_NS]
        extensions = element.find("bpmn:extensionElements", NS)
        if extensions is not None:
            unrun += [child.tag for child in extensions.iter(f"{{{CAMUNDA_NS}}}*")]
        found = sorted({etree.QName(a).localname for a in unrun} & set(CAMUNDA_NOT_RUN))
        if found:
            settings = ", ".join(f"camunda:{k}" for k in found)
            instead = "; ".join(dict.fromkeys(CAMUNDA_NOT_RUN[k] for k in found))
            message = f"{settings}: Camunda settings that riskflow does not run ({instead})"
            problems.append(_at(name, element, message, severity="warning"))
    return problems


def _manual_task_forms(name: str, root: etree._Element) -> list[Problem]:
    problems: list[Problem] = []
    for manual in root.iter(_bpmn("manualTask")):
        form = manual.find(f".//spiff:property[@name='{FORM_PROPERTY}']", NS)
        if form is not None:
            message = (
                f"manual task {_label(manual)!r} has a form: a manual task is work done away from "
                "riskflow and only confirmed; make it a user task to record answers"
            )
            problems.append(_at(name, form, message))
    return problems


def _foreign_code(name: str, root: etree._Element) -> list[Problem]:
    problems: list[Problem] = []
    for script_task in root.iter(_bpmn("scriptTask")):
        script_format = (script_task.get("scriptFormat") or "").strip()
        if script_format.lower() not in PYTHON_SCRIPT_FORMATS:
            message = (
                f"scriptFormat {script_format!r}: riskflow runs scripts as Python; "
                "rewrite the script in Python"
            )
            problems.append(_at(name, script_task, message))
            continue
        script = script_task.find("bpmn:script", NS)
        if script is not None and script.text and script.text.strip():
            try:
                _parse_exec(script.text)
            except SyntaxError as err:
                line = script.sourceline + (err.lineno or 1) - 1 if script.sourceline else None
                message = (
                    f"script line {err.lineno}: not valid Python ({err.msg}): riskflow runs scripts as Python"
                )
                problems.append(Problem(name, message, line=line, element_id=_owner_id(script)))
    for condition in root.iter(_bpmn("conditionExpression")):
        text = (condition.text or "").strip()
        if not text:
            continue
        try:
            _compile_eval(text)
        except SyntaxError as err:
            juel = _JUEL.fullmatch(text)
            if juel:
                message = (
                    f"condition {_short(text)!r} is a Camunda (JUEL) expression; riskflow evaluates "
                    f"Python: write it without the braces, e.g. {_short(juel.group(1).strip())!r}"
                )
            else:
                message = f"condition {_short(text)!r} is not valid Python ({err.msg}): write it as Python"
            problems.append(_at(name, condition, message))
    return problems


# --- model code under the sandbox's rules ------------------------------------------------------

# Where a BPMN file holds code the engine runs: scripts (exec) and expressions (eval).
_SCRIPT_TAGS = {
    f"{{{BPMN_NS}}}script": "script",
    f"{{{SPIFF_NS}}}preScript": "preScript",
    f"{{{SPIFF_NS}}}postScript": "postScript",
}
_EXPRESSION_TAGS = {
    f"{{{BPMN_NS}}}{tag}": label
    for tag, label in (
        ("conditionExpression", "condition"),
        ("condition", "condition"),
        ("loopCondition", "loop condition"),
        ("completionCondition", "completion condition"),
        ("loopCardinality", "loop cardinality"),
        ("formalExpression", "expression"),
        ("messagePath", "message path"),
        *((kind, "timer expression") for kind in TIMER_KINDS),
    )
} | {f"{{{SPIFF_NS}}}messagePayload": "message payload"}
SANDBOX_HINT = " (what model code may use: docs/modelling.md, 'What scripts may use')"
# Element properties the engine evaluates when they are not a literal duration.
_EVALUATED_PROPERTIES = frozenset({"dueIn", "followUpIn"})


def _check_model_code(name: str, root: etree._Element) -> list[Problem]:
    """Scripts and expressions that the sandbox would refuse, at their element and line."""
    problems: list[Problem] = []
    for element in root.iter(*_SCRIPT_TAGS, *_EXPRESSION_TAGS):
        if element.text and element.text.strip():
            problems += _code_problems(name, element, element.text)
    for parameter in root.iterfind(".//spiff:parameter", NS):
        problems += _code_problems(name, parameter, parameter.get("value") or "", "service parameter")
    for prop in root.iterfind(".//spiff:property", NS):
        if prop.get("name") in _EVALUATED_PROPERTIES:
            problems += _code_problems(name, prop, prop.get("value") or "", f"{prop.get('name')} property")
    return problems


def _syntax_problems(file: str, element: etree._Element, source: str, kind: str) -> list[Problem]:
    """A script that is not valid Python, as the engine would compile it (no dedent): refused at its
    line, not found only when a case reaches the step."""
    try:
        ast.parse(source, "<model>", "exec")
    except SyntaxError as err:
        at = err.lineno or 1
        line = element.sourceline + at - 1 if element.sourceline else None
        message = f"{kind} line {at} is not valid Python: {err.msg}: correct the script"
        return [Problem(file, message, line=line, element_id=_owner_id(element))]
    except (ValueError, RecursionError, MemoryError) as err:
        return [Problem(file, f"{kind} cannot be read as Python: {err}", element_id=_owner_id(element))]
    return []


def _code_problems(file: str, element: etree._Element, text: str, label: str | None = None) -> list[Problem]:
    script = element.tag in _SCRIPT_TAGS
    kind = label or (_SCRIPT_TAGS.get(element.tag) or _EXPRESSION_TAGS[element.tag])
    source = text if script else text.strip()
    problems: list[Problem] = []
    for finding in policy_findings(source, "exec" if script else "eval"):
        # The text starts on its element's line, so script line n is n - 1 lines further down.
        line = element.sourceline + finding.line - 1 if element.sourceline and finding.line else None
        where = f"{kind} line {finding.line}" if script and finding.line else kind
        message = f"{where}: {finding.message}{SANDBOX_HINT}"
        owner = _owner_id(element)
        problems.append(Problem(file, message, line=line or element.sourceline, element_id=owner))
    if script:
        problems += _syntax_problems(file, element, source, kind)
        for loop_line in endless_loops(source):
            line = element.sourceline + loop_line - 1 if element.sourceline else None
            message = (
                f"{kind} line {loop_line}: this loop never ends (its condition is always true and nothing "
                "in it breaks out or returns): the step would fail at the script time limit; give it an end"
            )
            problems.append(
                Problem(file, message, line=line, element_id=_owner_id(element), severity="warning")
            )
    return problems


def endless_loops(source: str) -> list[int]:
    """The lines of `while` loops whose condition is a true constant and whose body has no `break`
    of their own and no `return`: loops that can only end at the time limit."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.While)
        and isinstance(node.test, ast.Constant)
        and bool(node.test.value)
        and not _leaves(node.body)
    )


def _leaves(body: list[ast.stmt]) -> bool:
    """Whether these statements can leave the loop they are the body of."""
    return any(_exits(statement) for statement in body)


def _exits(node: ast.AST) -> bool:
    if isinstance(node, (ast.Break, ast.Return, ast.Raise)):
        return True
    if isinstance(node, (ast.While, ast.For, ast.AsyncFor)):
        # A nested loop's own `break` leaves only it; a return or raise in it leaves ours too.
        return any(isinstance(n, (ast.Return, ast.Raise)) for n in ast.walk(node))
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
        return False  # defined here, not run here
    return any(_exits(child) for child in ast.iter_child_nodes(node))


def _policy_problem(expression: str) -> tuple[str, str] | None:
    """The first thing the sandbox would refuse in a decision-table expression, if any."""
    found = policy_findings(expression.strip(), "eval")
    return ("error", f"{found[0].message}{SANDBOX_HINT}") if found else None


# --- call activities and decisions ---------------------------------------------------------------


def _check_call_activities(
    name: str, root: etree._Element, process_ids: Collection[str | None]
) -> list[Problem]:
    problems: list[Problem] = []
    for call in root.iterfind(".//bpmn:callActivity", NS):
        called = call.get("calledElement")
        if called not in process_ids:
            message = f"calls process {called!r}, which no BPMN file in the bundle defines"
            problems.append(_at(name, call, f"{message}: add that file or fix calledElement"))
    return problems


def _check_decision_refs(name: str, root: etree._Element, decision_ids: Collection[str]) -> list[Problem]:
    problems: list[Problem] = []
    for task in root.iterfind(".//bpmn:businessRuleTask", NS):
        ref = task.find("bpmn:extensionElements/spiff:calledDecisionId", NS)
        decision = ref.text if ref is not None else None
        if decision not in decision_ids:
            known = ", ".join(sorted(decision_ids)) or "none"
            message = f"calls decision {decision!r}, which no DMN file in the bundle defines (known: {known})"
            problems.append(_at(name, ref if ref is not None else task, f"{message}: fix calledDecisionId"))
    return problems


# --- DMN -----------------------------------------------------------------------------------------


def _check_dmn_files(dmn: Mapping[str, etree._Element]) -> tuple[set[str], list[Problem]]:
    decision_ids: set[str] = set()
    problems: list[Problem] = []
    for name, root in dmn.items():
        namespace = etree.QName(root).namespace
        if namespace not in DMN_NAMESPACES:
            problems.append(_at(name, root, f"not a DMN 1.1-1.3 file (namespace {namespace!r})"))
            continue
        decisions = root.findall(f".//{{{namespace}}}decision")
        if len(decisions) != 1:
            found = f"{len(decisions)} decisions"
            problems.append(
                _at(name, root, f"a DMN file must hold exactly one decision, not {found}: split it")
            )
        if decisions:
            # SpiffWorkflow registers only the first decision of a file.
            decision_ids.add(str(decisions[0].get("id")))
        for table in root.iter(f"{{{namespace}}}decisionTable"):
            problems += _check_table(name, table, namespace)
    return decision_ids, problems


@dataclass(frozen=True)
class CellProblem:
    """A decision-table cell the checks find fault with, by its place in the grid."""

    row: int  # from 1, as the grid numbers its rows
    column: int  # from 0, the inputs then the outputs
    label: str  # the column's label
    severity: str
    message: str
    entry: etree._Element


def decision_cell_problems(root: etree._Element) -> list[CellProblem]:
    """Every cell of a DMN file's decision tables that the checks find fault with, by row and column."""
    namespace = etree.QName(root).namespace
    if namespace not in DMN_NAMESPACES:
        return []
    return [
        cell
        for table in root.iter(f"{{{namespace}}}decisionTable")
        for cell in _table_cells(str(namespace), table)[1]
    ]


def _check_table(file: str, table: etree._Element, ns: str) -> list[Problem]:
    problems, cells = _table_cells(ns, table, file)
    for cell in cells:
        message = f"rule {cell.row}, column {cell.label!r}: {cell.message}"
        entry_id = cell.entry.get("id")
        problems.append(_at(file, cell.entry, message, severity=cell.severity, element_id=entry_id))
    return problems


def _table_cells(ns: str, table: etree._Element, file: str = "") -> tuple[list[Problem], list[CellProblem]]:
    """The problems of a table's columns and rows' shapes, and those of its cells."""
    problems: list[Problem] = []
    input_checks: list[tuple[str, CellCheck]] = []
    for column in table.iterfind(f"{{{ns}}}input"):
        expression, problem = _input_expression(file, column, ns)
        problems += [problem] if problem else []
        input_checks.append((_label_of(column), partial(_input_cell, expression)))
    output_checks: list[tuple[str, CellCheck]] = [
        (_label_of(c), _output_cell) for c in table.iterfind(f"{{{ns}}}output")
    ]
    cells: list[CellProblem] = []
    for row, rule in enumerate(table.iterfind(f"{{{ns}}}rule"), start=1):
        for tag, checks, first in (
            ("inputEntry", input_checks, 0),
            ("outputEntry", output_checks, len(input_checks)),
        ):
            shape = _check_row(file, (row, rule), tag, checks, first=first, cells=cells)
            problems += [shape] if shape else []
    return problems, cells


def _check_row(
    file: str,
    numbered_rule: tuple[int, etree._Element],
    tag: str,
    checks: Sequence[tuple[str, CellCheck]],
    *,
    first: int,
    cells: list[CellProblem],
) -> Problem | None:
    row, rule = numbered_rule
    ns = etree.QName(rule).namespace
    entries = rule.findall(f"{{{ns}}}{tag}")
    if len(entries) != len(checks):
        # SpiffWorkflow pairs cells with columns by position and fails outright on a surplus cell.
        message = (
            f"rule {row} has {len(entries)} {tag} cells for {len(checks)} columns: give it one per column"
        )
        return _at(file, rule, message, element_id=rule.get("id"))
    for index, (entry, (label, check)) in enumerate(zip(entries, checks, strict=True)):
        text = _text(entry.find(f"{{{ns}}}text"))
        found = check(text) if text is not None else None
        if found is not None:
            severity, message = found
            cells.append(CellProblem(row, first + index, label, severity, message, entry))
    return None


def _input_expression(file: str, column: etree._Element, ns: str) -> tuple[str, Problem | None]:
    text = _text(column.find(f"{{{ns}}}inputExpression/{{{ns}}}text"))
    if text is None:
        # SpiffWorkflow then falls back to the column label's value; check cells against a stand-in.
        return "dmninput", None
    try:
        # No stripping: the engine also checks it with ast.parse, which refuses leading blanks.
        _compile_eval(text)
    except SyntaxError as err:
        message = f"input {_label_of(column)!r}: expression {_short(text)!r} is not valid Python ({err.msg})"
        return "dmninput", _at(
            file, column, f"{message}: DMN expressions are Python, not FEEL", element_id=column.get("id")
        )
    refused = _policy_problem(text)
    if refused:
        message = f"input {_label_of(column)!r}: {refused[1]}"
        return "dmninput", _at(file, column, message, element_id=column.get("id"))
    return text, None


def _text(element: etree._Element | None) -> str | None:
    # Not findtext(): it gives "" for an empty <text/>, where the engine sees None (match anything).
    return None if element is None else element.text


def _label_of(column: etree._Element) -> str:
    return str(column.get("label") or column.get("name") or column.get("id"))


def _input_cell(input_expression: str, text: str) -> tuple[str, str] | None:
    """Compile an input cell the way DMNEngine.evaluate builds it."""
    if text == "-":
        return None
    if not text.strip():
        # Only a missing text matches anything; a blank one is compared with `()` and never matches.
        return "warning", "the cell is blank, so it never matches: write - to match anything"
    cell = _short(text)
    try:
        expression = _cell_expression(input_expression, text)
        _compile_eval(expression.lstrip(" \t"))
    except SyntaxError as err:
        if _glued(input_expression, text):
            return (
                "error",
                f"input cell {cell!r} is joined to the input with no space: write it as '? {cell}'",
            )
        return "error", f"input cell {cell!r} is not valid Python ({err.msg}); cells are Python, not FEEL"
    if _glued(input_expression, text):
        # It compiles, but as another name: `score` + `not in [1]` reads the variable `scorenot`.
        return "error", f"input cell {cell!r} is read as {_short(expression)!r}: write it as '? {cell}'"
    return _policy_problem(expression)


def _glued(input_expression: str, text: str) -> bool:
    # A cell that does not parse alone is appended to the input with no space between them.
    concatenated = "?" not in text and not _parses(text)
    return bool(concatenated and _WORD_OPERATOR.match(text) and re.search(r"\w$", input_expression))


def _cell_expression(input_expression: str, text: str) -> str:
    """The expression DMNEngine.evaluate builds for a cell; raises SyntaxError where the engine would."""
    match = _replace_question_marks(text)
    if _DMN_INPUT in match:
        return match
    if _parses(match):
        return f"({input_expression}) == ({match})"
    _parse_exec(f"v {match}")  # the engine's own test for a cell that starts with an operator
    return input_expression + match


def _replace_question_marks(text: str) -> str:
    """DMNEngine's `?` substitution without its quadratic regex: a `?` outside quotes is the input.

    The engine's lookahead accepts a `?` when the rest of the cell holds an even number of quotes.
    """
    pieces: list[str] = []
    quotes = 0
    for char in reversed(text):
        quotes += char in "'\""
        pieces.append(_DMN_INPUT if char == "?" and quotes % 2 == 0 else char)
    return "".join(reversed(pieces))


def _parses(text: str) -> bool:
    try:
        _parse_exec(text)
    except SyntaxError:
        return False
    return True


def _parse_exec(text: str) -> ast.Module:
    """ast.parse, as the engine's validate() calls it; nesting too deep counts as a syntax error."""
    try:
        return ast.parse(text)
    except (RecursionError, MemoryError) as err:
        raise SyntaxError("the expression is nested too deeply") from err


def _compile_eval(text: str) -> ast.Expression:
    """Parse and compile an expression as eval() will; nesting too deep counts as a syntax error."""
    try:
        tree = ast.parse(text, "<model>", "eval")
        compile(tree, "<model>", "eval")
    except (RecursionError, MemoryError) as err:
        raise SyntaxError("the expression is nested too deeply") from err
    return tree


def _output_cell(text: str) -> tuple[str, str] | None:
    cell = _short(text)
    try:
        tree = _compile_eval(text)
    except SyntaxError as err:
        return "error", f"output cell {cell!r} is not valid Python ({err.msg}); strings need quotes"
    # True, False and None parse as constants, so any bare name here is a variable lookup.
    if isinstance(tree.body, ast.Name):
        return (
            "warning",
            f'output {cell} is a variable name; is this meant to be a string? quote it: "{cell}"',
        )
    return _policy_problem(text)


# --- loops ---------------------------------------------------------------------------------------


def _check_loops(name: str, root: etree._Element) -> list[Problem]:
    problems: list[Problem] = []
    for container in root.iter(*CONTAINERS):
        nodes = {str(c.get("id")): c for c in container if c.get("id") and c.tag != _bpmn("sequenceFlow")}
        successors = _successors(container)
        for head in _loop_heads(successors, _start_order(nodes, successors)):
            element = nodes.get(head, container)
            problems.append(
                _at(name, element, f"loop back to {_label(element)!r}: {LOOP_WARNING}", severity="warning")
            )
    return problems


def _successors(container: etree._Element) -> dict[str, list[str]]:
    successors: dict[str, list[str]] = {}
    for flow in container.iterfind("bpmn:sequenceFlow", NS):
        successors.setdefault(str(flow.get("sourceRef")), []).append(str(flow.get("targetRef")))
    # A boundary event leaves its task: treat it as one of the task's successors.
    for event in container.iterfind("bpmn:boundaryEvent", NS):
        successors.setdefault(str(event.get("attachedToRef")), []).append(str(event.get("id")))
    return successors


def _start_order(nodes: Mapping[str, etree._Element], successors: Mapping[str, list[str]]) -> list[str]:
    # Walk from the nodes nothing flows into, so back edges land where a modeller draws them.
    targets = {t for ts in successors.values() for t in ts}
    return [n for n in nodes if n not in targets] + [n for n in nodes if n in targets]


def _loop_heads(successors: Mapping[str, list[str]], order: list[str]) -> list[str]:
    """Nodes a back edge lands on, by an iterative depth-first search (models can be long)."""
    state: dict[str, bool] = {}  # True while on the current path, False once finished
    heads: list[str] = []
    for start in order:
        if start in state:
            continue
        state[start] = True
        stack = [(start, iter(successors.get(start, ())))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = False
                stack.pop()
            elif state.get(child) is True and child not in heads:
                heads.append(child)
            elif child not in state:
                state[child] = True
                stack.append((child, iter(successors.get(child, ()))))
    return heads
