"""Errors the engine raises, each with a stable code and a message that says what to fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a model file, located as precisely as the file allows."""

    file: str
    message: str
    line: int | None = None
    element_id: str | None = None
    severity: str = "error"  # "error" blocks deployment; "warning" is reported only

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
        if self.element_id:
            where += f" [{self.element_id}]"
        return f"{where}: {self.severity}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form, for the API and the designer."""
        return {
            "file": self.file,
            "line": self.line,
            "element_id": self.element_id,
            "severity": self.severity,
            "message": self.message,
        }


class EngineError(Exception):
    """Base of every error a caller of the engine is expected to handle."""

    code = "engine_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class DefinitionError(EngineError):
    """A model bundle that cannot be deployed; `problems` lists every reason found."""

    code = "invalid_definition"

    def __init__(self, problems: list[Problem]) -> None:
        errors = [p for p in problems if p.severity == "error"] or problems
        summary = "; ".join(str(p) for p in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(f"The model cannot be deployed: {summary}{more}")
        self.problems = problems


class NotFound(EngineError):
    """The instance, task or definition asked for does not exist."""

    code = "not_found"


class NotPermitted(EngineError):
    """The actor may not do this: `code` says why (not_yours, wrong_role, ...)."""

    code = "not_permitted"


class Conflict(EngineError):
    """The thing changed under the caller: the task is no longer ready, or already claimed."""

    code = "conflict"


@dataclass
class FieldError:
    """One invalid form field: its path (dotted) and what is wrong with it."""

    field: str
    message: str


class InvalidData(EngineError):
    """Submitted data does not match the task's form schema."""

    code = "invalid_data"

    def __init__(self, errors: list[FieldError]) -> None:
        fields = ", ".join(e.field or "(form)" for e in errors)
        super().__init__(f"The form has {len(errors)} problem(s): {fields}")
        self.errors = errors


@dataclass
class ModelFailure:
    """Where and why a script, decision or service task failed while an instance ran."""

    element_id: str | None
    message: str
    line: int | None = None
    code_line: str | None = None
    process_id: str | None = None
    task_guid: str | None = None
    trace: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The form stored on the instance row."""
        return {
            "element_id": self.element_id,
            "message": self.message,
            "line": self.line,
            "code_line": self.code_line,
            "process_id": self.process_id,
            "task_guid": self.task_guid,
            "trace": self.trace,
        }
