"""The process follows the sentence (policy 3 and 4): each scenario reads like the policy, drives a case
on the offender management model the way staff and the court would, and checks what a person sees
(the case record and the inbox, through the web pages) and what the register holds.

Routes: acquitted, dismissed or withdrawn closes at once; a fine, a discharge or custody under 12
months has its risk meeting where the scope table calls one, then closes, never allocated; an
adjourned hearing or a deferred sentence waits for the new hearing and asks again; a community
order, a suspended sentence order and custody of 12 months or more go on to allocation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from api_client import api_app, call, token
from conftest import START
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from test_process_model import BUNDLE_DIR, CRN, Case, fire_at
from webui_client import fast_password_hashing, give_passwords, sign_in, text_of

from casework import register, sentencing
from casework.models import CourtOutcome, OversightPlan, OwnershipChange
from casework.vocabulary import SentenceOutcome, Stage
from engine.clock import ManualClock
from engine.db import Database
from engine.models import HumanTask, InboundMessage
from engine.runtime import InstanceStatus
from webui import riskflow

__all__ = ["fast_password_hashing"]

SPO = "spo.north"
ADMIN = "admin.north"
NEVER_REACHED = ("allocate_owner", "hold_induction", "assess_oasys", "write_plans", "oversight_review")


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = api_app(database, clock)
    give_passwords(database, [SPO, ADMIN])
    yield app
    riskflow(app).db.dispose()


@pytest.fixture
def case(app: Flask) -> Case:
    return Case(riskflow(app).engine)


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def case_record(app: Flask, username: str = SPO) -> str:
    page = signed_in(app, username).get(f"/cases/{CRN}")
    assert page.status_code == 200
    return text_of(page.get_data(as_text=True))


def inbox(app: Flask, username: str) -> str:
    page = signed_in(app, username).get(f"/?crn={CRN}")
    assert page.status_code == 200
    return text_of(page.get_data(as_text=True))


def elements_ever_opened(case: Case) -> set[str]:
    with case.engine.db.transaction(write=False) as session:
        return set(
            session.scalars(select(HumanTask.element_id).where(HumanTask.instance_id == case.instance_id))
        )


def assert_closed_never_allocated(case: Case, reason: str) -> None:
    """Closed on the register with the outcome as its reason: no owner, no plan, nothing supervised."""
    assert case.open_elements() == []
    assert case.instance().status == InstanceStatus.COMPLETED
    assert elements_ever_opened(case).isdisjoint(NEVER_REACHED)
    with case.engine.db.transaction(write=False) as session:
        record = register.find_case(session, CRN)
        assert (record.stage, record.owner_id) == (Stage.CLOSED, None)
        assert record.closed_at is not None
        assert record.active_registrations() == []
        assert session.scalar(select(func.count()).select_from(OwnershipChange)) == 0
        assert session.scalar(select(func.count()).select_from(OversightPlan)) == 0
        closure = register.timeline(session, CRN)[-1]
        assert (closure.kind, closure.summary) == ("case_closed", f"Case closed: {reason}")


# ------------------------------------------------------------------------------ closing routes


def test_a_fine_is_closed_after_the_risk_meeting_and_never_allocated(app: Flask, case: Case) -> None:
    case.start()
    case.screen("MEDIUM", registrations=["RCPR"])
    case.sentenced("FINE")
    assert case.open_elements() == ["hold_risk_meeting"]
    case.hold_meeting("MEDIUM")
    assert_closed_never_allocated(case, "fined on 09 November 2026; no supervision follows")
    seen = case_record(app)
    assert "Fine, 9 November 2026" in seen
    assert "Sentenced at Carlisle Crown Court on 09 November 2026: fine" in seen
    assert "Case closed: fined on 09 November 2026; no supervision follows" in seen
    assert "Allocate the case" not in inbox(app, SPO)


def test_a_discharge_the_meeting_scope_does_not_cover_closes_at_sentence(app: Flask, case: Case) -> None:
    case.start()
    case.screen("LOW")
    case.sentenced("CONDITIONAL_DISCHARGE", end_date="2028-11-08")
    assert "hold_risk_meeting" not in elements_ever_opened(case)
    assert_closed_never_allocated(
        case, "conditionally discharged on 09 November 2026; no supervision follows"
    )
    assert "conditional discharge, ending 08 November 2028" in case_record(app)


def test_an_acquittal_closes_the_case_at_once(app: Flask, case: Case) -> None:
    case.start()
    case.screen("HIGH", registrations=["RCPR"])
    case.sentenced("ACQUITTED")
    # High RoSH with child protection would call a risk meeting (and the consultant's advice) had
    # there been a sentence: an acquittal closes before the scope is asked.
    assert not elements_ever_opened(case) & {"give_risk_advice", "hold_risk_meeting"}
    assert_closed_never_allocated(case, "acquitted on 09 November 2026; nothing to supervise")
    seen = case_record(app)
    assert "Acquitted at Carlisle Crown Court on 09 November 2026" in seen
    assert "Closed" in seen


def test_a_six_month_custodial_sentence_closes_with_no_licence(app: Flask, case: Case) -> None:
    case.start()
    case.screen("MEDIUM", registrations=["ADVP"])
    case.sentenced("CUSTODY_UNDER_12_MONTHS", custody_months=6)
    case.hold_meeting("MEDIUM")
    assert_closed_never_allocated(
        case, "sentenced to custody under 12 months (no licence) on 09 November 2026; no supervision follows"
    )
    with case.engine.db.transaction(write=False) as session:
        (kept,) = session.scalars(select(CourtOutcome)).all()
        assert (kept.outcome, kept.custody_months) == (SentenceOutcome.CUSTODY_UNDER_12_MONTHS, 6)
    assert "6 months' custody (under 12 months: no licence)" in case_record(app)


def test_custody_of_12_months_or_more_goes_on_to_allocation_for_now(case: Case) -> None:
    case.start()
    case.screen("LOW")
    case.sentenced("CUSTODY_12_MONTHS_OR_MORE", custody_months=30)
    assert case.open_elements() == ["allocate_owner"]


# --------------------------------------------------------------------------------- adjournment


def test_an_adjourned_case_is_chased_from_the_new_hearing_date_not_the_first(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    case.start()
    case.screen("LOW")
    case.sentenced("ADJOURNED", sentence_date="2026-11-02", next_hearing_date="2026-11-23")
    requests = [m for m in case.outbox() if m.message_name == "request_sentencing_outcome"]
    assert len(requests) == 1
    # Nothing is chased or escalated against the hearing that was adjourned.
    fire_at(case.engine, clock, START + timedelta(days=7))
    assert case.open_elements() == []
    assert case.waits() == []
    with case.engine.db.transaction(write=False) as session:
        record = register.find_case(session, CRN)
        assert (record.stage, record.sentence_outcome) == (Stage.AWAITING_SENTENCE, SentenceOutcome.ADJOURNED)
    assert "Hearing at Carlisle Crown Court on 02 November 2026 adjourned to 23 November 2026" in case_record(
        app
    )
    # On the new hearing's day the outcome is asked for again; the chase counts from that day.
    new_hearing = datetime(2026, 11, 23, tzinfo=UTC)
    fire_at(case.engine, clock, new_hearing)
    assert len([m for m in case.outbox() if m.message_name == "request_sentencing_outcome"]) == 2
    assert case.waits() == [("sentencing_outcome", CRN)]
    fire_at(case.engine, clock, new_hearing + timedelta(days=2) - timedelta(minutes=1))
    assert case.open_elements() == []
    fire_at(case.engine, clock, new_hearing + timedelta(days=2))
    assert case.open_elements() == ["chase_outcome"]
    assert "Chase the sentencing outcome" in inbox(app, ADMIN)
    fire_at(case.engine, clock, new_hearing + timedelta(days=7))
    assert case.open_elements() == ["get_overdue_outcome"]
    case.complete(
        "get_overdue_outcome",
        {
            "outcome": "COMMUNITY_ORDER",
            "sentence_date": "2026-11-23",
            "end_date": "2027-11-22",
            "how_obtained": "Listing office.",
        },
    )
    assert case.open_elements() == ["allocate_owner"]
    with case.engine.db.transaction(write=False) as session:
        kept = session.scalars(select(CourtOutcome).order_by(CourtOutcome.id)).all()
        assert [(k.outcome, k.outcome_date) for k in kept] == [
            (SentenceOutcome.ADJOURNED, date(2026, 11, 2)),
            (SentenceOutcome.COMMUNITY_ORDER, date(2026, 11, 23)),
        ]


def test_a_deferred_sentence_waits_for_its_date_then_asks_again(case: Case, clock: ManualClock) -> None:
    case.start()
    case.screen("LOW")
    case.sentenced("DEFERRED", next_hearing_date="2027-03-09")
    fire_at(case.engine, clock, datetime(2027, 3, 8, tzinfo=UTC))
    assert case.waits() == []
    fire_at(case.engine, clock, datetime(2027, 3, 9, tzinfo=UTC))
    assert case.waits() == [("sentencing_outcome", CRN)]
    case.sentenced("SUSPENDED_SENTENCE", sentence_date="2027-03-09", end_date="2028-03-08")
    assert case.open_elements() == ["allocate_owner"]


# ------------------------------------------------------------------------------ bad combinations


def test_a_community_order_without_an_end_date_is_refused_and_nothing_changes(app: Flask, case: Case) -> None:
    case.start()
    case.screen("LOW")
    court = token(app, "court.results", ["messages:send"])
    body = {
        "name": "sentencing_outcome",
        "correlation_value": CRN,
        "payload": {"outcome": "COMMUNITY_ORDER", "sentence_date": "2026-11-02"},
    }
    refused = call(app.test_client(), "POST", "/messages", court, body)
    assert refused.status_code == 422
    assert "end_date: Enter the date the community order ends" in refused.json["message"]
    with case.engine.db.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0
        assert session.scalar(select(func.count()).select_from(CourtOutcome)) == 0
        assert register.find_case(session, CRN).sentence_outcome is None
    assert case.waits() == [("sentencing_outcome", CRN)]
    assert "Not yet sentenced" in case_record(app)


def test_an_outcome_recorded_by_hand_that_does_not_fit_goes_back_to_the_form(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    case.start()
    case.screen("LOW")
    fire_at(case.engine, clock, START + timedelta(days=2))
    chase = case.task("chase_outcome")
    admin = signed_in(app, ADMIN)
    assert admin.post(f"/tasks/{chase.id}/claim").status_code in (200, 302)
    form = {
        "chase_result": "RECORDED",
        "outcome": "CUSTODY_INDETERMINATE",
        "sentence_date-day": "3",
        "sentence_date-month": "11",
        "sentence_date-year": "2026",
        "custody_months": "48",
        "action": "complete",
    }
    page = admin.post(f"/tasks/{chase.id}", data=form)
    assert page.status_code == 422
    assert "An indeterminate sentence has no length" in text_of(page.get_data(as_text=True))
    assert case.open_elements() == ["chase_outcome"]
    with case.engine.db.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(CourtOutcome)) == 0
    page = admin.post(f"/tasks/{chase.id}", data={**form, "custody_months": ""})
    assert page.status_code == 302
    assert case.open_elements() == ["allocate_owner"]


@pytest.mark.parametrize(
    ("given", "field", "words"),
    [
        ({"outcome": "COMMUNITY_ORDER"}, "end_date", "Enter the date the community order ends"),
        (
            {"outcome": "SUSPENDED_SENTENCE", "end_date": "2026-10-01"},
            "end_date",
            "The end date must be after the date of sentence",
        ),
        (
            {"outcome": "CUSTODY_12_MONTHS_OR_MORE"},
            "custody_months",
            "Enter the length of the custodial sentence in months",
        ),
        ({"outcome": "CUSTODY_UNDER_12_MONTHS", "custody_months": 18}, "custody_months", "12 months or more"),
        ({"outcome": "CUSTODY_INDETERMINATE", "custody_months": 120}, "custody_months", "has no length"),
        ({"outcome": "ADJOURNED"}, "next_hearing_date", "Enter the date of the next hearing"),
        (
            {"outcome": "ADJOURNED", "next_hearing_date": "2026-11-01"},
            "next_hearing_date",
            "a date still to come",
        ),
        ({"outcome": "FINE", "end_date": "2027-11-01"}, "end_date", "A fine has no end date"),
        ({"outcome": "CUSTODY"}, "outcome", "Say which custodial sentence"),
        ({"outcome": "OTHER"}, "outcome", "is not an outcome riskflow knows"),
        ({"outcome": "FINE", "sentence_date": "2026-12-25"}, "sentence_date", "cannot be in the future"),
    ],
)
def test_bad_combinations_are_refused_with_what_to_put_right(
    app: Flask, given: dict[str, object], field: str, words: str
) -> None:
    outcome = {"sentence_date": "2026-11-02", **given}
    with pytest.raises(sentencing.OutcomeRefused) as refused:
        sentencing.check_outcome(outcome, today=START.date())
    assert words in refused.value.problems[field]
    # The JSON API refuses it with the same words, and keeps nothing.
    court = token(app, "court.results", ["messages:send"])
    body = {"name": "sentencing_outcome", "correlation_value": CRN, "payload": outcome}
    response = call(app.test_client(), "POST", "/messages", court, body)
    assert (response.status_code, response.json["error"]) == (422, "invalid_message")
    assert words in response.json["message"]


def test_every_outcome_the_forms_offer_is_one_the_check_knows() -> None:
    """The chase and overdue-outcome forms list the codes casework.sentencing checks, in its words."""
    for form in ("chase-outcome.json", "overdue-outcome.json"):
        schema = case_form(form)
        offered = {(c["const"], c["title"]) for c in schema["properties"]["outcome"]["oneOf"]}
        assert offered == {(o.value, t) for o, t in sentencing.OUTCOME_TITLES.items()}


def case_form(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((BUNDLE_DIR / "forms" / name).read_text())
    return loaded
