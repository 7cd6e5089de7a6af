"""Reporting a change to a case over the API: the changes the case record's "Report a change" makes
(tasks.events), for OASys, the case management system and staff tools.

Each records the change on the register and, where the case's process must hear of it, tells the
process in the same transaction: a new child protection or domestic abuse registration, or a rise in
RoSH, brings the next oversight review forward; a transfer goes to the receiving SPO; a MAPPA
referral to the MAPPA coordinator. A person may report a change to the cases they manage (the same
rule as the web pages); a system to any case it may see.
"""

from __future__ import annotations

from flask import g

from casework import register
from casework.register_types import REGISTER_TYPES
from engine.messaging import Delivery
from tasks import events
from webui import riskflow
from webui.api import bp
from webui.api.access import case_not_found, require_change
from webui.api.callers import Caller
from webui.api.problems import ApiProblem
from webui.api.schemas import ChangeOut, MappaReferralIn, RegistrationEnd, RegistrationIn, RoshIn, TransferIn
from webui.api.spec import operation
from webui.inbound import describe

CHANGE_ERRORS = (403, 404, 409, 422)


def _allowed(caller: Caller, crn: str) -> None:
    g.api_crn = crn
    with riskflow().db.transaction(write=False) as session:
        try:
            case = register.find_case(session, crn)
        except register.CaseNotFound:
            raise case_not_found(crn) from None
        require_change(session, caller, case)


def _out(crn: str, change: str, record_id: int | None, delivery: Delivery | None, words: str) -> ChangeOut:
    return ChangeOut(
        crn=crn,
        change=change,  # type: ignore[arg-type]  # one of the five, named by each operation
        record_id=record_id,
        message_status=delivery.status if delivery else None,  # type: ignore[arg-type]
        description=f"{words} {describe(delivery)}." if delivery else words,
    )


def _refused(err: ValueError) -> ApiProblem:
    if isinstance(err, events.NotNow):
        return ApiProblem(409, "wrong_stage", str(err))
    return ApiProblem(422, "refused", str(err))


@operation(
    bp,
    "POST",
    "/cases/<crn>/registrations",
    scope="cases:write",
    tag="cases",
    body=RegistrationIn,
    response=ChangeOut,
    status=201,
    errors=CHANGE_ERRORS,
)
def add_registration(caller: Caller, crn: str, body: RegistrationIn) -> tuple[ChangeOut, int]:
    """Add a registration (flag) to a case.

    A new child protection, risk to children, domestic abuse or MARAC registration brings the next
    oversight review forward. The RoSH and MAPPA registers follow those levels and are refused here.
    """
    _allowed(caller, crn)
    reported = events.add_registration(
        riskflow().engine, crn, body.code, by=caller.who, started_on=body.started_on, notes=body.notes
    )
    kind = REGISTER_TYPES[body.code]
    words = f"{kind.name} ({body.code}) registered."
    return _out(crn, "registration_added", reported.record_id, reported.delivery, words), 201


@operation(
    bp,
    "POST",
    "/cases/<crn>/registrations/<int:registration_id>/end",
    scope="cases:write",
    tag="cases",
    body=RegistrationEnd,
    response=ChangeOut,
    errors=CHANGE_ERRORS,
)
def end_registration(caller: Caller, crn: str, registration_id: int, body: RegistrationEnd) -> ChangeOut:
    """End (deregister) one of the case's registrations; it stays on the case with when, who and why."""
    _allowed(caller, crn)
    events.end_registration(riskflow().engine, crn, registration_id, by=caller.who, notes=body.notes)
    return _out(crn, "registration_ended", registration_id, None, "Deregistered.")


@operation(
    bp,
    "POST",
    "/cases/<crn>/rosh",
    scope="cases:write",
    tag="cases",
    body=RoshIn,
    response=ChangeOut,
    errors=CHANGE_ERRORS,
)
def record_rosh(caller: Caller, crn: str, body: RoshIn) -> ChangeOut:
    """Record the case's overall RoSH level from its latest assessment (OASys).

    A rise brings the next oversight review forward; a fall is looked at in the next review.
    """
    _allowed(caller, crn)
    reported = events.change_rosh(riskflow().engine, crn, body.level, by=caller.who, source=body.source)
    words = f"RoSH recorded as {body.level.display_name}."
    return _out(crn, "rosh_recorded", None, reported.delivery, words)


@operation(
    bp,
    "POST",
    "/cases/<crn>/transfer-requests",
    scope="cases:write",
    tag="cases",
    body=TransferIn,
    response=ChangeOut,
    status=202,
    errors=CHANGE_ERRORS,
)
def request_transfer(caller: Caller, crn: str, body: TransferIn) -> tuple[ChangeOut, int]:
    """Ask for the case to move to another Offender Manager; the receiving team's SPO decides.

    409 before the case is allocated and under management; 422 when the register would refuse the
    new owner (not a case holder, or not fit for the case's risk).
    """
    _allowed(caller, crn)
    try:
        delivery = events.request_transfer(
            riskflow().engine, crn, owner=body.owner, reason=body.reason, requested_by=caller.who
        )
    except ValueError as err:
        raise _refused(err) from None
    words = "Transfer asked for: the receiving team's SPO accepts or declines it."
    return _out(crn, "transfer_requested", None, delivery, words), 202


@operation(
    bp,
    "POST",
    "/cases/<crn>/mappa-referrals",
    scope="cases:write",
    tag="cases",
    body=MappaReferralIn,
    response=ChangeOut,
    status=202,
    errors=CHANGE_ERRORS,
)
def refer_to_mappa(caller: Caller, crn: str, body: MappaReferralIn) -> tuple[ChangeOut, int]:
    """Refer the case to MAPPA during the order; the MAPPA coordinator sets the category and level."""
    _allowed(caller, crn)
    try:
        delivery = events.refer_to_mappa(riskflow().engine, crn, reason=body.reason, referred_by=caller.who)
    except ValueError as err:
        raise _refused(err) from None
    words = "Referred to MAPPA: the MAPPA coordinator sets the level."
    return _out(crn, "mappa_referral", None, delivery, words), 202
