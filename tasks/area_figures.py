"""The area's figures, as the register and the process hold them on a given day: how many cases went
down each route the outcome chose, the sentence plans on time against the National Standard, the
closures on time against the order's (or licence's) end date, and the open cases by stage.

- **Routes**: each case's latest court outcome, put through the `outcome_route` decision table in force
  (the one the process asks), so a process owner's change to the table shows here too. A case with
  no outcome yet is awaiting one.
- **Sentence plans**: the steps whose `dueByStandard` is `sentence_plan` (the community plan and the
  plan in custody), read from the deployed model, with a due date kept by the standard. Done on time
  (completed by the due date), done late, open and overdue, open and not yet due. The share on time
  is of the plans whose standard has come: done, or open and overdue.
- **Closures**: the cases with an end date (the order's, else the licence's). Closed on the end date
  (on time), closed before it (an early end: revoked, early termination and the like), closed after
  it (late), still open after it (overdue), still running. The share on time is of those whose end
  date has come and that were not ended early.
- **Open cases by stage**: the register's stage of every open case.

Dates are the area's (UK) dates. `riskflow figures` prints these.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework import sentencing
from casework.models import Case, CaseEvent, CourtOutcome
from casework.vocabulary import Stage
from engine.clock import DISPLAY_ZONE
from engine.decisions import table_in_force
from engine.errors import NotFound
from engine.models import HumanTask, ProcessInstance
from engine.runtime import ProcessEngine
from engine.standards import STANDARD_PROPERTY
from tasks.monitor import STAGE_ORDER, STAGE_WORDS

OUTCOME_ROUTE_TABLE = (
    Path(__file__).resolve().parent.parent / "processes" / "offender-management" / "outcome_route.dmn"
)
OUTCOME_ROUTE_DECISION = "outcome_route"
SENTENCE_PLAN_STANDARD = "sentence_plan"
# The routes of the outcome_route table, in the order the figures list them, in words.
ROUTE_WORDS = {
    "SUPERVISION": "Supervision in the community",
    "CUSTODY_LICENCE": "Custody, then release on licence",
    "CLOSE_AFTER_MEETING": "Closed after the risk meeting",
    "AWAIT_NEW_HEARING": "Waiting for a new hearing",
    "CLOSE_NOW": "Closed at once",
}
AWAITING_OUTCOME = "Awaiting the court's outcome"
# A case as the figures read it: id, stage, closed at, order ends on, closure reason.
CaseRow = tuple[int, Stage, datetime | None, date | None, str | None]


@dataclass(frozen=True)
class PlanTimeliness:
    """Sentence plans against the National Standard."""

    on_time: int = 0
    late: int = 0
    open_overdue: int = 0
    not_yet_due: int = 0

    @property
    def due(self) -> int:
        """Plans whose standard has come: done, or open past the due date."""
        return self.on_time + self.late + self.open_overdue

    @property
    def share_on_time(self) -> float | None:
        """On time as a share of those due (None when none is due yet)."""
        return self.on_time / self.due if self.due else None


@dataclass(frozen=True)
class ClosureTimeliness:
    """Cases with an end date, against it."""

    on_the_date: int = 0
    early: int = 0
    late: int = 0
    open_past_end: int = 0
    running: int = 0

    @property
    def due(self) -> int:
        """Cases whose end date has come and that did not end early."""
        return self.on_the_date + self.late + self.open_past_end

    @property
    def share_on_time(self) -> float | None:
        """Closed on the end date as a share of those due (None when none is due yet)."""
        return self.on_the_date / self.due if self.due else None


@dataclass
class AreaFigures:
    """The area's figures on `today`."""

    today: date
    cases: int = 0
    awaiting_outcome: int = 0
    routes: dict[str, Counter[str]] = field(default_factory=dict)  # route: outcome code: cases
    after_a_new_hearing: int = 0  # sentenced at a new hearing after an adjournment or deferment
    in_custody: int = 0  # open custody cases not (or no longer) out on licence
    on_licence: int = 0
    released_on_licence: int = 0  # cases ever released on licence
    recalled: int = 0  # cases ever recalled
    offences: Counter[str] = field(default_factory=Counter)
    plans: PlanTimeliness = PlanTimeliness()
    closures: ClosureTimeliness = ClosureTimeliness()
    open_by_stage: Counter[Stage] = field(default_factory=Counter)

    def route_total(self, route: str) -> int:
        """Cases on `route`."""
        return sum(self.routes.get(route, Counter()).values())


