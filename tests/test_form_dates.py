"""A date on a form is a real calendar date, however the data arrives.

The web form builds dates from day, month and year boxes, but an API client sends the string
itself. The engine checks every submission against the task's JSON Schema, `format` included, so a
string that is not a date (or a month 13, a day 45) is refused with a message naming the field, and
the task stays open with nothing changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_client import FIRST_DETAILS, api_app, call, token
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.clock import ManualClock
from engine.db import Database
from engine.errors import InvalidData
from engine.forms import validate_form_data
from engine.models import AuditEvent, HumanTask, ProcessInstance
from webui import riskflow

FORMS = Path(__file__).resolve().parent.parent / "processes" / "offender-management" / "forms"
NOT_DATES = ["not-a-date", "2026-13-45", "2026-02-30", "02/11/2026"]
CRN = "X300001"


def date_fields() -> list[tuple[str, str]]:
    """Every (form file, field) of the offender management model whose field is a date."""
    found = []
    for path in sorted(FORMS.glob("*.json")):
        for name, field in json.loads(path.read_text())["properties"].items():
            if field.get("format") == "date":
                found.append((path.name, name))
    return found


def field_errors(schema: dict[str, object], data: dict[str, object]) -> dict[str, str]:
    try:
        validate_form_data(schema, data)
    except InvalidData as refused:
        return {e.field: e.message for e in refused.errors}
    return {}


# ------------------------------------------------------------------------------- the engine's check


def test_the_model_has_date_fields_to_check() -> None:
    assert ("first-details.json", "hearing_date") in date_fields()


@pytest.mark.parametrize(("form", "field"), date_fields())
@pytest.mark.parametrize("not_a_date", NOT_DATES)
def test_every_date_field_of_the_model_refuses_a_string_that_is_not_a_date(
    form: str, field: str, not_a_date: str
) -> None:
    schema = json.loads((FORMS / form).read_text())
    title = schema["properties"][field]["title"]
    assert field_errors(schema, {field: not_a_date})[field] == f"{title} must be a valid date"
    assert field not in field_errors(schema, {field: "2026-11-02"})  # a real date is accepted


# -------------------------------------------------------------------------------- through the API


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = api_app(database, clock)
    yield app
    riskflow(app).db.dispose()


def claimed_first_details(app: Flask, client: FlaskClient) -> tuple[str, int]:
    """A case identified at court; the case administrator's token and their claimed first-details task."""
    court = token(app, "court.results", ["cases:write"])
    created = call(client, "POST", "/cases", court, {"crn": CRN, "first_details": FIRST_DETAILS})
    assert created.status_code == 201, created.json
    admin = token(app, "admin", ["tasks:read", "tasks:write"], person="admin.north")
    [task] = call(client, "GET", "/tasks", admin).json["to_claim"]
    assert call(client, "POST", f"/tasks/{task['id']}/claim", admin).status_code == 200
    return admin, int(task["id"])


def instance_version_and_completions(app: Flask, task_id: int) -> tuple[int, int]:
    with riskflow(app).db.transaction(write=False) as session:
        task = session.get_one(HumanTask, task_id)
        version = session.get_one(ProcessInstance, task.instance_id).version
        completed = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "task_completed")
        )
    return version, int(completed or 0)


@pytest.mark.parametrize("not_a_date", ["not-a-date", "2026-13-45"])
def test_a_task_completed_through_the_api_with_a_date_that_is_not_a_date_is_refused_and_stays_open(
    app: Flask, not_a_date: str
) -> None:
    client = app.test_client()
    admin, task_id = claimed_first_details(app, client)
    before = instance_version_and_completions(app, task_id)

    response = call(
        client,
        "POST",
        f"/tasks/{task_id}/complete",
        admin,
        {"data": {**FIRST_DETAILS, "hearing_date": not_a_date}},
    )

    assert response.status_code == 422
    assert response.json["error"] == "invalid_data"
    assert [(f["field"], f["message"]) for f in response.json["fields"]] == [
        ("hearing_date", "Date of the hearing must be a valid date")
    ]
    assert call(client, "GET", f"/tasks/{task_id}", admin).json["state"] == "open"
    assert instance_version_and_completions(app, task_id) == before  # nothing changed
    done = call(client, "POST", f"/tasks/{task_id}/complete", admin, {"data": FIRST_DETAILS})
    assert done.status_code == 200, done.json  # the same task, with a real date, goes through
