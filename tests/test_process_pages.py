"""The process pages: a process owner edits a decision table in a draft, checks it, publishes it with
a change note, compares versions and moves running cases; nobody else may edit, publish or migrate."""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from casework_area import small_area
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from webui_client import PASSWORD, add_staff, fast_password_hashing, give_passwords, sign_in, web_app

from casework import register
from casework.models import Staff
from casework.vocabulary import Grade, RoshLevel
from engine import drafts
from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.models import (
    AuditEvent,
    DefinitionDraft,
    HumanTask,
    ImpactRun,
    ProcessDefinition,
    ProcessInstance,
)
from webui import riskflow
from webui.config import PROJECT_DIR
from webui.credentials import set_password

__all__ = ["fast_password_hashing"]

NAME = "offender-management"
OVERSIGHT = "oversight_frequency.dmn"
WEEKS_COLUMN = 4  # four conditions, then "Weeks between reviews"


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = web_app(database, clock)
    riskflow(app).engine.deploy(Bundle.from_directory(PROJECT_DIR / "processes" / NAME), actor="setup")
    with database.transaction() as session:
        session.add(
            Staff(
                username="owner.one",
                display_name="Owner One",
                grade=Grade.ACO,
                started_on=date(2012, 4, 1),
                active=True,
                extra_roles=["PROCESS_OWNER"],
            )
        )
        set_password(session, "owner.one", PASSWORD)
    add_staff(database, "aco.two")
    yield app
    riskflow(app).db.dispose()


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def start_draft(owner: FlaskClient) -> int:
    response = owner.post(f"/processes/{NAME}/drafts", data={"version": "1"})
    assert response.status_code == 302
    found = re.search(r"/processes/drafts/(\d+)$", response.headers["Location"])
    assert found is not None
    return int(found.group(1))


def grid(page: str) -> dict[str, str]:
    """The decision-table editor's form fields, as the browser would post them unchanged."""
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page))
    fields.pop("csrf_token", None)
    return {k: v.replace("&#34;", '"').replace("&quot;", '"') for k, v in fields.items()}


def change_first_interval(owner: FlaskClient, draft_id: int, weeks: str) -> FlaskClient:
    url = f"/processes/drafts/{draft_id}/decisions/{OVERSIGHT}"
    page = owner.get(url, query_string={"decision": "oversight_frequency"})
    assert page.status_code == 200
    form = grid(page.text)
    assert form[f"cell-0-{WEEKS_COLUMN}"] == "2"  # very high RoSH, newly qualified OM: fortnightly
    form[f"cell-0-{WEEKS_COLUMN}"] = weeks
    form["action"] = "save"
    assert owner.post(url, data=form).status_code == 302
    return owner


def test_a_process_owner_changes_an_interval_checks_and_publishes_with_a_note(
    app: Flask, database: Database
) -> None:
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    change_first_interval(owner, draft_id, "1")

    page = owner.get(f"/processes/drafts/{draft_id}").text
    assert "Passed" in page
    assert "then Weeks between reviews: “2” → “1”" in page

    refused = owner.post(f"/processes/drafts/{draft_id}/publish", data={"note": " "})
    assert refused.status_code == 422
    assert "There is a problem" in refused.text and "Enter a change note" in refused.text

    published = owner.post(
        f"/processes/drafts/{draft_id}/publish", data={"note": "Weekly oversight for very high RoSH, new OMs"}
    )
    assert published.headers["Location"].endswith(f"/processes/{NAME}/versions/2")
    listing = owner.get("/processes").text
    assert "Weekly oversight for very high RoSH, new OMs" in listing
    compared = owner.get(f"/processes/{NAME}/compare").text
    assert "Version 1 compared with version 2" in compared
    assert "then Weeks between reviews: “2” → “1”" in compared
    with database.transaction(write=False) as session:
        assert session.scalar(select(DefinitionDraft)) is None  # the draft became version 2
        events = session.scalars(select(AuditEvent.event).order_by(AuditEvent.id)).all()
    assert {"draft_started", "draft_saved", "definition_deployed", "draft_published"} <= set(events)


