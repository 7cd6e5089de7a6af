"""Benchmark: server time of the staff pages (inbox, register list, case record, task page) on the
demo area and on a national-scale register of 250,000 cases, on SQLite and PostgreSQL.

Run it with `.venv/bin/python -m bench.webui_pages` (bench/README.md explains the options and how
to read the figures). For each database it builds each data set once into that database (the
demo area through casework.demo_area, the national one with bulk inserts of the same shape:
teams, staff, cases with owners, ownership history, registrations, oversight plans, timeline
events, process instances with open tasks and their audit rows), then signs in as an Offender
Manager, an SPO and an ACO and times each page through the Flask test client: median and p95 of
`--requests` requests after a warm-up. Times are figures, never pass/fail; the goal printed beside
them is p95 under 100 ms at national scale.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Table, func, insert, inspect, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from casework.critical_few import recompute_critical_flags
from casework.demo_area import FORENAMES, REGISTER_PREVALENCE, ROSH_MIX, STAGE_MIX, SURNAMES, generate_area
from casework.models import (
    Case,
    CaseEvent,
    OversightPlan,
    OwnershipChange,
    Registration,
    Staff,
    Team,
)
from casework.register_types import REGISTER_TYPES, ROSH_REGISTERS
from casework.vocabulary import HIGH_ROSH, ExperienceBand, Grade, MappaCategory, Stage
from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.models import AuditEvent, HumanTask, ProcessInstance
from tasks.simulation import AreaSimulation
from tasks.wiring import build_engine
from webui import create_app, riskflow
from webui.credentials import set_password
from webui.schema import TARGET_METADATA, upgrade

NOW = datetime(2008, 3, 31, 9, 0, tzinfo=UTC)  # the demo area's reference date
GOAL_P95_MS = 100.0
NATIONAL_CASES = 250_000
CHUNK = 10_000
PASSWORD = "bench pages password"  # noqa: S105 - a throwaway password for a benchmark database
TASK_SHARE = 0.4  # open cases with an open task
# The open tasks are steps of the real offender management model, so the task page can draw them:
# the Offender Manager's "write the plans" (with its form) and, on unallocated cases, the case
# administrator's "record the first details".
BUNDLE = Path(__file__).resolve().parent.parent / "processes" / "offender-management"
PROCESS_ID = "offender_management"
OM_STEP = ("write_plans", "Write the Risk Management Plan and Sentence Plan", "plans.json")
POOL_STEP = ("record_first_details", "Record the first details", None)
OMS_PER_TEAM, TEAMS_PER_ACO, CASES_PER_OM = 6, 10, 34


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_average() -> str:
    """The machine's load (other work on it inflates every figure)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


# ------------------------------------------------------------------------------ data sets


@dataclass(frozen=True)
class People:
    """Who the benchmark signs in as, and what they open."""

    om: str
    spo: str
    aco: str
    crn: str  # a case the OM owns, with an open task
    task_id: int  # an open task of a real instance, held by an Offender Manager
    task_holder: str  # that Offender Manager


