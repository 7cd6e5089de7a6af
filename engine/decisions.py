"""A decision table of a deployed bundle, read by the application outside any process step.

Some rules the models keep as decision tables are asked outside a step too (who may own a case, when a
person chooses an owner from a list). `DecisionTable` parses one DMN decision and evaluates it in the
same sandbox as the models' scripts; `table_in_force` gives the table of a file as the newest deployed
version that holds it has it (each version's table parsed once per process), or the file on disk
before any version with it is deployed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import DefinitionFile, ProcessDefinition
from engine.scripting import SandboxedEnvironment, ServiceRegistry, compile_sandboxed
from engine.xmlsafe import parse_xml


class DecisionTable:
    """One decision of a DMN file, read once, evaluated in the models' sandbox over plain inputs."""

    def __init__(self, content: bytes, decision: str, *, name: str = "decision.dmn") -> None:
        parser = SpiffBpmnParser()
        parser.add_dmn_xml(parse_xml(content, name), filename=name)
        self._engine = DMNEngine(parser.get_engine(decision, None).decision_table)
        self._evaluator = _SandboxEvaluator()

    def evaluate(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The table's result for `inputs`: each output by name (a list of values for COLLECT)."""
        task = SimpleNamespace(data=dict(inputs), workflow=SimpleNamespace(script_engine=self._evaluator))
        return dict(self._engine.result(task))


def table_in_force(session: Session, on_disk: Path, decision: str) -> DecisionTable:
    """The decision `decision` of the file named like `on_disk` in the newest deployed version that has
    such a file; the file `on_disk` itself when no deployed version has one. One small query a call."""
    name = on_disk.name
    newest = session.execute(
        select(DefinitionFile.definition_id, ProcessDefinition.content_hash)
        .join(ProcessDefinition, ProcessDefinition.id == DefinitionFile.definition_id)
        .where((DefinitionFile.path == name) | DefinitionFile.path.like(f"%/{name}"))
        .order_by(ProcessDefinition.deployed_at.desc(), ProcessDefinition.id.desc())
        .limit(1)
    ).first()
    if newest is None:
        key = ("disk", str(on_disk), decision)
        if key not in _tables:
            _tables[key] = DecisionTable(on_disk.read_bytes(), decision, name=name)
        return _tables[key]
    key = (newest.content_hash, name, decision)
    if key not in _tables:
        content = session.scalar(
            select(DefinitionFile.content).where(
                DefinitionFile.definition_id == newest.definition_id,
                (DefinitionFile.path == name) | DefinitionFile.path.like(f"%/{name}"),
            )
        )
        _tables[key] = DecisionTable(bytes(content or b""), decision, name=name)
    return _tables[key]


# Parsed tables by (the deployed version's content hash or "disk", file, decision): a version's files
# never change.
_tables: dict[tuple[str, str, str], DecisionTable] = {}


class _SandboxEvaluator:
    """What the DMN engine needs of a script engine: the models' sandbox, over plain inputs."""

    def __init__(self) -> None:
        self._environment = SandboxedEnvironment({}, ServiceRegistry())

    def validate(self, expression: str) -> None:
        compile_sandboxed(expression.strip(), "eval")

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        return self._environment.evaluate(expression, task.data, external_context)
