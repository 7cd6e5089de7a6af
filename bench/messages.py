"""Benchmark: message delivery latency to one of 1,000, 10,000 or 100,000 waiting instances.

Run it with `.venv/bin/python -m bench.messages` (bench/README.md explains the options, how the
population is made and how to read the figures). For each database it:

1. starts one `court_outcome` instance (tests/fixtures/bundles/timing) through `engine.start()`
   with `{"crn": "X000000", "court": "C"}`: it throws `request_outcome` and waits for `outcome`
   correlated by crn;
2. grows the population to each size W in turn by cloning that instance's rows in bulk (the
   process_instance row with the crn replaced and fresh task ids, its message_wait row and its
   `instance_started` audit event), so that exactly W instances wait;
3. delivers `outcome` with `engine.deliver_message("outcome", crn, {...})` to a few warm-up
   instances, then to `--samples` (200) random waiting instances, timing each call: median and
   p99 per population size, and the ratio of the largest population's median to the smallest's;
4. checks every timed delivery: status `delivered` to the instance that waited, which now awaits
   people with one open task and no wait left.

A machine-speed control is timed alongside (a JSON round trip of the instance state, between
deliveries), so that a slower figure can be told apart from a busier machine. Times are figures,
never pass/fail: the exit status is 1 only when a check fails (a delivery, or the clone check that
compares a clone with an instance the engine made), 2 when the PostgreSQL URL could not be used.
`--phases` and `--profile N` instrument the deliveries at the largest size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.exc import OperationalError

from bench.timers import (
    KNOWN_ROLES,
    START,
    Instruments,
    Options,
    code_version,
    fresh_database,
    load_average,
    progress,
    timing_bundle,
)
from engine.clock import ManualClock
from engine.db import Database
from engine.models import (
    AuditEvent,
    EngineBase,
    HumanTask,
    InboundMessage,
    MessageWait,
    ProcessInstance,
)
from engine.runtime import InstanceStatus, ProcessEngine

PROCESS = "court_outcome"
MESSAGE = "outcome"
TEMPLATE_CRN = "X000000"
DEFAULT_WAITING = (1_000, 10_000, 100_000)
DEFAULT_SAMPLES = 200
WARM_UP = 20
BATCH = 5_000
GOAL_RATIO = 1.5
CONTROL_ROUNDS = 20
UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def table_of(model: type[EngineBase]) -> Table:
    return cast(Table, model.__table__)


def crn(n: int) -> str:
    return f"X{n:06d}"


def quantile(values: Sequence[float], q: int) -> float:
    """The q-th percentile (statistics.quantiles, inclusive method: within the samples' range)."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# ----------------------------------------------------------------------------- population


@dataclass(frozen=True)
class Template:
    """The rows `engine.start()` wrote for the first instance, to clone."""

    instance: dict[str, Any]
    audit: dict[str, Any]
    task_ids: list[str]


def read_template(db: Database, instance_id: int) -> Template:
    table = table_of(ProcessInstance)
    with db.transaction(write=False) as session:
        row = session.execute(select(table).where(table.c.id == instance_id)).mappings().one()
        audit = (
            session.execute(
                select(table_of(AuditEvent)).where(
                    AuditEvent.instance_id == instance_id, AuditEvent.event == "instance_started"
                )
            )
            .mappings()
            .one()
        )
        waits = session.execute(
            select(MessageWait.message_name, MessageWait.correlation_value).where(
                MessageWait.instance_id == instance_id
            )
        ).all()
    if [tuple(w) for w in waits] != [(MESSAGE, TEMPLATE_CRN)]:
        raise RuntimeError(f"the template instance should wait for ({MESSAGE}, {TEMPLATE_CRN}): {waits}")
    # Columns left out stay NULL as engine.start() left them (a JSON column would store 'null').
    keep = ("definition_id", "process_id", "status", "version", "started_by", "created_at", "updated_at")
    state: str = row["state"]
    return Template(
        instance={**{name: row[name] for name in keep}, "state": state},
        audit={name: audit[name] for name in ("at", "actor", "event", "detail")},
        task_ids=sorted(set(UUID_PATTERN.findall(state))),
    )


def clone_state(template: Template, value: str) -> str:
    """The template's state for case `value`: the crn replaced, every task id new."""
    fresh = {old: str(uuid.uuid4()) for old in template.task_ids}
    state: str = template.instance["state"]
    return UUID_PATTERN.sub(lambda m: fresh.get(m.group(0), m.group(0)), state.replace(TEMPLATE_CRN, value))


def same_up_to_ids(cloned: str, made: str) -> bool:
    """Whether two states are equal once task ids (by order of appearance) and timestamps are set aside."""

    def normal(state: str) -> str:
        ids: dict[str, str] = {}
        state = UUID_PATTERN.sub(lambda m: ids.setdefault(m.group(0), f"task{len(ids)}"), state)
        return re.sub(r'"last_state_change": [0-9.e+-]+', '"last_state_change": 0', state)

    return normal(cloned) == normal(made)


def check_clone(engine: ProcessEngine, template: Template, value: str) -> bool:
    """Start case `value` through the engine and compare its state with the clone for `value`."""
    made = engine.start(PROCESS, business_key=value, data={"crn": value, "court": "C"})
    with engine.db.transaction(write=False) as session:
        state = session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == made.instance_id))
    return state is not None and same_up_to_ids(clone_state(template, value), state)


