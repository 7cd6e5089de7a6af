"""The designer edits what riskflow runs on: a step's form, due time, expected duration, priority,
policy point and instructions, and the grade each lane's steps go to (lanes.json). Saving refuses a
value the engine could not run, naming the step and what to write instead, and saves nothing; a
decision-table cell the engine could not run is refused at its cell, never saved with a success
banner. `riskflow check` names the same mistakes in a bundle on disk."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_process_pages import NAME, OVERSIGHT, WEEKS_COLUMN, app, grid, signed_in, start_draft
from werkzeug.test import TestResponse

from engine.bundle import Bundle, parse_bundle
from engine.db import Database
from engine.errors import DefinitionError
from engine.models import AuditEvent, DefinitionDraft
from webui.config import PROJECT_DIR

__all__ = ["app"]  # the process pages' app: the offender management model deployed, a process owner

BPMN = f"{NAME}.bpmn"
STEP = "step 'Record the first details'"
DUE = '<spiffworkflow:property name="dueIn" value="1 working day"/>'


def first_details(xml: str, old: str, new: str) -> str:
    """The model with one line of the "Record the first details" step changed."""
    start = xml.index('<bpmn:userTask id="record_first_details"')
    end = xml.index("</bpmn:userTask>", start)
    assert old in xml[start:end]
    return xml[:start] + xml[start:end].replace(old, new, 1) + xml[end:]


def draft_files(database: Database, draft_id: int) -> tuple[int, dict[str, str]]:
    with database.transaction(write=False) as session:
        draft = session.get(DefinitionDraft, draft_id)
        assert draft is not None
        return draft.revision, dict(draft.files)


def save_diagram(
    owner: FlaskClient, draft_id: int, xml: str, lanes: dict[str, str], revision: int = 1
) -> TestResponse:
    return owner.put(
        f"/processes/drafts/{draft_id}/diagram/{BPMN}",
        json={"xml": xml, "lanes": lanes},
        headers={"X-Draft-Revision": str(revision)},
    )


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        (DUE, DUE.replace("1 working day", "5 workin days"), "dueIn '5 workin days' is not a time: write"),
        (DUE, DUE.replace("1 working day", "P5X"), "dueIn 'P5X' is not an ISO 8601 duration"),
        (
            DUE,
            DUE.replace("1 working day", "__import__('os')"),
            'dueIn property: "__import__" is an invalid variable name',
        ),
        ('value="2 working days"', 'value="soon"', "expectedDuration 'soon' is not a duration"),
        (
            'name="policySection" value="1"',
            'name="policySection" value="42"',
            "policySection '42' is not a point",
        ),
        (
            'value="first-details.json"',
            'value="first-detail.json"',
            "form 'first-detail.json' is not in the bundle",
        ),
        (
            DUE,
            DUE + '<spiffworkflow:property name="priority" value="high"/>',
            "priority 'high' is not a whole",
        ),
        (
            "for CRN {{ crn }}.",
            "for CRN {{ crn }.",
            "the instructions for staff, line 1, are not a valid template",
        ),
    ],
    ids=["due", "due-iso", "due-sandbox", "expected", "policy", "form", "priority", "instructions"],
)
def test_a_step_setting_the_engine_could_not_run_is_refused_naming_the_step_and_nothing_is_saved(
    app: Flask, database: Database, old: str, new: str, said: str
) -> None:
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    _, before = draft_files(database, draft_id)

    wrong = first_details(before[BPMN], old, new)
    for refused in (
        owner.put(f"/processes/drafts/{draft_id}/raw/{BPMN}", data=wrong, headers={"X-Draft-Revision": "1"}),
        save_diagram(owner, draft_id, wrong, {}),
    ):
        assert refused.status_code == 422
        [error] = refused.json["errors"]
        assert error["message"].startswith(f"{BPMN}, line ")
        assert f"{STEP}: {said}" in error["message"]
        assert draft_files(database, draft_id) == (1, before)  # nothing saved, not even the lanes

    page = owner.post(
        f"/processes/drafts/{draft_id}/files/{BPMN}",
        data={"content": first_details(before[BPMN], old, new), "revision": "1"},
    )
    assert page.status_code == 422
    assert "There is a problem" in page.text and STEP in page.text.replace("&#39;", "'")
    assert draft_files(database, draft_id) == (1, before)


def test_the_diagram_and_the_grades_of_its_lanes_are_saved_together_as_one_change(
    app: Flask, database: Database
) -> None:
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    _, before = draft_files(database, draft_id)
    lanes = json.loads(before["lanes.json"])["lanes"]
    assert lanes["Risk Consultant"] == "RISK_CONSULTANT"

    changed = first_details(before[BPMN], DUE, DUE.replace("1 working day", "2 working days"))
    saved = save_diagram(owner, draft_id, changed, {**lanes, "Duty Officer": "OM"})

    assert saved.status_code == 200
    assert saved.json == {"revision": 2, "saved": ["lanes.json", BPMN]}
    revision, after = draft_files(database, draft_id)
    assert revision == 2 and after[BPMN] == changed
    assert json.loads(after["lanes.json"]) == {"lanes": {**lanes, "Duty Officer": "OM"}}
    with database.transaction(write=False) as session:
        saves = session.scalars(select(AuditEvent.detail).where(AuditEvent.event == "draft_saved")).all()
    assert sorted(d["path"] for d in saves) == ["lanes.json", BPMN]

    # Lanes as they are: only the diagram is saved.
    again = save_diagram(owner, draft_id, changed, {**lanes, "Duty Officer": "OM"}, revision=2)
    assert again.json == {"revision": 3, "saved": [BPMN]}


def test_a_lane_given_a_grade_riskflow_does_not_know_is_refused_and_nothing_is_saved(
    app: Flask, database: Database
) -> None:
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    _, before = draft_files(database, draft_id)
    lanes = json.loads(before["lanes.json"])["lanes"]
    changed = first_details(before[BPMN], DUE, DUE.replace("1 working day", "2 working days"))

    refused = save_diagram(owner, draft_id, changed, {**lanes, "Offender Manager": "PROBATION_OFFICER"})

    assert refused.status_code == 422
    [error] = refused.json["errors"]
    assert error["message"] == (
        "lanes.json: lane 'Offender Manager' has the role 'PROBATION_OFFICER', which riskflow does not "
        "know: use one of ACO, CASE_ADMIN, MAPPA_COORDINATOR, OM, RISK_CONSULTANT, SPO"
    )
    assert draft_files(database, draft_id) == (1, before)  # not the diagram either
    text = owner.post(
        f"/processes/drafts/{draft_id}/files/lanes.json",
        data={"content": json.dumps({"lanes": {"Offender Manager": "PO"}}), "revision": "1"},
    )
    assert text.status_code == 422 and "which riskflow does not know" in text.text
    assert draft_files(database, draft_id) == (1, before)


def test_the_diagram_page_offers_the_bundles_forms_policy_points_and_grades(app: Flask) -> None:
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    page = owner.get(f"/processes/drafts/{draft_id}/diagram/{BPMN}").text
    assert '<option value="first-details.json">first-details.json</option>' in page
    assert '<option value="7">7. One owner for every case, matched to the risk</option>' in page
    assert '<option value="RISK_CONSULTANT">Risk Consultant (RISK_CONSULTANT)</option>' in page
    assert "PROCESS_OWNER" not in page.split('id="lane-role"')[1].split("</select>")[0]


@pytest.mark.parametrize(
    ("cell", "said"),
    [
        ("2 +", "Row 1, then Weeks between reviews: output cell '2 +' is not valid Python"),
        ("__import__('os')", 'Row 1, then Weeks between reviews: "__import__" is an invalid variable name'),
    ],
    ids=["not-python", "sandbox"],
)
def test_a_decision_cell_the_engine_could_not_run_is_refused_at_its_cell_and_nothing_is_saved(
    app: Flask, database: Database, cell: str, said: str
) -> None:
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    _, before = draft_files(database, draft_id)
    url = f"/processes/drafts/{draft_id}/decisions/{OVERSIGHT}"
    form = grid(owner.get(url, query_string={"decision": "oversight_frequency"}).text)
    form[f"cell-0-{WEEKS_COLUMN}"] = cell
    form["action"] = "save"

    refused = owner.post(url, data=form)

    assert refused.status_code == 422
    text = refused.text.replace("&#39;", "'").replace("&#34;", '"')
    assert "There is a problem" in text and "was saved in the draft" not in text
    assert f'<a href="#cell-0-{WEEKS_COLUMN}">{said}' in text  # the summary links to the cell
    assert f'id="cell-0-{WEEKS_COLUMN}-error"' in text  # and the cell says it too
    assert draft_files(database, draft_id) == (1, before)
    assert "was saved in the draft" not in owner.get(f"/processes/drafts/{draft_id}").text


def test_riskflow_check_names_a_step_setting_the_engine_could_not_run() -> None:
    bundle = Bundle.from_directory(PROJECT_DIR / "processes" / NAME)
    xml = bundle.files[BPMN].decode()
    broken = first_details(xml, 'name="policySection" value="1"', 'name="policySection" value="42"')
    broken = first_details(broken, 'value="2 working days"', 'value="a fortnight"')

    with pytest.raises(DefinitionError) as refused:
        parse_bundle(
            Bundle(NAME, {**bundle.files, BPMN: broken.encode()}),
            known_roles={"CASE_ADMIN", "OM", "SPO", "RISK_CONSULTANT", "ACO", "MAPPA_COORDINATOR"},
            service_operations=[],
        )

    messages = [p.message for p in refused.value.problems if p.element_id == "record_first_details"]
    assert (
        f"{STEP}: policySection '42' is not a point of policy.md (its numbered points are 1 to 19)"
        in " ".join(messages)
    )
    assert any(m.startswith(f"{STEP}: expectedDuration 'a fortnight' is not a duration") for m in messages)
