"""A worker in its own process, for the tests that run several workers or kill one mid-step.

Usage: python tests/worker_child.py DATABASE_URL NOW
Fires due timers on a clock standing at NOW (an ISO date-time, the test's clock) until a sweep
finds nothing left due, then exits. The `slow_step` service prints "in step <instance id>" on
standard output and then waits for ever: the test reads that line and kills the process there.
"""

from __future__ import annotations

import sys
import threading
from datetime import datetime

from engine.clock import ManualClock
from engine.db import Database
from engine.runtime import ProcessEngine
from engine.scripting import ServiceRegistry, StepContext


def main() -> None:
    """Sweep the due timers of the database at NOW until none is left."""
    url, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
    services = ServiceRegistry()

    def slow_step(ctx: StepContext) -> dict[str, bool]:
        print(f"in step {ctx.instance_id}", flush=True)
        threading.Event().wait()  # never set: the test kills this process inside the step
        return {"done": True}

    services.register("slow_step", slow_step)
    engine = ProcessEngine(
        Database(url), clock=ManualClock(now), services=services, known_roles={"CLERK", "MANAGER"}
    )
    # A sweep that finds nothing means every due timer has fired, or is being fired by another
    # worker (which sweeps again itself): nothing is left for this one.
    while engine.fire_due_timers(limit=50):
        pass


if __name__ == "__main__":
    main()
