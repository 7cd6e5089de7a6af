"""Benchmark: a case that runs for 1,000 review cycles, on riskflow and on plain SpiffWorkflow.

Run it with `.venv/bin/python -m bench.long_case` (bench/README.md explains the options and how to
read the figures). It prints, at each checkpoint cycle:

1. riskflow (SQLite, and PostgreSQL when a URL is given): the median time of one persisted
   `complete_task` (one transaction), the median time of the timer step (`fire_due_timers`), and
   the size of the live instance state. The model is the one riskflow recommends for long cases
   (bench/models/long_case): the cycle is a sub-process with a standard loop, so every finished
   turn is archived out of the live state. Afterwards it checks that every cycle ran: the instance
   is completed with `turn == cycles` and there is one archived sub-process row per cycle.
2. Plain in-memory SpiffWorkflow 3.2.0 running the same cycle drawn as a back-edge loop
   (bench/models/back_edge_loop, no timer): the median time per completed task, and the iteration
   at which it silently stops (pitfall 17 in the SpiffWorkflow reference).
3. A summary against the goals. Times are figures, never pass/fail: the exit status is 1 only
   when a riskflow run did not complete every cycle correctly, 2 when PostgreSQL was unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.models import ArchivedSubprocess, EngineBase, HumanTask, ProcessInstance
from engine.runtime import Actor, InstanceStatus, ProcessEngine

MODELS = Path(__file__).resolve().parent / "models"
LONG_CASE_BUNDLE = MODELS / "long_case"
LONG_CASE_PROCESS = "long_case"
BACK_EDGE_FILE = MODELS / "back_edge_loop" / "back_edge_loop.bpmn"
BACK_EDGE_PROCESS = "back_edge_loop"

DEFAULT_CYCLES = 1000
DEFAULT_CHECKPOINTS = (1, 10, 100, 300, 1000)
DEFAULT_WINDOW = 9  # a checkpoint reports the median of the cycles in a window ending at it
FRESH_STARTS = 9  # cycle 1 = the long case's first cycle plus the first cycle of this many fresh instances
WARM_UP_CYCLES = 3
POSTGRES_ENV = "RISKFLOW_BENCH_DATABASE_URL"

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FORTNIGHT = timedelta(days=14)
PROBE_OFFSET = timedelta(hours=1)
ROLE = "OFFICER"
OFFICER = Actor("officer.bench", frozenset({ROLE}))

GOAL_CYCLE_ONE_MS = 5.0
GOAL_GROWTH = 1.25

T = TypeVar("T")


# ----------------------------------------------------------------------------- measurements


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """The call's result and its wall time (time.perf_counter) in milliseconds."""
    began = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - began) * 1000.0


@dataclass(frozen=True)
class CycleSample:
    """One cycle of an instance: the timer step, then the completion of the review."""

    timer_ms: float
    complete_ms: float


@dataclass
class Checkpoint:
    """The medians printed for one checkpoint cycle (None: not measured, or never reached)."""

    cycle: int
    samples: int
    complete_ms: float | None
    timer_ms: float | None = None
    state_bytes: int | None = None
    # The control: first cycles of fresh instances, timed alternately with the case in the same window.
    fresh_ms: float | None = None
    fresh_timer_ms: float | None = None


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def window(series: Sequence[T], cycle: int, size: int) -> list[T]:
    """The `size` items ending at `cycle` (series[0] is cycle 1); empty if the run never got there."""
    if len(series) < cycle:
        return []
    return list(series[max(0, cycle - size) : cycle])


def load_average() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- riskflow


class CycleError(Exception):
    """A cycle did not go the way the model says."""


@dataclass
class EngineRun:
    """One riskflow run on one database."""

    backend: str
    cycles: int
    window: int
    checkpoints: list[Checkpoint] = field(default_factory=list)
    cycles_done: int = 0
    final_status: str | None = None
    final_turn: int | None = None
    archived: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    load_after: str = ""

    @property
    def correct(self) -> bool:
        return not self.problems


