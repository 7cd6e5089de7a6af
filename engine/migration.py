"""Moving a running instance onto another version of its definition.

The rule for "can it move" is riskflow's own (SpiffWorkflow leaves it to the application): an
instance can move when none of its steps in progress (a started sub-process or call) changed or
disappeared in the target version, and the step it waits at still exists there. Finished steps may
have changed: what they did is history, and the instance goes on under the new version's rules.
Waiting and ready steps are re-predicted from the new version (SpiffWorkflow's `migrate_workflow`),
so a changed due time or a new step after the current one takes effect at once.

`assess` answers without changing anything (the dry run); `apply` moves the loaded workflow, and
the engine saves it in the same one-transaction step as any other (see ProcessEngine.migrate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.diff import diff_workflow, filter_tasks, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from engine.state import ProcessSpecs


@dataclass(frozen=True)
class Assessment:
    """Whether one instance can move, and in plain words why (not)."""

    can_move: bool
    reason: str
    changed_steps: tuple[str, ...] = ()  # names of the instance's current steps the target changes


def assess(registry: Any, workflow: BpmnWorkflow, target: ProcessSpecs) -> Assessment:
    """Whether `workflow` can move onto `target`, without touching it."""
    top, subs = diff_workflow(registry, workflow, target.spec, target.subprocess_specs)
    diffs = [top, *subs.values()]
    missing = [
        sp.spec.name
        for sp_id, sp in workflow.subprocesses.items()
        if subs.get(sp_id) is None and not sp.is_completed()
    ]
    if missing:
        return Assessment(False, f"the target version has no process {_names(missing)}, which it is in")
    started: list[Any] = []
    waiting_removed: list[Any] = []
    current_changed: list[Any] = []
    for diff in diffs:
        if diff is None:
            continue
        started += filter_tasks(diff.changed + diff.removed, state=TaskState.STARTED)
        waiting_removed += filter_tasks(diff.removed, state=TaskState.READY | TaskState.WAITING)
        current_changed += filter_tasks(diff.changed, state=TaskState.READY | TaskState.WAITING)
    if started:
        return Assessment(False, f"{_names(_labels(started))} is under way and the target version changes it")
    if waiting_removed:
        at = _names(_labels(waiting_removed))
        return Assessment(False, f"it is at {at}, which the target version removes")
    changed = tuple(_labels(current_changed))
    if changed:
        return Assessment(True, f"can move; {_names(list(changed))} will follow the new settings", changed)
    return Assessment(True, "can move")


def apply(registry: Any, workflow: BpmnWorkflow, target: ProcessSpecs) -> set[str]:
    """Move `workflow` onto `target` (call `assess` first: this does not check); return the ids of
    the waiting or ready tasks whose step changed, so their task rows can be brought up to date."""
    top, subs = diff_workflow(registry, workflow, target.spec, target.subprocess_specs)
    current = TaskState.READY | TaskState.WAITING
    changed = {
        str(task.id)
        for diff in (top, *subs.values())
        if diff is not None
        for task in filter_tasks(diff.changed, state=current)
    }
    migrate_workflow(top, workflow, target.spec)
    for sp_id, sp in workflow.subprocesses.items():
        diff = subs.get(sp_id)
        if diff is not None:
            migrate_workflow(diff, sp, target.subprocess_specs.get(sp.spec.name))
    workflow.subprocess_specs = dict(target.subprocess_specs)
    return changed


def _labels(tasks: list[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for task in tasks:
        spec = task.task_spec
        seen[f"“{getattr(spec, 'bpmn_name', None) or getattr(spec, 'bpmn_id', None) or spec.name}”"] = None
    return list(seen)


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
