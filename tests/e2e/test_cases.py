"""The central register in the browser: finding a case on the register list, reading its record,
and the same pages on a phone-sized screen, each checked with axe-core against WCAG 2.2 AA.
A case kept from someone is not found by searching for it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from .area import ADMIN, INDUCTION, KEPT_CASE, OM, OM_NAME, SPO
from .axe import assert_accessible


def search_register(page: Page, text: str) -> None:
    page.get_by_role("link", name="Cases", exact=True).click()
    expect(page.get_by_role("heading", name="Cases", level=1)).to_be_visible()
    page.get_by_label("Search by name or CRN").fill(text)
    page.get_by_role("button", name="Show cases").click()


def test_an_spo_finds_a_case_on_the_register_and_reads_its_record(sign_in: Callable[..., Page]) -> None:
    page = sign_in(SPO)
    search_register(page, INDUCTION.crn)

    expect(page.get_by_role("heading", name="1 case")).to_be_visible()
    results = page.get_by_role("table", name="1 case")
    expect(results.get_by_role("rowheader")).to_have_count(1)
    expect(results).to_contain_text(OM_NAME)
    # The search is kept in the address, so the list can be bookmarked and shared.
    assert f"q={INDUCTION.crn}" in page.url
    assert_accessible(page)

    results.get_by_role("link", name=INDUCTION.name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(INDUCTION.name)
    expect(page.get_by_text(f"Case {INDUCTION.crn}")).to_be_visible()
    # The true current owner, the task they hold now, and the history that got the case here.
    expect(page.locator("main")).to_contain_text(OM_NAME)
    expect(page.get_by_role("table", name="Open tasks")).to_contain_text("Hold the induction")
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.get_by_role("table", name="Ownership history")).to_contain_text(OM_NAME)
    assert_accessible(page)


def test_the_owner_opens_the_case_from_the_task_they_hold(sign_in: Callable[..., Page]) -> None:
    page = sign_in(OM)
    search_register(page, INDUCTION.name.split()[0])

    page.get_by_role("link", name=INDUCTION.name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(INDUCTION.name)
    page.get_by_role("table", name="Open tasks").get_by_role("link", name="Hold the induction").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hold the induction")


def test_a_case_kept_from_someone_is_not_found_by_searching_the_register(
    sign_in: Callable[..., Page],
) -> None:
    page = sign_in(ADMIN)
    search_register(page, KEPT_CASE.crn)

    expect(page.get_by_role("heading", name="0 cases")).to_be_visible()
    expect(page.get_by_text("No case you can see matches.")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(KEPT_CASE.name)

    search_register(page, KEPT_CASE.name.split()[1])
    expect(page.locator("main")).not_to_contain_text(KEPT_CASE.name)


def fits_the_screen(page: Page) -> None:
    """Nothing makes the whole page scroll sideways (WCAG 1.4.10 reflow): wide tables scroll in their
    own region instead."""
    page_width = page.evaluate("document.documentElement.scrollWidth")
    screen_width = page.evaluate("window.innerWidth")
    assert page_width <= screen_width, f"the page is {page_width}px wide on a {screen_width}px screen"


@pytest.mark.browser_context(viewport={"width": 320, "height": 640})
def test_the_register_and_a_case_record_reflow_on_a_narrow_screen(sign_in: Callable[..., Page]) -> None:
    page = sign_in(SPO)
    page.goto("/cases")
    expect(page.get_by_role("heading", name="Cases", level=1)).to_be_visible()
    fits_the_screen(page)
    assert_accessible(page)

    page.goto(f"/cases/{INDUCTION.crn}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(INDUCTION.name)
    fits_the_screen(page)
    assert_accessible(page)


@pytest.mark.browser_context(viewport={"width": 320, "height": 640})
def test_the_inbox_reflows_on_a_narrow_screen(sign_in: Callable[..., Page]) -> None:
    page = sign_in(SPO)
    expect(page.get_by_role("heading", name="My team's tasks")).to_be_visible()
    fits_the_screen(page)


def test_the_owner_adds_a_registration_from_the_record_after_fixing_the_form(
    sign_in: Callable[..., Page],
) -> None:
    page = sign_in(OM)
    page.goto(f"/cases/{INDUCTION.crn}")
    page.get_by_role("link", name="Add a registration").click()
    expect(page.get_by_role("heading", name="Add a registration", level=1)).to_be_visible()
    page.get_by_label("Notes (optional)").fill("Reported by the police.")
    page.get_by_role("button", name="Add the registration").click()

    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(page.get_by_label("Notes (optional)")).to_have_value("Reported by the police.")
    assert_accessible(page)

    page.get_by_label("Type of registration").select_option(label="Weapons (WEAP)")
    page.get_by_role("button", name="Add the registration").click()

    expect(page.get_by_text("Weapons (WEAP) registered.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text(INDUCTION.name)
    expect(page.get_by_role("region", name="Staff and weapons")).to_contain_text("Weapons")


def test_a_case_administrator_records_a_new_case_identified_at_court(sign_in: Callable[..., Page]) -> None:
    page = sign_in(ADMIN)
    page.get_by_role("link", name="Cases", exact=True).click()
    page.get_by_role("button", name="Record a new case").click()
    expect(page.get_by_role("heading", name="Record a new case", level=1)).to_be_visible()
    assert_accessible(page)

    page.get_by_label("Case reference number (CRN)").fill("X200001")
    page.get_by_label("Forename").fill("Tamsin")
    page.get_by_role("button", name="Record the case").click()

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("There is a problem")
    expect(summary.get_by_role("link", name="Enter surname")).to_be_visible()
    expect(page.get_by_label("Forename")).to_have_value("Tamsin")
    assert_accessible(page)

    page.get_by_label("Surname").fill("Ullock")
    born = page.get_by_role("group", name="Date of birth")
    born.get_by_label("Day").fill("9")
    born.get_by_label("Month").fill("3")
    born.get_by_label("Year").fill("1988")
    page.get_by_label("Court").fill("Kendal Magistrates' Court")
    hearing = page.get_by_role("group", name="Date of the hearing")
    hearing.get_by_label("Day").fill("2")
    hearing.get_by_label("Month").fill("11")
    hearing.get_by_label("Year").fill("2026")
    page.get_by_label("Main offence").fill("Theft from a shop")
    page.get_by_label("FAST").check()
    page.get_by_role("group", name="Remanded in custody").get_by_label("No").check()
    page.get_by_role("button", name="Record the case").click()

    expect(page.get_by_role("alert")).to_contain_text("X200001 is on the register")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tamsin Ullock")
    expect(page.locator("main")).to_contain_text(
        "First details recorded: hearing at Kendal Magistrates' Court"
    )