class LongCaseDriver:
    """A riskflow engine on one database, with the long-case model deployed and a manual clock."""

    def __init__(self, url: str, *, recreate: bool) -> None:
        self.db = Database(url)
        if recreate:
            EngineBase.metadata.drop_all(self.db.engine)
        EngineBase.metadata.create_all(self.db.engine)
        self.clock = ManualClock(START)
        self.engine = ProcessEngine(self.db, clock=self.clock, known_roles={ROLE})
        bundle = Bundle.from_directory(LONG_CASE_BUNDLE, name=LONG_CASE_PROCESS)
        self.engine.deploy(bundle, actor="bench")
        self._last_step: dict[int, datetime] = {}

    def start(self, business_key: str, cycles: int) -> int:
        started = self.engine.start(
            LONG_CASE_PROCESS, business_key=business_key, data={"turn": 0, "cycles": cycles}
        )
        self._last_step[started.instance_id] = self.clock.now()
        return started.instance_id

    def open_tasks(self, instance_id: int) -> list[int]:
        with self.db.transaction(write=False) as session:
            query = select(HumanTask.id).where(
                HumanTask.instance_id == instance_id, HumanTask.state == "open"
            )
            return list(session.scalars(query))

    def next_timer_at(self, instance_id: int) -> datetime | None:
        with self.db.transaction(write=False) as session:
            return session.scalar(
                select(ProcessInstance.next_timer_at).where(ProcessInstance.id == instance_id)
            )

    def cycle(self, instance_id: int, number: int) -> tuple[CycleSample, str]:
        """Two weeks pass, the timer fires, the officer completes the review.

        The clock moves to the instance's due time (14 days after its last step). Returns the
        timings and the status after the completion; raises CycleError when the instance does not
        do what the model says.
        """
        due = self.next_timer_at(instance_id)
        if due is None or due - self._last_step[instance_id] != FORTNIGHT:
            raise CycleError(f"cycle {number}: next timer due {due}, expected 14 days after the last step")
        self.clock.set(max(due, self.clock.now()))
        fired, timer_ms = timed(self.engine.fire_due_timers)
        if fired != 1:
            raise CycleError(f"cycle {number}: fire_due_timers stepped {fired} instances, expected 1")
        tasks = self.open_tasks(instance_id)
        if len(tasks) != 1:
            raise CycleError(f"cycle {number}: {len(tasks)} open human tasks after the timer, expected 1")
        result, complete_ms = timed(lambda: self.engine.complete_task(tasks[0], OFFICER, {}))
        if result.error:
            raise CycleError(f"cycle {number}: the instance failed: {result.error}")
        self._last_step[instance_id] = self.clock.now()
        return CycleSample(timer_ms, complete_ms), result.status

    def start_probe(self, business_key: str, cycles: int) -> int:
        """A fresh instance whose timer falls due an hour after every timer already waiting."""
        self.clock.advance(PROBE_OFFSET)
        return self.start(business_key, cycles)

    def finish_probe(self, probe: int) -> CycleSample:
        """Time the probe's first cycle, then terminate it so that later sweeps find only the long case."""
        sample, _ = self.cycle(probe, 1)
        self.engine.terminate(probe, OFFICER, reason="benchmark: only its first cycle is timed")
        return sample

    def state_bytes(self, instance_id: int) -> int:
        with self.db.transaction(write=False) as session:
            state = session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == instance_id))
            return len((state or "").encode())

    def outcome(self, instance_id: int) -> tuple[str, int | None, int]:
        """(status, turn in the final state, archived sub-process rows) of an instance."""
        with self.db.transaction(write=False) as session:
            instance = session.get(ProcessInstance, instance_id)
            if instance is None:
                raise CycleError(f"instance {instance_id} vanished")
            archived = session.scalar(
                select(func.count())
                .select_from(ArchivedSubprocess)
                .where(ArchivedSubprocess.instance_id == instance_id)
            )
            turn = json.loads(instance.state).get("data", {}).get("turn") if instance.state else None
            return instance.status, turn, int(archived or 0)

    def dispose(self) -> None:
        self.db.dispose()


