"""Model checks beyond the XSD: each rule is shown by one small edit to a clean fixture bundle."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from engine.checks import check_documents
from engine.errors import Problem
from engine.xmlsafe import parse_xml

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
CLEAN = ("review.bpmn", "record.bpmn", "frequency.dmn", "forms/assess.json")
LANES = {"Officer": "OFFICER", "Senior": "SENIOR"}
ROLES = {"OFFICER", "SENIOR"}
OPERATIONS = {"send_notice"}


def bundle(*names: str) -> dict[str, bytes]:
    """The fixture files, by the name a bundle gives them."""
    return {name: (FIXTURES / name).read_bytes() for name in names or CLEAN}


def edited(files: Mapping[str, bytes], name: str, old: str, new: str) -> dict[str, bytes]:
    """The files with one exact edit to one of them."""
    text = files[name].decode()
    assert text.count(old) == 1, f"{old!r} must occur exactly once in {name}"
    return {**files, name: text.replace(old, new).encode()}


def line_of(files: Mapping[str, bytes], name: str, needle: str) -> int:
    text = files[name].decode()
    assert needle in text
    return text[: text.index(needle)].count("\n") + 1


def check(
    files: Mapping[str, bytes],
    *,
    lanes: Mapping[str, str] = LANES,
    roles: frozenset[str] | set[str] = ROLES,
    operations: frozenset[str] | set[str] = OPERATIONS,
) -> list[Problem]:
    bpmn = {n: parse_xml(c, n) for n, c in files.items() if n.endswith(".bpmn")}
    dmn = {n: parse_xml(c, n) for n, c in files.items() if n.endswith(".dmn")}
    forms = {n: c for n, c in files.items() if n.endswith(".json")}
    return check_documents(bpmn, dmn, forms, lanes=lanes, known_roles=roles, service_operations=operations)


def only(problems: list[Problem], severity: str = "error") -> Problem:
    """The one problem found, of the given severity."""
    assert len(problems) == 1, [str(p) for p in problems]
    assert problems[0].severity == severity
    return problems[0]


def test_clean_bundle_has_no_problems() -> None:
    assert check(bundle()) == []


def test_clean_fixtures_are_valid_for_spiffworkflow() -> None:
    # Keeps the fixtures honest: valid against the XSDs and parsed by the engine's own parser.
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_dmn_file(str(FIXTURES / "frequency.dmn"))
    parser.add_bpmn_files([str(FIXTURES / n) for n in ("review.bpmn", "record.bpmn", "loop.bpmn")])
    spec = parser.get_spec("case_review")
    called = parser.get_subprocess_specs("case_review")
    assert spec.task_specs["chase"].lane == "Senior"
    assert called["follow_up"].task_specs["follow_up_call"].lane == "Officer"
    assert called["record_outcome"].task_specs["record_review"].lane == "Officer"
    assert parser.get_spec("monthly_meetings") is not None


# --- lanes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["assess", "chase"])
def test_user_or_manual_task_in_no_lane_is_refused(task: str) -> None:
    files = edited(bundle(), "review.bpmn", f"<bpmn:flowNodeRef>{task}</bpmn:flowNodeRef>", "")
    problem = only(check(files))
    assert problem.element_id == task
    assert problem.line == line_of(files, "review.bpmn", f'id="{task}"')
    assert "put it in a lane named after the grade that does it" in problem.message


def test_task_in_embedded_subprocess_takes_the_subprocess_lane() -> None:
    # follow_up_call has no flowNodeRef of its own: it is fine while its sub-process is in a lane.
    files = edited(bundle(), "review.bpmn", "<bpmn:flowNodeRef>follow_up</bpmn:flowNodeRef>", "")
    assert only(check(files)).element_id == "follow_up_call"


def test_called_process_needs_its_own_lanes() -> None:
    # SpiffWorkflow gives tasks in a called process no lane, whatever lane the call activity sits in.
    files = edited(bundle(), "record.bpmn", "<bpmn:flowNodeRef>record_review</bpmn:flowNodeRef>", "")
    problem = only(check(files))
    assert (problem.file, problem.element_id) == ("record.bpmn", "record_review")


def test_lane_missing_from_lanes_json_is_refused() -> None:
    problem = only(check(bundle(), lanes={"Officer": "OFFICER"}))
    assert problem.element_id == "lane_senior"
    assert problem.line == line_of(bundle(), "review.bpmn", 'id="lane_senior"')
    assert "'Senior' is not in lanes.json" in problem.message


def test_lane_mapped_to_an_unknown_role_is_refused() -> None:
    problem = only(check(bundle(), lanes={**LANES, "Senior": "BOSS"}))
    assert problem.element_id == "lane_senior"
    assert "'BOSS'" in problem.message
    assert "fix the role code in lanes.json" in problem.message


def test_task_in_a_lane_with_no_name_is_refused() -> None:
    files = edited(bundle(), "review.bpmn", 'id="lane_senior" name="Senior"', 'id="lane_senior"')
    problems = check(files)
    assert {p.element_id for p in problems} == {"chase"}
    assert "lane with no name" in problems[0].message


# --- forms ---------------------------------------------------------------------------------------


def test_missing_form_file_is_refused() -> None:
    files = edited(bundle(), "review.bpmn", 'value="assess.json"', 'value="asses.json"')
    problem = only(check(files))
    assert problem.element_id == "assess"
    assert problem.line == line_of(files, "review.bpmn", 'value="asses.json"')
    assert "'asses.json' is not in the bundle" in problem.message


def test_form_is_found_by_its_exact_key_too() -> None:
    files = edited(bundle(), "review.bpmn", 'value="assess.json"', 'value="forms/assess.json"')
    assert check(files) == []
    files = {
        **bundle("review.bpmn", "record.bpmn", "frequency.dmn"),
        "assess.json": bundle()["forms/assess.json"],
    }
    assert check(files) == []


def test_form_that_is_not_json_is_refused_with_its_line() -> None:
    files = edited(bundle(), "forms/assess.json", '"type": "object",', '"type": "object"')
    problem = only(check(files))
    assert (problem.file, problem.line) == ("forms/assess.json", 5)


def test_form_that_is_not_a_valid_json_schema_is_refused() -> None:
    files = edited(bundle(), "forms/assess.json", '"minimum": 0', '"minimum": "zero"')
    problem = only(check(files))
    assert problem.file == "forms/assess.json"
    assert "not a valid JSON Schema at properties/score/minimum" in problem.message


def test_form_with_an_unknown_meta_schema_is_refused() -> None:
    files = edited(bundle(), "forms/assess.json", "draft/2020-12", "draft/2099-01")
    assert 'unknown "$schema"' in only(check(files)).message


def test_form_whose_top_level_is_not_an_object_is_refused() -> None:
    files = edited(bundle(), "forms/assess.json", '"type": "object"', '"type": "array"')
    assert '"type": "object"' in only(check(files)).message


# --- service tasks -------------------------------------------------------------------------------


def test_unregistered_service_operation_is_refused() -> None:
    problem = only(check(bundle(), operations={"send_letter"}))
    assert problem.element_id == "notify"
    assert problem.line == line_of(
        bundle(), "review.bpmn", '<spiffworkflow:serviceTaskOperator id="send_notice"'
    )
    assert "'send_notice' is not registered: use one of: send_letter" in problem.message


def test_service_task_without_an_operator_is_refused() -> None:
    files = edited(
        bundle(), "review.bpmn", 'serviceTaskOperator id="send_notice"', 'serviceTaskProperty id="x"'
    )
    files = edited(
        files, "review.bpmn", "</spiffworkflow:serviceTaskOperator>", "</spiffworkflow:serviceTaskProperty>"
    )
    assert "has no operator" in only(check(files)).message


# --- timers --------------------------------------------------------------------------------------


def with_timer(old: str, new: str) -> list[Problem]:
    return check(edited(bundle(), "review.bpmn", old, new))


@pytest.mark.parametrize("literal", ["P14D", "PT1H", "P1Y2M10DT2H30M"])
def test_unquoted_timer_literal_is_refused_with_a_fix(literal: str) -> None:
    problem = only(with_timer('"P14D"', literal))
    assert problem.element_id == "assess_overdue"
    assert problem.line == line_of(bundle(), "review.bpmn", '"P14D"')
    assert problem.message == f'timer expression {literal} is read as Python; quote it: "{literal}"'


@pytest.mark.parametrize("literal", ["R/P7D", "R3/P7D"])
def test_unquoted_cycle_literal_is_refused_with_a_fix(literal: str) -> None:
    problem = only(with_timer('"R3/P7D"', literal))
    assert problem.element_id == "chase_reminder"
    assert f'quote it: "{literal}"' in problem.message


def test_unquoted_date_literal_is_refused_with_a_fix() -> None:
    problem = only(with_timer('"2026-12-01T09:00:00Z"', "2026-12-01T09:00:00Z"))
    assert problem.element_id == "wait_until"
    assert 'quote it: "2026-12-01T09:00:00Z"' in problem.message


def test_timer_expression_that_does_not_compile_is_refused() -> None:
    problem = only(with_timer('"P14D"', "f'P{days'"))
    assert "is not valid Python" in problem.message


def test_timer_expression_on_an_indented_new_line_is_refused() -> None:
    # eval() refuses an expression that starts on an indented line, as SpiffWorkflow will.
    assert "indented line" in only(with_timer('"P14D"', '\n          "P14D"\n')).message


def test_naive_timer_date_is_refused() -> None:
    problem = only(with_timer('"2026-12-01T09:00:00Z"', '"2026-12-01T09:00:00"'))
    assert problem.element_id == "wait_until"
    assert "add Z or an offset; naive times use the server's zone" in problem.message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"P14D"', '"14 days"', "not an ISO 8601 duration"),
        ('"P14D"', '"PT"', "not an ISO 8601 duration"),
        ('"P14D"', '"2026-12-01T09:00:00Z"', "not an ISO 8601 duration"),
        ('"P14D"', "14", "not a string"),
        ('"2026-12-01T09:00:00Z"', '"next Tuesday"', "not an ISO 8601 date-time"),
        ('"R3/P7D"', '"P7D"', "not an ISO 8601 repeating interval"),
        ('"R3/P7D"', '"R3/2026-12-01T09:00:00Z"', "exactly one valid duration"),
        ('"R3/P7D"', '"R3/2026-12-01T09:00:00/P1D"', "add Z or an offset"),
    ],
)
def test_quoted_timer_value_must_be_iso_8601_of_its_kind(old: str, new: str, expected: str) -> None:
    assert expected in only(with_timer(old, new)).message


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"P14D"', '"PT36H"'),
        ('"P14D"', '"P2W"'),
        ('"P14D"', 'f"P{review_days}D"'),
        ('"2026-12-01T09:00:00Z"', '"2026-12-01T09:00:00+01:00"'),
        ('"2026-12-01T09:00:00Z"', "next_review"),
        ('"R3/P7D"', '"R/P7D"'),
        ('"R3/P7D"', '"R3/2026-12-01T09:00:00Z/P1D"'),
    ],
)
def test_valid_timer_expressions_pass(old: str, new: str) -> None:
    assert with_timer(old, new) == []


def test_boundary_timer_using_its_tasks_prescript_variable_is_refused() -> None:
    # assess's preScript sets reminder_days, but its boundary timer is evaluated before that.
    problem = only(with_timer('"P14D"', 'f"P{reminder_days}D"'))
    assert problem.element_id == "assess_overdue"
    assert "reminder_days" in problem.message
    assert "set reminder_days in an earlier task" in problem.message


def test_boundary_timer_using_earlier_data_is_accepted() -> None:
    assert with_timer('"P14D"', 'f"P{review_days}D"') == []


# --- call activities -----------------------------------------------------------------------------


def test_call_activity_to_an_unknown_process_is_refused() -> None:
    files = edited(
        bundle(), "review.bpmn", 'calledElement="record_outcome"', 'calledElement="record_outcomes"'
    )
    problem = only(check(files))
    assert problem.element_id == "record"
    assert "'record_outcomes'" in problem.message


def test_call_activity_target_must_be_in_the_bundle() -> None:
    files = bundle("review.bpmn", "frequency.dmn", "forms/assess.json")
    assert only(check(files)).element_id == "record"


# --- decisions -----------------------------------------------------------------------------------


def test_business_rule_task_with_an_unknown_decision_is_refused() -> None:
    files = edited(bundle(), "review.bpmn", ">review_frequency<", ">review_frequncy<")
    problem = only(check(files))
    assert problem.element_id == "decide"
    assert "'review_frequncy'" in problem.message
    assert "known: review_frequency" in problem.message


def test_dmn_file_with_two_decisions_is_refused() -> None:
    second = '<decision id="another" name="Another" />\n</definitions>'
    files = edited(bundle(), "frequency.dmn", "</definitions>", second)
    problem = only(check(files))
    assert problem.file == "frequency.dmn"
    assert "exactly one decision" in problem.message


def test_dmn_1_2_namespace_is_accepted() -> None:
    files = edited(
        bundle(),
        "frequency.dmn",
        "https://www.omg.org/spec/DMN/20191111/MODEL/",
        "http://www.omg.org/spec/DMN/20180521/MODEL/",
    )
    assert check(files) == []


def dmn_cell(cell_id: str, old: str, new: str) -> list[Problem]:
    files = edited(
        bundle(),
        "frequency.dmn",
        f'<inputEntry id="{cell_id}"><text>{old}</text>',
        f'<inputEntry id="{cell_id}"><text>{escape(new)}</text>',
    )
    return check(files)


def test_dmn_input_cell_that_is_not_python_is_refused_with_rule_and_column() -> None:
    problem = only(dmn_cell("rule_high_score", "&gt; 5", "[5..10]"))
    assert (problem.file, problem.element_id) == ("frequency.dmn", "rule_high_score")
    assert problem.line == line_of(bundle(), "frequency.dmn", 'id="rule_high_score"')
    assert problem.message.startswith("rule 1, column 'Score': input cell '[5..10]' is not valid Python")


def test_dmn_input_cell_starting_with_a_word_operator_needs_a_question_mark() -> None:
    problem = only(dmn_cell("rule_low_level", '? in ["LOW", "NONE"]', 'in ["LOW", "NONE"]'))
    assert problem.message.startswith("rule 3, column 'Level'")
    assert '\'? in ["LOW", "NONE"]\'' in problem.message


def test_blank_dmn_input_cell_is_a_warning() -> None:
    problem = only(dmn_cell("rule_high_score", "&gt; 5", "   "), severity="warning")
    assert "write - to match anything" in problem.message


def test_dmn_input_expression_that_is_not_python_is_refused() -> None:
    files = edited(bundle(), "frequency.dmn", "<text>score</text>", "<text>score of case</text>")
    problem = only(check(files))
    assert problem.element_id == "input_score"
    assert "input 'Score'" in problem.message


def test_dmn_output_cell_that_is_not_python_is_refused() -> None:
    files = edited(bundle(), "frequency.dmn", "<text>14</text>", "<text>two weeks</text>")
    problem = only(check(files))
    assert problem.element_id == "rule_medium_days"
    assert problem.message.startswith(
        "rule 2, column 'Review days': output cell 'two weeks' is not valid Python"
    )


def test_unquoted_dmn_output_string_is_a_warning() -> None:
    files = edited(bundle(), "frequency.dmn", "<text>14</text>", "<text>FORTNIGHTLY</text>")
    problem = only(check(files), severity="warning")
    assert problem.element_id == "rule_medium_days"
    assert 'is this meant to be a string? quote it: "FORTNIGHTLY"' in problem.message


def test_dmn_output_constants_are_not_mistaken_for_strings() -> None:
    files = edited(bundle(), "frequency.dmn", "<text>14</text>", "<text>None</text>")
    assert check(files) == []


def test_dmn_rule_with_more_cells_than_columns_is_refused() -> None:
    cell = '<outputEntry id="rule_high_days"><text>7</text></outputEntry>'
    extra = '<outputEntry id="rule_high_extra"><text>1</text></outputEntry>'
    files = edited(bundle(), "frequency.dmn", cell, cell + extra)
    problem = only(check(files))
    assert problem.element_id == "rule_high"
    assert "2 outputEntry cells for 1 columns" in problem.message


class _ScriptEngine:
    """The two script-engine calls DMNEngine makes, with PythonScriptEngine's semantics."""

    def validate(self, expression: str) -> None:
        ast.parse(expression)

    def evaluate(self, task: Any, expression: str, external_context: dict[str, Any] | None = None) -> Any:
        return eval(expression, {**task.data, **(external_context or {})})  # noqa: S307


