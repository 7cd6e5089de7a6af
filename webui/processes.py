"""The processes page: every deployed definition version and how many of its instances are open."""

from __future__ import annotations

from flask import Blueprint, render_template

from engine.catalogue import deployed_versions
from webui import riskflow

bp = Blueprint("processes", __name__)


@bp.get("/processes")
def index() -> str:
    """List the deployed process definitions."""
    with riskflow().db.transaction(write=False) as session:
        versions = deployed_versions(session)
    return render_template("processes/index.html", versions=versions)
