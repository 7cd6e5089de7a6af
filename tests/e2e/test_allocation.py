"""Allocation from the team's list in a real browser: the SPO sees only the officers the grade rules
allow for a High RoSH case, each with grade, experience band and open cases, chooses one and the case
is allocated; the page meets WCAG 2.2 AA."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlalchemy import select
from test_process_model import Case, to_allocation

from casework.models import Case as CaseRecord
from tasks.wiring import build_engine

from .area import SPO, Person
from .axe import assert_accessible
from .conftest import LiveServer

HIGH_RISK = Person("N200020", "Sorrel Haverthwaite")


def high_risk_case_to_allocate(live_server: LiveServer) -> int:
    """A High RoSH case sentenced to supervision, waiting for the SPO to allocate it."""
    case = Case(build_engine(live_server.database, live_server.clock), HIGH_RISK.crn)
    to_allocation(case, "HIGH")
    with live_server.database.transaction() as session:
        record = session.scalars(select(CaseRecord).where(CaseRecord.crn == HIGH_RISK.crn)).one()
        record.forename, record.surname = HIGH_RISK.name.split()
    return case.task("allocate_owner").id


def test_the_spo_allocates_a_high_rosh_case_from_the_teams_eligible_officers(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    task = high_risk_case_to_allocate(live_server)
    page = sign_in(SPO)
    page.goto(f"{live_server.url}/tasks/{task}")
    page.get_by_role("button", name="Claim this task").click()

    officers = page.get_by_role("group", name="Offender Manager")
    expect(officers.get_by_role("radio")).to_have_count(3)
    expect(officers).to_contain_text("OM North PO E")
    expect(officers).to_contain_text("Probation Officer, Experienced, 1 open case")
    expect(officers).to_contain_text("OM North SENIOR_PRACTITIONER S")
    expect(officers).not_to_contain_text("PSO")
    expect(officers).not_to_contain_text("South")
    assert_accessible(page)

    officers.get_by_role("radio", name="OM North PO E").check()
    page.get_by_role("group", name="Tier").get_by_role("radio", name="3").check()
    page.get_by_role("button", name="Complete task").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("is complete for N200020")
