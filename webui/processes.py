"""The processes page: every deployed definition version and how many of its instances are open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, render_template
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import ProcessDefinition, ProcessInstance
from engine.runtime import InstanceStatus
from webui import riskflow

bp = Blueprint("processes", __name__)


@dataclass(frozen=True)
class DeployedVersion:
    """One version of a deployed definition, as the processes page shows it."""

    name: str
    version: int
    deployed_at: datetime
    deployed_by: str
    process_ids: list[str]
    running: int


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
        )
        .outerjoin(running, running.c.definition_id == ProcessDefinition.id)
        .order_by(ProcessDefinition.name, ProcessDefinition.version.desc())
    )
    return [DeployedVersion(*row) for row in rows]


@bp.get("/")
def index() -> str:
    """List the deployed process definitions."""
    with riskflow().db.transaction(write=False) as session:
        versions = deployed_versions(session)
    return render_template("processes/index.html", versions=versions)
