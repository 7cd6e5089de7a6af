"""Hand-offs carry the record: a task page shows what earlier steps recorded that the step needs
(its form's `shows`), a completed task shows its answers to those who may see the case, the case
record's timeline opens each completed step to what was recorded, the completion banner says who
has the next step, and each person finds their own recently completed tasks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from test_process_model import BUNDLE_DIR, Case
from test_task_page import FIRST_DETAILS_DATA, OM_NORTH, OM_SOUTH, app, case, signed_in, text_of
from webui_client import fast_password_hashing, give_passwords

from casework.access_log import CaseAccess
from casework.roles import TASK_ROLES
from engine.bundle import Bundle
from engine.db import Database
from engine.errors import DefinitionError
from engine.runtime import Actor, ProcessEngine
from tasks.wiring import build_services
from webui import riskflow
from webui.forms_render import answer_text

__all__ = ["app", "case", "fast_password_hashing"]  # fixtures

CRN = "X100001"
CONSULTANT = Actor("risk.consultant", frozenset({"RISK_CONSULTANT"}))
SPO_NORTH = Actor("spo.north", frozenset({"SPO"}))
ADVICE = {
    "rosh_view": "VERY_HIGH",
    "advice": "Raise to very high: the victim lives nearby.",
    "will_attend": True,
}


@pytest.fixture(autouse=True)
def more_passwords(app: Flask, database: Database) -> None:
    give_passwords(database, ["risk.consultant", "spo.south"])


def screened_high(case: Case) -> None:
    """First details, a report screening high RoSH with a child protection registration, and the
    sentence from the court results feed: the risk consultant's advice is waiting."""
    case.complete("record_first_details", {**FIRST_DETAILS_DATA})
    case.screen("HIGH", mappa_category="CAT2", registrations=["RCPR"])
    case.sentenced("SUSPENDED_SENTENCE")


def advised(app: Flask, case: Case) -> int:
    """The risk consultant gives their advice; the risk meeting waits in the SPOs' pool."""
    screened_high(case)
    advice = case.task("give_risk_advice").id
    engine = riskflow(app).engine
    engine.claim(advice, CONSULTANT)
    engine.complete_task(advice, CONSULTANT, ADVICE)
    return case.task("hold_risk_meeting").id


def met_and_allocated(app: Flask, case: Case) -> int:
    """The SPO holds the risk meeting and allocates the case to the North team's officer."""
    meeting = advised(app, case)
    engine = riskflow(app).engine
    engine.claim(meeting, SPO_NORTH)
    engine.complete_task(
        meeting,
        SPO_NORTH,
        {
            "meeting_date": case.today(),
            "attendees": ["SPO", "RISK_CONSULTANT"],
            "rosh": "VERY_HIGH",
            "risk_decision": "Very high: police liaison weekly.",
            "information_shared_with": [],
            "mappa_referral": False,
        },
    )
    allocation = case.task("allocate_owner").id
    engine.claim(allocation, SPO_NORTH)
    engine.complete_task(allocation, SPO_NORTH, {"owner_staff_id": OM_NORTH, "tier": 2})
    return meeting


# ------------------------------------------------------------------- what earlier steps recorded


def test_the_spos_risk_meeting_page_shows_the_advice_the_screening_and_the_sentence(
    app: Flask, case: Case
) -> None:
    meeting = advised(app, case)

    html = signed_in(app, "spo.north").get(f"/tasks/{meeting}").text
    words = text_of(html)

    assert "What earlier steps recorded" in words
    assert "Give risk advice for the meeting Recorded by Idris Fenwick on" in words
    assert "RoSH level you advise Very high" in words
    assert "Your advice on the risk and the plan Raise to very high: the victim lives nearby." in words
    assert "I will attend the risk meeting Yes" in words
    # The report's screening and proposal, in words (codes as their names).
    assert "Risk of serious harm (screening) High" in words
    assert "MAPPA category Category 2" in words
    assert "Registrations present Child Protection (RCPR)" in words
    assert "Sentencing proposal Community order with a rehabilitation activity requirement" in words
    # The sentence from the case's data, with who sent it.
    assert "Sentencing outcome Recorded by court.results on" in words
    assert "Outcome Suspended sentence order" in words and "Date of the hearing 9 November 2026" in words
    # Shown above the form, before anything to fill in.
    assert html.index("shown-records") < html.index("Claim this task")


def test_a_meeting_without_advice_shows_no_advice(app: Flask, case: Case) -> None:
    case.complete("record_first_details", {**FIRST_DETAILS_DATA})
    case.screen("MEDIUM", registrations=["RCPR"])  # in scope for a meeting, no consultant
    case.sentenced()

    words = text_of(signed_in(app, "spo.north").get(f"/tasks/{case.task('hold_risk_meeting').id}").text)

    assert "Give risk advice" not in words
    assert "Risk of serious harm (screening) Medium" in words


