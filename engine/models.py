"""The engine's tables: definitions, instances, human tasks, waits, messages and the audit trail.

Instance state stays small: the parsed spec lives once per definition version, the case's history
lives in the audit table and in the archive of finished sub-processes, and every question the inbox
or a dashboard asks is answered from an indexed column, never by loading a workflow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids on PostgreSQL, plain INTEGER PRIMARY KEY (rowid) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every database (SQLite keeps no zone, so we restore it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("riskflow stores only timezone-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EngineBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class ProcessDefinition(EngineBase):
    """One deployed version of a bundle of BPMN, DMN and form files."""

    __tablename__ = "process_definition"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_process_definition_name_version"),
        UniqueConstraint("name", "content_hash", name="uq_process_definition_name_hash"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    process_ids: Mapped[list[str]] = mapped_column(JSON)
    lanes: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The serialized specs of every process in the bundle, stored once per version.
    specs: Mapped[str] = mapped_column(Text)
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    # The steps this version added or changed from the one before (their element ids), so the staff
    # who meet them can be shown the change note.
    changed_steps: Mapped[list[str] | None] = mapped_column(JSON)


class DefinitionFile(EngineBase):
    """A source file of a definition version, kept for forms, diagrams and comparison."""

    __tablename__ = "definition_file"
    __table_args__ = (UniqueConstraint("definition_id", "path", name="uq_definition_file_path"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    path: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class DefinitionDraft(EngineBase):
    """A process owner's unpublished edit of a definition's files: nothing runs on a draft.

    `revision` goes up on every save, so that two people editing the same draft cannot overwrite
    each other's work without being told.
    """

    __tablename__ = "definition_draft"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    base_version: Mapped[int] = mapped_column(Integer)
    files: Mapped[dict[str, Any]] = mapped_column(JSON)  # path -> text
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime]


class ImpactRun(EngineBase):
    """One request to measure a draft's impact against a published version: settings, progress, result.

    What is measured is the application's business (the engine only keeps the row for the draft).
    """

    __tablename__ = "impact_run"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("definition_draft.id", ondelete="CASCADE"), index=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime]
    months: Mapped[int] = mapped_column(Integer)
    cases: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    against_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # queued, running, done, failed
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]


class ProcessInstance(EngineBase):
    """A running (or finished) workflow; `state` is the live SpiffWorkflow state without its spec."""

    __tablename__ = "process_instance"
    __table_args__ = (
        Index("ix_process_instance_status_timer", "status", "next_timer_at"),
        # The monitor's stuck list: waiting instances, longest first.
        Index("ix_process_instance_status_updated", "status", "updated_at"),
        # The monitor narrowed to one team: errors, and waits longest first.
        Index("ix_process_instance_team_status", "team_id", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    state: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    next_timer_at: Mapped[datetime | None] = mapped_column(index=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    suspended_from: Mapped[str | None] = mapped_column(String(20))
    started_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    # The team the business key belongs to, as the domain keeps it (tasks.case_team), so the
    # monitor narrows to one team without a lookup per row; None when the domain names none.
    team_id: Mapped[int | None] = mapped_column(Integer)


class HumanTask(EngineBase):
    """A READY manual task: the row the inbox, the due-date queries and the dashboards read."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_open_role", "state", "candidate_role", "due_at"),
        Index("ix_human_task_open_assignee", "state", "assignee", "due_at"),
        Index("ix_human_task_open_claimed", "state", "claimed_by"),
        Index("ix_human_task_instance_state", "instance_id", "state"),
        # The monitor's stuck list: open tasks, longest waiting first.
        Index("ix_human_task_open_created", "state", "created_at"),
        # The monitor's counts of the tasks due this week (the past weeks are tallied, engine.tally):
        # by team and holder, and by step and creation time, from the index alone.
        Index(
            "ix_human_task_open_due",
            "state",
            "due_at",
            "team_id",
            "element_id",
            "created_at",
            "claimed_by",
            "assignee",
        ),
        # The diagram's counts per step (area), from the index.
        Index("ix_human_task_open_step", "state", "element_id", "created_at", "due_at"),
        # One team's stuck list (longest waiting first) and counts per step.
        Index("ix_human_task_open_team_created", "state", "team_id", "created_at", "element_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_guid: Mapped[str] = mapped_column(String(36), unique=True)
    element_id: Mapped[str] = mapped_column(String(255), index=True)
    process_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255))
    lane: Mapped[str | None] = mapped_column(String(100))
    candidate_role: Mapped[str | None] = mapped_column(String(100))
    assignee: Mapped[str | None] = mapped_column(String(100))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    form_file: Mapped[str | None] = mapped_column(String(255))
    due_at: Mapped[datetime | None]
    # The standard the due date keeps, in words ("National Standard: 15 working days from sentence");
    # None when the step is due by its dueIn.
    due_standard: Mapped[str | None] = mapped_column(String(200))
    follow_up_at: Mapped[datetime | None]
    priority: Mapped[int] = mapped_column(Integer, default=0)
    business_key: Mapped[str] = mapped_column(String(100), index=True)
    state: Mapped[str] = mapped_column(String(20))
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(100))
    # The team of the task's business key, kept by the domain like ProcessInstance.team_id.
    team_id: Mapped[int | None] = mapped_column(Integer)


