"""What model code may touch: the libraries, builtins and attribute rules of the script sandbox.

Scripts, gateway conditions, timer expressions and decision-table cells see values and an
allow-list of functions, never a Python module or anything that leads to one. A module carries
its own imports as public attributes (`datetime.sys.modules['os']`), so `import datetime` hands a
script a `ScriptLibrary`: a read-only namespace holding only the chosen functions, types and
constants. Every attribute read goes through `guarded_getattr`, which refuses by name (dunders,
frame and generator internals, `str.format`, `mro`) and by what the object and the value ARE
(modules, frames, code, tracebacks, classes not on the allow-list). `policy_findings` applies the
same rules to source text without running it, so the model checks can name the offending line.
"""

from __future__ import annotations

import ast
import builtins
import datetime
import decimal
import functools
import json
import math
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import BuiltinFunctionType, CodeType, FrameType, FunctionType, ModuleType, TracebackType
from typing import Any, Literal, NoReturn, cast

import regex  # type: ignore[import-untyped]
from RestrictedPython.compile import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import safe_builtins
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer


class ScriptPolicyError(Exception):
    """A script tried something the sandbox forbids."""


class ScriptLibrary:
    """A standard library module as model scripts see it: chosen members only, read-only."""

    __slots__ = ("_name", "_members")

    def __init__(self, name: str, members: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_members", dict(members))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._members[name]
        except KeyError:
            if name.startswith("__"):  # Python's own probes (hasattr(x, "__call__")): answer fast
                raise AttributeError(name) from None
            available = ", ".join(sorted(self._members))
            raise AttributeError(
                f"{self._name}.{name} is not available in model scripts (available: {available})"
            ) from None

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise ScriptPolicyError(f"{self._name} cannot be changed by a model script")

    def __delattr__(self, name: str) -> NoReturn:
        raise ScriptPolicyError(f"{self._name} cannot be changed by a model script")

    def __dir__(self) -> list[str]:
        return sorted(self._members)

    def __repr__(self) -> str:
        return f"<model script library {self._name}>"


def library_members(library: ScriptLibrary) -> dict[str, Any]:
    """Every name a library offers (a function, so scripts do not see it as a member)."""
    return dict(object.__getattribute__(library, "_members"))


# --- limits of time and size ---------------------------------------------------------------------
#
# A script runs inside its step's write transaction, so one that loops or allocates without end
# would hold every other write in the area. Each evaluation gets a budget: a deadline checked at
# the top of every loop body, function body and comprehension item (the compiler injects the
# check), and a ceiling on the size of what the operators and functions that build big values
# (`*`, `**`, `<<`, `+`, `%`, format widths, `range`, `str.join`, ...) may produce, checked before
# the value is built. Regular expressions run under the `regex` engine with the time left as
# their timeout. A breach raises ScriptLimitError, which the step records as a model error.

TIME_LIMIT_SETTING = "RISKFLOW_SCRIPT_TIME_LIMIT"
MEMORY_LIMIT_SETTING = "RISKFLOW_SCRIPT_MEMORY_LIMIT_MB"
MAX_INT_BITS = 100_000  # ~30,000 digits: Python prints no more than 4,300, and bigger ints are slow
_ITEM_BYTES = 64  # a list item costs a pointer, and usually an object of its own


class ScriptLimitError(Exception):
    """A script ran too long or built too big a value."""


@dataclass(frozen=True)
class ScriptLimits:
    """How long one evaluation may run, and how big a value it may build."""

    seconds: float = 1.0
    megabytes: float = 50.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ScriptLimits:
        """The limits set by RISKFLOW_SCRIPT_TIME_LIMIT (seconds) and ..._MEMORY_LIMIT_MB."""
        values = os.environ if environ is None else environ
        limits = cls(
            seconds=float(values.get(TIME_LIMIT_SETTING) or cls.seconds),
            megabytes=float(values.get(MEMORY_LIMIT_SETTING) or cls.megabytes),
        )
        if not (limits.seconds > 0 and limits.megabytes > 0):
            raise ValueError(f"{TIME_LIMIT_SETTING} and {MEMORY_LIMIT_SETTING} must be positive numbers")
        return limits

    @property
    def max_chars(self) -> int:
        """The longest text (or bytes) a script may build."""
        return int(self.megabytes * 1_000_000)

    @property
    def max_items(self) -> int:
        """The most items a list, tuple, set, dictionary or range a script builds may hold."""
        return self.max_chars // _ITEM_BYTES

    def time_message(self) -> str:
        """What a script that ran out of time is told."""
        return f"the script ran for more than {self.seconds:g} s; loops in model scripts must end"

    def size_message(self, what: str) -> str:
        """What a script that tried to build too big a value is told."""
        return (
            f"the script would build {what}, more than the {self.megabytes:g} MB a model script may use; "
            "keep values in model scripts small"
        )


class ScriptBudget:
    """One evaluation's deadline and limits; the first breach is kept, even if the script catches it."""

    __slots__ = ("limits", "deadline", "breach")

    def __init__(self, limits: ScriptLimits) -> None:
        self.limits = limits
        self.deadline = time.perf_counter() + limits.seconds
        self.breach: str | None = None

    def tick(self) -> None:
        """Called at the top of every loop body, function body and comprehension item."""
        if time.perf_counter() > self.deadline:
            self.fail(self.limits.time_message())

    def seconds_left(self) -> float:
        """Time left before the deadline (at least a millisecond, so a timeout is never zero)."""
        return max(self.deadline - time.perf_counter(), 0.001)

    def fail(self, message: str) -> NoReturn:
        """Record the breach (the first one wins) and stop the script."""
        if self.breach is None:
            self.breach = message
        raise ScriptLimitError(self.breach)

    def too_big(self, what: str) -> NoReturn:
        """Stop a script that would build `what`."""
        self.fail(self.limits.size_message(what))


_running = threading.local()


def current_budget() -> ScriptBudget:
    """The budget of the evaluation running on this thread (a fresh default one outside any)."""
    budget: ScriptBudget | None = getattr(_running, "budget", None)
    return budget if budget is not None else ScriptBudget(ScriptLimits())


@contextmanager
def limited(limits: ScriptLimits) -> Iterator[ScriptBudget]:
    """Run the block as one evaluation under `limits`; a breach the script caught is raised at the end."""
    budget = ScriptBudget(limits)
    outer = getattr(_running, "budget", None)
    _running.budget = budget
    try:
        yield budget
    except Exception as err:
        if budget.breach is not None and not isinstance(err, ScriptLimitError):
            raise ScriptLimitError(budget.breach) from err  # the breach is what went wrong
        if isinstance(err, RecursionError):
            raise ScriptLimitError(
                "the script's functions called themselves more deeply than Python allows; "
                "recursion in model scripts must end"
            ) from err
        if isinstance(err, MemoryError):
            raise ScriptLimitError(limits.size_message("a value bigger than the server's memory")) from err
        raise
    finally:
        _running.budget = outer
    if budget.breach is not None:
        raise ScriptLimitError(budget.breach)


_SEQUENCES = (str, bytes, list, tuple)
_CONTAINERS = (list, tuple, dict, set, frozenset)


def _length_limit(value: Any, limits: ScriptLimits) -> int:
    return limits.max_chars if isinstance(value, str | bytes) else limits.max_items


def _check_int_bits(bits: float) -> None:
    if bits > MAX_INT_BITS:
        current_budget().fail(
            f"the script would build a number of about {int(bits * 0.30103):,} digits, "
            f"more than a model script may use ({int(MAX_INT_BITS * 0.30103):,})"
        )


def _check_length(value: Any, length: float) -> None:
    budget = current_budget()
    if length > _length_limit(value, budget.limits):
        kind = "text" if isinstance(value, str) else type(value).__name__
        budget.too_big(
            f"a {kind} of {int(length):,} items" if kind != "text" else f"{int(length):,} characters"
        )


def check_mul(left: Any, right: Any) -> None:
    """Refuse `left * right` when it would repeat a sequence or grow a number beyond the limits."""
    if type(left) is int and type(right) is int:
        _check_int_bits(left.bit_length() + right.bit_length())
    elif isinstance(left, _SEQUENCES) and isinstance(right, int):
        _check_length(left, len(left) * right)
    elif isinstance(right, _SEQUENCES) and isinstance(left, int):
        _check_length(right, len(right) * left)


def guarded_mul(left: Any, right: Any) -> Any:
    """`left * right` for a script."""
    check_mul(left, right)
    return left * right


def check_pow(base: Any, exponent: Any, modulus: Any = None) -> None:
    """Refuse `base ** exponent` (or `pow()`) when the number would be too big to work with."""
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        if modulus is None:
            _check_int_bits(max(base.bit_length() - 1, 1) * exponent if abs(base) > 1 else 1)
        elif isinstance(modulus, int):
            _check_int_bits(max(modulus.bit_length(), exponent.bit_length()))


def guarded_pow(base: Any, exponent: Any, modulus: Any = None) -> Any:
    """`base ** exponent` and `pow()` for a script."""
    check_pow(base, exponent, modulus)
    return base**exponent if modulus is None else pow(base, exponent, modulus)


def check_lshift(left: Any, right: Any) -> None:
    """Refuse `left << right` when the number would be too big."""
    if isinstance(left, int) and isinstance(right, int) and left:
        _check_int_bits(left.bit_length() + right)


def guarded_lshift(left: Any, right: Any) -> Any:
    """`left << right` for a script."""
    check_lshift(left, right)
    return left << right


def check_add(left: Any, right: Any) -> None:
    """Refuse `left + right` when joining two sequences would make one too long."""
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        _check_length(left, len(left) + len(right))


def guarded_add(left: Any, right: Any) -> Any:
    """`left + right` for a script."""
    check_add(left, right)
    return left + right


# A %-format's width or precision: `%10s`, `%.5f`, `%*d`.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def guarded_mod(left: Any, right: Any) -> Any:
    """`left % right`: for text formatting, refused when a width or an argument is too big."""
    if isinstance(left, str):
        budget = current_budget()
        widths = [w for spec in _PERCENT_SPEC.findall(left) for w in spec if w]
        arguments = right if isinstance(right, tuple) else (right,)
        if "*" in widths:
            widths += [str(a) for a in arguments if type(a) is int]
        if any(len(w) > 9 or int(w) > budget.limits.max_chars for w in widths if w != "*"):
            budget.too_big("a text wider than that")
        check_printable(right)
    return left % right


# A format spec's width and precision: `>10`, `010.2f`, `,`.
_FORMAT_SPEC = re.compile(r"^(?:.?[<>=^])?[-+ ]?z?#?0?(\d*)[,_]?(?:\.(\d+))?")


def _check_format_spec(spec: Any) -> None:
    if isinstance(spec, str) and spec:
        found = _FORMAT_SPEC.match(spec)
        numbers = [n for n in found.groups() if n] if found else []
        budget = current_budget()
        if any(len(n) > 9 or int(n) > budget.limits.max_chars for n in numbers):
            budget.too_big(f"a text formatted as '{spec[:20]}'")


def guarded_format(value: Any, spec: str = "") -> str:
    """`format(value, spec)`, refused when the width or precision is too big."""
    _check_format_spec(spec)
    check_printable(value)
    return format(value, spec)


def formatted_value(value: Any, conversion: int, spec: str) -> str:
    """An f-string's `{value!conversion:spec}`, under the same limits as format()."""
    if conversion == ord("r"):
        value = guarded_repr(value)
    elif conversion == ord("s"):
        value = guarded_str(value)
    elif conversion == ord("a"):
        check_printable(value)
        value = ascii(value)
    return guarded_format(value, spec)


def check_printable(value: Any) -> None:
    """Refuse to print a structure with too many values (lists of lists nest to 2**40 items quickly)."""
    if isinstance(value, _CONTAINERS):
        limits = current_budget().limits
        if count_values(value, limits.max_items) > limits.max_items:
            current_budget().too_big(f"the text of a structure holding more than {limits.max_items:,} values")


def count_values(value: Any, limit: int) -> int:
    """How many values `value` holds, counting shared ones each time; stops counting past `limit`."""
    count, pending = 0, [value]
    while pending and count <= limit:
        item = pending.pop()
        count += 1
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(item)
    return count


def guarded_str(value: Any = "") -> str:
    """`str(value)`, refused for structures too big to print."""
    check_printable(value)
    return str(value)


def guarded_repr(value: Any) -> str:
    """`repr(value)`, refused for structures too big to print."""
    check_printable(value)
    return repr(value)


def guarded_range(*bounds: int) -> range:
    """`range(...)`, refused when it would count more numbers than a script may use."""
    numbers = range(*bounds)
    limits = current_budget().limits
    if len(numbers) > limits.max_items:
        current_budget().fail(
            f"range() of {len(numbers):,} numbers is more than a model script may count "
            f"({limits.max_items:,}); loops in model scripts must be short"
        )
    return numbers


def guarded_sum(items: Any, start: Any = 0) -> Any:
    """`sum(...)` of numbers: adding up lists copies each one again and again."""
    if isinstance(start, _SEQUENCES):
        raise ScriptPolicyError("sum() adds numbers in model scripts: join lists with a comprehension")
    return sum(items, start)


# --- growing methods of text, numbers and lists -------------------------------------------------


def _str_widened(text: str, name: str) -> Any:
    method = getattr(text, name)

    def widened(width: int, *rest: Any) -> Any:
        _check_length(text, width)
        return method(width, *rest)

    return widened


def _str_expandtabs(text: str) -> Any:
    def expandtabs(tabsize: int = 8) -> str:
        _check_length(text, len(text) + text.count("\t") * tabsize)
        return text.expandtabs(tabsize)

    return expandtabs


def _str_replace(text: str) -> Any:
    def replace(old: str, new: str, count: int = -1) -> str:
        found = text.count(old) if old else len(text) + 1
        _check_length(text, len(text) + found * len(new))
        return text.replace(old, new, count)

    return replace


def _str_join(text: str) -> Any:
    def join(parts: Any) -> str:
        parts = list(parts)
        _check_length(text, sum(len(p) for p in parts if isinstance(p, str)) + len(text) * len(parts))
        return text.join(parts)

    return join


def _str_split(text: str, name: str) -> Any:
    method = getattr(text, name)

    def split(*args: Any, **kwargs: Any) -> Any:
        _check_length([], len(text) // 2)  # each piece is an object of its own
        return method(*args, **kwargs)

    return split


def _list_extend(items: list[Any]) -> Any:
    def extend(more: Any) -> None:
        if isinstance(more, (*_SEQUENCES, dict, set, frozenset, range)):
            _check_length(items, len(items) + len(more))
        items.extend(more)

    return extend


def _int_to_bytes(number: int) -> Any:
    def to_bytes(length: int = 1, *rest: Any, **kwargs: Any) -> bytes:
        _check_length(b"", length)
        return number.to_bytes(length, *rest, **kwargs)

    return to_bytes


_GROWING_METHODS: dict[tuple[type, str], Any] = {
    **{
        (str, name): functools.partial(_str_widened, name=name)
        for name in ("ljust", "rjust", "center", "zfill")
    },
    (str, "expandtabs"): _str_expandtabs,
    (str, "replace"): _str_replace,
    (str, "join"): _str_join,
    **{(str, name): functools.partial(_str_split, name=name) for name in ("split", "rsplit", "splitlines")},
    (list, "extend"): _list_extend,
    (int, "to_bytes"): _int_to_bytes,
}


_GROWING_NAMES = frozenset(name for _, name in _GROWING_METHODS)


def growing_method(obj: Any, name: str) -> Any:
    """The limited version of a method that can build a big value from a small call, or None."""
    guarded = _GROWING_METHODS.get((type(obj), name))
    return guarded(obj) if guarded is not None else None


# --- library functions that can run long in C, where no loop check reaches ------------------------


def _lgamma_bits(n: float) -> float:
    return math.lgamma(n + 1) / math.log(2) if n > 1 else 1.0


def limited_factorial(n: int) -> int:
    """math.factorial, refused when the result would be too big a number."""
    if isinstance(n, int) and n > 0:
        _check_int_bits(_lgamma_bits(n))
    return math.factorial(n)


def limited_comb(n: int, k: int) -> int:
    """math.comb, refused when the result would be too big a number."""
    if isinstance(n, int) and isinstance(k, int) and 0 <= k <= n:
        _check_int_bits(_lgamma_bits(n) - _lgamma_bits(k) - _lgamma_bits(n - k))
    return math.comb(n, k)


def limited_perm(n: int, k: int | None = None) -> int:
    """math.perm, refused when the result would be too big a number."""
    if isinstance(n, int) and n > 0:
        chosen = n if k is None else k
        if isinstance(chosen, int) and 0 <= chosen <= n:
            _check_int_bits(_lgamma_bits(n) - _lgamma_bits(n - chosen))
    return math.perm(n, k)


def limited_prod(items: Any, *, start: Any = 1) -> Any:
    """math.prod, refused when the product would be too big a number."""
    items = list(items)
    if all(type(i) is int for i in items) and type(start) is int:
        _check_int_bits(sum(i.bit_length() for i in items) + start.bit_length())
    return math.prod(items, start=start)


def limited_json_dumps(value: Any, *args: Any, **kwargs: Any) -> str:
    """json.dumps, refused for structures too big to write out."""
    check_printable(value)
    if isinstance(kwargs.get("indent"), int):
        _check_length("", kwargs["indent"])
    return json.dumps(value, *args, **kwargs)


# Regular expressions run on the `regex` engine, which takes a timeout: `re`'s matcher can take
# years on a catastrophic pattern (`(a|aa)+$`) and cannot be interrupted.
@functools.lru_cache(maxsize=512)
def _compiled(pattern: str, flags: int) -> Any:
    return regex.compile(pattern, flags)


def _matching(call: Any) -> Any:
    budget = current_budget()
    try:
        return call(budget.seconds_left())
    except TimeoutError:
        budget.fail(
            budget.limits.time_message().replace("loops", "regular expressions")
            + " (nested repeats such as (a+)+ backtrack without end)"
        )


class ScriptPattern:
    """A compiled regular expression as model scripts see it: every match runs against the clock."""

    __slots__ = ("_compiled_pattern",)
    _compiled_pattern: Any

    def __init__(self, pattern: Any, flags: int = 0) -> None:
        if isinstance(pattern, ScriptPattern):
            pattern = pattern.pattern
        object.__setattr__(self, "_compiled_pattern", _compiled(pattern, flags))

    @property
    def pattern(self) -> str:
        """The pattern's text."""
        return str(self._compiled_pattern.pattern)

    @property
    def flags(self) -> int:
        """The pattern's flags."""
        return int(self._compiled_pattern.flags)

    @property
    def groups(self) -> int:
        """How many groups the pattern has."""
        return int(self._compiled_pattern.groups)

    def search(self, string: str, *args: Any) -> Any:
        """Like re.Pattern.search."""
        return _matching(lambda left: self._compiled_pattern.search(string, *args, timeout=left))

    def match(self, string: str, *args: Any) -> Any:
        """Like re.Pattern.match."""
        return _matching(lambda left: self._compiled_pattern.match(string, *args, timeout=left))

    def fullmatch(self, string: str, *args: Any) -> Any:
        """Like re.Pattern.fullmatch."""
        return _matching(lambda left: self._compiled_pattern.fullmatch(string, *args, timeout=left))

    def findall(self, string: str, *args: Any) -> list[Any]:
        """Like re.Pattern.findall."""
        _check_length([], len(string) + 1)
        return list(_matching(lambda left: self._compiled_pattern.findall(string, *args, timeout=left)))

    def finditer(self, string: str, *args: Any) -> Iterator[Any]:
        """Like re.Pattern.finditer (the matches are found before the first is given)."""
        _check_length([], len(string) + 1)
        found = _matching(lambda left: list(self._compiled_pattern.finditer(string, *args, timeout=left)))
        return iter(found)

    def split(self, string: str, maxsplit: int = 0) -> list[Any]:
        """Like re.Pattern.split."""
        _check_length([], len(string) + 1)
        return list(
            _matching(lambda left: self._compiled_pattern.split(string, maxsplit=maxsplit, timeout=left))
        )

    def sub(self, repl: Any, string: str, count: int = 0) -> str:
        """Like re.Pattern.sub."""
        return str(self.subn(repl, string, count)[0])

    def subn(self, repl: Any, string: str, count: int = 0) -> tuple[str, int]:
        """Like re.Pattern.subn."""
        if isinstance(repl, str):
            # Matches do not overlap: group references copy at most the whole text once each.
            _check_length(
                string, len(string) + (len(string) + 1) * len(repl) + repl.count("\\") * len(string)
            )
        result = _matching(lambda left: self._compiled_pattern.subn(repl, string, count=count, timeout=left))
        _check_length(string, len(result[0]))
        return (result[0], result[1])

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise ScriptPolicyError("a regular expression cannot be changed by a model script")

    def __repr__(self) -> str:
        return f"re.compile({self.pattern!r})"


def _regex_function(name: str) -> Any:
    def call(pattern: Any, *args: Any, flags: int = 0, **kwargs: Any) -> Any:
        return getattr(ScriptPattern(pattern, flags), name)(*args, **kwargs)

    call.__name__ = name
    call.__doc__ = f"Like re.{name}, against the clock of the script."
    return call


def regex_compile(pattern: Any, flags: int = 0) -> ScriptPattern:
    """Like re.compile."""
    return ScriptPattern(pattern, flags)


REGEX_MEMBERS: dict[str, Any] = {
    **{
        name: _regex_function(name)
        for name in ["search", "match", "fullmatch", "findall", "finditer", "split", "sub", "subn"]
    },
    "compile": regex_compile,
    "escape": regex.escape,
    "error": regex.error,
}


_ROUNDING = {name: getattr(decimal, name) for name in dir(decimal) if name.startswith("ROUND_")}
_REGEX_FLAGS = {name: getattr(re, name) for name in ("A", "ASCII", "I", "IGNORECASE", "M", "MULTILINE")}
_REGEX_FLAGS |= {name: getattr(re, name) for name in ("S", "DOTALL", "X", "VERBOSE")}
_MATH_MEMBERS = {
    name: getattr(math, name)
    for name in dir(math)
    if not name.startswith("_") and isinstance(getattr(math, name), float | int | type(math.sqrt))
}
_MATH_MEMBERS |= {
    "factorial": limited_factorial,
    "comb": limited_comb,
    "perm": limited_perm,
    "prod": limited_prod,
}

LIBRARIES: dict[str, ScriptLibrary] = {
    "datetime": ScriptLibrary(
        "datetime",
        {
            "date": datetime.date,
            "datetime": datetime.datetime,
            "time": datetime.time,
            "timedelta": datetime.timedelta,
            "timezone": datetime.timezone,
            "UTC": datetime.UTC,
            "MINYEAR": datetime.MINYEAR,
            "MAXYEAR": datetime.MAXYEAR,
        },
    ),
    "decimal": ScriptLibrary(
        "decimal",
        {
            "Decimal": decimal.Decimal,
            "DecimalException": decimal.DecimalException,
            "InvalidOperation": decimal.InvalidOperation,
            "DivisionByZero": decimal.DivisionByZero,
            **_ROUNDING,
        },
    ),
    "json": ScriptLibrary(
        "json", {"loads": json.loads, "dumps": limited_json_dumps, "JSONDecodeError": json.JSONDecodeError}
    ),
    "math": ScriptLibrary("math", _MATH_MEMBERS),
    "re": ScriptLibrary("re", {**REGEX_MEMBERS, **_REGEX_FLAGS}),
}

# The builtins scripts get: RestrictedPython's safe set without class building or attribute
# writes, and a few pure functions. No getattr, type, vars, dir, globals, locals, super, object,
# open, eval, exec or compile: each is a way from a value to the interpreter's internals.
_EXTRA_BUILTIN_NAMES = (
    "all any bool dict enumerate filter format frozenset list map max min reversed set sorted sum tuple zip"
)
_REMOVED_BUILTINS = frozenset({"__build_class__", "setattr", "delattr", "_getattr_"})


def script_builtins(importer: Any) -> dict[str, Any]:
    """The `__builtins__` of every script and expression, with `importer` as `__import__`."""
    chosen = {name: value for name, value in safe_builtins.items() if name not in _REMOVED_BUILTINS}
    chosen |= {name: getattr(builtins, name) for name in _EXTRA_BUILTIN_NAMES.split()}
    chosen |= _LIMITED_BUILTINS
    chosen["__import__"] = importer
    return chosen


# Builtins that could build a huge value or count for ever in C, where no loop check reaches.
# (Classes such as str and list stay themselves, so isinstance() keeps working.)
_LIMITED_BUILTINS: dict[str, Any] = {
    "format": guarded_format,
    "pow": guarded_pow,
    "range": guarded_range,
    "repr": guarded_repr,
    "sum": guarded_sum,
}


# Objects a script must never hold on to: each leads to globals, builtins or other modules.
_INTERNALS = (ModuleType, FrameType, CodeType, TracebackType, type(regex.compile("")))
# (a raw compiled pattern, from a match's `.re`, would match without a timeout)
# Classes a script may get hold of through an attribute: those the libraries and builtins offer.
_OFFERED = [
    *script_builtins(None).values(),
    *(v for lib in LIBRARIES.values() for v in library_members(lib).values()),
]
ALLOWED_CLASSES: frozenset[type] = frozenset(value for value in _OFFERED if isinstance(value, type))
OFFERED_FUNCTIONS: frozenset[Any] = frozenset(
    value for value in _OFFERED if isinstance(value, FunctionType | BuiltinFunctionType)
)
# Attribute names refused on anything: frame, code and generator internals, and a class's `mro`.
REFUSED_ATTRIBUTES = frozenset(
    INSPECT_ATTRIBUTES | {"mro", "format", "format_map", "func_globals", "func_code"}
)
# The server's own clock: models read the engine's clock through now() and today().
CLOCK_ATTRIBUTES = frozenset({"now", "today", "utcnow"})
_CLOCK_CLASSES = (datetime.date,)
# Values worth a closer look; anything else (text, numbers, dates, bound methods of values) passes.
_SUSPECT = (*_INTERNALS, type, BuiltinFunctionType, FunctionType)  # datetime.datetime is a date too


def guarded_getattr(obj: Any, name: str) -> Any:
    """`obj.name` for a script: refused for private names, internals and the server's clock."""
    if type(name) is not str:
        raise TypeError("an attribute name must be text")
    if name.startswith("_"):
        raise ScriptPolicyError(f"'{name}' starts with '_': model scripts cannot use private attributes")
    if isinstance(obj, _INTERNALS):
        raise ScriptPolicyError(f"model scripts cannot look inside a {type(obj).__name__}")
    if name in REFUSED_ATTRIBUTES:
        raise ScriptPolicyError(_refused_attribute_message(name))
    if name in CLOCK_ATTRIBUTES and _is_clock(obj):
        raise ScriptPolicyError(_clock_message(name))
    if name in _GROWING_NAMES:
        limited_method = growing_method(obj, name)
        if limited_method is not None:
            return limited_method
    # RestrictedPython's safer_getattr checks nothing more that scripts can reach (the `string`
    # module is not on offer), and would give None for a missing attribute rather than raise.
    value = getattr(obj, name)
    if isinstance(value, _SUSPECT):
        _refuse_internal(value, f"'.{name}'")
    return value


def _is_clock(obj: Any) -> bool:
    return isinstance(obj, _CLOCK_CLASSES) or (isinstance(obj, type) and issubclass(obj, _CLOCK_CLASSES))


def checked_value(value: Any, where: str) -> Any:
    """The value, unless it is an internal object, a class or a library function not on offer."""
    if isinstance(value, _SUSPECT):
        _refuse_internal(value, where)
    return value


def _refuse_internal(value: Any, where: str) -> None:
    if isinstance(value, _INTERNALS):
        raise ScriptPolicyError(f"{where} gives a {type(value).__name__}, which model scripts cannot use")
    if isinstance(value, type) and value not in ALLOWED_CLASSES:
        raise ScriptPolicyError(f"{where} gives the class {value.__name__}, which model scripts cannot use")
    if _foreign_function(value):
        raise ScriptPolicyError(
            f"{where} gives the function {value.__name__}, which model scripts cannot use"
        )


SCRIPT_FILENAME = "<string>"  # SpiffWorkflow finds the failing line by this name


def _foreign_function(value: Any) -> bool:
    """A function of some module that the libraries do not offer (`os.system`, `eval`)."""
    if isinstance(value, BuiltinFunctionType):
        return isinstance(value.__self__, ModuleType) and value not in OFFERED_FUNCTIONS
    if isinstance(value, FunctionType):
        # A script's own functions are compiled from SCRIPT_FILENAME; the engine's are its script functions.
        code_file = value.__code__.co_filename
        return (
            code_file != SCRIPT_FILENAME
            and value.__module__ != "engine.scripting"
            and (value not in OFFERED_FUNCTIONS)
        )
    return False


def guarded_getitem(obj: Any, key: Any) -> Any:
    """`obj[key]` for a script, refusing internal objects as results."""
    return checked_value(obj[key], "an item")


def _refused_attribute_message(name: str) -> str:
    if name in ("format", "format_map"):
        return f"'.{name}' is not available in model scripts: use an f-string or the format() function"
    return f"'.{name}' is not available in model scripts: it leads to the interpreter's internals"


def _clock_message(name: str) -> str:
    return f"'.{name}()' reads the server's clock: use now() or today(), which read the engine's clock"


# --- static policy ---------------------------------------------------------------------------

# Builtins the sandbox does not offer. These names are refused wherever a model uses them, even
# passed along uncalled (`lambda o=open: o(...)`): no field of task data should be called this.
UNAVAILABLE_NAMES = frozenset(
    {
        *("breakpoint", "compile", "eval", "exec", "open", "memoryview", "super"),
        *("delattr", "getattr", "globals", "hasattr", "locals", "setattr", "vars"),
    }
)
# These may well be the names of task data (a form's "type" field), so only a call is refused.
UNAVAILABLE_CALLS = UNAVAILABLE_NAMES | frozenset(
    {
        "classmethod",
        "dir",
        "exit",
        "help",
        "input",
        "object",
        "print",
        "property",
        "quit",
        "staticmethod",
        "type",
    }
)


@dataclass(frozen=True)
class PolicyFinding:
    """Where a script breaks the sandbox's rules: its line (1 = the first) and what to change."""

    line: int | None
    message: str


def policy_findings(source: str, mode: Literal["exec", "eval"]) -> list[PolicyFinding]:
    """What the sandbox would refuse in a script or expression, found without running it.

    Text that is not valid Python gives no finding here; the checks that read it as a timer,
    a decision cell or a condition say what is wrong with it. Remembered by the text: a bundle's
    scripts and cells are checked again at every save of a draft and every deploy.
    """
    return list(_policy_findings(source, mode))


@functools.lru_cache(maxsize=4096)
def _policy_findings(source: str, mode: Literal["exec", "eval"]) -> tuple[PolicyFinding, ...]:
    try:
        tree = ast.parse(source, "<model>", mode)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ()
    compile_restricted = compile_restricted_exec if mode == "exec" else compile_restricted_eval
    result = compile_restricted(source)
    findings = [_finding_from_compiler(message) for message in result.errors]
    findings += _tree_findings(tree)
    return tuple(sorted(set(findings), key=lambda f: (f.line or 0, f.message)))


def _finding_from_compiler(message: str) -> PolicyFinding:
    found = re.match(r"Line (\d+): (.*)", message, re.S)
    if found:
        return PolicyFinding(int(found.group(1)), found.group(2))
    return PolicyFinding(None, message)


def _tree_findings(tree: ast.AST) -> Iterable[PolicyFinding]:
    libraries = _imported_libraries(tree)
    for node in ast.walk(tree):
        message = _node_message(node) or _library_member_message(node, libraries)
        if message:
            yield PolicyFinding(getattr(node, "lineno", None), message)


def _imported_libraries(tree: ast.AST) -> dict[str, str]:
    """The names a script binds to libraries (`import datetime as dt` gives dt -> datetime)."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound |= {(a.asname or a.name): a.name for a in node.names if a.name in LIBRARIES}
    return bound


def _library_member_message(node: ast.AST, libraries: Mapping[str, str]) -> str | None:
    """`datetime.sys`: a name the library does not offer, read from an imported library."""
    if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
        return None
    library = libraries.get(node.value.id)
    if library is None or node.attr in library_members(LIBRARIES[library]):
        return None
    return f"{library}.{node.attr} is not available in model scripts"


def _node_message(node: ast.AST) -> str | None:
    if isinstance(node, ast.Import | ast.ImportFrom):
        return _import_node_message(node)
    if isinstance(node, ast.ClassDef):
        return "class definitions are not available in model scripts: use dictionaries"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in UNAVAILABLE_CALLS:
        return f"{node.func.id}() is not available in model scripts"
    if isinstance(node, ast.Name) and node.id in UNAVAILABLE_NAMES and isinstance(node.ctx, ast.Load):
        return f"{node.id} is not available in model scripts"
    if isinstance(node, ast.Attribute):
        return _attribute_message(node.attr)
    return None


def _attribute_message(name: str) -> str | None:
    if name in REFUSED_ATTRIBUTES and name not in INSPECT_ATTRIBUTES:  # RestrictedPython names those
        return _refused_attribute_message(name)
    return _clock_message(name) if name in CLOCK_ATTRIBUTES else None


def _import_node_message(node: ast.Import | ast.ImportFrom) -> str | None:
    if isinstance(node, ast.ImportFrom):
        return _from_import_message(node)
    return next((m for m in (_import_message(a.name) for a in node.names) if m), None)


def _import_message(name: str) -> str | None:
    if name in LIBRARIES:
        return None
    return f"import of '{name}' is not allowed in model scripts (allowed: {', '.join(sorted(LIBRARIES))})"


def _from_import_message(node: ast.ImportFrom) -> str | None:
    if node.level or node.module is None or node.module not in LIBRARIES:
        return _import_message("." * node.level + (node.module or ""))
    offered = library_members(LIBRARIES[node.module])
    missing = [a.name for a in node.names if a.name not in offered]
    if missing:
        return f"{node.module}.{missing[0]} is not available in model scripts"
    return None


# --- compiling with the limits ----------------------------------------------------------------

TICK = "_limit_"
_OPERATOR_GUARDS: dict[type[ast.operator], str] = {
    ast.Mult: "_mul_",
    ast.Pow: "_pow_",
    ast.LShift: "_lshift_",
    ast.Add: "_add_",
    ast.Mod: "_mod_",
}
FORMATTED_VALUE = "_formatted_"


def limit_guards(budget: ScriptBudget) -> dict[str, Any]:
    """The names the limiting compiler's code calls, for one evaluation's scope."""
    return {
        TICK: budget.tick,
        "_mul_": guarded_mul,
        "_pow_": guarded_pow,
        "_lshift_": guarded_lshift,
        "_add_": guarded_add,
        "_mod_": guarded_mod,
        FORMATTED_VALUE: formatted_value,
    }


LIMIT_GUARD_NAMES = frozenset(limit_guards(ScriptBudget(ScriptLimits())))


def _tick_call(node: ast.AST) -> ast.Call:
    call = ast.Call(func=ast.Name(id=TICK, ctx=ast.Load()), args=[], keywords=[])
    return ast.fix_missing_locations(ast.copy_location(call, node))


def _guard_call(name: str, args: list[ast.expr], node: ast.AST) -> ast.Call:
    call = ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=args, keywords=[])
    return ast.fix_missing_locations(ast.copy_location(call, node))


class LimitingTransformer(RestrictingNodeTransformer):
    """RestrictedPython's rules, plus a deadline check in every loop, function and comprehension,
    and size checks around the operators that can build a huge value from small ones."""

    def _ticking(self, node: Any) -> Any:
        node.body.insert(0, ast.copy_location(ast.Expr(_tick_call(node)), node))
        return node

    def visit_While(self, node: ast.While) -> Any:  # noqa: N802 - ast.NodeTransformer's names
        """A `while` loop checks the deadline at the top of each pass."""
        return self._ticking(super().visit_While(node))

    def visit_For(self, node: ast.For) -> Any:  # noqa: N802 - ast.NodeTransformer's names
        """A `for` loop checks the deadline at the top of each pass."""
        return self._ticking(super().visit_For(node))

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:  # noqa: N802 - ast.NodeTransformer's names
        """A function checks the deadline on each call (recursion has no loop to check)."""
        return self._ticking(super().visit_FunctionDef(node))

    def visit_Lambda(self, node: ast.Lambda) -> Any:  # noqa: N802 - ast.NodeTransformer's names
        """A lambda checks the deadline on each call: `_limit_() or body` (the check gives None)."""
        node = cast(ast.Lambda, super().visit_Lambda(node))
        node.body = ast.copy_location(
            ast.BoolOp(op=ast.Or(), values=[_tick_call(node), node.body]), node.body
        )
        return node

    def visit_comprehension(self, node: ast.comprehension) -> Any:
        """Each item of a comprehension checks the deadline: `if not _limit_()`."""
        node = cast(ast.comprehension, super().visit_comprehension(node))
        node.ifs.append(
            ast.copy_location(ast.UnaryOp(op=ast.Not(), operand=_tick_call(node.iter)), node.iter)
        )
        return node

    def visit_BinOp(self, node: ast.BinOp) -> Any:  # noqa: N802 - ast.NodeTransformer's names
        """`a * b` becomes `_mul_(a, b)`, and likewise for `**`, `<<`, `+` and `%`."""
        node = cast(ast.BinOp, super().visit_BinOp(node))
        guard = _OPERATOR_GUARDS.get(type(node.op))
        return node if guard is None else _guard_call(guard, [node.left, node.right], node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:  # noqa: N802 - ast.NodeTransformer's names
        """`f'{x!r:>{w}}'` becomes `f'{_formatted_(x, ord("r"), f"{w}")}'`: the width is checked."""
        node = cast(ast.FormattedValue, super().visit_FormattedValue(node))
        spec = node.format_spec if node.format_spec is not None else ast.Constant(value="")
        call = _guard_call(FORMATTED_VALUE, [node.value, ast.Constant(value=node.conversion), spec], node)
        return ast.copy_location(ast.FormattedValue(value=call, conversion=-1, format_spec=None), node)
