"""Human-task rows: who may act on a task, when it is due, and keeping the rows in step with the model.

The inbox never loads a workflow: after every step the READY manual tasks of the instance are
written here with their candidate role (from the task's lane), assignee (from the resolver),
due and follow-up dates (from the element's properties) and priority.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.clock import ISO_DURATION, WORKING_DAYS, WorkingCalendar
from engine.errors import NotPermitted
from engine.models import AuditEvent, HumanTask
from engine.standards import STANDARD_PROPERTY, TimescaleTable, start_of_count
from engine.steps import Actor, AssignmentResolver, StepState

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class TaskPolicy:
    """The rules for acting on a human task, and the reading of its due-time properties."""

    def __init__(self, calendar: WorkingCalendar, script_engine: Any) -> None:
        self.calendar = calendar
        self.script_engine = script_engine

    def check_may_complete(self, row: HumanTask, actor: Actor) -> None:
        """Refuse with not_yours or wrong_role unless `actor` may complete (or draft) the task."""
        if row.claimed_by and row.claimed_by != actor.user_id:
            raise NotPermitted(f"This task is held by {row.claimed_by}.", code="not_yours")
        if row.assignee and actor.user_id not in {row.assignee, row.claimed_by}:
            raise NotPermitted(f"This task is assigned to {row.assignee}.", code="not_yours")
        self._check_role(row, actor)

    def check_may_claim(self, row: HumanTask, actor: Actor) -> None:
        """Refuse unless `actor` holds the task's role and it is not someone else's."""
        if row.assignee and row.assignee != actor.user_id:
            raise NotPermitted(f"This task is assigned to {row.assignee}.", code="not_yours")
        self._check_role(row, actor)

    def _check_role(self, row: HumanTask, actor: Actor) -> None:
        if row.candidate_role and row.candidate_role not in actor.roles and row.assignee != actor.user_id:
            raise NotPermitted(f"This task is for the {row.candidate_role} role.", code="wrong_role")

    @staticmethod
    def unavailable_message(row: HumanTask) -> str:
        """Why an open-task action cannot go ahead, in words for the person who tried."""
        if row.state == "completed":
            return f"This task has already been completed by {row.completed_by}."
        if row.state == "cancelled":
            return "This task was withdrawn by the process (for example, a deadline passed)."
        if row.claimed_by:
            return f"This task was claimed by {row.claimed_by} a moment ago."
        return "This task is not available."

    def when(self, task: Any, prop: str, now: datetime) -> datetime | None:
        """The time an element property (`dueIn`, `followUpIn`) gives, counted from `now`."""
        value = task.task_spec.extensions.get("properties", {}).get(prop)
        if value is None or str(value).strip() == "":
            return None
        text = str(value).strip()
        literal = self._literal_time(text, now)
        if literal is not None:
            return literal
        result = self.script_engine.evaluate(task, text)
        if isinstance(result, str) and _ISO_DATE.match(result.strip()):
            result = date.fromisoformat(result.strip())  # a date as ISO text, as a service result keeps it
        if isinstance(result, datetime):
            return result if result.tzinfo else result.replace(tzinfo=UTC)
        if isinstance(result, date):
            return datetime.combine(result, time(17), tzinfo=UTC)
        if result is None:
            return None
        computed = self._literal_time(str(result).strip(), now)
        if computed is None:
            raise ValueError(
                f"{prop} '{text}' gave {result!r}; expected an ISO 8601 duration such as P10D, a date "
                "or a number of working days such as '5 working days'"
            )
        return computed

    def due(
        self, task: Any, now: datetime, timescales: TimescaleTable | None
    ) -> tuple[datetime | None, str | None]:
        """When the task is due, and by what standard (the words the lists show; None for `dueIn`).

        A task with a `dueByStandard` property is due at its standard's date, counted from the date
        the table names (the sentence), however late the steps before it were; when no row of the
        table matches the case, or the task has no such property, `dueIn` counts from `now`."""
        standard = str(task.task_spec.extensions.get("properties", {}).get(STANDARD_PROPERTY) or "").strip()
        if standard:
            if timescales is None:
                raise ValueError(
                    f"{STANDARD_PROPERTY} '{standard}' needs the decision table 'timescales' in the bundle"
                )
            found = timescales.standard_for(task, standard)
            if found is not None:
                due_at = self._literal_time(found.timescale, start_of_count(found.counted_from))
                if due_at is None:
                    raise ValueError(
                        f"{STANDARD_PROPERTY} '{standard}': the timescale '{found.timescale}' is neither a "
                        "number of working days such as '15 working days' nor an ISO 8601 duration (P8W)"
                    )
                return due_at, found.wording[:200] or None
        return self.when(task, "dueIn", now), None

    def _literal_time(self, text: str, now: datetime) -> datetime | None:
        if ISO_DURATION.match(text):
            parsed = TimerEventDefinition.parse_iso_duration(text)
            delta: timedelta = TimerEventDefinition.get_timedelta_from_start(parsed, now)
            return now + delta
        found = WORKING_DAYS.match(text)
        if found:
            return self.calendar.add_working_days(now, int(found.group(1)))
        return None


class HumanTaskSync:
    """Brings an instance's human-task rows in line with its READY manual tasks."""

    def __init__(self, session: Session, policy: TaskPolicy, resolver: AssignmentResolver, state: StepState):
        self.session = session
        self.policy = policy
        self.resolver = resolver
        self.state = state
        self.timescales: TimescaleTable | None = None

    def needed(self, workflow: Any) -> bool:
        """Whether `run` has anything to do: rows that may need closing, or READY manual tasks."""
        return self.state.may_have_task_rows or bool(workflow.get_tasks(state=TaskState.READY, manual=True))

    def run(
        self, workflow: Any, lanes: Mapping[str, str], timescales: TimescaleTable | None = None
    ) -> list[int]:
        """Close rows whose task moved on, open rows for new READY tasks; return open row ids.

        `timescales` is the version's table of standards, for the steps due by one."""
        self.timescales = timescales
        instance = self.state.instance
        ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
        # Open rows only (indexed by instance and state), so the cost does not grow with the
        # case's history; a READY task whose row was closed before (a retried step) is looked
        # up by its unique guid.
        rows: Sequence[HumanTask] = ()
        if self.state.may_have_task_rows:
            rows = self.session.scalars(
                select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.state == "open")
            ).all()
        by_guid = {row.task_guid: row for row in rows}
        reopened = [guid for guid in ready if guid not in by_guid]
        if reopened and self.state.may_have_task_rows:
            by_guid.update(
                (row.task_guid, row)
                for row in self.session.scalars(select(HumanTask).where(HumanTask.task_guid.in_(reopened)))
            )
        for guid, row in by_guid.items():
            if guid not in ready and row.state == "open":
                self._close(row)
        open_ids: list[int] = []
        for guid, task in ready.items():
            existing = by_guid.get(guid)
            if existing is None or existing.state != "open":
                existing = self._open(task, existing, lanes)
            elif guid in self.state.refresh_guids:
                self._refresh(task, existing, lanes)
            open_ids.append(existing.id)
        return open_ids

    def _close(self, row: HumanTask) -> None:
        completed_by = self.state.completed_guids.get(row.task_guid)
        row.completed_at = self.state.now
        if completed_by is not None:
            row.state = "completed"
            row.completed_by = completed_by
        else:
            row.state = "cancelled"
            self.state.record("task_cancelled", task_guid=row.task_guid, element_id=row.element_id)

    def _open(self, task: Any, row: HumanTask | None, lanes: Mapping[str, str]) -> HumanTask:
        instance, now = self.state.instance, self.state.now
        spec = task.task_spec
        props = spec.extensions.get("properties", {})
        lane = effective_lane(task)
        role = lanes.get(lane) if lane else None
        # Ask the resolver before the new row joins the session: its queries may autoflush.
        assignee = self.resolver.assignee_for(
            self.session,
            role=role,
            business_key=instance.business_key,
            element_id=spec.bpmn_id,
            data=task.data,
        )
        due_at, due_standard = self.policy.due(task, now, self.timescales)
        values = {
            "element_id": spec.bpmn_id,
            "process_id": task.workflow.spec.name,
            "title": (spec.bpmn_name or spec.bpmn_id)[:255],
            "lane": lane,
            "candidate_role": role,
            "assignee": assignee,
            "claimed_by": None,
            "form_file": props.get("formJsonSchemaFilename"),
            "due_at": due_at,
            "due_standard": due_standard,
            "follow_up_at": self.policy.when(task, "followUpIn", now),
            "priority": _int(props.get("priority")),
            "business_key": instance.business_key,
            "state": "open",
            "created_at": now,
            "completed_at": None,
            "completed_by": None,
        }
        if row is None:
            row = HumanTask(task_guid=str(task.id), instance_id=instance.id, **values)
            self.session.add(row)
        else:
            for name, value in values.items():
                setattr(row, name, value)
        self.session.flush()
        self.state.record(
            "task_created",
            task_guid=row.task_guid,
            element_id=row.element_id,
            detail={"task_id": row.id, "role": role, "assignee": row.assignee},
        )
        return row

    def _refresh(self, task: Any, row: HumanTask, lanes: Mapping[str, str]) -> None:
        """Bring an open row in line with its step's new definition (after a migration): the title,
        form, times (counted from when the task opened) and priority; a new lane sends it to the
        new role, to whoever the resolver names."""
        spec = task.task_spec
        props = spec.extensions.get("properties", {})
        lane = effective_lane(task)
        role = lanes.get(lane) if lane else None
        before = {"title": row.title, "due_at": row.due_at, "role": row.candidate_role}
        if role != row.candidate_role:
            row.assignee = self.resolver.assignee_for(
                self.session,
                role=role,
                business_key=row.business_key,
                element_id=spec.bpmn_id,
                data=task.data,
            )
            row.claimed_by = None
        row.title = (spec.bpmn_name or spec.bpmn_id)[:255]
        row.lane, row.candidate_role = lane, role
        row.form_file = props.get("formJsonSchemaFilename")
        row.due_at, row.due_standard = self.policy.due(task, row.created_at, self.timescales)
        row.follow_up_at = self.policy.when(task, "followUpIn", row.created_at)
        row.priority = _int(props.get("priority"))
        self.state.record(
            "task_updated",
            task_guid=row.task_guid,
            element_id=row.element_id,
            detail={
                "task_id": row.id,
                "before": {k: v.isoformat() if isinstance(v, datetime) else v for k, v in before.items()},
            },
        )