def run_engine(
    backend: str, url: str, cycles: int, checkpoints: Sequence[int], *, size: int, recreate: bool
) -> EngineRun:
    """Drive one long case for `cycles` cycles on `url`, timing every cycle."""
    run = EngineRun(backend, cycles, size)
    began = time.perf_counter()
    driver = LongCaseDriver(url, recreate=recreate)
    try:
        # Warm-up: the deployment is done; a throwaway instance fills the spec cache and the pool.
        warm = driver.start("BENCH-WARM-UP", WARM_UP_CYCLES)
        for number in range(1, WARM_UP_CYCLES + 1):
            driver.cycle(warm, number)
        # Cycle 1: a window ending at cycle 1 would hold one sample, so fresh instances add theirs.
        first = [
            driver.finish_probe(driver.start_probe(f"BENCH-FRESH-{n}", cycles)) for n in range(FRESH_STARTS)
        ]
        case = driver.start("BENCH-LONG-CASE", cycles)
        paired = {n for c in checkpoints if c > 1 for n in range(max(2, c - size + 1), c + 1)}
        series, fresh, sizes = drive(driver, case, run, paired, checkpoints)
        for cycle in checkpoints:
            samples = [*first, *series[:1]] if cycle == 1 else window(series, cycle, size)
            controls = (
                first if cycle == 1 else [fresh[n] for n in range(cycle - size + 1, cycle + 1) if n in fresh]
            )
            run.checkpoints.append(
                Checkpoint(
                    cycle,
                    len(samples),
                    median([s.complete_ms for s in samples]),
                    median([s.timer_ms for s in samples]),
                    sizes.get(cycle),
                    median([s.complete_ms for s in controls]),
                    median([s.timer_ms for s in controls]),
                )
            )
        verify(driver, case, run)
    finally:
        driver.dispose()
    run.seconds = time.perf_counter() - began
    run.load_after = load_average()
    return run


def drive(
    driver: LongCaseDriver, case: int, run: EngineRun, paired: set[int], checkpoints: Sequence[int]
) -> tuple[list[CycleSample], dict[int, CycleSample], dict[int, int]]:
    """Every cycle of the long case, with a fresh probe timed right after each cycle in `paired`.

    Returns the long case's samples, the probes' samples by cycle, and the state size at each
    checkpoint.
    """
    series: list[CycleSample] = []
    fresh: dict[int, CycleSample] = {}
    sizes: dict[int, int] = {}
    for number in range(1, run.cycles + 1):
        try:
            probe = driver.start_probe(f"BENCH-PAIRED-{number}", run.cycles) if number in paired else None
            sample, status = driver.cycle(case, number)
            if probe is not None:
                fresh[number] = driver.finish_probe(probe)
        except CycleError as failure:
            run.problems.append(str(failure))
            break
        series.append(sample)
        run.cycles_done = number
        if number in checkpoints:
            sizes[number] = driver.state_bytes(case)
        if number < run.cycles and status != InstanceStatus.WAITING:
            run.problems.append(f"cycle {number}: status {status!r} after the review, expected 'waiting'")
            break
        if number % 100 == 0:
            progress(f"  {run.backend}: cycle {number}/{run.cycles}")
    return series, fresh, sizes


def verify(driver: LongCaseDriver, case: int, run: EngineRun) -> None:
    """Every cycle ran: completed, turn == cycles, one archived sub-process per cycle."""
    run.final_status, run.final_turn, run.archived = driver.outcome(case)
    if run.final_status != InstanceStatus.COMPLETED:
        run.problems.append(f"final status {run.final_status!r}, expected 'completed'")
    if run.final_turn != run.cycles:
        run.problems.append(f"final turn {run.final_turn}, expected {run.cycles}")
    if run.archived != run.cycles:
        run.problems.append(f"{run.archived} archived sub-process rows, expected {run.cycles}")


# ----------------------------------------------------------------------------- plain SpiffWorkflow


@dataclass
class MemoryRun:
    """The plain in-memory SpiffWorkflow run of the back-edge loop."""

    cycles: int
    checkpoints: list[Checkpoint] = field(default_factory=list)
    completions: int = 0
    stopped_at: int | None = None  # the iteration whose get_tasks(READY, manual=True) was []
    is_completed_when_stopped: bool | None = None
    ready_left_behind: list[str] = field(default_factory=list)
    final_turn: int | None = None
    finished_correctly: bool = False
    seconds: float = 0.0


def back_edge_spec() -> Any:
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(BACK_EDGE_FILE))
    return parser.get_spec(BACK_EDGE_PROCESS)