def area_figures(engine: ProcessEngine, session: Session, *, now: datetime) -> AreaFigures:
    """The area's figures as the register holds them at `now`."""
    today = _local_date(now)
    figures = AreaFigures(today=today)
    cases: list[CaseRow] = [
        (row[0], row[1], row[2], row[3], row[4])
        for row in session.execute(
            select(Case.id, Case.stage, Case.closed_at, Case.order_ends_on, Case.closure_reason)
        )
    ]
    figures.cases = len(cases)
    outcomes: dict[int, list[CourtOutcome]] = {}
    for row in session.scalars(select(CourtOutcome).order_by(CourtOutcome.case_id, CourtOutcome.id)):
        outcomes.setdefault(row.case_id, []).append(row)
    table = table_in_force(session, OUTCOME_ROUTE_TABLE, OUTCOME_ROUTE_DECISION)
    route_of: dict[str, str] = {}
    case_route: dict[int, str] = {}
    for case_id, given in outcomes.items():
        latest = given[-1].outcome
        if latest not in route_of:
            route = table.evaluate({"outcome_record": {"outcome": latest.value}}).get("outcome_route")
            route_of[latest] = str(route or "")
        case_route[case_id] = route_of[latest]
        figures.routes.setdefault(route_of[latest], Counter())[latest.value] += 1
        if len(given) > 1 and latest not in sentencing.TO_A_LATER_HEARING:
            figures.after_a_new_hearing += any(o.outcome in sentencing.TO_A_LATER_HEARING for o in given)
    figures.awaiting_outcome = figures.cases - len(outcomes)
    _custody_and_licence(session, figures, cases, case_route)
    figures.offences = _offences(session)
    figures.plans = _sentence_plans(engine, session, now)
    figures.closures = _closures(cases, outcomes, today)
    figures.open_by_stage = Counter(stage for _, stage, closed_at, _, _ in cases if closed_at is None)
    return figures


def _custody_and_licence(
    session: Session, figures: AreaFigures, cases: list[CaseRow], case_route: dict[int, str]
) -> None:
    last_turn: dict[int, str] = {}
    released: set[int] = set()
    recalled: set[int] = set()
    for case_id, kind in session.execute(
        select(CaseEvent.case_id, CaseEvent.kind)
        .where(CaseEvent.kind.in_(("released_on_licence", "recalled")))
        .order_by(CaseEvent.case_id, CaseEvent.at, CaseEvent.id)
    ):
        last_turn[case_id] = kind
        (released if kind == "released_on_licence" else recalled).add(case_id)
    figures.released_on_licence, figures.recalled = len(released), len(recalled)
    for case_id, _, closed_at, _, _ in cases:
        if closed_at is None and case_route.get(case_id) == "CUSTODY_LICENCE":
            if last_turn.get(case_id) == "released_on_licence":
                figures.on_licence += 1
            else:
                figures.in_custody += 1


def _offences(session: Session) -> Counter[str]:
    """Each case's main offence, as its first details gave it."""
    offences: Counter[str] = Counter()
    for detail in session.scalars(select(CaseEvent.detail).where(CaseEvent.kind == "first_details")):
        offence = (detail or {}).get("offence")
        if offence:
            offences[str(offence)] += 1
    return offences


def _sentence_plans(engine: ProcessEngine, session: Session, now: datetime) -> PlanTimeliness:
    rows = session.execute(
        select(
            HumanTask.process_id,
            HumanTask.element_id,
            ProcessInstance.definition_id,
            HumanTask.state,
            HumanTask.due_at,
            HumanTask.completed_at,
        )
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .where(HumanTask.due_standard.is_not(None), HumanTask.state.in_(("open", "completed")))
    ).all()
    is_plan: dict[tuple[int, str, str], bool] = {}
    on_time = late = open_overdue = not_yet_due = 0
    for process_id, element_id, definition_id, state, due_at, completed_at in rows:
        key = (definition_id, process_id, element_id)
        if key not in is_plan:
            try:
                details = engine.element_details(session, definition_id, process_id, element_id)
            except NotFound:
                is_plan[key] = False
            else:
                is_plan[key] = details.properties.get(STANDARD_PROPERTY) == SENTENCE_PLAN_STANDARD
        if not is_plan[key] or due_at is None:
            continue
        due = _aware(due_at)
        if state == "completed" and completed_at is not None:
            if _aware(completed_at) <= due:
                on_time += 1
            else:
                late += 1
        elif now > due:
            open_overdue += 1
        else:
            not_yet_due += 1
    return PlanTimeliness(on_time, late, open_overdue, not_yet_due)


