"""Compare two versions of a definition in words a process owner understands.

`compare_files(old, new)` reads both versions' files (parsed safely, see engine.xmlsafe) and says
which steps were added, removed or changed, and how (the name, the lane, a property such as the due
time or the form, a timer, a script, a condition on a path), which decision-table rows were added,
removed, moved or changed (each cell as "label: old -> new"), and which other files changed. Diagram
layout (positions, sizes) is not a change: only what runs is compared. Elements are matched by id,
which the modeler keeps stable for existing elements; rows of a decision table likewise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from lxml import etree

from engine.xmlsafe import parse_xml

ChangeKind = Literal["added", "removed", "changed"]
T = TypeVar("T")

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DMN_NAMESPACES = frozenset(
    {
        "https://www.omg.org/spec/DMN/20191111/MODEL/",
        "http://www.omg.org/spec/DMN/20180521/MODEL/",
        "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    }
)
# Elements that run: flow nodes and the paths between them. Lanes, collaboration and diagram
# interchange are read only to say which lane a node is in.
FLOW_NODES = frozenset(
    {
        "task",
        "userTask",
        "manualTask",
        "serviceTask",
        "scriptTask",
        "businessRuleTask",
        "sendTask",
        "receiveTask",
        "callActivity",
        "subProcess",
        "transaction",
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "exclusiveGateway",
        "inclusiveGateway",
        "parallelGateway",
        "eventBasedGateway",
        "complexGateway",
    }
)
KIND_WORDS = {
    "task": "Task",
    "userTask": "Task for staff",
    "manualTask": "Manual task",
    "serviceTask": "Automatic step",
    "scriptTask": "Script",
    "businessRuleTask": "Decision",
    "sendTask": "Message sent",
    "receiveTask": "Message awaited",
    "callActivity": "Called process",
    "subProcess": "Sub-process",
    "transaction": "Sub-process",
    "startEvent": "Start",
    "endEvent": "End",
    "intermediateCatchEvent": "Wait",
    "intermediateThrowEvent": "Event",
    "boundaryEvent": "Deadline or interruption",
    "exclusiveGateway": "Choice",
    "inclusiveGateway": "Choice (one or more paths)",
    "parallelGateway": "Parallel paths",
    "eventBasedGateway": "Wait for the first of several events",
    "complexGateway": "Choice",
    "sequenceFlow": "Path",
}
# What a facet of an element is called on the comparison page.
FACET_WORDS = {
    "formJsonSchemaFilename": "form",
    "dueIn": "due time",
    "dueByStandard": "due by the standard",
    "followUpIn": "follow-up time",
    "expectedDuration": "expected duration",
    "priority": "priority",
    "instructionsForEndUser": "instructions",
    "documentation": "description",
    "script": "script",
    "preScript": "script before the step",
    "postScript": "script after the step",
    "timeDuration": "timer (duration)",
    "timeDate": "timer (date)",
    "timeCycle": "timer (cycle)",
    "conditionExpression": "condition",
    "calledElement": "called process",
    "calledDecisionId": "decision table",
    "messageRef": "message",
    "cancelActivity": "interrupts the step",
    "loopCondition": "repeat condition",
    "serviceTaskOperator": "operation",
}
IGNORED_ATTRIBUTES = frozenset({"id", "sourceRef", "targetRef", "attachedToRef"})


@dataclass(frozen=True)
class StepChange:
    """A step (or path) added, removed or changed; `details` say how, one line each."""

    kind: ChangeKind
    element_id: str
    label: str
    process_id: str
    details: tuple[str, ...] = ()
    tag: str = ""  # the BPMN element's kind, e.g. "userTask" or "sequenceFlow"

    @property
    def is_path(self) -> bool:
        return self.tag == "sequenceFlow"


@dataclass(frozen=True)
class RuleChange:
    """A decision-table row added, removed, moved or changed."""

    kind: ChangeKind
    decision: str
    rule: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    """What differs between two versions."""

    steps: list[StepChange] = field(default_factory=list)
    rules: list[RuleChange] = field(default_factory=list)
    files: list[tuple[ChangeKind, str]] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not (self.steps or self.rules or self.files)

    def element_ids(self, kind: ChangeKind) -> list[str]:
        """The ids of the steps changed in this way (to mark them on the diagram)."""
        return [change.element_id for change in self.steps if change.kind == kind]


def compare_files(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> Comparison:
    """Compare two versions' files: BPMN steps, DMN rows, and every other file as a whole."""
    comparison = Comparison()
    old_bpmn = _merged(old, ".bpmn", _bpmn_elements)
    new_bpmn = _merged(new, ".bpmn", _bpmn_elements)
    comparison.steps.extend(_compare_elements(old_bpmn, new_bpmn))
    old_dmn = _merged(old, ".dmn", _dmn_decisions)
    new_dmn = _merged(new, ".dmn", _dmn_decisions)
    comparison.rules.extend(_compare_decisions(old_dmn, new_dmn))
    for path in sorted(set(old) | set(new)):
        if path.endswith((".bpmn", ".dmn")):
            continue
        if path not in old:
            comparison.files.append(("added", path))
        elif path not in new:
            comparison.files.append(("removed", path))
        elif _normalised(path, old[path]) != _normalised(path, new[path]):
            comparison.files.append(("changed", path))
    return comparison


