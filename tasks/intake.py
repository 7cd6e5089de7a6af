"""A case identified at court: the one way a case enters the register and starts its process.

The court's system calls it over the API (webui/api/cases.py) and a case administrator or SPO from
the "Record a new case" page (webui/case_intake.py). The process's first step puts the case on the
register; the court's first details wait on the case administrators' first task ("Record the
first details") as its draft, to be checked and completed there. A case administrator who typed
them in themselves completes that task at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework import register
from casework.roles import Role
from engine.errors import FieldError, InvalidData
from engine.models import AuditEvent, HumanTask, ProcessInstance
from engine.runtime import Actor, ProcessEngine, StepResult

# The process every case runs from the day it is identified at court (as `riskflow demo load` starts it).
CASE_PROCESS = "offender_management"
FIRST_DETAILS_TASK = "record_first_details"
FIRST_DETAILS_FORM = "first-details.json"
# Who records a new case by hand (the court's system sends its own over the API).
RECORDING_ROLES = frozenset({Role.CASE_ADMINISTRATOR.value, Role.SENIOR_PROBATION_OFFICER.value})


def first_details_form(engine: ProcessEngine, session: Session) -> dict[str, Any]:
    """The first-details form of the newest version of the process: what a new case is recorded with."""
    definition = engine.latest_definition(session, CASE_PROCESS)
    return engine.form_schema(session, definition.id, FIRST_DETAILS_FORM)


def check_new_case(session: Session, crn: str, first_details: Mapping[str, Any] | None = None) -> None:
    """Refuse, before anything is started, a CRN that is not one or is on the register already, and
    first details the register would refuse (RegisterError or InvalidData, saying what to correct)."""
    register.check_new_crn(session, crn)
    if first_details is None:
        return
    try:
        register.check_person(
            forename=str(first_details.get("forename", "")),
            surname=str(first_details.get("surname", "")),
            date_of_birth=_date(first_details.get("date_of_birth")),
            hearing_date=_date(first_details.get("hearing_date")),
            crn=crn,
        )
    except register.DetailsRefused as err:
        raise InvalidData([FieldError(err.field, str(err))]) from err


def identify_at_court(
    engine: ProcessEngine, crn: str, first_details: Mapping[str, Any], actor: Actor
) -> tuple[StepResult, HumanTask | None]:
    """Start the case's process and keep `first_details` as the draft of its first-details task.

    Returns the start's result and that task (None when the model asks for no first details)."""
    with engine.db.transaction(write=False) as session:
        check_new_case(session, crn, first_details)
    result = engine.start(CASE_PROCESS, business_key=crn, data={"crn": crn}, actor=actor)
    with engine.db.transaction() as session:
        task = _keep_as_draft(engine, session, result.ready_task_ids, dict(first_details), actor.user_id)
        if task is not None:
            session.expunge(task)
    return result, task


def _keep_as_draft(
    engine: ProcessEngine, session: Session, task_ids: list[int], first_details: dict[str, Any], who: str
) -> HumanTask | None:
    """Keep the court's first details as the draft of the new task whose form asks for them."""
    found = None
    query = (
        select(HumanTask, ProcessInstance.definition_id)
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .where(HumanTask.id.in_(task_ids))
    )
    for row, definition_id in session.execute(query):
        if not row.form_file:
            continue
        fields = set(engine.form_schema(session, definition_id, row.form_file).get("properties", {}))
        draft = {name: value for name, value in first_details.items() if name in fields}
        if not draft:
            continue
        row.draft = draft
        found = found or row
        session.add(
            AuditEvent(
                at=engine.clock.now(),
                actor=who,
                event="task_draft_saved",
                instance_id=row.instance_id,
                business_key=row.business_key,
                task_guid=row.task_guid,
                element_id=row.element_id,
                detail={"task_id": row.id, "source": "first details from the court"},
            )
        )
    session.flush()
    return found


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None
