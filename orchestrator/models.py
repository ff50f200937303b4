"""The store's tables as typed SQLAlchemy 2 models. Alembic migrations build them; no DDL at run time.

Definitions are kept whole as Glue-shaped JSON (UpdateJob replaces the whole definition);
runs keep the columns the scheduler and watchdog query on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every dialect (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class Base(orm.DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's declared hook
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class JobRow(Base):
    __tablename__ = "jobs"
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    definition: orm.Mapped[dict[str, Any]]
    created_on: orm.Mapped[dt.datetime]
    last_modified_on: orm.Mapped[dt.datetime]


class CrawlerRow(Base):
    __tablename__ = "crawlers"
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    definition: orm.Mapped[dict[str, Any]]
    state: orm.Mapped[str] = orm.mapped_column(sa.String(16), default="READY")
    created_on: orm.Mapped[dt.datetime]
    last_modified_on: orm.Mapped[dt.datetime]


class WorkflowRow(Base):
    __tablename__ = "workflows"
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    definition: orm.Mapped[dict[str, Any]]
    created_on: orm.Mapped[dt.datetime]
    last_modified_on: orm.Mapped[dt.datetime]


class TriggerRow(Base):
    __tablename__ = "triggers"
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    workflow_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), index=True)
    type: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    state: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    definition: orm.Mapped[dict[str, Any]]
    created_on: orm.Mapped[dt.datetime]
    last_modified_on: orm.Mapped[dt.datetime]


class WorkflowRunRow(Base):
    __tablename__ = "workflow_runs"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(67), primary_key=True)
    workflow_name: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16), index=True)
    previous_run_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(67))
    started_on: orm.Mapped[dt.datetime]
    completed_on: orm.Mapped[dt.datetime | None]
    error_message: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    run_properties: orm.Mapped[dict[str, Any]]
    # The workflow's triggers (Glue Trigger dicts) as they were when the run started.
    triggers: orm.Mapped[list[Any]]


class JobRunRow(Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        sa.Index("ix_job_runs_job_state", "job_name", "state"),
        sa.Index("ix_job_runs_state_owner", "state", "owner"),
        sa.Index("ix_job_runs_workflow_run_state", "workflow_run_id", "state"),
        sa.Index("ix_job_runs_workflow_run_job", "workflow_run_id", "job_name", "state"),
    )
    id: orm.Mapped[str] = orm.mapped_column(sa.String(67), primary_key=True)
    job_name: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    workflow_run_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(67))
    workflow_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    trigger_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    attempt: orm.Mapped[int] = orm.mapped_column(default=0)
    previous_run_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(67))
    state: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    state_detail: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    # Why a run is being stopped: STOPPED (on request) or TIMEOUT (by the watchdog).
    stop_reason: orm.Mapped[str | None] = orm.mapped_column(sa.String(16))
    command: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    arguments: orm.Mapped[dict[str, Any]]
    # Everything the run was started with that the definition may later change.
    options: orm.Mapped[dict[str, Any]]
    predecessor_runs: orm.Mapped[list[Any]]
    error_message: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    created_on: orm.Mapped[dt.datetime]
    started_on: orm.Mapped[dt.datetime | None]
    last_modified_on: orm.Mapped[dt.datetime]
    completed_on: orm.Mapped[dt.datetime | None]
    execution_time: orm.Mapped[int | None]
    timeout: orm.Mapped[float | None]
    # Deadlines live with the run so they survive a restart.
    not_before: orm.Mapped[dt.datetime | None]
    timeout_at: orm.Mapped[dt.datetime | None]
    notify_at: orm.Mapped[dt.datetime | None]
    notified_states: orm.Mapped[list[Any]]
    owner: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    engine_run_id: orm.Mapped[str | None] = orm.mapped_column(sa.Text)


class TriggerFiringRow(Base):
    __tablename__ = "trigger_firings"
    # The unique key makes a second firing in the same workflow run impossible.
    __table_args__ = (sa.UniqueConstraint("scope", "trigger_name", name="uq_trigger_firing"),)
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True, autoincrement=True)
    scope: orm.Mapped[str] = orm.mapped_column(sa.String(67))
    trigger_name: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    fired_on: orm.Mapped[dt.datetime]


class EventRow(Base):
    """The outbox: every state change that others react to, written in the same transaction."""

    __tablename__ = "events"
    __table_args__ = (sa.Index("ix_events_unprocessed", "processed"),)
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True, autoincrement=True)
    kind: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    workflow_run_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(67))
    job_run_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(67))
    payload: orm.Mapped[dict[str, Any]]
    created_on: orm.Mapped[dt.datetime]
    processed: orm.Mapped[bool] = orm.mapped_column(default=False)


class NotificationRow(Base):
    __tablename__ = "notifications"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    detail_type: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    job_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    job_run_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(67))
    state: orm.Mapped[str | None] = orm.mapped_column(sa.String(16))
    time: orm.Mapped[dt.datetime] = orm.mapped_column(index=True)
    event: orm.Mapped[dict[str, Any]]
    deliveries: orm.Mapped[dict[str, Any]]


class OrchestratorRow(Base):
    """A live scheduler/dispatcher process; runs it owns are re-checked when it stops beating."""

    __tablename__ = "orchestrators"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    pid: orm.Mapped[int]
    serving: orm.Mapped[bool] = orm.mapped_column(default=False)
    started_on: orm.Mapped[dt.datetime]
    heartbeat_on: orm.Mapped[dt.datetime]


jobs = JobRow.__table__
crawlers = CrawlerRow.__table__
workflows = WorkflowRow.__table__
triggers = TriggerRow.__table__
workflow_runs = WorkflowRunRow.__table__
job_runs = JobRunRow.__table__
trigger_firings = TriggerFiringRow.__table__
events = EventRow.__table__
notifications = NotificationRow.__table__
orchestrators = OrchestratorRow.__table__