# ------------------------------------------------------------------------------------ BPMN


@dataclass(frozen=True)
class _Element:
    element_id: str
    process_id: str
    tag: str
    name: str
    facets: dict[str, str]
    ref_names: dict[str, str] = field(default_factory=dict)  # a path's ends: id -> name, for display

    @property
    def label(self) -> str:
        kind = KIND_WORDS.get(self.tag, self.tag)
        return f"{kind} “{self.name}”" if self.name else f"{kind} ({self.element_id})"


def _merged(
    files: Mapping[str, bytes], suffix: str, read: Callable[[etree._Element], dict[str, T]]
) -> dict[str, T]:
    merged: dict[str, T] = {}
    for path in sorted(files):
        if path.endswith(suffix):
            merged.update(read(parse_xml(files[path], path)))
    return merged


def _bpmn_elements(root: etree._Element) -> dict[str, _Element]:
    elements: dict[str, _Element] = {}
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        process_id = process.get("id", "")
        lanes = _lanes(process)
        names = {el.get("id", ""): el.get("name", "") for el in process.iter() if isinstance(el.tag, str)}
        for element in process.iter():
            if not isinstance(element.tag, str):
                continue
            tag = etree.QName(element).localname
            element_id = element.get("id", "")
            if not element_id or (tag not in FLOW_NODES and tag != "sequenceFlow"):
                continue
            facets = dict(_facets(element))
            name = element.get("name", "")
            if tag == "sequenceFlow":
                # The ends are compared by id (renaming a step does not change its paths) and
                # shown by name.
                ends = {
                    ref: names.get(ref) or ref
                    for ref in (element.get("sourceRef", ""), element.get("targetRef", ""))
                }
                facets["from"] = element.get("sourceRef", "")
                facets["to"] = element.get("targetRef", "")
                name = name or f"{ends[facets['from']]} → {ends[facets['to']]}"
                elements[element_id] = _Element(element_id, process_id, tag, name, facets, ends)
                continue
            facets["name"] = name
            if element_id in lanes:
                facets["lane"] = lanes[element_id]
            elements[element_id] = _Element(element_id, process_id, tag, name, facets)
    return elements


def _lanes(process: etree._Element) -> dict[str, str]:
    lanes: dict[str, str] = {}
    for lane in process.iter(f"{{{BPMN_NS}}}lane"):
        for ref in lane.iterfind(f"{{{BPMN_NS}}}flowNodeRef"):
            if ref.text:
                lanes[ref.text.strip()] = lane.get("name") or lane.get("id", "")
    return lanes


def _facets(element: etree._Element) -> Iterator[tuple[str, str]]:
    """What an element does, as (facet, value) pairs, without nested flow nodes or topology."""
    for attribute, value in element.attrib.items():
        name = etree.QName(attribute).localname
        if name not in IGNORED_ATTRIBUTES and name != "name":
            yield _word(name), value
    for child in element:
        if not isinstance(child.tag, str):
            continue
        tag = etree.QName(child).localname
        if tag in FLOW_NODES or tag in {"sequenceFlow", "incoming", "outgoing", "laneSet"}:
            continue
        if tag == "property" and child.get("name"):
            yield _word(child.get("name", "")), child.get("value", "")
            continue
        yield from _child_facets(child, tag)


def _child_facets(child: etree._Element, tag: str) -> Iterator[tuple[str, str]]:
    text = (child.text or "").strip()
    if text:
        yield _word(tag), text
    for attribute, value in child.attrib.items():
        name = etree.QName(attribute).localname
        if name in IGNORED_ATTRIBUTES:
            if tag in FACET_WORDS and name == "id":
                yield _word(tag), value  # e.g. the service operation's id names the operation
            continue
        yield f"{_word(tag)} {_word(name)}", value
    yield from _facets(child)