def test_the_task_page_view_is_still_logged_once(app: Flask, case: Case, database: Database) -> None:
    meeting = advised(app, case)

    signed_in(app, "spo.north").get(f"/tasks/{meeting}")

    with database.transaction(write=False) as session:
        lines = session.scalars(select(CaseAccess).where(CaseAccess.username == "spo.north")).all()
    assert [(line.purpose, line.crn) for line in lines] == [("task page", CRN)]


# ------------------------------------------------------------------------- a completed task


def test_a_completed_task_shows_its_answers_to_the_spo_and_is_not_found_for_another_team(
    app: Flask, case: Case
) -> None:
    meeting = met_and_allocated(app, case)

    words = text_of(signed_in(app, "spo.north").get(f"/tasks/{meeting}").text)

    assert "This task was completed by SPO North" in words
    assert "What was recorded" in words
    assert "RoSH level agreed Very high" in words
    assert "Initial risk decision Very high: police liaison weekly." in words
    assert "Information shared with None" in words  # an empty list, in words
    assert "Refer to MAPPA for level 2 or 3 management No" in words
    for outsider in (OM_SOUTH, "spo.south"):
        response = signed_in(app, outsider).get(f"/tasks/{meeting}")
        assert response.status_code == 404
        assert "police liaison" not in response.text


def test_the_timeline_opens_a_completed_step_to_what_was_recorded(app: Flask, case: Case) -> None:
    met_and_allocated(app, case)

    html = signed_in(app, "spo.north").get(f"/cases/{CRN}").text

    entry = html[html.index("Task completed: Give risk advice for the meeting") :]
    entry = entry[: entry.index("moj-timeline__item")]
    assert '<details class="govuk-details riskflow-timeline-record">' in entry
    assert "What was recorded" in entry
    assert "Raise to very high: the victim lives nearby." in entry
    assert "Very high" in text_of(entry)


# ---------------------------------------------------------------------------- the next holder


def test_the_banner_names_the_pool_that_has_the_next_step(app: Flask, case: Case) -> None:
    screened_high(case)
    advice = case.task("give_risk_advice").id
    client = signed_in(app, "risk.consultant")
    client.post(f"/tasks/{advice}/claim", data={"then": "task"})
    form = {"rosh_view": "HIGH", "advice": "Agree high.", "will_attend": "yes", "action": "complete"}

    done = client.post(f"/tasks/{advice}", data=form, follow_redirects=True)

    assert (
        "Give risk advice for the meeting is complete for X100001. "
        "Next: Hold the risk meeting, now with the Senior Probation Officers, to claim." in text_of(done.text)
    )


def test_the_banner_names_the_person_who_has_the_next_step(app: Flask, case: Case) -> None:
    advised(app, case)
    meeting = case.task("hold_risk_meeting").id
    engine = riskflow(app).engine
    engine.claim(meeting, SPO_NORTH)
    engine.complete_task(
        meeting,
        SPO_NORTH,
        {
            "meeting_date": case.today(),
            "attendees": ["SPO"],
            "rosh": "HIGH",
            "risk_decision": "High.",
            "information_shared_with": [],
            "mappa_referral": False,
        },
    )
    allocation = case.task("allocate_owner").id
    client = signed_in(app, "spo.north")
    client.post(f"/tasks/{allocation}/claim", data={"then": "task"})

    done = client.post(
        f"/tasks/{allocation}",
        data={"owner_staff_id": OM_NORTH, "tier": "2", "action": "complete"},
        follow_redirects=True,
    )

    assert "Next: Hold the induction, now with OM North PO E." in text_of(done.text)


def test_the_report_writer_lands_on_the_inbox_told_the_case_has_moved_on(app: Flask, case: Case) -> None:
    case.complete("record_first_details", {**FIRST_DETAILS_DATA})
    report = case.task("write_psr").id
    client = signed_in(app, OM_SOUTH)
    client.post(f"/tasks/{report}/claim", data={"then": "task"})
    form = {
        "report_date-day": "2",
        "report_date-month": "11",
        "report_date-year": "2026",
        "rosh": "HIGH",
        "mappa_category": "NOT_ELIGIBLE",
        "registrations": "_none",
        "proposal": "Community order.",
        "action": "complete",
    }

    done = client.post(f"/tasks/{report}", data=form)
    page = client.get(done.headers["Location"])

    assert done.headers["Location"] == "/"
    assert page.status_code == 200
    words = text_of(page.text)
    assert "Write the pre-sentence report is complete for X100001." in words
    assert "The case is no longer one you work on" in words
    assert "not found" not in words.lower()
    # Need-to-know is not widened: the case and the finished report stay out of the writer's sight.
    assert client.get(f"/cases/{CRN}").status_code == 404
    assert client.get(f"/tasks/{report}").status_code == 404


