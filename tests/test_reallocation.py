"""Policy 7, reallocation: a rise in risk that the owner's grade may not hold (decision table
`owner_grade`) asks the SPO of the case's team to reallocate the case, and the case is on the
monitor's list of cases that need reallocation until it is done; the case and the open tasks its old
owner holds on it move to the new owner, and the old ownership stays on the history."""

from __future__ import annotations

from datetime import timedelta

from casework_area import om_username
from conftest import START
from sqlalchemy import select
from test_process_model import CRN, Case, arrested, case, fire_at, om_engine, to_allocation, under_oversight

from casework import register
from casework.models import OwnershipChange
from casework.vocabulary import RoshLevel
from engine.clock import ManualClock
from tasks import events
from tasks.ownership import who_may_own
from tasks.reallocation import NeedsReallocation, needs_reallocation

__all__ = ["case", "om_engine"]  # fixtures shared with the process model tests

PSO = om_username("north", "PSO", "E")
PO = om_username("north", "PO", "E")


def needing_reallocation(case: Case, manager: str = "spo.north") -> tuple[int, list[NeedsReallocation]]:
    """The monitor's list of the manager's team's cases that need reallocation, and its count."""
    with case.engine.db.transaction(write=False) as session:
        spo = register.find_staff(session, manager)
        return needs_reallocation(session, spo, spo.team_id, case.engine.clock.now())


def caseload(case: Case, username: str) -> int:
    """The open cases `username` owns, as the allocation list counts them."""
    with case.engine.db.transaction(write=False) as session:
        record = register.find_case(session, CRN)
        [person] = [c for c in who_may_own(session, record, record.team) if c.username == username]
        return person.caseload


def owners(case: Case) -> list[tuple[str, bool]]:
    """The case's ownership history, oldest first: (owner, still the owner)."""
    with case.engine.db.transaction(write=False) as session:
        changes = session.scalars(select(OwnershipChange).order_by(OwnershipChange.id)).all()
        return [(c.to_staff.username, c.ended_at is None) for c in changes]


def test_a_psos_case_rising_to_high_rosh_gets_a_reallocation_task_and_leaves_the_psos_caseload_when_done(
    case: Case,
) -> None:
    under_oversight(case, "MEDIUM", "E", grade="PSO")
    arrested(case)  # the PSO now holds an open task on the case: the review after the arrest
    assert case.task("review_risk_after_arrest").assignee == PSO
    assert caseload(case, PSO) == 1
    assert needing_reallocation(case) == (0, [])

    events.change_rosh(case.engine, CRN, RoshLevel.HIGH, by=PSO, source="OASys review")

    task = case.task("choose_new_owner")
    assert (task.title, task.candidate_role, task.assignee) == ("Reallocate the case", "SPO", "spo.north")
    # Due within the allocation standard: 3 working days (the rise on a Monday: due Thursday).
    assert task.due_at is not None and task.due_at.date() == (START + timedelta(days=3)).date()
    total, [listed] = needing_reallocation(case)
    assert total == 1
    assert (listed.crn, listed.owner, listed.held_by) == (CRN, "OM North PSO E", "SPO North")
    assert listed.why == (
        "OM North PSO E (Probation Services Officer) cannot own a case with High RoSH: the grade rules "
        "(policy 7) do not allow a Probation Services Officer to hold it."
    )
    # Nothing has moved yet: the PSO still holds the case and its task.
    assert caseload(case, PSO) == 1
    assert case.task("review_risk_after_arrest").assignee == PSO

    case.complete("choose_new_owner", {"new_owner_staff_id": PO, "reallocation_note": "Joint visit first."})

    assert caseload(case, PSO) == 0
    assert caseload(case, PO) == 1
    assert owners(case) == [(PSO, False), (PO, True)]
    assert case.task("review_risk_after_arrest").assignee == PO
    assert needing_reallocation(case) == (0, [])
    assert "choose_new_owner" not in case.open_elements()


def test_a_probation_officers_case_rising_to_high_rosh_needs_no_reallocation(case: Case) -> None:
    under_oversight(case, "MEDIUM", "E")
    events.change_rosh(case.engine, CRN, RoshLevel.HIGH, by=PO, source="OASys review")
    assert "choose_new_owner" not in case.open_elements()
    assert "oversight_review" in case.open_elements()  # the rise still brings oversight forward
    assert needing_reallocation(case) == (0, [])
    assert owners(case) == [(PO, True)]


def test_a_further_rise_does_not_ask_twice(case: Case) -> None:
    under_oversight(case, "MEDIUM", "E", grade="PSO")
    events.change_rosh(case.engine, CRN, RoshLevel.HIGH, by=PSO, source="OASys review")
    events.change_rosh(case.engine, CRN, RoshLevel.VERY_HIGH, by=PSO, source="OASys review")
    assert case.open_elements().count("choose_new_owner") == 1
    assert needing_reallocation(case)[0] == 1


def test_an_oversight_review_that_finds_high_rosh_on_a_psos_case_asks_for_reallocation(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "MEDIUM", "E", grade="PSO")
    fire_at(case.engine, clock, case.review_due())
    case.review("HIGH")
    assert case.task("choose_new_owner").assignee == "spo.north"
    assert needing_reallocation(case)[0] == 1


def test_a_psos_case_assessed_high_before_supervision_is_reallocated_once_under_management(
    case: Case,
) -> None:
    to_allocation(case, "MEDIUM")
    case.allocate("E", "PSO")
    case.induct()
    case.assess("HIGH")  # OASys finds the risk higher than the screening did
    case.countersign_all()
    case.write_plans()
    assert case.task("choose_new_owner").assignee == "spo.north"


def test_the_case_stays_on_the_list_until_the_spo_reallocates_it(case: Case, clock: ManualClock) -> None:
    under_oversight(case, "MEDIUM", "E", grade="PSO")
    events.change_rosh(case.engine, CRN, RoshLevel.HIGH, by=PSO, source="OASys review")
    fire_at(case.engine, clock, START + timedelta(days=10))  # overdue now, still on the list
    total, [listed] = needing_reallocation(case)
    assert (total, listed.crn, listed.overdue) == (1, CRN, True)
    assert needing_reallocation(case, "spo.south") == (0, [])  # another team's SPO does not see it
    case.complete("choose_new_owner", {"new_owner_staff_id": PO})
    assert needing_reallocation(case) == (0, [])