def clone(db: Database, template: Template, numbers: Iterator[int], count: int) -> None:
    """Insert `count` waiting instances like the template, in batches of BATCH rows."""
    instances = table_of(ProcessInstance)
    done = 0
    while done < count:
        size = min(BATCH, count - done)
        values = [crn(next(numbers)) for _ in range(size)]
        rows = [
            {**template.instance, "business_key": value, "state": clone_state(template, value)}
            for value in values
        ]
        with db.engine.begin() as conn:
            ids = conn.execute(
                insert(instances).returning(instances.c.id, sort_by_parameter_order=True), rows
            ).scalars()
            pairs = list(zip(ids, values, strict=True))
            conn.execute(
                insert(table_of(MessageWait)),
                [{"instance_id": i, "message_name": MESSAGE, "correlation_value": v} for i, v in pairs],
            )
            conn.execute(
                insert(table_of(AuditEvent)),
                [
                    {
                        **template.audit,
                        "instance_id": i,
                        "business_key": v,
                        "detail": {"process_id": PROCESS, "data": {"crn": v, "court": "C"}},
                    }
                    for i, v in pairs
                ],
            )
        done += size
        if done % (BATCH * 4) == 0 or done == count:
            progress(f"  cloned {done:,}/{count:,}")


def waiting_count(db: Database) -> int:
    with db.transaction(write=False) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(MessageWait).where(MessageWait.message_name == MESSAGE)
            )
            or 0
        )


def waiting_cases(db: Database) -> list[tuple[str, int]]:
    with db.transaction(write=False) as session:
        rows = session.execute(
            select(MessageWait.correlation_value, MessageWait.instance_id).where(
                MessageWait.message_name == MESSAGE
            )
        ).all()
    return [(str(value), int(instance_id)) for value, instance_id in rows]


# ----------------------------------------------------------------------------- delivery


def control_once(state: str) -> float:
    """Seconds for CONTROL_ROUNDS JSON round trips of an instance state: how fast the machine is now."""
    began = time.perf_counter()
    for _ in range(CONTROL_ROUNDS):
        json.dumps(json.loads(state))
    return time.perf_counter() - began