@pytest.mark.parametrize(
    "cell",
    [
        "5",
        "> 5",
        "== 5",
        ">= 5 and score < 9",
        "4 < ? < 6",
        "? in [1, 2]",
        " in [1, 2]",
        "in [1, 2]",
        "not in [1, 2]",
        "[5..10]",
        "score = 5",
        " 5",
        '"a?"',
    ],
)
def test_dmn_input_cells_are_judged_as_spiffworkflow_runs_them(cell: str) -> None:
    task = SimpleNamespace(workflow=SimpleNamespace(script_engine=_ScriptEngine()), data={"score": 5})
    try:
        DMNEngine(None).evaluate("score", cell, task)
        runs = True
    except (SyntaxError, NameError):
        runs = False
    refused = [p for p in dmn_cell("rule_high_score", "&gt; 5", cell) if p.severity == "error"]
    assert runs == (refused == []), [str(p) for p in refused]


# --- loops ---------------------------------------------------------------------------------------


def test_back_edge_loop_is_a_warning_on_the_node_it_lands_on() -> None:
    files = bundle("loop.bpmn")
    problem = only(check(files), severity="warning")
    assert problem.element_id == "again"
    assert problem.line == line_of(files, "loop.bpmn", '<bpmn:exclusiveGateway id="again"')
    assert "after about 300 turns SpiffWorkflow stops silently" in problem.message
    assert "sub-process with a standard loop" in problem.message


