"""Sandboxed scripts and expressions, and the registry of service operations models may call.

Every script, gateway condition, timer expression and decision-table cell of a model runs here,
compiled by RestrictedPython: no files, no dunder attributes, and `import` only of the read-only
libraries in `engine.sandbox` (never a real module). A script that reaches for anything else fails
as a model error and changes nothing.
"""

from __future__ import annotations

import contextvars
import datetime
import decimal
import functools
import json
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import CodeType, ModuleType
from typing import Any, Literal
from uuid import UUID

from RestrictedPython.compile import compile_restricted
from RestrictedPython.Eval import default_guarded_getiter
from RestrictedPython.Guards import full_write_guard, guarded_iter_unpack_sequence, guarded_unpack_sequence
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from sqlalchemy.orm import Session

from engine.clock import Clock, WorkingCalendar
from engine.sandbox import (
    LIBRARIES,
    LIMIT_GUARD_NAMES,
    SCRIPT_FILENAME,
    LimitingTransformer,
    ScriptLibrary,
    ScriptLimitError,
    ScriptLimits,
    ScriptPolicyError,
    check_add,
    check_lshift,
    check_mul,
    check_pow,
    count_values,
    guarded_getattr,
    guarded_getitem,
    guarded_mod,
    limit_guards,
    limited,
    script_builtins,
)

_INPLACE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "|=": operator.ior,
    "&=": operator.iand,
    "<<=": operator.ilshift,
}
# Checked before the operator runs: a list grows in place, so its result cannot be checked after.
_INPLACE_CHECKS: dict[str, Callable[..., None]] = {
    "+=": check_add,
    "*=": check_mul,
    "**=": check_pow,
    "<<=": check_lshift,
}

_NOT_KEPT = (ScriptLibrary, ModuleType)  # what an import leaves in task data
_STORABLE = (str, int, float, bool, type(None), datetime.date, datetime.timedelta, UUID, decimal.Decimal)


def _guarded_import(
    name: str,
    globals_: Mapping[str, Any] | None = None,
    locals_: Mapping[str, Any] | None = None,
    fromlist: tuple[str, ...] = (),
    level: int = 0,
) -> ScriptLibrary:
    # The library, never the module: a module's public attributes lead to every other module.
    if level != 0 or name not in LIBRARIES:
        allowed = ", ".join(sorted(LIBRARIES))
        raise ScriptPolicyError(f"import of '{name}' is not allowed in model scripts (allowed: {allowed})")
    return LIBRARIES[name]


def _inplace(op: str, left: Any, right: Any) -> Any:
    if op == "%=":
        return guarded_mod(left, right)
    check = _INPLACE_CHECKS.get(op)
    if check is not None:
        check(left, right)
    return _INPLACE_OPERATORS[op](left, right)


def _forbidden_print(*_args: Any, **_kwargs: Any) -> None:
    raise ScriptPolicyError("print() is not available in model scripts; set a variable instead")


@functools.lru_cache(maxsize=4096)
def compile_sandboxed(source: str, mode: Literal["exec", "eval"]) -> CodeType:
    """Compile a script ('exec') or expression ('eval') under the sandbox's rules and limits (cached)."""
    try:
        return compile_restricted(source, filename=SCRIPT_FILENAME, mode=mode, policy=LimitingTransformer)
    except SyntaxError as err:
        lineno = err.lineno
        if lineno is None:
            found = re.search(r"Line (\d+)", str(err.args[0] if err.args else err))
            lineno = int(found.group(1)) if found else None
        raise SyntaxError(_policy_message(err), (SCRIPT_FILENAME, lineno, err.offset, err.text)) from None


def _policy_message(err: SyntaxError) -> str:
    # RestrictedPython raises SyntaxError with a tuple of "Line N: reason" strings as its message.
    raw = err.msg if isinstance(err.msg, str) and err.msg else err.args[0] if err.args else str(err)
    messages = [str(m) for m in raw] if isinstance(raw, list | tuple) else [str(raw)]
    return "; ".join(re.sub(r"^Line \d+: ", "", m) for m in messages)


