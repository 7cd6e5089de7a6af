"""The task page: staff see the step's instructions, the case essentials and the step's form; the
server checks the form and keeps everything entered when it is wrong; a draft comes back; completing
leads on to the person's next task on the case; a case they may not see is not found at all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from casework_area import om_username, small_area
from conftest import START
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_process_model import BUNDLE_DIR, PROCESS, Case
from webui_client import fast_password_hashing, give_passwords, sign_in, text_of, web_app
from werkzeug.datastructures import MultiDict

from casework.access_log import CaseAccess
from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.models import HumanTask
from engine.runtime import Actor
from webui import riskflow
from webui.forms_render import entered_values, fields_of, form_data, option_label
from webui.policy import section_numbers

__all__ = ["fast_password_hashing"]  # autouse: cheap password hashing in these tests

CRN = "X100001"
SECOND = timedelta(seconds=1)
OM_NORTH = om_username("north", "PO", "E")
OM_SOUTH = om_username("south", "PO", "E")
STAFF = [OM_NORTH, OM_SOUTH, "spo.north", "admin.north", "admin.south", "aco.one"]
GOOD_FIRST_DETAILS = {
    "forename": "Rowan",
    "surname": "Testbrook",
    "date_of_birth-day": "14",
    "date_of_birth-month": "5",
    "date_of_birth-year": "1991",
    "court_name": "Carlisle Crown Court",
    "hearing_date-day": "2",
    "hearing_date-month": "11",
    "hearing_date-year": "2026",
    "offence": "Assault occasioning actual bodily harm",
    "report_type": "STANDARD",
    "remanded_in_custody": "no",
}


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    """The app on the small test area, with the offender management model deployed."""
    with database.transaction() as session:
        small_area(session)
    give_passwords(database, STAFF)
    app = web_app(database, clock)
    riskflow(app).engine.deploy(Bundle.from_directory(BUNDLE_DIR), actor="process.owner")
    yield app
    riskflow(app).db.dispose()


@pytest.fixture
def case(app: Flask) -> Case:
    """A newly identified case: the first details wait in the case administrators' pool."""
    driven = Case(riskflow(app).engine, CRN)
    driven.instance_id = riskflow(app).engine.start(PROCESS, business_key=CRN, data={"crn": CRN}).instance_id
    return driven


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def value_of(html: str, name: str) -> str | None:
    """The value a text input named `name` shows."""
    found = re.search(rf'name="{re.escape(name)}"[^>]*value="([^"]*)"', html)
    return unescape(found.group(1)) if found else None


def claimed_first_details(app: Flask, case: Case) -> tuple[FlaskClient, int]:
    task_id = case.task("record_first_details").id
    client = signed_in(app, "admin.north")
    claimed = client.post(f"/tasks/{task_id}/claim", data={"then": "task"})
    assert claimed.headers["Location"] == f"/tasks/{task_id}"
    return client, task_id


# --------------------------------------------------------------------------------- what it shows


def test_the_page_shows_the_instructions_the_policy_point_and_the_case(app: Flask, case: Case) -> None:
    client, task_id = claimed_first_details(app, case)

    html = client.get(f"/tasks/{task_id}").text
    words = text_of(html)

    assert "Record the first details" in words
    assert "A new case has been identified at court for CRN X100001." in words  # the model's instructions
    assert 'href="/policy#section-1"' in html
    assert "Unallocated" in words and "Not a MAPPA case" in words
    # The form from the step's JSON Schema, as GOV.UK components.
    assert 'class="govuk-date-input"' in html and 'name="hearing_date-day"' in html
    assert 'type="radio" value="STANDARD"' in html
    assert 'class="govuk-input" id="f-court_name"' in html


def test_a_pool_task_is_claimed_from_its_page_and_then_shows_its_form(app: Flask, case: Case) -> None:
    task_id = case.task("record_first_details").id
    client = signed_in(app, "admin.north")

    before = client.get(f"/tasks/{task_id}").text
    assert "Claim this task" in before and 'id="task-form"' not in before

    after = client.post(f"/tasks/{task_id}/claim", data={"then": "task"}, follow_redirects=True).text

    assert "Task claimed" in after
    assert 'id="task-form"' in after


