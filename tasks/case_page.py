"""The case record's read: the register's record of a case, its open tasks and its timeline.

`case_page` takes the database session, the engine (for the forms a completed task's answers are
read with), the case, the time and how an answer is put in words (the page's formatting), never the
Flask app: webui.cases builds those per request, after need-to-know has let the person see the case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.case_record import TIMELINE_LIMIT, CaseRecord, read_case
from casework.models import Case
from engine.clock import area_date
from engine.models import AuditEvent, HumanTask
from engine.runtime import ProcessEngine
from tasks.handoffs import completion_answers
from tasks.open_tasks import OpenTask, open_tasks_on_case
from tasks.staff_names import staff_names

AnswerWords = Callable[[Mapping[str, Any], Any], str]  # a recorded value as its form asked for it

# Engine events that belong on a case's timeline, in words (drafts are not history).
TASK_EVENTS = {
    "instance_started": "Process started",
    "instance_completed": "Process finished",
    "instance_suspended": "Process suspended",
    "instance_resumed": "Process resumed",
    "instance_terminated": "Process stopped",
    "instance_errored": "Process stopped on an error",
    "step_retried": "Failed step retried",
    "step_skipped": "Failed step skipped",
    "task_created": "Task opened",
    "task_claimed": "Task claimed",
    "task_released": "Task released",
    "task_reassigned": "Task reassigned",
    "task_cancelled": "Task cancelled",
    "task_completed": "Task completed",
    "timer_fired": "Timer fired",
    "message_delivered": "Message received",
}


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the case's timeline, from the register or from the process."""

    at: datetime
    title: str
    detail: str
    by: str
    code: str | None = None
    recorded: list[tuple[str, str]] = field(default_factory=list)  # a completed task's answers, in words


@dataclass(frozen=True)
class CasePage:
    """What the case record shows: the register's record, the open tasks and the timeline."""

    record: CaseRecord
    tasks: list[OpenTask]
    timeline: list[TimelineEntry]
    timeline_capped: bool  # more happened than the timeline shows


def case_page(
    session: Session, engine: ProcessEngine, case: Case, now: datetime, *, answer_words: AnswerWords
) -> CasePage:
    """The case record as of `now`, for a person need-to-know has already let see `case`."""
    whole = read_case(session, case, now=now, today=area_date(now))
    return CasePage(
        record=whole,
        tasks=open_tasks_on_case(session, case, now),
        timeline=timeline(session, engine, whole.timeline, case.crn, answer_words=answer_words),
        timeline_capped=whole.timeline_total > TIMELINE_LIMIT,
    )


def timeline(
    session: Session, engine: ProcessEngine, events: list[Any], crn: str, *, answer_words: AnswerWords
) -> list[TimelineEntry]:
    """The register's events and the process's, newest first, at most TIMELINE_LIMIT."""
    audit = session.execute(
        select(AuditEvent, HumanTask)
        .outerjoin(HumanTask, HumanTask.task_guid == AuditEvent.task_guid)
        .where(AuditEvent.business_key == crn, AuditEvent.event.in_(sorted(TASK_EVENTS)))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(TIMELINE_LIMIT)
    ).all()
    names = staff_names(session, [e.actor for e in events] + [a.actor for a, _ in audit])
    entries = [
        TimelineEntry(at=e.at, title=e.summary, detail="", by=names.get(e.actor, e.actor), code=e.code)
        for e in events
    ]

    definitions: dict[int, int | None] = {}

    def form_of(definition_id: int, form_file: str) -> dict[str, Any]:
        return engine.form_schema(session, definition_id, form_file)

    entries += [
        TimelineEntry(
            at=a.at,
            title=f"{TASK_EVENTS[a.event]}: {task.title}" if task else TASK_EVENTS[a.event],
            detail=a.reason or "",
            by=names.get(a.actor, a.actor),
            recorded=[
                (answer.label, answer_words(answer.prop, answer.value))
                for answer in completion_answers(session, a, task, form_of, definitions)
            ]
            if a.event == "task_completed"
            else [],
        )
        for a, task in audit
    ]
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:TIMELINE_LIMIT]