@dataclass
class StepContext:
    """What a service operation or script function may know about the step that calls it."""

    session: Session
    instance_id: int
    business_key: str
    actor: str
    clock: Clock
    extra: dict[str, Any] = field(default_factory=dict)


_current_step: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar(
    "riskflow_step", default=None
)


@contextmanager
def step_context(ctx: StepContext) -> Iterator[StepContext]:
    """Make `ctx` the context of the scripts and service calls run inside the block."""
    token = _current_step.set(ctx)
    try:
        yield ctx
    finally:
        _current_step.reset(token)


def current_step() -> StepContext:
    """The step being run; service operations receive it, script functions may ask for it."""
    ctx = _current_step.get()
    if ctx is None:
        raise RuntimeError("no engine step is running")
    return ctx


ServiceOperation = Callable[..., Any]


@dataclass(frozen=True)
class RegisteredOperation:
    """A service operation and the words a process owner sees for it."""

    name: str
    func: ServiceOperation
    description: str


class ServiceRegistry:
    """Named operations that service tasks call: `func(ctx: StepContext, **params) -> JSON value`."""

    def __init__(self) -> None:
        self._operations: dict[str, RegisteredOperation] = {}
        self._choices: dict[str, Callable[[StepContext], Any]] = {}

    def register_choices(self, name: str, func: Callable[[StepContext], Any]) -> None:
        """Add a source of a form field's choices (`"optionsFrom": name`): `func(ctx) -> Choices`,
        what the field offers on the case of `ctx` now and why it does not offer a value."""
        if name in self._choices:
            raise ValueError(f"choice source {name!r} is already registered")
        self._choices[name] = func

    def choices(self, name: str, ctx: StepContext) -> Any:
        """What the source `name` offers in `ctx` (LookupError when no such source is registered)."""
        if name not in self._choices:
            raise LookupError(f"no choice source named {name!r} is registered")
        return self._choices[name](ctx)

    def register(self, name: str, func: ServiceOperation, description: str = "") -> None:
        """Add an operation; a name can be registered once."""
        if name in self._operations:
            raise ValueError(f"service operation {name!r} is already registered")
        self._operations[name] = RegisteredOperation(name, func, description or (func.__doc__ or ""))

    def names(self) -> set[str]:
        """Every registered operation name."""
        return set(self._operations)

    def operations(self) -> list[RegisteredOperation]:
        """Every registered operation, by name."""
        return [self._operations[n] for n in sorted(self._operations)]

    def call(self, name: str, params: Mapping[str, Any]) -> Any:
        """Run an operation within the current step."""
        if name not in self._operations:
            raise LookupError(f"no service operation named {name!r} is registered")
        ctx = current_step()
        # A savepoint: an operation that fails half-way leaves none of its writes behind.
        with ctx.session.begin_nested():
            return self._operations[name].func(ctx, **params)


def check_storable(data: Mapping[str, Any], path: str = "", *, max_values: int | None = None) -> None:
    """Refuse values that cannot be kept in task data (modules, objects, functions), or too many.

    With `max_values`, data holding more values than that (counting shared ones each time: a list
    that holds itself twice, forty times over, is 2**40 values to save) is refused first.
    """
    if max_values is not None and count_values(data, max_values) > max_values:
        raise ScriptLimitError(
            f"the task data would hold more than {max_values:,} values; keep values in model scripts small"
        )
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if isinstance(value, Mapping):
            check_storable(value, where)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    check_storable(item, f"{where}[{i}]")
                elif not isinstance(item, (*_STORABLE, list, tuple)):
                    raise TypeError(_unstorable(f"{where}[{i}]", item))
        elif not isinstance(value, _STORABLE):
            raise TypeError(_unstorable(where, value))


def _unstorable(where: str, value: Any) -> str:
    return (
        f"'{where}' holds a {type(value).__name__}, which cannot be kept in task data; "
        "keep only text, numbers, booleans, dates, lists and dictionaries"
    )


