"""What every monitor question shares: the session, the present and the working calendar, the
models' steps, expected-time cutoffs worked out once, and narrowing a query to the instances asked for.

Callers narrow every question to the business keys they may see by passing `keys`, a SELECT of
business keys (None: every instance), or to one team's by passing `team_id`: the team the domain
keeps on each instance and task row (ProcessInstance.team_id), which the indexes lead with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, or_, select
from sqlalchemy.orm import Session

from engine.clock import WorkingCalendar
from engine.models import HumanTask, MessageWait, ProcessDefinition, ProcessInstance
from engine.monitoring.model import Expected, ModelSteps, Step, model_steps
from engine.steps import InstanceStatus

Query = TypeVar("Query", bound="Select[*tuple[Any, ...]]")

# The instance states (engine.steps, which the runtime names too), for this module's queries.
ERROR, RUNNING, WAITING = InstanceStatus.ERROR, InstanceStatus.RUNNING, InstanceStatus.WAITING
AWAITING_PEOPLE, SUSPENDED = InstanceStatus.AWAITING_PEOPLE, InstanceStatus.SUSPENDED
UNFINISHED = (RUNNING, WAITING, AWAITING_PEOPLE, SUSPENDED, ERROR)
MOVABLE = (RUNNING, WAITING, AWAITING_PEOPLE)


def scoped(
    query: Query,
    model: type[HumanTask] | type[ProcessInstance],
    keys: Select[Any] | None,
    team_id: int | None,
) -> Query:
    """The query narrowed to the business keys in `keys` and to one team (None: no narrowing)."""
    if keys is not None:
        query = query.where(model.business_key.in_(keys))
    if team_id is not None:
        query = query.where(model.team_id == team_id)
    return query


class Questions:
    """The session, clock and calendar every monitor question is asked on."""

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

    def _task_late(self, steps: ModelSteps) -> ColumnElement[bool]:
        """SQL: an open task is late: past its due date, or open longer than its step's expected time."""
        return or_(HumanTask.due_at < self.now, self._task_waited_too_long(steps))

    def _wait_cutoffs(self, steps: ModelSteps) -> dict[str, datetime]:
        """For each message a wait for which can be late, the moment before which a wait for it that
        began (its instance's last step) is late. Standing waits are not here: they are never late."""
        found = {}
        for name in steps.late_wait_messages():
            expected = steps.wait_expected(name)
            if expected is not None:
                found[name] = self._cutoff(expected)
        return found

    def _wait_late(self, steps: ModelSteps) -> ColumnElement[bool]:
        """SQL (over MessageWait joined to its ProcessInstance): the wait is late."""
        return or_(
            false(),
            *(
                and_(MessageWait.message_name == name, ProcessInstance.updated_at < cutoff)
                for name, cutoff in self._wait_cutoffs(steps).items()
            ),
        )
