"""Changing my password in a real browser: from the link beside "Sign out", each mistake shown under
its own field, then success; and someone signed in with a temporary password is kept on the
change-password page until they have chosen their own. axe checks the page in each state."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from playwright.sync_api import Page, expect
from webui_client import PASSWORD

from engine.clock import SystemClock
from tasks.staff_admin import reset_password
from webui.accounts import SignInRecords

from .area import OM
from .axe import assert_accessible
from .conftest import LiveServer

NEW_PASSWORD = "kettle orbit lantern"


def fill_in(page: Page, current: str, new: str, again: str) -> None:
    page.get_by_label("Current password").fill(current)
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("New password again").fill(again)
    page.get_by_role("button", name="Change password").click()


def test_a_person_changes_their_password_from_the_link_beside_sign_out(
    sign_in: Callable[..., Page],
) -> None:
    page = sign_in(OM)
    account = page.get_by_role("region", name="Your account")
    account.get_by_role("link", name="Change your password").click()

    expect(page).to_have_title("Change your password – riskflow")
    assert_accessible(page)

    fill_in(page, PASSWORD, "too short", "too short")
    expect(page).to_have_title("Error: Change your password – riskflow")
    expect(page.get_by_label("New password", exact=True)).to_have_accessible_description(
        re.compile(r"^Error:\s+Your password must be at least 12 characters long\.")
    )
    expect(page.locator(".govuk-error-summary")).to_be_focused()
    assert_accessible(page)

    fill_in(page, PASSWORD, NEW_PASSWORD, "kettle orbit lanterns")
    expect(page.get_by_label("New password again")).to_have_accessible_description(
        "Error: The two new passwords are not the same. Type the new password twice."
    )
    expect(page.get_by_label("New password", exact=True)).not_to_have_attribute(
        "aria-describedby", "new-error"
    )
    assert_accessible(page)

    fill_in(page, PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    expect(page).to_have_title("Inbox – riskflow")
    expect(page.get_by_role("alert")).to_contain_text("Your password has been changed.")
    assert_accessible(page)

    page.get_by_role("button", name="Sign out").click()
    sign_in(OM, NEW_PASSWORD)
    expect(page.get_by_role("heading", name="My tasks")).to_be_visible()


def test_someone_with_a_temporary_password_must_change_it_before_reaching_their_inbox(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    with live_server.database.transaction() as session:
        # Real time: the live server times sign-ins, and so temporary passwords, by the wall clock.
        temporary = reset_password(
            session, OM, SignInRecords(SystemClock()), by="service.desk", now=datetime.now(UTC)
        )

    page = sign_in(OM, temporary)

    expect(page).to_have_url("/account/password")
    expect(page.get_by_text("You signed in with a temporary password.")).to_be_visible()
    assert_accessible(page)
    for elsewhere in ("/", "/cases"):
        page.goto(elsewhere)
        expect(page).to_have_url("/account/password")
    expect(page.get_by_text("Hold the induction")).to_have_count(0)

    fill_in(page, temporary, NEW_PASSWORD, NEW_PASSWORD)

    expect(page).to_have_title("Inbox – riskflow")
    expect(page.get_by_role("table", name="My tasks").get_by_text("Hold the induction")).to_be_visible()
