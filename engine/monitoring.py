"""Watching running instances: where they are, which are late, which are stuck, and why each one waits.

Every question here is answered from the engine's tables (instances, human tasks, message waits,
the audit trail) and from the deployed BPMN files read as XML; no workflow is loaded. A step's
expected time comes from its `expectedDuration` element property (an ISO 8601 duration such as
P10D, or "5 working days"), with DEFAULT_EXPECTED for steps that set none. An instance is stuck
when it is in error, or when it has waited at a step longer than that step's expected time: a
human task open too long, a message not received, or a timer the workers have not fired.

Callers narrow every question to the business keys they may see by passing `keys`, a SELECT of
business keys (None: every instance), or to one team's by passing `team_id`: the team the domain
keeps on each instance and task row (ProcessInstance.team_id), which the indexes lead with.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import ColumnElement, Select, and_, case, false, func, or_, select, union_all
from sqlalchemy.orm import Session, defer

from engine.clock import WorkingCalendar
from engine.errors import Conflict, EngineError, NotFound
from engine.models import (
    AuditEvent,
    DefinitionFile,
    HumanTask,
    MessageWait,
    ProcessDefinition,
    ProcessInstance,
    WorkTally,
)
from engine.steps import InstanceStatus
from engine.tally import day_of, day_start, week_of, week_start
from engine.xmlsafe import parse_xml

EXPECTED_PROPERTY = "expectedDuration"
DEFAULT_EXPECTED = "10 working days"
# A timer this far past due has not been fired: the workers are behind or stopped.
TIMER_GRACE = timedelta(minutes=15)
STUCK_LIMIT = 200

Query = TypeVar("Query", bound="Select[*tuple[Any, ...]]")

# The instance states (engine.steps, which the runtime names too), for this module's queries.
ERROR, RUNNING, WAITING = InstanceStatus.ERROR, InstanceStatus.RUNNING, InstanceStatus.WAITING
AWAITING_PEOPLE, SUSPENDED = InstanceStatus.AWAITING_PEOPLE, InstanceStatus.SUSPENDED
UNFINISHED = (RUNNING, WAITING, AWAITING_PEOPLE, SUSPENDED, ERROR)
MOVABLE = (RUNNING, WAITING, AWAITING_PEOPLE)

_BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
_WORKING_DAYS = re.compile(r"^(\d+)\s*(working|business)\s+days?$", re.IGNORECASE)
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


# Lists of instances never read the workflow state (the largest column).
_WITHOUT_STATE = defer(ProcessInstance.state)

# The human-task columns a waiting reason needs (lists read these, not whole rows).
TASK_COLUMNS = (
    HumanTask.id,
    HumanTask.instance_id,
    HumanTask.business_key,
    HumanTask.element_id,
    HumanTask.title,
    HumanTask.created_at,
    HumanTask.claimed_by,
    HumanTask.assignee,
    HumanTask.candidate_role,
    HumanTask.due_at,
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
        found = _WORKING_DAYS.match(value)
        if found:
            return cls(value, working_days=int(found.group(1)))
        if _ISO_DURATION.match(value):
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
    for path, content in sorted(files):
        read_bpmn(parse_xml(content, path), steps, message_steps, message_words)
    first = min((path for path, _ in files), default=None)
    result = ModelSteps(definition_id, steps, message_steps, message_words, first)
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


# --------------------------------------------------------------------------------------- waiting


@dataclass(frozen=True)
class Waiting:
    """One instance waiting at one step, and why, in fields; `reason()` says it in words."""

    kind: str  # "error", "task", "message", "timer"
    instance_id: int
    business_key: str
    status: str
    element_id: str | None
    step: str
    since: datetime | None
    expected: str = ""
    task_id: int | None = None
    holder: str | None = None  # username holding the task; None: in its role's pool
    role: str | None = None
    due_at: datetime | None = None
    message: str | None = None
    error: Mapping[str, Any] | None = None

    def reason(
        self, now: datetime, calendar: WorkingCalendar, people: Mapping[str, str] | None = None
    ) -> str:
        """Why the instance waits, in plain words ("task held by J. Smith (on leave) for 12 working days")."""
        people = people or {}
        if self.kind == "error":
            error = dict(self.error or {})
            where = f" line {error['line']}" if error.get("line") else ""
            message = str(error.get("message") or "no message recorded")
            return f"failed at {self.step}{where}: {message}"
        if self.kind == "task":
            days = calendar.working_days_between(self.since.date(), now.date()) if self.since else 0
            length = f"for {days} working day{'' if days == 1 else 's'}"
            if self.holder:
                who = people.get(self.holder, self.holder)
                text = f"task held by {who} {length}"
            else:
                pool = f"the {self.role} pool" if self.role else "the pool"
                text = f"task waiting in {pool}, unclaimed, {length}"
            if self.due_at is not None and self.due_at < now:
                text += f" (overdue since {short_date(self.due_at, now)})"
            return text
        if self.kind == "message":
            since = f" since {short_date(self.since, now)}" if self.since else ""
            return f"waiting for the {self.message} message{since}"
        due = f"timer due {short_date(self.due_at, now)}" if self.due_at else "waiting for a timer"
        if self.due_at is not None and self.due_at + TIMER_GRACE < now:
            return f"{due} has not fired: the workers are behind or stopped"
        return due


def short_date(moment: datetime, now: datetime) -> str:
    """3 Nov, or 3 Nov 2025 when not in the year of `now` (UTC dates)."""
    return f"{moment.day} {moment:%b}" if moment.year == now.year else f"{moment.day} {moment:%b %Y}"


@dataclass
class StuckReport:
    """The stuck instances (errors first, then longest waiting), and whether there are more."""

    items: list[Waiting]
    more: bool


class Monitor:
    """The monitor's questions over the engine's tables, on one clock and working calendar."""

    def __init__(self, session: Session, now: datetime, calendar: WorkingCalendar) -> None:
        self.session = session
        self.now = now
        self.calendar = calendar
        self._cutoffs: dict[Expected, datetime] = {}

    # ----------------------------------------------------------------- models in use

    def definitions(self, process_id: str | None = None) -> list[int]:
        """The definition versions (newest first) that contain `process_id` (every one when None)."""
        rows = self.session.execute(
            select(ProcessDefinition.id, ProcessDefinition.process_ids).order_by(ProcessDefinition.id.desc())
        ).all()
        return [row.id for row in rows if process_id is None or process_id in row.process_ids]

    def steps(self, definition_ids: Iterable[int]) -> ModelSteps:
        """The steps of several versions merged, the newest version's settings winning."""
        ids = sorted(set(definition_ids))
        merged: dict[str, Step] = {}
        messages: dict[str, list[str]] = {}
        words: dict[str, str] = {}
        path = None
        for definition_id in ids:
            one = model_steps(self.session, definition_id)
            merged.update(one.steps)
            for name, elements in one.message_steps.items():
                messages[name] = list(dict.fromkeys([*elements, *messages.get(name, [])]))
            words.update(one.message_words)
            path = one.bpmn_path or path
        return ModelSteps(ids[-1] if ids else 0, merged, messages, words, path)

    # ---------------------------------------------------------------------- counts

    def counts_by_step(
        self, definition_ids: Collection[int], keys: Select[Any] | None = None, *, team_id: int | None = None
    ) -> dict[str, dict[str, int]]:
        """For each step: open tasks or waiting instances there now (`now`), those past due or past
        the step's expected time (`overdue`), and instances failed there (`errors`).

        Read from the work tallies (engine.tally) when every version is asked for over every team;
        counted from the rows otherwise (only some versions, one team's rows, or `keys`)."""
        steps = self.steps(definition_ids)
        counts: dict[str, dict[str, int]] = {}

        def add(element_id: str | None, what: str, n: int = 1) -> None:
            if element_id and n:
                entry = counts.setdefault(element_id, {"now": 0, "overdue": 0, "errors": 0})
                entry[what] += n

        every_version = set(definition_ids) == set(self.definitions())
        if keys is None and team_id is None and every_version:
            for element_id, what, n in self._tallied_by_step(steps):
                add(element_id, what, n)
        else:
            for element_id, what, n in self._counted_by_step(steps, definition_ids, keys, team_id):
                add(element_id, what, n)
        errors = select(ProcessInstance.error).where(
            ProcessInstance.status == ERROR, ProcessInstance.definition_id.in_(definition_ids)
        )
        for (error,) in self.session.execute(self._scoped(errors, ProcessInstance, keys, team_id)):
            failed_at = (error or {}).get("element_id")
            add(failed_at, "now")
            add(failed_at, "errors")
        return counts

    def _tallied_by_step(self, steps: ModelSteps) -> Iterable[tuple[str, str, int]]:
        """(element id, "now" or "overdue", n) from the tallies, and from the rows of the week that
        holds the present and of the day that holds each step's cutoff (the tallies cannot say on
        which side of those moments a row falls)."""
        this_week = week_of(self.now)
        cutoff_days = {
            element_id: day_of(self._cutoff(steps.expected(element_id))) for element_id in steps.steps
        }
        default_day = day_of(self._cutoff(steps.default))
        # Open tasks: a tally row is late as a whole when due in a past week or created on a day
        # before the step's cutoff day; the rest of the late ones are counted from the rows.
        past_due = case((WorkTally.due_week < this_week, 1), else_=0)
        tallied = (
            select(WorkTally.name, WorkTally.since_day, past_due, func.sum(WorkTally.n))
            .where(WorkTally.kind == "step")
            .group_by(WorkTally.name, WorkTally.since_day, past_due)
        )
        for element_id, created_day, was_due, n in self.session.execute(tallied):
            yield element_id, "now", int(n)
            if was_due or created_day < cutoff_days.get(element_id, default_day):
                yield element_id, "overdue", int(n)
        # Late, yet in no tally row counted late: created on or after the start of the cutoff's day
        # and due (if at all) on or after the start of this week; late by due date (due this week,
        # before now) or by waiting (created on the cutoff's day, before the cutoff).
        by_due = select(HumanTask.element_id, func.count()).where(
            HumanTask.state == "open",
            HumanTask.due_at >= week_start(this_week),
            HumanTask.due_at < self.now,
            self._per_step(steps, lambda cutoff: HumanTask.created_at >= day_start(day_of(cutoff))),
        )
        by_wait = select(HumanTask.element_id, func.count()).where(
            HumanTask.state == "open",
            or_(HumanTask.due_at >= self.now, HumanTask.due_at.is_(None)),
            self._per_step(
                steps,
                lambda cutoff: and_(
                    HumanTask.created_at >= day_start(day_of(cutoff)), HumanTask.created_at < cutoff
                ),
            ),
        )
        for late in (by_due, by_wait):
            for element_id, n in self.session.execute(late.group_by(HumanTask.element_id)):
                yield element_id, "overdue", int(n)
        if not steps.message_steps:
            return
        # Message waits, by the day their instance last moved, late before the receiving step's cutoff.
        cutoffs = {
            name: min(self._cutoff(steps.expected(e)) for e in element_ids)
            for name, element_ids in steps.message_steps.items()
        }
        waits = (
            select(WorkTally.name, WorkTally.since_day, func.sum(WorkTally.n))
            .where(WorkTally.kind == "wait", WorkTally.name.in_(list(cutoffs)))
            .group_by(WorkTally.name, WorkTally.since_day)
        )
        for name, since_day, n in self.session.execute(waits):
            yield steps.message_steps[name][0], "now", int(n)
            if since_day < day_of(cutoffs[name]):
                yield steps.message_steps[name][0], "overdue", int(n)
        # The waits of instances that last moved on a cutoff's day, before the cutoff: one range
        # of the index on (status, updated_at) per distinct cutoff.
        names_by_cutoff: dict[datetime, list[str]] = {}
        for name, cutoff in cutoffs.items():
            names_by_cutoff.setdefault(cutoff, []).append(name)
        boundary = [
            select(MessageWait.message_name, func.count())
            .select_from(ProcessInstance)
            .join(MessageWait, MessageWait.instance_id == ProcessInstance.id)
            .where(
                ProcessInstance.status.in_(UNFINISHED),
                ProcessInstance.updated_at >= day_start(day_of(cutoff)),
                ProcessInstance.updated_at < cutoff,
                MessageWait.message_name.in_(names),
            )
            .group_by(MessageWait.message_name)
            for cutoff, names in names_by_cutoff.items()
        ]
        for name, n in self.session.execute(union_all(*boundary)):
            yield steps.message_steps[name][0], "overdue", int(n)

    def _counted_by_step(
        self,
        steps: ModelSteps,
        definition_ids: Collection[int],
        keys: Select[Any] | None,
        team_id: int | None,
    ) -> Iterable[tuple[str, str, int]]:
        """(element id, "now" or "overdue", n) counted from the rows of the instances asked for."""
        task_late = or_(HumanTask.due_at < self.now, self._task_waited_too_long(steps))
        tasks = (
            select(HumanTask.element_id, func.count(), func.count(case((task_late, 1))))
            .where(HumanTask.state == "open")
            .group_by(HumanTask.element_id)
        )
        if set(definition_ids) != set(self.definitions()):  # only some versions: join to say which
            tasks = tasks.join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id).where(
                ProcessInstance.definition_id.in_(definition_ids)
            )
        for element_id, n, late in self.session.execute(self._scoped(tasks, HumanTask, keys, team_id)):
            yield element_id, "now", int(n)
            yield element_id, "overdue", int(late)
        if steps.message_steps:  # one grouped pass over the waits, each message late by its own cutoff
            late_waits = [
                and_(
                    MessageWait.message_name == name,
                    ProcessInstance.updated_at < min(self._cutoff(steps.expected(e)) for e in element_ids),
                )
                for name, element_ids in steps.message_steps.items()
            ]
            waits = (
                select(MessageWait.message_name, func.count(), func.count(case((or_(*late_waits), 1))))
                .select_from(MessageWait)
                .join(ProcessInstance, ProcessInstance.id == MessageWait.instance_id)
                .where(
                    MessageWait.message_name.in_(list(steps.message_steps)),
                    ProcessInstance.definition_id.in_(definition_ids),
                    ProcessInstance.status.in_(UNFINISHED),
                )
                .group_by(MessageWait.message_name)
            )
            for name, n, late in self.session.execute(self._scoped(waits, ProcessInstance, keys, team_id)):
                yield steps.message_steps[name][0], "now", int(n)
                yield steps.message_steps[name][0], "overdue", int(late)

    def tasks_by_holder(
        self, due_before: datetime, *, team_id: int | None = None
    ) -> dict[tuple[int | None, str | None], tuple[int, int]]:
        """Open tasks by (team, holder: claimer else assignee, None for the pool): how many are past
        due, and how many are due from now until `due_before` (a moment at or after now).

        Past weeks come from the tallies; the tasks due from the start of this week until
        `due_before` (or the end of this week, whichever is later) are counted from their rows."""
        this_week = week_of(self.now)
        totals: dict[tuple[int | None, str | None], list[int]] = {}

        def add(team: int | None, holder: str | None, late: int, soon: int) -> None:
            entry = totals.setdefault((team or None, holder or None), [0, 0])
            entry[0] += late
            entry[1] += soon

        tallied = (
            select(WorkTally.team_id, WorkTally.name, func.sum(WorkTally.n))
            .where(WorkTally.kind == "holder", WorkTally.due_week < this_week)
            .group_by(WorkTally.team_id, WorkTally.name)
        )
        if team_id is not None:
            tallied = tallied.where(WorkTally.team_id == team_id)
        for team, holder, n in self.session.execute(tallied):
            add(team, holder, int(n), 0)
        held = (HumanTask.team_id, HumanTask.claimed_by, HumanTask.assignee)
        recent = (
            select(
                *held,
                func.count(case((HumanTask.due_at < self.now, 1))),
                func.count(case((and_(HumanTask.due_at >= self.now, HumanTask.due_at < due_before), 1))),
            )
            .where(
                HumanTask.state == "open",
                HumanTask.due_at >= week_start(this_week),
                HumanTask.due_at < max(due_before, week_start(this_week + 1)),
            )
            .group_by(*held)
        )
        for task_team, claimed_by, assignee, late, soon in self.session.execute(
            self._scoped(recent, HumanTask, None, team_id)
        ):
            add(task_team, claimed_by or assignee, int(late), int(soon))
        return {key: (late, soon) for key, (late, soon) in totals.items() if late or soon}

    def instances_by_status(
        self, keys: Select[Any] | None = None, *, team_id: int | None = None
    ) -> dict[str, int]:
        """How many instances are in each state."""
        query = select(ProcessInstance.status, func.count()).group_by(ProcessInstance.status)
        rows = self.session.execute(self._scoped(query, ProcessInstance, keys, team_id))
        return {str(status): int(n) for status, n in rows}

    # ----------------------------------------------------------------------- stuck

    def stuck(
        self, keys: Select[Any] | None = None, *, team_id: int | None = None, limit: int = STUCK_LIMIT
    ) -> StuckReport:
        """Instances in error, then instances waiting at a step longer than the step's expected
        time, longest first; `more` says whether there are more than `limit`."""
        steps = self.steps(self.definitions())
        items, more = self.errored(keys, team_id=team_id, limit=limit, steps=steps)
        tasks = (
            select(*TASK_COLUMNS, ProcessInstance.status)
            .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .where(
                HumanTask.state == "open",
                ProcessInstance.status.in_(MOVABLE),
                self._task_waited_too_long(steps),
            )
        )
        tasks = self._scoped(tasks, HumanTask, keys, team_id)
        waiting: list[Waiting] = [
            self._task_item(row, row.status, steps)
            for row in self.session.execute(
                tasks.order_by(HumanTask.created_at, HumanTask.id).limit(limit + 1)
            )
        ]
        waiting.extend(self._late_waits(steps, keys, team_id, limit))
        late_timers = select(ProcessInstance).where(
            ProcessInstance.status.in_(MOVABLE), ProcessInstance.next_timer_at < self.now - TIMER_GRACE
        )
        late_timers = self._scoped(late_timers, ProcessInstance, keys, team_id)
        late_first = (
            late_timers.order_by(ProcessInstance.next_timer_at, ProcessInstance.id)
            .limit(limit + 1)
            .options(_WITHOUT_STATE)
        )
        waiting.extend(self._timer_item(instance) for instance in self.session.scalars(late_first))
        waiting.sort(key=lambda item: item.since or self.now)
        items = items + waiting
        return StuckReport(items[:limit], more or len(items) > limit)

    def _late_waits(
        self, steps: ModelSteps, keys: Select[Any] | None, team_id: int | None, limit: int
    ) -> list[Waiting]:
        """The oldest waits for a message longer than the receiving step's expected time.

        One walk over waiting instances oldest first (the index on status and updated_at), each
        checked for a late wait, stopping at `limit` + 1 instances; then the late messages of those.
        """
        if not steps.message_steps:
            return []
        cutoffs = {
            name: min(self._cutoff(steps.expected(e)) for e in element_ids)
            for name, element_ids in steps.message_steps.items()
        }
        late = or_(
            *(
                and_(MessageWait.message_name == name, ProcessInstance.updated_at < cutoff)
                for name, cutoff in cutoffs.items()
            )
        )
        oldest = select(ProcessInstance).where(
            ProcessInstance.status == WAITING,
            ProcessInstance.updated_at < max(cutoffs.values()),
            select(MessageWait.id).where(MessageWait.instance_id == ProcessInstance.id, late).exists(),
        )
        oldest = self._scoped(oldest, ProcessInstance, keys, team_id)
        query = (
            oldest.order_by(ProcessInstance.updated_at, ProcessInstance.id)
            .limit(limit + 1)
            .options(_WITHOUT_STATE)
        )
        found = list(self.session.scalars(query))
        names: dict[int, set[str]] = {}
        for instance_id, name in self.session.execute(
            select(MessageWait.instance_id, MessageWait.message_name)
            .join(ProcessInstance, ProcessInstance.id == MessageWait.instance_id)
            .where(MessageWait.instance_id.in_([instance.id for instance in found]), late)
        ):
            names.setdefault(instance_id, set()).add(name)
        return [
            self._message_item(instance, name, element_ids[0], steps)
            for instance in found
            for name, element_ids in steps.message_steps.items()
            if name in names.get(instance.id, ())
        ]

    def errored(
        self,
        keys: Select[Any] | None = None,
        *,
        team_id: int | None = None,
        limit: int = STUCK_LIMIT,
        steps: ModelSteps | None = None,
    ) -> tuple[list[Waiting], bool]:
        """The instances in error (oldest failure first, up to `limit`), and whether there are more."""
        steps = steps or self.steps(self.definitions())
        query = self._scoped(
            select(ProcessInstance).where(ProcessInstance.status == ERROR), ProcessInstance, keys, team_id
        )
        query = (
            query.order_by(ProcessInstance.updated_at, ProcessInstance.id)
            .limit(limit + 1)
            .options(_WITHOUT_STATE)
        )
        found = list(self.session.scalars(query))
        return [self._error_item(instance, steps) for instance in found[:limit]], len(found) > limit

    def waiting(self, instance: ProcessInstance) -> list[Waiting]:
        """Everything one instance waits for now (stuck or not): its error, tasks, messages and timer."""
        steps = self.steps([instance.definition_id])
        found: list[Waiting] = []
        if instance.status == ERROR:
            found.append(self._error_item(instance, steps))
        tasks = self.session.scalars(
            select(HumanTask)
            .where(HumanTask.instance_id == instance.id, HumanTask.state == "open")
            .order_by(HumanTask.id)
        )
        found.extend(self._task_item(task, instance.status, steps) for task in tasks)
        names = self.session.scalars(
            select(MessageWait.message_name)
            .where(MessageWait.instance_id == instance.id)
            .order_by(MessageWait.id)
        )
        for name in names:
            receivers = steps.message_steps.get(name) or []
            found.append(self._message_item(instance, name, receivers[0] if receivers else None, steps))
        if instance.next_timer_at is not None:
            found.append(self._timer_item(instance))
        return found

    def is_stuck(self, item: Waiting) -> bool:
        """Whether this wait is longer than its step's expected time (an error always is)."""
        if item.kind == "error":
            return True
        if item.kind == "timer":
            return item.due_at is not None and item.due_at + TIMER_GRACE < self.now
        if item.since is None:
            return False
        return item.since < Expected.parse(item.expected).cutoff(self.now, self.calendar)

    def timer_lag(self) -> float:
        """Seconds the most overdue unfired timer is behind (0 when every timer is on time)."""
        oldest = self.session.scalar(
            select(func.min(ProcessInstance.next_timer_at)).where(ProcessInstance.status.in_(MOVABLE))
        )
        if oldest is None:
            return 0.0
        return max(0.0, (self.now - oldest).total_seconds())

    # ------------------------------------------------------------------- internals

    def _cutoff(self, expected: Expected) -> datetime:
        """The expected time's cutoff at `now`, worked out once per distinct time (a model has many
        steps and few distinct times; working days are counted a day at a time)."""
        if expected not in self._cutoffs:
            self._cutoffs[expected] = expected.cutoff(self.now, self.calendar)
        return self._cutoffs[expected]

    def _per_step(
        self, steps: ModelSteps, condition: Callable[[datetime], ColumnElement[bool]]
    ) -> ColumnElement[bool]:
        """SQL: `condition(cutoff)` for an open task, with the cutoff of its step's expected time
        (one condition per distinct cutoff; steps the models do not name take the default)."""
        by_cutoff: dict[datetime, list[str]] = {}
        for step in steps.steps.values():
            by_cutoff.setdefault(self._cutoff(step.expected), []).append(step.element_id)
        default = self._cutoff(steps.default)
        conditions = [
            and_(HumanTask.element_id.in_(ids), condition(cutoff))
            for cutoff, ids in by_cutoff.items()
            if cutoff != default
        ]
        special = [e for cutoff, ids in by_cutoff.items() if cutoff != default for e in ids]
        conditions.append(
            and_(HumanTask.element_id.not_in(special), condition(default)) if special else condition(default)
        )
        return or_(false(), *conditions)

    def _task_waited_too_long(self, steps: ModelSteps) -> ColumnElement[bool]:
        """SQL: an open task created before its step's cutoff (one condition per distinct cutoff)."""
        # The latest cutoff bounds every condition: an index on (state, created_at) can range-scan.
        latest = max([self._cutoff(steps.default), *(self._cutoff(s.expected) for s in steps.steps.values())])
        return and_(
            HumanTask.created_at < latest, self._per_step(steps, lambda cutoff: HumanTask.created_at < cutoff)
        )

    @staticmethod
    def _scoped(
        query: Query,
        model: type[HumanTask] | type[ProcessInstance],
        keys: Select[Any] | None,
        team_id: int | None,
    ) -> Query:
        if keys is not None:
            query = query.where(model.business_key.in_(keys))
        if team_id is not None:
            query = query.where(model.team_id == team_id)
        return query

    def _error_item(self, instance: ProcessInstance, steps: ModelSteps) -> Waiting:
        error = dict(instance.error or {})
        element_id = error.get("element_id")
        return Waiting(
            "error",
            instance.id,
            instance.business_key,
            instance.status,
            element_id,
            steps.name(element_id),
            instance.updated_at,
            error=error,
        )

    def _task_item(self, task: Any, status: str, steps: ModelSteps) -> Waiting:
        """A waiting task from a HumanTask row or a row of TASK_COLUMNS."""
        return Waiting(
            "task",
            task.instance_id,
            task.business_key,
            status,
            task.element_id,
            task.title,
            task.created_at,
            expected=steps.expected(task.element_id).text,
            task_id=task.id,
            holder=task.claimed_by or task.assignee,
            role=task.candidate_role,
            due_at=task.due_at,
        )

    def _message_item(
        self, instance: ProcessInstance, name: str, element_id: str | None, steps: ModelSteps
    ) -> Waiting:
        return Waiting(
            "message",
            instance.id,
            instance.business_key,
            instance.status,
            element_id,
            steps.name(element_id),
            instance.updated_at,
            expected=steps.expected(element_id).text,
            message=steps.message_words.get(name, name.replace("_", " ")),
        )

    @staticmethod
    def _timer_item(instance: ProcessInstance) -> Waiting:
        return Waiting(
            "timer",
            instance.id,
            instance.business_key,
            instance.status,
            None,
            "a timer",
            instance.updated_at,
            due_at=instance.next_timer_at,
        )


