"""Events from outside the process that a running case must hear about, sent as messages by CRN.

The case record's "report a change" pages call these (webui/case_changes.py); each records the change
on the register and delivers a message to the case's process (or keeps it until the case waits for
it) in one transaction. Which registrations and which RoSH changes bring the next oversight
review forward is decided here (policy 12); how soon it falls due is the decision table
`oversight_bring_forward` in the model. A case not yet under oversight is not told: the oversight
plan it is about to get is worked out from the register as it then stands. Every reported
registration also tells the case's registration reviews (policy 15), when they are waiting, so that
one that falls due soon (a backdated start) is reviewed on time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework import register
from casework.models import Case, Registration
from casework.register_types import REGISTER_TYPES, chosen_by_hand
from casework.vocabulary import RoshLevel
from engine.clock import DISPLAY_ZONE
from engine.db import retried_when_deadlocked
from engine.messaging import Delivery
from engine.models import InboundMessage, MessageWait
from engine.runtime import ProcessEngine
from tasks.reallocation import REALLOCATION_NEEDED, owner_watched

OVERSIGHT_EVENT = "oversight_event"
TRANSFER_REQUESTED = "transfer_requested"
MAPPA_REFERRAL = "mappa_referral"
REGISTRATIONS_CHANGED = "registrations_changed"
# New registrations that bring the next oversight review forward: child protection, risk to
# children, domestic abuse perpetrator, MARAC.
OVERSIGHT_REGISTERS = frozenset({"RCPR", "RCHD", "ADVP", "IMAR"})


class NotNow(ValueError):
    """The case is not at a stage where this can be done (a transfer before allocation, say)."""


@dataclass(frozen=True)
class Reported:
    """A change recorded on the register, and the message that told the case's oversight (None: not
    told); for a registration, also the message that told its registration reviews."""

    record_id: int
    delivery: Delivery | None
    reviews_delivery: Delivery | None = None


@retried_when_deadlocked
def add_registration(
    engine: ProcessEngine,
    crn: str,
    code: str,
    *,
    by: str,
    started_on: date | None = None,
    notes: str = "",
) -> Reported:
    """Register a flag on the case and, when it is one that brings oversight forward and the case is
    under oversight, tell the case's process, in one transaction: both happen or neither does.

    The case's registration reviews are told too (`registrations_changed`), when they are waiting for
    it: they read the register again, so a registration that falls due soon is reviewed on its day.
    When they are not waiting (a case before supervision, or a review open) nothing is sent or kept:
    they read the register afresh when they next look.

    The register's refusal (an unknown code, one that follows the RoSH or MAPPA level, a registration
    the case already has, a closed case) is raised as casework.register.RegisterError and changes
    nothing.
    """
    if code in REGISTER_TYPES and not chosen_by_hand(code):
        raise register.RegistrationRefused(
            f"{REGISTER_TYPES[code].name} ({code}) is not added by hand: it follows the case's RoSH or "
            "MAPPA level.",
            hint="Record the new level instead.",
        )
    today = engine.clock.now().astimezone(DISPLAY_ZONE).date()
    if started_on is not None and started_on > today:
        raise register.RegistrationRefused(
            f"A registration cannot start in the future ({started_on:%d %B %Y}).",
            hint="Give today or a past date.",
        )
    with engine.db.transaction() as session:
        registration = register.add_registration(
            session, crn, code, at=engine.clock.now(), by=by, started_on=started_on, notes=notes
        )
        delivery = None
        if code in OVERSIGHT_REGISTERS and under_oversight(session, crn):
            payload = {"crn": crn, "kind": "NEW_REGISTRATION", "detail": code}
            delivery = engine.deliver_message_within(session, OVERSIGHT_EVENT, crn, payload, sender=by)
        reviews_delivery = _tell_registration_reviews(engine, session, crn, code, by=by)
        return Reported(registration.id, delivery, reviews_delivery)


def _tell_registration_reviews(
    engine: ProcessEngine, session: Session, crn: str, code: str, *, by: str
) -> Delivery | None:
    """Send `registrations_changed` to the case's registration reviews if they wait for it now.

    The message is never kept for later: the wait is looked up first, and should the cycle have moved
    on before the case was locked (another worker's step), the message it was not given is dropped.
    """
    if not waits_for(session, REGISTRATIONS_CHANGED, crn):
        return None
    payload = {"crn": crn, "code": code}
    delivery = engine.deliver_message_within(session, REGISTRATIONS_CHANGED, crn, payload, sender=by)
    if delivery.status == "stored" and not waits_for(session, REGISTRATIONS_CHANGED, crn):
        kept = session.get(InboundMessage, delivery.message_id)
        if kept is not None:
            session.delete(kept)
        return None
    return delivery


@retried_when_deadlocked
def end_registration(
    engine: ProcessEngine, crn: str, registration_id: int, *, by: str, notes: str
) -> Reported:
    """Deregister one of the case's registrations, with the note that says why (the process is not
    told: an ended registration is simply not reviewed again)."""
    with engine.db.transaction() as session:
        case = register.find_case(session, crn)
        registration = session.get(Registration, registration_id)
        if registration is None or registration.case_id != case.id:
            raise register.RegistrationRefused(
                f"{crn} has no registration {registration_id}.", hint="Read the case for its registrations."
            )
        if not chosen_by_hand(registration.code):
            raise register.RegistrationRefused(
                f"The {registration.code} registration follows the case's RoSH or MAPPA level.",
                hint="Record the new level instead.",
            )
        register.deregister(session, registration_id, at=engine.clock.now(), by=by, notes=notes)
        return Reported(registration_id, None)


@retried_when_deadlocked
def change_rosh(engine: ProcessEngine, crn: str, level: RoshLevel, *, by: str, source: str) -> Reported:
    """Record the case's new RoSH level and, when it went up and the case is under oversight, tell the
    case's process, in one transaction (a fall in RoSH waits for the next review). A level the owner's
    grade may not hold asks the SPO to reallocate the case (tasks.reallocation), in the same
    transaction."""
    with engine.db.transaction() as session:
        before = register.find_case(session, crn).rosh

        def tell(payload: Mapping[str, Any]) -> Delivery:
            return engine.deliver_message_within(session, REALLOCATION_NEEDED, crn, payload, sender=by)

        with owner_watched(session, crn, tell, change=f"RoSH {level.value} reported ({source})"):
            case = register.record_rosh(session, crn, level, at=engine.clock.now(), by=by, source=source)
        delivery = None
        if before is not None and level.rank > before.rank and under_oversight(session, crn):
            payload = {"crn": crn, "kind": "ROSH_UP", "detail": f"{before.value} to {level.value}"}
            delivery = engine.deliver_message_within(session, OVERSIGHT_EVENT, crn, payload, sender=by)
        return Reported(case.id, delivery)


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
        if not problem and not waits_for(session, TRANSFER_REQUESTED, crn):
            raise NotNow(
                f"{crn} cannot be transferred yet: a case moves once it is allocated and under management."
            )
    if problem:
        raise ValueError(problem)
    payload = {"crn": crn, "owner": owner, "reason": reason, "requested_by": requested_by}
    return engine.deliver_message(TRANSFER_REQUESTED, crn, payload, sender=requested_by)


def refer_to_mappa(engine: ProcessEngine, crn: str, *, reason: str, referred_by: str) -> Delivery:
    """Refer the case to MAPPA during the order; the MAPPA coordinator sets the level."""
    if not reason.strip():
        raise ValueError("A MAPPA referral needs a reason.")
    with engine.db.transaction(write=False) as session:
        register.find_case(session, crn)
        if not waits_for(session, MAPPA_REFERRAL, crn):
            raise NotNow(
                f"{crn} cannot be referred from here yet: before allocation the risk meeting decides MAPPA "
                "referral."
            )
    payload = {"crn": crn, "reason": reason, "referred_by": referred_by}
    return engine.deliver_message(MAPPA_REFERRAL, crn, payload, sender=referred_by)


def waits_for(session: Session, message: str, crn: str) -> bool:
    """Whether the case's process is waiting now for `message` (it acts on it at once)."""
    wait = session.scalar(
        select(MessageWait.id)
        .where(MessageWait.message_name == message, MessageWait.correlation_value == crn)
        .limit(1)
    )
    return wait is not None


def under_oversight(session: Session, crn: str) -> bool:
    """Whether the case has a management oversight plan in force."""
    case = session.scalar(select(Case).where(Case.crn == crn))
    return case is not None and register.current_oversight_plan(session, case) is not None
