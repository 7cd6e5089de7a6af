"""One injectable clock for the whole system, and working-day arithmetic for due dates."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays

DISPLAY_ZONE = ZoneInfo("Europe/London")
# The forms a span of time takes (a step's `dueIn`, a standard's timescale, a step's expected time):
# a number of working days, or an ISO 8601 duration.
WORKING_DAYS = re.compile(r"^(\d+)\s*(working|business)\s+days?$", re.IGNORECASE)
ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


def area_date(moment: datetime) -> date:
    """The area's calendar day at `moment` (an aware datetime): what "today" means on a form."""
    return moment.astimezone(DISPLAY_ZONE).date()


class Clock(Protocol):
    """Anything that tells the time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """Real UTC time, for production."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: for tests and demo deployments."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime.now(UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to `when` (aware)."""
        if when.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        with self._lock:
            self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta` and return the new time."""
        with self._lock:
            self._now += delta
            return self._now


class WorkingCalendar:
    """Working days: Monday to Friday, less the public holidays of one jurisdiction.

    The holiday tables come from the `holidays` package, installed with the app: nothing is
    fetched at run time. The default is England and Wales (subdivision ENG covers both).
    """

    def __init__(self, country: str = "GB", subdivision: str | None = "ENG") -> None:
        self.country = country
        self.subdivision = subdivision
        # expand=True: a year's holidays are computed the first time a date in it is asked about.
        self._holidays = holidays.country_holidays(country, subdiv=subdivision, expand=True)

    def is_working_day(self, day: date) -> bool:
        """True for a weekday that is not a public holiday."""
        return day.weekday() < 5 and day not in self._holidays

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same local time of day, `days` working days after `start` (counted in UK time)."""
        if days < 0:
            raise ValueError("working days must not be negative")
        local = start.astimezone(DISPLAY_ZONE)
        day = local.date()
        remaining = days
        while remaining:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        moved = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=DISPLAY_ZONE)
        return moved.astimezone(UTC)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


class OffsetClock:
    """Real time plus an offset read from a shared source: a demo clock every process agrees on.

    The offset is re-read at most every `refresh_seconds`, so `riskflow clock advance` in one
    process moves the clock of the web app and the workers within moments. `base` tells the real
    time (the system's unless given: tests give a clock that stands still).
    """

    def __init__(
        self, read_offset: Callable[[], timedelta], refresh_seconds: float = 1.0, base: Clock | None = None
    ) -> None:
        self._read_offset = read_offset
        self._base = base or SystemClock()
        self._refresh = refresh_seconds
        self._offset = timedelta(0)
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            if time.monotonic() - self._read_at >= self._refresh:
                self._offset = self._read_offset()
                self._read_at = time.monotonic()
            return self._base.now() + self._offset

    def forget(self) -> None:
        """Read the offset afresh on the next call."""
        with self._lock:
            self._read_at = float("-inf")
