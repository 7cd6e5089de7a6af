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
from datetime import UTC, datetime, tzinfo
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.clock import Clock
from engine.events import waiting_events

_active_clock: contextvars.ContextVar[Clock | None] = contextvars.ContextVar("riskflow_clock", default=None)
_install_lock = threading.Lock()


class _ClockedDateTime(datetime):
    """`datetime` whose now() is the running step's clock."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> Any:
        clock = _active_clock.get()
        current = clock.now() if clock is not None else datetime.now(UTC)
        local = current.astimezone(tz) if tz is not None else current.astimezone().replace(tzinfo=None)
        return _Now.fromisoformat(local.isoformat())


class _Now(_ClockedDateTime):
    """The current time, compared so that a timer due exactly now counts as fired.

    SpiffWorkflow fires a timer when `due < now`; the engine claims instances with
    `next_timer_at <= now`. Python tries a subclass's reflected operator first, so `due < now`
    calls `now.__gt__(due)`, which we make inclusive.
    """

    def __gt__(self, other: Any) -> bool:
        return datetime.__ge__(self, other)


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
        TimerEventDefinition.get_datetime(event.details.value)
        for event in waiting_events(workflow)
        if event.is_timer and isinstance(event.details.value, str)
    ]
    return min(due) if due else None