class SandboxedEnvironment(TaskDataEnvironment):  # type: ignore[misc]
    """Task-data scripting, compiled and run under RestrictedPython."""

    def __init__(
        self,
        functions: Mapping[str, Callable[..., Any]],
        services: ServiceRegistry,
        limits: ScriptLimits | None = None,
    ) -> None:
        self.limits = limits if limits is not None else ScriptLimits.from_environment()
        # The guards RestrictedPython's bytecode calls; applied last, so task data cannot replace them.
        self._guards: dict[str, Any] = {
            "__builtins__": script_builtins(_guarded_import),
            "_getattr_": guarded_getattr,
            "_getitem_": guarded_getitem,
            "_getiter_": default_guarded_getiter,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_write_": full_write_guard,
            "_inplacevar_": _inplace,
            "_print_": _forbidden_print,
        }
        super().__init__({**functions, **self._guards})
        self.services = services

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        code = compile_sandboxed(expression.strip(), "eval")
        scope = dict(self.globals)
        scope.update(external_context or {})
        scope.update(context)
        scope.update(self._guards)
        with limited(self.limits) as budget:
            scope.update(limit_guards(budget))
            return eval(code, scope)  # noqa: S307 - restricted bytecode, guarded globals

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        self.check_for_overwrite(context, external_context or {})
        code = compile_sandboxed(script, "exec")
        before = dict(context)
        context.update(self.globals)
        context.update(external_context or {})
        try:
            with limited(self.limits) as budget:
                context.update(limit_guards(budget))
                exec(code, context)  # noqa: S102 - restricted bytecode, guarded globals
        except ScriptLimitError:
            self._undo(context, before)
            raise
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
            for key in [k for k, v in context.items() if isinstance(v, _NOT_KEPT) or k in LIMIT_GUARD_NAMES]:
                del context[key]
        try:
            check_storable(context, max_values=self.limits.max_items)
        except ScriptLimitError:
            self._undo(context, before)
            raise
        return True

    def _undo(self, context: dict[str, Any], before: Mapping[str, Any]) -> None:
        """Put back the names a script past its limits set: the failed step's state must stay
        small enough to save. A value the script grew in place is dropped if it is still too big."""
        context.clear()
        context.update(before)
        for key in list(context):
            if count_values(context[key], self.limits.max_items) > self.limits.max_items:
                del context[key]

    def call_service(
        self, context: dict[str, Any], operation_name: str, operation_params: Mapping[str, Any], **_: Any
    ) -> str:
        params = {name: spec["value"] for name, spec in operation_params.items()}
        return json.dumps(self.services.call(operation_name, params), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    raise TypeError(f"a service returned a {type(value).__name__}, which is not JSON")


class SandboxedScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """The script engine every workflow runs with (re-attached after each load)."""

    def __init__(self, environment: SandboxedEnvironment) -> None:
        super().__init__(environment=environment)

    def call_service(self, task: Any, **kwargs: Any) -> str:
        # SpiffWorkflow 3.2.0's own error path here raises NameError; report the task instead.
        try:
            result: str = self.environment.call_service(task.data, **kwargs)
        except Exception as err:
            operation = kwargs.get("operation_name", "?")
            raise WorkflowTaskException(
                f"Service operation '{operation}' failed: {type(err).__name__}: {err}",
                task=task,
                exception=err,
            ) from err
        return result


def standard_functions(clock: Clock, calendar: WorkingCalendar) -> dict[str, Callable[..., Any]]:
    """Functions every model may use: time from the engine's clock, and working-day arithmetic."""

    def now() -> datetime.datetime:
        return clock.now()

    def today() -> datetime.date:
        return clock.now().astimezone(datetime.UTC).date()

    def add_working_days(start: datetime.date | datetime.datetime | str, days: int) -> str:
        if isinstance(start, str):
            start = datetime.datetime.fromisoformat(start)
        if not isinstance(start, datetime.datetime):
            start = datetime.datetime.combine(start, datetime.time(9), tzinfo=datetime.UTC)
        return calendar.add_working_days(start, int(days)).isoformat()

    def iso_duration_days(days: int) -> str:
        return f"P{int(days)}D"

    return {
        "now": now,
        "today": today,
        "add_working_days": add_working_days,
        "iso_duration_days": iso_duration_days,
    }
