"""The process pages in a real browser: a process owner changes the oversight interval for very high
RoSH in the decision table, checks, publishes with a note and moves a running case to the new
version; the diagram editor round-trips the model and marks a step that fails its checks; nobody
else can reach publishing or migration. Each page meets WCAG 2.2 AA (the diagram canvas aside)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlalchemy import select

from engine.models import ProcessDefinition, ProcessInstance

from .area import INDUCTION, KEPT_CASE, NEW_CASE, OM, OWNER
from .axe import assert_accessible
from .conftest import LiveServer

NAME = "offender-management"
TABLE = "Management oversight frequency"


def start_draft(sign_in: Callable[..., Page]) -> Page:
    page = sign_in(OWNER)
    page.get_by_role("link", name="Processes").click()
    page.get_by_role("button", name="Start a draft from version 1").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Draft 1")
    return page


def version_of(live_server: LiveServer, crn: str) -> int:
    with live_server.database.transaction(write=False) as session:
        return session.execute(
            select(ProcessDefinition.version)
            .join(ProcessInstance, ProcessInstance.definition_id == ProcessDefinition.id)
            .where(ProcessInstance.business_key == crn)
        ).scalar_one()


def test_a_process_owner_changes_an_interval_publishes_it_and_moves_a_running_case(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    page = start_draft(sign_in)
    page.get_by_role("link", name=f"Edit the table “{TABLE}”").click()
    weeks = page.get_by_label("Row 1, then Weeks between reviews")
    expect(weeks).to_have_value("2")
    assert_accessible(page)
    weeks.fill("1")
    page.get_by_role("button", name="Save the table in the draft").click()

    expect(page.get_by_text("Passed")).to_be_visible()
    expect(page.get_by_text("then Weeks between reviews: “2” → “1”")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Publish as the next version").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter a change note")
    page.get_by_label("Change note").fill("Weekly oversight for very high RoSH with a newly qualified OM")
    page.get_by_role("button", name="Publish as the next version").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Version 2")
    expect(page.get_by_role("alert")).to_contain_text("New cases start on it")
    page.get_by_role("link", name="What changed from version 1").click()
    expect(page.get_by_text("then Weeks between reviews: “2” → “1”")).to_be_visible()
    assert_accessible(page)
    assert version_of(live_server, INDUCTION.crn) == 1  # running cases keep their version

    page.goto(f"/processes/{NAME}/versions/1/migrate")
    case = page.get_by_role("checkbox", name=INDUCTION.crn)
    expect(case).to_be_checked()  # it can move: the dry run ticks it
    for other in (NEW_CASE, KEPT_CASE):
        page.get_by_role("checkbox", name=other.crn).uncheck()
    page.get_by_label("Reason for moving them").fill("Weekly oversight applies to open cases")
    page.get_by_role("button", name="Move the chosen cases").click()
    expect(page.get_by_role("heading", name="Result")).to_be_visible()
    assert version_of(live_server, INDUCTION.crn) == 2
    assert version_of(live_server, NEW_CASE.crn) == 1  # not chosen: left where it was


def test_the_diagram_editor_keeps_the_model_intact_and_marks_a_failing_step(
    sign_in: Callable[..., Page],
) -> None:
    page = start_draft(sign_in)
    page.get_by_role("link", name="Edit the diagram (offender-management.bpmn)").click()
    expect(page.locator("#modeler-status")).to_have_text("Opened.")
    expect(page.locator(".bjs-powered-by")).to_be_visible()  # the bpmn.io watermark, as its licence asks

    # Bring the step into view, then click it as a person would.
    page.evaluate(
        "id => { const m = window.riskflowModeler; m.get('canvas').zoom(1); "
        "m.get('canvas').scrollToElement(m.get('elementRegistry').get(id), {top: 200, left: 300}); }",
        "record_first_details",
    )
    page.locator('[data-element-id="record_first_details"]').click()
    expect(page.locator("#riskflow-settings")).to_be_visible()
    expect(page.get_by_label("Due time")).to_have_value("1 working day")
    page.get_by_label("Due time").fill("2 working days")
    page.get_by_label("Due time").press("Tab")
    page.get_by_role("button", name="Save the diagram in the draft").click()
    expect(page.locator("#modeler-status")).to_contain_text("Saved in the draft")
    assert_accessible(page, exclude=["#canvas", "#properties"])

    page.get_by_role("link", name="Back to the draft").click()
    changes = page.locator(".riskflow-changes > li")
    expect(changes).to_have_count(1)  # nothing but the edit: every extension element survived
    expect(changes).to_contain_text("due time: “1 working day” → “2 working days”")

    page.get_by_role("link", name=f"Edit {NAME}.bpmn").click()
    content = page.get_by_label("Content")
    text = content.input_value()
    quoted = '<bpmn:timeDuration>"P2D"</bpmn:timeDuration>'
    assert quoted in text
    # Set as a paste would (typing the whole model key by key takes far too long).
    content.evaluate(
        "(box, text) => { box.value = text; }",
        text.replace(quoted, "<bpmn:timeDuration>P2D</bpmn:timeDuration>", 1),
    )
    page.get_by_role("button", name="Save in the draft").click()
    expect(page.get_by_text("Failed")).to_be_visible()
    expect(page.get_by_role("button", name="Publish as the next version")).to_be_disabled()

    page.get_by_role("link", name="Edit the diagram (offender-management.bpmn)").click()
    expect(page.locator("#modeler-status")).to_have_text("Opened.")
    expect(page.locator(".djs-element.riskflow-problem")).not_to_have_count(0)
    expect(page.locator(".riskflow-problem-badge").first).to_be_visible()


def test_staff_who_are_not_process_owners_cannot_reach_drafts_publishing_or_migration(
    sign_in: Callable[..., Page],
) -> None:
    start_draft(sign_in).get_by_role("button", name="Sign out").click()
    page = sign_in(OM)
    page.get_by_role("link", name="Processes").click()
    expect(page.get_by_role("button", name="Start a draft")).to_have_count(0)
    for url in ("/processes/drafts/1", f"/processes/{NAME}/versions/1/migrate"):
        response = page.goto(url)
        assert response is not None and response.status == 403
        expect(page.get_by_text("Only process owners")).to_be_visible()


def test_a_published_change_is_marked_on_the_diagram_when_comparing_versions(
    sign_in: Callable[..., Page],
) -> None:
    page = start_draft(sign_in)
    page.get_by_role("link", name="Edit the diagram (offender-management.bpmn)").click()
    expect(page.locator("#modeler-status")).to_have_text("Opened.")
    page.evaluate(
        "id => { const m = window.riskflowModeler; m.get('canvas').zoom(1); "
        "m.get('canvas').scrollToElement(m.get('elementRegistry').get(id), {top: 200, left: 300}); }",
        "record_first_details",
    )
    page.locator('[data-element-id="record_first_details"]').click()
    page.get_by_label("Due time").fill("2 working days")
    page.get_by_label("Due time").press("Tab")
    page.get_by_role("button", name="Save the diagram in the draft").click()
    expect(page.locator("#modeler-status")).to_contain_text("Saved in the draft")
    page.get_by_role("link", name="Back to the draft").click()
    page.get_by_label("Change note").fill("First details within two working days")
    page.get_by_role("button", name="Publish as the next version").click()
    page.get_by_role("link", name="What changed from version 1").click()

    expect(page.locator(".riskflow-badge--changed")).to_have_count(1)
    expect(
        page.locator('.djs-element.riskflow-changed[data-element-id="record_first_details"]')
    ).to_have_count(1)
    expect(page.locator(".bjs-powered-by")).to_be_visible()
    assert_accessible(page, exclude=["#compare-canvas"])


def test_a_decision_table_edited_in_the_decision_table_editor_is_saved_in_the_draft(
    sign_in: Callable[..., Page],
) -> None:
    page = start_draft(sign_in)
    page.get_by_role("link", name="Open in the decision table editor (oversight_frequency.dmn)").click()
    expect(page.get_by_text("Opened.")).to_be_visible()
    expect(page.locator(".bjs-powered-by")).to_be_visible()  # the bpmn.io watermark, as its licence asks
    first_row = page.locator("#decision-editor tbody tr").first
    weeks = first_row.locator("td.output-cell").filter(has_text="2").first
    weeks.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("1")
    expect(page.get_by_text("Unsaved changes.")).to_be_visible()
    page.get_by_role("button", name="Save the decision table in the draft").click()
    expect(page.get_by_text("Saved in the draft.")).to_be_visible()

    # The table form reads the same file: the change is there, and the draft passes its checks.
    page.get_by_role("link", name=f"Edit “{TABLE}” as a form").click()
    expect(page.get_by_label("Row 1, then Weeks between reviews")).to_have_value("1")
    page.get_by_role("link", name="Back to the draft").click()
    expect(page.get_by_text("then Weeks between reviews: “2” → “1”")).to_be_visible()
