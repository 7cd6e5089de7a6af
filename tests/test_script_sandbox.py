"""The script sandbox: a corpus of escape attempts that must stay refused, at run time and by the checks.

Every attempt tries to reach a module, a frame, the real builtins or a format-string traversal,
and ends by writing a canary file or reading a secret one. Each must raise before it does either,
through the sandbox directly and, for a sample, through real steps of a deployed model.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, SimpleNamespace, TracebackType
from typing import Any
from xml.sax.saxutils import escape

import pytest
from conftest import BUNDLES, CLERK, START
from sqlalchemy import select

import engine.checks
from engine.bundle import Bundle
from engine.clock import ManualClock, WorkingCalendar
from engine.models import HumanTask, ProcessInstance
from engine.runtime import InstanceStatus, ProcessEngine
from engine.sandbox import LIBRARIES, ScriptPolicyError, guarded_getattr, guarded_getitem, policy_findings
from engine.scripting import SandboxedEnvironment, ServiceRegistry, standard_functions

SECRET = "the-secret-in-the-file"

# Reaching a module through a library's public attributes: the reported attack and its cousins.
MODULE_WALKS = {
    "dt_sys_os_popen": "import datetime\nx = datetime.sys.modules['os'].popen('touch ' + canary).read()",
    "dt_sys_builtins_open": "import datetime\ndatetime.sys.modules['builtins'].open(canary, 'w').write('x')",
    "dt_sys_read_secret": "import datetime\nleak = datetime.sys.modules['builtins'].open(secret).read()",
    "datetime_alias_sys": "import datetime as dt\ndt.sys.modules['os'].system('touch ' + canary)",
    "json_decoder_re_sys": "import json\njson.decoder.re.enum.sys.modules['os'].system('touch ' + canary)",
    "json_codecs_open": "import json\njson.codecs.open(canary, 'w').write('x')",
    "re_enum_sys": "import re\nre.enum.sys.modules['os'].system('touch ' + canary)",
    "re_functools_sys": "import re\nre.functools.sys.modules['os'].system('touch ' + canary)",
    "re_copyreg": "import re\nre.copyreg.sys.modules['os'].system('touch ' + canary)",
    "re_private_compiler": "import re\nre._compiler.sys.modules['os'].system('touch ' + canary)",
    "decimal_sys": "import decimal\ndecimal.sys.modules['os'].system('touch ' + canary)",
    "decimal_numbers": "import decimal\ndecimal.numbers.sys.modules['os'].system('touch ' + canary)",
    "math_spec_loader": "import math\nmath.__spec__.loader.load_module('os').system('touch ' + canary)",
    "from_datetime_import_sys": "from datetime import sys\nsys.modules['os'].system('touch ' + canary)",
    "from_json_import_decoder": "from json import decoder\ndecoder.sys.modules['os'].system(canary)",
    "import_os": "import os\nos.system('touch ' + canary)",
    "import_subprocess": "import subprocess\nsubprocess.run(['touch', canary])",
    "import_dotted": "import json.decoder\njson.decoder.sys.modules['os'].system('touch ' + canary)",
    "import_string_formatter": "import string\nstring.Formatter().get_field('0.__class__', [1], {})",
    "import_operator_attrgetter": "import operator\nf = operator.attrgetter('__class__')",
    "dunder_import": "__import__('os').system('touch ' + canary)",
    "class_attribute_module": "from datetime import datetime\nx = datetime.strptime.__module__",
}

# Classic RestrictedPython escapes: dunders, frames, builtins, classes, getattr and friends.
CLASSIC = {
    "subclasses_walk": "x = ().__class__.__bases__[0].__subclasses__()",
    "mro_walk": "x = int.mro()[-1]",
    "exception_mro": "x = KeyError.mro()",
    "builtins_name": "x = __builtins__['open'](canary, 'w')",
    "open_builtin": "open(canary, 'w').write('x')",
    "eval_builtin": "eval(\"__import__('os').system('touch ' + canary)\")",
    "exec_builtin": 'exec("import os")',
    "compile_builtin": "c = compile('1', 'x', 'eval')",
    "getattr_built_name": "import datetime\nm = getattr(datetime, ''.join(['s', 'y', 's']))",
    "getattr_dunder_concat": "x = getattr(1, '__cl' + 'ass__')",
    "hasattr_probe": "x = hasattr(1, '__class__')",
    "vars_call": "x = vars()",
    "globals_call": "x = globals()['__builtins__']",
    "locals_call": "x = locals()",
    "dir_call": "x = dir()",
    "type_call": "x = type(1).__subclasses__()",
    "type_three_args": "x = type('Escape', (), {})",
    "super_call": "x = super()",
    "object_subclasses": "x = object.__subclasses__()",
    "class_definition": "class Escape:\n    pass",
    "class_of_exception": "class Escape(Exception):\n    pass",
    "lambda_globals": "f = lambda: 0\nx = f.__globals__['__builtins__']",
    "lambda_default_open": "f = lambda o=open: o(canary, 'w')\nf()",
    "function_code": "def f():\n    return 1\nx = f.__code__",
    "decorator_reaching_globals": "def d(f):\n    return f.__globals__\n@d\ndef g():\n    pass",
    "engine_function_globals": "x = now.__globals__",
    "engine_function_closure": "x = now.__closure__[0].cell_contents",
    "generator_frame": "x = (y for y in []).gi_frame.f_globals",
    "generator_frame_back": "def g():\n    yield 1\nit = g()\nx = it.gi_frame.f_back",
    "generator_code": "x = (y for y in []).gi_code",
    "traceback_frame": "try:\n    1 / 0\nexcept Exception as e:\n    x = e.__traceback__.tb_frame.f_globals",
    "traceback_name": "try:\n    1 / 0\nexcept Exception as e:\n    t = e.__traceback__",
    "exception_class_walk": "try:\n    1 / 0\nexcept Exception as e:\n    x = e.__class__.__base__",
    "library_private_members": "import datetime\nx = datetime._members",
    "print_call": "print(secret)",
    "private_name": "_getattr_ = None",
    "server_clock_datetime_now": "import datetime\nx = datetime.datetime.now().isoformat()",
    "server_clock_date_today": "from datetime import date\nx = date.today().isoformat()",
    "server_clock_utcnow": "from datetime import datetime\nx = datetime.utcnow().isoformat()",
}

# str.format and format_map walk attributes and items by the names in the template.
FORMAT_STRINGS = {
    "format_class": "x = '{0.__class__.__base__.__subclasses__}'.format(1)",
    "format_globals": "f = lambda: 0\nx = '{0.__globals__[__builtins__]}'.format(f)",
    "format_generator_frame": "g = (y for y in [])\nx = '{0.gi_frame.f_back}'.format(g)",
    "format_unbound": "x = str.format('{0.__class__}', 1)",
    "format_map_walk": "x = '{a.__class__}'.format_map({'a': 1})",
    "format_library": "import datetime\nx = '{0.sys.modules}'.format(datetime)",
    "format_builtin_traversal": "x = format(1, '{0.__class__}')",
    "fstring_dunder": "x = f'{canary.__class__}'",
}

SCRIPT_ESCAPES = {**MODULE_WALKS, **CLASSIC, **FORMAT_STRINGS}
# Refused only at run time, and harmless: format()'s spec language has no attribute traversal,
# so this fails as a bad format spec.
RUNTIME_ONLY = {"format_builtin_traversal"}

# Escapes as expressions: what a condition, a timer or a decision cell could try.
EXPRESSION_ESCAPES = {
    "dunder_walk": "().__class__.__bases__[0].__subclasses__()",
    "format_walk": "'{0.__class__}'.format(1)",
    "format_map_walk": "'{a.__class__}'.format_map({'a': 1})",
    "generator_frame": "(y for y in []).gi_frame.f_globals",
    "open": "open(canary, 'w').write('x')",
    "dunder_import": "__import__('os').system('touch ' + canary)",
    "mro": "int.mro()",
    "getattr": "getattr(1, '__class__')",
    "lambda_globals": "(lambda: 0).__globals__",
}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Any]:
    """Task data naming a canary file an escape would create and a secret file it would read."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    return {"canary": str(tmp_path / "canary.txt"), "secret": str(secret)}


