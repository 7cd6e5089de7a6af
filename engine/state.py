"""Workflow state in and out of the database, kept small enough for cases that run for years.

Specs are serialized once per definition version and restored into a cache; instance state is the
task tree without its spec. After every step, finished sub-processes are moved out of the live
state (pitfalls 17-19 in the SpiffWorkflow reference): a sub-process with a standard loop then
costs the same at turn 1,000 as at turn 1.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from copy import deepcopy
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import StandardLoopTask
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

ARCHIVED_TURNS_KEY = "riskflow_archived_turns"


class _SpeclessWorkflowConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """Serializes a workflow without its specs; restores it onto specs the caller supplies."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], **kwargs: Any) -> BpmnWorkflow:
        workflow = self.target_class(kwargs["spec"], kwargs["subprocess_specs"], deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


@dataclass(frozen=True)
class ProcessSpecs:
    """A process spec with the specs of everything it calls, ready to instantiate."""

    spec: Any
    subprocess_specs: Mapping[str, Any]


class StateSerializer:
    """Converts specs and workflows to JSON text and back."""

    def __init__(self) -> None:
        registry = BpmnWorkflowSerializer.configure(deepcopy(SPIFF_CONFIG))
        registry.register(
            datetime.date,
            lambda v: {"value": v.isoformat()},
            lambda d: datetime.date.fromisoformat(d["value"]),
            typename="date",
        )
        _SpeclessWorkflowConverter(BpmnWorkflow, registry)
        self.registry = registry
        self._serializer = BpmnWorkflowSerializer(registry)

    def specs_to_json(self, specs: Mapping[str, Any], dependencies: Mapping[str, list[str]]) -> str:
        """All process specs of a bundle, with what each one calls."""
        return json.dumps(
            {
                "specs": {name: self.registry.convert(spec) for name, spec in specs.items()},
                "dependencies": dict(dependencies),
            }
        )

    def specs_from_json(self, text: str) -> dict[str, ProcessSpecs]:
        """Restore every process of a bundle, sharing spec objects between callers."""
        raw = json.loads(text)
        specs = {name: self.registry.restore(dct) for name, dct in raw["specs"].items()}
        return {
            name: ProcessSpecs(spec, {dep: specs[dep] for dep in raw["dependencies"].get(name, [])})
            for name, spec in specs.items()
        }

    def dumps(self, workflow: BpmnWorkflow) -> str:
        """The live state of a workflow, without its specs."""
        self.registry._encoder_mode = True
        try:
            return json.dumps(self.registry.convert(workflow), cls=self._serializer._encoder_cls)
        finally:
            self.registry._encoder_mode = False

    def loads(self, text: str, specs: ProcessSpecs) -> BpmnWorkflow:
        """A workflow restored onto cached specs (the caller re-attaches the script engine)."""
        dct = json.loads(text)
        return self.registry.restore(dct, spec=specs.spec, subprocess_specs=specs.subprocess_specs)

    def subprocess_to_json(self, subprocess: Any) -> str:
        """A finished sub-process, whole, for the archive."""
        self.registry._encoder_mode = True
        try:
            return json.dumps(self.registry.convert(subprocess), cls=self._serializer._encoder_cls)
        finally:
            self.registry._encoder_mode = False


class KeptWorkflows:
    """Workflows kept in memory after their step committed, so the next step of the same case need
    not restore its workflow from JSON (about a sixth of a step's time).

    A kept workflow is only ever handed out for the exact state text it was saved as: the state the
    database holds now must be that text, or the entry is dropped and the caller restores from the
    database as usual. A step takes its workflow out while it runs, and it goes back only when the
    step's transaction has committed (engine.db.after_commit), so a rolled-back step, a step in
    another process or a change made without the engine never leaves a stale workflow behind.
    The least recently kept go first once `size` are kept (about 300 KB each for a case under
    supervision); size 0 keeps none.
    """

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError("the number of kept workflows cannot be negative")
        self.size = size
        self._entries: OrderedDict[int, tuple[str, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def take(self, instance_id: int, state: str) -> BpmnWorkflow | None:
        """The kept workflow of the instance, out of the keep, if it was saved as `state`."""
        with self._lock:
            entry = self._entries.pop(instance_id, None)
            if entry is not None and entry[0] == state:
                self.hits += 1
                return entry[1]
            self.misses += 1
            return None

    def keep(self, instance_id: int, state: str, workflow: BpmnWorkflow) -> None:
        """Keep a workflow whose saved state (now committed) is `state`."""
        if not self.size:
            return
        with self._lock:
            self._entries[instance_id] = (state, workflow)
            self._entries.move_to_end(instance_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class FinishedSubprocess:
    """A sub-process taken out of the live state, to be written to the archive."""

    task_guid: str
    element_id: str
    process_id: str
    subprocess: Any


def archive_finished_subprocesses(workflow: BpmnWorkflow) -> list[FinishedSubprocess]:
    """Remove finished sub-processes (and finished loop turns) from the live task tree."""
    finished = _drop_orphaned_subprocesses(workflow)
    for task_id in list(workflow.subprocesses):
        subprocess = workflow.subprocesses.get(task_id)
        if subprocess is None:
            continue  # removed with its parent
        task = workflow.get_task_from_id(task_id)
        if not task.has_state(TaskState.FINISHED_MASK):
            continue
        finished.append(
            FinishedSubprocess(str(task.id), task.task_spec.bpmn_id, subprocess.spec.name, subprocess)
        )
        workflow.delete_subprocess(task)
    _drop_finished_loop_turns(workflow)
    return finished


def _drop_orphaned_subprocesses(workflow: BpmnWorkflow) -> list[FinishedSubprocess]:
    """Cancel and remove the sub-processes whose task has left the tree.

    A terminate end event cancels every unfinished task of its process; a cancelled task drops its
    unfinished children from the tree without cancelling them, so a running loop turn (or a
    sub-process inside one) would stay behind with its steps still READY and its timers waiting.
    Those turns (and what runs inside them) end with the process that terminated."""
    dropped: list[FinishedSubprocess] = []
    while True:
        orphans = [
            task_id
            for task_id, subprocess in workflow.subprocesses.items()
            if not _in_tree(workflow, subprocess.parent_task_id)
        ]
        if not orphans:
            return dropped
        for task_id in orphans:
            subprocess = workflow.subprocesses.pop(task_id)
            for task in subprocess.get_tasks(state=TaskState.NOT_FINISHED_MASK):
                task._set_state(TaskState.CANCELLED)
            name = subprocess.spec.name
            dropped.append(FinishedSubprocess(str(task_id), name, name, subprocess))


def _in_tree(workflow: BpmnWorkflow, task_id: Any) -> bool:
    try:
        workflow.get_task_from_id(task_id)
    except TaskNotFoundException:
        return False
    return True


def _drop_finished_loop_turns(workflow: BpmnWorkflow) -> None:
    """A standard loop keeps each finished turn as a child; keep only the running one."""
    for wf in [workflow, *workflow.subprocesses.values()]:
        loops = [t for t in wf.tasks.values() if isinstance(t.task_spec, StandardLoopTask)]
        for loop in loops:
            if not loop.has_state(TaskState.STARTED):
                continue
            done = [c for c in loop.children if c.has_state(TaskState.FINISHED_MASK) and not c.children]
            if not done:
                continue
            for child in done:
                if child.id in workflow.subprocesses:
                    continue  # archived on the next pass, once its sub-process is gone
                loop._children.remove(child.id)
                del wf.tasks[child.id]
                if wf.last_task is child:
                    wf.last_task = loop
            merged = loop.internal_data.get("merged", [])
            if loop.task_spec.maximum is None and len(merged) > 1:
                # Only the count matters when no maximum is set: keep the list from growing.
                loop.internal_data[ARCHIVED_TURNS_KEY] = (
                    loop.internal_data.get(ARCHIVED_TURNS_KEY, 0) + len(merged) - 1
                )
                loop.internal_data["merged"] = merged[-1:]
