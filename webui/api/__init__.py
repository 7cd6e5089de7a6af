"""The JSON API for the systems around riskflow (courts, OASys, case management), under /api/v1.

Callers authenticate with a bearer token (webui.api.tokens), never a session cookie, so the API is
exempt from CSRF. Every operation is declared with webui.api.spec.operation, which checks the token's
scope, parses the request with pydantic and serves the OpenAPI document at /openapi.json. Every
call is written to the audit trail with the token's name; every error is JSON (webui.api.problems).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Request, Response, g, jsonify, request
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.exc import SQLAlchemyError

from engine.models import AuditEvent

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger("riskflow.api")
API_PATH_PREFIX = "/api/"
NO_TOKEN = "(no token)"  # noqa: S105 - the audit name of a call without one


def init_app(app: Flask) -> None:
    """Register the API and /openapi.json on `app`."""
    from webui import csrf
    from webui.api import cases, changes, instances, messages, tasks  # noqa: F401 - their operations join bp

    csrf.exempt(bp)
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = NoSessionsForTheApi()
    if "api" not in app.blueprints:
        app.register_blueprint(bp)
    app.add_url_rule("/openapi.json", endpoint="openapi", view_func=openapi_json)


class NoSessionsForTheApi(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except under /api/: there no session is read or written, so a
    signed-in browser's cookie neither reaches the API nor is refreshed by it."""

    def open_session(self, app: Flask, request: Request) -> Any:
        if request.path.startswith(API_PATH_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)


def openapi_json() -> Response:
    """The OpenAPI document, generated from the operations the code declares."""
    from webui.api.spec import openapi_document

    return jsonify(openapi_document())


@bp.errorhandler(Exception)
def api_error(error: Exception) -> Response:
    """Every error an API view raises, as JSON with its stable code."""
    from webui.api.problems import problem_for, problem_response

    return problem_response(problem_for(error))


@bp.after_request
def log_call(response: Response) -> Response:
    """Write the call to the audit trail: which token, what it asked, what it got."""
    from webui import riskflow

    caller = g.get("api_caller")
    shared = riskflow()
    try:
        with shared.db.transaction() as session:
            session.add(
                AuditEvent(
                    at=shared.clock.now(),
                    actor=caller.who if caller is not None else NO_TOKEN,
                    event="api_call",
                    business_key=g.get("api_crn"),
                    detail={
                        "token": caller.token if caller is not None else None,
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                    },
                )
            )
    except SQLAlchemyError as err:  # the answer still goes out; the log says the record failed
        log.warning("could not record API call %s %s: %s", request.method, request.path, err)
    return response
