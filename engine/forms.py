"""Server-side validation of submitted task data against the task's JSON Schema.

Beside JSON Schema's own keywords, a form may say when a date can be: `"notAfter": "today"` (a date
something happened: an assessment, a meeting) or `"notBefore": "today"` (a date still to come), judged
against the area's calendar day when the data is submitted. A list field that may truly be empty has
`"noneOption"`, the words of its "None" answer; the task page draws it, and the data holds `[]`.

A field whose choices depend on the case and the day (the team's officers who may own a case) names a
server-side source of choices with `"optionsFrom"`: the application registers the source by name
(`ServiceRegistry.register_choices`), the task page offers what it gives, and a submitted value it
does not offer is refused with the source's reason why, whoever sends it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.validators import validator_for

from engine.errors import FieldError, InvalidData

_FORMATS = FormatChecker()


# The words a date field's "notAfter" / "notBefore" may hold, and the message for a date on the wrong side.
DATE_BOUNDS = {"notAfter": "must be today or in the past", "notBefore": "must be today or in the future"}
TODAY = "today"
OPTIONS_FROM = "optionsFrom"


@dataclass(frozen=True)
class Choice:
    """One value a source offers for a field: what is sent, what a person reads, and a hint."""

    value: str
    title: str
    hint: str = ""


@dataclass(frozen=True)
class Choices:
    """What a source offers now, and why it does not offer a value (None: no reason known)."""

    offered: list[Choice]
    why_not: Callable[[str], str | None] = field(default=lambda _value: None)


def choice_fields(schema: Mapping[str, Any]) -> dict[str, str]:
    """The top-level fields whose choices come from a source, with the source's name."""
    properties = schema.get("properties")
    return {
        str(name): str(prop[OPTIONS_FROM])
        for name, prop in (properties if isinstance(properties, Mapping) else {}).items()
        if isinstance(prop, Mapping) and isinstance(prop.get(OPTIONS_FROM), str)
    }


def with_choices(schema: Mapping[str, Any], choices: Mapping[str, Choices]) -> dict[str, Any]:
    """A copy of `schema` whose source-backed fields list what their sources offer now (as `oneOf`
    of `const` and `title`, with the hint as `description`), for the task page to draw."""
    resolved = dict(schema)
    properties = dict(schema.get("properties") or {})
    for name, found in choices.items():
        if isinstance(properties.get(name), Mapping):
            properties[name] = {
                **properties[name],
                "oneOf": [{"const": c.value, "title": c.title, "description": c.hint} for c in found.offered],
            }
    resolved["properties"] = properties
    return resolved


def choice_errors(
    schema: Mapping[str, Any], data: Mapping[str, Any], choices: Mapping[str, Choices]
) -> list[FieldError]:
    """A message for each source-backed field whose value its source does not offer, saying why."""
    found: list[FieldError] = []
    for name, offered in choices.items():
        value = data.get(name)
        if value is None or str(value) in {c.value for c in offered.offered}:
            continue
        reason = offered.why_not(str(value))
        title = _title(schema, [name])
        words = reason or f"{title}: {value} is not one of the choices listed."
        found.append(FieldError(name, f"{words} Choose from the list."))
    return found


def validate_form_data(schema: Mapping[str, Any], data: Any, today: date | None = None) -> None:
    """Raise InvalidData with one message per field when `data` does not satisfy `schema`; with
    `today`, the dates of fields bounded by "notAfter"/"notBefore" are checked against it too."""
    validator_class = validator_for(schema)
    validator = validator_class(schema, format_checker=_FORMATS)
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(e.absolute_path), e.message))
    found = _field_errors(schema, errors)
    if today is not None and isinstance(data, Mapping):
        wrong = {error.field for error in found}
        found += [error for error in date_bound_errors(schema, data, today) if error.field not in wrong]
    if found:
        raise InvalidData(found)


def date_bound_errors(schema: Mapping[str, Any], data: Mapping[str, Any], today: date) -> list[FieldError]:
    """A message for each top-level date that falls on the wrong side of today for its field."""
    found: list[FieldError] = []
    properties = schema.get("properties")
    for name, prop in (properties if isinstance(properties, Mapping) else {}).items():
        value = data.get(name)
        if not isinstance(prop, Mapping) or not isinstance(value, str):
            continue
        try:
            when = date.fromisoformat(value)
        except ValueError:
            continue  # not a date: the format check says so
        for keyword, message in DATE_BOUNDS.items():
            if prop.get(keyword) != TODAY:
                continue
            if (keyword == "notAfter" and when > today) or (keyword == "notBefore" and when < today):
                found.append(FieldError(str(name), f"{_title(schema, [str(name)])} {message}"))
    return found


def _field_errors(schema: Mapping[str, Any], errors: list[ValidationError]) -> list[FieldError]:
    seen: set[str] = set()
    found: list[FieldError] = []
    for error in errors:
        field, message = _describe(schema, error)
        if field not in seen:  # one message per field, the first is the most useful
            seen.add(field)
            found.append(FieldError(field, message))
    return found


def _describe(schema: Mapping[str, Any], error: ValidationError) -> tuple[str, str]:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, Mapping):
        required = error.validator_value if isinstance(error.validator_value, list) else []
        # One error per missing property, each naming it: pick that one, not the first missing.
        absent = [name for name in required if name not in error.instance]
        named = [name for name in absent if repr(name) in error.message]
        missing = (named or absent or [None])[0]
        if missing is not None:
            field = ".".join([*path, missing])
            return field, f"Enter {_title(schema, [*path, missing]).lower()}"
    field = ".".join(path)
    label = _title(schema, path) if path else "The form"
    if error.validator == "enum":
        return field, f"Select a valid option for {label.lower()}"
    if error.validator == "format":
        return field, f"{label} must be a valid {error.validator_value}"
    if error.validator == "additionalProperties":
        return field or "(form)", f"The form has a field it does not expect: {error.message}"
    return field, f"{label}: {error.message}"


def _title(schema: Mapping[str, Any], path: list[str]) -> str:
    node: Any = schema
    for part in path:
        props = node.get("properties", {}) if isinstance(node, Mapping) else {}
        node = props.get(part, {})
    title = node.get("title") if isinstance(node, Mapping) else None
    return str(title) if title else (path[-1].replace("_", " ") if path else "value")
