"""The API's errors: one JSON shape, and the one place that maps each error to its HTTP status.

Every error is `{"error": code, "message": text, "fields": [{"field", "message"}]}` with a stable
code. Engine and register errors keep their own codes; the status says what kind of refusal it is
(401, 403, 404, 409, 422). Anything unexpected is a 500 with no detail: the traceback goes to the
log, never to the caller.
"""

from __future__ import annotations

import logging
import re

from flask import Response
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from casework.register import CaseNotFound, DuplicateCase, RegisterError, StaffNotFound
from engine.errors import Conflict, EngineError, InvalidData, NotFound, NotPermitted

log = logging.getLogger("riskflow.api")


class FieldProblem(BaseModel):
    """One field that is wrong, and what is wrong with it."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """Every error the API gives."""

    error: str
    message: str
    fields: list[FieldProblem] = []


class ApiProblem(Exception):
    """An error the API raises itself (no token, missing scope, a body that is not JSON)."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[FieldProblem] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []


def problem_for(error: Exception) -> ApiProblem:  # noqa: PLR0911 - one branch per kind of error
    """The API error for any exception a view can raise."""
    if isinstance(error, ApiProblem):
        return error
    if isinstance(error, ValidationError):
        return ApiProblem(422, "invalid_request", "The request is not valid.", _pydantic_fields(error))
    if isinstance(error, InvalidData):
        fields = [FieldProblem(field=e.field, message=e.message) for e in error.errors]
        return ApiProblem(422, error.code, error.message, fields)
    if isinstance(error, EngineError):
        return ApiProblem(_engine_status(error), error.code, error.message)
    if isinstance(error, RegisterError):
        return ApiProblem(_register_status(error), _register_code(error), str(error))
    if isinstance(error, HTTPException):
        code = (error.name or "error").lower().replace(" ", "_")
        return ApiProblem(error.code or 500, code, error.description or error.name)
    log.error("API call failed", exc_info=error)
    return ApiProblem(500, "internal_error", "Something went wrong on our side. Try again later.")


def problem_response(problem: ApiProblem) -> Response:
    """The JSON response for `problem`."""
    body = ErrorBody(error=problem.code, message=problem.message, fields=problem.fields)
    response = Response(body.model_dump_json(), status=problem.status, mimetype="application/json")
    if problem.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="riskflow"'
    return response


def _engine_status(error: EngineError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, NotPermitted):
        return 403
    if isinstance(error, Conflict):
        return 409
    return 422  # invalid data, a missing reason, a bad message: the request must change


def _register_status(error: RegisterError) -> int:
    if isinstance(error, CaseNotFound | StaffNotFound):
        return 404
    if isinstance(error, DuplicateCase):
        return 409
    return 422


def _register_code(error: RegisterError) -> str:
    name = type(error).__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() if name != "RegisterError" else "refused"


def _pydantic_fields(error: ValidationError) -> list[FieldProblem]:
    fields: list[FieldProblem] = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        fields.append(FieldProblem(field=where or "(body)", message=item["msg"]))
    return fields