def test_publishing_a_new_critical_few_rule_marks_the_cases_again_and_says_so(
    app: Flask, database: Database, clock: ManualClock
) -> None:
    with database.transaction() as session:
        register.identify_case(session, "X100001", at=clock.now(), by="admin")
        register.record_rosh(session, "X100001", RoshLevel.LOW, at=clock.now(), by="om", source="OASys")
        register.add_registration(session, "X100001", "INLL", at=clock.now(), by="om")
        assert not register.find_case(session, "X100001").critical
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    lifer = """      <rule id="critical_few_rule_lifer">
        <inputEntry id="critical_few_rule_lifer_in_1"><text>-</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_in_2"><text>-</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_in_3"><text>"INLL" in ?</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_in_4"><text>-</text></inputEntry>
        <outputEntry id="critical_few_rule_lifer_out_1"><text>"Life sentence"</text></outputEntry>
      </rule>
    </decisionTable>"""
    with database.transaction() as session:
        draft = session.get(DefinitionDraft, draft_id)
        assert draft is not None
        text = draft.files["critical_few.dmn"].replace("    </decisionTable>", lifer)
        drafts.save_file(
            session,
            draft_id,
            "critical_few.dmn",
            text,
            revision=draft.revision,
            actor="owner.one",
            now=clock.now(),
        )
    published = owner.post(
        f"/processes/drafts/{draft_id}/publish", data={"note": "Lifers are critical"}, follow_redirects=True
    )
    assert "The critical-few rule changed: every case was marked again by it, and 1 case(s) changed." in (
        html.unescape(published.text)
    )
    with database.transaction(write=False) as session:
        assert register.find_case(session, "X100001").critical


def test_new_cases_start_on_the_new_version_and_old_ones_move_only_when_migrated(
    app: Flask, database: Database
) -> None:
    engine = riskflow(app).engine
    old_case = engine.start("offender_management", business_key="X100001", data={"crn": "X100001"})
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    change_first_interval(owner, draft_id, "1")
    owner.post(f"/processes/drafts/{draft_id}/publish", data={"note": "Weekly oversight"})
    new_case = engine.start("offender_management", business_key="X100002", data={"crn": "X100002"})

    def version_of(instance_id: int) -> int:
        with database.transaction(write=False) as session:
            instance = session.get(ProcessInstance, instance_id)
            assert instance is not None
            definition = session.get(ProcessDefinition, instance.definition_id)
            assert definition is not None
            return definition.version

    assert (version_of(old_case.instance_id), version_of(new_case.instance_id)) == (1, 2)
    dry_run = owner.get(f"/processes/{NAME}/versions/1/migrate")
    assert "X100001" in dry_run.text and "can move" in dry_run.text
    assert version_of(old_case.instance_id) == 1

    no_note = owner.post(
        f"/processes/{NAME}/versions/1/migrate", data={"instance": str(old_case.instance_id)}
    )
    assert no_note.status_code == 422 and "Give a change note" in no_note.text
    moved = owner.post(
        f"/processes/{NAME}/versions/1/migrate",
        data={"instance": str(old_case.instance_id), "note": "Weekly oversight applies to open cases"},
    )
    assert moved.status_code == 200 and "Moved" in moved.text
    assert version_of(old_case.instance_id) == 2


def test_a_draft_that_fails_its_checks_cannot_be_published_and_says_where(app: Flask) -> None:
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    bpmn = f"/processes/drafts/{draft_id}/files/{NAME}.bpmn"
    page = owner.get(bpmn).text
    text = re.search(r'<textarea[^>]*name="content"[^>]*>(.*?)</textarea>', page, re.S)
    assert text is not None
    content = html.unescape(text.group(1))
    revision = re.search(r'name="revision" value="(\d+)"', page)
    assert revision is not None
    # A timer written as a bare literal instead of a quoted expression (a known modelling mistake).
    quoted = '<bpmn:timeDuration>"P2D"</bpmn:timeDuration>'
    assert quoted in content
    broken = content.replace(quoted, "<bpmn:timeDuration>P2D</bpmn:timeDuration>", 1)
    saved = owner.post(bpmn, data={"content": broken, "revision": revision.group(1)})
    assert saved.status_code == 302

    draft_page = owner.get(f"/processes/drafts/{draft_id}").text
    assert "Failed" in draft_page and "timer" in draft_page.lower()
    refused = owner.post(f"/processes/drafts/{draft_id}/publish", data={"note": "Try it"})
    assert refused.status_code == 422
    assert "does not pass its checks" in refused.text


def test_unsafe_or_stale_saves_change_nothing_and_keep_the_text(app: Flask, database: Database) -> None:
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    url = f"/processes/drafts/{draft_id}/files/{OVERSIGHT}"
    unsafe = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><definitions/>'
    response = owner.post(url, data={"content": unsafe, "revision": "1"})
    assert response.status_code == 422
    assert "DOCTYPE" in response.text and "boom" in response.text  # the text stays in the box
    owner.post(url, data={"content": "<definitions/>", "revision": "1"})  # someone saves first
    stale = owner.post(url, data={"content": "<definitions>mine</definitions>", "revision": "1"})
    assert stale.status_code == 409
    assert "saved this draft after you opened it" in stale.text and "mine" in stale.text
    with database.transaction(write=False) as session:
        draft = session.get(DefinitionDraft, draft_id)
        assert draft is not None and draft.files[OVERSIGHT] == "<definitions/>" and draft.revision == 2


