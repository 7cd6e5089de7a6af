"""Keeps the register's critical-few marks in step with the decision table in force.

The table is the `critical_few.dmn` of the newest deployed version of the bundle (casework.critical_few).
When a deploy or a process owner's publish brings a version whose table differs from the one in force
before, every case on the register is marked again by the new table, in the same transaction as the
deploy: the publish and the marks it implies are committed together or not at all. The number of
cases that changed, and how long it took, go on the audit trail (`critical_few_recomputed`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from casework.critical_few import (
    CRITICAL_FEW_TABLE,
    CriticalFewTable,
    deployed_table_file,
    is_table_file,
    recompute_critical_flags,
)
from engine.models import AuditEvent, DefinitionFile, ProcessDefinition

log = logging.getLogger(__name__)

_PENDING = "critical_few_deployed"


# Importing this module (tasks.wiring does, for the app, the worker and the CLI) installs the listeners.
@event.listens_for(Session, "after_flush")
def note_a_deployed_table(session: Session, _context: Any) -> None:
    """Remember a newly deployed critical-few table until the transaction commits."""
    for obj in session.new:
        if isinstance(obj, DefinitionFile) and is_table_file(obj.path):
            session.info[_PENDING] = (obj.definition_id, bytes(obj.content))


@event.listens_for(Session, "before_commit")
def mark_cases_by_a_new_table(session: Session) -> None:
    """Before a deploy commits: if its critical-few table differs from the one in force, mark every case
    on the register again by the new table."""
    if any(isinstance(obj, DefinitionFile) for obj in session.new):
        session.flush()  # the commit's own flush comes after this hook
    pending = session.info.pop(_PENDING, None)
    if pending is None:
        return
    definition_id, content = pending
    before = deployed_table_file(session, besides=definition_id)
    if content == (CRITICAL_FEW_TABLE.read_bytes() if before is None else before[1]):
        return
    started = time.perf_counter()
    changed = recompute_critical_flags(session, CriticalFewTable(content=content))
    seconds = round(time.perf_counter() - started, 2)
    definition = session.get_one(ProcessDefinition, definition_id)
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
