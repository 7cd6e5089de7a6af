"""How many: open tasks and waiting instances at each step and how many of them are late, open tasks
by team and holder, instances by state; from the work tallies (engine.tally) where they answer."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select, union_all

from engine.models import HumanTask, MessageWait, ProcessInstance, WorkTally
from engine.monitoring.base import ERROR, MOVABLE, SUSPENDED, UNFINISHED, Questions, scoped
from engine.monitoring.model import ModelSteps
from engine.monitoring.waiting import TIMER_GRACE
from engine.tally import day_of, day_start, week_of, week_start


class StepCounts(Questions):
    """The monitor's counts."""

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
        for (error,) in self.session.execute(scoped(errors, ProcessInstance, keys, team_id)):
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
        # Message waits, by the day their instance last moved; late (only a wait the receiving step
        # expects within a time) when the instance last moved before that time's cutoff.
        cutoffs = self._wait_cutoffs(steps)
        waits = (
            select(WorkTally.name, WorkTally.since_day, func.sum(WorkTally.n))
            .where(WorkTally.kind == "wait", WorkTally.name.in_(list(steps.message_steps)))
            .group_by(WorkTally.name, WorkTally.since_day)
        )
        for name, since_day, n in self.session.execute(waits):
            yield steps.message_steps[name][0], "now", int(n)
            if name in cutoffs and since_day < day_of(cutoffs[name]):
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
        if boundary:
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
        tasks = (
            select(HumanTask.element_id, func.count(), func.count(case((self._task_late(steps), 1))))
            .where(HumanTask.state == "open")
            .group_by(HumanTask.element_id)
        )
        if set(definition_ids) != set(self.definitions()):  # only some versions: join to say which
            tasks = tasks.join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id).where(
                ProcessInstance.definition_id.in_(definition_ids)
            )
        for element_id, n, late in self.session.execute(scoped(tasks, HumanTask, keys, team_id)):
            yield element_id, "now", int(n)
            yield element_id, "overdue", int(late)
        if steps.message_steps:  # one grouped pass over the waits, each message late by its own cutoff
            waits = (
                select(MessageWait.message_name, func.count(), func.count(case((self._wait_late(steps), 1))))
                .select_from(MessageWait)
                .join(ProcessInstance, ProcessInstance.id == MessageWait.instance_id)
                .where(
                    MessageWait.message_name.in_(list(steps.message_steps)),
                    ProcessInstance.definition_id.in_(definition_ids),
                    ProcessInstance.status.in_(UNFINISHED),
                )
                .group_by(MessageWait.message_name)
            )
            for name, n, late in self.session.execute(scoped(waits, ProcessInstance, keys, team_id)):
                yield steps.message_steps[name][0], "now", int(n)
                yield steps.message_steps[name][0], "overdue", int(late)

    def stuck_off_the_diagram(
        self, keys: Select[Any] | None = None, *, team_id: int | None = None
    ) -> dict[str, int]:
        """Stuck work the diagram places at no step: instances whose timer the workers have not fired
        (`timer`), and suspended instances (`suspended`), as the stuck list counts them."""
        late_timer = and_(
            ProcessInstance.status.in_(MOVABLE), ProcessInstance.next_timer_at < self.now - TIMER_GRACE
        )
        query = select(
            func.count(case((late_timer, 1))), func.count(case((ProcessInstance.status == SUSPENDED, 1)))
        ).where(or_(late_timer, ProcessInstance.status == SUSPENDED))
        timers, suspended = self.session.execute(scoped(query, ProcessInstance, keys, team_id)).one()
        return {"timer": int(timers), "suspended": int(suspended)}

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
            scoped(recent, HumanTask, None, team_id)
        ):
            add(task_team, claimed_by or assignee, int(late), int(soon))
        return {key: (late, soon) for key, (late, soon) in totals.items() if late or soon}

    def instances_by_status(
        self, keys: Select[Any] | None = None, *, team_id: int | None = None
    ) -> dict[str, int]:
        """How many instances are in each state."""
        query = select(ProcessInstance.status, func.count()).group_by(ProcessInstance.status)
        rows = self.session.execute(scoped(query, ProcessInstance, keys, team_id))
        return {str(status): int(n) for status, n in rows}

    # ----------------------------------------------------------------------- stuck