def test_each_loop_is_reported_once() -> None:
    # A second way back to the same gateway is the same loop to the modeller.
    files = edited(
        bundle("loop.bpmn"),
        "loop.bpmn",
        '<bpmn:sequenceFlow id="loop_flow_end"',
        '<bpmn:sequenceFlow id="loop_flow_back2" sourceRef="meet" targetRef="again" />\n'
        '<bpmn:sequenceFlow id="loop_flow_end"',
    )
    assert only(check(files), severity="warning").element_id == "again"


def test_loop_through_a_boundary_event_is_a_warning() -> None:
    files = edited(
        bundle(),
        "review.bpmn",
        'sourceRef="assess_overdue" targetRef="chase"',
        'sourceRef="assess_overdue" targetRef="assess"',
    )
    # The overdue path now leads back into the task it is attached to.
    assert only(check(files), severity="warning").element_id == "assess"


# --- duplicate ids -------------------------------------------------------------------------------


def test_duplicate_ids_across_bpmn_files_are_refused() -> None:
    files = edited(bundle(), "record.bpmn", 'id="record_end"', 'id="done"')
    files = edited(
        files,
        "record.bpmn",
        "<bpmn:flowNodeRef>record_end</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>done</bpmn:flowNodeRef>",
    )
    files = edited(files, "record.bpmn", 'targetRef="record_end"', 'targetRef="done"')
    problem = only(check(files))
    assert (problem.file, problem.element_id) == ("record.bpmn", "done")
    first = line_of(files, "review.bpmn", '<bpmn:endEvent id="done"')
    assert f"already used at review.bpmn:{first}" in problem.message


