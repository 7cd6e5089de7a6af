"""Staff records kept (policy 7 and 11): the experience band derives from the qualification date and
senior-practitioner post, and the oversight plan reads it on the review's date; a leaver, a leaving
date and a long absence ask the SPO to reallocate each case the person owns; the record's page shows
every change with who made it, when, and the values before and after."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from casework_area import om_username
from conftest import START
from sqlalchemy import select
from test_process_model import CRN, Case, case, fire_at, om_engine, under_oversight

from casework import register
from casework.models import Staff
from casework.staff_record import band_on
from casework.vocabulary import ExperienceBand, Grade
from engine.clock import ManualClock
from engine.runtime import ProcessEngine
from tasks import staff_admin
from tasks.reallocation import LONG_ABSENCE_DAYS
from webui.accounts import SignInRecords

__all__ = ["case", "om_engine"]  # fixtures shared with the process model tests

NEWLY_QUALIFIED_PO = om_username("north", "PO", "N")
PSO = om_username("north", "PSO", "E")
SECOND_CRN = "X200002"


def interval_weeks(case: Case) -> int:
    """The weeks between oversight reviews by the case's plan on the register."""
    with case.engine.db.transaction(write=False) as session:
        plan = register.current_oversight_plan(session, register.find_case(session, case.crn))
        assert plan is not None
        return plan.interval_weeks


def record_qualified(engine: ProcessEngine, username: str, qualified_on: date) -> None:
    with engine.db.transaction() as session:
        staff_admin.change_staff(
            session, username, qualified_on=qualified_on, by="aco.one", now=engine.clock.now()
        )


def reallocations(*cases: Case) -> list[int]:
    """How many open "Reallocate the case" tasks each case has."""
    return [case.open_elements().count("choose_new_owner") for case in cases]


def second_case(engine: ProcessEngine) -> Case:
    """Another case the same PSO holds, under oversight."""
    other = Case(engine, SECOND_CRN)
    under_oversight(other, "MEDIUM", "E", grade=Grade.PSO)
    return other


# ----------------------------------------------------------------------------- the band on the day


def test_the_band_derives_from_the_qualification_date_and_the_senior_practitioner_post() -> None:
    officer = Staff(
        username="a.b",
        display_name="A B",
        grade=Grade.PO,
        started_on=date(2020, 1, 6),
        qualified_on=date(2025, 3, 1),
    )
    assert band_on(officer, date(2026, 2, 28)) is ExperienceBand.NEWLY_QUALIFIED
    assert band_on(officer, date(2026, 3, 1)) is ExperienceBand.EXPERIENCED
    officer.senior_practitioner_since = date(2026, 6, 1)
    assert band_on(officer, date(2026, 5, 31)) is ExperienceBand.EXPERIENCED
    assert band_on(officer, date(2026, 6, 1)) is ExperienceBand.SENIOR
    new_pso = Staff(username="c.d", display_name="C D", grade=Grade.PSO, started_on=date(2026, 1, 5))
    assert band_on(new_pso, date(2026, 12, 31)) is ExperienceBand.NEWLY_QUALIFIED
    assert band_on(new_pso, date(2027, 1, 5)) is ExperienceBand.EXPERIENCED
    trainee = Staff(username="e.f", display_name="E F", grade=Grade.TRAINEE_PO, started_on=date(2015, 1, 5))
    assert band_on(trainee, date(2026, 1, 5)) is ExperienceBand.NEWLY_QUALIFIED


def test_an_officer_who_qualified_since_allocation_gets_the_experienced_oversight_interval_at_the_next_review(
    case: Case, clock: ManualClock
) -> None:
    # Qualified 340 days before allocation: newly qualified then, experienced within the first interval.
    record_qualified(case.engine, NEWLY_QUALIFIED_PO, START.date() - timedelta(days=340))
    under_oversight(case, "HIGH", "N")
    assert interval_weeks(case) == 4  # high RoSH, newly qualified: every 4 weeks

    fire_at(case.engine, clock, case.review_due())
    case.review("HIGH")

    assert interval_weeks(case) == 6  # high RoSH, experienced on the review's date: every 6 weeks


def test_an_officer_still_newly_qualified_at_the_review_keeps_the_newly_qualified_interval(
    case: Case, clock: ManualClock
) -> None:
    record_qualified(case.engine, NEWLY_QUALIFIED_PO, START.date() - timedelta(days=200))
    under_oversight(case, "HIGH", "N")
    fire_at(case.engine, clock, case.review_due())
    case.review("HIGH")
    assert interval_weeks(case) == 4


# ------------------------------------------------------------------------- leavers and absences