def test_staff_who_are_not_process_owners_may_read_but_not_edit_publish_or_migrate(app: Flask) -> None:
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    other = signed_in(app, "aco.two")
    assert other.get("/processes").status_code == 200
    assert other.get(f"/processes/{NAME}/versions/1").status_code == 200
    assert "Start a draft" not in other.get("/processes").text
    for method, url in [
        ("post", f"/processes/{NAME}/drafts"),
        ("get", f"/processes/drafts/{draft_id}"),
        ("post", f"/processes/drafts/{draft_id}/publish"),
        ("get", f"/processes/drafts/{draft_id}/files/{OVERSIGHT}"),
        ("get", f"/processes/{NAME}/versions/1/migrate"),
        ("get", f"/processes/drafts/{draft_id}/decision-editor/{OVERSIGHT}"),
    ]:
        assert getattr(other, method)(url).status_code == 403, url


def test_the_decision_table_editor_opens_a_dmn_file_of_the_draft_and_names_its_problems(app: Flask) -> None:
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    page = owner.get(f"/processes/drafts/{draft_id}/decision-editor/{OVERSIGHT}")
    assert page.status_code == 200
    assert "dmn-modeler.production.min.js" in page.text and "decision-editor.js" in page.text
    assert "None: the last saved version passes every check." in page.text
    assert owner.get(f"/processes/drafts/{draft_id}/decision-editor/{NAME}.bpmn").status_code == 404

    xml = owner.get(f"/processes/drafts/{draft_id}/raw/{OVERSIGHT}").data
    broken = xml.replace(b"<text>2</text>", b"<text>2 +</text>", 1)
    assert broken != xml
    refused = owner.put(
        f"/processes/drafts/{draft_id}/raw/{OVERSIGHT}", data=broken, headers={"X-Draft-Revision": "1"}
    )
    assert refused.status_code == 422
    [error] = refused.json["errors"]
    assert error["message"].startswith(
        f"{OVERSIGHT}: row 1, column 'Weeks between reviews': output cell '2 +'"
    )
    assert owner.get(f"/processes/drafts/{draft_id}/raw/{OVERSIGHT}").data == xml  # nothing saved

    # A cell the engine can run but probably not as meant is saved, and named among the problems.
    doubtful = xml.replace(b"<text>2</text>", b"<text>two</text>", 1)
    saved = owner.put(
        f"/processes/drafts/{draft_id}/raw/{OVERSIGHT}", data=doubtful, headers={"X-Draft-Revision": "1"}
    )
    assert saved.status_code == 200
    problems = owner.get(f"/processes/drafts/{draft_id}/decision-editor/{OVERSIGHT}").text
    assert "output two is a variable name" in problems


def test_the_version_page_lists_steps_and_decision_tables(app: Flask) -> None:
    page = signed_in(app, "aco.two").get(f"/processes/{NAME}/versions/1").text
    assert "Record the first details" in page
    assert "Management oversight frequency" in page


def test_the_diagram_editor_saves_with_the_revision_it_opened_and_reports_problems(app: Flask) -> None:
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    path = f"{NAME}.bpmn"
    page = owner.get(f"/processes/drafts/{draft_id}/diagram/{path}")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "font-src 'self' data:" in policy and "script-src 'self' 'nonce-" in policy
    assert (
        "unsafe-inline" not in owner.get(f"/processes/drafts/{draft_id}").headers["Content-Security-Policy"]
    )

    xml = owner.get(f"/processes/drafts/{draft_id}/raw/{path}")
    assert xml.mimetype == "application/xml" and b'id="record_first_details"' in xml.data
    renamed = xml.data.replace(b'name="Record the first details"', b'name="Record the court details"')
    saved = owner.put(
        f"/processes/drafts/{draft_id}/raw/{path}", data=renamed, headers={"X-Draft-Revision": "1"}
    )
    assert (saved.status_code, saved.json) == (200, {"revision": 2})
    stale = owner.put(
        f"/processes/drafts/{draft_id}/raw/{path}", data=renamed, headers={"X-Draft-Revision": "1"}
    )
    assert stale.status_code == 409 and stale.json["errors"][0]["code"] == "draft_changed"
    unsafe = owner.put(
        f"/processes/drafts/{draft_id}/raw/{path}",
        data=b'<!DOCTYPE x [<!ENTITY e "boom">]><x/>',
        headers={"X-Draft-Revision": "2"},
    )
    assert unsafe.status_code == 422
    assert owner.get(f"/processes/drafts/{draft_id}/problems.json").json == []
    assert "Record the court details" in owner.get(f"/processes/drafts/{draft_id}").text


