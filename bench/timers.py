"""Benchmark: how fast workers sweep 10,000 due timers, and whether each fires exactly once.

Run it with `.venv/bin/python -m bench.timers` (bench/README.md explains the options and how to
read the figures). For each database it:

1. starts N instances of the `fortnightly` fixture process (tests/fixtures/bundles/timing) through
   `engine.start()` with `{"reviews": 0, "limit": 1}` on a ManualClock standing at START, so each
   one waits on a single 14-day timer (the start rate is printed too);
2. moves the clock past the due time and times one worker, `engine.fire_due_timers()` in this
   process, until nothing is due: total seconds and timers/second;
3. on PostgreSQL only, starts N fresh instances again and times two worker processes
   (`python -m bench.timers --worker-child ...`, this module) that claim with SKIP LOCKED on the
   same database: combined timers/second and each worker's share;
4. checks every run: each instance has exactly one `timer_fired` audit event and is completed.

On PostgreSQL it also prints the claim query's plan (EXPLAIN ANALYZE) and the dead row versions.
`--phases` times the one-worker sweep by call path and by SQL statement, `--profile N` runs it
under cProfile, and `--what-if-index` adds an index the engine does not have, to see its effect.

Times are figures, never pass/fail. The exit status is 1 only when the exactly-once check fails,
2 when the PostgreSQL URL could not be used.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import importlib
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.models import AuditEvent, EngineBase, ProcessInstance
from engine.runtime import TIMER_CLAIM_BATCH, InstanceStatus, ProcessEngine, due_claim_query

REPO = Path(__file__).resolve().parent.parent
TIMING_BUNDLE = REPO / "tests" / "fixtures" / "bundles" / "timing"
KNOWN_ROLES = frozenset({"CLERK", "MANAGER"})  # the roles timing/lanes.json maps its lanes to
PROCESS = "fortnightly"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DUE = START + timedelta(days=14)  # the fortnightly timer, "P14D"
AFTER_DUE = DUE + timedelta(hours=1)
GOAL_PER_WORKER = 200.0
DEFAULT_INSTANCES = 10_000
CHILD_TIMEOUT_SECONDS = 1800.0
PROFILE_DEPTH = 5
WHAT_IF_INDEX = "CREATE INDEX bench_what_if_due ON process_instance (next_timer_at, id)"
PROFILE_MIN_SHARE = 0.02

T = TypeVar("T")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


def code_version() -> str:
    """The commit the engine code comes from, and files changed under engine/ (read-only git calls)."""
    git = shutil.which("git")
    if git is None:
        return "unknown (no git)"

    def output(*args: str) -> list[str]:
        done = subprocess.run([git, *args], cwd=REPO, capture_output=True, text=True, check=True)  # noqa: S603
        return [line for line in done.stdout.splitlines() if line.strip()]

    try:
        head = output("rev-parse", "--short", "HEAD")[0]
        changed = output("diff", "--name-only", "HEAD", "--", "engine")
        changed += output("ls-files", "--others", "--exclude-standard", "--", "engine")
    except (OSError, IndexError, subprocess.CalledProcessError):
        return "unknown (git failed)"
    return head + (f" with uncommitted changes in {', '.join(sorted(changed))}" if changed else "")


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """The call's result and its wall time in seconds (time.perf_counter)."""
    began = time.perf_counter()
    result = call()
    return result, time.perf_counter() - began


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timing_bundle() -> Bundle:
    return Bundle.from_directory(TIMING_BUNDLE, name="timing")


def fresh_database(url: str) -> Database:
    """A Database on `url` with every engine table dropped and created again."""
    db = Database(url)
    EngineBase.metadata.drop_all(db.engine)
    EngineBase.metadata.create_all(db.engine)
    return db


def new_engine(db: Database, now: datetime) -> ProcessEngine:
    return ProcessEngine(db, clock=ManualClock(now), known_roles=KNOWN_ROLES)