def test_deeply_nested_expressions_are_refused_not_crashed_on() -> None:
    # The compiler raises RecursionError or MemoryError here; the check must report, not fail.
    problems = with_timer('"P14D"', "-" * 100_000 + "1")
    assert "nested too deeply" in only(problems).message
    files = edited(bundle(), "frequency.dmn", "<text>14</text>", "<text>" + "a+" * 100_000 + "a</text>")
    problem = only(check(files))
    assert "nested too deeply" in problem.message
    assert len(problem.message) < 200
    assert only(dmn_cell("rule_high_score", "&gt; 5", "a+" * 100_000 + "a")).severity == "error"


def test_deeply_nested_form_schema_is_refused_not_crashed_on() -> None:
    schema = '{"type": "object", "properties": {"a": ' * 400 + '{"type": "string"}' + "}}" * 400
    files = {**bundle(), "forms/assess.json": schema.encode()}
    assert "nested too deeply" in only(check(files)).message


# --- model code under the sandbox's rules ---------------------------------------------------------


def test_a_script_reaching_a_module_through_a_library_is_refused_at_its_element_and_line() -> None:
    # The reported attack: a module's own imports are public attributes (datetime.sys.modules).
    attack = "reminder_days = 14\nimport datetime\nx = datetime.sys.modules['os'].popen('id').read()"
    files = edited(bundle(), "review.bpmn", "reminder_days = 14<", f"{escape(attack)}<")
    problem = only(check(files))
    assert (problem.file, problem.element_id) == ("review.bpmn", "assess")
    assert problem.line == line_of(files, "review.bpmn", "<spiffworkflow:preScript>") + 2
    assert problem.message.startswith("preScript line 3: datetime.sys is not available in model scripts")


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("import os", "import of 'os' is not allowed"),
        ("x = (y for y in []).gi_frame", '"gi_frame" is a restricted name'),
        ("x = '{0.__class__}'.format(1)", "'.format' is not available"),
        ("x = int.mro()", "'.mro' is not available"),
        ("f = lambda o=open: o('/etc/passwd')", "open is not available"),
        ("class Escape:\n    pass", "class definitions are not available"),
        ("import datetime\nx = datetime.datetime.now()", "use now() or today()"),
    ],
)
def test_a_script_that_the_sandbox_would_refuse_is_an_error(script: str, expected: str) -> None:
    files = edited(bundle(), "review.bpmn", "reminder_days = 14<", f"{escape(script)}<")
    problem = only(check(files))
    assert problem.element_id == "assess"
    assert expected in problem.message


