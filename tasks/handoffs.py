"""Hand-offs that carry the record: what earlier steps recorded that a step needs (its form's
`shows`), what a completed task recorded, who has the next step, and each person's recently
completed tasks.

What a step recorded comes from the audit trail: every `task_completed` event keeps the data the
person submitted, who they were and when, whatever the process did with it afterwards. A `shows`
entry that names a key of the case's data (not a step) takes its values from the case's data (the
data the task sees, so a task that has moved on shows none), and who recorded it and when from the
latest record on the case's trail that carried those fields: a task's submission or a message
received (the court results feed). Labels
and choices come from the forms, so the page can say them in words. Need-to-know stays with the
caller: these functions are called only for a task whose case the person may see, except
`recently_completed`, which checks each case itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from casework.access import may_view
from casework.models import AccessLimitation, Case, Staff, Team
from casework.roles import Role
from engine.errors import EngineError
from engine.models import AuditEvent, DefinitionFile, HumanTask, InboundMessage, ProcessInstance
from tasks.staff_names import staff_names

SHOWS = "shows"  # the form keyword: what earlier steps recorded that this step needs
RECENT_LIMIT = 20  # how many of a person's completed tasks "Recently completed" lists
TRAIL_LIMIT = 500  # how far back the trail is searched for who recorded a value of the case's data
RECORDING_EVENTS = ("task_completed", "message_received", "message_delivered")
AREA_ROLES = frozenset(
    {Role.ASSISTANT_CHIEF_OFFICER.value, Role.RISK_CONSULTANT.value, Role.MAPPA_COORDINATOR.value}
)

# A form schema by its definition and file (the engine's `form_schema`, cached there).
FormOf = Callable[[int, str], Mapping[str, Any]]


@dataclass(frozen=True)
class Answer:
    """One field of a record: its label, its form property (for the words of its value) and value."""

    name: str
    label: str
    prop: Mapping[str, Any]
    value: Any
    given: bool  # False: the field was left out (an optional field not answered)


@dataclass(frozen=True)
class Record:
    """What one step (or the case's data) recorded, by whom and when."""

    heading: str
    by: str | None  # the person's name (or the sending system), None when not known
    at: datetime | None
    answers: list[Answer]
    task_id: int | None = None  # the task that recorded it: its page shows the whole record


@dataclass(frozen=True)
class NextStep:
    """A task the completion opened, and who has it now."""

    task_id: int
    title: str
    holder: str  # a person's name, or the pool: "the Senior Probation Officers of North ..., to claim"
    mine: bool


@dataclass(frozen=True)
class Completed:
    """One task a person completed, as "Recently completed" lists it."""

    task_id: int
    title: str
    completed_at: datetime
    crn: str | None  # None when the person may no longer see the case: nothing of it is shown
    name: str | None


# ---------------------------------------------------------------------------- reading the record


def answers(
    schema: Mapping[str, Any], data: Mapping[str, Any], fields: Sequence[str] | None = None
) -> list[Answer]:
    """The fields of `schema` (or just `fields`, in that order) with what `data` holds for each."""
    properties = schema.get("properties")
    props: Mapping[str, Any] = properties if isinstance(properties, Mapping) else {}
    names = list(fields) if fields is not None else [*props, *(k for k in data if k not in props)]
    shown = []
    for name in names:
        prop = props.get(name)
        prop = prop if isinstance(prop, Mapping) else {}
        label = str(prop.get("title") or name.replace("_", " ").capitalize())
        shown.append(Answer(name, label, prop, data.get(name), name in data))
    return shown


def completion_event(session: Session, task: HumanTask) -> AuditEvent | None:
    """The audit trail's record of the task's completion: who, when and the data they submitted."""
    return session.scalar(
        select(AuditEvent)
        .where(AuditEvent.task_guid == task.task_guid, AuditEvent.event == "task_completed")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )


def submitted(event: AuditEvent | None) -> dict[str, Any]:
    """The data a `task_completed` event kept (empty for any other event)."""
    data = (event.detail or {}).get("data") if event is not None else None
    return dict(data) if isinstance(data, Mapping) else {}


def own_record(session: Session, task: HumanTask, form_of: FormOf) -> Record | None:
    """What a completed task recorded, in its form's order, by whom and when (None if not completed)."""
    if task.state != "completed":
        return None
    event = completion_event(session, task)
    if event is None:
        return None
    schema = _task_form(session, task, form_of)
    names = staff_names(session, [event.actor])
    return Record(
        task.title, names.get(event.actor, event.actor), event.at, answers(schema, submitted(event)), task.id
    )


def completion_answers(
    session: Session,
    event: AuditEvent,
    task: HumanTask | None,
    form_of: FormOf,
    definitions: dict[int, int | None] | None = None,
) -> list[Answer]:
    """What a `task_completed` event on the timeline recorded, in its task's form's order
    (`definitions` keeps each instance's definition across the calls of one timeline)."""
    data = submitted(event)
    if not data:
        return []
    schema: Mapping[str, Any] = {}
    if task is not None and task.form_file:
        known = definitions if definitions is not None else {}
        if task.instance_id not in known:
            known[task.instance_id] = session.scalar(
                select(ProcessInstance.definition_id).where(ProcessInstance.id == task.instance_id)
            )
        definition_id = known[task.instance_id]
        schema = form_of(definition_id, task.form_file) if definition_id is not None else {}
    return [a for a in answers(schema, data) if a.given]


def _task_form(session: Session, task: HumanTask, form_of: FormOf) -> Mapping[str, Any]:
    if not task.form_file:
        return {}
    definition_id = session.scalar(
        select(ProcessInstance.definition_id).where(ProcessInstance.id == task.instance_id)
    )
    return form_of(definition_id, task.form_file) if definition_id is not None else {}


def shown_records(
    session: Session,
    task: HumanTask,
    schema: Mapping[str, Any],
    case_data: Mapping[str, Any],
    form_of: FormOf,
) -> list[Record]:
    """What the form's `shows` asks for, as recorded on the task's case before the task was done.

    An entry whose step has not been done on the case (a risk consultant's advice on a case that
    needed none), or whose case data is not there, is left out: nothing was recorded."""
    entries = schema.get(SHOWS)
    if not isinstance(entries, list):
        return []
    records = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("from"), str):
            continue
        fields = [str(f) for f in entry.get("fields") or [] if isinstance(f, str)]
        record = _step_record(session, task, entry["from"], fields, form_of)
        if record is None:
            record = _data_record(
                session, task, entry=entry, fields=fields, case_data=case_data, form_of=form_of
            )
        if record is not None:
            title = entry.get("title")
            records.append(Record(str(title), *_rest(record)) if isinstance(title, str) and title else record)
    return records