FuncKey = tuple[str, int, str]


def _label(key: FuncKey) -> str:
    path, line, name = key
    return f"{name} ({Path(path).name}:{line})" if line else name


def _in_engine(key: FuncKey) -> bool:
    return key[0].startswith(str(REPO / "engine"))


def _callees(stats: dict[FuncKey, Any], parent: FuncKey) -> list[tuple[FuncKey, float]]:
    """The functions `parent` called, with the cumulative time spent in each from `parent`."""
    found = [(key, row[4][parent][3]) for key, row in stats.items() if parent in row[4]]
    return sorted(found, key=lambda item: -item[1])


def _print_tree(
    stats: dict[FuncKey, Any],
    key: FuncKey,
    seconds: float,
    *,
    total: float,
    depth: int,
    seen: set[FuncKey],
    in_engine: bool = True,
) -> None:
    print(f"    {'  ' * depth}{seconds / total * 100:5.1f}%  {seconds:7.2f} s  {_label(key)}")
    if depth >= PROFILE_DEPTH or key in seen or not (in_engine or _in_engine(key)):
        return  # expand the engine's functions, and the library calls they make one level down
    for callee, spent in _callees(stats, key):
        # cProfile's per-caller times can exceed the caller's own under recursion: leave those out.
        if spent / total >= PROFILE_MIN_SHARE and spent <= seconds:
            _print_tree(
                stats,
                callee,
                spent,
                total=total,
                depth=depth + 1,
                seen=seen | {key},
                in_engine=_in_engine(key),
            )