@pytest.mark.parametrize(
    ("script", "line", "expected"),
    [
        ("reminder_days = 14\n  reminder_days = 15", 2, "unexpected indent"),
        ("if reminder_days:\nreminder_days = 15", 2, "expected an indented block"),
        ("reminder_days = (14", 1, "was never closed"),
    ],
)
def test_a_script_that_is_not_python_is_refused_at_its_line(script: str, line: int, expected: str) -> None:
    files = edited(bundle(), "review.bpmn", "reminder_days = 14<", f"{escape(script)}<")
    problem = only(check(files))
    assert (problem.element_id, problem.severity) == ("assess", "error")
    assert problem.line == line_of(files, "review.bpmn", "<spiffworkflow:preScript>") + line - 1
    assert problem.message.startswith(f"preScript line {line} is not valid Python: ")
    assert expected in problem.message


@pytest.mark.parametrize(
    "loop",
    [
        "while True:\n    reminder_days = reminder_days + 1",
        "while 1:\n    for day in range(3):\n        break",  # the inner break leaves only the for
    ],
)
def test_a_loop_that_never_ends_is_a_warning_at_its_line(loop: str) -> None:
    script = f"reminder_days = 14\n{loop}"
    files = edited(bundle(), "review.bpmn", "reminder_days = 14<", f"{escape(script)}<")
    problem = only(check(files), severity="warning")
    assert problem.element_id == "assess"
    assert problem.line == line_of(files, "review.bpmn", "<spiffworkflow:preScript>") + 1
    assert problem.message.startswith("preScript line 2: this loop never ends")


