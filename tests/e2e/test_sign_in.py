"""Signing in and out in a real browser: the inbox after a good password, the GOV.UK error summary
after a wrong one, and a signed-out session that no longer opens the inbox."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from .area import OM, OM_NAME


def test_an_offender_manager_signs_in_and_sees_my_tasks(sign_in: Callable[..., Page]) -> None:
    page = sign_in(OM)

    expect(page).to_have_title("Inbox – riskflow")
    expect(page.get_by_text(f"Signed in as {OM_NAME} (Probation Officer)")).to_be_visible()
    my_tasks = page.get_by_role("table", name="My tasks")
    expect(my_tasks.get_by_role("row")).to_have_count(2)  # the header and the one task
    expect(my_tasks.get_by_role("rowheader", name="Hold the induction")).to_be_visible()


def test_a_wrong_password_shows_the_error_summary_and_keeps_the_username(
    sign_in: Callable[..., Page],
) -> None:
    page = sign_in(OM, "not the password")

    expect(page).to_have_title("Error: Sign in – riskflow")
    summary = page.locator(".govuk-error-summary")
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    # GOV.UK Frontend's script moves focus to the summary, so a screen reader announces it first.
    expect(summary).to_be_focused()
    expect(page.get_by_label("Username")).to_have_value(OM)
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_label("Username")).to_have_accessible_description(
        "Error: The username or password is not right. Check them and try again. After several wrong "
        "tries, wait a minute between tries.",
    )
    summary.get_by_role("link", name="The username or password is not right").click()
    expect(page.get_by_label("Username")).to_be_focused()


def test_an_empty_form_names_each_missing_field(page: Page) -> None:
    page.goto("/sign-in")
    page.get_by_role("button", name="Sign in").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary.get_by_role("link")).to_have_text(["Enter your username", "Enter your password"])
    summary.get_by_role("link", name="Enter your password").click()
    expect(page.get_by_label("Password")).to_be_focused()


def test_signing_out_ends_the_session(sign_in: Callable[..., Page]) -> None:
    page = sign_in(OM)
    expect(page.get_by_role("heading", name="My tasks")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url("/sign-in")
    expect(page.get_by_role("alert")).to_contain_text("You have signed out.")
    page.goto("/")
    expect(page).to_have_url("/sign-in?next=%2F")
    expect(page.get_by_text("Sign in to continue.")).to_be_visible()
    expect(page.get_by_text("Hold the induction")).to_have_count(0)


def test_a_signed_out_visitor_is_sent_to_sign_in_and_then_where_they_were_going(
    sign_in: Callable[..., Page],
) -> None:
    page = sign_in(OM)
    page.get_by_role("button", name="Sign out").click()
    page.goto("/?crn=N200001")
    page.get_by_label("Username").fill(OM)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url("/?crn=N200001")
    expect(page.get_by_text("Showing only the tasks on N200001.")).to_be_visible()


def test_the_skip_link_is_the_first_stop_for_the_keyboard_and_leads_to_the_main_content(
    sign_in: Callable[..., Page],
) -> None:
    page = sign_in(OM)
    expect(page.get_by_role("heading", name="My tasks")).to_be_visible()

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()  # shown when focused, though hidden until then
    page.keyboard.press("Enter")

    expect(page.locator("main")).to_be_focused()
