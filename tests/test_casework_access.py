"""Need to know (domain.md 6.1, 6.2): a case is seen by the people who work on it and nobody else, and a
limited-access case keeps out the people on its exclusion list, or everyone not on its restriction
list, with the message the case carries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from casework_area import om_username, small_area
from conftest import START
from sqlalchemy.orm import Session

from casework import register
from casework.access import may_view
from casework.models import Case
from casework.vocabulary import MappaCategory, RoshLevel
from engine.db import Database

CRN = "X100001"
OWNER = om_username("north", "PO", "E")
TEAM_MATE = om_username("north", "PSO", "E")
STRANGER = om_username("south", "PO", "E")


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.transaction() as session:
        small_area(session)
        yield session


def allocated_case(session: Session, rosh: RoshLevel = RoshLevel.MEDIUM) -> Case:
    register.identify_case(session, CRN, at=START, by="admin.north")
    register.record_rosh(session, CRN, rosh, at=START, by="court.po", source="pre-sentence report")
    register.assign_owner(session, CRN, OWNER, at=START, by="spo.north")
    return register.find_case(session, CRN)


def sees(session: Session, username: str, case: Case) -> bool:
    return may_view(register.find_staff(session, username), case).allowed


def test_the_owner_sees_their_case(session: Session) -> None:
    decision = may_view(register.find_staff(session, OWNER), allocated_case(session))
    assert decision and decision.reason == "owns the case" and decision.message is None


def test_an_officer_in_another_team_does_not(session: Session) -> None:
    decision = may_view(register.find_staff(session, STRANGER), allocated_case(session))
    assert not decision
    assert decision.reason == "no need to know: the case is held by OM North PO E in North Case Management"


@pytest.mark.parametrize(
    ("username", "allowed"),
    [
        ("spo.north", True),  # SPO of the owning team (and the owner's line manager)
        ("spo.south", False),
        ("admin.north", True),
        ("admin.south", False),
        ("aco.one", True),  # area-wide
        (TEAM_MATE, False),  # another Offender Manager has no need to know
    ],
)
def test_the_owning_team_spo_its_administrators_and_the_aco_see_the_case(
    session: Session, username: str, *, allowed: bool
) -> None:
    assert sees(session, username, allocated_case(session)) is allowed


@pytest.mark.parametrize(
    ("rosh", "allowed"), [(RoshLevel.HIGH, True), (RoshLevel.VERY_HIGH, True), (RoshLevel.MEDIUM, False)]
)
def test_the_risk_consultant_sees_high_and_very_high_risk_cases(
    session: Session, rosh: RoshLevel, *, allowed: bool
) -> None:
    assert sees(session, "risk.consultant", allocated_case(session, rosh)) is allowed


def test_the_mappa_coordinator_sees_mappa_cases_only(session: Session) -> None:
    case = allocated_case(session)
    assert not sees(session, "mappa.coordinator", case)
    register.record_mappa(session, CRN, MappaCategory.CAT1, 1, at=START, by="court.po")
    assert sees(session, "mappa.coordinator", case)


def test_an_unallocated_case_is_seen_by_those_who_record_and_allocate_it(session: Session) -> None:
    case = register.identify_case(session, CRN, at=START, by="admin.north")
    assert sees(session, "admin.south", case) and sees(session, "spo.south", case)
    # Until its pre-sentence report is written, any officer may pick the report up from the pool.
    decision = may_view(register.find_staff(session, STRANGER), case)
    assert decision.allowed and "court work" in decision.reason
    register.mark_awaiting_sentence(session, CRN, at=START, by="court.po")
    decision = may_view(register.find_staff(session, STRANGER), case)
    assert (decision.allowed, decision.reason) == (False, "no need to know: the case is not yet allocated")
    assert not sees(session, "risk.consultant", case)


def test_someone_who_has_left_sees_nothing(session: Session) -> None:
    case = allocated_case(session)
    owner = register.find_staff(session, OWNER)
    owner.active = False
    assert not may_view(owner, case)


def test_an_excluded_user_gets_the_exclusion_message_even_with_a_reason_to_see(session: Session) -> None:
    case = allocated_case(session)
    register.limit_access(
        session,
        CRN,
        excluded=["aco.one"],
        exclusion_message="You are excluded from viewing this offender record. Please contact OM North PO E.",
        at=START,
        by="spo.north",
    )
    decision = may_view(register.find_staff(session, "aco.one"), case)
    assert (decision.allowed, decision.reason) == (False, "on the case's exclusion list")
    assert (
        decision.message
        == "You are excluded from viewing this offender record. Please contact OM North PO E."
    )
    assert sees(session, OWNER, case)  # the others are not affected
    assert register.timeline(session, CRN)[-1].kind == "access_limited"


def test_without_its_own_message_an_exclusion_names_the_owner_to_contact(session: Session) -> None:
    case = allocated_case(session)
    register.limit_access(session, CRN, excluded=["spo.north"], at=START, by="aco.one")
    message = may_view(register.find_staff(session, "spo.north"), case).message
    assert message == (
        "You are excluded from viewing this offender record. "
        "Contact OM North PO E, the case's Offender Manager, if you need to know more."
    )


def test_a_restricted_case_is_seen_only_by_the_users_on_its_list(session: Session) -> None:
    case = allocated_case(session)
    register.limit_access(
        session,
        CRN,
        restricted_to=[OWNER, STRANGER],
        restriction_message="This record is restricted. Contact the ACO.",
        at=START,
        by="aco.one",
    )
    assert sees(session, OWNER, case)
    assert (
        may_view(register.find_staff(session, STRANGER), case).reason
        == "named on the case's restriction list"
    )
    refused = may_view(register.find_staff(session, "spo.north"), case)
    assert (refused.allowed, refused.message) == (False, "This record is restricted. Contact the ACO.")
    assert not sees(session, "aco.one", case)
