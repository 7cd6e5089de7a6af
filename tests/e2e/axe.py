"""Accessibility checks with axe-core in the browser tests: run it on the page as a person sees it
and fail with a readable list of what it found.

    from .axe import assert_accessible
    assert_accessible(page)                      # WCAG 2.2 AA (the default tags)
    assert_accessible(page, exclude=["#canvas"])  # leave out a region checked some other way

axe-core comes from npm (package.json pins it; `make setup` installs it into node_modules). The
app's Content-Security-Policy refuses inline scripts, so the usual `add_script_tag` (which inserts
an inline <script>) would be blocked. Instead the axe source is evaluated through Playwright's
`page.evaluate`, which runs over the DevTools protocol: CSP governs the page's own scripts, not the
test driver's. The page therefore keeps its real CSP during the check (no `bypass_csp`), so a CSP
violation by the page would still show up as a console error and fail the test.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from playwright.sync_api import Page

from webui.config import PROJECT_DIR

AXE_SOURCE = PROJECT_DIR / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.2 level AA: every level A and AA rule of WCAG 2.0, 2.1 and 2.2.
WCAG_22_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
NODES_SHOWN = 5  # of each violation, enough to find the pattern


@cache
def axe_source() -> str:
    if not AXE_SOURCE.is_file():
        raise AssertionError(f"{AXE_SOURCE} is missing: run `make setup` (npm installs axe-core)")
    return AXE_SOURCE.read_text(encoding="utf-8")


def axe_violations(
    page: Page, *, tags: tuple[str, ...] = WCAG_22_AA, exclude: list[str] | None = None
) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it stands, for rules with any of `tags`."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    context = {"include": [["html"]], "exclude": [[selector] for selector in exclude or []]}
    options = {"runOnly": {"type": "tag", "values": list(tags)}, "resultTypes": ["violations"]}
    result: dict[str, Any] = page.evaluate(
        "([context, options]) => window.axe.run(context, options)", [context, options]
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    """The violations as a person reads them: rule, impact, what it means, and where."""
    lines = []
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation.get('impact') or 'no impact given'}): {violation['help']}"
            f"\n  {violation['helpUrl']}"
        )
        nodes = violation["nodes"]
        for node in nodes[:NODES_SHOWN]:
            target = " ".join(str(part) for part in node["target"])
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    at {target}\n      {node['html'][:200]}\n      {summary}")
        if len(nodes) > NODES_SHOWN:
            lines.append(f"    ... and {len(nodes) - NODES_SHOWN} more")
    return "\n".join(lines)


def assert_accessible(
    page: Page, *, tags: tuple[str, ...] = WCAG_22_AA, exclude: list[str] | None = None
) -> None:
    """Fail with every violation described when axe-core finds any on the page (WCAG 2.2 AA)."""
    violations = axe_violations(page, tags=tags, exclude=exclude)
    if violations:
        found = f"axe-core found {len(violations)} accessibility problem(s) on {page.url}"
        raise AssertionError(f"{found}:\n{describe(violations)}")