def test_every_view_of_a_task_page_is_in_the_access_log(app: Flask, case: Case, database: Database) -> None:
    client, task_id = claimed_first_details(app, case)

    client.get(f"/tasks/{task_id}")

    with database.transaction(write=False) as session:
        viewed = session.scalars(select(CaseAccess).where(CaseAccess.purpose == "task page")).all()
    assert [(e.username, e.crn, e.detail) for e in viewed] == [("admin.north", CRN, f"/tasks/{task_id}")]


def test_every_step_of_the_model_links_to_a_point_of_the_policy() -> None:
    bpmn = (BUNDLE_DIR / "offender-management.bpmn").read_text()
    user_tasks = re.findall(r"<bpmn:userTask .*?</bpmn:userTask>", bpmn, flags=re.S)
    linked = [re.search(r'name="policySection" value="(\d+)"', task) for task in user_tasks]

    assert all(linked), "a user task has no policySection"
    sections = section_numbers((Path(BUNDLE_DIR) / "policy.md").read_text(encoding="utf-8"))
    assert {m.group(1) for m in linked if m} <= sections


def test_the_policy_page_has_an_anchor_for_each_point(app: Flask) -> None:
    html = signed_in(app, "admin.north").get("/policy").text

    assert 'id="section-7"' in html
    assert "One owner for every case, matched to the risk" in html
    assert "<code" in html and "allocate_owner" in html


def test_the_policy_page_shows_the_policy_as_the_newest_published_version_holds_it(app: Flask) -> None:
    engine = riskflow(app).engine
    original = Bundle.from_directory(BUNDLE_DIR)
    text = original.files["policy.md"].decode()
    changed = text.replace(
        "One owner for every case, matched to the risk", "One owner for every case, always"
    )
    engine.deploy(
        Bundle(original.name, {**original.files, "policy.md": changed.encode()}), actor="process.owner"
    )

    html = signed_in(app, "admin.north").get("/policy").text

    assert "One owner for every case, always" in html
    assert "One owner for every case, matched to the risk" not in html
    assert "As published in version 2 of offender-management" in " ".join(html.split())


# ---------------------------------------------------------------------------- validation, drafts


def test_errors_are_summarised_and_shown_inline_and_nothing_entered_is_lost(app: Flask, case: Case) -> None:
    client, task_id = claimed_first_details(app, case)
    form = {
        **GOOD_FIRST_DETAILS,
        "court_name": "",
        "hearing_date-day": "31",
        "hearing_date-month": "2",
        "action": "complete",
    }

    response = client.post(f"/tasks/{task_id}", data=form)

    assert response.status_code == 422
    html = response.text
    assert "There is a problem" in html
    assert html.index('href="#f-court_name"') < html.index('href="#f-hearing_date-day"')  # page order
    assert '<a href="#f-court_name">Enter court</a>' in html
    assert (
        '<a href="#f-hearing_date-day">Date of the hearing must be a real date, such as 27 3 2026</a>' in html
    )
    assert 'id="f-court_name-error"' in html and "govuk-form-group--error" in html
    # What was typed is all still there, the impossible date too.
    assert 'value="Assault occasioning actual bodily harm"' in html
    assert (value_of(html, "hearing_date-day"), value_of(html, "hearing_date-year")) == ("31", "2026")
    assert 'value="STANDARD" checked' in html and 'value="no" checked' in html
    assert case.open_elements() == ["record_first_details"]  # nothing was completed


def test_a_date_of_birth_the_register_refuses_is_shown_on_its_field_and_nothing_is_completed(
    app: Flask, case: Case
) -> None:
    client, task_id = claimed_first_details(app, case)
    form = {**GOOD_FIRST_DETAILS, "date_of_birth-year": "2020", "action": "complete"}

    response = client.post(f"/tasks/{task_id}", data=form)

    assert response.status_code == 422
    html = response.text
    assert '<a href="#f-date_of_birth-day">A date of birth of 14 May 2020 makes the person 6' in html
    assert 'id="f-date_of_birth-error"' in html
    assert (value_of(html, "date_of_birth-year"), value_of(html, "forename")) == ("2020", "Rowan")
    assert case.open_elements() == ["record_first_details"]


