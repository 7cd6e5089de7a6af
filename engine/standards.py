"""Due by a standard: a step whose due date is a standard's timescale counted from a date the case
holds (the date of sentence), not from when the step opened.

A human task says which standard with its `dueByStandard` property. The bundle's decision table
`timescales` (one DMN file the process owner edits like any other table) is asked with the
standard's name as `standard` beside the case's data; the first matching row gives

- `timescale`: a number of working days ("15 working days") or an ISO 8601 duration ("P8W");
- `counted_from`: the date it counts from (a date, or ISO text such as "2026-11-09");
- `wording`: how the lists say it ("National Standard: 15 working days from sentence").

The step is then due at the end of the working day (17:00 UK time) the timescale reaches, counted
from that date. So when a step before it was late, the step is due, and overdue, from the standard.
A case no row matches is due by the step's `dueIn`, as any other step.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.dmn.parser.BpmnDmnParser import BpmnDmnParser

from engine.clock import DISPLAY_ZONE, ISO_DURATION, WORKING_DAYS
from engine.xmlsafe import parse_xml

STANDARD_PROPERTY = "dueByStandard"
TIMESCALES_DECISION = "timescales"
STANDARD_INPUT = "standard"  # the input expression that names the standard asked for
OUTPUTS = ("timescale", "counted_from", "wording")
END_OF_DAY = time(17)  # a standard's last day ends at close of business, UK time

_WEEKS_OR_DAYS = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?$")


@dataclass(frozen=True)
class StandardDue:
    """What the table gave for a step: its timescale, the date counted from, and the words."""

    timescale: str
    counted_from: date
    wording: str


class TimescaleTable:
    """The `timescales` decision table of one definition version."""

    def __init__(self, decision_table: Any) -> None:
        self._engine = DMNEngine(decision_table)

    def standard_for(self, task: Any, standard: str) -> StandardDue | None:
        """The first matching row's timescale, start date and words for `standard` on `task`'s case;
        None when no row matches. Raises ValueError when the row gives something unusable."""
        asked = _AskedFor(task, standard)
        try:
            result = self._engine.result(asked)
        except Exception as err:  # the table's own expressions failed on this case's data
            raise ValueError(
                f"{STANDARD_PROPERTY} '{standard}': the decision table {TIMESCALES_DECISION} failed: {err}"
            ) from err
        if not result:
            return None
        missing = [name for name in OUTPUTS if name not in result]
        if missing:
            raise ValueError(
                f"the decision table {TIMESCALES_DECISION} has no output {', '.join(missing)}: "
                f"it needs the outputs {', '.join(OUTPUTS)}"
            )
        timescale, wording = str(result["timescale"]).strip(), str(result["wording"]).strip()
        return StandardDue(timescale, _a_date(standard, result["counted_from"]), wording)


class _AskedFor:
    """The task as the table sees it: the case's data with the standard asked for beside it."""

    def __init__(self, task: Any, standard: str) -> None:
        self._task = task
        self.data = {**task.data, STANDARD_INPUT: standard}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)


def _a_date(standard: str, value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(DISPLAY_ZONE).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(
            f"{STANDARD_PROPERTY} '{standard}': the decision table {TIMESCALES_DECISION} counts from "
            f"{value!r}, which is not a date: its counted_from must give a date such as 2026-11-09"
        ) from None


def start_of_count(day: date) -> datetime:
    """The moment a standard counts from: close of business on `day`, UK time (as UTC)."""
    return datetime.combine(day, END_OF_DAY, tzinfo=DISPLAY_ZONE).astimezone(UTC)


def timescale_words(timescale: str) -> str | None:
    """A timescale as the wording says it ("15 working days", "8 weeks"); None for other forms."""
    text = timescale.strip()
    found = WORKING_DAYS.match(text)
    if found:
        n = int(found.group(1))
        return f"{n} working day{'s' if n != 1 else ''}"
    found = _WEEKS_OR_DAYS.match(text)
    if found and (found.group(1) or found.group(2)) and not (found.group(1) and found.group(2)):
        n, unit = (int(found.group(1)), "week") if found.group(1) else (int(found.group(2)), "day")
        return f"{n} {unit}{'s' if n != 1 else ''}"
    return None


def load_timescales(files: Mapping[str, bytes]) -> TimescaleTable | None:
    """The `timescales` table among a version's DMN files (path -> content), or None without one."""
    for path, content in sorted(files.items()):
        if not path.endswith(".dmn") or TIMESCALES_DECISION.encode() not in content:
            continue
        root = parse_xml(content, path)
        if not any(d.get("id") == TIMESCALES_DECISION for d in root.iter("{*}decision")):
            continue
        parser = BpmnDmnParser()
        parser.add_dmn_xml(root, filename=path)
        engine = parser.get_engine(TIMESCALES_DECISION, None)
        return TimescaleTable(engine.decision_table)
    return None


# ----------------------------------------------------------------------------- for the checks


def standards_named(cells: Iterable[str | None]) -> set[str]:
    """The standards a table's `standard` column names: every quoted name in its cells."""
    names: set[str] = set()
    for cell in cells:
        if cell is None or cell.strip() in ("", "-"):
            continue
        try:
            tree = ast.parse(cell.replace("?", "_").strip(), mode="eval")
        except SyntaxError:
            continue
        names |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return names


def literal_text(cell: str | None) -> str | None:
    """A cell's value when it is a quoted string, else None (an expression over the case's data)."""
    if cell is None:
        return None
    try:
        value = ast.literal_eval(cell.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def is_timescale(text: str) -> bool:
    """Whether a timescale is one the engine reads: working days or an ISO 8601 duration."""
    return bool(WORKING_DAYS.match(text.strip())) or bool(ISO_DURATION.match(text.strip()))
