"""Hand-offs in a real browser: the SPO chairing the risk meeting sees the risk consultant's advice,
the report's screening and proposal and the sentence above the form, and the page meets WCAG 2.2 AA."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlalchemy import select
from test_process_model import Case

from casework.models import Case as CaseRecord
from engine.runtime import Actor
from tasks.wiring import build_engine

from .area import SPO, Person
from .axe import assert_accessible
from .conftest import LiveServer

ADVISED = Person("N200010", "Tamsin Greenhow")
CONSULTANT = Actor("risk.consultant", frozenset({"RISK_CONSULTANT"}))
ADVICE = "Raise to very high: the victim lives two streets away."


def advised_case(live_server: LiveServer) -> int:
    """A case screened high RoSH, sentenced, and advised on by the risk consultant: its risk meeting
    waits in the SPOs' pool. Returns the meeting's task id."""
    case = Case(build_engine(live_server.database, live_server.clock), ADVISED.crn)
    case.start()
    case.screen("HIGH", mappa_category="CAT2", registrations=["RCPR"])
    case.sentenced("SUSPENDED_SENTENCE")
    advice = case.task("give_risk_advice").id
    case.engine.claim(advice, CONSULTANT)
    case.engine.complete_task(
        advice, CONSULTANT, {"rosh_view": "VERY_HIGH", "advice": ADVICE, "will_attend": True}
    )
    with live_server.database.transaction() as session:
        record = session.scalars(select(CaseRecord).where(CaseRecord.crn == ADVISED.crn)).one()
        record.forename, record.surname = ADVISED.name.split()
    return case.task("hold_risk_meeting").id


def test_the_spos_risk_meeting_page_shows_the_consultants_advice(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    meeting = advised_case(live_server)
    page = sign_in(SPO)
    page.get_by_role("table", name="To claim").get_by_role("link", name="Hold the risk meeting").click()
    page.get_by_role("button", name="Claim this task").click()

    earlier = page.get_by_role("region", name="What earlier steps recorded")
    advice = earlier.locator(".govuk-summary-card").filter(has_text="Give risk advice for the meeting")
    expect(advice).to_contain_text("Recorded by Idris Fenwick")
    expect(advice).to_contain_text(ADVICE)
    expect(advice).to_contain_text("Very high")
    expect(earlier).to_contain_text("Child Protection (RCPR)")
    expect(earlier).to_contain_text("Suspended sentence")
    expect(page.locator("#task-form")).to_be_visible()
    assert page.url.endswith(f"/tasks/{meeting}")
    assert_accessible(page)