def test_completing_after_a_validation_error_goes_back_to_the_inbox_with_a_banner(
    app: Flask, case: Case
) -> None:
    client, task_id = claimed_first_details(app, case)
    missing = client.post(
        f"/tasks/{task_id}", data={**GOOD_FIRST_DETAILS, "report_type": "", "action": "complete"}
    )
    assert '<a href="#f-report_type">Select pre-sentence report requested</a>' in missing.text

    done = client.post(f"/tasks/{task_id}", data={**GOOD_FIRST_DETAILS, "action": "complete"})

    assert done.headers["Location"] == "/"  # the next step (the report) is an Offender Manager's
    inbox = client.get("/").text
    assert "Record the first details is complete for X100001." in inbox
    assert case.open_elements() == ["write_psr"]
    assert riskflow(app).engine.instance_data(case.instance_id)["hearing_date"] == "2026-11-02"


def test_the_pre_sentence_report_waits_for_any_officer_to_pick_it_up_and_write_it(
    app: Flask, case: Case
) -> None:
    client, task_id = claimed_first_details(app, case)
    client.post(f"/tasks/{task_id}", data={**GOOD_FIRST_DETAILS, "action": "complete"})
    report = case.task("write_psr").id

    # The case has no owner yet: an officer of either team finds the report in their pool.
    officer = signed_in(app, OM_SOUTH)
    assert f"/tasks/{report}" in officer.get("/").text
    claimed = officer.post(f"/tasks/{report}/claim", data={"then": "task"}, follow_redirects=True).text
    assert "Task claimed" in claimed and 'id="task-form"' in claimed


def test_a_draft_keeps_what_was_entered_and_comes_back_when_the_task_is_reopened(
    app: Flask, case: Case, database: Database
) -> None:
    client, task_id = claimed_first_details(app, case)
    partial = {"court_name": "Workington Magistrates", "hearing_date-day": "4", "report_type": "FAST"}

    saved = client.post(f"/tasks/{task_id}", data={**partial, "action": "draft"}, follow_redirects=True)

    assert "Draft saved" in saved.text
    reopened = signed_in(app, "admin.north").get(f"/tasks/{task_id}").text
    assert 'value="Workington Magistrates"' in reopened
    assert value_of(reopened, "hearing_date-day") == "4"
    assert value_of(reopened, "hearing_date-month") == ""
    assert 'value="FAST" checked' in reopened
    assert "There is a problem" not in reopened  # a draft is not checked
    with database.transaction(write=False) as session:
        assert session.get(HumanTask, task_id).state == "open"  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- the next task


def test_completing_goes_on_to_my_next_task_on_the_same_case(app: Flask, case: Case) -> None:
    to_allocation_from_first_details(case)
    case.allocate("E")
    induction = case.task("hold_induction")
    assert induction.assignee == OM_NORTH
    client = signed_in(app, OM_NORTH)
    form = {
        "induction_date-day": "2",
        "induction_date-month": "11",
        "induction_date-year": "2026",
        "contact_outcome": "ATTENDED",
        "action": "complete",
    }

    done = client.post(f"/tasks/{induction.id}", data=form)

    oasys = case.task("assess_oasys")
    assert done.headers["Location"] == f"/tasks/{oasys.id}"
    page = client.get(done.headers["Location"]).text
    assert "Hold the induction is complete. This is your next task on X100001." in page
    assert "Complete the OASys assessment" in page


def to_allocation_from_first_details(case: Case) -> None:
    """The case as far as allocation (the `case` fixture already started it)."""
    case.complete("record_first_details", {**FIRST_DETAILS_DATA})
    case.screen("LOW")
    case.sentenced()


FIRST_DETAILS_DATA = {
    "forename": "Rowan",
    "surname": "Testbrook",
    "date_of_birth": "1991-05-14",
    "court_name": "Carlisle Crown Court",
    "hearing_date": "2026-11-02",
    "offence": "Theft",
    "report_type": "STANDARD",
    "remanded_in_custody": False,
}


# ----------------------------------------------------------------------- need to know and holders


