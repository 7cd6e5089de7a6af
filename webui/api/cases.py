"""Cases over the API: put a case identified at court on the register (starting its process), read
one, and list those the caller may see."""

from __future__ import annotations

from typing import Any

from flask import g
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload, selectinload

from casework.models import AccessLimitation, Case, Staff
from casework.roles import Role
from engine.models import AuditEvent, HumanTask, ProcessInstance
from webui import riskflow
from webui.api import bp
from webui.api.access import require_case, visible_cases
from webui.api.callers import Caller
from webui.api.problems import ApiProblem
from webui.api.schemas import CaseCreate, CaseCreated, CaseList, CaseOut, CaseQuery
from webui.api.spec import operation

# The process every case runs from the day it is identified at court (as `riskflow demo load` starts it).
CASE_PROCESS = "offender_management"
RECORDING_ROLES = frozenset({Role.CASE_ADMINISTRATOR.value, Role.SENIOR_PROBATION_OFFICER.value})


@operation(bp, "GET", "/cases", scope="cases:read", tag="cases", query=CaseQuery, response=CaseList)
def list_cases(caller: Caller, query: CaseQuery) -> CaseList:
    """List the cases the caller may see.

    A person sees only the cases they need to know about (the same rule as the web pages).
    """
    statement = _cases().order_by(Case.crn)
    if query.stage is not None:
        statement = statement.where(Case.stage == query.stage)
    if query.rosh is not None:
        statement = statement.where(Case.rosh == query.rosh)
    if query.owner is not None:
        statement = statement.join(Staff, Staff.id == Case.owner_id).where(Staff.username == query.owner)
    if query.open is not None:
        statement = statement.where(Case.closed_at.is_(None) if query.open else Case.closed_at.is_not(None))
    with riskflow().db.transaction(write=False) as session:
        statement = statement.where(visible_cases(session, caller)).offset(query.offset).limit(query.limit)
        return CaseList(cases=[case_out(case) for case in session.scalars(statement).unique()])


@operation(bp, "GET", "/cases/<crn>", scope="cases:read", tag="cases", response=CaseOut, errors=(404,))
def get_case(caller: Caller, crn: str) -> CaseOut:
    """Read one case by its CRN."""
    with riskflow().db.transaction(write=False) as session:
        case = _find(session, crn)
        require_case(session, caller, case)
        g.api_crn = case.crn
        return case_out(case)


@operation(
    bp,
    "POST",
    "/cases",
    scope="cases:write",
    tag="cases",
    body=CaseCreate,
    response=CaseCreated,
    status=201,
    errors=(404, 409),
)
def create_case(caller: Caller, body: CaseCreate) -> tuple[CaseCreated, int]:
    """Put a case identified at court on the register and start its offender management process.

    The case enters the register at once. The first details wait, filled in, on the case
    administrator's first task for them to check and complete.
    """
    if caller.staff is not None and not caller.staff.roles & RECORDING_ROLES:
        raise ApiProblem(
            403, "wrong_role", "Only a case administrator or a Senior Probation Officer records a new case."
        )
    shared = riskflow()
    g.api_crn = body.crn
    with shared.db.transaction(write=False) as session:
        existing = session.scalar(select(Case.created_at).where(Case.crn == body.crn))
    if existing is not None:
        raise ApiProblem(
            409,
            "duplicate_case",
            f"CRN {body.crn} is already on the register (since {existing:%d %B %Y}): record against it.",
        )
    result = shared.engine.start(
        CASE_PROCESS, business_key=body.crn, data={"crn": body.crn}, actor=caller.actor
    )
    first_details = body.first_details.model_dump(mode="json")
    with shared.db.transaction() as session:
        _prefill(session, result.ready_task_ids, first_details, caller.who)
        case = session.scalar(_cases().where(Case.crn == body.crn))
        if case is None:
            raise ApiProblem(
                409,
                "not_registered",
                f"The process for {body.crn} started but could not put the case on the register: "
                f"instance {result.instance_id} is {result.status}; a manager must look at it.",
            )
        created = CaseCreated(
            case=case_out(case),
            instance_id=result.instance_id,
            status=result.status,
            task_ids=result.ready_task_ids,
        )
    return created, 201


def _prefill(session: Session, task_ids: list[int], first_details: dict[str, Any], who: str) -> None:
    """Keep the court's first details as the draft of each new task whose form asks for them."""
    engine = riskflow().engine
    for row in session.scalars(select(HumanTask).where(HumanTask.id.in_(task_ids))):
        if not row.form_file:
            continue
        definition_id = session.scalar(
            select(ProcessInstance.definition_id).where(ProcessInstance.id == row.instance_id)
        )
        if definition_id is None:
            continue
        fields = set(engine.form_schema(session, definition_id, row.form_file).get("properties", {}))
        draft = {name: value for name, value in first_details.items() if name in fields}
        if draft:
            row.draft = draft
            session.add(
                AuditEvent(
                    at=riskflow().clock.now(),
                    actor=who,
                    event="task_draft_saved",
                    instance_id=row.instance_id,
                    business_key=row.business_key,
                    task_guid=row.task_guid,
                    element_id=row.element_id,
                    detail={"task_id": row.id, "source": "first details from the court"},
                )
            )


def _cases() -> Select[Case]:
    return select(Case).options(
        joinedload(Case.owner),
        joinedload(Case.team),
        joinedload(Case.access_limitation).selectinload(AccessLimitation.entries),
        selectinload(Case.registrations),
    )


def _find(session: Session, crn: str) -> Case:
    case = session.scalar(_cases().where(Case.crn == crn.strip().upper()))
    if case is None:
        raise ApiProblem(404, "not_found", f"There is no case with CRN {crn!r} on the register.")
    return case


def case_out(case: Case) -> CaseOut:
    """The API's view of a case."""
    return CaseOut(
        crn=case.crn,
        name=case.name if (case.forename or case.surname) else None,
        stage=case.stage,
        sentence_outcome=case.sentence_outcome,
        sentence_date=case.sentence_date,
        tier=case.tier,
        rosh=case.rosh,
        mappa_category=case.mappa_category,
        mappa_level=case.mappa_level,
        owner=case.owner.display_name if case.owner else None,
        owner_username=case.owner.username if case.owner else None,
        team=case.team.name if case.team else None,
        created_at=case.created_at,
        closed_at=case.closed_at,
    )
