"""Who may see a case, in the browser: the team's SPO goes from the case record to its access lists,
puts an officer on the exclusion list with a reason and finds the change in the history. The page is
checked with axe-core against WCAG 2.2 AA empty, with an error, and filled in."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from .area import INDUCTION, SPO
from .axe import assert_accessible
from .test_cases import search_register

EXCLUDED = "risk.consultant"
EXCLUDED_NAME = "Idris Fenwick"
REASON = "Supervised a member of the family."


def test_the_teams_spo_excludes_an_officer_from_the_case_record_and_sees_it_in_the_history(
    sign_in: Callable[..., Page],
) -> None:
    page = sign_in(SPO)
    search_register(page, INDUCTION.crn)
    page.get_by_role("link", name=INDUCTION.name).click()
    page.get_by_role("link", name="Who may see the case").click()

    expect(page.get_by_role("heading", name="Who may see the case", level=1)).to_be_visible()
    expect(page.locator("#exclusion-list")).to_have_text("Exclusion list: nobody.")
    expect(page.get_by_text("No changes yet.")).to_be_visible()
    assert_accessible(page)

    # No reason: refused, said at the top and at the field, and nothing changes.
    page.get_by_role("radio", name="Exclusion list").check()
    page.get_by_label("Person", exact=True).select_option(EXCLUDED)
    page.get_by_role("button", name="Add to the list").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Say why you are making this change")
    expect(page).to_have_title(f"Error: Who may see the case: {INDUCTION.crn} – riskflow")
    expect(page.get_by_text("No changes yet.")).to_be_visible()
    assert_accessible(page)

    summary.get_by_role("link", name="Say why you are making this change").click()
    reason = page.get_by_label("Reason").first
    expect(reason).to_be_focused()
    expect(reason).to_have_accessible_description(re.compile(r"Error:\s+Say why you are making this change"))
    reason.fill(REASON)
    assert_accessible(page)
    page.get_by_role("button", name="Add to the list").click()

    expect(page.get_by_text("The access lists have been changed.")).to_be_visible()
    excluded = page.get_by_role("table", name="Exclusion list")
    expect(excluded).to_contain_text(EXCLUDED_NAME)
    history = page.get_by_role("table", name="Every change to who may see the case, newest first")
    newest = history.get_by_role("row").nth(1)
    for shown in (SPO, f"{EXCLUDED_NAME} added to the exclusion list", REASON):
        expect(newest).to_contain_text(shown)
    assert_accessible(page)
