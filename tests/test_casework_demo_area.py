"""The synthetic demo area (domain.md 5.2-5.4): deterministic, fictional, shaped like a Cumbria-sized area
c.2008, with the data-quality faults of the "before" state seeded on purpose."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from conftest import POSTGRES, copy_sqlite, metadatas
from empty_database import empty_database_url
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casework import register
from casework.critical_few import RiskProfile, assess
from casework.demo_area import AS_OF, FORENAMES, SURNAMES, AreaSummary, generate_area
from casework.models import Case, OwnershipChange, Registration, Staff
from casework.vocabulary import CASE_HOLDING_GRADES, Grade, Stage
from engine.db import Database

# The scale of the area the read-only tests share: 570 cases, enough for the distributions to settle.
# The staff are the same at every scale, and the per-case rules only get more cases to hold for.
SHARED_SCALE = 0.3


@dataclass(frozen=True)
class Area:
    """The demo area generated once for this module, and what generating it reported."""

    database: Database
    summary: AreaSummary


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Area]:
    """The default seed's area at SHARED_SCALE, generated once (it is most of this module's time) in a
    database of its own, which no other test's emptying of the test database can wipe: on SQLite a
    copy of the empty schema, on PostgreSQL a schema of its own, dropped at the end."""
    folder = tmp_path_factory.mktemp("demo-area")
    if POSTGRES:
        with empty_database_url(folder) as url:
            yield from _generated_area(Database(url), create_tables=True)
    else:
        copy_sqlite(request.getfixturevalue("empty_sqlite_schema"), folder / "area.db")
        yield from _generated_area(Database(f"sqlite:///{folder / 'area.db'}"), create_tables=False)


def _generated_area(database: Database, *, create_tables: bool) -> Iterator[Area]:
    try:
        if create_tables:
            for metadata in metadatas():
                metadata.create_all(database.engine)
        with database.transaction() as session:
            summary = generate_area(session, scale=SHARED_SCALE)
        yield Area(database, summary)
    finally:
        database.dispose()


@pytest.fixture
def session(area: Area) -> Iterator[Session]:
    """A session on the shared area, rolled back at the end: the tests sharing it only read it."""
    with Session(area.database.engine) as session:
        try:
            yield session
        finally:
            session.rollback()


# Small builds for comparing seeds: all the staff and 38 cases, nearly all screened and allocated and
# some closed, so every step of the generator that draws on the seed runs in each build.
FINGERPRINT_SCALE = 0.02


def fingerprint(database: Database, seed: int) -> list[tuple[str, str | None, str | None]]:
    with Session(database.engine) as session:
        generate_area(session, seed=seed, scale=FINGERPRINT_SCALE)
        rows = session.execute(
            select(Case.crn, Case.rosh, Staff.username)
            .outerjoin(Staff, Case.owner_id == Staff.id)
            .order_by(Case.id)
        ).all()
        session.rollback()
    return [(crn, rosh.value if rosh else None, owner) for crn, rosh, owner in rows]


def test_the_same_seed_builds_the_same_area_and_another_seed_another(database: Database) -> None:
    first = fingerprint(database, 2008)
    assert fingerprint(database, 2008) == first
    assert fingerprint(database, 7) != first


def test_every_person_is_fictional_and_every_crn_a_letter_and_six_digits(session: Session) -> None:
    crns = session.scalars(select(Case.crn)).all()
    assert crns and all(re.fullmatch(r"[A-Z][0-9]{6}", crn) for crn in crns)
    assert len(set(crns)) == len(crns)
    for case in session.scalars(select(Case)):
        assert case.forename in FORENAMES and case.surname in SURNAMES
    for staff in session.scalars(select(Staff)):
        forename, surname = staff.display_name.split(" ")
        assert forename in FORENAMES and surname in SURNAMES


def test_the_staff_are_shaped_like_a_cumbria_sized_area(area: Area, session: Session) -> None:
    summary = area.summary
    assert 150 <= sum(summary.staff.values()) <= 165
    grades = Counter(session.scalars(select(Staff.grade)).all())
    assert (grades[Grade.ACO], grades[Grade.SPO], grades[Grade.CASE_ADMIN]) == (3, 12, 35)
    assert (grades[Grade.RISK_CONSULTANT], grades[Grade.MAPPA_COORDINATOR]) == (2, 1)
    assert (grades[Grade.PO], grades[Grade.PSO], grades[Grade.TRAINEE_PO]) == (42, 47, 9)
    # Everyone but the ACOs has a line manager; every team has an SPO.
    staff = session.scalars(select(Staff)).all()
    assert all(s.line_manager is not None for s in staff if s.grade is not Grade.ACO)
    assert all(s.team is None or s.team.spo is not None for s in staff)


@pytest.mark.slow
def test_the_area_has_the_distributions_and_faults_of_the_domain_reference(
    area: Area, session: Session
) -> None:
    summary = area.summary
    cases = session.scalars(select(Case)).all()
    assert len(cases) == 570
    assert {c.stage for c in cases} == set(Stage)
    open_cases = [c for c in cases if c.is_open]
    screened = [c for c in cases if c.rosh is not None]
    rosh = Counter(c.rosh.value for c in screened if c.rosh)
    assert 0.24 <= rosh["LOW"] / len(screened) <= 0.36
    assert 0.07 <= (rosh["HIGH"] + rosh["VERY_HIGH"]) / len(screened) <= 0.14
    tiers = Counter(c.tier for c in cases if c.tier)
    assert 0.13 <= tiers[4] / sum(tiers.values()) <= 0.25
    eligible = [c for c in screened if c.mappa_category is not None]
    assert 0.08 <= len(eligible) / len(screened) <= 0.16
    # Seeded faults: registrations overdue for review, zombies on closed cases, the wrong owner.
    active = summary.registrations - summary.zombie_registrations
    assert 0.10 <= summary.overdue_reviews / active <= 0.20
    assert 0.02 <= summary.zombie_registrations / summary.registrations <= 0.08
    assert 0.04 <= summary.owner_mismatches / sum(c.owner_id is not None for c in cases) <= 0.12
    # The critical few are 5-10% of the open caseload, each with its reasons.
    critical = [assess(RiskProfile.of(c)) for c in open_cases]
    share = sum(a.critical for a in critical) / len(open_cases)
    assert 0.05 <= share <= 0.10, share
    assert all(a.reasons for a in critical if a.critical)
    assert summary.critical == sum(a.critical for a in critical)


def test_every_owner_fits_the_risk_and_holds_the_case_alone(session: Session) -> None:
    owned = session.scalars(select(Case).where(Case.owner_id.is_not(None))).all()
    assert owned
    for case in owned:
        assert case.owner is not None and case.owner.grade in CASE_HOLDING_GRADES
        assert register.owner_problem(case.owner, case) is None, case.crn
        current = register.current_ownership(session, case)
        assert (current is None) == (case.closed_at is not None)
        assert current is None or current.to_staff_id == case.owner_id
    open_changes = session.scalar(
        select(func.count()).select_from(OwnershipChange).where(OwnershipChange.ended_at.is_(None))
    )
    assert open_changes == sum(c.closed_at is None for c in owned)
    # Every registration started before the reference date, and ended ones say why.
    for registration in session.scalars(select(Registration)):
        assert registration.started_on <= AS_OF.date()
        assert registration.active or registration.deregistration_notes
