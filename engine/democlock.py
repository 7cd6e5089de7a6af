"""The demo clock: moving a demo deployment's time forward, shared through the database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.clock import Clock, OffsetClock
from engine.db import Database
from engine.models import AuditEvent, ClockSetting


def demo_clock(db: Database, base: Clock | None = None) -> OffsetClock:
    """A clock that runs at real speed, ahead of real time (`base`, the system's unless given) by the
    offset stored in the database."""

    def read_offset() -> timedelta:
        with db.transaction(write=False) as session:
            seconds = session.scalar(select(ClockSetting.offset_seconds).where(ClockSetting.id == 1))
        return timedelta(seconds=seconds or 0.0)

    return OffsetClock(read_offset, base=base)


def advance_demo_clock(db: Database, clock: Clock, by: timedelta, *, actor: str) -> timedelta:
    """Move the demo clock on by `by`; returns the new total offset. Audited."""
    if by <= timedelta(0):
        raise ValueError("the clock only moves forward: give a positive duration such as 14d")
    with db.transaction() as session:
        setting = session.get(ClockSetting, 1, with_for_update=True)
        now = clock.now()
        if setting is None:
            setting = ClockSetting(id=1, offset_seconds=0.0, changed_at=now, changed_by=actor)
            session.add(setting)
        setting.offset_seconds += by.total_seconds()
        setting.changed_at = now
        setting.changed_by = actor
        session.add(
            AuditEvent(at=now, actor=actor, event="clock_advanced", detail={"by_seconds": by.total_seconds()})
        )
        total = timedelta(seconds=setting.offset_seconds)
    if isinstance(clock, OffsetClock):
        clock.forget()
    return total
