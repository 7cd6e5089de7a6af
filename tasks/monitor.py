"""The managers' monitor in probation terms: whose cases a manager watches, the overview by team,
person and stage, oversight compliance, the critical few, and putting work right on the register.

An ACO watches the whole area; an SPO watches the cases of their own team. Each question is a
grouped query over the register and the engine's tables (engine.monitoring answers the generic
ones); lists of cases still go through casework.access.may_view, the one place need-to-know is
decided, so a limited-access case never shows to a manager it excludes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, case, func, literal, select, union_all
from sqlalchemy.orm import Session, aliased, joinedload, selectinload

from casework import register
from casework.access import kept_out, may_view
from casework.case_list import critical_few as critical_flag
from casework.case_list import visible_to
from casework.critical_few import RiskProfile, assess, table_in_force
from casework.models import (
    AccessLimitation,
    Case,
    OutOfOffice,
    OversightReview,
    OversightSampleDraw,
    Staff,
    Team,
)
from casework.roles import Role
from casework.vocabulary import Stage
from engine.clock import DISPLAY_ZONE, WorkingCalendar
from engine.errors import EngineError, NotFound, NotPermitted
from engine.models import AuditEvent, HumanTask, ProcessInstance
from engine.monitoring import Monitor, require_reason
from tasks.assignment import move_open_tasks, responsible_for
from tasks.case_team import pass_case_team_on
from tasks.due_dates import end_of_week
from tasks.open_tasks import OpenTask, open_task
from tasks.reallocation import NeedsReallocation, needs_reallocation
from tasks.staff_names import display_names

MANAGER_ROLES = frozenset({Role.SENIOR_PROBATION_OFFICER.value, Role.ASSISTANT_CHIEF_OFFICER.value})
TREND_MONTHS = 6
CRITICAL_LIMIT = 100
STAGE_ORDER = [s for s in Stage if s is not Stage.CLOSED]
STAGE_WORDS = {
    Stage.IDENTIFIED: "Identified at court",
    Stage.AWAITING_SENTENCE: "Awaiting sentence",
    Stage.SENTENCED: "Sentenced",
    Stage.ALLOCATED: "Allocated",
    Stage.SUPERVISED: "Under supervision",
}


@dataclass(frozen=True)
class Scope:
    """Which cases a manager watches: the area (ACO) or one team (SPO)."""

    staff: Staff
    team_id: int | None  # None: the whole area

    @property
    def area(self) -> bool:
        """Whether the manager watches the whole area."""
        return self.team_id is None

    def keys(self) -> Select[str] | None:
        """The CRNs watched, as a sub-query for the engine's questions (None: all of them)."""
        return None if self.team_id is None else select(Case.crn).where(Case.team_id == self.team_id)

    def covers(self, case: Case) -> bool:
        """Whether this manager may see and put right the case's work."""
        in_scope = self.area or case.team_id == self.team_id
        return in_scope and bool(may_view(self.staff, case))

    def label(self) -> str:
        """ "the area", or the team's name."""
        if self.area:
            return "the area"
        return self.staff.team.name if self.staff.team else "your team"


def scope_for(session: Session, staff_id: int) -> Scope:
    """The manager's scope; anyone who is neither an SPO nor an ACO is refused."""
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active:
        raise NotPermitted("Only Senior Probation Officers and ACOs use the monitor.", code="not_manager")
    if staff.holds(Role.ASSISTANT_CHIEF_OFFICER):
        return Scope(staff, None)
    if staff.holds(Role.SENIOR_PROBATION_OFFICER) and staff.team_id is not None:
        return Scope(staff, staff.team_id)
    raise NotPermitted("Only Senior Probation Officers and ACOs use the monitor.", code="not_manager")


def case_in_scope(session: Session, scope: Scope, crn: str) -> Case:
    """The case, if the manager may put its work right; NotPermitted otherwise."""
    found = session.scalar(
        select(Case).where(Case.crn == crn).options(joinedload(Case.owner), joinedload(Case.team), _limits())
    )
    if found is None or not scope.covers(found):
        raise NotPermitted("That case is not one you oversee.", code="not_in_scope")
    return found


# ---------------------------------------------------------------------------------------- overview


@dataclass(frozen=True)
class Count:
    """One row of a count table: a label, its figures, and a link key (team id, username...)."""

    label: str
    figures: tuple[int, ...]
    key: str = ""