def print_profile(profile: cProfile.Profile, title: str, root: str, top: int) -> None:
    """Where the time of `root` (an engine function name) goes, then the top functions by own time."""
    stats_obj = pstats.Stats(profile)
    stats: dict[FuncKey, Any] = stats_obj.stats  # type: ignore[attr-defined]
    roots = [key for key in stats if key[2] == root and _in_engine(key)]
    print(f"\n  cProfile of {title}:")
    if roots:
        key = roots[0]
        total = stats[key][3]
        print(
            f"  time inside engine.{root}, by callee (share of its {total:.2f} s; engine functions "
            f"expanded, shares >= {PROFILE_MIN_SHARE * 100:.0f}%):"
        )
        _print_tree(stats, key, total, total=total, depth=0, seen=set())
    out = io.StringIO()
    pstats.Stats(profile, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    print(f"  top {top} functions by own time (tottime):")
    for line in lines[start:]:
        if line.strip():
            print(f"    {line}")


class StatementTimes:
    """Wall time per kind of SQL statement (verb and table), from SQLAlchemy's cursor events."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.totals: dict[str, list[float]] = {}  # key -> [count, seconds]
        self._began: list[float] = []

    def __enter__(self) -> StatementTimes:
        event.listen(self.db.engine, "before_cursor_execute", self._before)
        event.listen(self.db.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.db.engine, "before_cursor_execute", self._before)
        event.remove(self.db.engine, "after_cursor_execute", self._after)

    def _before(self, *_args: Any) -> None:
        self._began.append(time.perf_counter())

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self._add(statement_kind(statement), time.perf_counter() - self._began.pop())

    def _add(self, key: str, seconds: float) -> None:
        entry = self.totals.setdefault(key, [0, 0.0])
        entry[0] += 1
        entry[1] += seconds

    def print(self, wall: float, per: int, unit: str) -> None:
        print(
            f"  SQL statements (time from cursor execute to its return, per {unit}; share of {wall:.1f} s):"
        )
        for key, (count, seconds) in sorted(self.totals.items(), key=lambda kv: -kv[1][1]):
            print(
                f"    {seconds / wall * 100:5.1f}%  {seconds:7.2f} s  {count / per:5.2f}/{unit}  "
                f"{seconds / max(count, 1) * 1000:7.3f} ms each  {key}"
            )


def statement_kind(statement: str) -> str:
    """ "SELECT process_instance FOR UPDATE", "INSERT audit_event", ...: verb, main table, lock."""
    words = statement.split()
    upper = [w.upper() for w in words]
    verb = upper[0] if upper else "?"
    marker = {"SELECT": "FROM", "DELETE": "FROM", "INSERT": "INTO", "UPDATE": "UPDATE"}.get(verb)
    table = ""
    if marker in upper:
        index = upper.index(marker) + 1
        table = words[index].strip('"(') if index < len(words) else ""
    lock = " FOR UPDATE" if "FOR UPDATE" in " ".join(upper) else ""
    return f"{verb} {table}{lock}".strip()


# (module, owner class or "" for a module function, attribute, label): the probes of --phases.
# Module functions are patched in the module whose code calls them by their global name.
PROBES: tuple[tuple[str, str, str, str], ...] = (
    ("engine.deliveries", "MessageDeliveries", "deliver_message", "deliver_message"),
    ("engine.timer_sweep", "TimerSweep", "_claim_due", "_claim_due (one batch)"),
    ("engine.timer_sweep", "TimerSweep", "_fire_timer", "_fire_timer (one timer)"),
    ("engine.deliveries", "MessageDeliveries", "_waiting_instance", "_waiting_instance (find + lock)"),
    ("engine.stepping", "Stepper", "load", "load (deserialize the state)"),
    ("engine.stepping", "Stepper", "run", "run (the step)"),
    ("engine.stepping", "", "_advance", "_advance (SpiffWorkflow do_engine_steps)"),
    ("engine.stepping", "Stepper", "_deliver_stored_messages", "_deliver_stored_messages"),
    ("engine.stepping", "", "archive_finished_subprocesses", "archive_finished_subprocesses"),
    ("engine.stepping", "Stepper", "_archive", "_archive (serialize the finished turn)"),
    ("engine.stepping", "Stepper", "_persist", "_persist"),
    ("engine.humantasks", "HumanTaskSync", "run", "HumanTaskSync.run"),
    ("engine.stepping", "Stepper", "_queue_outbound", "_queue_outbound"),
    ("engine.state", "StateSerializer", "dumps", "StateSerializer.dumps"),
    ("engine.stepping", "", "next_timer_due", "next_timer_due"),
    ("engine.stepping", "Stepper", "_sync_waits", "_sync_waits"),
    ("sqlalchemy.orm.session", "Session", "scalar", "Session.scalar (query)"),
    ("sqlalchemy.orm.session", "Session", "scalars", "Session.scalars (query)"),
    ("sqlalchemy.orm.session", "Session", "flush", "Session.flush (ORM writes, incl. autoflush)"),
    ("sqlalchemy.orm.session", "SessionTransaction", "commit", "SessionTransaction.commit"),
)


class PhaseTimer:
    """Wall time of a few engine and SQLAlchemy calls, by call path: a cheap, unbiased profile.

    cProfile charges every Python call, so it inflates SpiffWorkflow's many small calls against
    time spent in C (the database driver); these probes cost about a microsecond a call.
    """

    def __init__(self) -> None:
        self.totals: dict[tuple[str, ...], list[float]] = {}  # path -> [calls, seconds]
        self._stack: list[str] = []
        self._patched: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> PhaseTimer:
        for module_name, owner_name, attribute, label in PROBES:
            module = importlib.import_module(module_name)
            owner = getattr(module, owner_name) if owner_name else module
            original = getattr(owner, attribute)
            self._patched.append((owner, attribute, original))
            setattr(owner, attribute, self._wrap(original, label))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, attribute, original in reversed(self._patched):
            setattr(owner, attribute, original)
        self._patched.clear()

    def _wrap(self, original: Callable[..., Any], label: str) -> Callable[..., Any]:
        stack, totals = self._stack, self.totals

        @functools.wraps(original)
        def probe(*args: Any, **kwargs: Any) -> Any:
            stack.append(label)
            path = tuple(stack)
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                entry = totals.setdefault(path, [0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - began
                stack.pop()

        return probe

    def print(self, wall: float, per: int, unit: str) -> None:
        """The call tree with inclusive times; 'other' is a node's time outside its probed calls."""
        print(
            f"  where the time goes (--phases: wall time by call path, inclusive; share of {wall:.1f} s, "
            f"ms per {unit}):"
        )
        children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for path in self.totals:
            children.setdefault(path[:-1], []).append(path)

        def show(path: tuple[str, ...]) -> None:
            calls, seconds = self.totals[path]
            print(
                f"    {'  ' * (len(path) - 1)}{seconds / wall * 100:5.1f}%  {seconds / per * 1000:7.3f} ms"
                f"  {path[-1]}  ({calls / per:.2f} calls/{unit})"
            )
            kids = sorted(children.get(path, []), key=lambda p: -self.totals[p][1])
            if kids:
                other = seconds - sum(self.totals[k][1] for k in kids)
                for kid in kids:
                    show(kid)
                print(
                    f"    {'  ' * len(path)}{other / wall * 100:5.1f}%  {other / per * 1000:7.3f} ms  "
                    f"other (in {path[-1].split()[0]} itself, outside the calls above)"
                )

        for root in sorted(children.get((), []), key=lambda p: -self.totals[p][1]):
            show(root)


# ----------------------------------------------------------------------------- population


def start_instances(engine: ProcessEngine, count: int, prefix: str) -> float:
    """Start `count` fortnightly instances through engine.start(); the seconds it took."""
    began = time.perf_counter()
    step = max(1, count // 10)
    for n in range(count):
        engine.start(PROCESS, business_key=f"{prefix}{n:06d}", data={"reviews": 0, "limit": 1})
        if (n + 1) % step == 0:
            progress(f"  started {n + 1:,}/{count:,}")
    return time.perf_counter() - began


def waiting_on_timer(db: Database) -> int:
    """Instances waiting with their next timer at DUE."""
    with db.transaction(write=False) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(ProcessInstance)
                .where(ProcessInstance.status == InstanceStatus.WAITING, ProcessInstance.next_timer_at == DUE)
            )
            or 0
        )


