"""The area the browser tests work in: the small test area, the offender management process
deployed, and three cases started in it the way staff and the courts start them, so that every task
the pages show is a real one the engine made.

- `INDUCTION`: screened, sentenced and allocated to the North team's experienced PO, whose
  "Hold the induction" task it is now (and whose SPO sees it among the team's tasks).
- `NEW_CASE`: just identified, unallocated: "Record first details" waits for a case administrator
  to claim it.
- `KEPT_CASE`: also just identified, with the North case administrator on its exclusion list: it
  must never reach that person's pages.

`allocate_another_case` runs one more case to the same OM's induction, for a test that needs an
officer holding several tasks (an absence whose work moves in bulk).

Fictional people only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from casework_area import om_username, small_area
from conftest import START
from sqlalchemy import select
from test_process_model import BUNDLE_DIR, PROCESS, Case, to_allocation
from webui_client import give_passwords

from casework.models import AccessLimitation, AccessListEntry, Staff
from casework.models import Case as CaseRecord
from casework.vocabulary import AccessList, Grade
from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.models import HumanTask
from tasks.wiring import build_engine


@dataclass(frozen=True)
class Person:
    """A case on the register, as a page shows it."""

    crn: str
    name: str


INDUCTION = Person("N200001", "Ambrose Vardy")
NEW_CASE = Person("N200002", "Linnet Ullock")
KEPT_CASE = Person("N200003", "Orrin Wasdell")

OM = om_username("north", "PO", "E")
OM_NAME = "OM North PO E"
SPO = "spo.north"
ADMIN = "admin.north"
ADMIN_SOUTH = "admin.south"
OWNER = "process.owner"  # an ACO who is also the area's process owner
ACO = "aco.one"  # the area's ACO, who oversees every team on the monitor
COVER = om_username("north", "PO", "N")  # the North colleague who covers for the OM
COVER_NAME = "OM North PO N"
SIGNING_IN = [OM, SPO, ADMIN, ADMIN_SOUTH, om_username("south", "PO", "E"), OWNER, ACO]


@dataclass(frozen=True)
class Area:
    """The id of each open task the tests use, by a short name."""

    tasks: dict[str, int]


def build_area(database: Database, clock: ManualClock) -> Area:
    """Put the area on `database` and run the three cases to where the tests need them."""
    with database.transaction() as session:
        small_area(session)
        session.add(
            Staff(
                username=OWNER,
                display_name="Imogen Threlkeld",
                grade=Grade.ACO,
                started_on=date(2011, 9, 1),
                active=True,
                extra_roles=["PROCESS_OWNER"],
            )
        )
    engine = build_engine(database, clock)
    engine.deploy(Bundle.from_directory(BUNDLE_DIR), actor="process.owner")

    inducted = Case(engine, INDUCTION.crn)
    to_allocation(inducted, "LOW")
    inducted.allocate("E")
    for person in (NEW_CASE, KEPT_CASE):
        engine.start(PROCESS, business_key=person.crn, data={"crn": person.crn})

    with database.transaction() as session:
        for person in (INDUCTION, NEW_CASE, KEPT_CASE):
            record = session.scalars(select(CaseRecord).where(CaseRecord.crn == person.crn)).one()
            record.forename, record.surname = person.name.split()
        kept = session.scalars(select(CaseRecord).where(CaseRecord.crn == KEPT_CASE.crn)).one()
        admin = session.scalars(select(Staff).where(Staff.username == ADMIN)).one()
        limitation = AccessLimitation(case_id=kept.id, set_at=START, set_by="aco.one")
        limitation.entries.append(
            AccessListEntry(
                staff_id=admin.id, on_list=AccessList.EXCLUSION, added_at=START, added_by="aco.one"
            )
        )
        session.add(limitation)
        open_tasks = session.scalars(select(HumanTask).where(HumanTask.state == "open"))
        tasks = {f"{task.business_key}:{task.element_id}": task.id for task in open_tasks}
    give_passwords(database, SIGNING_IN)
    return Area(
        {
            "induction": tasks[f"{INDUCTION.crn}:hold_induction"],
            "first details": tasks[f"{NEW_CASE.crn}:record_first_details"],
            "kept": tasks[f"{KEPT_CASE.crn}:record_first_details"],
        }
    )


def allocate_another_case(database: Database, clock: ManualClock, person: Person) -> int:
    """Run one more case to the OM's induction, so the OM holds several open tasks (as an officer
    who falls ill does); return the id of that induction task."""
    inducted = Case(build_engine(database, clock), person.crn)
    to_allocation(inducted, "LOW")
    inducted.allocate("E")
    with database.transaction() as session:
        record = session.scalars(select(CaseRecord).where(CaseRecord.crn == person.crn)).one()
        record.forename, record.surname = person.name.split()
    return inducted.task("hold_induction").id
