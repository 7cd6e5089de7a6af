"""The background worker: fires due timers and empties the outbox, sleeping until the next timer.

Run any number of workers on PostgreSQL (each claims instances with SKIP LOCKED); on SQLite run
one (`riskflow serve` starts one in-process). A worker killed in the middle of a step loses
nothing: the step's transaction rolls back and the timer is still due for the next worker.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from engine.messaging import OutboxHandlers
from engine.runtime import ProcessEngine

log = logging.getLogger("riskflow.worker")


@dataclass
class SweepResult:
    """What one pass of the worker did."""

    timers_fired: int
    messages_sent: int

    @property
    def busy(self) -> bool:
        """Whether there may be more work straight away."""
        return bool(self.timers_fired or self.messages_sent)


class Worker:
    """Fires timers when they fall due; `poll_seconds` bounds the sleep as a safety net."""

    def __init__(
        self,
        engine: ProcessEngine,
        *,
        outbox: OutboxHandlers | None = None,
        poll_seconds: float = 5.0,
        batch: int = 200,
    ) -> None:
        self.engine = engine
        self.outbox = outbox or OutboxHandlers()
        self.poll_seconds = poll_seconds
        self.batch = batch

    def run_once(self) -> SweepResult:
        """Fire what is due now and hand on what the outbox holds."""
        fired = self.engine.fire_due_timers(limit=self.batch)
        sent = self.engine.deliver_outbox(self.outbox, limit=self.batch)
        return SweepResult(fired, sent)

    def seconds_until_next_timer(self, *, swept_at: datetime | None = None) -> float:
        """How long to sleep: until the earliest due timer, at most `poll_seconds`.

        A timer already due when the sweep began (`swept_at`) and still waiting after it could not be
        fired by that sweep (its step failed and was logged, or another worker holds it): it waits
        the poll interval rather than being retried at once, over and over.
        """
        due = self.engine.next_timer_at()
        if due is None or (swept_at is not None and due <= swept_at):
            return self.poll_seconds
        wait = (due - self.engine.clock.now()).total_seconds()
        return max(0.0, min(wait, self.poll_seconds))

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set; an error in one sweep is logged and the next sweep goes on."""
        log.info("worker started")
        while not stop.is_set():
            swept_at = self.engine.clock.now()
            try:
                result = self.run_once()
            except Exception:
                log.exception("worker sweep failed; retrying after the poll interval")
                stop.wait(self.poll_seconds)
                continue
            if result.busy:
                log.debug("fired %d timer(s), sent %d message(s)", result.timers_fired, result.messages_sent)
                continue
            stop.wait(self.seconds_until_next_timer(swept_at=swept_at))
        log.info("worker stopped")

    def start_in_thread(self) -> tuple[threading.Thread, threading.Event]:
        """Run in a daemon thread (for `riskflow serve`); set the event to stop it."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="riskflow-worker", daemon=True)
        thread.start()
        return thread, stop
