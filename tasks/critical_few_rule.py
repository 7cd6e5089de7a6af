"""The critical-few decision table in force, and keeping the register's marks in step with it.

The table is the `critical_few.dmn` of the newest deployed version of the bundle (the file on disk
until a version with it is deployed). It is read from the engine's tables and evaluated in the same
sandbox as the models; `RULE_BOOK` is where the register (casework.critical_few) finds it, plugged in
by `tasks.wiring.plug_in_the_register`.

When a deploy or a process owner's publish brings a version whose table differs from the one in
force before, every case on the register is marked again by the new table, in the same transaction as
the deploy: the publish and the marks it implies are committed together or not at all. The number of
cases that changed, and how long it took, go on the audit trail (`critical_few_recomputed`).

`tasks.wiring` registers `mark_cases_by_a_new_table` as the engine's deploy hook (`on_deploy`), which
the engine calls in each new version's deploy transaction.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.critical_few import recompute_critical_flags
from engine.models import AuditEvent, DefinitionFile, ProcessDefinition
from engine.scripting import SandboxedEnvironment, ServiceRegistry, compile_sandboxed
from engine.xmlsafe import parse_xml

log = logging.getLogger(__name__)

# The decision table that says which cases are critical and why.
CRITICAL_FEW_TABLE = (
    Path(__file__).resolve().parent.parent / "processes" / "offender-management" / "critical_few.dmn"
)
CRITICAL_FEW_DECISION = "critical_few"
CRITICAL_FEW_FILE = CRITICAL_FEW_TABLE.name


class CriticalFewTable:
    """The `critical_few` decision table, read once, evaluated in the same sandbox as the models."""

    def __init__(
        self,
        path: Path = CRITICAL_FEW_TABLE,
        decision: str = CRITICAL_FEW_DECISION,
        *,
        content: bytes | None = None,
    ) -> None:
        """The table in the file at `path`, or in `content` (a deployed version's file) when given."""
        parser = SpiffBpmnParser()
        if content is None:
            content = path.read_bytes()
        parser.add_dmn_xml(parse_xml(content, path.name), filename=path.name)
        self._engine = DMNEngine(parser.get_engine(decision, None).decision_table)
        self._evaluator = _SandboxEvaluator()

    def reasons(self, inputs: Mapping[str, Any]) -> list[str]:
        """The reasons of every row that matches `inputs`, in the table's order."""
        task = SimpleNamespace(data=dict(inputs), workflow=SimpleNamespace(script_engine=self._evaluator))
        found = self._engine.result(task).get("reason", [])
        return [str(reason) for reason in found]


class _SandboxEvaluator:
    """What the DMN engine needs of a script engine: the models' sandbox, over plain inputs."""

    def __init__(self) -> None:
        self._environment = SandboxedEnvironment({}, ServiceRegistry())

    def validate(self, expression: str) -> None:
        compile_sandboxed(expression.strip(), "eval")

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        return self._environment.evaluate(expression, task.data, external_context)


# ------------------------------------------------------------------- the table in force


def deployed_table_file(session: Session, *, besides: int | None = None) -> tuple[int, bytes] | None:
    """The critical-few file of the newest deployed version that has one, as (definition id, content),
    leaving out version `besides` if given; None when no deployed version has one."""
    query = select(DefinitionFile.definition_id, DefinitionFile.content).where(_IS_TABLE_FILE)
    if besides is not None:
        query = query.where(DefinitionFile.definition_id != besides)
    row = session.execute(_newest_first(query).limit(1)).first()
    return None if row is None else (row[0], bytes(row[1]))


def table_in_force(session: Session) -> CriticalFewTable:
    """The critical-few table of the newest deployed version (the file on disk before any is deployed).

    Each version's table is parsed once per process; asking costs one small query.
    """
    newest = session.execute(
        _newest_first(
            select(DefinitionFile.definition_id, ProcessDefinition.content_hash).where(_IS_TABLE_FILE)
        ).limit(1)
    ).first()
    if newest is None:
        table = _disk_table()
    elif (cached := _deployed_tables.get(newest.content_hash)) is not None:
        table = cached
    else:
        content = session.scalar(
            select(DefinitionFile.content).where(
                DefinitionFile.definition_id == newest.definition_id, _IS_TABLE_FILE
            )
        )
        table = _deployed_tables.setdefault(
            newest.content_hash, CriticalFewTable(content=bytes(content or b""))
        )
    _last_read[:] = [table]
    return table


def is_table_file(path: str) -> bool:
    """Whether a bundle's file at `path` is the critical-few table."""
    return path == CRITICAL_FEW_FILE or path.endswith(f"/{CRITICAL_FEW_FILE}")


class DeployedRuleBook:
    """Where the register finds the table in force (casework.critical_few.RuleBook)."""

    def in_force(self, session: Session) -> CriticalFewTable:
        """The table of the newest deployed version that has one."""
        return table_in_force(session)

    def last_read(self) -> CriticalFewTable:
        """The table this process last found in force, for callers that have no session at hand."""
        return _last_read[0] if _last_read else _disk_table()


RULE_BOOK = DeployedRuleBook()

_IS_TABLE_FILE = (DefinitionFile.path == CRITICAL_FEW_FILE) | DefinitionFile.path.like(
    f"%/{CRITICAL_FEW_FILE}"
)


def _newest_first(query: Any) -> Any:
    return query.join(ProcessDefinition, ProcessDefinition.id == DefinitionFile.definition_id).order_by(
        ProcessDefinition.deployed_at.desc(), ProcessDefinition.id.desc()
    )


# Parsed tables by the content hash of the deployed version they came from (its files never change).
_deployed_tables: dict[str, CriticalFewTable] = {}
# The table this process last found in force, for callers that have no session at hand.
_last_read: list[CriticalFewTable] = []


@functools.cache
def _disk_table() -> CriticalFewTable:
    return CriticalFewTable()


# ------------------------------------------------------------------- a deploy that changes the rule


def mark_cases_by_a_new_table(
    session: Session, definition: ProcessDefinition, files: Mapping[str, bytes]
) -> None:
    """In a deploy's transaction: if the new version's critical-few table differs from the one in
    force before, mark every case on the register again by the new table."""
    tables = [content for path, content in sorted(files.items()) if is_table_file(path)]
    if not tables:
        return
    content = bytes(tables[-1])
    session.flush()  # the new version's files, so that the table in force before is told apart
    before = deployed_table_file(session, besides=definition.id)
    if content == (CRITICAL_FEW_TABLE.read_bytes() if before is None else before[1]):
        return
    started = time.perf_counter()
    changed = recompute_critical_flags(session, CriticalFewTable(content=content))
    seconds = round(time.perf_counter() - started, 2)
    session.add(
        AuditEvent(
            at=definition.deployed_at,
            actor=definition.deployed_by,
            event="critical_few_recomputed",
            detail={
                "name": definition.name,
                "version": definition.version,
                "changed": changed,
                "seconds": seconds,
            },
        )
    )
    session.flush()
    log.info(
        "critical-few table of %s version %s in force: %s case(s) re-marked in %.2f s",
        definition.name,
        definition.version,
        changed,
        seconds,
    )