@dataclass(frozen=True)
class Check:
    """The exactly-once check over every instance of a run."""

    instances: int
    fired_once: int
    fired_twice_or_more: int
    never_fired: int
    completed: int

    @property
    def passed(self) -> bool:
        return self.fired_once == self.instances == self.completed and not (
            self.fired_twice_or_more or self.never_fired
        )

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{verdict}: {self.instances:,} instances; timer_fired exactly once: {self.fired_once:,}, "
            f"more than once: {self.fired_twice_or_more:,}, never: {self.never_fired:,}; "
            f"completed: {self.completed:,}"
        )


def check_exactly_once(db: Database) -> Check:
    """Count timer_fired audit events per instance (every instance, fired or not)."""
    fired = (
        select(AuditEvent.instance_id, func.count().label("n"))
        .where(AuditEvent.event == "timer_fired")
        .group_by(AuditEvent.instance_id)
        .subquery()
    )
    with db.transaction(write=False) as session:
        rows = session.execute(
            select(ProcessInstance.status, func.coalesce(fired.c.n, 0))
            .select_from(ProcessInstance)
            .outerjoin(fired, fired.c.instance_id == ProcessInstance.id)
            .where(ProcessInstance.process_id == PROCESS)
        ).all()
    counts = [int(n) for _, n in rows]
    return Check(
        instances=len(rows),
        fired_once=sum(1 for n in counts if n == 1),
        fired_twice_or_more=sum(1 for n in counts if n > 1),
        never_fired=sum(1 for n in counts if n == 0),
        completed=sum(1 for status, _ in rows if status == InstanceStatus.COMPLETED),
    )


# ----------------------------------------------------------------------------- one worker


