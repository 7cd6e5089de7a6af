"""The API against its own OpenAPI document: schemathesis generates valid and invalid requests for
every operation (in-process, through WSGI) and checks that none gives a 500, that every response
matches the documented status codes and schemas, and that a call without a token is refused.

The cases drawn are the same on every run (the Hypothesis profile in conftest.py); `make fuzz` draws
fresh random ones, many more of them, and says how many requests it sent."""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from api_client import ALL_SCOPES, FIRST_DETAILS, api_app, call, token
from flask import Flask
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.case import Case as ApiCase
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import positive_data_acceptance
from webui_client import fast_password_hashing

from engine.clock import ManualClock
from engine.db import Database
from webui import riskflow

__all__ = ["fast_password_hashing"]

# Per operation and mode: quick enough for every run; `make fuzz` raises it for a deeper search.
EXAMPLES = int(os.environ.get("RISKFLOW_API_EXAMPLES", "8"))


PROJECT_PACKAGES = ("engine", "casework", "tasks", "webui", "bench")


def import_the_whole_project() -> None:
    """Hypothesis mixes constants found in the project's imported modules into what it draws: import
    all of them first, so the cases are the same whether this file runs alone or in the whole suite."""
    for package in PROJECT_PACKAGES:
        path = importlib.import_module(package).__path__
        for module in pkgutil.walk_packages(path, f"{package}."):
            importlib.import_module(module.name)


import_the_whole_project()


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    """An app with a case under way (so ids and CRNs can hit real rows)."""
    app = api_app(database, clock)
    court = token(app, "court.results", ["cases:write"])
    body = {"crn": "X300001", "first_details": FIRST_DETAILS}
    assert call(app.test_client(), "POST", "/cases", court, body).status_code == 201
    yield app
    riskflow(app).db.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_to_its_openapi_document(app: Flask, mode: GenerationMode) -> None:
    secret = token(app, f"aco-{mode.value}", ALL_SCOPES, person="aco.one")
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    tried: Counter[str] = Counter()
    try:
        for operation in operations:
            keeps_to_the_document(operation, mode, secret, tried)
    finally:
        print(f"{mode.value}: {tried.total()} requests sent over {len(tried)} operations")


def keeps_to_the_document(
    operation: APIOperation, mode: GenerationMode, secret: str, tried: Counter[str]
) -> None:
    """Generated requests for one operation: no 500s, every answer as documented."""
    # What a task's data must be is its own form's schema, and whether someone may hold a case's
    # tasks depends on the case: valid-looking requests there are rightly refused with 422.
    semantic = operation.path.endswith(("/complete", "/reassign"))
    excluded = [positive_data_acceptance] if semantic else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def run(case: ApiCase) -> None:
        tried[operation.label] += 1
        headers = {"Authorization": f"Bearer {secret}"}
        if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
            # The invalid part is the token itself (missing or malformed): send it as drawn, or the API
            # would be judged on a request it never got.
            headers = {}
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    run()


def test_no_query_parameter_is_published_as_nullable(app: Flask) -> None:
    """A query string cannot carry null: an optional filter is sent with a value or left out, and the
    document must not offer null as a value (generated clients and tests would try to send it)."""
    document = app.test_client().get("/openapi.json").json
    parameters = [
        (f"{method.upper()} {path}", parameter)
        for path, item in document["paths"].items()
        for method, op in item.items()
        for parameter in op["parameters"]
        if parameter["in"] == "query"
    ]
    assert any(not parameter["required"] for _, parameter in parameters)  # the optional filters are there
    nullable = [
        f"{where} ?{parameter['name']}" for where, parameter in parameters if admits_null(parameter, document)
    ]
    assert nullable == []


def admits_null(parameter: dict[str, Any], document: dict[str, Any]) -> bool:
    """Whether the parameter's schema, with the components it refers to, accepts null."""
    schema = {**parameter["schema"], "components": document["components"]}
    return Draft202012Validator(schema).is_valid(None)
