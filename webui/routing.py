"""Integers in URLs: only those a database id can be, so an out-of-range number is a plain 404.

Werkzeug's `int` converter takes any run of digits; 99999999999999999999 then reaches the database,
where SQLite refuses it (OverflowError, a 500) and PostgreSQL's bigint overflows. riskflow's own
`int` converter takes only 0 to 2**63 - 1, the largest id either database holds, and answers a
larger number as any address that is not there (404), for every page and every API path at once.
`database_int` does the same for numbers in forms and query strings.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

LARGEST_ID = 2**63 - 1  # a signed 64-bit integer: SQLite's INTEGER, PostgreSQL's bigint


class DatabaseIdConverter(IntegerConverter):
    """Werkzeug's `int`, answering 404 at once for a number larger than a database id can be."""

    def to_python(self, value: str) -> int:
        # NotFound, not ValidationError: a ValidationError only skips this rule, and a rule for the
        # same path with another method (GET and POST /tasks/<id>) then makes it a 405.
        if len(value) > len(str(LARGEST_ID)) or int(value) > LARGEST_ID:
            raise NotFound
        number: int = super().to_python(value)
        return number


def database_int(text: str) -> int:
    """A whole number written in ASCII digits that a database column can hold, for a form field or
    query parameter (`request.args.get(name, type=database_int)`); ValueError, which gives the
    field's default there, for anything else."""
    digits = text.strip()
    if not (digits.removeprefix("-").isascii() and digits.removeprefix("-").isdigit()):
        raise ValueError(f"{text!r} is not a whole number")
    value = int(digits)
    if not -LARGEST_ID - 1 <= value <= LARGEST_ID:
        raise ValueError(f"{text!r} is too large")
    return value


def init_app(app: Flask) -> None:
    """Make `<int:...>` in every route of `app` take database ids only (before routes are added)."""
    app.url_map.converters["int"] = DatabaseIdConverter