def new_back_edge_workflow(spec: Any, cycles: int) -> BpmnWorkflow:
    workflow = BpmnWorkflow(spec)
    workflow.get_next_task(state=TaskState.READY).data.update({"turn": 0, "cycles": cycles})
    workflow.do_engine_steps()
    return workflow


def complete_one(workflow: BpmnWorkflow) -> bool:
    """Complete the ready human task and run the engine; False when there is none to complete."""
    ready = workflow.get_tasks(state=TaskState.READY, manual=True)
    if not ready:
        return False
    ready[0].run()
    workflow.do_engine_steps()
    return True


def highest_turn(workflow: BpmnWorkflow) -> int:
    return max((int(t.data.get("turn", 0)) for t in workflow.tasks.values()), default=0)


def run_in_memory(cycles: int, checkpoints: Sequence[int], size: int) -> MemoryRun:
    """The back-edge loop in plain SpiffWorkflow: time each completion, find where it stops."""
    run = MemoryRun(cycles)
    began = time.perf_counter()
    spec = back_edge_spec()

    warm = new_back_edge_workflow(spec, WARM_UP_CYCLES)
    while complete_one(warm):
        pass
    first = [
        timed(partial(complete_one, new_back_edge_workflow(spec, cycles)))[1] for _ in range(FRESH_STARTS)
    ]

    workflow = new_back_edge_workflow(spec, cycles)
    series: list[float] = []
    for iteration in range(1, cycles + 1):
        done, timing = timed(partial(complete_one, workflow))
        if not done:
            run.stopped_at = iteration
            break
        series.append(timing)
        run.completions = iteration
    run.final_turn = highest_turn(workflow)
    if run.stopped_at is not None:
        run.is_completed_when_stopped = workflow.is_completed()
        run.ready_left_behind = sorted(
            t.task_spec.bpmn_id or t.task_spec.name
            for t in workflow.tasks.values()
            if t.has_state(TaskState.READY)
        )
    run.finished_correctly = run.stopped_at is None and workflow.is_completed() and run.final_turn == cycles

    for cycle in checkpoints:
        timings = [*first, *series[:1]] if cycle == 1 else window(series, cycle, size)
        run.checkpoints.append(Checkpoint(cycle, len(timings), median(timings)))
    run.seconds = time.perf_counter() - began
    return run


# ----------------------------------------------------------------------------- printing


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def at(points: Sequence[Checkpoint], cycle: int) -> Checkpoint | None:
    return next((p for p in points if p.cycle == cycle), None)


def print_engine_run(run: EngineRun) -> None:
    print(
        f"riskflow on {run.backend}: {run.cycles} cycles of "
        "timer (P14D) -> user task (lane Officer) -> script"
    )
    print("  (a standard-loop sub-process, each finished turn archived; driven by a ManualClock)")
    print(
        f"  {'cycle':>6} | {'complete_task ms':>16} | {'(fresh)':>7} | {'timer step ms':>13} | "
        f"{'(fresh)':>7} | {'live state bytes':>16} | samples"
    )
    print(f"  {'-' * 6}-+-{'-' * 16}-+-{'-' * 7}-+-{'-' * 13}-+-{'-' * 7}-+-{'-' * 16}-+--------")
    for point in run.checkpoints:
        size = "-" if point.state_bytes is None else f"{point.state_bytes:,}"
        print(
            f"  {point.cycle:>6} | {ms(point.complete_ms):>16} | {ms(point.fresh_ms):>7} | "
            f"{ms(point.timer_ms):>13} | {ms(point.fresh_timer_ms):>7} | {size:>16} | {point.samples}"
        )
    print("  (fresh): the same step in the first cycle of new instances, timed alternately with the long")
    print(
        "  case's cycles in the same window (same database, same machine load): only the case's age differs."
    )
    verdict = "PASS" if run.correct else "FAIL"
    print(
        f"  correctness: {verdict}: {run.cycles_done}/{run.cycles} cycles run, final status "
        f"{run.final_status!r}, turn {run.final_turn} (expected {run.cycles}), "
        f"{run.archived} archived sub-process rows (expected {run.cycles})"
    )
    for problem in run.problems:
        print(f"    - {problem}")
    print(f"  wall time {run.seconds:.1f} s; load average after: {run.load_after}")
    print()


