"""The risk of serious harm by group at risk (policy 9): the OASys assessment gives the RoSH to
children, the public, a known adult, staff and prisoners, each a level or "not at risk"; the overall
RoSH is the highest of the groups' levels, and countersigning, oversight, the critical few and the
grade rules go on reading that overall level. OASys may still send the older payload: an overall
level and a list of the groups at risk, each group listed at that level."""

from __future__ import annotations

from typing import Any

import pytest
from api_client import call, token
from flask import Flask
from sqlalchemy import func, select
from test_process_model import Case
from test_task_page import FIRST_DETAILS_DATA, app, case, signed_in, text_of
from webui_client import fast_password_hashing

from casework.models import Case as RegisterCase
from casework.models import CaseEvent
from casework.vocabulary import RoshLevel
from engine.errors import InvalidData
from engine.models import InboundMessage

__all__ = ["app", "case", "fast_password_hashing"]  # fixtures

CRN = "X100001"
GROUPS = ("children", "public", "known_adult", "staff", "prisoners")
NOBODY = {f"rosh_to_{group}": "NOT_AT_RISK" for group in GROUPS}


def at_the_oasys(case: Case) -> None:
    """First details, a medium RoSH report, a community order, allocation and induction: the OASys is next."""
    case.complete("record_first_details", {**FIRST_DETAILS_DATA})
    case.screen("MEDIUM")
    case.sentenced()
    if "hold_risk_meeting" in case.open_elements():
        case.hold_meeting("MEDIUM")
    case.allocate("E", "PO")
    case.induct()
    assert "assess_oasys" in case.open_elements()


def assess(case: Case, **levels: str) -> None:
    case.complete(
        "assess_oasys",
        {
            "assessment_date": case.today(),
            **NOBODY,
            **levels,
            "likelihood_of_reoffending": "MEDIUM",
            "current_registrations": [],
            "rosh_summary": "Risk to his children when drinking; to other prisoners when in custody.",
        },
    )


def held(case: Case) -> RegisterCase:
    with case.engine.db.transaction(write=False) as session:
        found = session.scalar(select(RegisterCase).where(RegisterCase.crn == CRN))
        assert found is not None
        session.expunge(found)
    return found


def by_group(case: Case) -> dict[str, RoshLevel | None]:
    found = held(case)
    return {
        "children": found.rosh_to_children,
        "public": found.rosh_to_public,
        "known_adult": found.rosh_to_known_adult,
        "staff": found.rosh_to_staff,
        "prisoners": found.rosh_to_prisoners,
    }


def oasys_message(app: Flask, payload: dict[str, Any]) -> Any:
    oasys = token(app, "oasys", ["messages:send"])
    body = {"name": "oasys_assessment_completed", "correlation_value": CRN, "payload": payload}
    return call(app.test_client(), "POST", "/messages", oasys, body)


def test_the_overall_rosh_is_the_highest_of_the_groups(case: Case) -> None:
    at_the_oasys(case)

    assess(case, rosh_to_children="HIGH", rosh_to_public="MEDIUM", rosh_to_known_adult="LOW")

    assert held(case).rosh == RoshLevel.HIGH
    assert by_group(case) == {
        "children": RoshLevel.HIGH,
        "public": RoshLevel.MEDIUM,
        "known_adult": RoshLevel.LOW,
        "staff": None,
        "prisoners": None,
    }
    # Countersigning reads the overall level: high RoSH is countersigned by the SPO.
    assert case.open_elements() == ["countersign_spo"]
    assert case.data()["rosh"] == "HIGH"


def test_a_risk_to_prisoners_is_kept(case: Case) -> None:
    at_the_oasys(case)

    assess(case, rosh_to_public="MEDIUM", rosh_to_prisoners="VERY_HIGH")

    assert (held(case).rosh, by_group(case)["prisoners"]) == (RoshLevel.VERY_HIGH, RoshLevel.VERY_HIGH)


def test_an_assessment_that_finds_no_group_at_risk_is_refused_and_changes_nothing(case: Case) -> None:
    at_the_oasys(case)
    before = held(case)

    with pytest.raises(InvalidData) as refused:
        assess(case)

    assert [e.message for e in refused.value.errors] == [
        "Give the RoSH level to at least one group: the overall RoSH is the highest of the groups' levels, "
        "and a case with no identified risk is Low to the public."
    ]
    assert case.open_elements() == ["assess_oasys"]
    after = held(case)
    assert (after.rosh, after.rosh_assessed_at) == (before.rosh, before.rosh_assessed_at)
    assert set(by_group(case).values()) == {None}


def test_the_case_record_shows_each_groups_level(app: Flask, case: Case) -> None:
    at_the_oasys(case)

    assess(case, rosh_to_children="HIGH", rosh_to_prisoners="MEDIUM")

    words = text_of(signed_in(app, "spo.north").get(f"/cases/{CRN}").text)
    assert (
        "RoSH to whom Children: High Public: Not at risk Known adult: Not at risk Staff: Not at risk "
        "Prisoners: Medium"
    ) in words
    assert "RoSH changed from Medium to High (OASys assessment): Children High, Prisoners Medium" in words


def test_an_oasys_message_gives_each_groups_level(app: Flask, case: Case) -> None:
    at_the_oasys(case)

    levels = {"STAFF": "HIGH", "PRISONERS": "LOW"}
    sent = oasys_message(app, {"rosh_to": levels, "assessment_date": case.today()})

    assert sent.status_code == 200 and sent.json["status"] == "delivered", sent.json
    assert held(case).rosh == RoshLevel.HIGH
    assert (by_group(case)["staff"], by_group(case)["prisoners"], by_group(case)["public"]) == (
        RoshLevel.HIGH,
        RoshLevel.LOW,
        None,
    )
    assert case.open_elements() == ["countersign_spo"]


def test_an_old_style_oasys_message_still_records_each_group_listed_at_the_overall_level(
    app: Flask, case: Case
) -> None:
    at_the_oasys(case)

    sent = oasys_message(app, {"rosh": "HIGH", "risk_to": ["PUBLIC", "PRISONERS"]})

    assert sent.status_code == 200 and sent.json["status"] == "delivered", sent.json
    assert held(case).rosh == RoshLevel.HIGH
    assert by_group(case) == {
        "children": None,
        "public": RoshLevel.HIGH,
        "known_adult": None,
        "staff": None,
        "prisoners": RoshLevel.HIGH,
    }
    assert case.open_elements() == ["countersign_spo"]


def test_an_oasys_message_whose_overall_level_disagrees_with_its_groups_is_refused_and_changes_nothing(
    app: Flask, case: Case
) -> None:
    at_the_oasys(case)
    events_before, messages_before = _events(case), _messages(case)

    sent = oasys_message(app, {"rosh": "MEDIUM", "rosh_to": {"CHILDREN": "HIGH"}})

    assert sent.status_code == 422
    assert "rosh (MEDIUM) is not the highest of the groups' levels in rosh_to (HIGH)" in sent.json["message"]
    assert held(case).rosh == RoshLevel.MEDIUM
    assert _events(case) == events_before
    assert case.open_elements() == ["assess_oasys"]
    assert _messages(case) == messages_before


def _events(case: Case) -> int:
    with case.engine.db.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(CaseEvent)) or 0


def _messages(case: Case) -> int:
    with case.engine.db.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(InboundMessage)) or 0
