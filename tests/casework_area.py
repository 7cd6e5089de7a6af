"""A small fixed probation area for tests: two teams in two offices, each with its SPO, Offender Managers
of every case-holding grade and experience band, a case administrator, and the area's ACO, risk
consultant and MAPPA coordinator. Usernames say who is who: `om.north.po.e` is an experienced PO in
the North team. Fictional people only.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from casework.models import Staff, Team
from casework.vocabulary import ExperienceBand, Grade

E, N, S = ExperienceBand.EXPERIENCED, ExperienceBand.NEWLY_QUALIFIED, ExperienceBand.SENIOR

# (grade, experience band) of each Offender Manager in a team, and the username suffix it gets.
OFFENDER_MANAGERS: list[tuple[Grade, ExperienceBand]] = [
    (Grade.PO, E),
    (Grade.PO, N),
    (Grade.PSO, E),
    (Grade.PSO, N),
    (Grade.TRAINEE_PO, N),
    (Grade.TRAINEE_PO, E),
    (Grade.SENIOR_PRACTITIONER, S),
]


def om_username(team: str, grade: Grade | str, experience: ExperienceBand | str) -> str:
    """The username of the test area's Offender Manager of that grade and band in `team`."""
    return f"om.{team}.{Grade(grade).value.lower()}.{ExperienceBand(experience).value.lower()}"


def small_area(session: Session) -> dict[str, Staff]:
    """Add the test area to the register; return its staff by username."""
    staff: dict[str, Staff] = {}

    def person(username: str, name: str, grade: Grade, team: Team | None, **extra: object) -> Staff:
        member = Staff(
            username=username,
            display_name=name,
            grade=grade,
            team=team,
            started_on=date(2015, 4, 1),
            active=True,
            extra_roles=[],
            **extra,
        )
        session.add(member)
        staff[username] = member
        return member

    aco = person("aco.one", "Morwenna Tallis", Grade.ACO, None)
    person("risk.consultant", "Idris Fenwick", Grade.RISK_CONSULTANT, None)
    person("mappa.coordinator", "Philippa Orme", Grade.MAPPA_COORDINATOR, None)
    for code, office, district in (("north", "Carrow House", "North"), ("south", "Lune Street", "South")):
        team = Team(code=code.upper(), name=f"{district} Case Management", office=office, district=district)
        session.add(team)
        spo = person(f"spo.{code}", f"SPO {district}", Grade.SPO, team, line_manager=aco)
        team.spo = spo
        person(f"admin.{code}", f"Admin {district}", Grade.CASE_ADMIN, team, line_manager=spo)
        for grade, band in OFFENDER_MANAGERS:
            username = om_username(code, grade, band)
            person(
                username,
                f"OM {district} {grade.value} {band.value}",
                grade,
                team,
                line_manager=spo,
                experience=band,
            )
    session.flush()
    return staff
