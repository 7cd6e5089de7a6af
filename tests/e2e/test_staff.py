"""Running the staff list in a real browser: an ACO goes from the Staff link to the list, adds a new
Offender Manager (first without the date they qualified, which is refused and said at the top and at
the field), is shown the temporary password once, and the new starter signs in with it and is asked to
choose their own; an ACO records an officer's long absence, which asks for their cases to be
reallocated and shows in the record's history. axe checks each page."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from .area import ACO, OM
from .axe import assert_accessible


def test_an_aco_adds_a_member_of_staff_who_signs_in_with_the_temporary_password(
    sign_in: Callable[..., Page],
) -> None:
    page = sign_in(ACO)
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Staff").click()

    expect(page.get_by_role("heading", name="Staff", level=1)).to_be_visible()
    expect(page.locator("#staff-list")).to_contain_text("Morwenna Tallis")
    assert_accessible(page)

    page.get_by_role("button", name="Add a member of staff").click()
    expect(page.get_by_role("heading", name="Add a member of staff")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Username").fill("tamsin.rook")
    page.get_by_label("Name", exact=True).fill("Tamsin Rook")
    page.get_by_label("Grade").select_option("PO")
    page.get_by_label("Team").select_option("NORTH")
    page.get_by_label("Line manager").select_option("spo.north")
    page.get_by_role("button", name="Add them and make a temporary password").click()

    # No qualification date for a probation officer: refused, with what to fix, and nothing added.
    expect(page).to_have_title("Error: Add a member of staff – riskflow")
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Enter the date they qualified as a probation officer")
    expect(page.get_by_label("Username")).to_have_value("tamsin.rook")
    assert_accessible(page)
    summary.get_by_role("link", name=re.compile("Enter the date they qualified")).click()
    expect(page.locator("#qualified_on-day")).to_be_focused()

    page.locator("#qualified_on-day").fill("14")
    page.locator("#qualified_on-month").fill("7")
    page.locator("#qualified_on-year").fill("2026")
    page.get_by_role("button", name="Add them and make a temporary password").click()

    expect(page.get_by_role("heading", name="Tamsin Rook added")).to_be_visible()
    expect(page.get_by_text("This is the only time the password is shown.")).to_be_visible()
    temporary = page.locator("#temporary-password").inner_text()
    assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", temporary)
    assert_accessible(page)

    page.get_by_role("link", name="Go to Tamsin Rook's record").click()
    expect(page.locator("#sign-in")).to_contain_text("Temporary password")
    expect(page.locator("#experience")).to_contain_text("Newly qualified, or a trainee (N)")
    assert temporary not in page.content()
    assert_accessible(page)

    page.get_by_role("button", name="Sign out").click()
    sign_in("tamsin.rook", temporary)
    expect(page).to_have_url(re.compile(r"/account/password$"))
    expect(page.get_by_text("You signed in with a temporary password.")).to_be_visible()


def test_an_aco_records_a_long_absence_and_the_officers_cases_ask_to_be_reallocated(
    sign_in: Callable[..., Page],
) -> None:
    page = sign_in(ACO)
    page.goto(f"/staff/{OM}")
    expect(page.locator("#absences")).to_contain_text("No absences recorded.")
    assert_accessible(page)

    # The last day before the first: refused, with what to fix, and nothing recorded.
    page.get_by_role("radio", name="Sickness").check()
    for field, values in (("starts_on", ("2", "11", "2026")), ("ends_on", ("1", "11", "2026"))):
        for part, value in zip(("day", "month", "year"), values, strict=True):
            page.locator(f"#{field}-{part}").fill(value)
    page.get_by_role("button", name="Record the absence").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("The last day of the absence must be on or after its first day")
    expect(page.get_by_role("radio", name="Sickness")).to_be_checked()
    assert_accessible(page)

    page.locator("#ends_on-day").fill("11")
    page.locator("#ends_on-month").fill("12")
    page.get_by_role("button", name="Record the absence").click()

    expect(page.get_by_text("Absence recorded: 40 days, longer than 28")).to_be_visible()
    expect(page.locator("#absences")).to_contain_text("Sickness")
    expect(page.locator("#absences")).to_contain_text("11 December 2026")
    expect(page.locator("#availability")).to_contain_text("is away (sickness)")
    expect(page.locator("#history")).to_contain_text(
        "Absence recorded: Sickness, 2 November 2026 to 11 December 2026"
    )
    assert_accessible(page)
