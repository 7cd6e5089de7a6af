"""Countersigning that can say no (policy 9): the SPO or ACO countersigns the OASys assessment or
returns it to the Offender Manager with reasons; the Offender Manager revises it within the standard
and it goes back to the same countersigning; every version and every return stays on the case's
timeline."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from conftest import START
from flask import Flask
from sqlalchemy import select
from test_process_model import Case
from test_task_page import FIRST_DETAILS_DATA, OM_NORTH, app, case, signed_in, text_of
from webui_client import fast_password_hashing

from casework.models import Case as RegisterCase
from casework.vocabulary import RoshLevel
from engine.db import Database
from engine.errors import InvalidData
from engine.models import HumanTask
from engine.runtime import Actor

__all__ = ["app", "case", "fast_password_hashing"]  # fixtures

CRN = "X100001"
SPO_REASONS = "The RoSH summary does not say who the known adult is; the weapon finding is missing."
ACO_REASONS = "Very high is not evidenced: say why the harm is imminent or lower the level."
REVISED = {
    "rosh_to_children": "NOT_AT_RISK",
    "rosh_to_public": "HIGH",
    "rosh_to_known_adult": "HIGH",
    "rosh_to_staff": "NOT_AT_RISK",
    "rosh_to_prisoners": "NOT_AT_RISK",
    "likelihood_of_reoffending": "MEDIUM",
    "current_registrations": ["WEAP"],
    "rosh_summary": "Risk to his former partner (known adult) and the public; a knife was found at arrest.",
    "changes_made": "Named the known adult, added the weapons registration and the knife finding.",
}


def assessed(case: Case, rosh: str) -> None:
    """First details, the report, the sentence, the risk meeting, allocation to the North team's
    experienced probation officer, induction and the OASys assessment: countersigning is next."""
    case.complete("record_first_details", {**FIRST_DETAILS_DATA})
    case.screen(rosh)
    case.sentenced()
    case.hold_meeting(rosh)
    case.allocate("E", "PO")
    case.induct()
    case.assess(rosh)


def returned(case: Case, element_id: str, reasons: str) -> None:
    case.complete(
        element_id, {"decision": "RETURNED", "countersign_date": case.today(), "return_reasons": reasons}
    )


def revised(case: Case, **changes: object) -> None:
    case.complete("revise_oasys", {**REVISED, "assessment_date": case.today(), **changes})


def timeline_words(app: Flask, who: str = "spo.north") -> str:
    return text_of(signed_in(app, who).get(f"/cases/{CRN}").text)


def test_an_spo_returns_an_oasys_to_the_om_with_reasons_and_the_om_sees_them_in_the_revision_task(
    app: Flask, case: Case
) -> None:
    assessed(case, "HIGH")

    returned(case, "countersign_spo", SPO_REASONS)

    assert case.open_elements() == ["revise_oasys"]
    revision = case.task("revise_oasys")
    assert (revision.candidate_role, revision.assignee) == ("OM", OM_NORTH)
    # Due by the standard: 5 working days from the return (the clock stands on Monday 9 November).
    assert revision.due_at == START + timedelta(days=7)
    words = text_of(signed_in(app, OM_NORTH).get(f"/tasks/{revision.id}").text)
    assert "The SPO returned the OASys assessment for CRN X100001 to you with the reasons shown" in words
    assert "Returned to you for revision Recorded by SPO North on" in words
    assert "Decision Returned to the Offender Manager for revision" in words
    assert f"Reasons for returning it {SPO_REASONS}" in words
    assert "The assessment as first submitted" in words
    assert "Risk to the public when drinking; greatest at weekends." in words
    # The case's timeline holds the submission and the return with its reasons.
    timeline = timeline_words(app)
    assert "Task completed: Complete the OASys assessment" in timeline
    assert "Task completed: Countersign the OASys (SPO)" in timeline
    assert SPO_REASONS in timeline


def test_a_revised_oasys_goes_back_to_the_spo_for_countersigning(
    app: Flask, case: Case, database: Database
) -> None:
    assessed(case, "HIGH")
    returned(case, "countersign_spo", SPO_REASONS)

    revised(case)

    assert case.open_elements() == ["countersign_spo"]
    again = case.task("countersign_spo")
    assert again.assignee == "spo.north"
    data = case.data()
    assert data["countersign_reason"] == "revised after the SPO returned it: SPO countersigns again"
    # The SPO sees the revised version, what changed, the first version and their own return.
    words = text_of(signed_in(app, "spo.north").get(f"/tasks/{again.id}").text)
    assert "Revise the OASys assessment Recorded by" in words
    assert f"What you changed in answer to the reasons {REVISED['changes_made']}" in words
    assert "Registrations the case has now Weapons (WEAP)" in words
    assert "Complete the OASys assessment Recorded by" in words
    assert SPO_REASONS in words
    # The register holds the revised assessment: its registration is on the case.
    with database.transaction(write=False) as session:
        held = session.scalar(select(RegisterCase).where(RegisterCase.crn == CRN))
        assert held is not None
        assert "WEAP" in {r.code for r in held.registrations if r.deregistered_at is None}
        assert (held.rosh, held.rosh_to_known_adult) == (RoshLevel.HIGH, RoshLevel.HIGH)
    # Both versions and the return are on the timeline, in order.
    timeline = timeline_words(app)
    newest_first = [
        timeline.index("Task completed: Revise the OASys assessment"),
        timeline.index("Task completed: Countersign the OASys (SPO)"),
        timeline.index("Task completed: Complete the OASys assessment"),
    ]
    assert newest_first == sorted(newest_first)
    assert REVISED["changes_made"] in timeline and SPO_REASONS in timeline


def test_an_approved_oasys_goes_on_to_the_plans(case: Case, database: Database) -> None:
    assessed(case, "HIGH")
    returned(case, "countersign_spo", SPO_REASONS)
    revised(case)

    case.countersign("countersign_spo")

    assert case.open_elements() == ["write_plans"]
    assert case.data()["spo_countersignature"]["decision"] == "COUNTERSIGNED"
    with database.transaction(write=False) as session:
        done = session.scalars(
            select(HumanTask.element_id).where(HumanTask.business_key == CRN, HumanTask.state == "completed")
        ).all()
    assert done.count("countersign_spo") == 2 and done.count("revise_oasys") == 1


def test_an_aco_return_goes_back_through_the_spo_and_then_the_aco(app: Flask, case: Case) -> None:
    assessed(case, "VERY_HIGH")
    case.countersign("countersign_spo")
    returned(case, "countersign_aco", ACO_REASONS)

    revision = case.task("revise_oasys")
    words = text_of(signed_in(app, OM_NORTH).get(f"/tasks/{revision.id}").text)
    assert "The ACO returned the OASys assessment" in words
    assert ACO_REASONS in words

    revised(case)  # lowered to high: the ACO still sees the version they returned
    assert case.open_elements() == ["countersign_spo"]
    case.countersign("countersign_spo")
    assert case.open_elements() == ["countersign_aco"]
    assert (
        case.data()["countersign_reason"]
        == "revised after the ACO returned it: SPO and ACO countersign again"
    )
    case.countersign("countersign_aco")
    assert case.open_elements() == ["write_plans"]


def test_a_revision_raised_to_very_high_goes_to_the_aco_as_well(case: Case) -> None:
    assessed(case, "HIGH")
    returned(case, "countersign_spo", "The risk to the known adult is imminent: consider very high.")

    revised(case, rosh_to_known_adult="VERY_HIGH")

    case.countersign("countersign_spo")
    assert case.open_elements() == ["countersign_aco"]


def test_a_return_without_reasons_is_refused_and_nothing_changes(app: Flask, case: Case) -> None:
    assessed(case, "HIGH")
    task_id = case.task("countersign_spo").id
    client = signed_in(app, "spo.north")
    client.post(f"/tasks/{task_id}/claim", data={"then": "task"})
    today = date.fromisoformat(case.today())

    response = client.post(
        f"/tasks/{task_id}",
        data={
            "decision": "RETURNED",
            "countersign_date-day": str(today.day),
            "countersign_date-month": str(today.month),
            "countersign_date-year": str(today.year),
            "action": "complete",
        },
    )

    assert response.status_code == 422
    assert '<a href="#f-return_reasons">Enter reasons for returning it</a>' in response.text
    assert 'value="RETURNED" checked' in response.text  # what was chosen is still there
    assert case.open_elements() == ["countersign_spo"]


def test_a_revision_must_say_what_changed(case: Case) -> None:
    assessed(case, "HIGH")
    returned(case, "countersign_spo", SPO_REASONS)
    task = case.task("revise_oasys")
    data = {k: v for k, v in REVISED.items() if k != "changes_made"} | {"assessment_date": case.today()}

    with pytest.raises(InvalidData) as refused:
        case.engine.complete_task(task.id, Actor(OM_NORTH, frozenset({"OM"})), data)

    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("changes_made", "Enter what you changed in answer to the reasons")
    ]
    assert case.open_elements() == ["revise_oasys"]