def test_a_task_on_a_case_i_may_not_see_is_not_found_and_says_nothing(app: Flask, case: Case) -> None:
    to_allocation_from_first_details(case)
    case.allocate("E")
    induction = case.task("hold_induction")

    response = signed_in(app, OM_SOUTH).get(f"/tasks/{induction.id}")

    assert response.status_code == 404
    assert CRN not in response.text and "induction" not in response.text.lower()
    posted = signed_in(app, OM_SOUTH).post(f"/tasks/{induction.id}", data={"action": "draft"})
    assert posted.status_code == 404


def test_a_task_i_may_see_but_not_do_is_read_only_with_the_reason(app: Flask, case: Case) -> None:
    to_allocation_from_first_details(case)
    case.allocate("E")
    induction = case.task("hold_induction")

    html = signed_in(app, "spo.north").get(f"/tasks/{induction.id}").text

    assert "You cannot work on this task." in html
    assert "This task is held by OM North PO E; only they can work on it." in text_of(html)
    assert 'id="task-form"' not in html


def test_a_task_for_another_role_is_read_only_and_says_which_role(app: Flask, case: Case) -> None:
    task_id = case.task("record_first_details").id

    html = signed_in(app, "spo.north").get(f"/tasks/{task_id}").text

    assert "This task is for a Case Administrator, and you do not hold that role." in text_of(html)
    assert "Claim this task" not in html


def test_a_task_someone_else_completed_a_moment_ago_gets_a_clear_message(app: Flask, case: Case) -> None:
    client, task_id = claimed_first_details(app, case)
    riskflow(app).engine.complete_task(
        task_id, Actor("admin.north", frozenset({"CASE_ADMIN"})), FIRST_DETAILS_DATA
    )

    response = client.post(
        f"/tasks/{task_id}", data={**GOOD_FIRST_DETAILS, "action": "complete"}, follow_redirects=True
    )

    assert response.status_code == 200
    assert "This task has already been completed by Admin North." in response.text
    assert f"This task was completed by Admin North on {START.day} Nov 2026" in text_of(response.text)


# ------------------------------------------------------------------ the schema as GOV.UK components


def test_each_kind_of_property_gets_its_gov_uk_component() -> None:
    schema = {
        "type": "object",
        "required": ["when", "level"],
        "properties": {
            "court": {"type": "string", "title": "Court", "maxLength": 100},
            "notes": {"type": "string", "title": "Notes"},
            "when": {"type": "string", "format": "date", "title": "Date"},
            "level": {"type": "integer", "enum": [1, 2, 3], "title": "Level"},
            "reason": {"type": "string", "enum": ["A", "B", "C", "D", "E", "F", "G"], "title": "Reason"},
            "outcome": {"type": "string", "oneOf": [{"const": "CO", "title": "Community order"}]},
            "flags": {"type": "array", "items": {"enum": ["RCPR", "WEAP"]}, "title": "Flags"},
            "ends": {"type": "boolean", "title": "Case ends"},
        },
    }

    fields = {f.name: f for f in fields_of(schema)}

    assert {name: f.kind for name, f in fields.items()} == {
        "court": "text",
        "notes": "textarea",
        "when": "date",
        "level": "radios",
        "reason": "select",
        "outcome": "radios",
        "flags": "checkboxes",
        "ends": "yes_no",
    }
    assert fields["when"].required and not fields["court"].required
    assert [o.label for o in fields["outcome"].options] == ["Community order"]
    assert [o.label for o in fields["flags"].options] == ["Child Protection (RCPR)", "Weapons (WEAP)"]
    assert option_label("VERY_HIGH") == "Very high"


def test_a_submission_becomes_the_schemas_data() -> None:
    schema = {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date", "title": "Date of the review"},
            "level": {"type": "integer", "enum": [1, 2, 3]},
            "flags": {"type": "array", "items": {"enum": ["RCPR", "WEAP"]}},
            "ends": {"type": "boolean"},
            "notes": {"type": "string"},
        },
    }
    fields = fields_of(schema)
    form = MultiDict(
        [("when-day", "7"), ("when-month", "12"), ("when-year", "2026"), ("level", "2")]
        + [("flags", "RCPR"), ("flags", "WEAP"), ("ends", "no"), ("notes", "  ")]
    )

    data, errors = form_data(fields, entered_values(fields, form))

    assert errors == []
    assert data == {"when": "2026-12-07", "level": 2, "flags": ["RCPR", "WEAP"], "ends": False}


