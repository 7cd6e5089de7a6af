"""What the engine has done since this process started, for the operators' metrics: the steps it
ran, the steps that failed, and the human tasks completed with how long each took.

Counted by the engine's `on_step` hook once the step's transaction commits (a step that rolls back
counts nothing). The counters live in the process (prometheus_client); `webui.metrics` serves them,
and with PROMETHEUS_MULTIPROC_DIR set every process's counts (web server workers, `riskflow worker`)
are added up there.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db import after_commit
from engine.models import HumanTask, ProcessInstance
from engine.steps import InstanceStatus

DAY = 86_400.0
STEPS = Counter(
    "riskflow_steps",
    "Steps the engine ran and saved (a start, a task completed, a timer, a message, a retry), by process.",
    ["process"],
)
STEP_FAILURES = Counter(
    "riskflow_step_failures",
    "Steps that left their instance in error (shown on the monitor's Errors list), by the failing step.",
    ["step"],
)
TASKS_COMPLETED = Counter("riskflow_tasks_completed", "Human tasks completed, by step.", ["step"])
TASK_DURATION = Histogram(
    "riskflow_task_duration_seconds",
    "Time from a task's creation to its completion, by step.",
    ["step"],
    buckets=(3600.0, DAY, 3 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 56 * DAY, 112 * DAY),
)


def count_step(session: Session, instance: ProcessInstance) -> None:
    """Count a step and the tasks it completed, once its transaction has committed."""
    process = instance.process_id
    failed = None
    if instance.status == InstanceStatus.ERROR:
        failed = str((instance.error or {}).get("element_id") or "unknown")
    # The tasks this step closed as completed: the instance's rows stamped with the step's moment
    # (indexed by instance and state; a step completes one task, or none).
    completed = session.execute(
        select(HumanTask.element_id, HumanTask.created_at, HumanTask.completed_at).where(
            HumanTask.instance_id == instance.id,
            HumanTask.state == "completed",
            HumanTask.completed_at == instance.updated_at,
        )
    ).all()

    def count() -> None:
        STEPS.labels(process).inc()
        if failed is not None:
            STEP_FAILURES.labels(failed).inc()
        for step, created_at, completed_at in completed:
            TASKS_COMPLETED.labels(step).inc()
            took = (completed_at - created_at).total_seconds() if completed_at is not None else 0.0
            TASK_DURATION.labels(step).observe(max(0.0, took))

    after_commit(session, count)