def test_a_leavers_cases_each_get_a_reallocation_task(case: Case) -> None:
    under_oversight(case, "MEDIUM", "E", grade=Grade.PSO)
    second = second_case(case.engine)
    assert reallocations(case, second) == [0, 0]

    with case.engine.db.transaction() as session:
        done = staff_admin.deactivate(
            session,
            PSO,
            SignInRecords(case.engine.clock),
            by="aco.one",
            now=case.engine.clock.now(),
            cases=case.engine,
        )

    assert done.cases_to_reallocate == 2
    assert reallocations(case, second) == [1, 1]
    task = second.task("choose_new_owner")
    assert (task.title, task.assignee) == ("Reallocate the case", "spo.north")
    with case.engine.db.transaction(write=False) as session:
        (latest, *_) = staff_admin.history(session, PSO)
    assert (latest.what, latest.by) == ("Deactivated (left)", "aco.one")
    assert latest.note == "2 cases asked to be reallocated"


def test_a_leaving_date_asks_for_reallocation_before_they_go_and_they_leave_the_day_after(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "MEDIUM", "E", grade=Grade.PSO)
    last_day = clock.now().date() + timedelta(days=14)
    with case.engine.db.transaction() as session:
        asked = staff_admin.set_leaving_date(
            session, PSO, last_day, by="aco.one", now=clock.now(), cases=case.engine
        )
    assert asked == 1 and reallocations(case) == [1]

    with case.engine.db.transaction() as session:
        sign_in = SignInRecords(case.engine.clock)
        assert staff_admin.deactivate_leavers(session, sign_in, by="system", now=clock.now()) == []
    clock.set(clock.now() + timedelta(days=15))
    with case.engine.db.transaction() as session:
        assert staff_admin.deactivate_leavers(session, sign_in, by="system", now=clock.now()) == [PSO]
        assert not register.find_staff(session, PSO).active


@pytest.mark.parametrize(
    ("days", "asked"),
    [(LONG_ABSENCE_DAYS + 7, 1), (LONG_ABSENCE_DAYS + 1, 1), (LONG_ABSENCE_DAYS, 0), (10, 0)],
)
def test_a_long_absence_asks_for_reallocation_a_short_one_does_not(case: Case, days: int, asked: int) -> None:
    under_oversight(case, "MEDIUM", "E", grade=Grade.PSO)
    first = case.engine.clock.now().date()
    with case.engine.db.transaction() as session:
        done = staff_admin.record_absence(
            session,
            PSO,
            starts_on=first,
            ends_on=first + timedelta(days=days - 1),
            reason="SICKNESS",
            by="aco.one",
            now=case.engine.clock.now(),
            cases=case.engine,
        )
    assert (done.long, done.cases_to_reallocate) == (bool(asked), asked)
    assert reallocations(case) == [asked]
    with case.engine.db.transaction(write=False) as session:
        owner = register.find_case(session, CRN).owner
        assert owner is not None and owner.username == PSO  # nothing moves until the SPO chooses


def test_bad_absences_are_refused_with_what_to_fix_and_nothing_is_recorded(case: Case) -> None:
    under_oversight(case, "MEDIUM", "E", grade=Grade.PSO)
    today = case.engine.clock.now().date()
    with pytest.raises(staff_admin.StaffAdminRefused) as refused, case.engine.db.transaction() as session:
        staff_admin.record_absence(
            session,
            PSO,
            starts_on=today,
            ends_on=today - timedelta(days=1),
            reason="HOLIDAY",
            by="aco.one",
            now=case.engine.clock.now(),
            cases=case.engine,
        )
    assert refused.value.problems == {
        "reason": "Choose why they are away: leave, sickness, training",
        "ends_on": "The last day of the absence must be on or after its first day",
    }
    with case.engine.db.transaction(write=False) as session:
        assert staff_admin.absences(session, register.find_staff(session, PSO)) == []


# ------------------------------------------------------------------------------------ the history


def test_the_history_shows_each_change_with_who_when_before_and_after(case: Case, clock: ManualClock) -> None:
    engine = case.engine
    record_qualified(engine, NEWLY_QUALIFIED_PO, date(2025, 12, 1))
    clock.set(clock.now() + timedelta(hours=1))
    with engine.db.transaction() as session:
        staff_admin.change_staff(
            session, NEWLY_QUALIFIED_PO, senior_practitioner_since=START.date(), by="aco.two", now=clock.now()
        )
        staff_admin.record_absence(
            session,
            NEWLY_QUALIFIED_PO,
            starts_on=date(2026, 12, 7),
            ends_on=date(2026, 12, 11),
            reason="TRAINING",
            by="aco.two",
            now=clock.now(),
        )
    with engine.db.transaction(write=False) as session:
        history = staff_admin.history(session, NEWLY_QUALIFIED_PO)
        person = session.scalar(select(Staff).where(Staff.username == NEWLY_QUALIFIED_PO))
        assert person is not None and person.experience is ExperienceBand.SENIOR

    absence, post, qualified = history
    assert (absence.what, absence.by, absence.note) == (
        "Absence recorded",
        "aco.two",
        "Training, 7 December 2026 to 11 December 2026",
    )
    assert (post.by, post.at) == ("aco.two", clock.now())
    assert ("Senior practitioner from", "None", "2 November 2026") in post.changes
    assert ("Experience band today", "N", "S") in post.changes
    assert (qualified.what, qualified.by, qualified.at) == ("Record changed", "aco.one", START)
    assert qualified.changes == [("Qualified", "None", "1 December 2025")]
