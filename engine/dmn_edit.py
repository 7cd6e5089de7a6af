"""Edit a decision table's rows in a DMN file, keeping everything else in the file as it was.

The process pages edit a table as a grid of cells (no JavaScript needed); `rewrite_rules` writes
the grid back: existing rows keep their ids (so a comparison shows "row 3 changed", not "removed
and added"), new rows get fresh ids, rows left out are removed, and the order is the grid's order
(it matters for the FIRST hit policy). The cells are expressions checked at publish time like any
other; here only their number is checked.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from engine.compare import DMN_NAMESPACES
from engine.errors import FieldError, InvalidData
from engine.xmlsafe import parse_xml


@dataclass(frozen=True)
class Row:
    """One row of the grid: its rule id (None for a new row), its description and its cells."""

    rule_id: str | None
    description: str
    cells: Sequence[str]


def rewrite_rules(text: str, path: str, decision_id: str, rows: Sequence[Row]) -> str:
    """The DMN file `text` with the rules of decision `decision_id` replaced by `rows`."""
    root = parse_xml(text.encode("utf-8"), path)
    namespace = etree.QName(root).namespace or ""
    if namespace not in DMN_NAMESPACES:
        raise InvalidData([FieldError("path", f"{path} is not a DMN file")])
    ns = f"{{{namespace}}}"
    table = root.find(f".//{ns}decision[@id='{_literal(decision_id)}']/{ns}decisionTable")
    if table is None:
        raise InvalidData([FieldError("decision", f"{path} has no decision table {decision_id!r}")])
    inputs = table.findall(f"{ns}input")
    outputs = table.findall(f"{ns}output")
    width = len(inputs) + len(outputs)
    existing = {rule.get("id"): rule for rule in table.findall(f"{ns}rule")}
    errors = [
        FieldError(f"row-{n}", f"Row {n} has {len(row.cells)} cells; the table has {width} columns")
        for n, row in enumerate(rows, start=1)
        if len(row.cells) != width
    ]
    unknown = [row.rule_id for row in rows if row.rule_id is not None and row.rule_id not in existing]
    errors += [
        FieldError("rows", f"Row {rule_id} is not in the table any more: reload it") for rule_id in unknown
    ]
    if errors:
        raise InvalidData(errors)
    indent = table.text or ""
    tail = existing[next(iter(existing))].tail if existing else indent
    for rule in existing.values():
        table.remove(rule)
    for row in rows:
        rule = existing.get(row.rule_id) if row.rule_id else None
        if rule is None:
            rule = _new_rule(ns, decision_id, len(inputs), len(outputs))
        _fill(rule, ns, row)
        rule.tail = tail
        table.append(rule)
    return _serialise(root)


def _new_rule(ns: str, decision_id: str, inputs: int, outputs: int) -> etree._Element:
    rule_id = f"{decision_id}_rule_{uuid.uuid4().hex[:8]}"
    rule = etree.Element(f"{ns}rule", id=rule_id)
    for n in range(1, inputs + 1):
        entry = etree.SubElement(rule, f"{ns}inputEntry", id=f"{rule_id}_in_{n}")
        etree.SubElement(entry, f"{ns}text")
    for n in range(1, outputs + 1):
        entry = etree.SubElement(rule, f"{ns}outputEntry", id=f"{rule_id}_out_{n}")
        etree.SubElement(entry, f"{ns}text")
    return rule


def _fill(rule: etree._Element, ns: str, row: Row) -> None:
    description = rule.find(f"{ns}description")
    if row.description.strip():
        if description is None:
            description = etree.Element(f"{ns}description")
            rule.insert(0, description)
        description.text = row.description.strip()
    elif description is not None:
        rule.remove(description)
    inputs = rule.findall(f"{ns}inputEntry")
    entries = [*inputs, *rule.findall(f"{ns}outputEntry")]
    for n, (entry, cell) in enumerate(zip(entries, row.cells, strict=True)):
        text = entry.find(f"{ns}text")
        if text is None:
            text = etree.SubElement(entry, f"{ns}text")
        # An empty condition means "any" ("-"); an empty result stays empty for the check to name.
        text.text = cell.strip() or ("-" if n < len(inputs) else "")


def _literal(value: str) -> str:
    if "'" in value:
        raise InvalidData([FieldError("decision", "A decision id cannot contain a quote")])
    return value


def _serialise(root: etree._Element) -> str:
    body = str(etree.tostring(root, encoding="unicode"))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
