"""Cases over the API: put a case identified at court on the register (starting its process), read
one, and list those the caller may see."""

from __future__ import annotations

from flask import g
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload, selectinload

from casework.access_log import Purpose
from casework.models import AccessLimitation, Case, Staff
from engine.errors import InvalidData
from tasks import intake
from webui import riskflow
from webui.api import bp
from webui.api.access import case_not_found, require_case, visible_cases
from webui.api.callers import Caller
from webui.api.problems import ApiProblem, FieldProblem
from webui.api.schemas import CaseCreate, CaseCreated, CaseList, CaseOut, CaseQuery
from webui.api.spec import operation
from webui.reads import log_read


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
    with riskflow().db.transaction() as session:
        statement = statement.where(visible_cases(session, caller)).offset(query.offset).limit(query.limit)
        cases = list(session.scalars(statement).unique())
        log_read(session, Purpose.API_CASE_LIST, cases)
        return CaseList(cases=[case_out(case) for case in cases])


@operation(bp, "GET", "/cases/<crn>", scope="cases:read", tag="cases", response=CaseOut, errors=(404,))
def get_case(caller: Caller, crn: str) -> CaseOut:
    """Read one case by its CRN."""
    with riskflow().db.transaction() as session:
        case = _find(session, crn)
        require_case(session, caller, case)
        g.api_crn = case.crn
        log_read(session, Purpose.API_CASE, [case])
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
    if caller.staff is not None and not caller.staff.roles & intake.RECORDING_ROLES:
        raise ApiProblem(
            403, "wrong_role", "Only a case administrator or a Senior Probation Officer records a new case."
        )
    shared = riskflow()
    g.api_crn = body.crn
    first_details = body.first_details.model_dump(mode="json")
    try:
        result, _ = intake.identify_at_court(shared.engine, body.crn, first_details, caller.actor)
    except InvalidData as err:  # details the register would refuse: named as fields of the request
        raise ApiProblem(
            422,
            err.code,
            err.message,
            [FieldProblem(field=f"first_details.{e.field}", message=e.message) for e in err.errors],
        ) from err
    with shared.db.transaction(write=False) as session:
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


def _cases() -> Select[Case]:
    return select(Case).options(
        joinedload(Case.owner),
        joinedload(Case.team),
        joinedload(Case.access_limitation).selectinload(AccessLimitation.entries),
        selectinload(Case.registrations),
    )


def _find(session: Session, crn: str) -> Case:
    crn = crn.strip().upper()
    case = session.scalar(_cases().where(Case.crn == crn))
    if case is None:
        raise case_not_found(crn)
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
