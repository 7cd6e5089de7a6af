"""Operators' view: /metrics for Prometheus (prometheus_client), and structured JSON logs.

/metrics is not public: it answers only a request that carries the token set in
RISKFLOW_METRICS_TOKEN (`Authorization: Bearer <token>`), and is switched off (404) when no token
is set. It serves two kinds of figure:

- counted as things happen, in this process (or, with PROMETHEUS_MULTIPROC_DIR set, added up over
  every process that shares that folder): steps run and failed, tasks completed and how long they
  took (tasks.step_counts), sign-in failures, and the time each request took;
- read from the database when scraped, by the monitor's own queries (a few indexed counts): instances
  by state, open tasks held and in pools, overdue tasks, timers due and their lag, the outbox backlog.

With RISKFLOW_LOG_FORMAT=json every log line is one JSON object, carrying the instance and task ids a
line was logged with.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from engine.models import HumanTask, OutboxMessage, ProcessInstance
from engine.monitoring import MOVABLE, Monitor
from webui import riskflow

bp = Blueprint("metrics", __name__)
TOKEN_SETTING = "RISKFLOW_METRICS_TOKEN"  # noqa: S105 - the name of the setting
LOG_FORMAT_SETTING = "RISKFLOW_LOG_FORMAT"
MULTIPROCESS_SETTING = "PROMETHEUS_MULTIPROC_DIR"
# Attributes a log call may pass in `extra=` that the JSON lines carry.
LOG_FIELDS = ("instance_id", "task_id", "business_key", "actor", "event")

SIGN_IN_FAILURES = Counter(
    "riskflow_sign_in_failures",
    "Sign-ins refused for a wrong password (or an expired temporary one), by reason.",
    ["reason"],
)
REQUEST_DURATION = Histogram(
    "riskflow_request_duration_seconds",
    "Time to answer a request, by route (the endpoint, not the path), method and status class.",
    ["endpoint", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def init_app(app: Flask) -> None:
    """Register /metrics and time every request; switch the logs to JSON lines when asked."""
    app.register_blueprint(bp)
    app.before_request(_start_timing)
    app.after_request(_observe_timing)
    if os.environ.get(LOG_FORMAT_SETTING, "").lower() == "json":
        use_json_logs()


def _start_timing() -> None:
    g.request_started = time.perf_counter()


def _observe_timing(response: Response) -> Response:
    started = g.get("request_started")
    if started is not None:
        endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
        REQUEST_DURATION.labels(endpoint, request.method, f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started
        )
    return response


def sign_in_failed(reason: str) -> None:
    """Count a refused sign-in (webui.auth calls it with the audit event's name)."""
    SIGN_IN_FAILURES.labels(reason).inc()


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
        now = shared.clock.now()
        gauges = list(area_gauges(session, Monitor(session, now, shared.engine.calendar)))
    return Response(exposition(gauges), content_type=CONTENT_TYPE_LATEST)


def exposition(gauges: list[Metric]) -> bytes:
    """The counters of this process (or of every process, in multiprocess mode), then the gauges."""
    counted: CollectorRegistry = REGISTRY
    if os.environ.get(MULTIPROCESS_SETTING):
        counted = CollectorRegistry()
        MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
    read = CollectorRegistry(auto_describe=False)
    read.register(_Read(gauges))
    return generate_latest(counted) + generate_latest(read)


class _Read(Collector):
    """Gauges read from the database for one scrape."""

    def __init__(self, gauges: list[Metric]) -> None:
        self.gauges = gauges

    def collect(self) -> Iterable[Metric]:
        return self.gauges


def area_gauges(session: Session, monitor: Monitor) -> Iterable[Metric]:
    """The figures the monitor shows, read now: each one indexed count."""
    now = monitor.now
    instances = GaugeMetricFamily("riskflow_instances", "Process instances by state.", labels=["state"])
    for state, n in sorted(monitor.instances_by_status().items()):
        instances.add_metric([state], n)
    yield instances
    held = dict(
        session.execute(
            select(HumanTask.claimed_by.is_not(None), func.count())
            .where(HumanTask.state == "open")
            .group_by(HumanTask.claimed_by.is_not(None))
        ).all()
    )
    tasks = GaugeMetricFamily(
        "riskflow_tasks_open",
        "Open human tasks: claimed by someone, or waiting in a pool or an assignee's inbox.",
        labels=["state"],
    )
    tasks.add_metric(["claimed"], int(held.get(True, 0)))
    tasks.add_metric(["unclaimed"], int(held.get(False, 0)))
    yield tasks
    overdue = session.scalar(select(func.count()).where(HumanTask.state == "open", HumanTask.due_at < now))
    yield GaugeMetricFamily(
        "riskflow_tasks_overdue", "Open human tasks past their due date.", value=int(overdue or 0)
    )
    due = session.scalar(
        select(func.count()).where(ProcessInstance.status.in_(MOVABLE), ProcessInstance.next_timer_at <= now)
    )
    yield GaugeMetricFamily(
        "riskflow_timers_due",
        "Instances whose next timer is due and not yet fired (0 when the workers keep up).",
        value=int(due or 0),
    )
    yield GaugeMetricFamily(
        "riskflow_timer_lag_seconds",
        "How long the most overdue unfired timer has been due (0 when the workers keep up).",
        value=monitor.timer_lag(),
    )
    backlog, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.created_at)).where(OutboxMessage.delivered_at.is_(None))
    ).one()
    yield GaugeMetricFamily(
        "riskflow_outbox_backlog", "Messages thrown by models and not yet handed on.", value=int(backlog or 0)
    )
    yield GaugeMetricFamily(
        "riskflow_outbox_oldest_seconds",
        "How long the oldest message not yet handed on has waited (0 when none waits).",
        value=_age(now, oldest),
    )


def _age(now: datetime, since: datetime | None) -> float:
    if since is None:
        return 0.0
    if since.tzinfo is None:  # SQLite hands datetimes back naive; riskflow stores UTC
        since = since.replace(tzinfo=UTC)
    return max(0.0, (now - since).total_seconds())


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
