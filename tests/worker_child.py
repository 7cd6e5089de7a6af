"""A worker in its own process, for the tests that run several workers or kill one mid-step.

Usage: python tests/worker_child.py DATABASE_URL NOW [--markers DIR] [--meet PEER_DIR] [--hold]

Fires due timers on a clock standing at NOW (an ISO date-time, the test's clock) until a sweep
finds nothing left due, then exits. The `slow_step` service prints "in step <instance id>" on
standard output and, with --markers, writes a file `in-step-<instance id>` there (so a test knows
which worker stepped which instance). With --hold it then waits for ever: the test reads the line
and kills the process inside the step.

With --meet (the other worker's marker folder), the first `slow_step` waits, still inside its step
and so still holding its claimed instances, until the other worker is inside a step too (up to
RENDEZVOUS_SECONDS), and writes `met-peer` if it was. Two workers can only both be inside a step at
once if the second could claim instances while the first holds its own: with SKIP LOCKED it skips
them; without it, it waits for the first worker's transaction and the two never meet.
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import datetime
from pathlib import Path

from engine.clock import ManualClock
from engine.db import Database
from engine.runtime import ProcessEngine
from engine.scripting import ServiceRegistry, StepContext

RENDEZVOUS_SECONDS = 30.0


def meet(marker_dir: Path, peer_dir: Path) -> None:
    """Say this worker is inside a step; wait for the other to say so too; note whether it did."""
    here = marker_dir / "inside-a-step"
    here.write_text("waiting")
    deadline = time.monotonic() + RENDEZVOUS_SECONDS
    while time.monotonic() < deadline:
        if (peer_dir / "inside-a-step").exists():
            (marker_dir / "met-peer").write_text("met")
            return
        time.sleep(0.02)
    here.unlink()  # gone before this step commits: a worker arriving later cannot meet this one


def main() -> None:
    """Sweep the due timers of the database at NOW until none is left."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("now", type=datetime.fromisoformat)
    parser.add_argument("--markers", type=Path)
    parser.add_argument("--meet", type=Path)
    parser.add_argument("--hold", action="store_true")
    args = parser.parse_args()
    services = ServiceRegistry()
    first_step = [True]

    def slow_step(ctx: StepContext) -> dict[str, bool]:
        print(f"in step {ctx.instance_id}", flush=True)
        if args.markers is not None:
            (args.markers / f"in-step-{ctx.instance_id}").write_text("started")
            if args.meet is not None and first_step[0]:
                first_step[0] = False
                meet(args.markers, args.meet)
        if args.hold:
            threading.Event().wait()  # never set: the test kills this process inside the step
        return {"done": True}

    services.register("slow_step", slow_step)
    engine = ProcessEngine(
        Database(args.url), clock=ManualClock(args.now), services=services, known_roles={"CLERK", "MANAGER"}
    )
    # A sweep that finds nothing means every due timer has fired, or is being fired by another
    # worker (which sweeps again itself): nothing is left for this one.
    while engine.fire_due_timers(limit=50):
        pass


if __name__ == "__main__":
    main()
