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
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import BuiltinFunctionType, CodeType, FrameType, FunctionType, ModuleType, TracebackType
from typing import Any, Literal, NoReturn

from RestrictedPython.compile import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import safe_builtins
from RestrictedPython.transformer import INSPECT_ATTRIBUTES


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


_ROUNDING = {name: getattr(decimal, name) for name in dir(decimal) if name.startswith("ROUND_")}
_REGEX_FLAGS = {name: getattr(re, name) for name in ("A", "ASCII", "I", "IGNORECASE", "M", "MULTILINE")}
_REGEX_FLAGS |= {name: getattr(re, name) for name in ("S", "DOTALL", "X", "VERBOSE")}
_REGEX_FUNCTIONS = "compile escape findall finditer fullmatch match search split sub subn error"
_MATH_MEMBERS = {
    name: getattr(math, name)
    for name in dir(math)
    if not name.startswith("_") and isinstance(getattr(math, name), float | int | type(math.sqrt))
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
        "json", {"loads": json.loads, "dumps": json.dumps, "JSONDecodeError": json.JSONDecodeError}
    ),
    "math": ScriptLibrary("math", _MATH_MEMBERS),
    "re": ScriptLibrary("re", {**{n: getattr(re, n) for n in _REGEX_FUNCTIONS.split()}, **_REGEX_FLAGS}),
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
    chosen["__import__"] = importer
    return chosen


# Objects a script must never hold on to: each leads to globals, builtins or other modules.
_INTERNALS = (ModuleType, FrameType, CodeType, TracebackType)
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
    a decision cell or a condition say what is wrong with it.
    """
    try:
        tree = ast.parse(source, "<model>", mode)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    compile_restricted = compile_restricted_exec if mode == "exec" else compile_restricted_eval
    result = compile_restricted(source)
    findings = [_finding_from_compiler(message) for message in result.errors]
    findings += _tree_findings(tree)
    return sorted(set(findings), key=lambda f: (f.line or 0, f.message))


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
