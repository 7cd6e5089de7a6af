"""The central case register: one owner with a full history, owners matched to risk, registrations
ended by a recorded deregistration, oversight plans and reviews, closure. Each test reads like a point
of the area risk policy or of domain.md."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from casework_area import om_username, small_area
from conftest import START
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from casework import register
from casework.models import Case, CaseEvent, OversightPlan, OwnershipChange, Registration
from casework.register import (
    CaseClosed,
    DuplicateCase,
    OwnerNotSuitable,
    RegisterError,
    RegistrationRefused,
)
from casework.vocabulary import Grade, MappaCategory, RiskGroup, RoshLevel, SentenceOutcome, Stage
from engine.db import Database

CRN = "X320741"
SPO = "spo.north"
PO = om_username("north", "PO", "E")
PSO = om_username("north", "PSO", "E")
TRAINEE = om_username("north", "TRAINEE_PO", "N")
SOUTH_PO = om_username("south", "PO", "E")


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """A session on the test area, rolled into one transaction per test."""
    with database.transaction() as session:
        small_area(session)
        yield session


def new_case(session: Session, crn: str = CRN, rosh: RoshLevel | None = None) -> Case:
    case = register.identify_case(session, crn, at=START, by="admin.north", court="Carlisle Crown Court")
    if rosh is not None:
        register.record_rosh(session, crn, rosh, at=START, by="court.po", source="pre-sentence report")
    return case


def events(session: Session, crn: str = CRN) -> list[tuple[str, str | None]]:
    return [(e.kind, e.code) for e in register.timeline(session, crn)]


# ------------------------------------------------------------------------- tracked from day one


def test_a_case_enters_the_register_when_identified_at_court_before_sentence(session: Session) -> None:
    case = new_case(session)
    assert (case.stage, case.owner, case.sentence_outcome, case.created_at) == (
        Stage.IDENTIFIED,
        None,
        None,
        START,
    )
    [event] = register.timeline(session, CRN)
    assert (event.code, event.summary, event.actor) == (
        "EAPP",
        "Case identified at Carlisle Crown Court",
        "admin.north",
    )


@pytest.mark.parametrize("crn", ["x320741", "X32074", "XX20741", "X3207411", ""])
def test_a_crn_must_be_a_capital_letter_and_six_digits(session: Session, crn: str) -> None:
    with pytest.raises(RegisterError, match="capital letter and six digits"):
        register.identify_case(session, crn, at=START, by="admin.north")


def test_a_case_is_registered_once(session: Session) -> None:
    new_case(session)
    with pytest.raises(DuplicateCase, match=f"{CRN} is already on the register"):
        new_case(session)


def test_the_sentencing_outcome_moves_the_case_on_and_is_on_its_timeline(session: Session) -> None:
    new_case(session)
    register.mark_awaiting_sentence(session, CRN, at=START, by="court.po")
    case = register.record_sentence_outcome(
        session, CRN, SentenceOutcome.COMMUNITY_ORDER, sentence_date=date(2026, 11, 9), at=START, by="court"
    )
    assert (case.stage, case.sentence_outcome) == (Stage.SENTENCED, SentenceOutcome.COMMUNITY_ORDER)
    assert events(session)[-2:] == [("report_written", "ECRP"), ("sentence_outcome", "ECOM")]


# --------------------------------------------------------------------------------- one owner


def test_allocation_gives_the_case_one_owner_and_starts_its_history(session: Session) -> None:
    new_case(session, rosh=RoshLevel.MEDIUM)
    change = register.assign_owner(session, CRN, PO, at=START, by=SPO, reason="allocation")
    case = register.find_case(session, CRN)
    assert case.owner is not None and case.owner.username == PO
    assert case.team is not None and case.team.code == "NORTH"
    assert case.stage == Stage.ALLOCATED
    assert (change.from_staff, change.to_staff.username, change.changed_by, change.ended_at) == (
        None,
        PO,
        SPO,
        None,
    )
    assert events(session)[-1] == ("owner_changed", "ROC")


def test_a_transfer_ends_the_old_ownership_and_keeps_the_whole_history(session: Session) -> None:
    new_case(session, rosh=RoshLevel.HIGH)
    register.assign_owner(session, CRN, PO, at=START, by=SPO)
    later = START + timedelta(days=30)
    register.assign_owner(session, CRN, SOUTH_PO, at=later, by="spo.south", reason="moved to Kendal")
    case = register.find_case(session, CRN)
    history = session.scalars(
        select(OwnershipChange).where(OwnershipChange.case_id == case.id).order_by(OwnershipChange.id)
    ).all()
    assert [(h.from_staff.username if h.from_staff else None, h.to_staff.username) for h in history] == [
        (None, PO),
        (PO, SOUTH_PO),
    ]
    assert [h.ended_at for h in history] == [later, None]
    # The current owner is always the latest change, and the case moves to the new owner's team.
    current = register.current_ownership(session, case)
    assert current is not None and current.to_staff_id == case.owner_id
    assert case.team is not None and case.team.code == "SOUTH"
    assert [e for e in register.timeline(session, CRN) if e.code == "ROC"][-1].summary == (
        "Owner changed from OM North PO E to OM South PO E: moved to Kendal"
    )


def test_the_database_keeps_one_open_ownership_per_case(session: Session) -> None:
    case = new_case(session, rosh=RoshLevel.LOW)
    register.assign_owner(session, CRN, PO, at=START, by=SPO)
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(
            OwnershipChange(
                case_id=case.id, to_staff_id=case.owner_id or 0, changed_at=START, changed_by="x", reason=""
            )
        )
        session.flush()


def test_giving_a_case_to_its_owner_again_changes_nothing(session: Session) -> None:
    new_case(session, rosh=RoshLevel.LOW)
    register.assign_owner(session, CRN, PO, at=START, by=SPO)
    with pytest.raises(OwnerNotSuitable, match="already owns"):
        register.assign_owner(session, CRN, PO, at=START, by=SPO)


# ---------------------------------------------------------------------- owner matched to risk


@pytest.mark.parametrize("rosh", [RoshLevel.HIGH, RoshLevel.VERY_HIGH])
def test_a_high_risk_case_is_refused_to_a_pso(session: Session, rosh: RoshLevel) -> None:
    new_case(session, rosh=rosh)
    with pytest.raises(OwnerNotSuitable) as refused:
        register.assign_owner(session, CRN, PSO, at=START, by=SPO)
    message = str(refused.value)
    assert f"cannot own a case with {rosh.display_name} RoSH" in message
    assert "Probation Services Officer" in message and "the grade rules (policy 7)" in message
    case = register.find_case(session, CRN)
    assert case.owner is None and register.current_ownership(session, case) is None


def test_a_mappa_level_2_case_is_refused_to_a_trainee(session: Session) -> None:
    new_case(session, rosh=RoshLevel.MEDIUM)
    register.record_mappa(session, CRN, MappaCategory.CAT2, 2, at=START, by="mappa.coordinator")
    with pytest.raises(OwnerNotSuitable, match="MAPPA level 2"):
        register.assign_owner(session, CRN, TRAINEE, at=START, by=SPO)


@pytest.mark.parametrize("owner", [PSO, TRAINEE, PO])
def test_a_pso_or_trainee_may_own_a_lower_risk_case(session: Session, owner: str) -> None:
    new_case(session, rosh=RoshLevel.MEDIUM)
    register.assign_owner(session, CRN, owner, at=START, by=SPO)
    assert register.find_case(session, CRN).owner is not None


def test_a_senior_practitioner_may_own_very_high_risk(session: Session) -> None:
    senior = om_username("north", "SENIOR_PRACTITIONER", "S")
    new_case(session, rosh=RoshLevel.VERY_HIGH)
    register.assign_owner(session, CRN, senior, at=START, by=SPO)
    case = register.find_case(session, CRN)
    assert case.owner is not None and case.owner.username == senior
    ownership = register.current_ownership(session, case)
    assert ownership is not None and ownership.to_staff.username == senior


@pytest.mark.parametrize("username", ["spo.north", "admin.north", "aco.one"])
def test_only_offender_managers_hold_cases(session: Session, username: str) -> None:
    new_case(session, rosh=RoshLevel.LOW)
    with pytest.raises(OwnerNotSuitable, match="does not hold cases"):
        register.assign_owner(session, CRN, username, at=START, by=SPO)


def test_an_officer_who_has_left_cannot_be_given_a_case(session: Session) -> None:
    new_case(session, rosh=RoshLevel.LOW)
    register.find_staff(session, PO).active = False
    with pytest.raises(OwnerNotSuitable, match="not active"):
        register.assign_owner(session, CRN, PO, at=START, by=SPO)


def test_an_unknown_officer_is_named_in_the_refusal(session: Session) -> None:
    new_case(session, rosh=RoshLevel.LOW)
    with pytest.raises(register.StaffNotFound, match="'om.nobody'"):
        register.assign_owner(session, CRN, "om.nobody", at=START, by=SPO)


# ------------------------------------------------------------------------------ RoSH and MAPPA


def test_the_rosh_level_is_kept_as_one_rosh_registration(session: Session) -> None:
    new_case(session, rosh=RoshLevel.MEDIUM)
    later = START + timedelta(days=20)
    case = register.record_rosh(
        session,
        CRN,
        RoshLevel.HIGH,
        at=later,
        by="om",
        source="OASys",
        to_whom={RiskGroup.CHILDREN: RoshLevel.HIGH, RiskGroup.PUBLIC: RoshLevel.MEDIUM},
    )
    assert (case.rosh, case.rosh_to_children, case.rosh_to_public, case.rosh_to_staff) == (
        RoshLevel.HIGH,
        RoshLevel.HIGH,
        RoshLevel.MEDIUM,
        None,
    )
    assert [(r.code, r.active) for r in case.registrations] == [("RMRH", False), ("RHRH", True)]
    assert case.registrations[0].deregistration_notes == "RoSH now High"
    assert ("rosh_recorded", None) in events(session)


def test_the_overall_rosh_is_the_highest_risk_to_any_group(session: Session) -> None:
    new_case(session)
    with pytest.raises(RegisterError, match="is not the highest of the groups. levels"):
        register.record_rosh(
            session,
            CRN,
            RoshLevel.LOW,
            at=START,
            by="om",
            source="OASys",
            to_whom={RiskGroup.STAFF: RoshLevel.HIGH},
        )


def test_a_new_overall_rosh_that_the_groups_no_longer_give_clears_the_groups_levels(session: Session) -> None:
    new_case(session)
    by_group = {RiskGroup.PRISONERS: RoshLevel.HIGH, RiskGroup.PUBLIC: RoshLevel.LOW}
    register.record_rosh(session, CRN, RoshLevel.HIGH, at=START, by="om", source="OASys", to_whom=by_group)
    kept = register.record_rosh(session, CRN, RoshLevel.HIGH, at=START, by="spo", source="oversight review")
    assert register.rosh_to_groups(kept) == by_group

    case = register.record_rosh(session, CRN, RoshLevel.MEDIUM, at=START, by="spo", source="oversight review")

    assert (case.rosh, register.rosh_to_groups(case)) == (RoshLevel.MEDIUM, {})


def test_a_mappa_level_change_ends_the_old_mappa_registration(session: Session) -> None:
    new_case(session, rosh=RoshLevel.HIGH)
    register.record_mappa(session, CRN, MappaCategory.CAT1, 1, at=START, by="court.po")
    register.record_mappa(session, CRN, MappaCategory.CAT1, 2, at=START, by="mappa.coordinator")
    mapp = [r for r in register.find_case(session, CRN).registrations if r.code == "MAPP"]
    assert [(r.level, r.category, r.active) for r in mapp] == [("M1", "M1", False), ("M2", "M1", True)]


# ------------------------------------------------------------------------------ registrations


def test_a_registration_is_due_for_review_after_its_types_period(session: Session) -> None:
    new_case(session)
    child = register.add_registration(session, CRN, "RCPR", at=START, by="om")
    lifer = register.add_registration(session, CRN, "INLL", at=START, by="om")
    legacy = register.add_registration(session, CRN, "REG11", at=START, by="om")
    assert (child.next_review_on, lifer.next_review_on, legacy.next_review_on) == (
        date(2027, 2, 2),
        date(2027, 11, 2),
        None,
    )
    assert events(session)[-1] == ("registration_added", "ERGN")


def test_a_review_moves_the_next_review_on_by_a_period(session: Session) -> None:
    new_case(session)
    registration = register.add_registration(session, CRN, "ADVP", at=START, by="om")
    reviewed_at = START + timedelta(days=95)
    register.review_registration(session, registration.id, at=reviewed_at, by="om", notes="still applies")
    assert (registration.next_review_on, registration.last_reviewed_by) == (date(2027, 5, 5), "om")
    assert events(session)[-1] == ("registration_reviewed", "ERGR")


def test_a_case_has_one_active_registration_of_each_type(session: Session) -> None:
    new_case(session)
    register.add_registration(session, CRN, "WEAP", at=START, by="om")
    with pytest.raises(RegistrationRefused, match="already has a Weapons"):
        register.add_registration(session, CRN, "WEAP", at=START, by="om")


def test_an_unknown_register_code_is_refused(session: Session) -> None:
    new_case(session)
    with pytest.raises(RegistrationRefused, match="'XXXX' is not a register type"):
        register.add_registration(session, CRN, "XXXX", at=START, by="om")


def test_deregistration_is_recorded_and_the_registration_kept(session: Session) -> None:
    new_case(session)
    registration = register.add_registration(session, CRN, "RCPR", at=START, by="om")
    ended_at = START + timedelta(days=60)
    register.deregister(
        session, registration.id, at=ended_at, by="spo.north", notes="Plan ended by conference"
    )
    kept = session.get(Registration, registration.id)
    assert kept is not None and not kept.active
    assert (kept.deregistered_at, kept.deregistered_by, kept.deregistration_notes) == (
        ended_at,
        "spo.north",
        "Plan ended by conference",
    )
    assert events(session)[-1] == ("registration_ended", "ERGD")
    with pytest.raises(RegistrationRefused, match="was ended on"):
        register.deregister(session, registration.id, at=ended_at, by="spo.north", notes="again")
    # It can be registered again: a new registration, the old one stays as history.
    register.add_registration(session, CRN, "RCPR", at=ended_at, by="om")
    assert [r.active for r in register.find_case(session, CRN).registrations] == [False, True]


def test_a_deregistration_says_why(session: Session) -> None:
    new_case(session)
    registration = register.add_registration(session, CRN, "RCPR", at=START, by="om")
    with pytest.raises(RegistrationRefused, match="needs a note"):
        register.deregister(session, registration.id, at=START, by="om", notes=" ")


# ---------------------------------------------------------------------------------- oversight


def plan(session: Session, weeks: int = 4, reason: str = "high RoSH or MAPPA level 2") -> OversightPlan:
    return register.set_oversight_plan(
        session, CRN, interval_weeks=weeks, reviewer_grade=Grade.SPO, reason=reason, at=START, by="system"
    )


def test_an_oversight_plan_sets_when_the_first_review_is_due(session: Session) -> None:
    new_case(session, rosh=RoshLevel.HIGH)
    register.assign_owner(session, CRN, PO, at=START, by=SPO)
    first = plan(session)
    assert first.next_review_due == START + timedelta(weeks=4)
    assert register.find_case(session, CRN).stage == Stage.SUPERVISED
    assert plan(session) is first  # the same terms keep the plan
    second = plan(session, weeks=2, reason="very high RoSH or MAPPA level 3")
    assert (first.ended_at, second.ended_at) == (START, None)
    assert [e.summary for e in register.timeline(session, CRN) if e.kind == "oversight_plan_set"] == [
        "Oversight plan: every 4 weeks by the SPO (high RoSH or MAPPA level 2)",
        "Oversight plan: fortnightly by the SPO (very high RoSH or MAPPA level 3)",
    ]


def test_a_review_within_a_week_of_falling_due_is_on_time_and_sets_the_next(session: Session) -> None:
    new_case(session, rosh=RoshLevel.HIGH)
    current = plan(session)
    done = START + timedelta(weeks=4, days=3)
    review = register.record_oversight_review(
        session, CRN, at=done, by=SPO, rosh=RoshLevel.HIGH, findings="ok"
    )
    assert (review.due_at, review.on_time, review.escalated) == (START + timedelta(weeks=4), True, False)
    assert current.next_review_due == done + timedelta(weeks=4)


def test_a_review_done_after_escalation_is_recorded_late(session: Session) -> None:
    new_case(session, rosh=RoshLevel.HIGH)
    plan(session)
    done = START + timedelta(weeks=5, days=1)
    review = register.record_oversight_review(session, CRN, at=done, by="aco.one", escalated=True)
    assert review.on_time is False
    assert (
        register.timeline(session, CRN)[-1].summary == "Oversight review recorded after escalation to the ACO"
    )


# ------------------------------------------------------------------------- meetings and closure


def test_a_risk_meeting_is_recorded_as_a_risk_review_discussion(session: Session) -> None:
    new_case(session, rosh=RoshLevel.HIGH)
    meeting = register.record_risk_meeting(
        session,
        CRN,
        held_on=date(2026, 11, 10),
        chair=SPO,
        decision="Manage under the plan; share with police.",
        attendees=["SPO", "RISK_CONSULTANT"],
        rosh_agreed=RoshLevel.HIGH,
        information_shared_with=["POLICE"],
        mappa_referral=True,
        at=START,
        by=SPO,
    )
    assert (meeting.mappa_referral, meeting.attendees) == (True, ["SPO", "RISK_CONSULTANT"])
    assert events(session)[-1] == ("risk_meeting", "RROD")


def test_closing_a_case_ends_its_ownership_plan_and_registrations(session: Session) -> None:
    new_case(session, rosh=RoshLevel.HIGH)
    register.assign_owner(session, CRN, PO, at=START, by=SPO)
    register.add_registration(session, CRN, "ADVP", at=START, by="om")
    first_plan = plan(session)
    closed_at = START + timedelta(days=200)
    case = register.close_case(session, CRN, at=closed_at, by=PO, reason="order completed")
    assert (case.stage, case.closed_at) == (Stage.CLOSED, closed_at)
    assert case.owner is not None and case.owner.username == PO  # the last owner stays accountable
    assert register.current_ownership(session, case) is None
    assert first_plan.ended_at == closed_at
    assert case.active_registrations() == []
    assert {r.deregistration_notes for r in case.registrations} == {"Case closed: order completed"}
    with pytest.raises(CaseClosed, match="closed on"):
        register.record_rosh(session, CRN, RoshLevel.LOW, at=closed_at, by="om", source="late")


def test_every_act_is_on_the_timeline_in_order(session: Session) -> None:
    new_case(session, rosh=RoshLevel.HIGH)
    register.assign_owner(session, CRN, PO, at=START, by=SPO)
    plan(session)
    register.close_case(session, CRN, at=START + timedelta(days=1), by=PO, reason="done")
    assert [code for _, code in events(session)] == [
        "EAPP",
        None,
        "ERGN",
        "ROC",
        None,
        "ERGD",
        None,
    ]
    assert session.scalar(select(CaseEvent.actor).order_by(CaseEvent.id.desc()).limit(1)) == PO
