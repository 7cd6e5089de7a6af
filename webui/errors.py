"""Error pages: say what happened and what to try, never show a traceback."""

from __future__ import annotations

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

ADVICE = {
    400: "Go back, reload the page and try again. If you were signed out, sign in again first.",
    404: "Check the address, or go back to your inbox.",
    405: "This page cannot be used that way. Go back and try again.",
    500: "Something went wrong on our side. Try again; if it keeps happening, tell the service desk.",
}


def init_app(app: Flask) -> None:
    """Render every HTTP error as a plain page.

    An exception no view handled becomes a 500 that reaches the same handler, after Flask has
    logged it with its traceback: the log keeps the detail, the page does not.
    """
    app.register_error_handler(HTTPException, http_error)


def http_error(error: HTTPException) -> tuple[str, int] | Response:
    """A page for a 4xx or 5xx: its status, a short explanation and what to do (JSON under /api/)."""
    if request.path.startswith("/api/"):
        from webui.api.problems import problem_for, problem_response

        return problem_response(problem_for(error))
    code = error.code or 500
    return (
        render_template(
            "error.html",
            code=code,
            title=error.name,
            description=error.description,
            advice=ADVICE.get(code, ""),
        ),
        code,
    )