@dataclass(frozen=True)
class SweepResult:
    label: str
    fired: int
    seconds: float
    workers: int
    check: Check

    @property
    def per_second(self) -> float:
        return rate(self.fired, self.seconds)


def populate(backend: str, url: str, count: int, prefix: str) -> Database:
    db = fresh_database(url)
    engine = new_engine(db, START)
    engine.deploy(timing_bundle(), actor="bench")
    progress(f"{backend}: starting {count:,} instances through engine.start()")
    seconds = start_instances(engine, count, prefix)
    waiting = waiting_on_timer(db)
    print(
        f"  create: {count:,} instances through engine.start() in {seconds:.1f} s "
        f"({rate(count, seconds):.0f} starts/s, {seconds / count * 1000:.2f} ms each); "
        f"{waiting:,} waiting with next_timer_at = {DUE.isoformat()}"
    )
    return db


def one_worker(backend: str, url: str, count: int, *, options: Options) -> SweepResult:
    """N instances, then one in-process worker sweeps them all."""
    db = populate(backend, url, count, "T")
    try:
        if not db.is_sqlite:
            postgres_before_sweep(db, options)
        engine = new_engine(db, AFTER_DUE)
        progress(f"{backend}: one worker sweeping (clock at {AFTER_DUE.isoformat()})")
        instruments = Instruments(db, options)
        with instruments:
            fired, seconds = timed(engine.fire_due_timers)
        result = SweepResult(
            f"1 worker (in-process fire_due_timers){instruments.label}{what_if_label(db, options)}",
            fired,
            seconds,
            1,
            check_exactly_once(db),
        )
        print_sweep(result)
        if not db.is_sqlite:
            postgres_after_sweep(db)
        instruments.print(
            seconds, max(fired, 1), "timer", f"the one-worker sweep on {backend}", "fire_due_timers"
        )
        return result
    finally:
        db.dispose()


@dataclass(frozen=True)
class Options:
    """How to run and instrument a sweep."""

    profile_top: int = 0  # cProfile, printing this many functions (0: off)
    phases: bool = False  # the PhaseTimer probes and the SQL statement times
    vacuum: bool = False  # PostgreSQL: VACUUM ANALYZE before the sweep
    what_if_index: bool = False  # add WHAT_IF_INDEX before the sweep (not the engine's schema)


class Instruments:
    """The instruments asked for, around one timed block."""

    def __init__(self, db: Database, options: Options) -> None:
        self.options = options
        self.statements = StatementTimes(db) if options.phases or options.profile_top else None
        self.phases = PhaseTimer() if options.phases else None
        self.profile = cProfile.Profile() if options.profile_top else None

    @property
    def label(self) -> str:
        if self.profile is not None:
            return ", PROFILED with cProfile (slower)"
        return ", with --phases probes" if self.phases is not None else ""

    def __enter__(self) -> Instruments:
        if self.statements is not None:
            self.statements.__enter__()
        if self.phases is not None:
            self.phases.__enter__()
        if self.profile is not None:
            self.profile.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.profile is not None:
            self.profile.disable()
        if self.phases is not None:
            self.phases.__exit__()
        if self.statements is not None:
            self.statements.__exit__()

    def print(self, wall: float, per: int, unit: str, what: str, root: str) -> None:
        if self.phases is not None:
            self.phases.print(wall, per, unit)
        if self.statements is not None:
            self.statements.print(wall, per, unit)
        if self.profile is not None:
            print_profile(self.profile, f"{what} (profiling slows it down)", root, self.options.profile_top)


def claim_query_plan(db: Database) -> list[str]:
    """EXPLAIN ANALYZE of the worker's claim query, FOR UPDATE SKIP LOCKED, rolled back at once.

    Run only while no worker runs: it locks the first due row for the moment it takes.
    """
    query = due_claim_query(AFTER_DUE, TIMER_CLAIM_BATCH, skip_locked=True)
    with db.engine.connect() as conn:
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        plan = [str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")]
        conn.rollback()
    return plan


def dead_tuples(db: Database) -> str:
    with db.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE relname = 'process_instance'"
        ).one()
    return f"process_instance: {row[0]:,} live rows, {row[1]:,} dead row versions"