def fresh_schema(url: str) -> None:
    """Drop riskflow's tables in `url` (a SQLite file is removed) and build them again with the migrations."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).unlink(missing_ok=True)
        upgrade(url)
        return
    db = Database(url)
    try:
        for metadata in reversed(TARGET_METADATA):
            metadata.drop_all(db.engine)
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        db.dispose()
    upgrade(url)


def case_count(url: str) -> int:
    db = Database(url)
    try:
        if "case_record" not in inspect(db.engine).get_table_names():
            return -1
        with db.transaction(write=False) as session:
            return session.scalar(select(func.count()).select_from(Case)) or 0
    except OperationalError:
        return -1
    finally:
        db.dispose()


def deploy_model(db: Database) -> int:
    """Deploy the offender management bundle; its definition id (the open tasks are its steps)."""
    result = build_engine(db, ManualClock(NOW)).deploy(Bundle.from_directory(BUNDLE), actor="bench")
    return result.definition_id


class _Held(Exception):
    """The simulated case has reached a task that an Offender Manager holds."""


def work_one_case(db: Database) -> None:
    """One new case worked through the real process by tasks.simulation's staff until an Offender
    Manager holds one of its tasks: the task page is timed on a real instance (its instructions read
    the task's data from the saved workflow), not on the bulk rows."""
    clock = ManualClock(NOW)
    with db.transaction(write=False) as session:
        taken = set(session.scalars(select(Case.crn).where(Case.crn.like("_000001"))))
    prefix = next(letter for letter in "ZYXWVUTSRQPONMLKJIHGFEDCBA" if f"{letter}000001" not in taken)
    crn = f"{prefix}000001"

    def held(_share: float) -> None:
        with db.transaction(write=False) as session:
            if session.scalar(_om_held_task().where(HumanTask.business_key == crn)) is not None:
                raise _Held

    try:
        AreaSimulation(build_engine(db, clock), clock, seed=2008).run(
            cases=1, months=2, crn_prefix=prefix, progress=held
        )
    except _Held:
        progress(f"  {crn} worked through the process to an Offender Manager's task")
        return
    raise RuntimeError(f"{crn} never reached a task that an Offender Manager holds")


def _om_held_task() -> Any:
    """Open tasks of the Offender Manager's lane held by someone, on instances the process ran."""
    return (
        select(HumanTask.id)
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .where(
            HumanTask.state == "open",
            HumanTask.candidate_role == "OM",
            HumanTask.assignee.is_not(None),
            ProcessInstance.started_by != "bench",
        )
        .order_by(HumanTask.id)
    )


def build_demo(url: str) -> None:
    """The Cumbria-like demo area (about 1,900 cases) through the register, plus open tasks."""
    fresh_schema(url)
    db = Database(url)
    try:
        definition_id = deploy_model(db)
        with db.transaction() as session:
            generate_area(session)
        with db.transaction() as session:
            cases = session.execute(
                select(Case.id, Case.crn, Staff.username)
                .outerjoin(Staff, Staff.id == Case.owner_id)
                .where(Case.closed_at.is_(None))
                .order_by(Case.id)
            ).all()
            rows = [(crn, owner) for _id, crn, owner in cases]
            _Bulk(session, random.Random(7)).tasks(rows, first_id=1, definition_id=definition_id)  # noqa: S311
        reset_sequences(db)
        work_one_case(db)
        analyse(db)
    finally:
        db.dispose()


def build_national(url: str, cases: int, seed: int = 2008) -> None:
    """A national-scale register written with bulk inserts (not through the process)."""
    fresh_schema(url)
    db = Database(url)
    try:
        definition_id = deploy_model(db)
        with db.transaction() as session:
            _Bulk(session, random.Random(seed)).national(cases, definition_id)  # noqa: S311
        with db.transaction() as session:
            # Bulk inserts bypass the register, which keeps each case's critical-few flag: set them
            # all by the rule, as after an import.
            progress(f"  {recompute_critical_flags(session):,} cases marked critical")
        reset_sequences(db)
        work_one_case(db)
        analyse(db)
    finally:
        db.dispose()


def reset_sequences(db: Database) -> None:
    """On PostgreSQL, move each table's id sequence past the ids the bulk inserts chose."""
    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.begin() as connection:
        for metadata in TARGET_METADATA:
            for table in metadata.sorted_tables:
                if "id" in table.c and table.c.id.primary_key:
                    connection.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                        )
                    )


def analyse(db: Database) -> None:
    """Give the query planner its statistics, as a deployment's routine maintenance would."""
    with db.engine.begin() as connection:
        connection.execute(text("ANALYZE"))


