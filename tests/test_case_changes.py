"""Reporting a change from the case record: the register and the case's process hear of it together.

A new child protection registration or a rise in RoSH brings the next oversight review forward; a
transfer goes to the receiving SPO; a MAPPA referral to the coordinator; a registration can be
ended with a note. A form with a mistake changes nothing and keeps what was typed. Only the owner,
their SPO and line manager, and the ACOs may report a change; anyone else who may read the case is
told so, and anyone who may not gets the same "not found" as for any case they cannot see."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from casework_area import om_username, small_area
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from test_process_model import BUNDLE_DIR, Case, to_allocation, under_oversight
from webui_client import fast_password_hashing, give_passwords, sign_in, text_of, web_app

from casework import register
from casework.access_log import CaseAccess
from casework.models import Registration
from casework.vocabulary import RoshLevel
from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.models import InboundMessage
from webui import riskflow

__all__ = ["fast_password_hashing"]  # autouse: cheap password hashing in these tests

CRN = "X100001"
OM = om_username("north", "PO", "E")
OM_SOUTH = om_username("south", "PO", "E")
PSO_SOUTH = om_username("south", "PSO", "E")
STAFF = [OM, OM_SOUTH, "spo.north", "spo.south", "admin.north", "aco.one"]


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    with database.transaction() as session:
        small_area(session)
    give_passwords(database, STAFF)
    app = web_app(database, clock)
    riskflow(app).engine.deploy(Bundle.from_directory(BUNDLE_DIR), actor="process.owner")
    yield app
    riskflow(app).db.dispose()


@pytest.fixture
def case(app: Flask) -> Case:
    """A medium-RoSH case of the North team's experienced PO, under its oversight plan."""
    driven = Case(riskflow(app).engine, CRN)
    under_oversight(driven, "MEDIUM", "E")
    return driven


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def oversight_messages(app: Flask) -> int:
    with riskflow(app).db.transaction(write=False) as session:
        query = select(func.count()).where(InboundMessage.message_name == "oversight_event")
        return session.scalar(query.select_from(InboundMessage)) or 0


def active_codes(app: Flask) -> set[str]:
    with riskflow(app).db.transaction(write=False) as session:
        case = register.find_case(session, CRN)
        return {r.code for r in case.registrations if r.deregistered_at is None}


def test_the_owner_adds_a_child_protection_registration_and_the_review_comes_forward(
    app: Flask, case: Case
) -> None:
    client = signed_in(app, OM)
    record = text_of(client.get(f"/cases/{CRN}").get_data(as_text=True))
    assert "Report a change" in record and "Add a registration" in record
    form = client.get(f"/cases/{CRN}/changes/registration").get_data(as_text=True)
    # The RoSH registers follow the RoSH level, so they are not offered by hand.
    assert 'value="RCPR"' in form and 'value="RHRH"' not in form and 'value="MAPP"' not in form

    answer = client.post(
        f"/cases/{CRN}/changes/registration",
        data={"code": "RCPR", "notes": "Case conference held by the local authority."},
        follow_redirects=True,
    )

    page = text_of(answer.get_data(as_text=True))
    assert answer.status_code == 200
    assert "Child Protection (RCPR) registered. The next oversight review has been brought forward." in page
    assert "RCPR" in active_codes(app)
    review = case.task("oversight_review")
    assert review.assignee == "spo.north"
    assert (
        "Oversight review brought forward: new child protection or domestic abuse registration (RCPR)" in page
    )


def test_a_registration_form_with_mistakes_changes_nothing_and_keeps_what_was_typed(
    app: Flask, case: Case
) -> None:
    client = signed_in(app, OM)
    before = active_codes(app)

    answer = client.post(
        f"/cases/{CRN}/changes/registration",
        data={
            "code": "",
            "started-day": "31",
            "started-month": "2",
            "started-year": "2026",
            "notes": "Kept.",
        },
    )

    html = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert "There is a problem" in html and "Nothing has been changed yet." in html
    assert "Choose the type of registration" in html
    assert "The start date must be a real date" in html
    assert ">Kept.</textarea>" in html and 'value="31"' in html
    assert active_codes(app) == before and oversight_messages(app) == 0

    # A type the case already has is not offered again, and a form that asks for it is refused.
    client.post(f"/cases/{CRN}/changes/registration", data={"code": "WEAP"})
    assert 'value="WEAP"' not in client.get(f"/cases/{CRN}/changes/registration").get_data(as_text=True)
    again = client.post(f"/cases/{CRN}/changes/registration", data={"code": "WEAP"})
    assert again.status_code == 400
    assert "Choose the type of registration" in again.get_data(as_text=True)


def test_a_rise_in_rosh_is_recorded_and_brings_the_review_forward(app: Flask, case: Case) -> None:
    client = signed_in(app, "spo.north")

    missing = client.post(f"/cases/{CRN}/changes/rosh", data={"level": "HIGH", "source": ""})
    assert missing.status_code == 400
    assert "Say what the new level comes from" in missing.get_data(as_text=True)

    answer = client.post(
        f"/cases/{CRN}/changes/rosh",
        data={"level": "HIGH", "source": "OASys review after a new offence"},
        follow_redirects=True,
    )

    assert "RoSH recorded as High. The next oversight review has been brought forward." in text_of(
        answer.get_data(as_text=True)
    )
    with riskflow(app).db.transaction(write=False) as session:
        assert register.find_case(session, CRN).rosh == RoshLevel.HIGH
    assert case.task("oversight_review")