@pytest.fixture
def environment() -> SandboxedEnvironment:
    """The sandbox as the engine builds it, with the standard script functions."""
    return SandboxedEnvironment(standard_functions(ManualClock(START), WorkingCalendar()), ServiceRegistry())


def assert_nothing_escaped(files: dict[str, Any], *places: Any) -> None:
    assert not Path(files["canary"]).exists(), "an escape wrote the canary file"
    for place in places:
        assert SECRET not in repr(place), "an escape read the secret file"


@pytest.mark.parametrize("script", SCRIPT_ESCAPES.values(), ids=SCRIPT_ESCAPES.keys())
def test_the_sandbox_refuses_each_escape_script(
    environment: SandboxedEnvironment, files: dict[str, Any], script: str
) -> None:
    context = dict(files)
    with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal will do, as long as nothing ran
        environment.execute(script, context)
    assert_nothing_escaped(files, context)


@pytest.mark.parametrize("expression", EXPRESSION_ESCAPES.values(), ids=EXPRESSION_ESCAPES.keys())
def test_the_sandbox_refuses_each_escape_expression(
    environment: SandboxedEnvironment, files: dict[str, Any], expression: str
) -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011
        environment.evaluate(expression, dict(files))
    assert_nothing_escaped(files)


@pytest.mark.parametrize("name", sorted(SCRIPT_ESCAPES.keys() - RUNTIME_ONLY))
def test_the_model_checks_name_each_escape_script(name: str) -> None:
    assert policy_findings(SCRIPT_ESCAPES[name], "exec"), "the checks let an escape through to run time"


