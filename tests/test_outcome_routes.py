"""The process follows the sentence (policy 3 and 4): each scenario reads like the policy, drives a case
on the offender management model the way staff and the court would, and checks what a person sees
(the case record and the inbox, through the web pages) and what the register holds.

Routes: acquitted, dismissed or withdrawn closes at once; a fine, a discharge or custody under 12
months has its risk meeting where the scope table calls one, then closes, never allocated; an
adjourned hearing or a deferred sentence waits for the new hearing and asks again; a community
order and a suspended sentence order go on to allocation and supervision; custody of 12 months or
more (extended, indeterminate) is allocated, then follows the custody and licence route to the end
of its licence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from api_client import api_app, call, token
from casework_area import om_username
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
from engine.errors import InvalidData
from engine.humantasks import Actor
from engine.models import HumanTask, InboundMessage
from engine.runtime import InstanceStatus
from webui import riskflow

__all__ = ["fast_password_hashing"]

SPO = "spo.north"
ADMIN = "admin.north"
OM = om_username("north", "PO", "E")  # the Offender Manager Case.allocate() allocates
NEVER_REACHED = ("allocate_owner", "hold_induction", "assess_oasys", "write_plans", "oversight_review")


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = api_app(database, clock)
    give_passwords(database, [SPO, ADMIN, OM])
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


# ------------------------------------------------------------------------------ custody and licence

RELEASE = datetime(2027, 8, 9, tzinfo=UTC)  # the 18-month sentence's automatic release (OUTCOME_NEEDS)
LICENCE_END = datetime(2028, 5, 8, tzinfo=UTC)


def to_custody(case: Case, outcome: str = "CUSTODY_12_MONTHS_OR_MORE", **given: Any) -> None:
    """Sentenced to custody with a licence (low risk: no risk meeting), allocated, sentence plan written."""
    case.start()
    case.screen("LOW")
    case.sentenced(outcome, **given)
    case.allocate()
    case.complete(
        "write_custody_sentence_plan",
        {
            "plan_date": case.today(),
            "sentence_plan": "Thinking skills programme; education.",
            "risk_management_plan": "Victim contact; no contact conditions proposed.",
        },
    )


def plan_release(case: Case) -> None:
    case.complete(
        "plan_for_release",
        {
            "plan_date": case.today(),
            "licence_conditions": "Reside at approved address; no contact with the victim.",
            "accommodation": "Approved premises, Carlisle.",
            "risk_management_plan": "Weekly reporting; police liaison.",
        },
    )


def review_licence(case: Case, *, recall_reason: str = "") -> None:
    answers: dict[str, Any] = {"review_date": case.today(), "compliance": "Reporting as required."}
    answers["recall_requested"] = bool(recall_reason)
    if recall_reason:
        answers["recall_reason"] = recall_reason
    case.complete("review_licence", answers)


def timeline_words(case: Case) -> list[str]:
    with case.engine.db.transaction(write=False) as session:
        return [event.summary for event in register.timeline(session, CRN)]


def test_custody_of_12_months_or_more_is_allocated_then_planned_in_custody_on_its_longer_timescale(
    app: Flask, case: Case
) -> None:
    case.start()
    case.screen("LOW")
    case.sentenced("CUSTODY_12_MONTHS_OR_MORE")
    assert case.open_elements() == ["allocate_owner"]
    case.allocate()
    # Release is 9 months after sentence (under 2 years away): the sentence plan in custody is due by
    # the National Standard, 8 weeks from the sentence (9 November), at close of business.
    plan = case.task("write_custody_sentence_plan")
    assert (plan.assignee, plan.due_at, plan.due_standard) == (
        OM,
        datetime(2027, 1, 4, 17, 0, tzinfo=UTC),
        "National Standard (custody): 8 weeks from sentence",
    )
    assert "Write the sentence plan in custody" in inbox(app, OM)
    assert "automatic release 09 August 2027, licence ends 08 May 2028" in case_record(app)
    assert not elements_ever_opened(case) & {"hold_induction", "assess_oasys", "write_plans"}


def test_a_custody_case_reaches_pre_release_planning_before_its_release_date_and_licence_supervision_after_it(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    to_custody(case)
    # Pre-release planning starts 12 weeks before an automatic release, and is due before it.
    planning_starts = RELEASE - timedelta(weeks=12)
    fire_at(case.engine, clock, planning_starts - timedelta(minutes=1))
    assert case.open_elements() == []
    fire_at(case.engine, clock, planning_starts)
    task = case.task("plan_for_release")
    assert task.due_at is not None and task.due_at < RELEASE
    assert "Plan for release" in inbox(app, OM)
    plan_release(case)
    with case.engine.db.transaction(write=False) as session:
        assert register.find_case(session, CRN).stage == Stage.ALLOCATED
    fire_at(case.engine, clock, RELEASE - timedelta(minutes=1))
    assert "Released on licence" not in case_record(app)
    fire_at(case.engine, clock, RELEASE)
    with case.engine.db.transaction(write=False) as session:
        assert register.find_case(session, CRN).stage == Stage.SUPERVISED
    assert "Released on licence on 09 August 2027; the licence ends 08 May 2028" in case_record(app)
    # Licence supervision: the licence is reviewed at the oversight table's interval (low RoSH,
    # experienced officer: at the 4-month review, 17 weeks).
    assert case.open_elements() == []
    fire_at(case.engine, clock, RELEASE + timedelta(weeks=17))
    assert case.open_elements() == ["review_licence"]
    assert "Review the licence" in inbox(app, OM)


def test_a_licence_ends_on_its_licence_end_date_and_the_case_closes(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    to_custody(case)
    fire_at(case.engine, clock, RELEASE - timedelta(weeks=12))
    plan_release(case)
    fire_at(case.engine, clock, RELEASE)
    fire_at(case.engine, clock, RELEASE + timedelta(weeks=17))
    review_licence(case)
    fire_at(case.engine, clock, RELEASE + timedelta(weeks=34))
    review_licence(case)
    # The next review would fall after the licence's end: the licence end date comes first.
    fire_at(case.engine, clock, LICENCE_END - timedelta(minutes=1))
    assert case.instance().status != InstanceStatus.COMPLETED
    fire_at(case.engine, clock, LICENCE_END)
    assert case.open_elements() == []
    assert case.instance().status == InstanceStatus.COMPLETED
    with case.engine.db.transaction(write=False) as session:
        record = register.find_case(session, CRN)
        assert record.stage == Stage.CLOSED
        assert record.closed_at is not None and record.closed_at.date() == LICENCE_END.date()
        assert register.current_ownership(session, record) is None
    assert "Case closed: licence ended on 08 May 2028; supervision complete" in case_record(app)


def on_licence_until_the_last_review(case: Case, clock: ManualClock) -> None:
    """Released on 9 August 2027 and reviewed once; the last review before the end opens on 3 April."""
    to_custody(case)
    fire_at(case.engine, clock, RELEASE - timedelta(weeks=12))
    plan_release(case)
    fire_at(case.engine, clock, RELEASE)
    fire_at(case.engine, clock, RELEASE + timedelta(weeks=17))
    review_licence(case)
    fire_at(case.engine, clock, RELEASE + timedelta(weeks=34))
    assert case.open_elements() == ["review_licence"]


def assert_closed_on_the_licence_end_date(app: Flask, case: Case, reason: str, withdrawn: set[str]) -> None:
    """Closed on the end date with its reason; the open steps withdrawn, no timer left."""
    assert case.open_elements() == []
    assert case.instance().status == InstanceStatus.COMPLETED
    assert case.instance().next_timer_at is None
    with case.engine.db.transaction(write=False) as session:
        states = dict(
            session.execute(
                select(HumanTask.element_id, HumanTask.state).where(
                    HumanTask.instance_id == case.instance_id, HumanTask.element_id.in_(withdrawn)
                )
            ).all()
        )
        record = register.find_case(session, CRN)
        assert (record.stage, record.closed_at) == (Stage.CLOSED, LICENCE_END)
        assert record.closure_reason == reason
        assert register.current_ownership(session, record) is None
    assert states == dict.fromkeys(withdrawn, "cancelled")
    assert f"Case closed: {reason}" in case_record(app)
    assert "Review the licence" not in inbox(app, OM)
    assert "Approve the recall" not in inbox(app, SPO)


def test_a_licence_ends_on_its_end_date_even_with_its_review_still_open(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    on_licence_until_the_last_review(case, clock)
    # The Offender Manager never completes the review: the licence still ends on its date.
    fire_at(case.engine, clock, LICENCE_END - timedelta(minutes=1))
    assert case.open_elements() == ["review_licence"]
    fire_at(case.engine, clock, LICENCE_END)
    assert_closed_on_the_licence_end_date(
        app, case, "licence ended on 08 May 2028; supervision complete", {"review_licence"}
    )


def test_a_recall_still_awaiting_approval_when_the_licence_ends_lapses(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    on_licence_until_the_last_review(case, clock)
    review_licence(case, recall_reason="Missed three appointments; new address not approved.")
    assert case.open_elements() == ["approve_recall_spo"]
    assert "Recall asked for on 03 April 2028: Missed three appointments" in case_record(app)
    fire_at(case.engine, clock, LICENCE_END)
    # There is no licence left to revoke: the SPO's approval is withdrawn and the timeline says why.
    assert_closed_on_the_licence_end_date(
        app, case, "licence ended on 08 May 2028; supervision complete", {"approve_recall_spo"}
    )
    words = timeline_words(case)
    assert (
        "Recall not decided: the licence ended on 08 May 2028 before it was approved, so there is no "
        "licence left to revoke; the approval is withdrawn"
    ) in words
    assert not any(line.startswith("Recalled to custody") for line in words)
    assert "Recall not decided: the licence ended on 08 May 2028" in case_record(app)


def test_a_licence_ends_on_its_end_date_while_the_person_is_back_in_custody_on_recall(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    on_licence_until_the_last_review(case, clock)
    review_licence(case, recall_reason="Arrested for a new offence.")
    approve_recall(case, "STANDARD")
    assert case.open_elements() == ["record_rerelease"]
    fire_at(case.engine, clock, LICENCE_END)
    assert_closed_on_the_licence_end_date(
        app,
        case,
        "licence ended on 08 May 2028 while in custody on recall; supervision complete",
        {"record_rerelease"},
    )


def test_a_recall_approved_by_the_spo_and_the_aco_returns_the_person_to_custody_until_re_release(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    to_custody(case)
    fire_at(case.engine, clock, RELEASE - timedelta(weeks=12))
    plan_release(case)
    fire_at(case.engine, clock, RELEASE)
    fire_at(case.engine, clock, RELEASE + timedelta(weeks=17))
    review_licence(case, recall_reason="Third missed appointment in 12 months; whereabouts unknown.")
    assert case.open_elements() == ["approve_recall_spo"]
    assert "Approve the recall (SPO)" in inbox(app, SPO)
    case.complete(
        "approve_recall_spo",
        {"recall_decision": "APPROVED", "recall_type": "STANDARD", "recall_note": "Risk unmanageable."},
    )
    assert case.open_elements() == ["approve_recall_aco"]
    assert "Recalled to custody" not in case_record(app)
    case.complete(
        "approve_recall_aco",
        {"recall_decision": "APPROVED", "recall_type": "STANDARD", "recall_note": "Agreed."},
    )
    assert case.open_elements() == ["record_rerelease"]
    seen = case_record(app)
    assert "Recalled to custody on 06 December 2027: Third missed appointment in 12 months" in seen
    assert "(standard recall; approved by the SPO and the ACO)" in seen
    case.complete(
        "record_rerelease", {"rerelease_note": "Released by the Parole Board to approved premises."}
    )
    assert "Re-released on licence after recall on 06 December 2027" in case_record(app)
    assert case.open_elements() == []


def approve_recall(case: Case, recall_type: str) -> None:
    for step in ("approve_recall_spo", "approve_recall_aco"):
        case.complete(
            step, {"recall_decision": "APPROVED", "recall_type": recall_type, "recall_note": "Agreed."}
        )


def test_a_fixed_term_recall_re_releases_the_person_on_licence_28_days_after_the_return_to_custody(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    to_custody(case)
    fire_at(case.engine, clock, RELEASE - timedelta(weeks=12))
    plan_release(case)
    fire_at(case.engine, clock, RELEASE)
    recalled = RELEASE + timedelta(weeks=17)  # 6 December 2027
    fire_at(case.engine, clock, recalled)
    review_licence(case, recall_reason="Breach of the curfew condition.")
    approve_recall(case, "FIXED_TERM")
    # Nobody has to record the re-release: there is no standing wait, only the 28 days.
    assert case.open_elements() == []
    assert (
        "Recalled to custody on 06 December 2027: Breach of the curfew condition. (fixed-term recall, "
        in (case_record(app))
    )
    fire_at(case.engine, clock, recalled + timedelta(days=28) - timedelta(minutes=1))
    assert not any(words.startswith("Re-released") for words in timeline_words(case))
    fire_at(case.engine, clock, datetime(2028, 1, 3, tzinfo=UTC))
    assert "Re-released on licence after recall on 03 January 2028; the licence ends 08 May 2028" in (
        case_record(app)
    )
    assert "record_rerelease" not in elements_ever_opened(case)


def test_a_recall_approved_without_its_type_goes_back_to_the_form_and_nothing_changes(
    case: Case, clock: ManualClock
) -> None:
    to_custody(case)
    fire_at(case.engine, clock, RELEASE - timedelta(weeks=12))
    plan_release(case)
    fire_at(case.engine, clock, RELEASE)
    fire_at(case.engine, clock, RELEASE + timedelta(weeks=17))
    review_licence(case, recall_reason="Breach of the curfew condition.")
    task = case.task("approve_recall_spo")
    actor = Actor(task.assignee or SPO, frozenset({"SPO"}))
    with pytest.raises(InvalidData) as refused:
        case.engine.complete_task(task.id, actor, {"recall_decision": "APPROVED", "recall_note": "Agreed."})
    assert "recall_type" in str(refused.value.errors)
    assert case.open_elements() == ["approve_recall_spo"]
    assert not any(words.startswith("Recalled") for words in timeline_words(case))


def test_a_recall_the_spo_refuses_leaves_the_licence_running(case: Case, clock: ManualClock) -> None:
    to_custody(case)
    fire_at(case.engine, clock, RELEASE - timedelta(weeks=12))
    plan_release(case)
    fire_at(case.engine, clock, RELEASE)
    fire_at(case.engine, clock, RELEASE + timedelta(weeks=17))
    review_licence(case, recall_reason="Late for one appointment.")
    case.complete("approve_recall_spo", {"recall_decision": "REFUSED", "recall_note": "A warning is enough."})
    assert case.open_elements() == []
    assert "approve_recall_aco" not in elements_ever_opened(case)
    assert not any(words.startswith("Recalled") for words in timeline_words(case))
    assert timeline_words(case)[-1] == (
        "Recall refused by the SPO on 06 December 2027; the licence runs on. A warning is enough."
    )


def test_an_indeterminate_sentence_plans_release_ahead_of_the_parole_decision_and_again_when_refused(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    to_custody(case, "CUSTODY_INDETERMINATE")
    # The minimum term ends on 10 November 2031: 5 years away, so the plan was due 16 weeks from the
    # sentence (9 November), and planning starts 26 weeks before the parole decision.
    assert case.task_row("write_custody_sentence_plan").due_at == datetime(2027, 3, 1, 17, 0, tzinfo=UTC)
    review = datetime(2031, 11, 10, tzinfo=UTC)
    fire_at(case.engine, clock, review - timedelta(weeks=26, minutes=1))
    assert case.open_elements() == []
    fire_at(case.engine, clock, review - timedelta(weeks=26))
    plan_release(case)
    assert case.open_elements() == ["record_parole_decision"]
    case.complete(
        "record_parole_decision", {"parole_decision": "NOT_RELEASED", "next_review_date": "2033-11-07"}
    )
    next_review = datetime(2033, 11, 7, tzinfo=UTC)
    fire_at(case.engine, clock, next_review - timedelta(weeks=26))
    plan_release(case)
    case.complete(
        "record_parole_decision", {"parole_decision": "RELEASE_DIRECTED", "parole_release_date": "2033-11-21"}
    )
    fire_at(case.engine, clock, datetime(2033, 11, 21, tzinfo=UTC))
    assert "Released on licence on 21 November 2033; the licence has no fixed end" in case_record(app)
    with case.engine.db.transaction(write=False) as session:
        assert register.find_case(session, CRN).stage == Stage.SUPERVISED


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
    tariff = {"release_date-day": "3", "release_date-month": "11", "release_date-year": "2036"}
    page = admin.post(
        f"/tasks/{chase.id}",
        data={**form, **tariff, "custody_months": "", "release_type": "PAROLE_ELIGIBLE"},
    )
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
        (
            {"outcome": "CUSTODY_12_MONTHS_OR_MORE", "custody_months": 18, "release_type": "AUTOMATIC"},
            "release_date",
            "Enter the release date",
        ),
        (
            {
                "outcome": "CUSTODY_12_MONTHS_OR_MORE",
                "custody_months": 18,
                "release_date": "2028-06-01",
                "release_type": "AUTOMATIC",
                "licence_end_date": "2028-06-30",
            },
            "release_date",
            "must fall before the 18-month sentence ends",
        ),
        (
            {
                "outcome": "CUSTODY_12_MONTHS_OR_MORE",
                "custody_months": 18,
                "release_date": "2027-08-02",
                "release_type": "AUTOMATIC",
            },
            "licence_end_date",
            "Enter the date the licence ends",
        ),
        (
            {
                "outcome": "CUSTODY_12_MONTHS_OR_MORE",
                "custody_months": 18,
                "release_date": "2027-08-02",
                "release_type": "AUTOMATIC",
                "licence_end_date": "2027-07-01",
            },
            "licence_end_date",
            "must end after the release date",
        ),
        (
            {
                "outcome": "CUSTODY_12_MONTHS_OR_MORE",
                "custody_months": 18,
                "release_date": "2027-08-02",
                "release_type": "AUTOMATIC",
                "licence_end_date": "2029-05-01",
            },
            "licence_end_date",
            "cannot run beyond the 18-month sentence",
        ),
        (
            {"outcome": "CUSTODY_12_MONTHS_OR_MORE", "custody_months": 18, "release_date": "2027-08-02"},
            "release_type",
            "Say how release comes",
        ),
        (
            {
                "outcome": "CUSTODY_INDETERMINATE",
                "release_date": "2031-11-03",
                "release_type": "PAROLE_ELIGIBLE",
                "licence_end_date": "2041-11-03",
            },
            "licence_end_date",
            "A life or IPP licence has no fixed end date",
        ),
        (
            {"outcome": "CUSTODY_INDETERMINATE", "release_date": "2031-11-03", "release_type": "AUTOMATIC"},
            "release_type",
            "only when the Parole Board directs",
        ),
        (
            {"outcome": "CUSTODY_UNDER_12_MONTHS", "custody_months": 6, "licence_end_date": "2027-05-01"},
            "licence_end_date",
            "has no licence",
        ),
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
