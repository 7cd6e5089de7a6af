"""Server-side validation of submitted task data against the task's JSON Schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.validators import validator_for

from engine.errors import FieldError, InvalidData

_FORMATS = FormatChecker()


def validate_form_data(schema: Mapping[str, Any], data: Any) -> None:
    """Raise InvalidData with one message per field when `data` does not satisfy `schema`."""
    validator_class = validator_for(schema)
    validator = validator_class(schema, format_checker=_FORMATS)
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        raise InvalidData(_field_errors(schema, errors))


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