@pytest.mark.parametrize("expression", EXPRESSION_ESCAPES.values(), ids=EXPRESSION_ESCAPES.keys())
def test_the_model_checks_name_each_escape_expression(expression: str) -> None:
    assert policy_findings(expression, "eval")


def test_an_imported_library_is_a_namespace_of_values_not_a_module(environment: SandboxedEnvironment) -> None:
    script = (
        "import datetime, decimal, json, math, re\n"
        "from datetime import date, timedelta\n"
        "due = (date(2026, 1, 2) + timedelta(days=3)).isoformat()\n"
        "floor = math.floor(2.5)\n"
        "matched = bool(re.fullmatch(r'[A-Z]\\d{5}', 'X12345'))\n"
        "parsed = json.loads('{\"a\": [1, 2]}')['a'][1]\n"
        "money = str(decimal.Decimal('1.10') * 2)\n"
        "kind = repr(datetime)\n"
    )
    context: dict[str, Any] = {}
    environment.execute(script, context)
    assert {k: context[k] for k in ("due", "floor", "matched", "parsed", "money")} == {
        "due": "2026-01-05",
        "floor": 2,
        "matched": True,
        "parsed": 2,
        "money": "2.20",
    }
    assert context["kind"] == "<model script library datetime>"
    assert not {"datetime", "decimal", "json", "math", "re", "date", "timedelta"} & set(context)


def test_a_script_cannot_change_a_library_for_the_scripts_after_it(environment: SandboxedEnvironment) -> None:
    for script in (
        "import math\nmath.pi = 3",
        "import datetime\ndatetime.date = None",
        "import re\nre.x = 1",
    ):
        with pytest.raises(Exception):  # noqa: B017, PT011
            environment.execute(script, {})
    context: dict[str, Any] = {}
    environment.execute(
        "import math, datetime\npi = math.pi\nd = datetime.date(2026, 1, 1).isoformat()", context
    )
    assert (context["pi"], context["d"]) == (3.141592653589793, "2026-01-01")


def test_task_data_cannot_replace_the_guards(environment: SandboxedEnvironment) -> None:
    # Task data is merged into the scope; the guards are applied after it, so a permissive
    # `_getattr_` or `__builtins__` in the data has no effect.
    permissive = {"_getattr_": getattr, "__builtins__": __builtins__}
    with pytest.raises(Exception, match="format"):
        environment.evaluate("'{0}'.format(1)", permissive)
    with pytest.raises(NameError):
        environment.evaluate("open", permissive)


def test_libraries_hold_no_module_and_no_foreign_class() -> None:
    for library in LIBRARIES.values():
        for name in dir(library):
            value = getattr(library, name)
            assert type(value).__name__ != "module", f"{library!r}.{name} is a module"


