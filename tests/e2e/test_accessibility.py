"""The sign-in and inbox pages meet WCAG 2.2 AA as far as axe-core can tell, in each state a person
meets them in: empty, with errors, with tasks to release and to claim, and with the team's tasks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from .area import ADMIN, OM, SPO
from .axe import assert_accessible


def test_the_sign_in_page_is_accessible(page: Page) -> None:
    page.goto("/sign-in")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to riskflow")

    assert_accessible(page)


def test_the_sign_in_page_with_its_errors_is_accessible(page: Page) -> None:
    page.goto("/sign-in")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()

    assert_accessible(page)


def test_an_offender_managers_inbox_is_accessible(sign_in: Callable[..., Page]) -> None:
    page = sign_in(OM)
    expect(page.get_by_role("heading", name="My tasks")).to_be_visible()

    assert_accessible(page)


def test_a_case_administrators_inbox_with_work_to_claim_is_accessible(sign_in: Callable[..., Page]) -> None:
    page = sign_in(ADMIN)
    page.get_by_role("button", name="Claim Record the first details").click()
    expect(page.get_by_text("Task claimed")).to_be_visible()

    assert_accessible(page)


def test_an_spos_inbox_with_the_teams_tasks_is_accessible(sign_in: Callable[..., Page]) -> None:
    page = sign_in(SPO)
    expect(page.get_by_role("heading", name="My team's tasks")).to_be_visible()

    assert_accessible(page)


def test_an_error_page_is_accessible(sign_in: Callable[..., Page]) -> None:
    page = sign_in(OM)
    page.goto("/no-such-page")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not Found")

    assert_accessible(page)


@pytest.mark.browser_context(viewport={"width": 320, "height": 640})
def test_the_inbox_on_a_narrow_screen_is_accessible(sign_in: Callable[..., Page]) -> None:
    page = sign_in(SPO)
    expect(page.get_by_role("heading", name="My team's tasks")).to_be_visible()

    assert_accessible(page)


def test_the_processes_page_is_accessible(sign_in: Callable[..., Page]) -> None:
    page = sign_in(SPO)
    page.get_by_role("link", name="Processes").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()

    assert_accessible(page)
