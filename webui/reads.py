"""The web app's side of the access log: who is asking in this request, and the app's clock.

Every view that shows case data calls `log_read` once, in the transaction that read the data, with
the purpose and the cases shown; casework.access_log.record_reads writes the lines. The caller is
the API token's holder when the request came to the API (webui.api.spec sets it), else the person
signed in.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import g, request
from flask_login import current_user
from sqlalchemy.orm import Session

from casework.access_log import (
    AccessOutcome,
    CallerKind,
    CaseAccess,
    Justification,
    Purpose,
    Reader,
    record_reads,
)
from casework.models import Case
from webui import riskflow

# The basis of a line when the view does not say more: what it showed had passed need-to-know (a list
# or search shows only the cases the reader may see).
CHECKED = "shown after the need-to-know check"


def current_reader() -> Reader:
    """Who is asking: the API caller (a person's or a system's token), or the person signed in."""
    caller = g.get("api_caller")
    if caller is not None:
        return Reader(caller.who, CallerKind.API_TOKEN, caller.token)
    return Reader(current_user.username, CallerKind.PERSON)


def log_read(
    session: Session,
    purpose: Purpose,
    cases: Iterable[Case | str | None],
    *,
    basis: str = CHECKED,
    outcome: AccessOutcome = AccessOutcome.VIEWED,
    justification: Justification | None = None,
    justification_text: str | None = None,
    detail: str | None = None,
) -> list[CaseAccess]:
    """Write this request's read of `cases` (Cases or CRNs) to the access log, at the app's clock;
    the detail says what was asked for (the request's path and query, unless given). A page asked
    for as CSV (?format=csv, as every download in the app is) is logged as an export."""
    if request.args.get("format") == "csv":
        purpose = Purpose.EXPORT
    return record_reads(
        session,
        at=riskflow().clock.now(),
        reader=current_reader(),
        purpose=purpose,
        cases=cases,
        basis=basis,
        outcome=outcome,
        justification=justification,
        justification_text=justification_text,
        detail=detail or request.full_path.removesuffix("?"),
    )