# ------------------------------------------------------------------------- recently completed


def test_recently_completed_lists_my_own_tasks_only(app: Flask, case: Case, database: Database) -> None:
    met_and_allocated(app, case)
    client = signed_in(app, "spo.north")

    html = client.get("/completed").text
    rows = re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', html, re.S)[1:]
    titles = [text_of(re.sub(r"</t[hd]>", " |", row)).strip() for row in rows]

    assert [t.split(" |")[0] for t in titles] == [
        "Allocate the case to an Offender Manager",
        "Hold the risk meeting",
    ]
    assert all("X100001" in t for t in titles)
    assert "Give risk advice" not in html  # the risk consultant's, not the SPO's
    assert 'href="/tasks/' in html
    with database.transaction(write=False) as session:
        lines = session.scalars(select(CaseAccess).where(CaseAccess.purpose == "recently completed")).all()
    assert [(line.username, line.crn) for line in lines] == [("spo.north", CRN)]
    assert "Recently completed" in signed_in(app, "risk.consultant").get("/").text  # the inbox's tab


def test_a_task_on_a_case_i_no_longer_see_is_listed_without_the_case(app: Flask, case: Case) -> None:
    case.complete("record_first_details", {**FIRST_DETAILS_DATA})
    report = case.task("write_psr").id
    officer = Actor(OM_SOUTH, frozenset({"OM"}))
    engine = riskflow(app).engine
    engine.claim(report, officer)
    engine.complete_task(
        report,
        officer,
        {
            "report_date": case.today(),
            "rosh": "LOW",
            "mappa_category": "NOT_ELIGIBLE",
            "registrations": [],
            "proposal": "Fine.",
        },
    )

    html = signed_in(app, OM_SOUTH).get("/completed").text

    assert "Write the pre-sentence report" in html
    assert CRN not in html and "Testbrook" not in html
    assert f'href="/tasks/{report}"' not in html


# ------------------------------------------------------------------------------ in words


@pytest.mark.parametrize(
    ("prop", "value", "words"),
    [
        ({"enum": ["VERY_HIGH"]}, "VERY_HIGH", "Very high"),
        ({"oneOf": [{"const": "A", "title": "Accepted"}]}, "A", "Accepted"),
        ({"format": "date"}, "2026-11-09", "9 November 2026"),
        ({"type": "boolean"}, False, "No"),
        ({"items": {"enum": ["RCPR", "WEAP"]}}, ["RCPR", "WEAP"], "Child Protection (RCPR), Weapons (WEAP)"),
        ({"noneOption": "No registrations apply"}, [], "No registrations apply"),
        ({}, "free text", "free text"),
    ],
)
def test_a_recorded_value_reads_in_words(prop: dict[str, Any], value: Any, words: str) -> None:
    assert answer_text(prop, value) == words


def test_an_unanswered_field_says_so() -> None:
    assert answer_text({"type": "string"}, None, given=False) == "Not answered"


# ------------------------------------------------------------------------------- the check


def bundle_check(database: Database, form: str, shows: list[dict[str, Any]]) -> list[str]:
    """`riskflow check`'s errors for the offender management bundle with one form's `shows` changed."""
    bundle = Bundle.from_directory(BUNDLE_DIR)
    schema = json.loads(bundle.files[f"forms/{form}"])
    schema["shows"] = shows
    changed = Bundle(bundle.name, {**bundle.files, f"forms/{form}": json.dumps(schema).encode()})
    engine = ProcessEngine(database, known_roles=TASK_ROLES, services=build_services())
    try:
        problems = engine.check(changed).problems
    except DefinitionError as err:
        problems = err.problems
    return [p.message for p in problems if p.severity == "error"]


def test_the_bundles_shows_check_clean(database: Database) -> None:
    schema = json.loads((Path(BUNDLE_DIR) / "forms" / "risk-meeting.json").read_text())
    assert bundle_check(database, "risk-meeting.json", schema["shows"]) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"from": "give_risk_adivce", "fields": ["advice"]},
            "'give_risk_adivce' is neither a step of the bundle nor a key of the case's data its model names",
        ),
        ({"from": "give_risk_advice", "fields": ["advise"]}, "has no field 'advise'"),
        ({"from": "sentencing_outcome", "fields": ["outcom"]}, "no form of the bundle asks for 'outcom'"),
        ({"from": "give_risk_advice"}, 'give "fields"'),
        ({"from": "give_risk_advice", "fields": ["advice"], "label": "x"}, "unknown key 'label'"),
    ],
)
def test_a_shows_naming_what_is_not_in_the_bundle_is_refused(
    database: Database, entry: dict[str, Any], message: str
) -> None:
    errors = bundle_check(database, "risk-meeting.json", [entry])
    assert len(errors) == 1, errors
    assert errors[0].startswith('"shows" entry 1: ') and message in errors[0]
