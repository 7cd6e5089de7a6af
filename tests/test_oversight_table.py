"""The management oversight plan (policy 11), row by row and cell by cell.

Two checks, because each alone can miss a wrong row:

- From the table itself: every rule of oversight_frequency.dmn is read from the file, inputs that
  hit it (and no earlier rule: the first matching row wins) are built from its own cells, and the
  decision the engine makes for them is that rule's output. This proves the engine evaluates the
  table as written, but it cannot notice a table that is written wrongly.
- Against the area's matrix: the Management Oversight Plan matrix (domain.md 3.4), written out here
  independently of the table, is checked cell by cell: how often an SPO reviews the case for each
  risk band and Offender Manager experience, whether low-risk cases are only sampled, and that very
  high RoSH and MAPPA level 3 cases are on the ACO's list.

Decisions are made the way the running process makes them: by the `decide_oversight` business rule
task of the bundle as the engine parses it, evaluated with the engine's own script engine.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from lxml import etree

from casework.roles import TASK_ROLES
from engine.bundle import Bundle
from engine.db import Database
from engine.runtime import ProcessEngine
from tasks.wiring import build_services

BUNDLE_DIR = Path(__file__).resolve().parent.parent / "processes" / "offender-management"
TABLE_FILE = BUNDLE_DIR / "oversight_frequency.dmn"
DMN = {"dmn": "https://www.omg.org/spec/DMN/20191111/MODEL/"}

# What each input of the table can be in the process.
INPUT_VALUES: dict[str, list[Any]] = {
    "rosh": ["VERY_HIGH", "HIGH", "MEDIUM", "LOW"],
    "mappa_level": [0, 1, 2, 3],  # 0: not MAPPA eligible (set_starting_mappa_level)
    "child_or_da_registration": [True, False],
    "om_experience": ["N", "E", "S"],
}
AT_THE_FOUR_MONTH_REVIEW = 17  # weeks: the formal review every 4 months (policy 11)


# ------------------------------------------------------------------------------ reading the table


def parse_cell(text: str) -> tuple[str, Any]:
    """A cell as ("any", None), ("equals", value) or ("one_of", values); anything else is refused."""
    text = text.strip()
    if text in ("", "-"):
        return "any", None
    if text.startswith("? in "):
        return "one_of", list(ast.literal_eval(text.removeprefix("? in ")))
    try:
        return "equals", ast.literal_eval(text)
    except (ValueError, SyntaxError) as err:
        raise AssertionError(f"this test does not understand the cell {text!r}: extend parse_cell") from err


def matches(cell: tuple[str, Any], value: Any) -> bool:
    kind, expected = cell
    return (
        kind == "any" or (kind == "equals" and value == expected) or (kind == "one_of" and value in expected)
    )


def table_rules() -> list[dict[str, Any]]:
    """Each rule of the table: its id, description, input cells by input name, outputs by name."""
    root = etree.parse(str(TABLE_FILE)).getroot()
    [table] = root.findall(".//dmn:decisionTable", DMN)
    assert table.get("hitPolicy") == "FIRST"
    inputs = [
        i.findtext("dmn:inputExpression/dmn:text", namespaces=DMN) for i in table.findall("dmn:input", DMN)
    ]
    outputs = [o.get("name") for o in table.findall("dmn:output", DMN)]
    assert set(inputs) == set(INPUT_VALUES), "the table reads inputs this test does not know"
    rules = []
    for rule in table.findall("dmn:rule", DMN):
        cells = [e.findtext("dmn:text", namespaces=DMN) or "" for e in rule.findall("dmn:inputEntry", DMN)]
        values = [e.findtext("dmn:text", namespaces=DMN) or "" for e in rule.findall("dmn:outputEntry", DMN)]
        rules.append(
            {
                "id": rule.get("id"),
                "description": rule.findtext("dmn:description", namespaces=DMN),
                "when": {name: parse_cell(text) for name, text in zip(inputs, cells, strict=True)},
                "then": {name: ast.literal_eval(text) for name, text in zip(outputs, values, strict=True)},
            }
        )
    return rules


def every_input() -> list[dict[str, Any]]:
    names = list(INPUT_VALUES)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*INPUT_VALUES.values())]


def inputs_hitting(rules: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    """Every input the rule at `index` matches and no earlier rule does."""

    def hits(rule: dict[str, Any], inputs: dict[str, Any]) -> bool:
        return all(matches(cell, inputs[name]) for name, cell in rule["when"].items())

    return [
        inputs
        for inputs in every_input()
        if hits(rules[index], inputs) and not any(hits(earlier, inputs) for earlier in rules[:index])
    ]


# ------------------------------------------------------------------- the decision the process makes


@pytest.fixture(scope="module")
def decide(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The oversight decision as the `decide_oversight` task of the parsed bundle makes it."""
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('oversight') / 'unused.db'}")
    engine = ProcessEngine(database, known_roles=TASK_ROLES, services=build_services())
    parsed = engine.check(Bundle.from_directory(BUNDLE_DIR))
    assert parsed.problems == []
    step = parsed.specs["offender_management"].task_specs["decide_oversight"]

    def decision(**inputs: Any) -> dict[str, Any]:
        task = SimpleNamespace(
            data=dict(inputs), workflow=SimpleNamespace(script_engine=engine.script_engine)
        )
        return dict(step.dmnEngine.result(task))

    yield decision
    database.dispose()


