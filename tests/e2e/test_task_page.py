"""The task page in a real browser: an Offender Manager completes the induction after a validation
error (nothing typed is lost), saves a draft and finds it again, and the page meets WCAG 2.2 AA."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlalchemy import select

from engine.models import HumanTask
from webui import riskflow

from .area import INDUCTION, OM
from .axe import assert_accessible
from .conftest import LiveServer

INDUCTION_TASK = "Hold the induction"


def open_induction(sign_in: Callable[..., Page]) -> Page:
    page = sign_in(OM)
    page.get_by_role("table", name="My tasks").get_by_role("link", name=INDUCTION_TASK).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(INDUCTION_TASK)
    return page


def task_row(live_server: LiveServer) -> HumanTask:
    with live_server.database.transaction(write=False) as session:
        row = session.get(HumanTask, live_server.task_id("induction"))
        assert row is not None
        session.expunge(row)
        return row


def test_an_offender_manager_completes_a_task_after_a_validation_error(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    page = open_induction(sign_in)
    page.get_by_label("Notes").fill("Seen at the office; reporting instructions given.")
    page.get_by_role("button", name="Complete task").click()

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("There is a problem")
    expect(summary.get_by_role("link")).to_have_count(2)  # the date and the outcome
    expect(page.get_by_label("Notes")).to_have_value("Seen at the office; reporting instructions given.")
    assert task_row(live_server).state == "open"
    assert_accessible(page)

    page.get_by_label("Day").fill("2")  # the test clock's day: an induction cannot be held in the future
    page.get_by_label("Month").fill("11")
    page.get_by_label("Year").fill("2026")
    page.get_by_label("Attended", exact=True).check()
    page.get_by_role("button", name="Complete task").click()

    expect(page.get_by_role("alert")).to_contain_text(INDUCTION_TASK)
    row = task_row(live_server)
    assert (row.state, row.completed_by) == ("completed", OM)


def test_a_draft_is_kept_and_shown_again(sign_in: Callable[..., Page], live_server: LiveServer) -> None:
    page = open_induction(sign_in)
    page.get_by_label("Notes").fill("Half written")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("alert")).to_be_visible()

    page.goto(f"/tasks/{live_server.task_id('induction')}")
    expect(page.get_by_label("Notes")).to_have_value("Half written")
    assert task_row(live_server).state == "open"


def test_the_task_page_is_accessible_and_shows_the_case_beside_the_form(sign_in: Callable[..., Page]) -> None:
    page = open_induction(sign_in)
    expect(page.get_by_text(INDUCTION.crn).first).to_be_visible()
    assert_accessible(page)


def test_an_offender_manager_completes_an_oasys_for_a_person_with_no_registrations(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    today = live_server.clock.now().date()
    page = open_induction(sign_in)
    page.get_by_label("Day").fill(str(today.day))
    page.get_by_label("Month").fill(str(today.month))
    page.get_by_label("Year").fill(str(today.year))
    page.get_by_label("Attended", exact=True).check()
    page.get_by_role("button", name="Complete task").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("OASys")

    registrations = page.get_by_role("group", name="Registrations the case has now")
    registrations.get_by_label("Weapons (WEAP)").check()
    registrations.get_by_label("No registrations apply").check()
    # GOV.UK's "None" answer takes back what was ticked before it: the two cannot both be sent.
    expect(registrations.get_by_label("Weapons (WEAP)")).not_to_be_checked()
    page.get_by_role("button", name="Complete task").click()

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("There is a problem")
    expect(summary).not_to_contain_text("registrations", ignore_case=True)  # "None" is an answer, not a gap
    expect(page.get_by_label("No registrations apply")).to_be_checked()  # kept as entered
    assert_accessible(page)

    page.get_by_label("Day").fill(str(today.day))
    page.get_by_label("Month").fill(str(today.month))
    page.get_by_label("Year").fill(str(today.year))
    for group in ("children", "a known adult", "staff", "prisoners"):
        page.get_by_role("group", name=f"Risk of serious harm to {group}").get_by_label("Not at risk").check()
    public = page.get_by_role("group", name="Risk of serious harm to the public")
    public.get_by_label("Low", exact=True).check()
    page.get_by_role("group", name="Likelihood of reoffending").get_by_label("Low", exact=True).check()
    summary_box = page.get_by_label("RoSH summary", exact=False)
    summary_box.fill("Low risk to the public; no known victims.")
    expect(page.get_by_text("You have 3,959 characters remaining")).to_be_visible()
    page.get_by_role("button", name="Complete task").click()

    expect(page.get_by_role("alert")).to_contain_text("complete")
    with live_server.database.transaction(write=False) as session:
        oasys = session.scalars(
            select(HumanTask).where(
                HumanTask.business_key == INDUCTION.crn, HumanTask.element_id == "assess_oasys"
            )
        ).one()
        assert (oasys.state, oasys.completed_by) == ("completed", OM)
    data = riskflow(live_server.app).engine.instance_data(oasys.instance_id)
    assert data["current_registrations"] == []