def _closures(
    cases: list[CaseRow], outcomes: dict[int, list[CourtOutcome]], today: date
) -> ClosureTimeliness:
    on_the_date = early = late = open_past_end = running = 0
    for case_id, _, closed_at, order_ends_on, _ in cases:
        end = order_ends_on or _licence_end(outcomes.get(case_id, []))
        if end is None:
            continue
        if closed_at is not None:
            closed_on = _local_date(_aware(closed_at))
            if closed_on == end:
                on_the_date += 1
            elif closed_on < end:
                early += 1
            else:
                late += 1
        elif end <= today:
            open_past_end += 1
        else:
            running += 1
    return ClosureTimeliness(on_the_date, early, late, open_past_end, running)


def _licence_end(given: list[CourtOutcome]) -> date | None:
    """The licence end date of the case's latest custodial sentence with a licence, if any."""
    for row in reversed(given):
        if row.outcome in sentencing.WITH_LICENCE:
            return row.licence_end_date
        if row.outcome not in sentencing.TO_A_LATER_HEARING:
            return None
    return None


def figures_lines(figures: AreaFigures) -> list[str]:
    """The figures as `riskflow figures` prints them."""
    lines = [f"The area's figures on {figures.today:%d %B %Y}: {figures.cases:,} cases on the register", ""]
    lines.append("Cases by route (the latest court outcome, through the outcome_route table):")
    for route in [*ROUTE_WORDS, *sorted(set(figures.routes) - set(ROUTE_WORDS))]:
        by_outcome = figures.routes.get(route, Counter())
        lines.append(f"  {ROUTE_WORDS.get(route, route or 'No route'):<40} {sum(by_outcome.values()):>6,}")
        for code, n in sorted(by_outcome.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"    {sentencing.outcome_title(code):<38} {n:>6,}")
    lines.append(f"  {AWAITING_OUTCOME:<40} {figures.awaiting_outcome:>6,}")
    lines.append(
        f"  Sentenced at a new hearing after an adjournment or deferment: {figures.after_a_new_hearing:,}"
    )
    lines.append(
        f"  Custody, then licence, open: {figures.in_custody:,} in custody, "
        f"{figures.on_licence:,} on licence; ever released on licence {figures.released_on_licence:,}, "
        f"recalled {figures.recalled:,}"
    )
    lines += ["", "Main offences (first hearing):"]
    for offence, n in sorted(figures.offences.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  {offence:<58} {n:>6,}")
    plans = figures.plans
    lines += [
        "",
        "Sentence plans against the National Standard:",
        f"  on time {plans.on_time:,} of {plans.due:,} due ({_share(plans.share_on_time)}); "
        f"done late {plans.late:,}, open and overdue {plans.open_overdue:,}, "
        f"not yet due {plans.not_yet_due:,}",
    ]
    ends = figures.closures
    lines += [
        "",
        "Closures against the order's or licence's end date:",
        f"  closed on the end date {ends.on_the_date:,} of {ends.due:,} due ({_share(ends.share_on_time)}); "
        f"closed late {ends.late:,}, open past the end date {ends.open_past_end:,}; "
        f"ended early {ends.early:,}; still running {ends.running:,}",
    ]
    lines += ["", "Open cases by stage:"]
    for stage in STAGE_ORDER:
        lines.append(f"  {STAGE_WORDS[stage]:<40} {figures.open_by_stage.get(stage, 0):>6,}")
    lines.append(f"  {'Open cases':<40} {sum(figures.open_by_stage.values()):>6,}")
    return lines


def _share(share: float | None) -> str:
    return "none due yet" if share is None else f"{share:.0%}"


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _local_date(at: datetime) -> date:
    return _aware(at).astimezone(DISPLAY_ZONE).date()
