"""`riskflow token issue | list | revoke`, run as an operator would: the secret is shown once and
works at once; the list never shows secrets; a revoked token is refused at its next call."""

from __future__ import annotations

import re

from click.testing import CliRunner
from sqlalchemy import select
from test_cli import assert_clear_error, run
from webui_client import fast_password_hashing

from engine.db import Database
from engine.models import AuditEvent
from webui import create_app

pytest_plugins = ["test_cli"]
__all__ = ["fast_password_hashing"]


def secret_in(output: str) -> str:
    found = re.search(r"secret \(shown once, keep it safe\): (rf_\S+)", output)
    assert found, output
    return found.group(1)


def cases_with(database_url: str, secret: str) -> int:
    app = create_app({"TESTING": True, "RISKFLOW_DATABASE_URL": database_url})
    response = app.test_client().get("/api/v1/cases", headers={"Authorization": f"Bearer {secret}"})
    riskflow_db = app.extensions["riskflow"].db
    riskflow_db.dispose()
    return response.status_code


def test_a_system_token_is_issued_used_listed_and_revoked(riskflow: CliRunner, upgraded: str) -> None:
    issued = run(riskflow, "token", "issue", "court.results", "--scope", "cases:read", "--by", "desk")
    assert issued.exit_code == 0, issued.output
    assert "issued token court.results for system court.results with scopes cases:read" in issued.output
    secret = secret_in(issued.output)
    assert cases_with(upgraded, secret) == 200

    assert "it works until" in issued.output  # a year unless --valid-for says otherwise
    listed = run(riskflow, "token", "list")
    assert "court.results" in listed.output
    assert "active until" in listed.output
    assert secret not in listed.output

    revoked = run(riskflow, "token", "revoke", "court.results", "--by", "desk")
    assert revoked.exit_code == 0, revoked.output
    assert cases_with(upgraded, secret) == 401
    assert "revoked" in run(riskflow, "token", "list").output

    database = Database(upgraded)
    with database.transaction(write=False) as session:
        events = [(e.event, e.actor) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    database.dispose()
    assert events == [
        ("api_token_issued", "desk"),
        ("api_call", "api:court.results"),
        ("api_token_revoked", "desk"),
        ("api_call", "(no token)"),  # refused: the revoked token no longer names anyone
    ]


def test_a_person_token_acts_as_that_member_of_staff(riskflow: CliRunner, upgraded: str) -> None:
    issued = run(riskflow, "token", "issue", "aco-laptop", "--person", "aco.one", "--scope", "cases:read")
    assert issued.exit_code == 0, issued.output
    assert "for person aco.one" in issued.output
    assert cases_with(upgraded, secret_in(issued.output)) == 200


def test_mistakes_get_one_clear_line(riskflow: CliRunner, upgraded: str) -> None:
    assert_clear_error(
        run(riskflow, "token", "issue", "court.results", "--scope", "cases:everything"),
        "Unknown scope(s): cases:everything",
    )
    assert_clear_error(
        run(riskflow, "token", "issue", "Court Results", "--scope", "cases:read"), "is not a token name"
    )
    assert_clear_error(
        run(riskflow, "token", "issue", "x1", "--person", "nobody", "--scope", "cases:read"),
        "no active member of staff",
    )
    run(riskflow, "token", "issue", "court.results", "--scope", "cases:read")
    assert_clear_error(
        run(riskflow, "token", "issue", "court.results", "--scope", "cases:read"), "already a token"
    )
    assert_clear_error(run(riskflow, "token", "revoke", "nothing"), "no token called 'nothing'")
    assert_clear_error(
        run(riskflow, "token", "issue", "x2", "--scope", "cases:read", "--valid-for", "800d"),
        "at most 730 days",
    )