def what_if_label(db: Database, options: Options) -> str:
    return ", WHAT-IF index" if options.what_if_index and not db.is_sqlite else ""


def postgres_before_sweep(db: Database, options: Options) -> None:
    with db.engine.connect() as conn:
        autovacuum = conn.exec_driver_sql("SHOW autovacuum").scalar()
    print(f"  server: autovacuum = {autovacuum}; {dead_tuples(db)}")
    if options.what_if_index:
        with db.engine.begin() as conn:
            conn.exec_driver_sql(WHAT_IF_INDEX)
            conn.exec_driver_sql("ANALYZE process_instance")
        print(
            f"  WHAT-IF (--what-if-index), not the engine's schema: {WHAT_IF_INDEX}; ANALYZE process_instance"
        )
    if options.vacuum:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        print(f"  ran VACUUM ANALYZE before the sweep (--vacuum); {dead_tuples(db)}")
    plan = claim_query_plan(db)
    print("  the worker's claim query before the sweep (EXPLAIN ANALYZE, rolled back):")
    for line in plan:
        print(f"    {line}")


def postgres_after_sweep(db: Database) -> None:
    print(f"  after the sweep: {dead_tuples(db)}")
    timing = [line for line in claim_query_plan(db) if "Execution Time" in line or "Heap Blocks" in line]
    print(f"  claim query with nothing due: {'; '.join(line.strip() for line in timing)}")


def print_sweep(result: SweepResult) -> None:
    per_worker = result.per_second / result.workers
    verdict = "meets" if per_worker >= GOAL_PER_WORKER else "misses"
    print(
        f"  sweep, {result.label}: {result.fired:,} timers in {result.seconds:.1f} s = "
        f"{result.per_second:.0f} timers/s ({per_worker:.0f} per worker; "
        f"{result.seconds / max(result.fired, 1) * 1000:.2f} ms per timer per worker; "
        f"goal >= {GOAL_PER_WORKER:.0f}/s per worker: {verdict})"
    )
    print(f"  exactly once: {result.check.line()}")


# ----------------------------------------------------------------------------- two workers


@dataclass(frozen=True)
class ChildReport:
    fired: int
    began: float  # time.time() when it received "go"
    ended: float  # time.time() when fire_due_timers returned 0
    rounds: int


def run_child(url: str, clock_iso: str) -> int:
    """The worker process: wait for "go" on stdin, fire until nothing is due, report as JSON."""
    db = Database(url)
    engine = new_engine(db, datetime.fromisoformat(clock_iso))
    with db.transaction(write=False) as session:  # open the pool's first connection before the race
        session.scalar(select(func.count()).select_from(ProcessInstance))
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    began = time.time()
    fired = rounds = 0
    while True:
        rounds += 1
        done = engine.fire_due_timers()
        if done == 0:
            break
        fired += done
    ended = time.time()
    print(json.dumps({"fired": fired, "began": began, "ended": ended, "rounds": rounds}), flush=True)
    db.dispose()
    return 0


