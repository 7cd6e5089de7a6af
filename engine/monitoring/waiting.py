"""One wait of one instance (an error, a suspension, a task, a message, a timer) in fields, whether it
is late, and why it waits in words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.clock import WorkingCalendar
from engine.monitoring.model import Expected, plural, span

# A timer this far past due has not been fired: the workers are behind or stopped.
TIMER_GRACE = timedelta(minutes=15)

# The kinds of wait, in the order a list shows one instance's waits, with what a stuck one is called.
KINDS = {
    "error": "In error",
    "suspended": "Suspended",
    "task": "Late task",
    "message": "Wait past its expected time",
    "timer": "Timer not fired",
}


@dataclass(frozen=True)
class Waiting:
    """One instance waiting at one step, and why, in fields; `reason()` says it in words.

    `late` is decided where the wait is read (engine.monitoring.queries): an error and a suspension
    always are; a task past its due date or its step's expected time; a message wait past the
    receiving step's expected time (`expected` empty: a standing wait, never late); a timer more
    than TIMER_GRACE past due.
    """

    kind: str  # one of KINDS
    instance_id: int
    business_key: str
    status: str
    element_id: str | None
    step: str
    since: datetime | None
    expected: str = ""  # the step's expected time as the model says it; "" for a standing wait
    task_id: int | None = None
    holder: str | None = None  # username holding the task (or who suspended); None: in its role's pool
    role: str | None = None
    due_at: datetime | None = None
    due_standard: str | None = None  # the standard a task's due date keeps, in words
    message: str | None = None  # the message waited for, in words; a suspension's reason
    error: Mapping[str, Any] | None = None
    late: bool = False

    def sort_key(self, now: datetime) -> tuple[Any, ...]:
        """Errors first, then the longest waiting; ending in what makes one wait unique."""
        return (
            self.kind != "error",
            self.since or now,
            self.instance_id,
            list(KINDS).index(self.kind),
            self.task_id or 0,
            self.message or "",
        )

    def reason(
        self, now: datetime, calendar: WorkingCalendar, people: Mapping[str, str] | None = None
    ) -> str:
        """Why the instance waits, in plain words ("Overdue by 6 working days, held by J. Smith"; for a
        task due by a standard "Overdue by 2 working days against the National Standard: 15 working
        days from sentence, held by J. Smith")."""
        says = {
            "error": self._error_reason,
            "suspended": self._suspended_reason,
            "task": self._task_reason,
            "message": self._message_reason,
            "timer": self._timer_reason,
        }
        return says[self.kind](now, calendar, people or {})

    def _error_reason(self, now: datetime, calendar: WorkingCalendar, people: Mapping[str, str]) -> str:
        error = dict(self.error or {})
        where = f", line {error['line']}" if error.get("line") else ""
        return f"Error at {self.step}{where}: {error.get('message') or 'no message recorded'}"

    def _suspended_reason(self, now: datetime, calendar: WorkingCalendar, people: Mapping[str, str]) -> str:
        who = f" by {people.get(self.holder, self.holder)}" if self.holder else ""
        when = f" on {short_date(self.since, now)}" if self.since else ""
        return f"Suspended{when}{who}: {self.message or 'no reason recorded'}"

    def _timer_reason(self, now: datetime, calendar: WorkingCalendar, people: Mapping[str, str]) -> str:
        if self.due_at is None:
            return "Waiting for a timer"
        if self.late:
            return f"Timer due {ago(self.due_at, now)} has not fired: the workers are behind or stopped"
        return f"Waiting for a timer due {short_date(self.due_at, now)}"

    def _task_reason(self, now: datetime, calendar: WorkingCalendar, people: Mapping[str, str]) -> str:
        if self.holder:
            who = f"held by {people.get(self.holder, self.holder)}"
        else:
            who = f"unclaimed in the {self.role} pool" if self.role else "unclaimed in the pool"
        if self.due_at is not None and self.due_at < now:
            days = calendar.working_days_between(self.due_at.date(), now.date())
            by = f"by {plural(days, 'working day')}" if days else "since earlier today"
            against = f" against the {self.due_standard}" if self.due_standard else ""
            return f"Overdue {by}{against}, {who}"
        open_for = working_days_since(self.since, now, calendar)
        if self.late:
            return f"Open for {open_for}, expected within {Expected.parse(self.expected).words()}; {who}"
        return f"Open for {open_for}, {who}"

    def _message_reason(self, now: datetime, calendar: WorkingCalendar, people: Mapping[str, str]) -> str:
        what = f"the {self.message}" if self.message else "a message"
        if not self.expected:
            since = f" since {short_date(self.since, now)}" if self.since else ""
            return f"Waiting for {what}{since}: a standing wait, with no expected time"
        expected = Expected.parse(self.expected)
        waited = expected.elapsed(self.since, now, calendar) if self.since else "a while"
        return f"Waiting for {what} for {waited}; expected within {expected.words()}"


def working_days_since(since: datetime | None, now: datetime, calendar: WorkingCalendar) -> str:
    """'12 working days' from `since` to `now` (0 when unknown)."""
    days = calendar.working_days_between(since.date(), now.date()) if since else 0
    return plural(days, "working day")


def ago(moment: datetime, now: datetime) -> str:
    """How long ago, in the largest whole unit: '25 minutes ago', '3 hours ago', '4 days ago'."""
    return f"{span(now - moment)} ago"


def short_date(moment: datetime, now: datetime) -> str:
    """3 Nov, or 3 Nov 2025 when not in the year of `now` (UTC dates)."""
    return f"{moment.day} {moment:%b}" if moment.year == now.year else f"{moment.day} {moment:%b %Y}"


@dataclass
class StuckReport:
    """The stuck instances (errors first, then longest waiting), and whether there are more."""

    items: list[Waiting]
    more: bool
