"""Benchmark: the JSON API served by gunicorn on PostgreSQL, with one and with four web processes.

Run it with `.venv/bin/python -m bench.api --postgres URL` (bench/README.md says what it does and
how to read the figures). **It drops and recreates every riskflow table in that database.** It:

1. creates the tables, deploys processes/offender-management and loads the demo area (`riskflow
   demo load`'s own function), then puts `--cases` new cases on the register through the API so
   the case administrators' pool holds that many first-details tasks;
2. brings `--messages` cases per run to the point where they wait for the sentencing outcome
   (first details and pre-sentence report completed through the engine);
3. for 1 and 4 gunicorn worker processes in turn: starts gunicorn, then from `--clients` threads
   with keep-alive connections times `GET /api/v1/tasks` (the demo case administrator's inbox) for
   `--seconds`, and `POST /api/v1/messages` (a sentencing outcome for each prepared case, once):
   requests per second and median / p95 latency, and checks every answer (200, and each message
   `delivered`).

Figures never fail the run; the exit status is 1 when a check fails, 2 when the database cannot be
used.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from bench.timers import code_version, load_average, progress
from casework.vocabulary import Grade
from engine.bundle import Bundle
from engine.db import Database
from engine.models import HumanTask
from engine.runtime import Actor, ProcessEngine
from tasks.wiring import build_engine
from webui.api.tokens import issue_token
from webui.demo import demo_staff, load_demo
from webui.schema import TARGET_METADATA, upgrade

REPO = Path(__file__).resolve().parent.parent
BUNDLE = REPO / "processes" / "offender-management"
PORT = 8765
FIRST_DETAILS = {
    "forename": "Rowan",
    "surname": "Benchley",
    "date_of_birth": "1991-05-14",
    "court_name": "Carlisle Crown Court",
    "hearing_date": "2026-11-02",
    "offence": "Theft from a shop",
    "report_type": "STANDARD",
    "remanded_in_custody": False,
}
PSR = {
    "report_date": "2026-11-06",
    "rosh": "MEDIUM",
    "mappa_category": "NOT_ELIGIBLE",
    "registrations": [],
    "proposal": "Community order with unpaid work",
}


@dataclass
class Timings:
    """Latencies (seconds) of one measured phase, and what went wrong."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self, label: str) -> str:
        if not self.latencies:
            return f"{label:<34} no requests"
        ordered = sorted(self.latencies)
        p95 = statistics.quantiles(ordered, n=20, method="inclusive")[18] if len(ordered) > 1 else ordered[0]
        return (
            f"{label:<34} {len(ordered):>6} req  {len(ordered) / self.seconds:>7.1f} req/s  "
            f"median {statistics.median(ordered) * 1000:>6.1f} ms  p95 {p95 * 1000:>6.1f} ms  "
            f"failures {len(self.failures)}"
        )


def fresh(url: str) -> Database:
    """Every riskflow table dropped, then the migrations run."""
    db = Database(url)
    for metadata in reversed(TARGET_METADATA):
        metadata.drop_all(db.engine)
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.dispose()
    upgrade(url)
    return Database(url)


def prepare(url: str, cases: int, messages: int) -> tuple[str, str, dict[str, list[str]]]:
    """The demo area, `cases` new cases in the administrators' pool, and cases waiting for outcomes."""
    db = fresh(url)
    engine = build_engine(db)
    engine.deploy(Bundle.from_directory(BUNDLE), actor="bench")
    load_demo(engine, cases=40)  # the staff and demo users; the API runs its own cases below
    with db.transaction() as session:
        admin = next(s for s in demo_staff(session) if s.grade == Grade.CASE_ADMIN)
        om = next(s for s in demo_staff(session) if s.grade == Grade.PO)
        now = engine.clock.now()
        admin_secret = issue_token(
            session, "bench.admin", ["tasks:read"], username=admin.username, at=now, by="bench"
        ).secret
        court_secret = issue_token(
            session, "bench.court", ["cases:write", "messages:send"], username=None, at=now, by="bench"
        ).secret
        admin_actor = Actor(admin.username, admin.roles)
        om_actor = Actor(om.username, frozenset({"OM"}))
    progress(f"starting {cases} cases in the case administrators' pool")
    for n in range(cases):
        crn = f"B{n:06d}"
        engine.start("offender_management", business_key=crn, data={"crn": crn})
    waiting: dict[str, list[str]] = {}
    for workers in (1, 4):
        progress(f"bringing {messages} cases to wait for their outcome ({workers}-process run)")
        waiting[str(workers)] = [
            wait_for_outcome(engine, f"W{workers}{n:05d}", admin_actor, om_actor) for n in range(messages)
        ]
    db.dispose()
    return admin_secret, court_secret, waiting