@pytest.mark.parametrize(
    ("day", "month", "year", "message"),
    [
        ("7", "", "2026", "Date of the review must include a month"),
        ("", "", "26", "Date of the review must include a day and a month"),
        ("7", "13", "2026", "Date of the review must be a real date, such as 27 3 2026"),
        ("7", "12", "26", "Date of the review must be a real date, such as 27 3 2026"),
    ],
)
def test_a_date_that_is_not_a_date_is_named_by_the_field(
    day: str, month: str, year: str, message: str
) -> None:
    fields = fields_of(
        {"properties": {"when": {"type": "string", "format": "date", "title": "Date of the review"}}}
    )
    form = MultiDict({"when-day": day, "when-month": month, "when-year": year})

    data, errors = form_data(fields, entered_values(fields, form))

    assert data == {}
    assert [(e.field, e.message) for e in errors] == [("when", message)]


def test_the_case_panel_says_why_a_case_is_one_of_the_critical_few(
    app: Flask, case: Case, database: Database
) -> None:
    give_passwords(database, ["risk.consultant"])
    case.complete("record_first_details", FIRST_DETAILS_DATA)
    case.screen("HIGH", "CAT1", ["RCPR"])
    case.sentenced()
    advice = case.task("give_risk_advice")

    words = text_of(signed_in(app, "risk.consultant").get(f"/tasks/{advice.id}").text)

    assert "One of the critical few" in words
    assert "Critical: High RoSH + child protection" in words
    assert "Category 1, level 1" in words
    assert "Child Protection (RCPR)" in words
    assert "Other open tasks None." in words  # the meeting opens once the advice is in


def test_a_claim_from_the_task_page_that_lost_the_race_comes_back_to_it(app: Flask, case: Case) -> None:
    task_id = case.task("record_first_details").id
    client = signed_in(app, "admin.north")
    riskflow(app).engine.claim(task_id, Actor("admin.south", frozenset({"CASE_ADMIN"})))

    response = client.post(f"/tasks/{task_id}/claim", data={"then": "task"}, follow_redirects=True)

    assert response.request.path == f"/tasks/{task_id}"
    assert "This task was claimed by Admin South a moment ago." in response.text
    assert "This task is held by Admin South; only they can work on it." in text_of(response.text)


def test_the_case_panel_lists_the_cases_other_open_work_with_who_holds_it(
    app: Flask, case: Case, database: Database
) -> None:
    client, task_id = claimed_first_details(app, case)
    with database.transaction() as session:
        first = session.get(HumanTask, task_id)
        assert first is not None
        other = HumanTask(
            instance_id=first.instance_id,
            task_guid="another-step",
            element_id="chase_outcome",
            process_id="await_outcome",
            title="Chase the sentencing outcome",
            candidate_role="CASE_ADMIN",
            claimed_by="admin.south",
            due_at=START - 3600 * SECOND,
            business_key=CRN,
            state="open",
            created_at=START,
            priority=0,
        )
        session.add(other)
        session.flush()
        other_id = other.id

    html = client.get(f"/tasks/{task_id}").text

    assert f'href="/tasks/{other_id}">Chase the sentencing outcome</a>' in html
    assert "Chase the sentencing outcome : Admin South, due 2 Nov 2026, 08:00 Overdue" in text_of(html)


def test_an_empty_form_names_every_field_still_to_fill_in_the_order_of_the_page(
    app: Flask, case: Case
) -> None:
    client, task_id = claimed_first_details(app, case)

    html = client.post(f"/tasks/{task_id}", data={"action": "complete"}).text

    summary = re.findall(r'<li><a href="#([^"]+)">([^<]+)</a></li>', html)
    assert summary == [
        ("f-forename", "Enter forename"),
        ("f-surname", "Enter surname"),
        ("f-date_of_birth-day", "Enter date of birth"),
        ("f-court_name", "Enter court"),
        ("f-hearing_date-day", "Enter date of the hearing"),
        ("f-offence", "Enter main offence"),
        ("f-report_type", "Select pre-sentence report requested"),
        ("f-remanded_in_custody", "Select yes if remanded in custody, or no"),
    ]