def test_a_transfer_asked_for_from_the_record_goes_to_the_receiving_spo(app: Flask, case: Case) -> None:
    client = signed_in(app, OM)
    form = client.get(f"/cases/{CRN}/changes/transfer").get_data(as_text=True)
    assert f'value="{OM_SOUTH}"' in form and f'value="{OM}"' not in form  # not to its own owner

    answer = client.post(
        f"/cases/{CRN}/changes/transfer",
        data={"owner": OM_SOUTH, "reason": "Moved to Kendal."},
        follow_redirects=True,
    )

    assert "Transfer asked for" in text_of(answer.get_data(as_text=True))
    accept = case.task("accept_transfer")
    assert accept.assignee == "spo.south"


def test_a_transfer_the_register_would_refuse_is_explained_and_nothing_is_sent(
    app: Flask, case: Case
) -> None:
    client = signed_in(app, OM)

    answer = client.post(f"/cases/{CRN}/changes/transfer", data={"owner": OM_SOUTH, "reason": ""})
    assert answer.status_code == 400
    assert "Give the reason" in answer.get_data(as_text=True)

    answer = client.post(f"/cases/{CRN}/changes/transfer", data={"owner": "nobody.at.all", "reason": "x"})
    assert answer.status_code == 400
    assert "Choose the Offender Manager the case should move to" in answer.get_data(as_text=True)
    assert "accept_transfer" not in case.open_elements()


def test_a_case_not_yet_allocated_cannot_be_transferred_or_referred_from_its_record(app: Flask) -> None:
    early = Case(riskflow(app).engine, CRN)
    to_allocation(early, "MEDIUM")
    client = signed_in(app, "spo.north")
    with riskflow(app).db.transaction(write=False) as session:
        before = session.scalar(select(func.count()).select_from(InboundMessage))

    transfer = client.post(f"/cases/{CRN}/changes/transfer", data={"owner": OM_SOUTH, "reason": "Moved."})
    referral = client.post(f"/cases/{CRN}/changes/mappa-referral", data={"reason": "Threats."})

    assert transfer.status_code == 400
    assert "cannot be transferred yet" in text_of(transfer.get_data(as_text=True))
    assert referral.status_code == 400
    assert "the risk meeting decides MAPPA referral" in text_of(referral.get_data(as_text=True))
    with riskflow(app).db.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == before


def test_a_mappa_referral_goes_to_the_coordinator(app: Flask, case: Case) -> None:
    client = signed_in(app, OM)

    answer = client.post(
        f"/cases/{CRN}/changes/mappa-referral",
        data={"reason": "Threats to a former partner."},
        follow_redirects=True,
    )

    assert "Referred to MAPPA" in text_of(answer.get_data(as_text=True))
    assert case.task("set_referred_mappa_level").candidate_role == "MAPPA_COORDINATOR"


def test_a_registration_is_ended_with_a_note_and_stays_on_the_record(app: Flask, case: Case) -> None:
    client = signed_in(app, OM)
    client.post(f"/cases/{CRN}/changes/registration", data={"code": "WEAP"})
    with riskflow(app).db.transaction(write=False) as session:
        weapons = session.scalar(select(Registration.id).where(Registration.code == "WEAP"))
    assert f"/cases/{CRN}/registrations/{weapons}/end" in client.get(f"/cases/{CRN}").get_data(as_text=True)

    empty = client.post(f"/cases/{CRN}/registrations/{weapons}/end", data={"notes": " "})
    assert empty.status_code == 400 and "Say why the registration no longer applies" in empty.get_data(
        as_text=True
    )
    assert "WEAP" in active_codes(app)

    ended = client.post(
        f"/cases/{CRN}/registrations/{weapons}/end",
        data={"notes": "Knife surrendered."},
        follow_redirects=True,
    )
    page = text_of(ended.get_data(as_text=True))
    assert "Weapons (WEAP) deregistered." in page
    assert "Deregistered: Weapons (WEAP): Knife surrendered." in page
    assert "WEAP" not in active_codes(app)
    # Ended once: a second end is not found.
    assert (
        client.post(f"/cases/{CRN}/registrations/{weapons}/end", data={"notes": "Again."}).status_code == 404
    )


def test_only_the_people_who_manage_the_case_report_changes_and_every_attempt_is_logged(
    app: Flask, case: Case
) -> None:
    # The team's case administrator may read the case, but is told they cannot change it.
    admin = signed_in(app, "admin.north")
    assert "Report a change" not in admin.get(f"/cases/{CRN}").get_data(as_text=True)
    refused = admin.post(f"/cases/{CRN}/changes/registration", data={"code": "RCPR"})
    assert refused.status_code == 403
    assert "You can read X100001 but not report changes to it" in text_of(refused.get_data(as_text=True))

    # An officer of another team may not see the case at all: the same page as an unknown CRN.
    other = signed_in(app, OM_SOUTH)
    hidden = other.get(f"/cases/{CRN}/changes/rosh")
    unknown = other.get("/cases/X999999/changes/rosh")
    assert hidden.status_code == unknown.status_code == 404
    assert "Ambrose" not in hidden.get_data(as_text=True)

    assert "RCPR" not in active_codes(app)
    with riskflow(app).db.transaction(write=False) as session:
        outcomes = session.execute(
            select(CaseAccess.username, CaseAccess.outcome).where(CaseAccess.purpose == "report a change")
        ).all()
    assert ("admin.north", "refused") in outcomes and (OM_SOUTH, "refused") in outcomes