@dataclass
class Level:
    """The figures for one population size."""

    waiting: int
    build_seconds: float
    latencies_ms: list[float]
    control_ms: list[float]
    failures: list[str]

    @property
    def median(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        return quantile(self.latencies_ms, 99)

    @property
    def control(self) -> float:
        return statistics.median(self.control_ms)


def verify(db: Database, delivered: dict[int, str]) -> list[str]:
    """Each instance a timed delivery went to awaits people with one open task and no wait."""
    failures: list[str] = []
    ids = list(delivered)
    with db.transaction(write=False) as session:
        status = dict(
            session.execute(
                select(ProcessInstance.id, ProcessInstance.status).where(ProcessInstance.id.in_(ids))
            ).all()
        )
        tasks = dict(
            session.execute(
                select(HumanTask.instance_id, func.count())
                .where(HumanTask.instance_id.in_(ids), HumanTask.state == "open")
                .group_by(HumanTask.instance_id)
            ).all()
        )
        waits = set(session.scalars(select(MessageWait.instance_id).where(MessageWait.instance_id.in_(ids))))
    for instance_id, value in delivered.items():
        if status.get(instance_id) != InstanceStatus.AWAITING_PEOPLE:
            failures.append(f"{value}: status {status.get(instance_id)!r}, not awaiting_people")
        if tasks.get(instance_id) != 1:
            failures.append(f"{value}: {tasks.get(instance_id, 0)} open tasks, not 1")
        if instance_id in waits:
            failures.append(f"{value}: still waiting for {MESSAGE}")
    return failures


def measure(
    engine: ProcessEngine,
    cases: list[tuple[str, int]],
    template_state: str,
    *,
    warm_up: int,
    instruments: Instruments | None = None,
) -> tuple[list[float], list[float], list[str]]:
    """Deliver to each case in turn, timing every call; the first `warm_up` are not kept.

    The instruments, if any, are on around each timed call only (not the warm-up, not the control).
    """
    latencies: list[float] = []
    control: list[float] = []
    failures: list[str] = []
    delivered: dict[int, str] = {}
    for index, (value, instance_id) in enumerate(cases):
        probe = instruments if instruments is not None and index >= warm_up else contextlib.nullcontext()
        with probe:
            began = time.perf_counter()
            result = engine.deliver_message(MESSAGE, value, {"result": "adjourned"})
            elapsed = time.perf_counter() - began
        if result.status != "delivered" or result.instance_id != instance_id:
            failures.append(f"{value}: {result.status} to {result.instance_id}, expected {instance_id}")
        if index >= warm_up:
            latencies.append(elapsed * 1000.0)
            delivered[instance_id] = value
            control.append(control_once(template_state) * 1000.0)
    failures.extend(verify(engine.db, delivered))
    return latencies, control, failures


def run_backend(
    backend: str, url: str, *, sizes: Sequence[int], samples: int, seed: int, options: Options
) -> list[Level]:
    db = fresh_database(url)
    try:
        engine = ProcessEngine(db, clock=ManualClock(START), known_roles=KNOWN_ROLES)
        engine.deploy(timing_bundle(), actor="bench")
        first = engine.start(PROCESS, business_key=TEMPLATE_CRN, data={"crn": TEMPLATE_CRN, "court": "C"})
        template = read_template(db, first.instance_id)
        print(
            f"  template: instance {first.instance_id} started through engine.start(), "
            f"status {first.status}, "
            f"state {len(template.instance['state']):,} bytes with {len(template.task_ids)} task ids"
        )
        numbers = iter(range(1, 10**6))
        faithful = check_clone(engine, template, crn(next(numbers)))
        print(
            "  clone check: a clone's state equals the state engine.start() makes for the same crn, "
            f"task ids and timestamps aside: {'PASS' if faithful else 'FAIL'}"
        )
        setup_failures = [] if faithful else ["clone check: a clone differs from an engine-made instance"]
        rng = random.Random(seed)
        levels: list[Level] = []
        for size in sizes:
            began = time.perf_counter()
            missing = size - waiting_count(db)
            if missing > 0:
                progress(f"{backend}: cloning {missing:,} instances to reach {size:,} waiting")
                clone(db, template, numbers, missing)
            if not db.is_sqlite:
                # What autovacuum would have done after a bulk load (this server runs it off).
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("VACUUM ANALYZE"))
            build = time.perf_counter() - began
            waiting = waiting_count(db)
            cases = waiting_cases(db)
            picked = rng.sample(cases, min(len(cases), WARM_UP + samples))
            progress(f"{backend}: delivering to {len(picked)} of {waiting:,} waiting instances")
            instruments = Instruments(db, options) if options.phases or options.profile_top else None
            if size != sizes[-1]:
                instruments = None  # instrument the largest population only
            latencies, control, failures = measure(
                engine, picked, template.instance["state"], warm_up=WARM_UP, instruments=instruments
            )
            level = Level(waiting, build, latencies, control, failures + setup_failures)
            setup_failures = []
            levels.append(level)
            print_level(level)
            if instruments is not None:
                title = f"{len(latencies)} deliveries among {waiting:,} waiting on {backend}"
                instruments.print(
                    sum(latencies) / 1000.0, len(latencies), "delivery", title, "deliver_message"
                )
            if size == sizes[-1]:
                delivered = {value for value, _ in picked}
                still_waiting = next((v for v, _ in cases if v not in delivered), picked[0][0])
                for line in lookup_plans(db, still_waiting):
                    print(f"    lookup plan, {line}")
        return levels
    finally:
        db.dispose()


def lookup_plans(db: Database, value: str) -> list[str]:
    """How the database finds the wait and any kept message for one case (the delivery's lookups)."""
    queries = [
        select(MessageWait.instance_id)
        .where(MessageWait.message_name == MESSAGE, MessageWait.correlation_value == value)
        .order_by(MessageWait.id),
        select(InboundMessage.id)
        .where(
            InboundMessage.status.in_(("stored", "unknown_case")),
            InboundMessage.message_name == MESSAGE,
            InboundMessage.correlation_value == value,
        )
        .order_by(InboundMessage.id)
        .limit(1),
    ]
    explain = "EXPLAIN QUERY PLAN" if db.is_sqlite else "EXPLAIN (ANALYZE, COSTS OFF)"
    lines: list[str] = []
    with db.engine.connect() as conn:
        for query in queries:
            compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            rows = conn.exec_driver_sql(f"{explain} {compiled}").all()
            table = query.get_final_froms()[0]
            plan = [str(row[-1]) for row in rows if "Planning" not in str(row[-1])]
            lines.append(f"{getattr(table, 'name', table)}: " + " / ".join(p.strip() for p in plan))
    return lines


