"""The steps of a deployed model as the monitor sees them: names, kinds, expected times, and which
step receives each message, read from the BPMN files as XML once per definition version.

A step's expected time is its `expectedDuration` element property: an ISO 8601 duration such as
P10D, or "5 working days"; DEFAULT_EXPECTED for steps that set none.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import ISO_DURATION, WORKING_DAYS, WorkingCalendar
from engine.diagrams import diagrams_main_first
from engine.errors import NotFound
from engine.models import DefinitionFile, ProcessDefinition
from engine.xmlsafe import parse_xml

EXPECTED_PROPERTY = "expectedDuration"
DEFAULT_EXPECTED = "10 working days"

_BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_STEP_TAGS = frozenset(
    {
        "userTask",
        "manualTask",
        "task",
        "scriptTask",
        "serviceTask",
        "businessRuleTask",
        "sendTask",
        "receiveTask",
        "callActivity",
        "subProcess",
        "intermediateCatchEvent",
        "boundaryEvent",
        "startEvent",
        "endEvent",
        "exclusiveGateway",
        "eventBasedGateway",
        "parallelGateway",
        "inclusiveGateway",
        "intermediateThrowEvent",
    }
)


# ---------------------------------------------------------------------------------- expected times


@dataclass(frozen=True)
class Expected:
    """How long a step should take: working days, or a plain duration."""

    text: str
    working_days: int | None = None
    duration: timedelta | None = None

    @classmethod
    def parse(cls, text: str) -> Expected:
        """An `expectedDuration` value; a bad value is refused with the forms that are allowed."""
        value = text.strip()
        found = WORKING_DAYS.match(value)
        if found:
            return cls(value, working_days=int(found.group(1)))
        if ISO_DURATION.match(value):
            parsed = TimerEventDefinition.parse_iso_duration(value)
            start = datetime(2000, 1, 1, tzinfo=UTC)
            return cls(value, duration=TimerEventDefinition.get_timedelta_from_start(parsed, start))
        raise ValueError(
            f"{EXPECTED_PROPERTY} {value!r} is not a duration: use an ISO 8601 duration such as P10D "
            "or a number of working days such as '5 working days'"
        )

    def cutoff(self, now: datetime, calendar: WorkingCalendar) -> datetime:
        """The moment before which a wait that started is longer than expected."""
        if self.duration is not None:
            return now - self.duration
        return working_days_before(now, self.working_days or 0, calendar)

    def words(self) -> str:
        """The expected time in words: '20 working days', '7 days', '4 hours'."""
        if self.duration is not None:
            return span(self.duration)
        return plural(self.working_days or 0, "working day")

    def elapsed(self, since: datetime, now: datetime, calendar: WorkingCalendar) -> str:
        """How long from `since` to `now`, in this expected time's unit ('12 working days')."""
        if self.duration is not None:
            return span(now - since)
        return plural(calendar.working_days_between(since.date(), now.date()), "working day")


def plural(n: int, unit: str) -> str:
    """'1 working day', '3 working days'."""
    return f"{n} {unit}{'' if n == 1 else 's'}"


