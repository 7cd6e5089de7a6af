"""The critical few: the small set of cases that need the closest eye, each with the reasons why.

The proposed rule of domain.md 2.4. "Critical" is not only MAPPA level 3: most serious further
offences are committed by people assessed as medium or low risk, so high RoSH with child protection,
domestic abuse, risk to staff or weapons counts too. Which cases are critical, and the words of each
reason, are the decision table `critical_few` in the offender management bundle
(processes/offender-management/critical_few.dmn), so the process owner can change the rule without
changing code; this module reads it. "Watch" is the next band down; everything else is background.
The other registrations collapse into five lenses instead of ~200 flags.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.spiff.parser import SpiffBpmnParser

from casework.models import Case
from casework.registers import REGISTER_TYPES, Lens
from casework.vocabulary import RoshLevel
from engine.scripting import SandboxedEnvironment, ServiceRegistry, compile_sandboxed

# The decision table that says which cases are critical and why.
CRITICAL_FEW_TABLE = (
    Path(__file__).resolve().parent.parent / "processes" / "offender-management" / "critical_few.dmn"
)
CRITICAL_FEW_DECISION = "critical_few"

# Registrations that make a high-RoSH case critical, with the words the reason uses.
HIGH_RISK_AGGRAVATING: dict[str, str] = {
    "RCPR": "child protection",
    "RCHD": "risk to children",
    "ADVP": "domestic abuse perpetrator",
    "IMAR": "MARAC",
    "AV2S": "risk to staff",
    "WEAP": "weapons",
}
# Registrations that put a medium-RoSH case on the watch list.
MEDIUM_RISK_WATCH: dict[str, str] = {
    "RCPR": "child protection",
    "RCHD": "risk to children",
    "RCCO": "child concerns",
    "ADVP": "domestic abuse perpetrator",
    "REG30": "domestic abuse history",
    "IMAR": "MARAC",
}


class Band(StrEnum):
    """How closely a case needs watching."""

    CRITICAL = "critical"
    WATCH = "watch"
    BACKGROUND = "background"


@dataclass(frozen=True)
class Override:
    """An SPO's or ACO's decision to treat a case as critical, with a reason and an end date."""

    by: str
    reason: str
    until: date


@dataclass(frozen=True)
class RiskProfile:
    """What the rule looks at: the case's risk, MAPPA level and active registrations."""

    rosh: RoshLevel | None
    mappa_level: int | None = None
    registrations: frozenset[str] = frozenset()
    open_recall_or_breach: bool = False
    override: Override | None = None

    @classmethod
    def of(
        cls, case: Case, *, open_recall_or_breach: bool = False, override: Override | None = None
    ) -> RiskProfile:
        """The profile of a case on the register, from its active registrations."""
        return cls(
            rosh=case.rosh,
            mappa_level=case.mappa_level,
            registrations=frozenset(r.code for r in case.active_registrations()),
            open_recall_or_breach=open_recall_or_breach,
            override=override,
        )


@dataclass(frozen=True)
class Assessment:
    """The band a case is in and, for critical and watch cases, the reasons in plain words."""

    band: Band
    reasons: list[str] = field(default_factory=list)

    @property
    def critical(self) -> bool:
        """Whether the case is one of the critical few."""
        return self.band is Band.CRITICAL


def critical_reasons(profile: RiskProfile, *, today: date | None = None) -> list[str]:
    """Every reason the case is critical (from the decision table, then any override); empty if not."""
    reasons = list(_critical_table().reasons(_table_inputs(profile)))
    override = profile.override
    if override is not None and (today is None or today <= override.until):
        reasons.append(f"Marked critical by {override.by} until {override.until:%d %B %Y}: {override.reason}")
    return reasons


def watch_reasons(profile: RiskProfile) -> list[str]:
    """Why a case that is not critical is on the watch list; empty for background cases."""
    if profile.rosh is RoshLevel.HIGH:
        return ["High RoSH"]
    if profile.rosh is RoshLevel.MEDIUM:
        return [
            f"Medium RoSH + {words}"
            for code, words in MEDIUM_RISK_WATCH.items()
            if code in profile.registrations
        ]
    return []


def assess(profile: RiskProfile, *, today: date | None = None) -> Assessment:
    """The case's band (critical, watch or background) with its reasons."""
    critical = critical_reasons(profile, today=today)
    if critical:
        return Assessment(Band.CRITICAL, critical)
    watch = watch_reasons(profile)
    if watch:
        return Assessment(Band.WATCH, watch)
    return Assessment(Band.BACKGROUND)


def lenses(codes: Collection[str]) -> dict[Lens, list[str]]:
    """The case's registrations gathered under the five lenses (codes with no lens are left out)."""
    gathered: dict[Lens, list[str]] = {lens: [] for lens in Lens}
    for code in sorted(codes):
        kind = REGISTER_TYPES.get(code)
        if kind is not None and kind.lens is not None:
            gathered[kind.lens].append(code)
    return gathered


class CriticalFewTable:
    """The `critical_few` decision table, read once, evaluated in the same sandbox as the models."""

    def __init__(self, path: Path = CRITICAL_FEW_TABLE, decision: str = CRITICAL_FEW_DECISION) -> None:
        parser = SpiffBpmnParser()
        parser.add_dmn_file(str(path))
        self._engine = DMNEngine(parser.get_engine(decision, None).decision_table)
        self._evaluator = _SandboxEvaluator()

    def reasons(self, inputs: Mapping[str, Any]) -> list[str]:
        """The reasons of every row that matches `inputs`, in the table's order."""
        task = SimpleNamespace(data=dict(inputs), workflow=SimpleNamespace(script_engine=self._evaluator))
        found = self._engine.result(task).get("reason", [])
        return [str(reason) for reason in found]


class _SandboxEvaluator:
    """What the DMN engine needs of a script engine: the models' sandbox, over plain inputs."""

    def __init__(self) -> None:
        self._environment = SandboxedEnvironment({}, ServiceRegistry())

    def validate(self, expression: str) -> None:
        compile_sandboxed(expression.strip(), "eval")

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        return self._environment.evaluate(expression, task.data, external_context)


@functools.cache
def _critical_table() -> CriticalFewTable:
    return CriticalFewTable()


def table_inputs(profile: RiskProfile) -> dict[str, Any]:
    """What the critical-few table reads of a case (for evaluating another version of the table)."""
    return _table_inputs(profile)


def _table_inputs(profile: RiskProfile) -> dict[str, Any]:
    return {
        "rosh": profile.rosh.value if profile.rosh else "",
        "mappa_level": profile.mappa_level or 0,
        "registrations": sorted(profile.registrations),
        "open_recall_or_breach": profile.open_recall_or_breach,
    }