@dataclass(frozen=True)
class Compliance:
    """Oversight reviews done on time: this month by team and by SPO, and the monthly trend."""

    by_team: list[tuple[str, int, int]]  # (team, on time, done)
    by_spo: list[tuple[str, int, int]]
    trend: list[tuple[str, int, int]]  # (month, on time, done), oldest first
    # The low-risk sample this month: review periods drawn, and how many the draw picked.
    sample_drawn: int = 0
    sample_picked: int = 0


@dataclass(frozen=True)
class CriticalCase:
    """A case among the critical few, with why."""

    crn: str
    name: str
    owner: str
    team: str
    reasons: list[str]


@dataclass
class Overview:
    """Everything the overview page shows."""

    stages: list[Count]
    tasks_by_team: list[Count]  # figures: overdue, due this week
    tasks_by_person: list[Count]
    compliance: Compliance
    critical: list[CriticalCase]
    critical_total: int = 0  # open cases the register marks critical that the manager may see
    reallocation: list[NeedsReallocation] = field(default_factory=list)
    reallocation_total: int = 0  # watched cases with a reallocation open (policy 7)
    errors: list[dict[str, Any]] = field(default_factory=list)


def overview(session: Session, scope: Scope, now: datetime, calendar: WorkingCalendar) -> Overview:
    """Open cases by stage, overdue and due-this-week tasks, compliance, the critical few, the cases that
    need reallocation, errors."""
    monitor = Monitor(session, now, calendar)
    people = display_names(session, [])
    errors = [
        {
            "instance_id": item.instance_id,
            "crn": item.business_key,
            "step": item.step,
            "reason": item.reason(now, calendar, people),
            "since": item.since,
        }
        for item in monitor.errored(team_id=scope.team_id, limit=200)[0]
    ]
    by_team, by_person = task_counts(session, scope, now)
    reallocation_total, reallocation = needs_reallocation(session, scope.staff, scope.team_id, now)
    return Overview(
        stages=stage_counts(session, scope),
        tasks_by_team=by_team,
        tasks_by_person=by_person,
        compliance=oversight_compliance(session, scope, now),
        critical=critical_few(session, scope, now.date()),
        critical_total=critical_count(session, scope),
        reallocation=reallocation,
        reallocation_total=reallocation_total,
        errors=errors,
    )


def stage_counts(session: Session, scope: Scope) -> list[Count]:
    """Open cases at each stage."""
    query = select(Case.stage, func.count()).where(Case.closed_at.is_(None)).group_by(Case.stage)
    if not scope.area:
        query = query.where(Case.team_id == scope.team_id)
    found = {stage: n for stage, n in session.execute(query)}
    return [Count(STAGE_WORDS[s], (found.get(s, 0),), s.value) for s in STAGE_ORDER]


def task_counts(session: Session, scope: Scope, now: datetime) -> tuple[list[Count], list[Count]]:
    """Open tasks overdue and due by the end of this week, by team and by the person holding them.

    From the engine's tallies of open tasks by case team (kept on each task row, tasks.case_team),
    holder and due week, and the rows of the tasks due this week (`tasks_by_holder` in
    engine.monitoring.counts); the two tables are summed from it.
    """
    found = Monitor(session, now, WorkingCalendar()).tasks_by_holder(end_of_week(now), team_id=scope.team_id)
    teams: dict[int, list[int]] = {}
    people: dict[str, list[int]] = {}
    for (team_id, username), (late, week) in found.items():
        for totals in ([teams.setdefault(team_id, [0, 0])] if team_id is not None else []) + (
            [people.setdefault(username, [0, 0])] if username else []
        ):
            totals[0] += late
            totals[1] += week
    team_names = {
        team_id: name
        for team_id, name in session.execute(select(Team.id, Team.name).where(Team.id.in_(list(teams))))
    }
    names = display_names(session, people)
    by_team = [Count(team_names.get(k, str(k)), (v[0], v[1]), str(k)) for k, v in teams.items()]
    by_person = [Count(names.get(k, k), (v[0], v[1]), k) for k, v in people.items()]
    return _busiest_first(by_team), _busiest_first(by_person)


def _busiest_first(rows: list[Count]) -> list[Count]:
    return sorted(rows, key=lambda row: (-row.figures[0], -row.figures[1], row.label))