def span(length: timedelta) -> str:
    """A length of time in its largest whole unit: '25 minutes', '3 hours', '4 days'."""
    minutes = max(0, int(length.total_seconds() // 60))
    if minutes < 60:
        return plural(minutes, "minute")
    if minutes < 48 * 60:
        return plural(minutes // 60, "hour")
    return plural(minutes // (24 * 60), "day")


def working_days_before(moment: datetime, days: int, calendar: WorkingCalendar) -> datetime:
    """The same time of day, `days` working days before `moment`."""
    day, remaining = moment, days
    while remaining:
        day -= timedelta(days=1)
        if calendar.is_working_day(day.date()):
            remaining -= 1
    return day


@dataclass(frozen=True)
class Step:
    """One element of a deployed model as the monitor shows it."""

    element_id: str
    name: str
    kind: str
    expected: Expected
    expected_set: bool  # False: the default applies


@dataclass(frozen=True)
class ModelSteps:
    """The steps of a definition version, and which step receives each message."""

    definition_id: int
    steps: dict[str, Step]
    message_steps: dict[str, list[str]]
    message_words: dict[str, str]
    bpmn_path: str | None
    default: Expected = field(default_factory=lambda: Expected.parse(DEFAULT_EXPECTED))

    def step(self, element_id: str | None) -> Step | None:
        """The step with this element id, if the model has it."""
        return self.steps.get(element_id or "")

    def expected(self, element_id: str | None) -> Expected:
        """The step's expected time (the default when it sets none)."""
        step = self.step(element_id)
        return step.expected if step is not None else self.default

    def name(self, element_id: str | None) -> str:
        """The step's name as the diagram shows it (its id when it has none)."""
        step = self.step(element_id)
        return step.name if step is not None else (element_id or "an unknown step")

    def wait_expected(self, message_name: str) -> Expected | None:
        """How long a wait for this message is expected to last: the `expectedDuration` of the first
        step receiving it that sets one. None: a standing wait (a transfer, an arrest, the case
        ending...), which may rightly last as long as the case and is never late."""
        for element_id in self.message_steps.get(message_name, []):
            step = self.step(element_id)
            if step is not None and step.expected_set:
                return step.expected
        return None

    def late_wait_messages(self) -> list[str]:
        """The messages whose waits can be late (their receiving step expects them within a time)."""
        return [name for name in self.message_steps if self.wait_expected(name) is not None]

    def waits_at(self, element_id: str) -> list[str]:
        """The messages whose waiting instances are said to be at this step."""
        return [name for name, receivers in self.message_steps.items() if receivers[:1] == [element_id]]


# Keyed by content hash and definition id: a deployed version never changes.
_steps_cache: dict[tuple[str, int], ModelSteps] = {}
_steps_lock = threading.Lock()


def model_steps(session: Session, definition_id: int) -> ModelSteps:
    """The steps of a deployed definition, read from its BPMN files once (versions never change)."""
    content_hash = session.scalar(
        select(ProcessDefinition.content_hash).where(ProcessDefinition.id == definition_id)
    )
    if content_hash is None:
        raise NotFound(f"definition {definition_id} does not exist")
    key = (content_hash, definition_id)
    with _steps_lock:
        cached = _steps_cache.get(key)
    if cached is not None:
        return cached
    files = session.execute(
        select(DefinitionFile.path, DefinitionFile.content).where(
            DefinitionFile.definition_id == definition_id, DefinitionFile.path.like("%.bpmn")
        )
    ).all()
    steps: dict[str, Step] = {}
    message_steps: dict[str, list[str]] = {}
    message_words: dict[str, str] = {}
    roots = {path: parse_xml(content, path) for path, content in sorted(files)}
    for root in roots.values():
        read_bpmn(root, steps, message_steps, message_words)
    result = ModelSteps(
        definition_id, steps, message_steps, message_words, next(iter(diagrams_main_first(roots)), None)
    )
    with _steps_lock:
        return _steps_cache.setdefault(key, result)


def read_bpmn(
    root: Any, steps: dict[str, Step], message_steps: dict[str, list[str]], message_words: dict[str, str]
) -> None:
    """Add the steps, expected times and message receivers of one BPMN document."""
    messages = {m.get("id"): m.get("name") or m.get("id") for m in root.iter(f"{{{_BPMN}}}message")}
    for name in messages.values():
        message_words[name] = name.replace("_", " ")
    for element in root.iter():
        if not isinstance(element.tag, str) or not element.tag.startswith(f"{{{_BPMN}}}"):
            continue
        kind = element.tag.split("}", 1)[1]
        if kind not in _STEP_TAGS or not element.get("id"):
            continue
        element_id = element.get("id")
        value = None
        for prop in element.iter(f"{{{_SPIFF}}}property"):
            if prop.get("name") == EXPECTED_PROPERTY:
                value = prop.get("value")
        expected = Expected.parse(value) if value else Expected.parse(DEFAULT_EXPECTED)
        steps[element_id] = Step(element_id, element.get("name") or element_id, kind, expected, bool(value))
        refs = [element.get("messageRef")] + [
            d.get("messageRef") for d in element.iter(f"{{{_BPMN}}}messageEventDefinition")
        ]
        if kind in {"receiveTask", "intermediateCatchEvent", "boundaryEvent"}:
            for ref in refs:
                if ref and ref in messages:
                    receivers = message_steps.setdefault(messages[ref], [])
                    # A boundary event catches the message while other work goes on; the step
                    # that waits for nothing else is where the instance is said to be.
                    receivers.insert(len(receivers) if kind == "boundaryEvent" else 0, element_id)


def forget_model_steps() -> None:
    """Empty the cache of model steps (tests that reuse definition ids between databases)."""
    with _steps_lock:
        _steps_cache.clear()
