"""`/healthz`: whether the app is up and its database answers, for load balancers and monitoring."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from webui import riskflow

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database answers `SELECT 1`; 503 when it does not."""
    try:
        with riskflow().db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as err:
        log.warning("health check: the database did not answer: %s", err.__class__.__name__)
        response, status = jsonify(status="unavailable", database="unavailable"), 503
    else:
        response, status = jsonify(status="ok", database="ok"), 200
    response.headers["Cache-Control"] = "no-store"
    return response, status
