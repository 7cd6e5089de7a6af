"""A task's JSON Schema as GOV.UK form fields, and a submitted form back into the schema's data.

Each property of the schema becomes one field: a text input or textarea for a string, the GOV.UK
date input (day, month, year) for a `date`, radios or a select for an `enum` (or a `oneOf` of
`const`/`title` pairs), checkboxes for an array of an enum (with an exclusive "None" answer when the
schema gives `noneOption`, so an empty list is a choice, never a gap) and Yes/No radios for a boolean;
a textarea with a `maxLength` counts its characters as the person types. What the
person typed is kept as text (`Entered`), so a page shown again after an error, or a saved draft,
gives back exactly what they entered, even a date that is not a real date. The schema itself is
checked on the server by the engine (engine/forms.py); only what cannot reach it (a date that is not
a date) is checked here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from werkzeug.datastructures import MultiDict

from casework.register_types import REGISTER_TYPES
from engine.errors import FieldError, InvalidData
from engine.forms import OPTIONS_FROM, validate_form_data

RADIOS_UP_TO = 6  # more options than this become a select
SHORT_TEXT = 200  # a string with a maxLength up to this is a one-line input, else a textarea
DATE_PARTS = ("day", "month", "year")
CHOICE_KINDS = frozenset({"radios", "select", "yes_no", "checkboxes"})
NONE_VALUE = "_none"  # what the exclusive "None" checkbox sends: never one of a schema's codes

# Entered values: a field's text, a checkbox field's list, or a date part's text ("when-day").
Entered = dict[str, str | list[str]]

# Option words that are not read as ordinary words.
LABELS = {
    "SPO": "SPO",
    "ACO": "ACO",
    "PSO": "PSO",
    "OFFENDER_MANAGER": "Offender Manager",
    "RISK_CONSULTANT": "Risk consultant",
    "CHILDRENS_SERVICES": "Children's services",
    "CAT1": "Category 1",
    "CAT2": "Category 2",
    "CAT3": "Category 3",
    "REVIEWED_BY_ACO": "Reviewed by the ACO",
    "SPO_REVIEWED_ON_INSTRUCTION": "The SPO reviewed it on instruction",
}


@dataclass(frozen=True)
class Option:
    """One choice of a radios, select or checkboxes field."""

    value: str
    label: str
    hint: str = ""  # words under the choice (a source's choices: an officer's grade and caseload)


@dataclass(frozen=True)
class Field:
    """One form field as the page draws it."""

    name: str
    kind: str  # text, textarea, date, radios, select, checkboxes, yes_no
    label: str
    hint: str
    required: bool
    options: tuple[Option, ...] = ()
    integer: bool = False  # an enum of whole numbers: the value is sent to the schema as a number
    none_label: str | None = None  # checkboxes: the words of the exclusive "None" answer
    max_length: int | None = None  # text: the most characters the schema allows

    @property
    def none_value(self) -> str:
        """What the exclusive "None" checkbox sends."""
        return NONE_VALUE

    @property
    def anchor(self) -> str:
        """The id the error summary links to: the field's first input."""
        return f"f-{self.name}-day" if self.kind == "date" else f"f-{self.name}"


def fields_of(schema: Mapping[str, Any]) -> list[Field]:
    """The schema's properties as fields, in the schema's order."""
    required = set(schema.get("required") or [])
    return [
        _field(name, prop, name in required)
        for name, prop in (schema.get("properties") or {}).items()
        if isinstance(prop, Mapping)
    ]