def oversight_compliance(session: Session, scope: Scope, now: datetime) -> Compliance:
    """Share of oversight reviews done on time, this month by team and by SPO, and month by month."""
    local = now.astimezone(DISPLAY_ZONE)
    month_start = datetime.combine(local.date().replace(day=1), datetime.min.time(), tzinfo=DISPLAY_ZONE)
    on_time = func.count(case((OversightReview.on_time.is_(True), 1)))
    # Counted by team id first (one look-up per review, of its case), then named (one row per team).
    per_team = (
        select(Case.team_id, on_time, func.count())
        .select_from(OversightReview)
        .join(Case, Case.id == OversightReview.case_id)
        .where(OversightReview.done_at >= month_start, Case.team_id.is_not(None))
        .group_by(Case.team_id)
    )
    if not scope.area:
        per_team = per_team.where(Case.team_id == scope.team_id)
    counted = {team_id: (int(ok), int(n)) for team_id, ok, n in session.execute(per_team)}
    spo = aliased(Staff)
    named = session.execute(
        select(Team.id, Team.name, spo.display_name)
        .outerjoin(spo, spo.id == Team.spo_id)
        .where(Team.id.in_(list(counted)))
    ).all()
    # Teams of the same name (and SPO) are one row, as they were when grouped by name.
    grouped: dict[tuple[str, str | None], list[int]] = {}
    for team_id, team_name, spo_name in named:
        totals = grouped.setdefault((team_name, spo_name), [0, 0])
        totals[0] += counted[team_id][0]
        totals[1] += counted[team_id][1]
    rows = [(team, spo_name, ok, n) for (team, spo_name), (ok, n) in grouped.items()]
    by_team = sorted((str(team), int(ok), int(n)) for team, _spo, ok, n in rows)
    by_spo_totals: dict[str, list[int]] = {}
    for _team, name, ok, n in rows:
        totals = by_spo_totals.setdefault(str(name or "No SPO"), [0, 0])
        totals[0] += int(ok)
        totals[1] += int(n)
    by_spo = sorted((name, ok, n) for name, (ok, n) in by_spo_totals.items())
    months = []
    first_of_this = local.date().replace(day=1)
    for back in range(TREND_MONTHS - 1, -1, -1):
        year, month = first_of_this.year, first_of_this.month - back
        while month <= 0:
            year, month = year - 1, month + 12
        first = datetime(year, month, 1, tzinfo=DISPLAY_ZONE)
        after = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=DISPLAY_ZONE)
        months.append((first, after))
    trend = [
        (f"{first:%b %Y}", ok, n)
        for (first, _after), (ok, n) in zip(months, _monthly(session, scope, months), strict=True)
    ]
    drawn, picked = _sample_size(session, scope, month_start)
    return Compliance(by_team, by_spo, trend, drawn, picked)


def _sample_size(session: Session, scope: Scope, since: datetime) -> tuple[int, int]:
    """The low-risk sample's draws since `since`, and how many picked a review (in scope)."""
    query = (
        select(func.count(), func.count(case((OversightSampleDraw.picked.is_(True), 1))))
        .select_from(OversightSampleDraw)
        .join(Case, Case.id == OversightSampleDraw.case_id)
        .where(OversightSampleDraw.drawn_at >= since)
    )
    if not scope.area:
        query = query.where(Case.team_id == scope.team_id)
    drawn, picked = session.execute(query).one()
    return int(drawn), int(picked or 0)


def _monthly(
    session: Session, scope: Scope, months: list[tuple[datetime, datetime]]
) -> list[tuple[int, int]]:
    """Oversight reviews (on time, done) in each month: for the area, one range of the index on
    (done_at, on_time) per month; for a team, one pass over the reviews of its cases."""
    on_time = OversightReview.on_time.is_(True)
    if scope.area:
        per_month = [
            select(literal(i), func.count(case((on_time, 1))), func.count())
            .select_from(OversightReview)
            .where(OversightReview.done_at >= first, OversightReview.done_at < after)
            for i, (first, after) in enumerate(months)
        ]
        found = {int(i): (int(ok), int(n)) for i, ok, n in session.execute(union_all(*per_month))}
        return [found.get(i, (0, 0)) for i in range(len(months))]
    figures = []
    for first, after in months:
        in_month = (OversightReview.done_at >= first) & (OversightReview.done_at < after)
        figures += [func.count(case((in_month & on_time, 1))), func.count(case((in_month, 1)))]
    team_cases = select(Case.id).where(Case.team_id == scope.team_id)
    row = session.execute(
        select(*figures).where(
            OversightReview.done_at >= months[0][0], OversightReview.case_id.in_(team_cases)
        )
    ).one()
    return [(int(row[2 * i]), int(row[2 * i + 1])) for i in range(len(months))]


