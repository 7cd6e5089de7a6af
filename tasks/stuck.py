"""Stuck work as a manager sees it: what is late or broken on the cases they oversee, filtered by
step, team and kind of reason, each line with its reason in words and its case's team.

The engine decides what is stuck (engine.monitoring): an instance in error or suspended, a task past
its due date or its step's expected time, a wait past the expected time its receiving step sets (a
standing wait, for a transfer or the case ending, never is), a timer the workers have not fired.
Need-to-know is decided here, case by case (Scope.covers), as for every list of the monitor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from casework.models import AccessLimitation, Case, Team
from engine.clock import WorkingCalendar
from engine.errors import EngineError, NotPermitted
from engine.monitoring import Monitor, Waiting
from tasks.monitor import Scope
from tasks.staff_names import display_names

# The kinds of stuck work, as the filter offers them (engine.monitoring.KINDS, in managers' words).
REASONS = {
    "task": "Late tasks",
    "timer": "Timers not fired",
    "error": "In error",
    "suspended": "Suspended",
    "message": "Waits past their expected time",
}


@dataclass(frozen=True)
class StuckLine:
    """One stuck thing on a case the manager may see: the wait, why in words, and the case's team."""

    item: Waiting
    reason: str
    team: str


@dataclass(frozen=True)
class StuckWork:
    """The stuck list as filtered, with the choices each filter offers."""

    lines: list[StuckLine]
    more: bool
    step: str | None
    team_id: int | None
    kind: str | None
    steps: list[tuple[str, str]]  # (element id, "name (how many are stuck there)")
    teams: list[tuple[int, str]]  # empty for an SPO: they see their own team's
    off_the_diagram: dict[str, int]  # late timers and suspended instances, which are at no step


def stuck_work(
    session: Session,
    scope: Scope,
    now: datetime,
    calendar: WorkingCalendar,
    *,
    step: str | None = None,
    team_id: int | None = None,
    kind: str | None = None,
) -> StuckWork:
    """The stuck work on the watched cases: errors first, then the longest waiting.

    A filter that names no such step, team or reason is refused with what to choose instead; an SPO
    who asks for another team's is refused (they oversee their own team's work)."""
    if kind is not None and kind not in REASONS:
        raise EngineError(f"Choose a reason from the list: {', '.join(REASONS.values())}.", code="bad_filter")
    team = _team(session, scope, team_id)
    monitor = Monitor(session, now, calendar)
    steps = monitor.steps(monitor.definitions())
    if step is not None and steps.step(step) is None:
        raise EngineError(
            f"The process has no step {step!r}: choose a step from the list.", code="bad_filter"
        )
    report = monitor.stuck(team_id=team, step=step, kind=kind)
    cases = _cases(session, {item.business_key for item in report.items})
    shown = [i for i in report.items if i.business_key in cases and scope.covers(cases[i.business_key])]
    people = display_names(session, [i.holder for i in shown], now.date())
    lines = [StuckLine(i, i.reason(now, calendar, people), _team_name(cases[i.business_key])) for i in shown]
    counts = monitor.counts_by_step(monitor.definitions(), team_id=team)
    stuck_at = {e: c["overdue"] + c["errors"] for e, c in counts.items() if c["overdue"] + c["errors"]}
    if step is not None:
        stuck_at.setdefault(step, 0)
    options = sorted(
        ((e, f"{steps.name(e)} ({n})") for e, n in stuck_at.items()), key=lambda o: (o[1].lower(), o[0])
    )
    teams = (
        []
        if not scope.area
        else [(t.id, t.name) for t in session.scalars(select(Team).order_by(Team.name, Team.id))]
    )
    return StuckWork(
        lines,
        report.more,
        step,
        team,
        kind,
        options,
        teams,
        monitor.stuck_off_the_diagram(team_id=team),
    )


def _team(session: Session, scope: Scope, team_id: int | None) -> int | None:
    """The team to narrow to: the SPO's own, or the one an ACO chose (None: the area)."""
    if not scope.area:
        if team_id is not None and team_id != scope.team_id:
            raise NotPermitted("You oversee your own team's work only.", code="not_in_scope")
        return scope.team_id
    if team_id is not None and session.get(Team, team_id) is None:
        raise EngineError(f"There is no team {team_id}: choose a team from the list.", code="bad_filter")
    return team_id


def _cases(session: Session, crns: set[str]) -> dict[str, Case]:
    if not crns:
        return {}
    query = (
        select(Case)
        .where(Case.crn.in_(crns))
        .options(
            joinedload(Case.owner),
            joinedload(Case.team),
            joinedload(Case.access_limitation).selectinload(AccessLimitation.entries),
        )
    )
    return {case.crn: case for case in session.scalars(query).unique()}


def _team_name(case: Case) -> str:
    return case.team.name if case.team is not None else "No team"
