"""Forms never force a false answer: a list that may be empty has a "None" answer, a date something
happened on cannot be in the future, free text has a limit, and `riskflow check` finds a form that
breaks these rules before anyone has to fill it in."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_process_model import Case, case, om_engine
from werkzeug.datastructures import MultiDict

from engine.checks import form_schema_problems
from engine.clock import area_date
from engine.errors import InvalidData
from engine.forms import validate_form_data
from webui.forms_render import NONE_VALUE, entered_values, fields_of, form_data, page_errors, schema_errors

__all__ = ["case", "om_engine"]  # fixtures

FORMS = Path(__file__).resolve().parent.parent / "processes" / "offender-management" / "forms"
TODAY = date(2026, 11, 2)
LIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "registrations": {
            "type": "array",
            "title": "Registrations present",
            "items": {"type": "string", "enum": ["RCPR", "WEAP"]},
            "noneOption": "No registrations apply",
        }
    },
    "required": ["registrations"],
}


def submitted(schema: dict[str, Any], *ticked: str) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """What the task page sends to the engine for these ticks, and the errors it shows."""
    fields = fields_of(schema)
    data, errors = form_data(
        fields, entered_values(fields, MultiDict([("registrations", v) for v in ticked]))
    )
    errors += schema_errors(schema, data, {e.field for e in errors}, TODAY)
    return data, page_errors(fields, errors)


# ------------------------------------------------------------------------------ the "None" answer


def test_none_is_an_answer_and_sends_an_empty_list() -> None:
    assert submitted(LIST_SCHEMA, NONE_VALUE) == ({"registrations": []}, [])


def test_ticking_nothing_asks_for_the_registrations_or_none() -> None:
    data, errors = submitted(LIST_SCHEMA)
    assert data == {}
    assert [message for _, _, message in errors] == [
        "Select registrations present, or “No registrations apply”"
    ]


def test_none_with_a_registration_is_refused_rather_than_guessed() -> None:
    data, errors = submitted(LIST_SCHEMA, "WEAP", NONE_VALUE)
    assert data == {}
    assert [message for _, _, message in errors] == [
        "Select registrations present, or “No registrations apply”, not both"
    ]


def test_registrations_ticked_are_sent_as_they_are() -> None:
    assert submitted(LIST_SCHEMA, "RCPR", "WEAP") == ({"registrations": ["RCPR", "WEAP"]}, [])


@pytest.mark.parametrize(
    ("form", "field"),
    [("pre-sentence-report.json", "registrations"), ("oasys-assessment.json", "current_registrations")],
)
def test_the_report_and_the_oasys_can_say_no_registrations_apply(form: str, field: str) -> None:
    schema = json.loads((FORMS / form).read_text())
    [found] = [f for f in fields_of(schema) if f.name == field]
    assert (found.kind, found.required, found.none_label) == ("checkboxes", True, "No registrations apply")


# ---------------------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("keyword", "when", "message"),
    [
        ("notAfter", TODAY + timedelta(days=1), "Date held must be today or in the past"),
        ("notBefore", TODAY - timedelta(days=1), "Date held must be today or in the future"),
    ],
)
def test_a_date_on_the_wrong_side_of_today_is_refused(keyword: str, when: date, message: str) -> None:
    schema = {
        "type": "object",
        "properties": {"held": {"type": "string", "format": "date", "title": "Date held", keyword: "today"}},
    }
    with pytest.raises(InvalidData) as refused:
        validate_form_data(schema, {"held": when.isoformat()}, today=TODAY)
    assert [(e.field, e.message) for e in refused.value.errors] == [("held", message)]
    validate_form_data(schema, {"held": TODAY.isoformat()}, today=TODAY)  # today itself is on both sides


def test_an_oasys_dated_tomorrow_is_refused_by_the_engine_and_the_task_stays_open(case: Case) -> None:
    case.start()
    case.complete(
        "write_psr",
        {"report_date": case.today(), "rosh": "LOW", "mappa_category": "NOT_ELIGIBLE", "registrations": []},
    )
    case.sentenced()
    case.allocate("E")
    case.induct()
    oasys = case.task("assess_oasys")
    tomorrow = (area_date(case.engine.clock.now()) + timedelta(days=1)).isoformat()
    answers = {
        "assessment_date": tomorrow,
        "rosh_to_children": "NOT_AT_RISK",
        "rosh_to_public": "LOW",
        "rosh_to_known_adult": "NOT_AT_RISK",
        "rosh_to_staff": "NOT_AT_RISK",
        "rosh_to_prisoners": "NOT_AT_RISK",
        "likelihood_of_reoffending": "LOW",
        "current_registrations": [],
        "rosh_summary": "No known victims.",
    }
    with pytest.raises(InvalidData) as refused:
        case.complete("assess_oasys", answers)
    assert [e.message for e in refused.value.errors] == [
        "Date of the assessment must be today or in the past"
    ]
    assert case.task_row("assess_oasys").state == "open"
    assert case.task("assess_oasys").id == oasys.id
    case.complete("assess_oasys", {**answers, "assessment_date": case.today()})  # an empty list is an answer
    assert case.task_row("assess_oasys").state == "completed"


# ------------------------------------------------------------------------------------ the check


def audit(schema: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (p.severity, p.message) for p in form_schema_problems("forms/f.json", json.dumps(schema).encode())
    ]


def test_the_check_finds_a_required_list_that_cannot_be_answered_none() -> None:
    schema = json.loads(json.dumps(LIST_SCHEMA))
    del schema["properties"]["registrations"]["noneOption"]
    [(severity, message)] = audit(schema)
    assert severity == "error"
    assert message.startswith("field 'registrations': a required list that may be empty")
    schema["properties"]["registrations"]["minItems"] = 1  # a list that must name one is fine
    assert audit(schema) == []


@pytest.mark.parametrize(
    ("prop", "severity", "says"),
    [
        ({"type": "string", "maxLength": 10, "noneOption": "None"}, "error", '"noneOption" gives the words'),
        (
            {"type": "array", "items": {"enum": ["A"]}, "noneOption": "None", "minItems": 1},
            "error",
            "contradict",
        ),
        (
            {"type": "string", "notAfter": "today", "maxLength": 10},
            "error",
            '"notAfter" works on a date field',
        ),
        (
            {"type": "string", "format": "date", "notBefore": "tomorrow"},
            "error",
            '"notBefore" works on a date',
        ),
        ({"type": "string", "title": "Notes"}, "warning", 'free text with no "maxLength"'),
    ],
)
def test_the_check_names_each_misused_keyword(prop: dict[str, Any], severity: str, says: str) -> None:
    [(found_severity, message)] = audit({"type": "object", "properties": {"x": prop}})
    assert found_severity == severity
    assert message.startswith("field 'x': ") and says in message
