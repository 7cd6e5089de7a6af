"""The order's end (policy 13): each scenario reads like the policy, drives a case on the offender
management model the way staff, the court and the clock would, and checks what a person sees (the
case record and the inbox, through the web pages) and what the register holds.

A community order or a suspended sentence order carries its end date onto the register. The
termination review opens and falls due before it (decision table termination_review_lead: opens 20,
due 5 working days before the end); supervision ends on the date by itself: the case closes with the
reason, its open tasks and timers are withdrawn, its registrations end, but MAPPA stays. An early end
(revoked, ended early for good progress, died, transferred out) is recorded with its reason at an
oversight review.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

import pytest
from api_client import api_app
from casework_area import om_username
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_process_model import CRN, Case, arrested, fire_at
from webui_client import fast_password_hashing, give_passwords, sign_in, text_of

from casework import register
from casework.vocabulary import Stage
from engine.clock import ManualClock
from engine.db import Database
from engine.errors import InvalidData
from engine.humantasks import Actor
from engine.models import HumanTask
from engine.runtime import InstanceStatus
from webui import riskflow

__all__ = ["fast_password_hashing"]

SPO = "spo.north"
OWNER = om_username("north", "PO", "E")
ORDER_ENDS = date(2027, 5, 10)  # a Monday; the early May bank holiday is Monday 3 May 2027
END_OF_ORDER = datetime(2027, 5, 9, 23, 0, tzinfo=UTC)  # midnight in the area: 10 May, BST
# 5 working days before 10 May 2027, skipping the bank holiday: Friday 30 April; 20: Friday 9 April.
REVIEW_DUE = date(2027, 4, 30)
REVIEW_OPENS = datetime(2027, 4, 9, 8, 0, tzinfo=UTC)  # 9:00 in the area (BST)
TERMINATION = {
    "termination_date": ORDER_ENDS.isoformat(),
    "termination_reason": "COMPLETED",
    "final_rosh": "LOW",
    "registrations_reviewed": True,
    "termination_summary": "Order completed; all requirements met.",
}


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = api_app(database, clock)
    give_passwords(database, [SPO, OWNER])
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


def supervised(
    case: Case,
    rosh: str = "MEDIUM",
    *,
    outcome: str = "COMMUNITY_ORDER",
    end_date: date = ORDER_ENDS,
    registrations: Sequence[str] = (),
    mappa_level: int | None = None,
) -> None:
    """Sentence the case to an order ending on `end_date` and take it to its oversight plan."""
    case.start()
    case.screen(rosh, "NOT_ELIGIBLE" if mappa_level is None else "CAT2", registrations)
    case.sentenced(outcome, end_date=end_date.isoformat())
    if "allocate_owner" not in case.open_elements():
        case.hold_meeting(rosh, mappa_referral=mappa_level is not None)
        if mappa_level is not None:
            case.set_mappa_level(mappa_level)
    case.allocate("E")
    case.induct()
    case.assess(rosh, registrations)
    case.countersign_all()
    case.write_plans()


def rows_of(case: Case, element_id: str) -> list[HumanTask]:
    with case.engine.db.transaction(write=False) as session:
        return list(
            session.scalars(
                select(HumanTask).where(
                    HumanTask.instance_id == case.instance_id, HumanTask.element_id == element_id
                )
            )
        )


# ---------------------------------------------------------------------------------- the end date


def test_a_community_order_carries_its_end_date_onto_the_register(app: Flask, case: Case) -> None:
    supervised(case)
    with case.engine.db.transaction(write=False) as session:
        assert register.find_case(session, CRN).order_ends_on == ORDER_ENDS
    assert "Order ends 10 May 2027" in case_record(app)


def test_a_termination_review_is_due_5_working_days_before_the_order_ends(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    supervised(case, outcome="SUSPENDED_SENTENCE")
    fire_at(case.engine, clock, REVIEW_OPENS - timedelta(minutes=1))
    assert "termination_review" not in case.open_elements()
    fire_at(case.engine, clock, REVIEW_OPENS)
    review = case.task("termination_review")
    assert review.assignee == OWNER
    assert review.due_at is not None
    assert review.due_at.replace(tzinfo=UTC) == datetime(2027, 4, 30, 17, 0, tzinfo=UTC)
    assert review.due_at.date() == REVIEW_DUE
    seen = inbox(app, OWNER)
    assert "Termination review" in seen
    assert "30 Apr 2027" in seen
    page = signed_in(app, OWNER).get(f"/tasks/{review.id}")
    assert "The order on CRN X100001 ends on 10 May 2027" in text_of(page.get_data(as_text=True))
    # The order still runs: a review done before the date does not close the case.
    case.complete("termination_review", TERMINATION)
    with case.engine.db.transaction(write=False) as session:
        assert register.find_case(session, CRN).is_open


def test_a_community_order_ends_on_its_end_date_with_its_tasks_withdrawn(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    supervised(case, registrations=["ADVP"])
    fire_at(case.engine, clock, REVIEW_OPENS)
    case.complete("termination_review", TERMINATION)
    clock.set(END_OF_ORDER - timedelta(days=2))
    assert arrested(case) == "delivered"
    fire_at(case.engine, clock, END_OF_ORDER - timedelta(minutes=1))
    still_open = set(case.open_elements())
    assert "review_risk_after_arrest" in still_open
    assert still_open & {"oversight_review", "escalated_review"}
    assert "Review the risk after an arrest or new charge" in inbox(app, OWNER)

    fire_at(case.engine, clock, END_OF_ORDER)
    assert case.open_elements() == []
    fire_at(case.engine, clock, END_OF_ORDER + timedelta(seconds=1))  # the end announced again
    assert case.instance().status == InstanceStatus.COMPLETED
    assert case.instance().next_timer_at is None
    assert case.waits() == []
    for element_id in still_open:
        assert {row.state for row in rows_of(case, element_id)} <= {"completed", "cancelled"}
    with case.engine.db.transaction(write=False) as session:
        record = register.find_case(session, CRN)
        assert (record.stage, record.closed_at) == (Stage.CLOSED, END_OF_ORDER)
        assert record.closure_reason == "order ended on 10 May 2027"
        assert record.active_registrations() == []
        assert register.current_oversight_plan(session, record) is None
        assert register.timeline(session, CRN)[-1].summary == "Case closed: order ended on 10 May 2027"
    seen = case_record(app)
    assert "Closed 10 May 2027, 00:00: order ended on 10 May 2027" in seen
    assert "Review the risk after an arrest" not in inbox(app, OWNER)
    assert "Management oversight review" not in inbox(app, SPO)


def test_a_termination_review_not_done_by_the_end_date_stays_open_after_it(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    supervised(case)
    # The worker catches up on the end date: every timer due since December fires in one sweep (an
    # oversight review fell due in March and escalated a week later); what opened as the case ended
    # is withdrawn at the next sweep.
    fire_at(case.engine, clock, END_OF_ORDER)
    fire_at(case.engine, clock, END_OF_ORDER + timedelta(seconds=1))
    # Supervision ended on the date; the review is now overdue, and still the Offender Manager's.
    with case.engine.db.transaction(write=False) as session:
        assert register.find_case(session, CRN).stage == Stage.CLOSED
    assert case.open_elements() == ["termination_review"]
    assert "Overdue" in inbox(app, OWNER)
    result = case.complete("termination_review", TERMINATION)
    assert result.status == InstanceStatus.COMPLETED


def test_a_mappa_registration_stays_after_the_order_ends(app: Flask, case: Case, clock: ManualClock) -> None:
    supervised(case, "HIGH", registrations=["ADVP"], mappa_level=2)
    with case.engine.db.transaction(write=False) as session:
        before = {r.code: r.next_review_on for r in register.find_case(session, CRN).active_registrations()}
    assert {"MAPP", "ADVP"} <= set(before)
    fire_at(case.engine, clock, END_OF_ORDER)
    with case.engine.db.transaction(write=False) as session:
        record = register.find_case(session, CRN)
        assert record.stage == Stage.CLOSED
        kept = record.active_registrations()
        assert [(r.code, r.next_review_on) for r in kept] == [("MAPP", before["MAPP"])]
        ended = {r.code: r.deregistration_notes for r in record.registrations if r.code != "MAPP"}
        assert ended["ADVP"] == "Case closed: order ended on 10 May 2027"
    seen = case_record(app)
    assert "MAPPA" in seen.split("Registrations", 1)[1]
    assert "No registration is in force" not in seen


# --------------------------------------------------------------------------------- early ends


def test_an_order_revoked_early_closes_with_its_reason(app: Flask, case: Case, clock: ManualClock) -> None:
    supervised(case, "HIGH", registrations=["ADVP"])
    fire_at(case.engine, clock, datetime(2026, 12, 14, 9, 0, tzinfo=UTC))  # the 6-weekly review
    case.review("HIGH", case_ends=True, end_reason="REVOKED")
    with case.engine.db.transaction(write=False) as session:
        record = register.find_case(session, CRN)
        assert record.stage == Stage.CLOSED
        assert record.closure_reason == "order revoked on 14 December 2026"
        assert record.active_registrations() == []
    # Only the termination review is left, due within 10 working days; the end date's timers are gone.
    assert case.open_elements() == ["termination_review"]
    # 10 working days, over Christmas (25 December and the Boxing Day holiday on Monday 28 December).
    assert case.task("termination_review").due_at.date() == date(2026, 12, 30)
    assert "Supervision of CRN X100001 has ended" in text_of(
        signed_in(app, OWNER).get(f"/tasks/{case.task('termination_review').id}").get_data(as_text=True)
    )
    assert "order revoked on 14 December 2026" in case_record(app)
    result = case.complete("termination_review", TERMINATION | {"termination_reason": "REVOKED"})
    assert result.status == InstanceStatus.COMPLETED


def test_an_early_end_without_its_reason_is_refused_and_changes_nothing(
    case: Case, clock: ManualClock
) -> None:
    supervised(case, "HIGH")
    fire_at(case.engine, clock, datetime(2026, 12, 14, 9, 0, tzinfo=UTC))
    review = case.task("oversight_review")
    actor = Actor(review.assignee or SPO, frozenset({"SPO"}))
    given = {"review_date": case.today(), "rosh": "HIGH", "findings": "Died.", "case_ends": True}
    with pytest.raises(InvalidData) as refused:
        case.engine.complete_task(review.id, actor, given)
    assert "end_reason" in str(refused.value.errors) or "Why supervision ends" in str(refused.value)
    assert case.open_elements() == ["oversight_review"]
    with case.engine.db.transaction(write=False) as session:
        assert register.find_case(session, CRN).is_open