def wait_for_outcome(engine: ProcessEngine, crn: str, admin: Actor, om: Actor) -> str:
    engine.start("offender_management", business_key=crn, data={"crn": crn})
    engine.complete_task(open_task(engine, crn, "record_first_details"), admin, FIRST_DETAILS)
    engine.complete_task(open_task(engine, crn, "write_psr"), om, PSR)
    return crn


def open_task(engine: ProcessEngine, crn: str, element_id: str) -> int:
    with engine.db.transaction(write=False) as session:
        task_id = session.scalar(
            select(HumanTask.id).where(
                HumanTask.business_key == crn, HumanTask.element_id == element_id, HumanTask.state == "open"
            )
        )
    assert task_id is not None, f"{crn}: no open {element_id}"
    return task_id


def serve(url: str, workers: int) -> subprocess.Popen[bytes]:
    """gunicorn with `workers` sync processes, answering /healthz."""
    env = {**os.environ, "RISKFLOW_DATABASE_URL": url, "RISKFLOW_SECRET_KEY": "bench-" + "0" * 40}
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    command = [gunicorn, "-w", str(workers), "-b", f"127.0.0.1:{PORT}", "--log-level", "warning"]
    process = subprocess.Popen([*command, "webui:create_app()"], cwd=REPO, env=env)  # noqa: S603
    for _ in range(200):
        time.sleep(0.1)
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            continue
    process.terminate()
    raise RuntimeError("gunicorn did not answer /healthz within 20 s")


Request = Callable[[http.client.HTTPConnection, int], str | None]


def load(clients: int, jobs: int | None, seconds: float | None, request: Request) -> Timings:
    """Run `request` from `clients` threads, `jobs` times in all or for `seconds`; time each call."""
    result = Timings()
    lock = threading.Lock()
    counter = iter(range(jobs if jobs is not None else 10**9))
    deadline = time.perf_counter() + (seconds or 10**9)

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        while time.perf_counter() < deadline:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            began = time.perf_counter()
            failure = request(connection, n)
            took = time.perf_counter() - began
            with lock:
                result.latencies.append(took)
                if failure:
                    result.failures.append(failure)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - began
    return result


def task_listing(secret: str) -> Request:
    def call(connection: http.client.HTTPConnection, _n: int) -> str | None:
        connection.request("GET", "/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"})
        response = connection.getresponse()
        body = json.loads(response.read())
        if response.status != 200 or not body["to_claim"]:
            return f"{response.status}: {str(body)[:200]}"
        return None

    return call


def message_delivery(secret: str, crns: list[str]) -> Request:
    def call(connection: http.client.HTTPConnection, n: int) -> str | None:
        crn = crns[n]
        payload = {
            "crn": crn,
            "outcome": "COMMUNITY_ORDER",
            "sentence_date": "2026-11-09",
            "end_date": "2027-11-08",
        }
        body = json.dumps(
            {
                "name": "sentencing_outcome",
                "correlation_value": crn,
                "payload": payload,
                "idempotency_key": crn,
            }
        )
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        connection.request("POST", "/api/v1/messages", body=body, headers=headers)
        response = connection.getresponse()
        answer = json.loads(response.read())
        if response.status != 200 or answer.get("status") != "delivered":
            return f"{crn}: {response.status} {str(answer)[:200]}"
        return None

    return call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--postgres", required=True, help="a PostgreSQL URL (its riskflow tables are dropped)"
    )
    parser.add_argument("--cases", type=int, default=50, help="new cases in the administrators' pool")
    parser.add_argument("--messages", type=int, default=200, help="outcome messages per run")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client connections")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long to list tasks per run")
    options = parser.parse_args(argv)
    print(f"riskflow API benchmark, code at {code_version()}")
    print(f"load average at start: {load_average()}")
    try:
        admin, court, waiting = prepare(options.postgres, options.cases, options.messages)
    except OperationalError as err:
        print(f"cannot use {options.postgres}: {err.orig}", file=sys.stderr)
        return 2
    failed = False
    for workers in (1, 4):
        progress(f"gunicorn with {workers} worker process(es)")
        server = serve(options.postgres, workers)
        try:
            load(options.clients, 20, None, task_listing(admin))  # warm every worker's caches
            listing = load(options.clients, None, options.seconds, task_listing(admin))
            crns = waiting[str(workers)]
            delivery = load(options.clients, len(crns), None, message_delivery(court, crns))
        finally:
            server.terminate()
            server.wait(timeout=30)
        print(f"\n{workers} gunicorn worker process(es), {options.clients} clients, PostgreSQL")
        print(listing.line("GET /api/v1/tasks (inbox)"))
        print(delivery.line("POST /api/v1/messages (delivered)"))
        for failure in (listing.failures + delivery.failures)[:5]:
            print(f"  FAIL {failure}")
        failed = failed or bool(listing.failures or delivery.failures)
    print(f"\nload average at end: {load_average()}")
    print("checks: FAIL" if failed else "checks: PASS (every answer 200, every outcome delivered)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
