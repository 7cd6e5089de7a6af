"""Re-marking the critical few counts only the registrations still in force.

When the decision table is republished, or rows were written without the register (an import, a
data fix), every case's stored critical flag is evaluated again. A registration that has ended no
longer makes a case critical: a high-RoSH case critical only because of its weapons flag leaves the
critical few once that flag is deregistered, and stays among them while the flag is active.
"""

from __future__ import annotations

from datetime import timedelta

from casework_area import small_area
from conftest import START
from sqlalchemy import update

from casework import register
from casework.critical_few import recompute_critical_flags
from casework.models import Registration
from casework.vocabulary import RoshLevel
from engine.db import Database

ENDED = "X100001"  # high RoSH + weapons; the weapons registration ends
STILL_ACTIVE = "X100002"  # high RoSH + weapons; the weapons registration stays


def stored_flag(database: Database, crn: str) -> bool:
    with database.transaction(write=False) as session:
        return register.find_case(session, crn).critical


def high_risk_with_weapons(database: Database) -> dict[str, int]:
    """Two high-RoSH cases, each critical only because of a weapons registration; their ids."""
    weapons: dict[str, int] = {}
    with database.transaction() as session:
        small_area(session)
        for crn in (ENDED, STILL_ACTIVE):
            register.identify_case(session, crn, at=START, by="admin")
            register.record_rosh(session, crn, RoshLevel.HIGH, at=START, by="om", source="OASys")
            weapons[crn] = register.add_registration(session, crn, "WEAP", at=START, by="om").id
    assert stored_flag(database, ENDED) and stored_flag(database, STILL_ACTIVE)
    return weapons


def test_a_case_critical_only_for_a_registration_leaves_the_critical_few_once_it_ends_and_is_recomputed(
    database: Database,
) -> None:
    weapons = high_risk_with_weapons(database)
    later = START + timedelta(days=30)
    with database.transaction() as session:
        register.deregister(session, weapons[ENDED], at=later, by="spo", notes="weapons concern resolved")
    assert not stored_flag(database, ENDED)

    with database.transaction() as session:
        assert recompute_critical_flags(session) == 0  # the register already kept the flags in step

    assert not stored_flag(database, ENDED)  # the ended registration does not count again
    assert stored_flag(database, STILL_ACTIVE)  # while the registration is active, still critical


def test_recomputing_corrects_a_flag_left_stale_by_a_registration_ended_outside_the_register(
    database: Database,
) -> None:
    weapons = high_risk_with_weapons(database)
    with database.transaction() as session:
        # A data fix ends the registration directly: the stored flag is now out of date.
        session.execute(
            update(Registration)
            .where(Registration.id == weapons[ENDED])
            .values(deregistered_at=START + timedelta(days=30), deregistered_by="data.fix")
        )
    assert stored_flag(database, ENDED)

    with database.transaction() as session:
        assert recompute_critical_flags(session, chunk=1) == 1

    assert not stored_flag(database, ENDED)
    assert stored_flag(database, STILL_ACTIVE)
