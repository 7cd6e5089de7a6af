"""Changing a case's exclusion and restriction lists (tasks.access_lists): who may, the guards that
keep the owner and the person making the change from being shut out, the history and audit trail,
and the open tasks of someone newly kept out moving away from them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from casework_area import om_username, small_area
from conftest import START
from sqlalchemy import select
from sqlalchemy.orm import Session

from casework import register
from casework.access import may_view
from casework.models import AccessListChange
from casework.register import AccessListRefused
from casework.vocabulary import AccessList, RoshLevel
from engine.db import Database
from engine.models import AuditEvent, HumanTask, ProcessDefinition, ProcessInstance
from tasks import access_lists
from tasks.access_lists import NotYoursToChange

CRN = "X100001"
OWNER = om_username("north", "PO", "E")
TEAM_MATE = "admin.north"  # sees the case as a case administrator in the owning team
OTHER_OFFICER = om_username("north", "PSO", "E")
REASON = "Lives next door to the person on probation."


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.transaction() as session:
        small_area(session)
        register.identify_case(session, CRN, at=START, by="admin.north")
        register.record_rosh(session, CRN, RoshLevel.MEDIUM, at=START, by="court.po", source="PSR")
        register.assign_owner(session, CRN, OWNER, at=START, by="spo.north")
        yield session


def exclude(session: Session, username: str, *, by: str = "spo.north", reason: str = REASON) -> None:
    access_lists.add_person(session, CRN, username, AccessList.EXCLUSION, reason=reason, by=by, at=START)


def sees(session: Session, username: str) -> bool:
    return bool(may_view(register.find_staff(session, username), register.find_case(session, CRN)))


@pytest.mark.parametrize("by", ["spo.north", "aco.one"])
def test_the_teams_spo_and_an_aco_may_exclude_an_officer(session: Session, by: str) -> None:
    assert sees(session, TEAM_MATE)
    exclude(session, TEAM_MATE, by=by)
    assert not sees(session, TEAM_MATE)


@pytest.mark.parametrize("by", [OWNER, "spo.south", "admin.north"])
def test_the_owner_another_teams_spo_and_an_admin_may_not_change_the_lists(session: Session, by: str) -> None:
    with pytest.raises(NotYoursToChange):
        exclude(session, TEAM_MATE, by=by)
    assert sees(session, TEAM_MATE)


def test_a_change_without_a_reason_is_refused_and_changes_nothing(session: Session) -> None:
    with pytest.raises(AccessListRefused, match="Give a reason"):
        exclude(session, TEAM_MATE, reason="   ")
    assert sees(session, TEAM_MATE)
    assert session.scalars(select(AccessListChange)).all() == []


def test_an_unknown_person_is_refused_with_what_to_do(session: Session) -> None:
    with pytest.raises(AccessListRefused, match="Nobody with the username 'no.body'.*staff list"):
        exclude(session, "no.body")


def test_the_owner_cannot_be_excluded_until_the_case_moves(session: Session) -> None:
    with pytest.raises(AccessListRefused, match="Transfer the case to another Offender Manager first"):
        exclude(session, OWNER)
    assert sees(session, OWNER)


def test_nobody_can_exclude_themselves(session: Session) -> None:
    with pytest.raises(AccessListRefused, match="cannot put yourself on the exclusion list"):
        exclude(session, "aco.one", by="aco.one")


def test_an_excluded_officer_cannot_be_made_the_owner(session: Session) -> None:
    exclude(session, OTHER_OFFICER)
    with pytest.raises(register.OwnerNotSuitable, match="Remove them from the exclusion list first"):
        register.assign_owner(session, CRN, OTHER_OFFICER, at=START, by="spo.north")


def test_a_restriction_list_keeps_the_owner_and_whoever_starts_it(session: Session) -> None:
    access_lists.add_person(
        session, CRN, "mappa.coordinator", AccessList.RESTRICTION, reason=REASON, by="aco.one", at=START
    )
    assert sees(session, OWNER) and sees(session, "aco.one") and sees(session, "mappa.coordinator")
    assert not sees(session, "spo.north")
    with pytest.raises(AccessListRefused, match="owner stays on its restriction list"):
        access_lists.remove_person(
            session, CRN, OWNER, AccessList.RESTRICTION, reason=REASON, by="aco.one", at=START
        )
    with pytest.raises(AccessListRefused, match="cannot take yourself off"):
        access_lists.remove_person(
            session, CRN, "aco.one", AccessList.RESTRICTION, reason=REASON, by="aco.one", at=START
        )


def test_every_change_is_kept_with_who_when_what_and_why_and_audited(session: Session) -> None:
    exclude(session, TEAM_MATE)
    access_lists.remove_person(
        session, CRN, TEAM_MATE, AccessList.EXCLUSION, reason="Moved away", by="aco.one", at=START
    )
    history = register.access_list_history(session, register.find_case(session, CRN))
    assert [(c.action, c.staff.username if c.staff else None, c.by, c.reason) for c in history] == [
        ("removed", TEAM_MATE, "aco.one", "Moved away"),
        ("added", TEAM_MATE, "spo.north", REASON),
    ]
    audited = session.scalars(select(AuditEvent).where(AuditEvent.event == "access_list_changed")).all()
    assert [(a.actor, a.reason, a.detail) for a in audited] == [
        ("spo.north", REASON, {"action": "added", "on_list": "EXCLUSION", "staff": TEAM_MATE}),
        ("aco.one", "Moved away", {"action": "removed", "on_list": "EXCLUSION", "staff": TEAM_MATE}),
    ]
    assert sees(session, TEAM_MATE)


# ------------------------------------------------------------------------------- open tasks


def open_task(
    session: Session, n: int, *, role: str, assignee: str | None = None, claimed_by: str | None = None
) -> HumanTask:
    definition = session.scalar(select(ProcessDefinition))
    if definition is None:
        definition = ProcessDefinition(
            name="om",
            version=1,
            content_hash="x",
            process_ids=["om"],
            lanes={},
            specs="",
            deployed_at=START,
            deployed_by="x",
        )
        session.add(definition)
        session.flush()
    instance = ProcessInstance(
        definition_id=definition.id,
        process_id="om",
        business_key=CRN,
        status="waiting",
        state="",
        started_by="x",
        created_at=START,
        updated_at=START,
    )
    session.add(instance)
    session.flush()
    task = HumanTask(
        instance_id=instance.id,
        task_guid=f"guid-{n}",
        element_id="task",
        process_id="om",
        title="Task",
        candidate_role=role,
        assignee=assignee,
        claimed_by=claimed_by,
        business_key=CRN,
        state="open",
        created_at=START,
    )
    session.add(task)
    session.flush()
    return task


def test_a_task_held_by_an_excluded_officer_goes_back_to_the_pool(session: Session) -> None:
    claimed = open_task(session, 1, role="offender_manager", claimed_by=TEAM_MATE)
    exclude(session, TEAM_MATE)
    assert (claimed.assignee, claimed.claimed_by) == (None, None)
    moved = session.scalars(select(AuditEvent).where(AuditEvent.event == "task_reassigned")).one()
    assert moved.reason == "excluded from the case" and moved.detail is not None
    assert moved.detail["from"] == TEAM_MATE and moved.detail["to"] is None


def test_a_task_assigned_to_an_excluded_officer_goes_to_the_teams_spo(session: Session) -> None:
    assigned = open_task(session, 1, role="offender_manager", assignee=TEAM_MATE)
    others = open_task(session, 2, role="offender_manager", assignee=OWNER)
    exclude(session, TEAM_MATE, by="aco.one")
    assert (assigned.assignee, assigned.claimed_by) == ("spo.north", None)
    assert others.assignee == OWNER


def test_a_task_assigned_to_an_excluded_spo_goes_to_the_pool(session: Session) -> None:
    assigned = open_task(session, 1, role="senior_probation_officer", assignee="spo.north")
    exclude(session, "spo.north", by="aco.one")
    assert assigned.assignee is None


def test_a_new_restriction_list_moves_the_tasks_of_people_it_leaves_out(session: Session) -> None:
    claimed = open_task(session, 1, role="offender_manager", claimed_by=TEAM_MATE)
    access_lists.add_person(
        session, CRN, "mappa.coordinator", AccessList.RESTRICTION, reason=REASON, by="aco.one", at=START
    )
    assert claimed.claimed_by is None


def test_the_new_owner_of_a_restricted_case_is_put_on_its_restriction_list_with_a_history_row(
    session: Session,
) -> None:
    access_lists.add_person(
        session, CRN, "mappa.coordinator", AccessList.RESTRICTION, reason=REASON, by="aco.one", at=START
    )
    assert not sees(session, OTHER_OFFICER)
    register.assign_owner(session, CRN, OTHER_OFFICER, at=START, by="aco.one", reason="Transferred")
    assert sees(session, OTHER_OFFICER)
    newest = register.access_list_history(session, register.find_case(session, CRN))[0]
    assert (newest.action, newest.on_list, newest.staff, newest.by, newest.reason) == (
        "added",
        AccessList.RESTRICTION,
        register.find_staff(session, OTHER_OFFICER),
        "aco.one",
        register.OWNER_STAYS,
    )
