"""The area's figures (`riskflow figures`): cases on each route the outcome chose, sentence plans on time
against the National Standard, closures on time against the order's end date, open cases by stage;
and the demo area, whose outcomes and offences put cases on every route and whose orders end on
their dates while the clock runs."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import START
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_cli import database_url, processes, riskflow, run  # noqa: F401 - the CLI fixtures
from test_process_model import BUNDLE_DIR

from casework import register, sentencing
from casework.models import Case, CourtOutcome
from casework.register_types import add_months
from casework.vocabulary import Stage
from engine.bundle import Bundle
from engine.clock import DISPLAY_ZONE, ManualClock
from engine.db import Database
from engine.models import HumanTask
from tasks.area_figures import ROUTE_WORDS, area_figures
from tasks.wiring import build_engine
from webui.demo import load_demo

BY = "figures.test"


def _at(day: date) -> datetime:
    """9 in the morning of `day` in the area, as the register keeps it."""
    return datetime.combine(day, time(9), tzinfo=DISPLAY_ZONE).astimezone(UTC)


def _case(
    session: Session, crn: str, on: date, *outcomes: dict[str, Any], offence: str | None = None
) -> Case:
    case = register.identify_case(session, crn, at=_at(on), by=BY)
    if offence:
        register.record_first_details(
            session,
            crn,
            forename="Sorrel",
            surname="Ullock",
            date_of_birth=date(1980, 5, 1),
            court="Carlisle Crown Court",
            hearing_date=on,
            offence=offence,
            at=_at(on),
            by=BY,
        )
    for given in outcomes:
        record = sentencing.check_outcome(given)
        sentencing.record_outcome(session, case, record, at=_at(record.outcome_date), by=BY)
    return case


def _order(outcome: str, sentenced: date, ends: date) -> dict[str, Any]:
    return {"outcome": outcome, "sentence_date": sentenced.isoformat(), "end_date": ends.isoformat()}


def _close(session: Session, crn: str, on: date, reason: str) -> None:
    register.close_case(session, crn, at=_at(on), by=BY, reason=reason)


def _seed_a_small_area(database: Database, today: date) -> None:
    """Eleven cases whose figures are known: every route, orders ended on, before and after their date."""
    day = lambda n: today + timedelta(days=n)  # noqa: E731 - a date n days from today
    with database.transaction() as session:
        _case(
            session,
            "F000001",
            day(-40),
            {"outcome": "FINE", "sentence_date": day(-40).isoformat()},
            offence="Theft from a shop",
        )
        _close(session, "F000001", day(-35), "fined; no supervision follows")
        _case(session, "F000002", day(-400), _order("COMMUNITY_ORDER", day(-400), day(-35)))
        _close(session, "F000002", day(-35), "order ended")  # on its end date
        _case(session, "F000003", day(-400), _order("COMMUNITY_ORDER", day(-400), day(-20)))
        _case(session, "F000004", day(-100), _order("SUSPENDED_SENTENCE", day(-100), day(200)))
        _case(session, "F000005", day(-200), _order("COMMUNITY_ORDER", day(-200), day(-10)))
        _close(session, "F000005", day(-60), "order revoked")  # before its end date
        sentenced = day(-300)
        custody = _case(
            session,
            "F000006",
            sentenced,
            {
                "outcome": "CUSTODY_12_MONTHS_OR_MORE",
                "sentence_date": sentenced.isoformat(),
                "custody_months": 12,
                "release_date": add_months(sentenced, 6).isoformat(),
                "release_type": "AUTOMATIC",
                "licence_end_date": add_months(sentenced, 12).isoformat(),
            },
            offence="Robbery",
        )
        sentencing.record_release(
            session,
            custody,
            released_on=add_months(sentenced, 6),
            licence_end=add_months(sentenced, 12),
            again=False,
            at=_at(add_months(sentenced, 6)),
            by=BY,
        )
        adjourned = {"outcome": "ADJOURNED", "sentence_date": day(-3).isoformat()}
        _case(session, "F000007", day(-3), {**adjourned, "next_hearing_date": day(11).isoformat()})
        _case(
            session,
            "F000008",
            day(-5),
            {"outcome": "ACQUITTED", "sentence_date": day(-5).isoformat()},
            offence="Theft from a shop",
        )
        _close(session, "F000008", day(-5), "acquitted")
        _case(session, "F000009", day(-1))
        first = {"outcome": "ADJOURNED", "sentence_date": day(-30).isoformat()}
        _case(
            session,
            "F000010",
            day(-30),
            {**first, "next_hearing_date": day(-16).isoformat()},
            _order("COMMUNITY_ORDER", day(-16), day(349)),
        )
        _case(session, "F000011", day(-400), _order("COMMUNITY_ORDER", day(-400), day(-50)))
        _close(session, "F000011", day(-45), "order ended")  # after its end date
        for crn in ("F000003", "F000004"):
            register.find_case(session, crn).stage = Stage.SUPERVISED


def test_the_figures_command_prints_what_the_register_holds_for_a_small_area(
    riskflow: CliRunner,  # noqa: F811
    database_url: str,  # noqa: F811
) -> None:
    assert run(riskflow, "db", "upgrade").exit_code == 0
    today = datetime.now(UTC).astimezone(DISPLAY_ZONE).date()
    database = Database(database_url)
    try:
        _seed_a_small_area(database, today)
    finally:
        database.dispose()

    result = run(riskflow, "figures")

    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    assert lines[0] == f"The area's figures on {today:%d %B %Y}: 11 cases on the register"
    expected_routes = [
        ("Supervision in the community", 6),
        ("Community order", 5),
        ("Suspended sentence order", 1),
        ("Custody, then release on licence", 1),
        ("Custody, determinate, 12 months or more", 1),
        ("Closed after the risk meeting", 1),
        ("Fine", 1),
        ("Waiting for a new hearing", 1),
        ("Adjourned to a later hearing", 1),
        ("Closed at once", 1),
        ("Acquitted", 1),
        ("Awaiting the court's outcome", 1),
    ]
    start = lines.index("Cases by route (the latest court outcome, through the outcome_route table):")
    assert [_words_and_count(line) for line in lines[start + 1 : start + 13]] == expected_routes
    assert "Sentenced at a new hearing after an adjournment or deferment: 1" in lines
    assert (
        "Custody, then licence, open: 0 in custody, 1 on licence; ever released on licence 1, recalled 0"
    ) in lines
    offences = lines.index("Main offences (first hearing):")
    assert [_words_and_count(line) for line in lines[offences + 1 : offences + 3]] == [
        ("Theft from a shop", 2),
        ("Robbery", 1),
    ]
    assert (
        "on time 0 of 0 due (none due yet); done late 0, open and overdue 0, not yet due 0"
    ) in lines  # no process ran: no sentence plan was asked for
    # F000002 closed on its end date; F000011 after it; F000003 still open after it; F000005 revoked
    # before it; F000004, F000006 (licence) and F000010 still running.
    assert (
        "closed on the end date 1 of 3 due (33%); closed late 1, open past the end date 1; "
        "ended early 1; still running 3"
    ) in lines
    stages = lines.index("Open cases by stage:")
    assert [_words_and_count(line) for line in lines[stages + 1 : stages + 7]] == [
        ("Identified at court", 1),
        ("Awaiting sentence", 1),
        ("Sentenced", 1),
        ("Allocated", 0),
        ("Under supervision", 3),
        ("Open cases", 6),
    ]


def _words_and_count(line: str) -> tuple[str, int]:
    words, _, count = line.rpartition(" ")
    return words.strip(), int(count.replace(",", ""))


SENTENCE_PLAN_STEPS = ("write_plans", "write_custody_sentence_plan")
# The route each outcome takes, as the policy says (processes/offender-management/policy.md 3 and 4).
ROUTE_BY_POLICY = {
    "COMMUNITY_ORDER": "SUPERVISION",
    "SUSPENDED_SENTENCE": "SUPERVISION",
    "CUSTODY_12_MONTHS_OR_MORE": "CUSTODY_LICENCE",
    "CUSTODY_EXTENDED": "CUSTODY_LICENCE",
    "CUSTODY_INDETERMINATE": "CUSTODY_LICENCE",
    "CUSTODY_UNDER_12_MONTHS": "CLOSE_AFTER_MEETING",
    "FINE": "CLOSE_AFTER_MEETING",
    "CONDITIONAL_DISCHARGE": "CLOSE_AFTER_MEETING",
    "ABSOLUTE_DISCHARGE": "CLOSE_AFTER_MEETING",
    "ADJOURNED": "AWAIT_NEW_HEARING",
    "DEFERRED": "AWAIT_NEW_HEARING",
    "ACQUITTED": "CLOSE_NOW",
    "DISMISSED": "CLOSE_NOW",
    "WITHDRAWN": "CLOSE_NOW",
}


@pytest.mark.slow
def test_the_demo_area_has_cases_on_every_route_and_its_orders_end_on_their_dates(database: Database) -> None:
    clock = ManualClock(START)
    engine = build_engine(database, clock)
    engine.deploy(Bundle.from_directory(BUNDLE_DIR), actor="process.owner")
    load_demo(engine, cases=150, months=12)

    with database.transaction(write=False) as session:
        figures = area_figures(engine, session, now=clock.now())
        latest = _latest_outcomes(session)
        open_stages = Counter(session.scalars(select(Case.stage).where(Case.closed_at.is_(None))))
        plans = _plans_by_hand(session, clock.now())

    # Every route has cases, and each case is on the route the policy gives its latest outcome.
    assert all(figures.route_total(route) for route in ROUTE_WORDS), figures.routes
    by_policy: dict[str, Counter[str]] = {}
    for outcome in latest.values():
        by_policy.setdefault(ROUTE_BY_POLICY[outcome], Counter())[outcome] += 1
    assert figures.routes == by_policy
    assert figures.awaiting_outcome == 150 - len(latest)
    given = set(latest.values())
    assert {"FINE", "CONDITIONAL_DISCHARGE", "CUSTODY_UNDER_12_MONTHS"} <= given
    assert {"COMMUNITY_ORDER", "SUSPENDED_SENTENCE", "CUSTODY_12_MONTHS_OR_MORE"} <= given
    assert figures.after_a_new_hearing >= 1
    assert figures.released_on_licence >= 1  # released on licence while the demo's months ran
    # Not one offence for every case: the area's mix.
    assert len(figures.offences) >= 10 and max(figures.offences.values()) < 0.2 * 150
    assert (figures.plans.on_time, figures.plans.late) == (plans["on_time"], plans["late"])
    assert (figures.plans.open_overdue, figures.plans.not_yet_due) == (plans["overdue"], plans["not_yet_due"])
    assert figures.plans.due >= 20
    assert figures.open_by_stage == open_stages
    assert figures.closures.open_past_end == 0 and figures.closures.late == 0
    ended_before = figures.closures.on_the_date

    # The clock runs on four months, nobody working: orders and licences end on their dates.
    for _ in range(120):
        clock.advance(timedelta(days=1))
        engine.fire_due_timers()
    with database.transaction(write=False) as session:
        after = area_figures(engine, session, now=clock.now())
        overdue = _open_past_their_end(session, clock.now().date())
    assert after.closures.on_the_date > ended_before and after.closures.late == 0
    # Every order past its end date has ended (a licence ends at the turn after its open review, so a
    # licence whose review nobody did in these months may still be open).
    assert not [case for case in overdue if "licence" not in case[1]], overdue
    assert after.closures.open_past_end == len(overdue)


def _open_past_their_end(session: Session, today: date) -> list[tuple[str, str, list[str]]]:
    """Open cases past their order's or licence's end date, with the work open on them."""
    found = []
    for case in session.scalars(select(Case).where(Case.closed_at.is_(None))):
        ends = case.order_ends_on or max(
            (o.licence_end_date for o in sentencing.outcomes_of(session, case) if o.licence_end_date),
            default=None,
        )
        if ends is not None and ends <= today:
            work = session.scalars(
                select(HumanTask.element_id).where(
                    HumanTask.business_key == case.crn, HumanTask.state == "open"
                )
            )
            what = "order" if case.order_ends_on else "licence"
            found.append((case.crn, f"{case.stage}, {what} ends {ends}", list(work)))
    return found


def _latest_outcomes(session: Session) -> dict[int, str]:
    latest: dict[int, str] = {}
    for case_id, outcome in session.execute(
        select(CourtOutcome.case_id, CourtOutcome.outcome).order_by(CourtOutcome.id)
    ):
        latest[case_id] = outcome.value
    return latest


def _plans_by_hand(session: Session, now: datetime) -> dict[str, int]:
    counts = Counter[str]()
    for state, due_at, completed_at in session.execute(
        select(HumanTask.state, HumanTask.due_at, HumanTask.completed_at).where(
            HumanTask.element_id.in_(SENTENCE_PLAN_STEPS), HumanTask.state.in_(("open", "completed"))
        )
    ):
        due = due_at.replace(tzinfo=UTC) if due_at.tzinfo is None else due_at
        if state == "completed":
            done = completed_at.replace(tzinfo=UTC) if completed_at.tzinfo is None else completed_at
            counts["on_time" if done <= due else "late"] += 1
        else:
            counts["overdue" if now > due else "not_yet_due"] += 1
    return counts