# ------------------------------------------------------------------------------- putting it right


def require_reason(reason: str) -> str:
    """The reason, trimmed; an empty one is refused (every repair is recorded with its reason)."""
    text = reason.strip()
    if not text:
        raise EngineError("Give a reason: it is recorded on the case timeline.", code="reason_required")
    return text


def reassign_task(
    session: Session, task_id: int, to: str | None, *, actor: str, at: datetime, reason: str
) -> HumanTask:
    """Give one open task to `to` (None: back to its role's pool), audited with the reason."""
    reason = require_reason(reason)
    task = session.scalar(select(HumanTask).where(HumanTask.id == task_id).with_for_update())
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    if task.state != "open":
        raise Conflict("This task is no longer open: it was completed or withdrawn.", code="task_not_ready")
    old = task.claimed_by or task.assignee
    if old == to:
        raise Conflict("The task is already with that person.", code="no_change")
    task.assignee = to
    task.claimed_by = None
    session.add(
        AuditEvent(
            at=at,
            actor=actor,
            event="task_reassigned",
            instance_id=task.instance_id,
            business_key=task.business_key,
            task_guid=task.task_guid,
            element_id=task.element_id,
            reason=reason,
            detail={"task_id": task.id, "from": old, "to": to},
        )
    )
    return task