def print_memory_run(run: MemoryRun) -> None:
    print(
        "plain SpiffWorkflow 3.2.0 in memory: back-edge loop user task -> script -> gateway (no timer), "
        f"capped at {run.cycles} iterations"
    )
    print(
        "  (SpiffBpmnParser; get_tasks(READY, manual=True), task.run(), do_engine_steps(); nothing persisted)"
    )
    print(f"  {'iteration':>9} | {'ms per completed task':>21} | samples")
    print(f"  {'-' * 9}-+-{'-' * 21}-+--------")
    for point in run.checkpoints:
        shown = ms(point.complete_ms) if point.complete_ms is not None else "never reached"
        print(f"  {point.cycle:>9} | {shown:>21} | {point.samples}")
    if run.stopped_at is not None:
        print(
            f"  stopped silently at iteration {run.stopped_at} (after {run.completions} completions): "
            f"get_tasks(READY, manual=True) == [], is_completed() == {run.is_completed_when_stopped}, "
            f"turn {run.final_turn} of {run.cycles}, READY tasks still in wf.tasks: {run.ready_left_behind}"
        )
    elif run.finished_correctly:
        print(f"  ran all {run.cycles} iterations and completed (turn {run.final_turn})")
    else:
        print(f"  ran {run.completions} iterations but did not complete correctly (turn {run.final_turn})")
    print(f"  wall time {run.seconds:.1f} s")
    print()


def print_side_by_side(
    runs: Sequence[EngineRun], memory: MemoryRun | None, checkpoints: Sequence[int]
) -> None:
    print("Side by side: median ms to complete one task")
    columns: list[tuple[str, Sequence[Checkpoint], str]] = [
        (f"riskflow {r.backend} (persisted)", r.checkpoints, "-") for r in runs
    ]
    if memory is not None:
        columns.append(("plain SpiffWorkflow (in memory)", memory.checkpoints, "stopped"))
    print("  " + " | ".join([f"{'cycle':>6}", *(title for title, _, _ in columns)]))
    for cycle in checkpoints:
        cells = [f"{cycle:>6}"]
        for title, points, missing in columns:
            point = at(points, cycle)
            value = point.complete_ms if point is not None else None
            cells.append(f"{missing if value is None else ms(value):>{len(title)}}")
        print("  " + " | ".join(cells))
    print()


def growth(points: Sequence[Checkpoint], base: Checkpoint | None) -> tuple[Checkpoint, float] | None:
    """The last checkpoint reached and its complete_task time over `base`'s."""
    reached = [p for p in points if p.complete_ms is not None and p.cycle > 1]
    if base is None or not base.complete_ms or not reached:
        return None
    last = reached[-1]
    return last, (last.complete_ms or 0.0) / base.complete_ms


def timer_ratio(point: Checkpoint) -> str:
    if point.timer_ms and point.fresh_timer_ms:
        return f", timer step {point.timer_ms / point.fresh_timer_ms:.2f}x"
    return ""


