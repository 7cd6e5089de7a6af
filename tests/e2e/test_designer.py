"""The designer in a real browser edits what riskflow runs on: a process owner selects a step on the
diagram and changes its due time, its form (from the bundle's forms) and its point of the policy,
takes a change back with Undo, gives a lane its grade, and saves; the draft holds exactly that. A
value the engine could not run is refused, naming the step, and saves nothing. A decision-table
cell the engine could not run is refused at its cell, never with a success banner. Each page meets
WCAG 2.2 AA (the diagram canvas and bpmn-js's own panel aside)."""

from __future__ import annotations

import json
from collections.abc import Callable

from playwright.sync_api import Page, expect

from engine.models import DefinitionDraft

from .axe import assert_accessible
from .conftest import LiveServer
from .test_process_pages import NAME, TABLE, start_draft

BPMN = f"{NAME}.bpmn"
STEP = "record_first_details"


def open_step(page: Page, element_id: str) -> None:
    """Bring a step into view, then click it as a person would."""
    page.evaluate(
        "id => { const m = window.riskflowModeler; m.get('canvas').zoom(1); "
        "m.get('canvas').scrollToElement(m.get('elementRegistry').get(id), {top: 200, left: 300}); }",
        element_id,
    )
    page.locator(f'[data-element-id="{element_id}"]').click()


def open_lane(page: Page, element_id: str) -> None:
    """Bring a lane's start into view and click its name band, as a person selects a lane."""
    page.evaluate(
        "id => { const m = window.riskflowModeler; const c = m.get('canvas'); c.zoom(1); "
        "const lane = m.get('elementRegistry').get(id), box = c.viewbox(); "
        "c.viewbox({x: lane.x - 150, y: lane.y - 20, width: box.width, height: box.height}); }",
        element_id,
    )
    page.locator(f'[data-element-id="{element_id}"]').click(position={"x": 15, "y": 20})


def saved_draft(live_server: LiveServer) -> DefinitionDraft:
    with live_server.database.transaction(write=False) as session:
        draft = session.get(DefinitionDraft, 1)
        assert draft is not None
        session.expunge(draft)
        return draft


def test_a_process_owner_changes_a_steps_due_time_form_and_lane_grade_and_the_draft_holds_them(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    page = start_draft(sign_in)
    page.get_by_role("link", name="Edit the diagram (offender-management.bpmn)").click()
    expect(page.locator("#modeler-status")).to_have_text("Opened.")
    open_step(page, STEP)
    settings = page.locator("#riskflow-settings")
    expect(settings).to_be_visible()
    expect(settings.get_by_label("Form")).to_have_value("first-details.json")
    expect(settings.get_by_label("Point of the area risk policy")).to_have_value("1")
    expect(settings).to_contain_text("Lane: Case Administrator, Case Administrator (CASE_ADMIN)")

    # A due time the engine could not read: refused, naming the step, and nothing saved.
    settings.get_by_label("Due time").fill("1 workin day")
    settings.get_by_label("Due time").press("Tab")
    page.get_by_role("button", name="Save the diagram in the draft").click()
    errors = page.locator("#modeler-errors")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("step 'Record the first details': dueIn '1 workin day' is not a time")
    assert_accessible(page, exclude=["#canvas", "#properties"])
    assert saved_draft(live_server).revision == 1

    settings.get_by_label("Due time").fill("2 working days")
    settings.get_by_label("Due time").press("Tab")
    settings.get_by_label("Form").select_option("chase-outcome.json")
    settings.get_by_label("Point of the area risk policy").select_option(
        label="3. Ask for the outcome early, chase it, and follow it"
    )
    page.locator("#canvas").click(position={"x": 5, "y": 5})  # Undo is the diagram's key
    page.keyboard.press("Control+Z")  # takes back the policy point, and only that
    open_step(page, STEP)
    expect(settings.get_by_label("Point of the area risk policy")).to_have_value("1")
    expect(settings.get_by_label("Form")).to_have_value("chase-outcome.json")

    # The Risk Consultant lane's steps go to SPOs for now (say, while the post is vacant).
    open_lane(page, "lane_risk_consultant")
    lane = page.locator("#riskflow-lane")
    expect(lane).to_contain_text("Who does the steps in Risk Consultant")
    expect(lane.get_by_label("Grade (role in lanes.json)")).to_have_value("RISK_CONSULTANT")
    lane.get_by_label("Grade (role in lanes.json)").select_option("SPO")
    assert_accessible(page, exclude=["#canvas", "#properties"])

    page.get_by_role("button", name="Save the diagram in the draft").click()
    expect(page.locator("#modeler-status")).to_contain_text("Saved in the draft")
    expect(errors).to_be_hidden()

    draft = saved_draft(live_server)
    step = draft.files[BPMN].split(f'<bpmn:userTask id="{STEP}"')[1].split("</bpmn:userTask>")[0]
    assert '<spiffworkflow:property name="dueIn" value="2 working days" />' in step
    assert '<spiffworkflow:property name="formJsonSchemaFilename" value="chase-outcome.json" />' in step
    assert '<spiffworkflow:property name="policySection" value="1" />' in step
    assert json.loads(draft.files["lanes.json"])["lanes"]["Risk Consultant"] == "SPO"

    page.get_by_role("link", name="Back to the draft").click()
    expect(page.get_by_text("due time: “1 working day” → “2 working days”")).to_be_visible()


def test_a_decision_cell_the_engine_could_not_run_is_refused_with_the_cell_named(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    page = start_draft(sign_in)
    page.get_by_role("link", name=f"Edit the table “{TABLE}”").click()
    weeks = page.get_by_label("Row 1, then Weeks between reviews")
    weeks.fill("2 +")
    page.get_by_role("button", name="Save the table in the draft").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text(
        "Row 1, then Weeks between reviews: output cell '2 +' is not valid Python"
    )
    expect(page.locator(".govuk-notification-banner--success")).to_have_count(0)
    expect(page.get_by_text("was saved in the draft")).to_have_count(0)
    expect(weeks).to_have_value("2 +")  # what was typed stays, to be corrected
    summary.get_by_role("link").click()
    expect(weeks).to_be_focused()
    assert_accessible(page)
    assert saved_draft(live_server).revision == 1

    weeks.fill("1")
    page.get_by_role("button", name="Save the table in the draft").click()
    expect(page.get_by_text("then Weeks between reviews: “2” → “1”")).to_be_visible()