def reassign_open_tasks(
    session: Session,
    *,
    business_key: str,
    moves: Mapping[str | None, str | None],
    actor: str,
    at: datetime,
    reason: str,
) -> int:
    """Give a case's open tasks assigned to (or claimed by) each old person to the new one.

    A move to None sends the task back to its role's pool. Each move is audited with the reason;
    returns how many tasks moved.
    """
    olds = [old for old, new in moves.items() if old is not None and old != new]
    if not olds:
        return 0
    rows = session.scalars(
        select(HumanTask)
        .where(
            HumanTask.business_key == business_key,
            HumanTask.state == "open",
            or_(HumanTask.assignee.in_(olds), HumanTask.claimed_by.in_(olds)),
        )
        .order_by(HumanTask.id)  # audited in the order the tasks were opened
    ).all()
    for row in rows:
        old = row.assignee if row.assignee in olds else row.claimed_by
        give_task(session, row, old, moves[old], actor=actor, at=at, reason=reason)
    return len(rows)


def release_open_tasks(
    session: Session,
    *,
    business_key: str,
    person: str,
    assigned_to: str | None,
    actor: str,
    at: datetime,
    reason: str,
) -> int:
    """Take a case's open tasks away from `person`: those they claimed from a pool go back to it
    (unclaimed), those assigned to them personally go to `assigned_to` (None: the role's pool).

    Each move is audited with the reason; returns how many tasks moved.
    """
    rows = session.scalars(
        select(HumanTask)
        .where(
            HumanTask.business_key == business_key,
            HumanTask.state == "open",
            or_(HumanTask.assignee == person, HumanTask.claimed_by == person),
        )
        .order_by(HumanTask.id)
    ).all()
    for row in rows:
        was = {"assignee": row.assignee, "claimed_by": row.claimed_by}
        if row.assignee == person:
            row.assignee = assigned_to
        row.claimed_by = None
        session.add(
            AuditEvent(
                at=at,
                actor=actor,
                event="task_reassigned",
                instance_id=row.instance_id,
                business_key=row.business_key,
                task_guid=row.task_guid,
                element_id=row.element_id,
                reason=reason,
                detail={"task_id": row.id, "from": person, "to": row.assignee, "was": was},
            )
        )
    return len(rows)


def effective_lane(task: Any) -> str | None:
    """The task's lane; inside a call activity, the lane of the calling task (SpiffWorkflow gives None)."""
    while task is not None:
        lane: str | None = getattr(task.task_spec, "lane", None)
        if lane:
            return lane
        workflow = task.workflow
        parent_id = getattr(workflow, "parent_task_id", None)
        if parent_id is None:
            return None
        task = workflow.top_workflow.get_task_from_id(parent_id)
    return None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def give_task(
    session: Session,
    task: HumanTask,
    old: str | None,
    to: str | None,
    *,
    actor: str,
    at: datetime,
    reason: str,
    bulk: bool = False,
) -> None:
    """Give `task` to `to` (None: its role's pool), unclaimed, with the move on the audit trail: the
    one way every move of a task (a transfer's, a manager's, a bulk move) is made and recorded."""
    task.assignee = to
    task.claimed_by = None
    detail: dict[str, Any] = {"task_id": task.id, "from": old, "to": to}
    if bulk:
        detail["bulk"] = True
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
            detail=detail,
        )
    )