def _field(name: str, prop: Mapping[str, Any], required: bool) -> Field:
    label = str(prop.get("title") or name.replace("_", " ").capitalize())
    hint = str(prop.get("description") or "")
    kind = prop.get("type")
    options = _options(prop)
    if kind == "array":
        items = prop.get("items")
        none_label = prop.get("noneOption")
        return Field(
            name,
            "checkboxes",
            label,
            hint,
            required,
            _options(items if isinstance(items, Mapping) else {}),
            none_label=str(none_label) if none_label else None,
        )
    if options or OPTIONS_FROM in prop:
        # A source's choices come with hints (grade, caseload) that only radios can show.
        choice = "radios" if len(options) <= RADIOS_UP_TO or OPTIONS_FROM in prop else "select"
        return Field(name, choice, label, hint, required, options, integer=kind == "integer")
    if kind == "boolean":
        yes_no = (Option("yes", "Yes"), Option("no", "No"))
        return Field(name, "yes_no", label, hint, required, yes_no)
    if prop.get("format") == "date":
        return Field(name, "date", label, hint or "For example, 27 3 2026", required)
    max_length = prop.get("maxLength") if isinstance(prop.get("maxLength"), int) else None
    short = max_length is not None and max_length <= SHORT_TEXT
    return Field(name, "text" if short else "textarea", label, hint, required, max_length=max_length)


def _options(prop: Mapping[str, Any]) -> tuple[Option, ...]:
    if isinstance(prop.get("oneOf"), list):
        return tuple(
            Option(
                str(choice["const"]),
                str(choice.get("title") or choice["const"]),
                str(choice.get("description") or ""),
            )
            for choice in prop["oneOf"]
            if isinstance(choice, Mapping) and "const" in choice
        )
    return tuple(Option(str(value), option_label(value)) for value in prop.get("enum") or [])


def option_label(value: Any) -> str:
    """How a coded value reads: VERY_HIGH is 'Very high', RCPR 'Child Protection (RCPR)'."""
    text = str(value)
    if text in LABELS:
        return LABELS[text]
    if text in REGISTER_TYPES:
        return f"{REGISTER_TYPES[text].name} ({text})"
    return text.replace("_", " ").capitalize()


# ------------------------------------------------------------------------- reading a submission


def entered_values(fields: list[Field], form: MultiDict[str, str]) -> Entered:
    """Exactly what the person entered for each field (to show again, or keep as a draft)."""
    entered: Entered = {}
    for field in fields:
        if field.kind == "checkboxes":
            entered[field.name] = [v for v in form.getlist(field.name) if v]
        elif field.kind == "date":
            for part in DATE_PARTS:
                entered[f"{field.name}-{part}"] = form.get(f"{field.name}-{part}", "").strip()
        else:
            entered[field.name] = form.get(field.name, "").strip()
    return entered


def entered_from(raw: Mapping[str, Any] | None) -> Entered:
    """A saved draft read back as entered values (anything else in it is ignored)."""
    entered: Entered = {}
    for key, value in (raw or {}).items():
        if isinstance(value, list):
            entered[str(key)] = [str(v) for v in value]
        elif isinstance(value, str):
            entered[str(key)] = value
    return entered


def form_data(fields: list[Field], entered: Entered) -> tuple[dict[str, Any], list[FieldError]]:
    """The data to send to the engine, and the errors found before it (dates that are not dates).

    An empty field is left out, so the schema's `required` gives its "Enter ..." message.
    """
    data: dict[str, Any] = {}
    errors: list[FieldError] = []
    for field in fields:
        if field.kind == "date":
            value, problem = _iso_date(field, entered)
            if problem:
                errors.append(FieldError(field.name, problem))
            elif value:
                data[field.name] = value
            continue
        raw = entered.get(field.name)
        if field.kind == "checkboxes":
            ticked = raw if isinstance(raw, list) else []
            if field.none_label and NONE_VALUE in ticked:
                if len(ticked) > 1:
                    errors.append(
                        FieldError(
                            field.name, f"Select {field.label.lower()}, or “{field.none_label}”, not both"
                        )
                    )
                else:
                    data[field.name] = []  # "None" is an answer: the list is empty, and present
            elif ticked:
                data[field.name] = ticked
        elif isinstance(raw, str) and raw:
            data[field.name] = _typed(field, raw)
    return data, errors


def _typed(field: Field, raw: str) -> Any:
    if field.kind == "yes_no":
        return {"yes": True, "no": False}.get(raw, raw)
    if field.integer:
        try:
            return int(raw)
        except ValueError:
            return raw  # not one of the choices: the schema says so
    return raw


