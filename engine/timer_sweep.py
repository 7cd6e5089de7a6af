"""Firing due timers: the worker's sweep claims due instances in batches and steps each one.

The claim locks the instances whose next timer is due, oldest due first; on PostgreSQL it skips
rows another worker holds (SELECT ... FOR UPDATE SKIP LOCKED), so any number of workers share the
work. Each timer is a step (`engine.stepping`); a batch commits together.
"""

from __future__ import annotations

import logging
from datetime import datetime

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.db import Database
from engine.models import ProcessInstance
from engine.stepping import Stepper
from engine.steps import TIMED_STATUSES, Actor, StepState

log = logging.getLogger("riskflow.engine")

# Due instances one timer sweep claims and commits together (each stepped in its own savepoint).
TIMER_CLAIM_BATCH = 20


class TimerSweep:
    """Steps the instances whose timers are due, and says when the next one is."""

    def __init__(self, db: Database, clock: Clock, stepper: Stepper) -> None:
        self.db = db
        self.clock = clock
        self.stepper = stepper

    def fire_due_timers(self, *, limit: int | None = None, batch: int = TIMER_CLAIM_BATCH) -> int:
        """Step every instance whose next timer is due now; return how many steps were taken.

        Due instances are claimed `batch` at a time, oldest due first, locked, stepped one after
        the other and committed together: one commit per batch instead of one per timer is what
        makes a sweep fast. Each step is still all or nothing: if one fails unexpectedly the whole
        batch rolls back and the sweep goes on one instance at a time, so that the failing one is
        found, logged and left due for a later sweep while the others fire. On PostgreSQL the
        claim skips rows another worker holds, so any number of workers share the work; a worker
        killed mid-batch loses nothing (the batch rolls back and stays due).
        """
        fired = 0
        seen: set[int] = set()  # stepped in this sweep and still due, or failed: not claimed again
        while limit is None or fired < limit:
            size = batch if limit is None else min(batch, limit - fired)
            flush_each = size == 1
            now = self.clock.now()
            stepping: int | None = None
            try:
                with self.db.transaction() as session:
                    claimed = self._claim_due(session, now, seen, size)
                    still_due = []
                    for instance in claimed:
                        stepping = instance.id
                        self._fire_timer(session, instance, now, flush=flush_each)
                        if instance.next_timer_at is not None and instance.next_timer_at <= now:
                            still_due.append(instance.id)
                    stepping = None
            except Exception:
                if not flush_each:
                    # A batch writes at commit, so a failure may surface in a later step than its
                    # cause: go on one at a time, where each step's own flush names the instance.
                    log.warning("a batch of timer steps failed; going on one instance at a time")
                    batch = 1
                    continue
                if stepping is None:
                    raise  # the claim failed, not a step: nothing to single out
                log.exception("timer step of instance %s failed; it stays due", stepping)
                seen.add(stepping)
                continue
            if not claimed:
                return fired
            fired += len(claimed)
            seen.update(still_due)  # its timer did not move on: not again in this sweep
        return fired

    def _claim_due(self, session: Session, now: datetime, seen: set[int], size: int) -> list[ProcessInstance]:
        query = due_claim_query(now, size, skip_locked=self.db.supports_skip_locked)
        if seen:
            # An instance whose timer did not move on (or whose step failed) is not picked again.
            query = query.where(ProcessInstance.id.not_in(sorted(seen)))
        return list(session.scalars(query))

    def _fire_timer(self, session: Session, instance: ProcessInstance, now: datetime, *, flush: bool) -> None:
        due = instance.next_timer_at
        workflow = self.stepper.load(session, instance, step=True)
        state = StepState(session, instance, Actor.system(), now, flush=flush)
        lateness = (now - due).total_seconds() if due else 0.0
        state.record(
            "timer_fired", detail={"due_at": due.isoformat() if due else None, "late_seconds": lateness}
        )

        def fire(wf: BpmnWorkflow, _state: StepState) -> None:
            wf.refresh_timers()

        self.stepper.run(workflow, state, fire)

    def next_timer_at(self) -> datetime | None:
        """When the earliest waiting timer of any instance is due (for the worker's sleep)."""
        with self.db.transaction(write=False) as session:
            return session.scalar(
                select(func.min(ProcessInstance.next_timer_at)).where(
                    ProcessInstance.status.in_(TIMED_STATUSES)
                )
            )


def due_claim_query(now: datetime, size: int, *, skip_locked: bool) -> Select[ProcessInstance]:
    """The worker's claim: up to `size` instances with a due timer, oldest due first, locked."""
    return (
        select(ProcessInstance)
        .where(ProcessInstance.status.in_(TIMED_STATUSES), ProcessInstance.next_timer_at <= now)
        # Ordered by the indexed due time alone, so PostgreSQL can walk the index and lock the
        # first free rows instead of sorting every due row on each claim.
        .order_by(ProcessInstance.next_timer_at)
        .limit(size)
        .with_for_update(skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    )
