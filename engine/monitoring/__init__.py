"""Watching running instances: where they are, which are late, which are stuck and why, and putting
them right.

Read questions and repairs live apart:

- `model`: a deployed model's steps, expected times and message receivers, read from its BPMN once;
- `waiting`: one wait of one instance, and why it waits in words;
- `base`, `counts`, `queries`: the monitor's questions (`Monitor`), counts per step and by holder
  from the work tallies, the stuck list, one instance's waits, its audit trail and diagram marks;
- `repairs`: reassigning tasks, each recorded with its reason.

The names below are the package's public face, so callers need not know which module holds what.
"""

from engine.monitoring.base import MOVABLE, UNFINISHED
from engine.monitoring.model import (
    DEFAULT_EXPECTED,
    EXPECTED_PROPERTY,
    Expected,
    ModelSteps,
    Step,
    forget_model_steps,
    model_steps,
    read_bpmn,
    working_days_before,
)
from engine.monitoring.queries import STUCK_LIMIT, Monitor, instance_history, step_marks
from engine.monitoring.repairs import reassign_all_tasks, reassign_task, require_reason
from engine.monitoring.waiting import KINDS, TIMER_GRACE, StuckReport, Waiting, short_date

__all__ = [
    "DEFAULT_EXPECTED",
    "EXPECTED_PROPERTY",
    "KINDS",
    "MOVABLE",
    "STUCK_LIMIT",
    "TIMER_GRACE",
    "UNFINISHED",
    "Expected",
    "ModelSteps",
    "Monitor",
    "Step",
    "StuckReport",
    "Waiting",
    "forget_model_steps",
    "instance_history",
    "model_steps",
    "read_bpmn",
    "reassign_all_tasks",
    "reassign_task",
    "require_reason",
    "short_date",
    "step_marks",
    "working_days_before",
]