def pool_role() -> Any:
    """The role whose pool a task waits in: its candidate role while nobody holds it (no assignee, not
    claimed), else NULL (the holder, if any, compared with itself). Indexed (ix_human_task_pool), so
    that a pool list reads only the tasks waiting for its roles; the index's statistics also tell
    the planner how few those are, which the separate columns cannot."""
    holder = func.coalesce(HumanTask.claimed_by, HumanTask.assignee)
    return func.nullif(
        func.coalesce(HumanTask.claimed_by, HumanTask.assignee, HumanTask.candidate_role), holder
    )


# pool_role() as the index holds it, written as PostgreSQL reads it back (less its casts), so that
# comparing the models with a migrated database finds it unchanged.
POOL_ROLE_SQL = "nullif(coalesce(claimed_by, assignee, candidate_role), coalesce(claimed_by, assignee))"
Index("ix_human_task_pool", text(POOL_ROLE_SQL), HumanTask.state, HumanTask.due_at)


class MessageWait(EngineBase):
    """An instance waiting for a named message with a correlation value (rebuilt after each step)."""

    __tablename__ = "message_wait"
    __table_args__ = (
        Index("ix_message_wait_lookup", "message_name", "correlation_value"),
        # An instance's waits, and the monitor's count of the waits of instances that moved in a
        # given week (engine.monitoring), from the index alone.
        Index("ix_message_wait_instance", "instance_id", "message_name"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    message_name: Mapped[str] = mapped_column(String(255))
    correlation_value: Mapped[str | None] = mapped_column(String(255))


class InboundMessage(EngineBase):
    """A message received from outside: delivered, or kept until an instance waits for it."""

    __tablename__ = "inbound_message"
    __table_args__ = (Index("ix_inbound_message_pending", "status", "message_name", "correlation_value"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    message_name: Mapped[str] = mapped_column(String(255))
    correlation_value: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    sender: Mapped[str] = mapped_column(String(100))


class OutboxMessage(EngineBase):
    """A message thrown by a model, written in the step's transaction and handed on afterwards."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_pending", "delivered_at", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    message_name: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class ArchivedSubprocess(EngineBase):
    """A finished sub-process moved out of the live state, kept whole for history."""

    __tablename__ = "archived_subprocess"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_guid: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(255))
    process_id: Mapped[str] = mapped_column(String(255))
    archived_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(Text)


class AuditEvent(EngineBase):
    """Append-only: every state change of an instance or a human task, with who, when and what."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_instance_at", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(50), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    business_key: Mapped[str | None] = mapped_column(String(100), index=True)
    task_guid: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ClockSetting(EngineBase):
    """How far a demo deployment's clock runs ahead of real time (one row; absent in production)."""

    __tablename__ = "clock_setting"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset_seconds: Mapped[float] = mapped_column(default=0.0)
    changed_at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(String(100))


class WorkTally(EngineBase):
    """Counts of open work by kind, name, team, day and week, kept by database triggers (engine.tally)."""

    __tablename__ = "work_tally"
    __table_args__ = (
        UniqueConstraint("kind", "name", "team_id", "since_day", "due_week", name="uq_work_tally_key"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # holder, step, wait
    name: Mapped[str] = mapped_column(String(255))  # holder username, element id, message name
    team_id: Mapped[int] = mapped_column(Integer)  # 0: no team
    since_day: Mapped[int] = mapped_column(Integer)  # 0: not part of the kind's key
    due_week: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)


@event.listens_for(EngineBase.metadata, "after_create")
def _install_tally_triggers(_metadata: MetaData, connection: Connection, **_kw: Any) -> None:
    """Tables made from the models (tests, benchmarks) get the triggers the migrations create."""
    from engine.tally import drop_trigger_ddl, trigger_ddl  # noqa: PLC0415  (engine.tally reads no model)

    for statement in [*drop_trigger_ddl(connection.dialect.name), *trigger_ddl(connection.dialect.name)]:
        connection.exec_driver_sql(statement)
