"""The browser-test harness itself: the accessibility helper runs under the app's
Content-Security-Policy and reports real problems readably, and the page fixture notices scripts
the CSP refuses and uncaught errors, so a test that passes has really checked the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route, expect

from webui.security import content_security_policy

from .axe import assert_accessible, axe_violations
from .conftest import PageProblems

BROKEN_PAGE = """<!doctype html>
<html><head><title>Broken</title></head>
<body><main><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><a href="/somewhere"></a>
<input type="text" id="name"></main></body></html>"""


def serve_broken_page(route: Route) -> None:
    route.fulfill(
        status=200,
        content_type="text/html",
        body=BROKEN_PAGE,
        headers={"Content-Security-Policy": content_security_policy("test-nonce")},
    )


def test_axe_runs_under_the_apps_csp_and_names_each_problem_and_where(page: Page) -> None:
    page.route("**/broken", serve_broken_page)
    page.goto("/broken")

    found = {violation["id"] for violation in axe_violations(page)}
    assert {"image-alt", "link-name", "label", "html-has-lang"} <= found

    with pytest.raises(AssertionError) as failure:
        assert_accessible(page)
    message = str(failure.value)
    assert "accessibility problem(s) on" in message and "/broken" in message
    assert "- image-alt (critical): Images must have alternative text" in message
    assert "at #name" in message


def test_a_region_can_be_left_out_of_the_check(page: Page) -> None:
    page.route("**/broken", serve_broken_page)
    page.goto("/broken")

    found = {violation["id"] for violation in axe_violations(page, exclude=["main"])}
    assert found & {"image-alt", "link-name", "label"} == set()


SCRIPTS_PAGE = """<!doctype html><html lang="en"><head><title>Scripts</title></head><body>
<script>document.title = "ran without a nonce";</script>
<script nonce="test-nonce">window.setTimeout(() => { throw new Error("broken on purpose"); });</script>
</body></html>"""


def test_an_inline_script_the_csp_refuses_and_an_uncaught_error_are_both_noticed(
    page: Page, page_problems: PageProblems
) -> None:
    page.route(
        "**/scripts",
        lambda route: route.fulfill(
            status=200,
            content_type="text/html",
            body=SCRIPTS_PAGE,
            headers={"Content-Security-Policy": content_security_policy("test-nonce")},
        ),
    )
    with (
        page.expect_event("pageerror"),
        page.expect_console_message(lambda message: "Content Security Policy" in message.text),
    ):
        page.goto("/scripts")

    expect(page).to_have_title("Scripts")  # the inline script without the nonce did not run
    errors = list(page_problems.errors)
    assert any("Content Security Policy" in error for error in errors), errors
    assert any("broken on purpose" in error for error in errors), errors
    page_problems.errors.clear()  # expected here; any other test would fail on them