def two_workers(url: str, count: int, options: Options) -> tuple[SweepResult, list[ChildReport]]:
    """N fresh instances, then two worker processes race for them with SKIP LOCKED."""
    db = populate("PostgreSQL", url, count, "W")
    try:
        postgres_before_sweep(db, options)
        command = [
            sys.executable,
            "-m",
            "bench.timers",
            "--worker-child",
            "--postgres",
            url,
            "--clock",
            AFTER_DUE.isoformat(),
        ]
        progress("PostgreSQL: two worker processes sweeping")
        children = [
            subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        for child in children:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError("a worker process did not start")
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        reports: list[ChildReport] = []
        for child in children:
            out, _ = child.communicate(timeout=CHILD_TIMEOUT_SECONDS)
            if child.returncode != 0:
                raise RuntimeError(f"a worker process exited with {child.returncode}")
            reports.append(ChildReport(**json.loads(out.strip().splitlines()[-1])))
        seconds = max(r.ended for r in reports) - min(r.began for r in reports)
        fired = sum(r.fired for r in reports)
        label = f"2 worker processes (SKIP LOCKED){what_if_label(db, options)}"
        result = SweepResult(label, fired, seconds, 2, check_exactly_once(db))
        print_sweep(result)
        for number, report in enumerate(reports, 1):
            own = report.ended - report.began
            print(
                f"    worker {number}: {report.fired:,} timers in {own:.1f} s = "
                f"{rate(report.fired, own):.0f} timers/s ({report.rounds} fire_due_timers calls)"
            )
        postgres_after_sweep(db)
        return result, reports
    finally:
        db.dispose()


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.timers", description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=DEFAULT_INSTANCES, help="instances with a due timer")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also run on PostgreSQL (its riskflow tables are DROPPED and recreated)",
    )
    parser.add_argument("--skip-sqlite", action="store_true", help="run on PostgreSQL only")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="profile the one-worker sweeps with cProfile and print the top N functions",
    )
    parser.add_argument(
        "--phases",
        action="store_true",
        help="time the one-worker sweeps by call path (cheap probes) and by SQL statement",
    )
    parser.add_argument(
        "--vacuum",
        action="store_true",
        help="PostgreSQL: run VACUUM ANALYZE after creating the instances (as autovacuum would)",
    )
    parser.add_argument(
        "--what-if-index",
        action="store_true",
        help="PostgreSQL: add an index on process_instance (next_timer_at, id) before each sweep, to "
        "see what the claim query would cost with it (a what-if, not the engine's schema)",
    )
    parser.add_argument("--worker-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--clock", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker_child:
        return run_child(args.postgres, args.clock)
    count: int = args.instances
    print(
        f"bench.timers: {count:,} instances of '{PROCESS}', each waiting on one timer due {DUE.isoformat()}"
    )
    print(f"engine code: commit {code_version()}")
    print(f"load average at start: {load_average()}")
    results: list[tuple[str, SweepResult]] = []
    options = Options(
        profile_top=args.profile, phases=args.phases, vacuum=args.vacuum, what_if_index=args.what_if_index
    )
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory(prefix="riskflow-bench-timers-") as tmp:
            print("\nSQLite (temporary file, WAL): one worker only; SQLite allows one writer at a time")
            results.append(
                (
                    "SQLite",
                    one_worker("SQLite", f"sqlite:///{tmp}/timers.db", count, options=options),
                )
            )
    status = 0
    if args.postgres:
        print(f"\nPostgreSQL ({args.postgres})")
        try:
            results.append(
                (
                    "PostgreSQL",
                    one_worker("PostgreSQL", args.postgres, count, options=options),
                )
            )
            results.append(("PostgreSQL", two_workers(args.postgres, count, options)[0]))
        except OperationalError as err:
            print(f"PostgreSQL: could not use {args.postgres}: {str(err).splitlines()[0]}")
            status = 2
    else:
        print("\nPostgreSQL: skipped (no --postgres URL)")
    print(f"\nload average at end: {load_average()}")
    print(f"\nsummary (goal: >= {GOAL_PER_WORKER:.0f} timers/s per worker)")
    for backend, result in results:
        per_worker = result.per_second / result.workers
        print(
            f"  {backend:<10} {result.label:<40} {result.per_second:7.0f} timers/s "
            f"({per_worker:.0f}/worker, {'meets' if per_worker >= GOAL_PER_WORKER else 'misses'} goal)  "
            f"{'PASS' if result.check.passed else 'FAIL'}"
        )
    if any(not result.check.passed for _, result in results):
        status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