def critical_few(session: Session, scope: Scope, today: date) -> list[CriticalCase]:
    """The first of the watched open cases the register marks critical (its stored flag, in the
    register list's name order, from the index on the flag), of those the manager may see, each with
    its reasons."""
    query = (
        select(Case)
        .where(critical_flag(), Case.closed_at.is_(None), visible_to(session, scope.staff))
        .options(joinedload(Case.owner), joinedload(Case.team), selectinload(Case.registrations), _limits())
        .order_by(Case.surname, Case.forename, Case.crn)
        .limit(CRITICAL_LIMIT)
    )
    if not scope.area:
        query = query.where(Case.team_id == scope.team_id)
    found = []
    table = table_in_force(session)
    for record in session.scalars(query).unique():
        assessment = assess(RiskProfile.of(record), today=today, table=table)
        if assessment.critical and scope.covers(record):
            found.append(
                CriticalCase(
                    record.crn,
                    record.name,
                    record.owner.display_name if record.owner else "Unallocated",
                    record.team.name if record.team else "",
                    assessment.reasons,
                )
            )
            if len(found) >= CRITICAL_LIMIT:
                break
    return found


def critical_count(session: Session, scope: Scope) -> int:
    """How many watched open cases the register marks among the critical few (its stored flag, as the
    register list's critical-few filter counts them), of those the manager may see."""
    query = (
        select(func.count())
        .select_from(Case)
        .where(critical_flag(), Case.closed_at.is_(None), visible_to(session, scope.staff))
    )
    if not scope.area:
        query = query.where(Case.team_id == scope.team_id)
    return int(session.scalar(query) or 0)


# ------------------------------------------------------------------------------------------ people


def team_people(session: Session, scope: Scope) -> list[Staff]:
    """The active staff a manager may hand work to: their team (SPO) or everyone (ACO)."""
    query = select(Staff).where(Staff.active.is_(True)).order_by(Staff.display_name, Staff.id)
    if not scope.area:
        query = query.where(Staff.team_id == scope.team_id)
    return list(session.scalars(query))


def person_in_scope(session: Session, scope: Scope, username: str) -> Staff:
    """An active member of staff the manager may hand work to."""
    staff = session.scalar(select(Staff).where(Staff.username == username))
    if staff is None or not staff.active:
        raise NotFound(f"Nobody active with the username {username!r} is on the staff list.")
    if not scope.area and staff.team_id != scope.team_id:
        raise NotPermitted(f"{staff.display_name} is not in your team.", code="not_in_scope")
    return staff


def why_not_taker(session: Session, task: HumanTask, staff: Staff) -> str | None:
    """Why `task` may not be given to `staff`, in words; None when it may. The rule for every
    reassignment, single or bulk: the person holds the role the step asks for, and nothing keeps them
    from the case (its exclusion and restriction lists; holding its task then gives them the need to
    know). Otherwise the task would sit in an inbox whose owner cannot open it."""
    if task.candidate_role and task.candidate_role not in staff.roles:
        known = task.candidate_role in {r.value for r in Role}
        role = Role(task.candidate_role).display_name if known else task.candidate_role
        return (
            f"{staff.display_name} ({staff.grade.display_name}) cannot take “{task.title}”: "
            f"the step is for a {role}."
        )
    case = session.scalar(select(Case).where(Case.crn == task.business_key)) if task.business_key else None
    if case is not None and kept_out(staff, case) is not None:
        return f"{staff.display_name} cannot take “{task.title}”: they may not see case {case.crn}."
    return None


def check_taker(session: Session, staff: Staff) -> Callable[[HumanTask], None]:
    """The check a reassignment to `staff` runs on each task it moves (NotPermitted: nothing moves)."""

    def check(task: HumanTask) -> None:
        problem = why_not_taker(session, task, staff)
        if problem is not None:
            raise NotPermitted(problem, code="cannot_take_task")

    return check


def takers_of(session: Session, scope: Scope, tasks: list[HumanTask]) -> dict[int, list[Staff]]:
    """For each task, the staff in the manager's scope it may be given to (for the people pickers)."""
    people = team_people(session, scope)
    return {task.id: [p for p in people if why_not_taker(session, task, p) is None] for task in tasks}


