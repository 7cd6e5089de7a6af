"""Read-only questions about deployed definitions, for pages and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import ProcessDefinition, ProcessInstance
from engine.runtime import InstanceStatus


@dataclass(frozen=True)
class DeployedVersion:
    """One version of a deployed definition, with how many of its instances are still open."""

    name: str
    version: int
    deployed_at: datetime
    deployed_by: str
    process_ids: list[str]
    running: int
    definition_id: int
    note: str


def deployed_versions(session: Session) -> list[DeployedVersion]:
    """Every deployed version, by name then newest first, with its count of unfinished instances."""
    running = (
        select(ProcessInstance.definition_id, func.count().label("n"))
        .where(ProcessInstance.status.not_in(InstanceStatus.FINISHED))
        .group_by(ProcessInstance.definition_id)
        .subquery()
    )
    rows = session.execute(
        select(
            ProcessDefinition.name,
            ProcessDefinition.version,
            ProcessDefinition.deployed_at,
            ProcessDefinition.deployed_by,
            ProcessDefinition.process_ids,
            func.coalesce(running.c.n, 0),
            ProcessDefinition.id,
            ProcessDefinition.note,
        )
        .outerjoin(running, running.c.definition_id == ProcessDefinition.id)
        .order_by(ProcessDefinition.name, ProcessDefinition.version.desc())
    )
    return [DeployedVersion(*row) for row in rows]
