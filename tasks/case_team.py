"""Keeps each case's team on its process instances and human tasks, in the same transaction.

The monitor narrows instances and tasks to one team and counts open tasks by team straight from
their rows (engine `team_id`), without looking each row's case up. The copy is kept exact, by name:
the engine calls `give_step_rows_their_case_team` at the end of every step (`tasks.wiring` passes it
as the engine's `on_step` hook), so new instance and task rows take their case's team; and whatever
gives a case a new owner (and so perhaps a new team) calls `pass_case_team_on`, which passes the
change to all the case's rows before the transaction commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from casework.models import Case
from engine.models import HumanTask, ProcessInstance

CARRIERS: tuple[type[HumanTask] | type[ProcessInstance], ...] = (ProcessInstance, HumanTask)


def give_step_rows_their_case_team(session: Session, instance: ProcessInstance) -> None:
    """At the end of a step: the instance and its task rows take the team of the instance's case."""
    team_id = _team_of(session, instance.business_key)
    _set(session, ProcessInstance, ProcessInstance.id == instance.id, team_id)
    _set(session, HumanTask, HumanTask.instance_id == instance.id, team_id)
    set_committed_value(instance, "team_id", team_id)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, HumanTask) and obj.instance_id == instance.id:
            set_committed_value(obj, "team_id", team_id)


def pass_case_team_on(session: Session, crn: str) -> None:
    """After a case's owner changes: every instance and task row of the case takes its team."""
    session.flush()
    team_id = _team_of(session, crn)
    for model in CARRIERS:
        _set(session, model, model.business_key == crn, team_id)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, CARRIERS) and obj.business_key == crn:
            set_committed_value(obj, "team_id", team_id)


def _team_of(session: Session, crn: str) -> int | None:
    found = select(Case.team_id).where(Case.crn == crn)
    team_id: int | None = session.connection().execute(found).scalar()
    return team_id


def _set(session: Session, model: type[Any], where: Any, team_id: int | None) -> None:
    session.connection().execute(
        update(model).where(where, model.team_id.is_distinct_from(team_id)).values(team_id=team_id)
    )
