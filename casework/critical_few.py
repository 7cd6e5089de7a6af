"""The critical few: the small set of cases that need the closest eye, each with the reasons why.

The proposed rule of domain.md 2.4. "Critical" is not only MAPPA level 3: most serious further
offences are committed by people assessed as medium or low risk, so high RoSH with child protection,
domestic abuse, risk to staff or weapons counts too. Which cases are critical, and the words of each
reason, are the decision table `critical_few` in the offender management bundle
(processes/offender-management/critical_few.dmn), so the process owner can change the rule without
changing code. The table in force is the one in the newest deployed version of the bundle (a process
owner's publish changes it at once); the file on disk counts only until a version with it is deployed.
This module reads it. "Watch" is the next band down; everything else is background.
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
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from casework.models import Case, Registration
from casework.register_types import REGISTER_TYPES, Lens
from casework.vocabulary import RoshLevel
from engine.models import DefinitionFile, ProcessDefinition
from engine.scripting import SandboxedEnvironment, ServiceRegistry, compile_sandboxed
from engine.xmlsafe import parse_xml

# The decision table that says which cases are critical and why.
CRITICAL_FEW_TABLE = (
    Path(__file__).resolve().parent.parent / "processes" / "offender-management" / "critical_few.dmn"
)
CRITICAL_FEW_DECISION = "critical_few"
CRITICAL_FEW_FILE = CRITICAL_FEW_TABLE.name

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


def critical_reasons(
    profile: RiskProfile, *, today: date | None = None, table: CriticalFewTable | None = None
) -> list[str]:
    """Every reason the case is critical (from the decision table, then any override); empty if not.

    `table` is the table in force (`table_in_force(session)`); without it, the one this process last
    read from the database, or the file on disk before any was read.
    """
    reasons = list((table or _last_table()).reasons(_table_inputs(profile)))
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


def assess(
    profile: RiskProfile, *, today: date | None = None, table: CriticalFewTable | None = None
) -> Assessment:
    """The case's band (critical, watch or background) with its reasons."""
    critical = critical_reasons(profile, today=today, table=table)
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


# ------------------------------------------------------------------- the stored critical-few flag


def keep_critical_flag(session: Session, case: Case) -> bool:
    """Store on `case` whether the rule puts it among the critical few, from its RoSH, MAPPA level and
    the registrations in force as the database has them now (read here, so pending changes count).

    The register calls this in the same transaction as every change to one of those, so that the
    register list can filter on the stored flag. Overrides and recalls are not part of it (the
    register list never counted them). Returns the flag.
    """
    codes = session.scalars(
        select(Registration.code).where(
            Registration.case_id == case.id, Registration.deregistered_at.is_(None)
        )
    )
    table = table_in_force(session)
    critical = bool(table.reasons(_table_inputs(RiskProfile(case.rosh, case.mappa_level, frozenset(codes)))))
    if case.critical is not critical:
        case.critical = critical
    return critical


def recompute_critical_flags(
    session: Session, table: CriticalFewTable | None = None, *, chunk: int = 10_000
) -> int:
    """Evaluate the rule again for every case on the register and store what changed (after the
    decision table is republished, or for rows written without the register); the number changed.

    Cases are read in chunks of ids with their registrations in force; the table is evaluated once
    for each distinct set of inputs, not once per case. `table` defaults to the table in force.
    """
    table = table or table_in_force(session)
    decided: dict[tuple[Any, ...], bool] = {}
    changed = 0
    last = 0
    while True:
        cases = session.execute(
            select(Case.id, Case.rosh, Case.mappa_level, Case.critical)
            .where(Case.id > last)
            .order_by(Case.id)
            .limit(chunk)
        ).all()
        if not cases:
            return changed
        first, last = cases[0][0], cases[-1][0]
        codes: dict[int, set[str]] = {}
        in_force = select(Registration.case_id, Registration.code).where(
            Registration.case_id.between(first, last), Registration.deregistered_at.is_(None)
        )
        for case_id, code in session.execute(in_force):
            codes.setdefault(case_id, set()).add(code)
        updates = []
        for case_id, rosh, mappa_level, stored in cases:
            profile = RiskProfile(rosh, mappa_level, frozenset(codes.get(case_id, ())))
            key = (profile.rosh, profile.mappa_level, profile.registrations)
            if key not in decided:
                decided[key] = bool(table.reasons(_table_inputs(profile)))
            if decided[key] != bool(stored):
                updates.append({"id": case_id, "critical": decided[key]})
        if updates:
            session.execute(update(Case), updates)
            changed += len(updates)


