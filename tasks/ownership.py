"""Who may own a case: the grade rules (policy 7) asked for one member of staff, or for a whole team.

The rules are the decision table `owner_grade` of the offender management bundle (`owner_grade.dmn`),
which the process owner edits: which grade may own a case of which RoSH level, MAPPA level and tier.
The table in force is the one in the newest deployed version (the file on disk before any is
deployed). tasks.wiring plugs `grade_rules_in_force` into the register, which checks every new owner
against it, so allocation, reallocation, transfers and a manager's move all follow the same table.

`why_not_owner` answers "may this member of staff own this case" (None: they may; otherwise why not, in
words); `who_may_own` answers "who in this team may", with each person's grade, experience band and
current caseload, for the allocation list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from casework import register
from casework.models import Case, Staff, Team
from casework.vocabulary import AccessList, ExperienceBand
from engine.decisions import table_in_force
from engine.forms import Choice, Choices
from engine.scripting import StepContext

OWNER_GRADE_TABLE = (
    Path(__file__).resolve().parent.parent / "processes" / "offender-management" / "owner_grade.dmn"
)
OWNER_GRADE_DECISION = "owner_grade"
BAND_WORDS = {
    ExperienceBand.NEWLY_QUALIFIED: "Newly qualified or trainee",
    ExperienceBand.EXPERIENCED: "Experienced",
    ExperienceBand.SENIOR: "Senior practitioner",
}


@dataclass(frozen=True)
class Candidate:
    """A member of a team as the allocation list shows them, and whether they may own the case."""

    username: str
    name: str
    grade: str
    experience: str
    caseload: int
    problem: str | None  # why they may not own the case; None if they may

    @property
    def eligible(self) -> bool:
        """Whether the grade rules let them own the case."""
        return self.problem is None

    @property
    def summary(self) -> str:
        """Grade, experience band and caseload, as the list shows them under the name."""
        return (
            f"{self.grade}, {self.experience}, {self.caseload} open case{'s' if self.caseload != 1 else ''}"
        )


def grade_reasons(session: Session, staff: Staff, case: Case) -> list[str]:
    """Every reason the table in force gives why `staff`'s grade may not own `case`; empty if it may."""
    table = table_in_force(session, OWNER_GRADE_TABLE, OWNER_GRADE_DECISION)
    result = table.evaluate(
        {
            "grade": staff.grade.value,
            "rosh": case.rosh.value if case.rosh else "",
            "mappa_level": case.mappa_level or 0,
            "tier": case.tier or 0,
        }
    )
    found = result.get("reason") or []
    return [str(reason) for reason in (found if isinstance(found, list) else [found])]


def why_not_owner(session: Session, staff: Staff, case: Case) -> str | None:
    """May `staff` own `case`? None if they may; otherwise why not, in words for the person allocating
    (not active, on the case's exclusion list, or a grade the rules do not allow for its risk)."""
    limitation = case.access_limitation
    if limitation is not None and staff.id in limitation.listed(AccessList.EXCLUSION):
        return f"{staff.display_name} is on the exclusion list of {case.crn}."
    return register.owner_problem(staff, case)


def who_may_own(session: Session, case: Case, team: Team | None) -> list[Candidate]:
    """Every active member of `team` (None: of the whole area), by name, with whether they may own
    `case` and why not (the grade rules, the case's exclusion list); their caseload is the open cases
    they own now."""
    query = select(Staff).where(Staff.active.is_(True)).order_by(Staff.display_name, Staff.username)
    staff = session.scalars(query if team is None else query.where(Staff.team_id == team.id)).all()
    loads = dict(
        session.execute(
            select(Case.owner_id, func.count(Case.id))
            .where(Case.owner_id.in_([s.id for s in staff]), Case.closed_at.is_(None))
            .group_by(Case.owner_id)
        ).all()
    )
    candidates = []
    for person in staff:
        band = BAND_WORDS.get(person.experience) if person.experience else None
        candidates.append(
            Candidate(
                username=person.username,
                name=person.display_name,
                grade=person.grade.display_name,
                experience=band or "no experience band",
                caseload=int(loads.get(person.id, 0)),
                problem=why_not_owner(session, person, case),
            )
        )
    return candidates


def eligible_owners(ctx: StepContext) -> Choices:
    """The choice source `eligible_owners` (a form's `"optionsFrom"`): the officers of the case's team
    (before allocation, the team of the SPO choosing; a chooser in no team, such as an API client,
    chooses from the whole area) whom the grade rules let own the case now, each with grade,
    experience band and caseload; for anyone else, why not."""
    session = ctx.session
    case = register.find_case(session, ctx.business_key)
    chooser = session.scalar(select(Staff).where(Staff.username == ctx.actor))
    team = case.team or (chooser.team if chooser is not None else None)
    candidates = who_may_own(session, case, team)
    offered = [Choice(c.username, c.name, c.summary) for c in candidates if c.eligible]
    problems = {c.username: c.problem for c in candidates if not c.eligible}

    def why_not(username: str) -> str | None:
        if username in problems:
            return problems[username]
        person = session.scalar(select(Staff).where(Staff.username == username))
        if person is None:
            return f"Nobody on the staff list has the username {username!r}."
        team_name = team.name if team is not None else "the case's team"
        return why_not_owner(session, person, case) or f"{person.display_name} is not in {team_name}."

    return Choices(offered, why_not)


def grade_rules_in_force(staff: Staff, case: Case) -> list[str]:
    """The grade rules as the register asks them (`casework.register.use_grade_rules`): the reasons,
    by the table in force in the case's own session, that `staff` may not own `case`."""
    session = object_session(case) or object_session(staff)
    if session is None:
        raise RuntimeError("the grade rules read the table in force: the case must be in a session")
    return grade_reasons(session, staff, case)
