"""Keeps each case's team on its process instances and human tasks, in the same transaction.

The monitor narrows instances and tasks to one team and counts open tasks by team straight from
their rows (engine `team_id`), without looking each row's case up. The copy is kept exact: after
every flush, a new instance or task row takes its case's team, and a case that joins a team, moves
to another or leaves one passes the change to all its rows, before the transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from casework.models import Case
from engine.models import HumanTask, ProcessInstance

# Importing this module (tasks.wiring does, for the app, the worker and the CLI) installs the listener.
CARRIERS: tuple[type[HumanTask] | type[ProcessInstance], ...] = (ProcessInstance, HumanTask)


@event.listens_for(Session, "after_flush")
def keep_teams_in_step(session: Session, _context: Any) -> None:
    """After a flush: give new instance and task rows their case's team, and pass team changes on."""
    new_rows = [obj for obj in session.new if isinstance(obj, CARRIERS)]
    moved = {
        obj.crn
        for obj in (*session.new, *session.dirty)
        if isinstance(obj, Case) and (obj in session.new or _team_changed(obj))
    }
    if not new_rows and not moved:
        return
    keys = moved | {row.business_key for row in new_rows}
    found = select(Case.crn, Case.team_id).where(Case.crn.in_(sorted(keys)))
    teams: dict[str, int | None] = {crn: team_id for crn, team_id in session.connection().execute(found)}
    for model in CARRIERS:
        # New rows of a case that moved are covered below, with every other row of that case.
        fresh = [
            (team_id, row.id)
            for row in new_rows
            if isinstance(row, model) and row.business_key not in moved
            if (team_id := teams.get(row.business_key)) != row.team_id
        ]
        for team_id, ids in _by_team(fresh):
            _set(session, model, model.id.in_(ids), team_id)
        for team_id, crns in _by_team((teams.get(crn), crn) for crn in sorted(moved)):
            _set(session, model, model.business_key.in_(crns), team_id)
    # Rows loaded in this session see the value the database now holds.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, CARRIERS) and obj.business_key in keys:
            set_committed_value(obj, "team_id", teams.get(obj.business_key))


def _team_changed(case: Case) -> bool:
    attrs = inspect(case).attrs
    return bool(attrs.team_id.history.has_changes() or attrs.team.history.has_changes())


def _by_team(pairs: Iterable[tuple[int | None, Any]]) -> list[tuple[int | None, list[Any]]]:
    grouped: dict[int | None, list[Any]] = {}
    for team_id, item in pairs:
        grouped.setdefault(team_id, []).append(item)
    return list(grouped.items())


def _set(session: Session, model: type[Any], where: Any, team_id: int | None) -> None:
    session.connection().execute(update(model).where(where).values(team_id=team_id))