class _Bulk:
    """Rows written in chunks with executemany; ids chosen here so rows can refer to each other."""

    def __init__(self, session: Any, rng: random.Random) -> None:
        self.session, self.rng = session, rng

    def write(self, table: Table, rows: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> int:
        count, chunk = 0, []
        for row in rows:
            chunk.append(row)
            if len(chunk) == CHUNK:
                self.session.execute(insert(table), chunk)
                count, chunk = count + len(chunk), []
        if chunk:
            self.session.execute(insert(table), chunk)
            count += len(chunk)
        return count

    def national(self, cases: int, definition_id: int) -> None:
        rng = self.rng
        oms_needed = max(OMS_PER_TEAM, cases // CASES_PER_OM)
        teams = max(1, oms_needed // OMS_PER_TEAM)
        acos = max(1, teams // TEAMS_PER_ACO)
        staff: list[dict[str, Any]] = []
        team_rows: list[dict[str, Any]] = []

        def person(
            grade: Grade, team: int | None, manager: int | None, band: ExperienceBand | None = None
        ) -> int:
            staff_id = len(staff) + 1
            staff.append(
                {
                    "id": staff_id,
                    "username": f"{grade.value.lower()}.{staff_id}",
                    "display_name": f"{rng.choice(FORENAMES)} {rng.choice(SURNAMES)}",
                    "grade": grade,
                    "extra_roles": [],
                    "team_id": team,
                    "line_manager_id": manager,
                    "experience": band,
                    "started_on": date(2000, 1, 1) + timedelta(days=rng.randint(0, 2900)),
                    "active": True,
                }
            )
            return staff_id

        aco_ids = [person(Grade.ACO, None, None) for _ in range(acos)]
        for _ in range(max(1, cases // 25_000)):
            person(Grade.RISK_CONSULTANT, None, aco_ids[0])
            person(Grade.MAPPA_COORDINATOR, None, aco_ids[0])
        officers: list[tuple[int, int, bool]] = []  # (staff id, team id, qualified)
        spo_of: dict[int, int] = {}
        for t in range(1, teams + 1):
            team_rows.append(
                {
                    "id": t,
                    "code": f"T{t:05d}",
                    "name": f"Case Management {t}",
                    "office": f"Office {t % 97}",
                    "district": f"District {(t - 1) // TEAMS_PER_ACO + 1}",
                    "spo_id": None,
                }
            )
        self.write(Team.__table__, team_rows)  # type: ignore[arg-type]
        for t in range(1, teams + 1):
            spo = person(Grade.SPO, t, aco_ids[min(len(aco_ids) - 1, (t - 1) // TEAMS_PER_ACO)])
            spo_of[t] = spo
            person(Grade.CASE_ADMIN, t, spo)
            for i in range(OMS_PER_TEAM):
                grade = Grade.PO if i < 4 else Grade.PSO
                officers.append((person(grade, t, spo, ExperienceBand.EXPERIENCED), t, grade == Grade.PO))
        self.write(Staff.__table__, staff)  # type: ignore[arg-type]
        self.session.execute(update(Team), [{"id": t, "spo_id": spo} for t, spo in spo_of.items()])
        progress(f"  {len(staff):,} staff in {teams:,} teams")
        qualified = [o for o in officers if o[2]]
        usernames = {row["id"]: row["username"] for row in staff}
        case_rows, owned = self._cases(cases, officers, qualified)
        self.write(Case.__table__, case_rows)  # type: ignore[arg-type]
        progress(f"  {len(case_rows):,} cases")
        n = self.write(OwnershipChange.__table__, self._ownership(case_rows, usernames))  # type: ignore[arg-type]
        n += self.write(Registration.__table__, self._registrations(case_rows))  # type: ignore[arg-type]
        n += self.write(OversightPlan.__table__, self._plans(case_rows))  # type: ignore[arg-type]
        n += self.write(CaseEvent.__table__, self._events(case_rows, usernames))  # type: ignore[arg-type]
        progress(f"  {n:,} ownership, registration, oversight and timeline rows")
        open_cases = [(c["crn"], usernames.get(c["owner_id"])) for c in case_rows if c["closed_at"] is None]
        self.tasks(open_cases, first_id=1, definition_id=definition_id)
        del owned

    def _cases(
        self, cases: int, officers: list[tuple[int, int, bool]], qualified: list[tuple[int, int, bool]]
    ) -> tuple[list[dict[str, Any]], int]:
        rng = self.rng
        stages, stage_weights = list(STAGE_MIX), list(STAGE_MIX.values())
        levels, rosh_weights = list(ROSH_MIX), list(ROSH_MIX.values())
        crns = rng.sample(range(26_000_000), cases)
        rows, owned = [], 0
        for i, number in enumerate(crns, start=1):
            stage = rng.choices(stages, stage_weights)[0]
            rosh = rng.choices(levels, rosh_weights)[0] if stage != Stage.IDENTIFIED else None
            mappa = rosh is not None and rng.random() < (0.40 if rosh in HIGH_ROSH else 0.09)
            level = (
                rng.choices([1, 2, 3], [60, 33, 7] if rosh in HIGH_ROSH else [96, 4, 0])[0] if mappa else None
            )
            allocated = stage in (Stage.ALLOCATED, Stage.SUPERVISED, Stage.CLOSED)
            owner = (
                rng.choice(qualified if rosh in HIGH_ROSH or (level or 0) >= 2 else officers)
                if allocated
                else None
            )
            owned += owner is not None
            created = NOW - timedelta(days=rng.randint(5, 3 * 365), hours=rng.randint(0, 8))
            rows.append(
                {
                    "id": i,
                    "crn": f"{chr(65 + number // 1_000_000)}{number % 1_000_000:06d}",
                    "forename": rng.choice(FORENAMES),
                    "surname": rng.choice(SURNAMES),
                    "date_of_birth": date(1950, 1, 1) + timedelta(days=rng.randint(0, 18_000)),
                    "stage": stage,
                    "sentence_outcome": None,
                    "sentence_date": None,
                    "tier": rng.randint(1, 4) if allocated else None,
                    "rosh": rosh,
                    "rosh_to_children": None,
                    "rosh_to_public": rosh,
                    "rosh_to_known_adult": None,
                    "rosh_to_staff": None,
                    "rosh_assessed_at": created + timedelta(days=3) if rosh else None,
                    "mappa_category": rng.choice(list(MappaCategory)) if mappa else None,
                    "mappa_level": level,
                    "owner_id": owner[0] if owner else None,
                    "team_id": owner[1] if owner else None,
                    "created_at": created,
                    "closed_at": NOW - timedelta(days=rng.randint(1, 4)) if stage == Stage.CLOSED else None,
                }
            )
        return rows, owned

    def _ownership(self, cases: list[dict[str, Any]], usernames: dict[int, str]) -> Iterator[dict[str, Any]]:
        for c in cases:
            if c["owner_id"] is not None:
                yield {
                    "case_id": c["id"],
                    "from_staff_id": None,
                    "to_staff_id": c["owner_id"],
                    "changed_at": c["created_at"] + timedelta(days=2),
                    "changed_by": "bench",
                    "reason": "allocation",
                    "ended_at": c["closed_at"],
                }

    def _registrations(self, cases: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        rng = self.rng
        for c in cases:
            codes = [ROSH_REGISTERS[c["rosh"].value]] if c["rosh"] else []
            codes += [code for code, share in REGISTER_PREVALENCE.items() if rng.random() * 100 < share]
            if c["mappa_level"]:
                codes.append("MAPP")
            for code in codes:
                started = (c["created_at"] - timedelta(days=rng.randint(0, 300))).date()
                months = REGISTER_TYPES[code].review_months
                yield {
                    "case_id": c["id"],
                    "code": code,
                    "started_on": started,
                    "next_review_on": NOW.date() + timedelta(days=rng.randint(-60, months * 30)),
                    "registered_at": c["created_at"],
                    "registered_by": "bench",
                    "level": f"M{c['mappa_level']}" if code == "MAPP" else None,
                    "category": None,
                    "notes": "",
                    "last_reviewed_at": None,
                    "last_reviewed_by": None,
                    "deregistered_at": None,
                    "deregistered_by": None,
                    "deregistration_notes": None,
                }

    def _plans(self, cases: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for c in cases:
            if c["stage"] == Stage.SUPERVISED:
                yield {
                    "case_id": c["id"],
                    "interval_weeks": 6,
                    "reviewer_grade": Grade.SPO,
                    "reason": "bench",
                    "sampled": False,
                    "next_review_due": NOW + timedelta(days=self.rng.randint(-20, 40)),
                    "set_at": c["created_at"],
                    "set_by": "bench",
                    "ended_at": None,
                }

    def _events(self, cases: list[dict[str, Any]], usernames: dict[int, str]) -> Iterator[dict[str, Any]]:
        for c in cases:
            at = c["created_at"]
            yield {
                "case_id": c["id"],
                "at": at,
                "kind": "case_identified",
                "code": "EAPP",
                "summary": "Case identified",
                "actor": "bench",
                "detail": {},
            }
            if c["rosh"]:
                yield {
                    "case_id": c["id"],
                    "at": at + timedelta(days=1),
                    "kind": "rosh_recorded",
                    "code": None,
                    "summary": f"RoSH {c['rosh'].display_name}",
                    "actor": "bench",
                    "detail": {},
                }
            if c["owner_id"]:
                yield {
                    "case_id": c["id"],
                    "at": at + timedelta(days=2),
                    "kind": "owner_changed",
                    "code": "ROC",
                    "summary": f"Allocated to {usernames[c['owner_id']]}",
                    "actor": "bench",
                    "detail": {},
                }

    def tasks(self, cases: Sequence[tuple[str, str | None]], *, first_id: int, definition_id: int) -> None:
        """A process instance per case with an open task for TASK_SHARE of them, audited."""
        chosen = [c for c in cases if self.rng.random() < TASK_SHARE]
        instances, tasks, audit = [], [], []
        for i, (crn, owner) in enumerate(chosen, start=first_id):
            due = NOW + timedelta(days=self.rng.randint(-10, 20))
            instances.append(
                {
                    "id": i,
                    "definition_id": definition_id,
                    "process_id": PROCESS_ID,
                    "business_key": crn,
                    "status": "waiting",
                    "state": "{}",
                    "version": 1,
                    "next_timer_at": None,
                    "error": None,
                    "suspended_from": None,
                    "started_by": "bench",
                    "created_at": NOW - timedelta(days=30),
                    "updated_at": NOW,
                    "ended_at": None,
                }
            )
            element_id, title, form_file = OM_STEP if owner else POOL_STEP
            tasks.append(
                {
                    "id": i,
                    "instance_id": i,
                    "task_guid": f"bench-{i}",
                    "element_id": element_id,
                    "process_id": PROCESS_ID,
                    "title": title,
                    "lane": None,
                    "candidate_role": "OM" if owner else "CASE_ADMIN",
                    "assignee": owner,
                    "claimed_by": None,
                    "form_file": form_file,
                    "due_at": due,
                    "follow_up_at": None,
                    "priority": 0,
                    "business_key": crn,
                    "state": "open",
                    "draft": None,
                    "created_at": NOW - timedelta(days=30),
                    "completed_at": None,
                    "completed_by": None,
                }
            )
            for event in ("instance_started", "task_created"):
                audit.append(
                    {
                        "at": NOW - timedelta(days=30),
                        "actor": "bench",
                        "event": event,
                        "instance_id": i,
                        "business_key": crn,
                        "task_guid": f"bench-{i}" if event == "task_created" else None,
                        "element_id": None,
                        "reason": None,
                        "detail": None,
                    }
                )
        n = self.write(ProcessInstance.__table__, instances)  # type: ignore[arg-type]
        self.write(HumanTask.__table__, tasks)  # type: ignore[arg-type]
        self.write(AuditEvent.__table__, audit)  # type: ignore[arg-type]
        progress(f"  {n:,} open tasks")


# ------------------------------------------------------------------------------------ timing


def pick_people(url: str) -> People:
    """The busiest OM, their SPO, the first ACO; a case of the OM's with an open task; passwords."""
    db = Database(url)
    try:
        with db.transaction() as session:
            om = session.execute(
                select(Staff, func.count(Case.id))
                .join(Case, Case.owner_id == Staff.id)
                .where(Case.closed_at.is_(None))
                .group_by(Staff.id)
                .order_by(func.count(Case.id).desc(), Staff.id)
                .limit(1)
            ).first()
            assert om is not None, "no Offender Manager owns a case"
            officer: Staff = om[0]
            spo = session.get(Staff, officer.line_manager_id)
            aco = session.scalar(select(Staff).where(Staff.grade == Grade.ACO).order_by(Staff.id))
            assert spo is not None and aco is not None
            task = session.execute(
                select(HumanTask.id, HumanTask.business_key)
                .where(HumanTask.assignee == officer.username, HumanTask.state == "open")
                .order_by(HumanTask.id)
            ).first()
            crn = task[1] if task else session.scalar(select(Case.crn).where(Case.owner_id == officer.id))
            real = session.scalar(_om_held_task())
            assert real is not None, "no Offender Manager holds a task of a real instance (work_one_case)"
            holder = session.get_one(HumanTask, real).assignee
            assert holder is not None
            for username in {officer.username, spo.username, aco.username, holder}:
                set_password(session, username, PASSWORD)
            return People(officer.username, spo.username, aco.username, str(crn), real, holder)
    finally:
        db.dispose()


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    answer = client.post("/sign-in", data={"username": username, "password": PASSWORD})
    assert answer.status_code == 302, f"{username} could not sign in"
    return client


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def time_page(client: FlaskClient, path: str, requests: int, warm_up: int = 3) -> tuple[float, float, int]:
    status = 0
    for _ in range(warm_up):
        status = client.get(path).status_code
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        status = client.get(path).status_code
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), percentile(samples, 0.95), status


def measure(url: str, label: str, requests: int) -> list[tuple[str, str, float, float, int]]:
    people = pick_people(url)
    app = create_app(
        {"TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "bench", "RISKFLOW_DATABASE_URL": url},
        clock=ManualClock(NOW),
    )
    clients = {who: signed_in(app, who) for who in {people.om, people.spo, people.aco, people.task_holder}}
    pages: list[tuple[str, str, str]] = [
        ("inbox, OM", people.om, "/"),
        ("inbox, SPO", people.spo, "/"),
        ("inbox, ACO", people.aco, "/"),
        ("register list, OM", people.om, "/cases"),
        ("register list, SPO", people.spo, "/cases"),
        ("register list, ACO (every case)", people.aco, "/cases"),
        ("register list, ACO, page 200", people.aco, "/cases?page=200"),
        ("register list, ACO, by RoSH", people.aco, "/cases?sort=rosh&order=desc"),
        ("register list, ACO, critical few", people.aco, "/cases?critical=yes"),
        ("register list, ACO, name search", people.aco, "/cases?q=ash"),
        ("case page, owner", people.om, f"/cases/{people.crn}"),
        ("case page, SPO", people.spo, f"/cases/{people.crn}"),
    ]
    pages.append(("task page, OM who holds it", people.task_holder, f"/tasks/{people.task_id}"))
    results = []
    for name, who, path in pages:
        median, p95, status = time_page(clients[who], path, requests)
        results.append((label, name, median, p95, status))
        progress(f"  {name}: median {median:.1f} ms, p95 {p95:.1f} ms (HTTP {status}), load {load_average()}")
    riskflow(app).db.dispose()
    return results


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def prepare(url: str, kind: str, cases: int, rebuild: bool) -> None:
    wanted = NATIONAL_CASES if kind == "national" and cases <= 0 else cases
    have = case_count(url)  # the national set's cases, and the one worked through the process
    if not rebuild and (
        (kind == "national" and have in (wanted, wanted + 1)) or (kind == "demo" and 1500 < have < 2500)
    ):
        progress(
            f"  reusing the {have:,} cases already in {make_url(url).render_as_string(hide_password=True)}"
        )
        return
    started = time.perf_counter()
    if kind == "demo":
        build_demo(url)
    else:
        build_national(url, wanted)
    progress(f"  built in {time.perf_counter() - started:.0f} s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sqlite-dir",
        type=Path,
        default=Path("instance/bench"),
        help="folder for the SQLite databases (one file per data set)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("RISKFLOW_BENCH_DATABASE_URL", ""),
        help="PostgreSQL URL of a database of its own: its riskflow tables are dropped and rebuilt",
    )
    parser.add_argument("--cases", type=int, default=NATIONAL_CASES, help="cases in the national data set")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page")
    parser.add_argument("--rebuild", action="store_true", help="build the data sets again even if present")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    parser.add_argument("--sets", default="demo,national", help="data sets to run: demo, national or both")
    args = parser.parse_args(argv)

    targets: list[tuple[str, Callable[[str], str]]] = []
    if args.only != "postgresql":
        args.sqlite_dir.mkdir(parents=True, exist_ok=True)
        targets.append(("SQLite", lambda kind: sqlite_url(args.sqlite_dir.resolve() / f"pages-{kind}.db")))
    if args.only != "sqlite":
        if args.postgres:
            targets.append(("PostgreSQL", lambda _kind: str(args.postgres)))
        else:
            progress("no PostgreSQL URL (--postgres or RISKFLOW_BENCH_DATABASE_URL): PostgreSQL skipped")
    results = []
    for database, url_for_set in targets:
        for kind in [k.strip() for k in args.sets.split(",") if k.strip()]:
            label = f"{database}, {'demo area' if kind == 'demo' else f'{args.cases:,} cases'}"
            progress(f"{label}:")
            url = url_for_set(kind)
            # One PostgreSQL database holds one data set at a time: always rebuild when switching.
            rebuild = args.rebuild or (database == "PostgreSQL" and len(args.sets.split(",")) > 1)
            try:
                prepare(url, kind, args.cases, rebuild)
            except OperationalError as err:
                progress(f"  cannot use {database}: {err.orig}")
                return 2
            results += measure(url, label, args.requests)
    print(f"\nServer time per page, Flask test client, {args.requests} requests each after 3 warm-up.")
    print(f"Goal: p95 under {GOAL_P95_MS:.0f} ms for each page at national scale.")
    print(f"Load average at the end: {load_average()}\n")
    print(f"{'data set':<32} {'page':<40} {'median ms':>10} {'p95 ms':>8}  status")
    for label, name, median, p95, status in results:
        mark = "" if p95 < GOAL_P95_MS else "  over goal"
        print(f"{label:<32} {name:<40} {median:>10.1f} {p95:>8.1f}  {status}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