def _iso_date(field: Field, entered: Entered) -> tuple[str | None, str | None]:
    parts = {part: str(entered.get(f"{field.name}-{part}") or "") for part in DATE_PARTS}
    if not any(parts.values()):
        return None, None
    missing = [part for part in DATE_PARTS if not parts[part]]
    if missing:
        return None, f"{field.label} must include a {' and a '.join(missing)}"
    if not all(value.isdigit() for value in parts.values()) or len(parts["year"]) != 4:
        return None, f"{field.label} must be a real date, such as 27 3 2026"
    try:
        when = date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    except ValueError:
        return None, f"{field.label} must be a real date, such as 27 3 2026"
    return when.isoformat(), None


def schema_errors(
    schema: dict[str, Any] | None, data: dict[str, Any], known: set[str], today: date
) -> list[FieldError]:
    """The schema's complaints about `data` on `today`, less those on fields already found wrong here."""
    if not schema:
        return []
    # A source's choices are checked by the engine, which says why a value is not offered.
    properties = {
        name: {k: v for k, v in prop.items() if k != "oneOf"}
        if isinstance(prop, Mapping) and OPTIONS_FROM in prop
        else prop
        for name, prop in (schema.get("properties") or {}).items()
    }
    try:
        validate_form_data({**schema, "properties": properties}, data, today=today)
    except InvalidData as err:
        return [e for e in err.errors if e.field not in known]
    return []


def page_errors(
    fields: list[Field], errors: list[FieldError], anchors: Mapping[str, str] | None = None
) -> list[tuple[str, str, str]]:
    """Each error as (field name, the anchor the summary links to, the message in GOV.UK words);
    `anchors` gives the anchors of the page's fields that are not in the schema."""
    by_name = {f.name: f for f in fields}
    order = {f.name: n for n, f in enumerate(fields)}
    shown = []
    for error in sorted(errors, key=lambda e: order.get(e.field, -1)):  # as the fields come on the page
        field = by_name.get(error.field)
        message = error.message
        if field is not None and field.kind in CHOICE_KINDS and message.startswith("Enter "):
            what = message.removeprefix("Enter ")
            if field.kind == "yes_no":
                message = f"Select yes if {what}, or no"
            elif field.none_label:
                message = f"Select {what}, or “{field.none_label}”"
            else:
                message = f"Select {what}"
        anchor = field.anchor if field else (anchors or {}).get(error.field, "task-form")
        shown.append((error.field, anchor, message))
    return shown


# ------------------------------------------------------------------------- a record, in words


def answer_text(prop: Mapping[str, Any], value: Any, given: bool = True) -> str:
    """What a recorded value says, in words, as its form asked for it: a choice by its title, a date
    as "2 November 2026", yes or no, a list of choices (or the list's "None" answer)."""
    if not given or value is None:
        return "Not answered"
    if isinstance(value, bool | list | Mapping):
        return _structured_text(prop, value)
    choices = {str(o.value): o.label for o in _options(prop)}
    if str(value) in choices:
        return choices[str(value)]
    if prop.get("format") == "date" and isinstance(value, str):
        return _date_text(value)
    return str(value)


def _structured_text(prop: Mapping[str, Any], value: bool | list[Any] | Mapping[str, Any]) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Mapping):
        return ", ".join(f"{str(k).replace('_', ' ').capitalize()}: {v}" for k, v in value.items())
    return _list_text(prop, value)


def _list_text(prop: Mapping[str, Any], values: list[Any]) -> str:
    if not values:
        none_label = prop.get("noneOption")
        return str(none_label) if isinstance(none_label, str) and none_label else "None"
    items = prop.get("items")
    return ", ".join(answer_text(items if isinstance(items, Mapping) else {}, v) for v in values)


def _date_text(value: str) -> str:
    try:
        when = date.fromisoformat(value)
    except ValueError:
        return value
    return f"{when.day} {when:%B %Y}"