def _due_words(facets: Mapping[str, str]) -> str:
    """A step's due time as the version page lists it: its standard first, when it has one."""
    due, standard = facets.get(_word("dueIn"), ""), facets.get(_word("dueByStandard"), "")
    if not standard:
        return due
    return f"by the standard {standard}" + (f" (else {due})" if due else "")


def _word(name: str) -> str:
    return FACET_WORDS.get(name, name)


def _compare_elements(old: Mapping[str, _Element], new: Mapping[str, _Element]) -> Iterator[StepChange]:
    for element_id, element in new.items():
        if element_id not in old:
            yield StepChange("added", element_id, element.label, element.process_id, tag=element.tag)
    for element_id, element in old.items():
        if element_id not in new:
            yield StepChange("removed", element_id, element.label, element.process_id, tag=element.tag)
    for element_id, after in new.items():
        before = old.get(element_id)
        if before is None:
            continue
        details = tuple(_facet_changes(before, after))
        if details:
            yield StepChange("changed", element_id, after.label, after.process_id, details, after.tag)


def _facet_changes(before: _Element, after: _Element) -> Iterator[str]:
    if before.tag != after.tag:
        yield f"kind: {KIND_WORDS.get(before.tag, before.tag)} → {KIND_WORDS.get(after.tag, after.tag)}"
    for facet in sorted(set(before.facets) | set(after.facets)):
        was, now = before.facets.get(facet), after.facets.get(facet)
        if was == now:
            continue
        if facet in {"from", "to"}:
            was = before.ref_names.get(was or "", was)
            now = after.ref_names.get(now or "", now)
        if was is None:
            yield f"{facet}: set to {_quoted(now)}"
        elif now is None:
            yield f"{facet}: removed (was {_quoted(was)})"
        else:
            yield f"{facet}: {_quoted(was)} → {_quoted(now)}"


def _quoted(value: str | None, limit: int = 120) -> str:
    text = " ".join((value or "").split())
    return f"“{text[: limit - 1]}…”" if len(text) > limit else f"“{text}”"


# ------------------------------------------------------------------------------------- DMN


@dataclass(frozen=True)
class _Rule:
    rule_id: str
    position: int
    description: str
    cells: dict[str, str]  # column label -> text ("-" for any)

    def title(self) -> str:
        return f"row {self.position}" + (f" ({self.description})" if self.description else "")


@dataclass(frozen=True)
class _Decision:
    decision_id: str
    name: str
    hit_policy: str
    columns: tuple[str, ...]
    rules: dict[str, _Rule]


def _dmn_decisions(root: etree._Element) -> dict[str, _Decision]:
    decisions: dict[str, _Decision] = {}
    namespace = etree.QName(root).namespace or ""
    if namespace not in DMN_NAMESPACES:
        return decisions
    ns = f"{{{namespace}}}"
    for decision in root.iter(f"{ns}decision"):
        table = decision.find(f"{ns}decisionTable")
        if table is None:
            continue
        inputs = [
            "when " + (i.get("label") or _text(i.find(f"{ns}inputExpression/{ns}text")))
            for i in table.iterfind(f"{ns}input")
        ]
        outputs = [
            "then " + (o.get("label") or o.get("name") or o.get("id", ""))
            for o in table.iterfind(f"{ns}output")
        ]
        columns = tuple(inputs + outputs)
        rules: dict[str, _Rule] = {}
        for position, rule in enumerate(table.iterfind(f"{ns}rule"), start=1):
            entries = [*rule.iterfind(f"{ns}inputEntry"), *rule.iterfind(f"{ns}outputEntry")]
            cells = {
                column: _text(entry.find(f"{ns}text")) or "-"
                for column, entry in zip(columns, entries, strict=False)
            }
            rule_id = rule.get("id") or f"row-{position}"
            rules[rule_id] = _Rule(rule_id, position, _text(rule.find(f"{ns}description")), cells)
        decision_id = decision.get("id", "")
        decisions[decision_id] = _Decision(
            decision_id, decision.get("name") or decision_id, table.get("hitPolicy", "UNIQUE"), columns, rules
        )
    return decisions


def _text(element: etree._Element | None) -> str:
    return " ".join((element.text or "").split()) if element is not None else ""


