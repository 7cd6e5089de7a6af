"""A worker in its own process, for the tests that run several workers or kill one mid-step.

Usage: python tests/worker_child.py DATABASE_URL MARKER_DIR SLOW_SECONDS RUN_SECONDS
Fires due timers (on real time) until RUN_SECONDS pass with nothing left to do. The `slow_step`
service writes a marker file, then sleeps SLOW_SECONDS: the test kills the process in that sleep.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from engine.db import Database
from engine.runtime import ProcessEngine
from engine.scripting import ServiceRegistry, StepContext


def main() -> None:
    url, marker_dir, slow_seconds, run_seconds = (
        sys.argv[1],
        Path(sys.argv[2]),
        float(sys.argv[3]),
        float(sys.argv[4]),
    )
    services = ServiceRegistry()

    def slow_step(ctx: StepContext) -> dict[str, bool]:
        (marker_dir / f"in-step-{ctx.instance_id}").write_text("started")
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