class CriticalFewTable:
    """The `critical_few` decision table, read once, evaluated in the same sandbox as the models."""

    def __init__(
        self,
        path: Path = CRITICAL_FEW_TABLE,
        decision: str = CRITICAL_FEW_DECISION,
        *,
        content: bytes | None = None,
    ) -> None:
        """The table in the file at `path`, or in `content` (a deployed version's file) when given."""
        parser = SpiffBpmnParser()
        if content is None:
            content = path.read_bytes()
        parser.add_dmn_xml(parse_xml(content, path.name), filename=path.name)
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


# ------------------------------------------------------------------- the table in force


def deployed_table_file(session: Session, *, besides: int | None = None) -> tuple[int, bytes] | None:
    """The critical-few file of the newest deployed version that has one, as (definition id, content),
    leaving out version `besides` if given; None when no deployed version has one."""
    query = select(DefinitionFile.definition_id, DefinitionFile.content).where(_IS_TABLE_FILE)
    if besides is not None:
        query = query.where(DefinitionFile.definition_id != besides)
    row = session.execute(_newest_first(query).limit(1)).first()
    return None if row is None else (row[0], bytes(row[1]))


def table_in_force(session: Session) -> CriticalFewTable:
    """The critical-few table of the newest deployed version (the file on disk before any is deployed).

    Each version's table is parsed once per process; asking costs one small query.
    """
    newest = session.execute(
        _newest_first(
            select(DefinitionFile.definition_id, ProcessDefinition.content_hash).where(_IS_TABLE_FILE)
        ).limit(1)
    ).first()
    if newest is None:
        table = _disk_table()
    elif (cached := _deployed_tables.get(newest.content_hash)) is not None:
        table = cached
    else:
        content = session.scalar(
            select(DefinitionFile.content).where(
                DefinitionFile.definition_id == newest.definition_id, _IS_TABLE_FILE
            )
        )
        table = _deployed_tables.setdefault(
            newest.content_hash, CriticalFewTable(content=bytes(content or b""))
        )
    _last_read[:] = [table]
    return table


def is_table_file(path: str) -> bool:
    """Whether a bundle's file at `path` is the critical-few table."""
    return path == CRITICAL_FEW_FILE or path.endswith(f"/{CRITICAL_FEW_FILE}")


_IS_TABLE_FILE = (DefinitionFile.path == CRITICAL_FEW_FILE) | DefinitionFile.path.like(
    f"%/{CRITICAL_FEW_FILE}"
)


def _newest_first(query: Any) -> Any:
    return query.join(ProcessDefinition, ProcessDefinition.id == DefinitionFile.definition_id).order_by(
        ProcessDefinition.deployed_at.desc(), ProcessDefinition.id.desc()
    )


# Parsed tables by the content hash of the deployed version they came from (its files never change).
_deployed_tables: dict[str, CriticalFewTable] = {}
# The table this process last found in force, for callers that have no session at hand.
_last_read: list[CriticalFewTable] = []


@functools.cache
def _disk_table() -> CriticalFewTable:
    return CriticalFewTable()


def _last_table() -> CriticalFewTable:
    return _last_read[0] if _last_read else _disk_table()


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