def test_staff_whose_step_changed_are_shown_the_change_note_for_four_weeks(
    app: Flask, database: Database, clock: ManualClock
) -> None:
    with database.transaction() as session:
        small_area(session)
    give_passwords(database, ["admin.north"])
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    bpmn = f"/processes/drafts/{draft_id}/raw/{NAME}.bpmn"
    text = owner.get(bpmn).data.replace(
        b'<spiffworkflow:property name="dueIn" value="1 working day"',
        b'<spiffworkflow:property name="dueIn" value="2 working days"',
        1,
    )
    assert owner.put(bpmn, data=text, headers={"X-Draft-Revision": "1"}).status_code == 200
    owner.post(
        f"/processes/drafts/{draft_id}/publish", data={"note": "Two working days for the first details"}
    )

    started = riskflow(app).engine.start(
        "offender_management", business_key="X100003", data={"crn": "X100003"}
    )
    with database.transaction(write=False) as session:
        task_id = session.scalar(
            select(HumanTask.id).where(
                HumanTask.instance_id == started.instance_id, HumanTask.state == "open"
            )
        )
    admin = signed_in(app, "admin.north")
    page = admin.get(f"/tasks/{task_id}").text
    assert 'id="step-changed"' in page and "Two working days for the first details" in page

    clock.advance(timedelta(days=29))
    assert 'id="step-changed"' not in admin.get(f"/tasks/{task_id}").text


def test_the_impact_of_a_draft_is_measured_in_the_background_on_a_scratch_database(
    app: Flask, database: Database
) -> None:
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    change_first_interval(owner, draft_id, "1")
    refused = owner.post(f"/processes/drafts/{draft_id}/impact", data={"months": "40", "cases": "5"})
    assert (
        refused.status_code == 302
        and "Enter months from 1 to 12" in owner.get(refused.headers["Location"]).text
    )

    started = owner.post(f"/processes/drafts/{draft_id}/impact", data={"months": "1", "cases": "5"})
    assert started.status_code == 302
    run_url = started.headers["Location"]
    with database.transaction(write=False) as session:
        run_id = session.scalar(select(ImpactRun.id))
    assert run_id is not None
    # Wait for the run's own thread to end (it may have ended already), then read what it recorded.
    for thread in threading.enumerate():
        if thread.name == f"impact-{run_id}":
            thread.join(timeout=300)
            assert not thread.is_alive(), "the impact run did not finish within 5 minutes"
    with database.transaction(write=False) as session:
        run = session.get(ImpactRun, run_id)
    assert run is not None
    assert (run.status, run.error) == ("done", None)
    assert run.result is not None and set(run.result) == {"published", "draft"}
    assert run.result["published"]["cases"] == run.result["draft"]["cases"] == 5
    page = owner.get(run_url).text
    assert "Oversight reviews" in page and "Tasks for the Offender Manager" in page
    assert 'id="impact-result"' in page
    with database.transaction(write=False) as session:  # the live register was not touched
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0


def test_a_forms_json_schema_is_previewed_as_staff_will_see_it_without_saving(
    app: Flask, database: Database
) -> None:
    owner = signed_in(app, "owner.one")
    draft_id = start_draft(owner)
    url = f"/processes/drafts/{draft_id}/files/forms/induction.json"
    schema = {
        "type": "object",
        "required": ["venue"],
        "properties": {
            "venue": {"type": "string", "title": "Where the induction took place", "maxLength": 80}
        },
    }
    page = owner.post(url, data={"content": json.dumps(schema), "revision": "1", "action": "preview"})
    assert page.status_code == 200
    assert (
        "Preview: the form as staff will see it" in page.text
        and "Where the induction took place" in page.text
    )
    broken = owner.post(
        url, data={"content": '{"type": "object", "required": 3}', "revision": "1", "action": "preview"}
    )
    assert broken.status_code == 422 and "not a valid JSON Schema" in broken.text
    with database.transaction(write=False) as session:
        draft = session.get(DefinitionDraft, draft_id)
        assert draft is not None and draft.revision == 1  # previews save nothing