def print_level(level: Level) -> None:
    verdict = "PASS" if not level.failures else f"FAIL ({len(level.failures)})"
    print(
        f"  {level.waiting:>9,} waiting | median {level.median:7.2f} ms | p99 {level.p99:7.2f} ms | "
        f"min {min(level.latencies_ms):6.2f} | max {max(level.latencies_ms):7.2f} | "
        f"control {level.control:5.2f} ms | n={len(level.latencies_ms)} | checks {verdict} | "
        f"population built in {level.build_seconds:.1f} s"
    )
    for failure in level.failures[:10]:
        print(f"    {failure}")


def print_summary(backend: str, levels: Sequence[Level]) -> None:
    if len(levels) < 2:
        return
    low, high = levels[0], levels[-1]
    ratio = high.median / low.median
    control = high.control / low.control
    verdict = "meets" if ratio <= GOAL_RATIO else "misses"
    machine = "about as" if abs(control - 1) < 0.05 else "less" if control < 1 else "more"
    print(
        f"  {backend}: median at {high.waiting:,} / median at {low.waiting:,} = {ratio:.2f}x "
        f"(goal <= {GOAL_RATIO}x: {verdict}); p99 ratio {high.p99 / low.p99:.2f}x; machine-speed "
        f"control ratio {control:.2f}x (the machine was {machine} loaded during the larger run)"
    )


# ----------------------------------------------------------------------------- main


def parse_sizes(value: str) -> list[int]:
    sizes = sorted({int(part.replace("_", "")) for part in value.split(",") if part.strip()})
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("give population sizes like 1000,10000,100000")
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.messages", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--waiting",
        type=parse_sizes,
        default=list(DEFAULT_WAITING),
        help="population sizes, smallest first (default 1000,10000,100000)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also run on PostgreSQL (its riskflow tables are DROPPED and recreated)",
    )
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="timed deliveries per size")
    parser.add_argument("--seed", type=int, default=20261102, help="seed for picking the instances")
    parser.add_argument("--skip-sqlite", action="store_true", help="run on PostgreSQL only")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="profile the deliveries at the largest size with cProfile; print the top N functions",
    )
    parser.add_argument(
        "--phases",
        action="store_true",
        help="time the deliveries at the largest size by call path (cheap probes) and by SQL statement",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes: list[int] = args.waiting
    print(
        f"bench.messages: deliver '{MESSAGE}' to {args.samples} random instances of '{PROCESS}' "
        f"among {', '.join(f'{s:,}' for s in sizes)} waiting ({WARM_UP} warm-up deliveries first, untimed)"
    )
    print(f"engine code: commit {code_version()}")
    print(f"started {datetime.now(UTC).isoformat(timespec='seconds')}; load average {load_average()}")
    results: list[tuple[str, list[Level]]] = []
    options: dict[str, Any] = {
        "sizes": sizes,
        "samples": args.samples,
        "seed": args.seed,
        "options": Options(profile_top=args.profile, phases=args.phases),
    }
    if not args.skip_sqlite:
        print("\nSQLite (temporary file, WAL)")
        with tempfile.TemporaryDirectory(prefix="riskflow-bench-messages-") as tmp:
            url = f"sqlite:///{tmp}/messages.db"
            results.append(("SQLite", run_backend("SQLite", url, **options)))
    status = 0
    if args.postgres:
        print(f"\nPostgreSQL ({args.postgres})")
        try:
            levels = run_backend("PostgreSQL", args.postgres, **options)
            results.append(("PostgreSQL", levels))
        except OperationalError as err:
            print(f"PostgreSQL: could not use {args.postgres}: {str(err).splitlines()[0]}")
            status = 2
    else:
        print("\nPostgreSQL: skipped (no --postgres URL)")
    print(f"\nload average at end: {load_average()}")
    print(
        f"\nsummary (goal: median latency within {GOAL_RATIO}x from the smallest to the largest population)"
    )
    for backend, levels in results:
        print_summary(backend, levels)
        if any(level.failures for level in levels):
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
