"""Keeps the register's critical-few marks in step with the decision table in force.

The table is the `critical_few.dmn` of the newest deployed version of the bundle (casework.critical_few).
When a deploy or a process owner's publish brings a version whose table differs from the one in force
before, every case on the register is marked again by the new table, in the same transaction as the
deploy: the publish and the marks it implies are committed together or not at all. The number of
cases that changed, and how long it took, go on the audit trail (`critical_few_recomputed`).

`tasks.wiring` registers `mark_cases_by_a_new_table` as the engine's deploy hook (`on_deploy`), which
the engine calls in each new version's deploy transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from sqlalchemy.orm import Session

from casework.critical_few import (
    CRITICAL_FEW_TABLE,
    CriticalFewTable,
    deployed_table_file,
    is_table_file,
    recompute_critical_flags,
)
from engine.models import AuditEvent, ProcessDefinition

log = logging.getLogger(__name__)


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