@pytest.mark.parametrize(
    "loop",
    [
        "while True:\n    reminder_days = reminder_days + 1\n    if reminder_days > 20:\n        break",
        "while reminder_days < 20:\n    reminder_days = reminder_days + 1",
        "while True:\n    for day in range(3):\n        raise ValueError('no working day')",
    ],
)
def test_a_loop_with_a_way_out_is_not_warned_about(loop: str) -> None:
    script = f"reminder_days = 14\n{loop}"
    files = edited(bundle(), "review.bpmn", "reminder_days = 14<", f"{escape(script)}<")
    assert check(files) == []


def test_a_gateway_condition_that_the_sandbox_would_refuse_is_an_error() -> None:
    files = edited(
        bundle("loop.bpmn"),
        "loop.bpmn",
        "<bpmn:conditionExpression>finished<",
        "<bpmn:conditionExpression>'{0.__class__}'.format(finished)<",
    )
    problems = [p for p in check(files) if p.severity == "error"]
    assert len(problems) == 1, [str(p) for p in problems]
    assert problems[0].message.startswith("condition: '.format' is not available")
    assert problems[0].line == line_of(files, "loop.bpmn", "<bpmn:conditionExpression>")


def test_a_decision_cell_that_the_sandbox_would_refuse_is_an_error() -> None:
    problem = only(dmn_cell("rule_high_score", "&gt; 5", "> len(int.mro())"))
    assert problem.element_id == "rule_high_score"
    assert problem.message.startswith("rule 1, column 'Score': '.mro' is not available")
    files = edited(bundle(), "frequency.dmn", "<text>14</text>", "<text>getattr(level, 'upper')</text>")
    problem = only(check(files))
    assert (problem.element_id, problem.severity) == ("rule_medium_days", "error")
    assert "getattr" in problem.message


def test_the_allowed_libraries_and_functions_pass_the_checks() -> None:
    script = (
        "import datetime, math, re, json, decimal\nfrom datetime import date, timedelta\n"
        "due = add_working_days(now(), 5)\nx = math.ceil(date(2026, 1, 1).day / 7)\n"
        "ok = bool(re.fullmatch(r'X\\d+', 'X1'))\ntype = 'court'\nkind = type.upper()"
    )
    assert check(edited(bundle(), "review.bpmn", "reminder_days = 14<", f"{escape(script)}<")) == []