def set_out_of_office(
    session: Session,
    scope: Scope,
    username: str,
    cover: str,
    until: date,
    *,
    at: datetime,
    by: str,
    reason: str,
) -> OutOfOffice:
    """Route `username`'s new tasks to `cover` until `until` (inclusive), audited with the reason."""
    reason = require_reason(reason)
    away = person_in_scope(session, scope, username)
    covering = person_in_scope(session, scope, cover)
    if away.id == covering.id:
        raise EngineError("Choose a colleague other than the officer who is away.", code="same_person")
    if until < at.date():
        raise EngineError("The end date must be today or later.", code="date_past")
    routing = session.scalar(select(OutOfOffice).where(OutOfOffice.staff_id == away.id))
    if routing is None:
        routing = OutOfOffice(staff=away, set_at=at, set_by=by)
        session.add(routing)
    routing.cover, routing.until, routing.reason, routing.set_at, routing.set_by = (
        covering,
        until,
        reason,
        at,
        by,
    )
    session.add(
        AuditEvent(
            at=at,
            actor=by,
            event="out_of_office_set",
            reason=reason,
            detail={"staff": away.username, "cover": covering.username, "until": until.isoformat()},
        )
    )
    return routing


def end_out_of_office(
    session: Session, scope: Scope, username: str, *, at: datetime, by: str, reason: str
) -> None:
    """Stop routing `username`'s new tasks to their cover."""
    reason = require_reason(reason)
    away = person_in_scope(session, scope, username)
    routing = session.scalar(select(OutOfOffice).where(OutOfOffice.staff_id == away.id))
    if routing is None:
        raise NotFound(f"{away.display_name} has no out-of-office routing.")
    session.delete(routing)
    session.add(
        AuditEvent(
            at=at, actor=by, event="out_of_office_ended", reason=reason, detail={"staff": away.username}
        )
    )


def routings(session: Session, scope: Scope, today: date) -> list[OutOfOffice]:
    """Out-of-office routings in force for the staff the manager oversees."""
    query = (
        select(OutOfOffice)
        .join(Staff, Staff.id == OutOfOffice.staff_id)
        .where(OutOfOffice.until >= today)
        .options(joinedload(OutOfOffice.staff), joinedload(OutOfOffice.cover))
        .order_by(OutOfOffice.until, OutOfOffice.id)
    )
    if not scope.area:
        query = query.where(Staff.team_id == scope.team_id)
    return list(session.scalars(query))


# -------------------------------------------------------------------------------------- ownership


def move_ownership(
    session: Session, scope: Scope, crn: str, owner: str, *, at: datetime, by: str, reason: str
) -> int:
    """Give the case a new owner; the old owner's open tasks (and the SPO's if the team changes) move too.

    Returns how many tasks moved. The register records the change on the case's timeline.
    """
    reason = require_reason(reason)
    record = case_in_scope(session, scope, crn)
    person_in_scope(session, scope, owner)
    before = {
        role: responsible_for(record, role) for role in (Role.OFFENDER_MANAGER, Role.SENIOR_PROBATION_OFFICER)
    }
    register.assign_owner(session, crn, owner, at=at, by=by, reason=reason)
    pass_case_team_on(session, crn)
    moves: Mapping[str | None, str | None] = {before[role]: responsible_for(record, role) for role in before}
    return move_open_tasks(session, crn, moves, actor=by, at=at, reason=reason)


def instance_case(session: Session, scope: Scope, instance_id: int) -> tuple[ProcessInstance, Case]:
    """An instance and its case, if the manager oversees the case."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"Instance {instance_id} does not exist.")
    return instance, case_in_scope(session, scope, instance.business_key)


def _limits() -> Any:
    return joinedload(Case.access_limitation).selectinload(AccessLimitation.entries)


def open_tasks(
    session: Session, scope: Scope, now: datetime, *, holder: str | None = None, due: str | None = None
) -> list[OpenTask]:
    """Open tasks on the watched cases, soonest due first: one person's, overdue, or due this week."""
    held_by = func.coalesce(HumanTask.claimed_by, HumanTask.assignee)
    query = (
        select(HumanTask, Case)
        .join(Case, Case.crn == HumanTask.business_key)
        .where(HumanTask.state == "open")
        .options(joinedload(Case.owner), joinedload(Case.team), _limits())
        .order_by(HumanTask.due_at.asc().nulls_last(), HumanTask.id)
        .limit(500)
    )
    if not scope.area:
        query = query.where(Case.team_id == scope.team_id)
    if holder:
        query = query.where(held_by == holder)
    if due == "overdue":
        query = query.where(HumanTask.due_at < now)
    elif due == "week":
        query = query.where(HumanTask.due_at >= now, HumanTask.due_at < end_of_week(now))
    found = [(task, record) for task, record in session.execute(query).unique() if scope.covers(record)]
    names = display_names(session, (task.claimed_by or task.assignee for task, _ in found), now.date())
    return [open_task(task, record, now, names) for task, record in found]
