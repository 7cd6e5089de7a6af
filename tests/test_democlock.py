"""The demo clock moves forward for every process that shares the database, and is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import START
from sqlalchemy import select

from engine.clock import ManualClock
from engine.db import Database
from engine.democlock import advance_demo_clock, demo_clock
from engine.models import AuditEvent


def test_advancing_the_demo_clock_moves_every_clock_on_the_database(
    database: Database, clock: ManualClock
) -> None:
    # `clock` stands in for real time, which stands still here: the offset alone moves the clocks.
    web, worker = demo_clock(database, base=clock), demo_clock(database, base=clock)
    assert worker.now() == START
    total = advance_demo_clock(database, web, timedelta(days=14), actor="demo.admin")
    worker.forget()
    assert total == timedelta(days=14)
    assert worker.now() == web.now() == START + timedelta(days=14)
    clock.advance(timedelta(hours=1))  # and real time still runs under the offset
    assert worker.now() == START + timedelta(days=14, hours=1)
    with database.transaction(write=False) as session:
        events = session.scalars(select(AuditEvent.actor).where(AuditEvent.event == "clock_advanced")).all()
    assert events == ["demo.admin"]


def test_the_demo_clock_never_goes_back(database: Database) -> None:
    with pytest.raises(ValueError, match="forward"):
        advance_demo_clock(database, demo_clock(database), timedelta(days=-1), actor="demo.admin")
