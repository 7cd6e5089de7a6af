"""When work is due, in the words every list uses: overdue, due soon, due this week.

One home for the working week's end and a task's due status: the inbox, the task page, the case
record and the monitor all count "this week" and "overdue" the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.clock import DISPLAY_ZONE

DUE_SOON = timedelta(days=3)


def end_of_week(now: datetime) -> datetime:
    """The end of this week, UK time: the first moment of next Monday ("due this week" is before it)."""
    local = now.astimezone(DISPLAY_ZONE)
    sunday = local.date() + timedelta(days=6 - local.weekday())
    return datetime.combine(sunday + timedelta(days=1), datetime.min.time(), tzinfo=DISPLAY_ZONE)


def due_this_week(due_at: datetime | None, now: datetime) -> bool:
    """Whether a task falls due from now until the end of this week."""
    return due_at is not None and now <= due_at < end_of_week(now)


def due_status(due_at: datetime | None, now: datetime) -> str:
    """ "overdue" when past due, "due soon" within DUE_SOON, else ""."""
    if due_at is None:
        return ""
    if due_at < now:
        return "overdue"
    return "due soon" if due_at - now <= DUE_SOON else ""