def _rest(record: Record) -> tuple[str | None, datetime | None, list[Answer], int | None]:
    return record.by, record.at, record.answers, record.task_id


def _step_record(
    session: Session, task: HumanTask, element_id: str, fields: list[str], form_of: FormOf
) -> Record | None:
    """The latest completion of step `element_id` on the task's case (before the task was done)."""
    query = (
        select(HumanTask)
        .where(
            HumanTask.business_key == task.business_key,
            HumanTask.element_id == element_id,
            HumanTask.state == "completed",
            HumanTask.id != task.id,
        )
        .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())
        .limit(1)
    )
    if task.completed_at is not None:
        query = query.where(HumanTask.completed_at <= task.completed_at)
    earlier = session.scalar(query)
    if earlier is None:
        return None
    record = own_record(session, earlier, form_of)
    if record is None:
        return None
    by_name = {a.name: a for a in record.answers}
    chosen = [by_name[f] for f in fields if f in by_name] if fields else record.answers
    return Record(record.heading, record.by, record.at, chosen, earlier.id)


def _data_record(
    session: Session,
    task: HumanTask,
    *,
    entry: Mapping[str, Any],
    fields: list[str],
    case_data: Mapping[str, Any],
    form_of: FormOf,
) -> Record | None:
    """A value of the case's data: a dictionary shows the `fields` of it, anything else itself."""
    key = str(entry["from"])
    if key not in case_data:
        return None
    value = case_data[key]
    wanted = fields or [key]
    data = dict(value) if isinstance(value, Mapping) else {key: value}
    if not any(f in data for f in wanted):
        return None
    found = _who_recorded(session, task, wanted)
    # The words of the form that recorded it, when a task did: another form of the bundle may use
    # the same field name with other choices (a countersigner's and an ACO's "decision").
    recorded_in = _task_form(session, found[2], form_of) if found is not None and found[2] else {}
    schema = _fields_of(recorded_in, wanted) or _bundle_fields(session, task, wanted, form_of)
    heading = key.replace("_", " ").capitalize()
    by, at = (found[0], found[1]) if found is not None else (None, None)
    return Record(heading, by, at, answers(schema, data, wanted))


def _fields_of(form: Mapping[str, Any], fields: list[str]) -> dict[str, Any] | None:
    """`form`'s definitions of `fields`, when it defines every one of them."""
    props = form.get("properties")
    if not isinstance(props, Mapping) or not all(isinstance(props.get(f), Mapping) for f in fields):
        return None
    return {"properties": {f: props[f] for f in fields}}


