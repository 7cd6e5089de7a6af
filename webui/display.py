"""How values read on a page: times in UK local time, as staff expect them."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from casework.sentencing import outcome_title
from engine.clock import DISPLAY_ZONE


def init_app(app: Flask) -> None:
    """Register the display filters with the app's templates."""
    app.add_template_filter(local_time)
    app.add_template_filter(iso_time)
    app.add_template_filter(outcome_title, "outcome_words")


def local_time(value: datetime | None) -> str:
    """`2 Nov 2026, 09:00` in UK time; an empty string for no time."""
    if value is None:
        return ""
    local = value.astimezone(DISPLAY_ZONE)
    return f"{local.day} {local:%b %Y, %H:%M}"


def iso_time(value: datetime | None) -> str:
    """The machine-readable form for a `<time datetime>` attribute."""
    return "" if value is None else value.isoformat()