def print_summary(runs: Sequence[EngineRun], memory: MemoryRun | None) -> None:
    print("Summary against the goals (figures only: time never fails the run)")
    for r in runs:
        first = at(r.checkpoints, 1)
        if r.backend == "SQLite" and first is not None:
            met = (
                "met"
                if first.complete_ms is not None and first.complete_ms <= GOAL_CYCLE_ONE_MS
                else "NOT met"
            )
            print(
                f"  persisted completion at cycle 1 on SQLite: {ms(first.complete_ms)} ms "
                f"(goal <= {GOAL_CYCLE_ONE_MS:g} ms): {met}"
            )
    for r in runs:
        first = at(r.checkpoints, 1)
        found = growth(r.checkpoints, first)
        if first is None or found is None:
            print(f"  growth on {r.backend}: not measurable")
            continue
        last, ratio = found
        met = "met" if ratio <= GOAL_GROWTH else "NOT met"
        print(
            f"  complete_task at cycle {last.cycle} / cycle 1 on {r.backend}: {ms(last.complete_ms)} / "
            f"{ms(first.complete_ms)} ms = {ratio:.2f}x (goal <= {GOAL_GROWTH:g}x): {met}"
        )
        if last.fresh_ms and last.complete_ms:
            print(
                f"    against fresh instances in the same window (the case's age alone): complete_task "
                f"{last.complete_ms / last.fresh_ms:.2f}x{timer_ratio(last)}"
            )
    for r in runs:
        print(f"  all {r.cycles} cycles correct on {r.backend}: {'PASS' if r.correct else 'FAIL'}")
    if memory is not None:
        where = (
            f"stopped silently at iteration {memory.stopped_at}"
            if memory.stopped_at is not None
            else f"ran all {memory.completions} iterations"
        )
        found = growth(memory.checkpoints, at(memory.checkpoints, 1))
        slowed = f"; {found[1]:.1f}x slower at iteration {found[0].cycle} than at 1" if found else ""
        print(f"  plain SpiffWorkflow back-edge loop: {where}{slowed}")


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.long_case", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--cycles", type=int, default=DEFAULT_CYCLES, help="review cycles to run (default 1000)"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(POSTGRES_ENV, ""),
        metavar="URL",
        help=f"PostgreSQL URL; its riskflow tables are dropped and recreated (default: ${POSTGRES_ENV})",
    )
    parser.add_argument(
        "--checkpoints",
        default=",".join(str(c) for c in DEFAULT_CHECKPOINTS),
        help="cycles to report, comma-separated (default 1,10,100,300,1000)",
    )
    parser.add_argument(
        "--window", type=int, default=DEFAULT_WINDOW, help="cycles in each checkpoint's median (default 9)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON here")
    parser.add_argument("--skip-memory", action="store_true", help="skip the plain SpiffWorkflow comparison")
    args = parser.parse_args(argv)
    if args.cycles < 1 or args.window < 1:
        parser.error("--cycles and --window must be at least 1")
    try:
        points = sorted({int(c) for c in args.checkpoints.split(",") if c.strip()})
    except ValueError:
        parser.error("--checkpoints takes whole numbers separated by commas")
    args.checkpoint_list = [c for c in points if 1 <= c <= args.cycles] or [1]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cycles: int = args.cycles
    checkpoints: list[int] = args.checkpoint_list
    size: int = args.window
    print(
        f"riskflow long-case benchmark: {cycles} cycles, checkpoints {checkpoints}; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load_average()}"
    )
    print(
        f"Each checkpoint is the median of the {size} cycles ending at it; cycle 1 is the median of the "
        f"first cycle of {FRESH_STARTS + 1} fresh instances (the long case and {FRESH_STARTS} others)."
    )
    print()

    runs: list[EngineRun] = []
    unreachable = False
    with tempfile.TemporaryDirectory(prefix="riskflow-bench-") as folder:
        progress("riskflow on SQLite ...")
        url = f"sqlite:///{folder}/bench.db"
        runs.append(run_engine("SQLite", url, cycles, checkpoints, size=size, recreate=False))
        print_engine_run(runs[-1])
    if args.postgres:
        progress("riskflow on PostgreSQL ...")
        try:
            runs.append(
                run_engine("PostgreSQL", args.postgres, cycles, checkpoints, size=size, recreate=True)
            )
            print_engine_run(runs[-1])
        except OperationalError as err:
            unreachable = True
            print(f"PostgreSQL: could not use {args.postgres}: {str(err).splitlines()[0]}")
            print()
    else:
        print(f"PostgreSQL: skipped (no --postgres URL and ${POSTGRES_ENV} is not set)")
        print()

    memory: MemoryRun | None = None
    if not args.skip_memory:
        progress("plain SpiffWorkflow in memory ...")
        memory = run_in_memory(cycles, checkpoints, size)
        print_memory_run(memory)

    print_side_by_side(runs, memory, checkpoints)
    print_summary(runs, memory)

    if args.json:
        report = {
            "cycles": cycles,
            "checkpoints": checkpoints,
            "window": size,
            "cycle_one_instances": FRESH_STARTS + 1,
            "generated_at": datetime.now(UTC).isoformat(),
            "riskflow": [{**asdict(r), "correct": r.correct} for r in runs],
            "in_memory": asdict(memory) if memory is not None else None,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")

    if any(not r.correct for r in runs):
        return 1
    return 2 if unreachable else 0


if __name__ == "__main__":
    sys.exit(main())