def _who_recorded(
    session: Session, task: HumanTask, fields: list[str]
) -> tuple[str, datetime, HumanTask | None] | None:
    """The latest record on the case's trail carrying all of `fields`: who made it, when, and the
    task it was recorded in (None for a message)."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.business_key == task.business_key, AuditEvent.event.in_(RECORDING_EVENTS))
        .order_by(AuditEvent.id.desc())
        .limit(TRAIL_LIMIT)
    )
    if task.completed_at is not None:
        query = query.where(AuditEvent.at <= task.completed_at)
    for event in session.scalars(query):
        recorded_in = None
        if event.event == "task_completed":
            who, data = event.actor, submitted(event)
            task_id = (event.detail or {}).get("task_id")
            recorded_in = session.get(HumanTask, task_id) if isinstance(task_id, int) else None
        else:
            message_id = (event.detail or {}).get("message_id")
            message = session.get(InboundMessage, message_id) if isinstance(message_id, int) else None
            if message is None:
                continue
            who, data = message.sender, dict(message.payload or {})
        if all(f in data for f in fields):
            return staff_names(session, [who]).get(who, who), event.at, recorded_in
    return None


def _bundle_fields(session: Session, task: HumanTask, fields: list[str], form_of: FormOf) -> dict[str, Any]:
    """A schema whose properties are `fields` as the first form of the task's bundle that asks for
    each defines them (its title and choices say the value in words)."""
    definition_id = session.scalar(
        select(ProcessInstance.definition_id).where(ProcessInstance.id == task.instance_id)
    )
    if definition_id is None:
        return {}
    paths = sorted(
        session.scalars(
            select(DefinitionFile.path).where(
                DefinitionFile.definition_id == definition_id, DefinitionFile.path.like("forms/%.json")
            )
        )
    )
    properties: dict[str, Any] = {}
    for path in paths:
        try:
            form = form_of(definition_id, path)
        except EngineError:  # a file that is not a form: it defines nothing to show
            continue
        props = form.get("properties") if isinstance(form, Mapping) else None
        for name in fields:
            if name not in properties and isinstance(props, Mapping) and isinstance(props.get(name), Mapping):
                properties[name] = props[name]
        if len(properties) == len(fields):
            break
    return {"properties": properties}


# ----------------------------------------------------------------------------- after completing


def next_steps(session: Session, completed_task_id: int, username: str) -> list[NextStep]:
    """The tasks that completing `completed_task_id` opened on its case, and who has each now."""
    done = session.get(HumanTask, completed_task_id)
    if done is None or done.completed_at is None:
        return []
    opened = session.scalars(
        select(HumanTask)
        .where(
            HumanTask.business_key == done.business_key,
            HumanTask.state == "open",
            HumanTask.created_at == done.completed_at,
        )
        .order_by(HumanTask.id)
    ).all()
    if not opened:
        return []
    case = session.scalar(
        select(Case).where(Case.crn == done.business_key).options(joinedload(Case.team).load_only(Team.name))
    )
    names = staff_names(session, (t.claimed_by or t.assignee for t in opened))
    steps = []
    for task in opened:
        holder = task.claimed_by or task.assignee
        if holder:
            who = names.get(holder, holder)
        else:
            who = _pool(task.candidate_role, case.team.name if case and case.team else None)
        steps.append(NextStep(task.id, task.title, who, holder == username))
    return steps


def _pool(role: str | None, team: str | None) -> str:
    try:
        title = Role(role or "").display_name
    except ValueError:
        return "the pool, to claim"
    if role in AREA_ROLES or team is None:
        return f"the {title}s, to claim"
    return f"the {title}s of {team}, to claim"


def still_sees(session: Session, staff_id: int, crn: str) -> bool:
    """Whether the person may still see the case (after a step, they may not: the report writer)."""
    staff = session.get(Staff, staff_id)
    case = _case(session, crn)
    return staff is not None and case is not None and bool(may_view(staff, case))


def _case(session: Session, crn: str) -> Case | None:
    return session.scalar(
        select(Case)
        .where(Case.crn == crn)
        .options(
            joinedload(Case.owner),
            joinedload(Case.team),
            joinedload(Case.access_limitation).selectinload(AccessLimitation.entries),
            selectinload(Case.registrations),
        )
    )


# ------------------------------------------------------------------------- recently completed


def recently_completed(session: Session, staff_id: int, limit: int = RECENT_LIMIT) -> list[Completed]:
    """The person's own last completed tasks, newest first; a task on a case they may no longer see
    keeps its title and time but shows nothing of the case."""
    staff = session.get(Staff, staff_id)
    if staff is None:
        return []
    rows = session.execute(
        select(HumanTask, Case)
        .outerjoin(Case, Case.crn == HumanTask.business_key)
        .where(HumanTask.completed_by == staff.username, HumanTask.state == "completed")
        .options(
            joinedload(Case.owner),
            joinedload(Case.team),
            joinedload(Case.access_limitation).selectinload(AccessLimitation.entries),
            selectinload(Case.registrations),
        )
        .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())
        .limit(limit)
    ).all()
    listed = []
    for task, case in rows:
        assert task.completed_at is not None  # noqa: S101 - a completed task has its time
        visible = case is not None and bool(may_view(staff, case))
        listed.append(
            Completed(
                task.id,
                task.title,
                task.completed_at,
                case.crn if visible and case is not None else None,
                case.name if visible and case is not None and (case.forename or case.surname) else None,
            )
        )
    return listed
