"""Timers on the engine's clock: SpiffWorkflow reads the time through us, and due times are indexed.

SpiffWorkflow's timer events ask `datetime.now()` directly. So that tests and demo deployments can
move time, the engine gives that module a datetime whose `now()` answers from the clock of the
step being run (and real time outside a step).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.clock import Clock

_active_clock: contextvars.ContextVar[Clock | None] = contextvars.ContextVar("riskflow_clock", default=None)
_install_lock = threading.Lock()

TIMER_EVENT_TYPES = ("DurationTimerEventDefinition", "TimeDateEventDefinition", "CycleTimerEventDefinition")


class _ClockedDateTime(datetime):
    """`datetime` whose now() is the running step's clock."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> Any:
        clock = _active_clock.get()
        if clock is None:
            return datetime.now(tz)
        current = clock.now()
        return current.astimezone(tz) if tz is not None else current.astimezone().replace(tzinfo=None)


def _install() -> None:
    with _install_lock:
        if spiff_timer.datetime is not _ClockedDateTime:
            spiff_timer.datetime = _ClockedDateTime


@contextmanager
def use_clock(clock: Clock) -> Iterator[None]:
    """Run the block with SpiffWorkflow's timers reading `clock`."""
    _install()
    token = _active_clock.set(clock)
    try:
        yield
    finally:
        _active_clock.reset(token)


def next_timer_due(workflow: Any) -> datetime | None:
    """The earliest time a waiting timer of this workflow is due (aware UTC), or None."""
    due = [
        TimerEventDefinition.get_datetime(event.value)
        for event in workflow.waiting_events()
        if event.event_type in TIMER_EVENT_TYPES and isinstance(event.value, str)
    ]
    return min(due) if due else None
