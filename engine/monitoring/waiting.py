"""One wait of one instance (an error, a task, a message, a timer) in fields, and why it waits in words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.clock import WorkingCalendar

# A timer this far past due has not been fired: the workers are behind or stopped.
TIMER_GRACE = timedelta(minutes=15)


@dataclass(frozen=True)
class Waiting:
    """One instance waiting at one step, and why, in fields; `reason()` says it in words."""

    kind: str  # "error", "task", "message", "timer"
    instance_id: int
    business_key: str
    status: str
    element_id: str | None
    step: str
    since: datetime | None
    expected: str = ""
    task_id: int | None = None
    holder: str | None = None  # username holding the task; None: in its role's pool
    role: str | None = None
    due_at: datetime | None = None
    message: str | None = None
    error: Mapping[str, Any] | None = None

    def reason(
        self, now: datetime, calendar: WorkingCalendar, people: Mapping[str, str] | None = None
    ) -> str:
        """Why the instance waits, in plain words ("task held by J. Smith (on leave) for 12 working days")."""
        people = people or {}
        if self.kind == "error":
            error = dict(self.error or {})
            where = f" line {error['line']}" if error.get("line") else ""
            message = str(error.get("message") or "no message recorded")
            return f"failed at {self.step}{where}: {message}"
        if self.kind == "task":
            days = calendar.working_days_between(self.since.date(), now.date()) if self.since else 0
            length = f"for {days} working day{'' if days == 1 else 's'}"
            if self.holder:
                who = people.get(self.holder, self.holder)
                text = f"task held by {who} {length}"
            else:
                pool = f"the {self.role} pool" if self.role else "the pool"
                text = f"task waiting in {pool}, unclaimed, {length}"
            if self.due_at is not None and self.due_at < now:
                text += f" (overdue since {short_date(self.due_at, now)})"
            return text
        if self.kind == "message":
            since = f" since {short_date(self.since, now)}" if self.since else ""
            return f"waiting for the {self.message} message{since}"
        due = f"timer due {short_date(self.due_at, now)}" if self.due_at else "waiting for a timer"
        if self.due_at is not None and self.due_at + TIMER_GRACE < now:
            return f"{due} has not fired: the workers are behind or stopped"
        return due


def short_date(moment: datetime, now: datetime) -> str:
    """3 Nov, or 3 Nov 2025 when not in the year of `now` (UTC dates)."""
    return f"{moment.day} {moment:%b}" if moment.year == now.year else f"{moment.day} {moment:%b %Y}"


@dataclass
class StuckReport:
    """The stuck instances (errors first, then longest waiting), and whether there are more."""

    items: list[Waiting]
    more: bool