def _frame_and_traceback() -> tuple[FrameType, TracebackType]:
    try:
        raise ValueError("for its traceback")
    except ValueError as err:
        assert err.__traceback__ is not None
        return sys._getframe(), err.__traceback__


def test_attribute_reads_are_refused_by_what_the_object_is() -> None:
    # However a script came to hold one, a module, frame, code object or traceback yields nothing.
    frame, traceback = _frame_and_traceback()
    for holder, name in [
        (json, "loads"),
        (frame, "f_lineno"),
        (frame.f_code, "co_name"),
        (traceback, "tb_lineno"),
    ]:
        with pytest.raises(ScriptPolicyError):
            guarded_getattr(holder, name)


def test_attribute_and_item_reads_are_refused_by_what_the_value_is() -> None:
    frame, _ = _frame_and_traceback()
    holder = SimpleNamespace(module=os, frame=frame, system=os.system, cls=SimpleNamespace, helper=json.load)
    for name in ("module", "frame", "system", "cls", "helper"):
        with pytest.raises(ScriptPolicyError):
            guarded_getattr(holder, name)
        with pytest.raises(ScriptPolicyError):
            guarded_getitem(vars(holder), name)
    assert guarded_getattr(SimpleNamespace(date=datetime.date), "date") is datetime.date


def test_the_engine_clock_is_what_scripts_read(environment: SandboxedEnvironment) -> None:
    context: dict[str, Any] = {}
    environment.execute("stamp = now().isoformat()\nday = today().isoformat()", context)
    assert (context["stamp"], context["day"]) == (START.isoformat(), START.date().isoformat())


# --- through real steps of a deployed model ------------------------------------------------------


