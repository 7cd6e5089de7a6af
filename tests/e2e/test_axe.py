"""The accessibility helper itself: it runs under the app's Content-Security-Policy and reports real
problems readably, so a page that passes it has really been checked."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route

from webui.security import content_security_policy

from .axe import assert_accessible, axe_violations

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