def _compare_decisions(old: Mapping[str, _Decision], new: Mapping[str, _Decision]) -> Iterator[RuleChange]:
    for decision_id, after in new.items():
        before = old.get(decision_id)
        if before is None:
            yield RuleChange("added", after.name, "the whole table", (f"{len(after.rules)} rows",))
            continue
        if before.hit_policy != after.hit_policy:
            yield RuleChange(
                "changed", after.name, "the table", (f"hit policy: {before.hit_policy} → {after.hit_policy}",)
            )
        if before.columns != after.columns:
            yield RuleChange(
                "changed",
                after.name,
                "the columns",
                (f"{', '.join(before.columns)} → {', '.join(after.columns)}",),
            )
        yield from _compare_rules(after, before.rules, after.rules)
    for decision_id, before in old.items():
        if decision_id not in new:
            yield RuleChange("removed", before.name, "the whole table")


def _compare_rules(
    decision: _Decision, old: Mapping[str, _Rule], new: Mapping[str, _Rule]
) -> Iterator[RuleChange]:
    for rule_id, rule in new.items():
        if rule_id not in old:
            yield RuleChange("added", decision.name, rule.title(), (_sentence(rule),))
    for rule_id, rule in old.items():
        if rule_id not in new:
            yield RuleChange("removed", decision.name, rule.title(), (_sentence(rule),))
    for rule_id, after in new.items():
        before = old.get(rule_id)
        if before is None:
            continue
        details = [
            f"{column}: {_quoted(before.cells.get(column, '-'))} → {_quoted(after.cells.get(column, '-'))}"
            for column in after.cells
            if before.cells.get(column, "-") != after.cells.get(column, "-")
        ]
        if before.position != after.position and decision.hit_policy in {"FIRST", "PRIORITY", "RULE ORDER"}:
            details.append(f"moved from row {before.position} to row {after.position} (the order decides)")
        if before.description != after.description:
            details.append(f"description: {_quoted(before.description)} → {_quoted(after.description)}")
        if details:
            yield RuleChange("changed", decision.name, after.title(), tuple(details))


def _sentence(rule: _Rule) -> str:
    conditions = [f"{c[5:]} is {v}" for c, v in rule.cells.items() if c.startswith("when ") and v != "-"]
    results = [f"{c[5:]} = {v}" for c, v in rule.cells.items() if c.startswith("then ")]
    when = " and ".join(conditions) or "always"
    return f"when {when}: {', '.join(results)}"


# ----------------------------------------------------------------------------------- other


def _normalised(path: str, content: bytes) -> object:
    """JSON compared as data (key order and spacing do not count), everything else as bytes."""
    if path.endswith(".json"):
        try:
            return json.loads(content)
        except ValueError:
            return content
    return content


# ------------------------------------------------------------------------- describing one version


@dataclass(frozen=True)
class StepSummary:
    """One step of a version as the process pages list it."""

    element_id: str
    process_id: str
    kind: str
    name: str
    lane: str
    due: str
    form: str


@dataclass(frozen=True)
class DecisionTable:
    """A decision table as rows of cells, for reading and for the table editor."""

    file: str
    decision_id: str
    name: str
    hit_policy: str
    columns: tuple[str, ...]
    rows: list[tuple[str, str, tuple[str, ...]]]  # (rule id, description, cells in column order)


def steps_of(files: Mapping[str, bytes]) -> list[StepSummary]:
    """The steps (not the paths) of a version, in document order."""
    return [
        StepSummary(
            e.element_id,
            e.process_id,
            KIND_WORDS.get(e.tag, e.tag),
            e.name,
            e.facets.get("lane", ""),
            _due_words(e.facets),
            e.facets.get(_word("formJsonSchemaFilename"), ""),
        )
        for e in _merged(files, ".bpmn", _bpmn_elements).values()
        if e.tag != "sequenceFlow"
    ]


def decision_tables(files: Mapping[str, bytes]) -> list[DecisionTable]:
    """Every decision table of a version, file by file."""
    tables = []
    for path in sorted(p for p in files if p.endswith(".dmn")):
        for decision in _dmn_decisions(parse_xml(files[path], path)).values():
            rows = [
                (rule.rule_id, rule.description, tuple(rule.cells.get(c, "-") for c in decision.columns))
                for rule in sorted(decision.rules.values(), key=lambda r: r.position)
            ]
            tables.append(
                DecisionTable(
                    path, decision.decision_id, decision.name, decision.hit_policy, decision.columns, rows
                )
            )
    return tables