@pytest.fixture
def published_before_the_script_check(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A version published before the checks applied the sandbox's rules: only run time stands."""
    monkeypatch.setattr(engine.checks, "policy_findings", lambda _source, _mode: [])
    yield


def escapes_bundle(
    script: str = "x = 1",
    condition: str = "False",
    timer: str = '"P1D"',
    input_cell: str = "-",
    output_cell: str = "'done'",
) -> Bundle:
    """The escapes fixture with each @NAME@ filled in (XML-escaped)."""
    values = {
        "SCRIPT": script,
        "CONDITION": condition,
        "TIMER": timer,
        "INPUT_CELL": input_cell,
        "OUTPUT_CELL": output_cell,
    }
    files: dict[str, bytes] = {}
    for path in sorted((BUNDLES / "escapes").iterdir()):
        text = path.read_text()
        for name, value in values.items():
            text = text.replace(f"@{name}@", escape(value))
        files[path.name] = text.encode()
    return Bundle("escapes", files)


def stored(engine_: ProcessEngine, instance_id: int) -> tuple[str, list[str]]:
    """The instance's stored state and its open tasks' element ids."""
    with engine_.db.transaction(write=False) as session:
        row = session.get(ProcessInstance, instance_id)
        assert row is not None
        open_tasks = session.scalars(
            select(HumanTask.element_id).where(
                HumanTask.instance_id == instance_id, HumanTask.state == "open"
            )
        ).all()
        return row.state, list(open_tasks)


STEP_ESCAPES = ["dt_sys_os_popen", "dt_sys_read_secret", "generator_frame", "format_globals"]


@pytest.mark.usefixtures("published_before_the_script_check")
@pytest.mark.parametrize("name", STEP_ESCAPES)
def test_an_escape_in_a_script_task_fails_the_step_as_a_model_error(
    engine: ProcessEngine, files: dict[str, Any], name: str
) -> None:
    engine.deploy(escapes_bundle(script=SCRIPT_ESCAPES[name]), actor="owner")
    started = engine.start("escape_script", business_key="E1", data=files)
    with engine.db.transaction(write=False) as session:
        task_id = session.scalar(select(HumanTask.id).where(HumanTask.element_id == "prepare"))
    assert task_id is not None
    before, _ = stored(engine, started.instance_id)
    result = engine.complete_task(task_id, CLERK, {})
    assert result.status == InstanceStatus.ERROR
    assert result.error is not None and result.error["element_id"] == "escape"
    state, open_tasks = stored(engine, started.instance_id)
    assert open_tasks == []
    assert state.count("after_script") == before.count("after_script")  # the flow did not move on
    assert_nothing_escaped(files, state, result.error)


@pytest.mark.usefixtures("published_before_the_script_check")
@pytest.mark.parametrize("name", ["dt_sys_os_popen", "dt_sys_builtins_open", "json_codecs_open"])
def test_an_escape_in_a_user_task_prescript_fails_when_the_case_arrives(
    engine: ProcessEngine, files: dict[str, Any], name: str
) -> None:
    engine.deploy(escapes_bundle(script=SCRIPT_ESCAPES[name]), actor="owner")
    result = engine.start("escape_prescript", business_key="E1", data=files)
    assert result.status == InstanceStatus.ERROR
    assert result.error is not None and result.error["element_id"] == "court_case"
    state, open_tasks = stored(engine, result.instance_id)
    assert open_tasks == []
    assert_nothing_escaped(files, state, result.error)


@pytest.mark.usefixtures("published_before_the_script_check")
@pytest.mark.parametrize(
    ("process_id", "element_id", "bundle_values"),
    [
        ("escape_condition", "choose", {"condition": EXPRESSION_ESCAPES["format_walk"]}),
        ("escape_condition", "choose", {"condition": EXPRESSION_ESCAPES["mro"] + " == []"}),
        ("escape_timer", "wait", {"timer": EXPRESSION_ESCAPES["format_map_walk"]}),
        ("escape_decision", "decide", {"input_cell": EXPRESSION_ESCAPES["format_walk"] + " == ?"}),
        ("escape_decision", "decide", {"output_cell": EXPRESSION_ESCAPES["format_walk"]}),
        ("escape_decision", "decide", {"output_cell": "str(int.mro())"}),
    ],
    ids=["condition_format", "condition_mro", "timer_format_map", "dmn_input_cell", "dmn_output", "dmn_mro"],
)
def test_conditions_timers_and_decision_cells_run_in_the_sandbox(
    engine: ProcessEngine,
    files: dict[str, Any],
    process_id: str,
    element_id: str,
    bundle_values: dict[str, str],
) -> None:
    engine.deploy(escapes_bundle(**bundle_values), actor="owner")
    result = engine.start(process_id, business_key="E1", data={**files, "level": "HIGH"})
    assert result.status == InstanceStatus.ERROR
    assert result.error is not None and result.error["element_id"] == element_id
    assert_nothing_escaped(files, result.error)


@pytest.mark.usefixtures("published_before_the_script_check")
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("import os\nwhere = os.getcwd()", "import of 'os' is not allowed"),
        ("content = open('/etc/hostname').read()", "open"),
        ("bases = ().__class__.__bases__", "__class__"),
        ("x = __builtins__", "__builtins__"),
        ("import datetime\nx = datetime.sys", "datetime.sys is not available"),
        ("x = int.mro()", "'.mro' is not available"),
    ],
)
def test_the_model_error_says_what_the_sandbox_refused(
    engine: ProcessEngine, script: str, expected: str
) -> None:
    engine.deploy(escapes_bundle(script=script), actor="owner")
    result = engine.start("escape_prescript", business_key="E1")
    assert result.status == InstanceStatus.ERROR
    assert result.error is not None and expected in result.error["message"]


def test_the_escapes_fixture_runs_when_its_code_is_harmless(engine: ProcessEngine) -> None:
    # Keeps the fixture honest: the failures above come from the escapes, not from the model.
    engine.deploy(escapes_bundle(), actor="owner")
    for process_id in ("escape_prescript", "escape_condition", "escape_decision"):
        result = engine.start(process_id, business_key=process_id, data={"level": "HIGH"})
        assert result.status == InstanceStatus.AWAITING_PEOPLE, result.error


def test_deploying_an_escape_is_refused_with_its_element_and_line(engine: ProcessEngine) -> None:
    from engine.errors import DefinitionError

    with pytest.raises(DefinitionError) as refused:
        engine.deploy(escapes_bundle(script=SCRIPT_ESCAPES["dt_sys_os_popen"]), actor="owner")
    found = [p for p in refused.value.problems if "datetime.sys" in p.message]
    assert {p.element_id for p in found} == {"escape", "court_case"}
    assert all(p.line is not None and "line 2" in p.message for p in found)
