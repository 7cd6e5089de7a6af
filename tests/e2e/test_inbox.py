"""The inbox in a real browser: claiming and releasing pool work, the SPO's view of the team, CSRF on
every form, and need-to-know: a case someone may not see gives them nothing, whatever URL they try."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from engine.models import HumanTask

from .area import ADMIN, ADMIN_SOUTH, INDUCTION, KEPT_CASE, NEW_CASE, OM_NAME, SPO, Person
from .conftest import LiveServer

FIRST_DETAILS = "Record the first details"


def holder(live_server: LiveServer, task: str) -> str | None:
    """Who has claimed the task, as the database says."""
    with live_server.database.transaction(write=False) as session:
        row = session.get(HumanTask, live_server.task_id(task))
        assert row is not None
        return row.claimed_by


def test_a_case_administrator_claims_a_pool_task_and_releases_it(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    page = sign_in(ADMIN)
    to_claim = page.get_by_role("table", name="To claim")
    expect(to_claim.get_by_role("rowheader")).to_have_text([FIRST_DETAILS])

    to_claim.get_by_role("button", name=f"Claim {FIRST_DETAILS} for {NEW_CASE.crn}").click()

    expect(page.get_by_role("alert")).to_contain_text("Task claimed: it is now in My tasks.")
    mine = page.get_by_role("table", name="My tasks")
    expect(mine.get_by_role("row", name=NEW_CASE.name)).to_contain_text(NEW_CASE.crn)
    expect(page.get_by_text("There is nothing for you to claim.")).to_be_visible()
    assert holder(live_server, "first details") == ADMIN

    mine.get_by_role("button", name=f"Release {FIRST_DETAILS} for {NEW_CASE.crn}").click()

    expect(page.get_by_role("alert")).to_contain_text("Task released: it is back in the list to claim.")
    expect(page.get_by_text("Nothing is waiting for you.")).to_be_visible()
    expect(page.get_by_role("table", name="To claim").get_by_role("rowheader")).to_have_text([FIRST_DETAILS])
    assert holder(live_server, "first details") is None


def test_a_task_claimed_by_someone_else_a_moment_ago_gets_a_clear_message(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    page = sign_in(ADMIN)
    claim = page.get_by_role("button", name=f"Claim {FIRST_DETAILS} for {NEW_CASE.crn}")
    expect(claim).to_be_visible()
    with live_server.database.transaction() as session:  # a colleague was quicker
        row = session.get(HumanTask, live_server.task_id("first details"))
        assert row is not None
        row.claimed_by = ADMIN_SOUTH

    claim.click()

    expect(page.get_by_role("region", name="Important")).to_contain_text("Admin South")
    assert holder(live_server, "first details") == ADMIN_SOUTH


def test_an_spo_sees_the_tasks_their_team_holds(sign_in: Callable[..., Page]) -> None:
    page = sign_in(SPO)

    team = page.get_by_role("table", name="My team's tasks")
    row = team.get_by_role("row", name=INDUCTION.name)
    expect(row.get_by_role("rowheader")).to_have_text("Hold the induction")
    expect(row).to_contain_text(INDUCTION.crn)
    expect(row.get_by_role("cell").nth(2)).to_have_text(OM_NAME)  # held by


# ------------------------------------------------------------------------------------------- CSRF


@pytest.mark.parametrize(
    ("tampering", "script", "reason"),
    [
        (
            "altered",
            "input => { input.value = input.value.slice(0, -4) + 'abcd'; }",
            "The CSRF token is invalid.",
        ),
        (
            "removed",
            # The field and the header htmx would send in its place.
            "input => { input.remove(); "
            "document.getElementById('inbox-lists').removeAttribute('hx-headers'); }",
            "The CSRF token is missing.",
        ),
    ],
)
def test_a_claim_whose_csrf_token_was_tampered_with_is_refused_with_a_clear_page(
    sign_in: Callable[..., Page], live_server: LiveServer, tampering: str, script: str, reason: str
) -> None:
    page = sign_in(ADMIN)
    form = page.locator("form").filter(has=page.get_by_role("button", name=f"Claim {FIRST_DETAILS}"))
    form.locator("input[name=csrf_token]").evaluate(script)

    with page.expect_response(f"**/tasks/{live_server.task_id('first details')}/claim") as posted:
        form.get_by_role("button").click()

    assert posted.value.status == 400
    expect(page.get_by_role("heading", level=1)).to_have_text("Bad Request")
    expect(page.get_by_text(reason)).to_be_visible()
    expect(page.get_by_text("Go back, reload the page and try again.")).to_be_visible()
    assert holder(live_server, "first details") is None


def test_sign_in_with_an_altered_csrf_token_is_refused(page: Page) -> None:
    page.goto("/sign-in")
    page.locator("input[name=csrf_token]").evaluate("input => { input.value = 'forged' }")
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill("correct horse battery staple")

    with page.expect_response("**/sign-in") as posted:
        page.get_by_role("button", name="Sign in").click()

    assert posted.value.status == 400
    expect(page.get_by_text("The CSRF token is invalid.")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url("/sign-in?next=%2F")  # not signed in


# ----------------------------------------------------------------------------------- need to know


def shows_nothing_of(page: Page, *people: Person) -> None:
    """Neither the CRN nor the name of any of `people` is anywhere in the page, markup included."""
    html = page.content()
    for person in people:
        crn, name = person.crn, person.name
        assert crn not in html, f"{page.url} shows the CRN {crn}"
        assert name not in html, f"{page.url} shows the name {name}"


def test_a_case_kept_from_someone_never_reaches_their_inbox(sign_in: Callable[..., Page]) -> None:
    page = sign_in(ADMIN)
    expect(page.get_by_role("table", name="To claim").get_by_role("rowheader")).to_have_count(1)
    shows_nothing_of(page, KEPT_CASE)

    # Someone else in the area does see it: the case is there, only kept from this person.
    page.get_by_role("button", name="Sign out").click()
    sign_in(ADMIN_SOUTH)
    expect(page.get_by_role("table", name="To claim")).to_contain_text(KEPT_CASE.name)


def test_task_and_case_urls_give_no_data_about_a_case_someone_may_not_see(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    page = sign_in(ADMIN)
    kept_task = live_server.task_id("kept")

    for url in (f"/tasks/{kept_task}", f"/tasks/{kept_task}/claim", f"/cases/{KEPT_CASE.crn}"):
        response = page.goto(url)
        assert response is not None and response.status in {403, 404, 405}, (
            url,
            response and response.status,
        )
        shows_nothing_of(page, KEPT_CASE)

    # The inbox searched by that CRN echoes what was typed, and nothing else about the case.
    page.goto(f"/?crn={KEPT_CASE.crn}")
    expect(page.get_by_text("There is nothing for you to claim.")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text(KEPT_CASE.name)


@pytest.mark.browser_context(java_script_enabled=False)  # a forged form, posted as it stands
def test_a_claim_forged_for_a_hidden_task_is_refused_and_says_nothing_about_it(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    page = sign_in(ADMIN)
    form = page.locator("form").filter(has=page.get_by_role("button", name=f"Claim {FIRST_DETAILS}"))
    # The same form, token and all, aimed at the task on the case kept from this person.
    form.evaluate("(form, id) => { form.action = `/tasks/${id}/claim`; }", live_server.task_id("kept"))

    form.get_by_role("button").click()

    expect(page.get_by_role("region", name="Important")).to_contain_text(
        "That task is not there any more, or is not one you can work on."
    )
    shows_nothing_of(page, KEPT_CASE)
    assert holder(live_server, "kept") is None


# ------------------------------------------------------------------------------ without JavaScript


@pytest.mark.browser_context(java_script_enabled=False)
def test_claim_and_release_work_without_javascript(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    page = sign_in(ADMIN)
    expect(page.locator("body")).not_to_have_class(re.compile("js-enabled"))  # no script ran
    page.get_by_role("button", name=f"Claim {FIRST_DETAILS} for {NEW_CASE.crn}").click()
    expect(page.get_by_role("alert")).to_contain_text("Task claimed")
    assert holder(live_server, "first details") == ADMIN

    page.get_by_role("button", name=f"Release {FIRST_DETAILS} for {NEW_CASE.crn}").click()
    expect(page.get_by_role("alert")).to_contain_text("Task released")
    assert holder(live_server, "first details") is None
