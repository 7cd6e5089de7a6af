"""Operators' view: /metrics in the Prometheus text format, and structured JSON logs.

/metrics is not public: it answers only a request that carries the token set in
RISKFLOW_METRICS_TOKEN (`Authorization: Bearer <token>`), and is switched off (404) when no token
is set. It reports instances by state, open and overdue tasks, how far the timers lag, and how long
each step's tasks took (sum and count, so a rate gives the mean). With RISKFLOW_LOG_FORMAT=json every
log line is one JSON object, carrying the instance and task ids a line was logged with.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, abort, current_app, request
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from engine.models import HumanTask
from engine.monitoring import Monitor
from webui import riskflow

bp = Blueprint("metrics", __name__)
TOKEN_SETTING = "RISKFLOW_METRICS_TOKEN"  # noqa: S105 - the name of the setting
LOG_FORMAT_SETTING = "RISKFLOW_LOG_FORMAT"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Attributes a log call may pass in `extra=` that the JSON lines carry.
LOG_FIELDS = ("instance_id", "task_id", "business_key", "actor", "event")


def init_app(app: Flask) -> None:
    """Register /metrics; switch the logs to JSON lines when RISKFLOW_LOG_FORMAT=json."""
    app.register_blueprint(bp)
    if os.environ.get(LOG_FORMAT_SETTING, "").lower() == "json":
        use_json_logs()


def _token() -> str:
    return str(current_app.config.get("METRICS_TOKEN") or os.environ.get(TOKEN_SETTING, ""))


@bp.get("/metrics")
def metrics() -> Response:
    """The Prometheus exposition, for a scraper holding the metrics token."""
    token = _token()
    if not token:
        abort(404)
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return Response(
            "metrics need the operators' token\n", status=401, headers={"WWW-Authenticate": "Bearer"}
        )
    shared = riskflow()
    with shared.db.transaction(write=False) as session:
        text = exposition(session, Monitor(session, shared.clock.now(), shared.engine.calendar))
    return Response(text, content_type=CONTENT_TYPE)


def exposition(session: Session, monitor: Monitor) -> str:
    """Every metric, in the text format."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")

    metric(
        "riskflow_instances",
        "gauge",
        "Process instances by state.",
        [({"state": state}, n) for state, n in sorted(monitor.instances_by_status().items())],
    )
    open_tasks = session.scalar(select(func.count()).where(HumanTask.state == "open"))
    overdue = session.scalar(
        select(func.count()).where(HumanTask.state == "open", HumanTask.due_at < monitor.now)
    )
    metric("riskflow_tasks_open", "gauge", "Open human tasks.", [({}, float(open_tasks or 0))])
    metric(
        "riskflow_tasks_overdue",
        "gauge",
        "Open human tasks past their due date.",
        [({}, float(overdue or 0))],
    )
    metric(
        "riskflow_timer_lag_seconds",
        "gauge",
        "How long the most overdue unfired timer has been due (0 when the workers keep up).",
        [({}, monitor.timer_lag())],
    )
    durations = session.execute(
        select(HumanTask.element_id, func.sum(_seconds(session)), func.count())
        .where(HumanTask.state == "completed", HumanTask.completed_at.is_not(None))
        .group_by(HumanTask.element_id)
        .order_by(HumanTask.element_id)
    ).all()
    lines.append(
        "# HELP riskflow_step_duration_seconds Time from a task's creation to its completion, by step."
    )
    lines.append("# TYPE riskflow_step_duration_seconds summary")
    for element_id, total, count in durations:
        label = f'step="{_escape(element_id)}"'
        lines.append(f"riskflow_step_duration_seconds_sum{{{label}}} {float(total or 0):g}")
        lines.append(f"riskflow_step_duration_seconds_count{{{label}}} {int(count)}")
    return "\n".join(lines) + "\n"


def _seconds(session: Session) -> ColumnElement[Any]:
    """SQL for a completed task's duration in seconds, on either database."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(HumanTask.completed_at) - func.julianday(HumanTask.created_at)) * 86400.0
    return func.extract("epoch", HumanTask.completed_at - HumanTask.created_at)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the ids the call passed."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in LOG_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def use_json_logs() -> None:
    """Send riskflow's logs to standard error as JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("riskflow")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False