RULES = table_rules()


@pytest.mark.parametrize("index", range(len(RULES)), ids=[rule["id"] for rule in RULES])
def test_each_row_of_the_oversight_table_decides_what_it_says(decide: Any, index: int) -> None:
    rule = RULES[index]
    hitting = inputs_hitting(RULES, index)
    assert hitting, f"no case reaches {rule['id']} ({rule['description']}): an earlier row hides it"
    for inputs in hitting:
        assert decide(**inputs) == rule["then"], (rule["id"], rule["description"], inputs)


def test_every_case_reaches_some_row_of_the_oversight_table() -> None:
    reached = [inputs for index in range(len(RULES)) for inputs in inputs_hitting(RULES, index)]
    assert len(reached) == len(every_input())


# ------------------------------------------------------------ the area's oversight matrix (3.4)

ACO_LIST = "ACO"  # very high RoSH and MAPPA level 3: on the ACO's monthly list
SPO = "SPO"
SAMPLED = "sampled"
POLICY_SAMPLE_RATE = 10  # policy 11: "10% sample"; every other band's periods are all reviewed

# Risk band -> (weeks for N, E, S), the accountable grade, and which bands are only sampled.
# Written from the area's Management Oversight Plan matrix, not from the decision table.
OVERSIGHT_MATRIX: dict[str, dict[str, Any]] = {
    "very high RoSH or MAPPA level 3": {"N": 2, "E": 4, "S": 4, "grade": ACO_LIST},
    "high RoSH or MAPPA level 2": {"N": 4, "E": 6, "S": 8, "grade": SPO},
    "medium RoSH with a child protection or domestic abuse registration": {
        "N": 6,
        "E": 8,
        "S": AT_THE_FOUR_MONTH_REVIEW,
        "grade": SPO,
    },
    "medium RoSH": {"N": 8, "E": AT_THE_FOUR_MONTH_REVIEW, "S": AT_THE_FOUR_MONTH_REVIEW, "grade": SPO},
    "low RoSH": {
        "N": AT_THE_FOUR_MONTH_REVIEW,
        "E": (AT_THE_FOUR_MONTH_REVIEW, SAMPLED),
        "S": (AT_THE_FOUR_MONTH_REVIEW, SAMPLED),
        "grade": SPO,
    },
}

# Cases that fall in each band: (rosh, MAPPA level, child protection or domestic abuse registration).
BAND_CASES: dict[str, list[tuple[str, int, bool]]] = {
    "very high RoSH or MAPPA level 3": [
        ("VERY_HIGH", 0, False),
        ("VERY_HIGH", 2, True),
        ("HIGH", 3, False),
        ("MEDIUM", 3, True),
        ("LOW", 3, False),
    ],
    "high RoSH or MAPPA level 2": [
        ("HIGH", 0, False),
        ("HIGH", 1, True),
        ("MEDIUM", 2, True),
        ("LOW", 2, False),
    ],
    "medium RoSH with a child protection or domestic abuse registration": [
        ("MEDIUM", 0, True),
        ("MEDIUM", 1, True),
    ],
    "medium RoSH": [("MEDIUM", 0, False), ("MEDIUM", 1, False)],
    "low RoSH": [("LOW", 0, False), ("LOW", 1, True)],
}

MATRIX_CELLS = [
    (band, experience, case)
    for band, cases in BAND_CASES.items()
    for experience in ("N", "E", "S")
    for case in cases
]


@pytest.mark.parametrize(
    ("band", "experience", "case"),
    MATRIX_CELLS,
    ids=[f"{band}-{experience}-{'-'.join(map(str, case))}" for band, experience, case in MATRIX_CELLS],
)
def test_the_oversight_table_agrees_with_the_areas_oversight_matrix(
    decide: Any, band: str, experience: str, case: tuple[str, int, bool]
) -> None:
    rosh, mappa_level, child_or_da = case
    row = OVERSIGHT_MATRIX[band]
    weeks, sampled = row[experience] if isinstance(row[experience], tuple) else (row[experience], None)

    decided = decide(
        rosh=rosh, mappa_level=mappa_level, child_or_da_registration=child_or_da, om_experience=experience
    )

    assert decided == {
        "oversight_weeks": weeks,
        "sampled": sampled == SAMPLED,
        "sample_rate": POLICY_SAMPLE_RATE if sampled == SAMPLED else 100,
        "reviewer_grade": row["grade"],
        "oversight_band": band,
    }


def test_the_matrix_check_covers_every_cell() -> None:
    assert {(band, experience) for band, experience, _ in MATRIX_CELLS} == {
        (band, experience) for band in OVERSIGHT_MATRIX for experience in ("N", "E", "S")
    }