def reassign_all_tasks(
    session: Session,
    holder: str,
    to: str | None,
    *,
    actor: str,
    at: datetime,
    reason: str,
    keys: Select[Any] | None = None,
) -> list[HumanTask]:
    """Give every open task `holder` has (assigned or claimed) to `to`, or back to the pool.

    Only tasks on the business keys in `keys` move (None: all). Each move is audited with the reason.
    """
    reason = require_reason(reason)
    if holder == to:
        raise EngineError("Choose someone else to take the tasks.", code="same_person")
    query = select(HumanTask).where(
        HumanTask.state == "open", or_(HumanTask.assignee == holder, HumanTask.claimed_by == holder)
    )
    tasks = list(session.scalars(Monitor._scoped(query, HumanTask, keys, None).order_by(HumanTask.id)))
    for task in tasks:
        task.assignee = to
        task.claimed_by = None
        session.add(
            AuditEvent(
                at=at,
                actor=actor,
                event="task_reassigned",
                instance_id=task.instance_id,
                business_key=task.business_key,
                task_guid=task.task_guid,
                element_id=task.element_id,
                reason=reason,
                detail={"task_id": task.id, "from": holder, "to": to, "bulk": True},
            )
        )
    return tasks


def instance_history(session: Session, instance_id: int) -> list[AuditEvent]:
    """The instance's audit trail, oldest first."""
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id)
        )
    )


def step_marks(
    session: Session, instance: ProcessInstance, waiting: Iterable[Waiting]
) -> dict[str, list[str]]:
    """Element ids to mark on the instance's diagram: completed, current and errored steps."""
    current = {w.element_id for w in waiting if w.element_id and w.kind != "error"}
    errored = {w.element_id for w in waiting if w.element_id and w.kind == "error"}
    seen = set(
        session.scalars(
            select(AuditEvent.element_id)
            .where(AuditEvent.instance_id == instance.id, AuditEvent.element_id.is_not(None))
            .distinct()
        )
    )
    done = set(
        session.scalars(
            select(HumanTask.element_id)
            .where(HumanTask.instance_id == instance.id, HumanTask.state == "completed")
            .distinct()
        )
    )
    completed = {e for e in (seen | done) if e} - current - errored
    return {"completed": sorted(completed), "current": sorted(current), "errored": sorted(errored)}
