"""Events from outside the process that a running case must hear about, sent as messages by CRN.

The web pages, the CLI and feeds call these; each delivers a message to the case's process (or keeps
it until the case waits for it). Which registrations and which RoSH changes bring the next oversight
review forward is decided here (policy 12); how soon it falls due is the decision table
`oversight_bring_forward` in the model. A case not yet under oversight is not told: the oversight
plan it is about to get is worked out from the register as it then stands.
"""

from __future__ import annotations

from sqlalchemy import select

from casework import register
from casework.models import Case
from engine.messaging import Delivery
from engine.runtime import ProcessEngine

OVERSIGHT_EVENT = "oversight_event"
TRANSFER_REQUESTED = "transfer_requested"
MAPPA_REFERRAL = "mappa_referral"
# New registrations that bring the next oversight review forward: child protection, risk to
# children, domestic abuse perpetrator, MARAC.
OVERSIGHT_REGISTERS = frozenset({"RCPR", "RCHD", "ADVP", "IMAR"})
ROSH_ORDER = ("LOW", "MEDIUM", "HIGH", "VERY_HIGH")


def registration_added(engine: ProcessEngine, crn: str, code: str, *, sender: str) -> Delivery | None:
    """Tell the case a registration was added; None when this kind does not bring oversight forward."""
    if code not in OVERSIGHT_REGISTERS or not under_oversight(engine, crn):
        return None
    payload = {"crn": crn, "kind": "NEW_REGISTRATION", "detail": code}
    return engine.deliver_message(OVERSIGHT_EVENT, crn, payload, sender=sender)


def rosh_changed(engine: ProcessEngine, crn: str, before: str, after: str, *, sender: str) -> Delivery | None:
    """Tell the case its RoSH level changed; None unless it went up."""
    if ROSH_ORDER.index(after) <= ROSH_ORDER.index(before) or not under_oversight(engine, crn):
        return None
    payload = {"crn": crn, "kind": "ROSH_UP", "detail": f"{before} to {after}"}
    return engine.deliver_message(OVERSIGHT_EVENT, crn, payload, sender=sender)


def request_transfer(
    engine: ProcessEngine, crn: str, *, owner: str, reason: str, requested_by: str
) -> Delivery:
    """Ask for the case to move to `owner`; the receiving team's SPO accepts or declines.

    An owner the register would refuse now (unknown, not case-holding, or not fit for the risk) is
    refused here, with the reason, and nothing is sent (ValueError, or the register's own error).
    """
    if not reason.strip():
        raise ValueError("A transfer request needs a reason.")
    with engine.db.transaction(write=False) as session:
        case = register.find_case(session, crn)
        staff = register.find_staff(session, owner)
        problem = register.owner_problem(staff, case)
        if case.owner is not None and case.owner.username == owner:
            problem = f"{staff.display_name} already owns {crn}."
    if problem:
        raise ValueError(problem)
    payload = {"crn": crn, "owner": owner, "reason": reason, "requested_by": requested_by}
    return engine.deliver_message(TRANSFER_REQUESTED, crn, payload, sender=requested_by)


def refer_to_mappa(engine: ProcessEngine, crn: str, *, reason: str, referred_by: str) -> Delivery:
    """Refer the case to MAPPA during the order; the MAPPA coordinator sets the level."""
    if not reason.strip():
        raise ValueError("A MAPPA referral needs a reason.")
    payload = {"crn": crn, "reason": reason, "referred_by": referred_by}
    return engine.deliver_message(MAPPA_REFERRAL, crn, payload, sender=referred_by)


def under_oversight(engine: ProcessEngine, crn: str) -> bool:
    """Whether the case has a management oversight plan in force."""
    with engine.db.transaction(write=False) as session:
        case = session.scalar(select(Case).where(Case.crn == crn))
        return case is not None and register.current_oversight_plan(session, case) is not None
