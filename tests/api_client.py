"""Helpers for API tests: the app with the offender management model deployed on the small test area,
tokens for people and systems, and calls with a bearer token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from casework_area import small_area
from flask import Flask
from flask.testing import FlaskClient
from webui_client import web_app

from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from webui import riskflow
from webui.api.tokens import SCOPES, issue_token

BUNDLE_DIR = Path(__file__).resolve().parent.parent / "processes" / "offender-management"
ALL_SCOPES = list(SCOPES)
FIRST_DETAILS = {
    "forename": "Rowan",
    "surname": "Testbrook",
    "date_of_birth": "1991-05-14",
    "court_name": "Carlisle Crown Court",
    "hearing_date": "2026-11-02",
    "offence": "Assault occasioning actual bodily harm",
    "report_type": "STANDARD",
    "remanded_in_custody": False,
}


def api_app(database: Database, clock: ManualClock, **config: Any) -> Flask:
    """The app on the small test area with the offender management model deployed."""
    with database.transaction() as session:
        small_area(session)
    app = web_app(database, clock, **config)
    riskflow(app).engine.deploy(Bundle.from_directory(BUNDLE_DIR), actor="process.owner")
    return app


def token(app: Flask, name: str, scopes: list[str], *, person: str | None = None) -> str:
    """Issue a token and return its secret."""
    shared = riskflow(app)
    with shared.db.transaction() as session:
        issued = issue_token(session, name, scopes, username=person, at=shared.clock.now(), by="test")
    return issued.secret


def call(client: FlaskClient, method: str, path: str, secret: str | None, body: Any = None) -> Any:
    """Call the API with a bearer token (or none); return the response."""
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return client.open(f"/api/v1{path}", method=method, headers=headers, json=body)
