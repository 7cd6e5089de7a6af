"""A worker in its own process, for the tests that run several workers or kill one mid-step.

Usage: python tests/worker_child.py DATABASE_URL MARKER_DIR SLOW_SECONDS RUN_SECONDS [PEER_DIR]
Fires due timers (on real time) until RUN_SECONDS pass with nothing left to do. The `slow_step`
service writes a marker file naming the instance (so a test knows which worker stepped it), then
sleeps SLOW_SECONDS: the test kills the process in that sleep.

With PEER_DIR (the other worker's MARKER_DIR), the first `slow_step` waits, still inside its step
and so still holding its claimed instances, until the other worker is inside a step too (up to
RENDEZVOUS_SECONDS), and writes `met-peer` if it was. Two workers can only both be inside a step at
once if the second could claim instances while the first holds its own: with SKIP LOCKED it skips
them; without it, it waits for the first worker's transaction and the two never meet.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

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
    url, marker_dir, slow_seconds, run_seconds = (
        sys.argv[1],
        Path(sys.argv[2]),
        float(sys.argv[3]),
        float(sys.argv[4]),
    )
    peer_dir = Path(sys.argv[5]) if len(sys.argv) > 5 else None
    services = ServiceRegistry()
    first_step = [True]

    def slow_step(ctx: StepContext) -> dict[str, bool]:
        (marker_dir / f"in-step-{ctx.instance_id}").write_text("started")
        if peer_dir is not None and first_step[0]:
            first_step[0] = False
            meet(marker_dir, peer_dir)
        time.sleep(slow_seconds)
        return {"done": True}

    services.register("slow_step", slow_step)
    engine = ProcessEngine(Database(url), services=services, known_roles={"CLERK", "MANAGER"})
    (marker_dir / "ready").write_text("ready")
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < run_seconds:
        if engine.fire_due_timers(limit=50):
            idle_since = time.monotonic()
        else:
            time.sleep(0.05)


if __name__ == "__main__":
    main()
