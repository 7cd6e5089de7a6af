"""Who may own a case (policy 7): the grade rules are the decision table `owner_grade`, which the process
owner edits; one use case answers "may this member of staff own this case" and "who in this team may"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from casework_area import om_username, small_area
from conftest import START
from sqlalchemy.orm import Session

from casework import register
from casework.register import OwnerNotSuitable
from casework.vocabulary import MappaCategory, RoshLevel
from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from tasks.ownership import OWNER_GRADE_TABLE, who_may_own, why_not_owner
from tasks.wiring import build_engine

CRN = "X320741"
PO = om_username("north", "PO", "E")
PSO = om_username("north", "PSO", "E")
TRAINEE = om_username("north", "TRAINEE_PO", "N")
SENIOR = om_username("north", "SENIOR_PRACTITIONER", "S")


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.transaction() as session:
        small_area(session)
        yield session


def case_with(session: Session, rosh: RoshLevel, *, mappa_level: int | None = None, tier: int | None = None):
    case = register.identify_case(session, CRN, at=START, by="admin.north", court="Carlisle Crown Court")
    register.record_rosh(session, CRN, rosh, at=START, by="court.po", source="pre-sentence report")
    if mappa_level:
        register.record_mappa(session, CRN, MappaCategory.CAT2, mappa_level, at=START, by="mappa.coordinator")
    if tier:
        case.tier = tier
    return case


@pytest.mark.parametrize("rosh", [RoshLevel.HIGH, RoshLevel.VERY_HIGH])
def test_a_pso_cannot_be_allocated_a_high_rosh_case(session: Session, rosh: RoshLevel) -> None:
    case = case_with(session, rosh)
    pso = register.find_staff(session, PSO)
    problem = why_not_owner(session, pso, case)
    assert problem == (
        f"OM North PSO E (Probation Services Officer) cannot own a case with {rosh.display_name} RoSH: "
        "the grade rules (policy 7) do not allow a Probation Services Officer to hold it."
    )
    with pytest.raises(OwnerNotSuitable, match=f"{rosh.display_name} RoSH"):
        register.assign_owner(session, CRN, PSO, at=START, by="spo.north")
    assert register.find_case(session, CRN).owner is None


def test_probation_officers_may_own_any_case(session: Session) -> None:
    case = case_with(session, RoshLevel.VERY_HIGH, mappa_level=3, tier=4)
    for username in (PO, SENIOR):
        assert why_not_owner(session, register.find_staff(session, username), case) is None


def test_a_pso_or_trainee_owns_low_and_medium_rosh_below_mappa_level_2_and_tier_4(session: Session) -> None:
    case = case_with(session, RoshLevel.MEDIUM, mappa_level=2, tier=4)
    problem = why_not_owner(session, register.find_staff(session, TRAINEE), case)
    assert problem is not None and "MAPPA level 2 and tier 4" in problem
    case.mappa_level, case.tier = 1, 3
    assert why_not_owner(session, register.find_staff(session, TRAINEE), case) is None
    assert why_not_owner(session, register.find_staff(session, PSO), case) is None


def test_who_in_the_team_may_own_a_high_rosh_case(session: Session) -> None:
    case = case_with(session, RoshLevel.HIGH)
    register.assign_owner(session, CRN, PO, at=START, by="spo.north")
    team = register.find_staff(session, "spo.north").team
    listed = {c.username: c for c in who_may_own(session, case, team)}
    eligible = sorted(u for u, c in listed.items() if c.eligible)
    assert eligible == sorted([PO, om_username("north", "PO", "N"), SENIOR])
    assert listed[PO].caseload == 1 and listed[PO].summary == "Probation Officer, Experienced, 1 open case"
    assert "does not hold cases" in (listed["spo.north"].problem or "")
    assert "High RoSH" in (listed[PSO].problem or "")
    assert not any(u.startswith("om.south") for u in listed)  # another team's officers are not listed


def test_the_process_owners_table_decides_who_may_own(database: Database, clock: ManualClock) -> None:
    with database.transaction() as session:
        small_area(session)
        case_with(session, RoshLevel.MEDIUM)
    engine = build_engine(database, clock)
    bundle = Bundle.from_directory(OWNER_GRADE_TABLE.parent)
    table = bundle.files["owner_grade.dmn"].decode()
    # The process owner's row: trainees no longer hold medium RoSH cases.
    row = """      <rule id="owner_grade_rule_trainee_medium">
        <description>Trainee: Medium RoSH</description>
        <inputEntry id="owner_grade_rule_trainee_medium_in_1"><text>"TRAINEE_PO"</text></inputEntry>
        <inputEntry id="owner_grade_rule_trainee_medium_in_2"><text>"MEDIUM"</text></inputEntry>
        <inputEntry id="owner_grade_rule_trainee_medium_in_3"><text>-</text></inputEntry>
        <inputEntry id="owner_grade_rule_trainee_medium_in_4"><text>-</text></inputEntry>
        <outputEntry id="owner_grade_rule_trainee_medium_out_1"><text>"Medium RoSH"</text></outputEntry>
      </rule>
    </decisionTable>"""
    changed = {**bundle.files, "owner_grade.dmn": table.replace("    </decisionTable>", row).encode()}
    engine.deploy(Bundle(bundle.name, changed), actor="process.owner")
    with database.transaction() as session:
        case = register.find_case(session, CRN)
        problem = why_not_owner(session, register.find_staff(session, TRAINEE), case)
        assert problem is not None and "Medium RoSH" in problem
        assert why_not_owner(session, register.find_staff(session, PSO), case) is None
