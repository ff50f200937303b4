"""The store's tables (SQLAlchemy Core). Alembic migrations build them; no DDL at run time.

Definitions are kept whole as Glue-shaped JSON (UpdateJob replaces the whole definition);
runs keep the columns the scheduler and watchdog query on. Core, not the ORM, and no dialect
imported until it is used: every command of the CLI pays for what this module loads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa


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


class JSON(sa.TypeDecorator[Any]):
    """JSON; JSONB on PostgreSQL (whose dialect is imported only there)."""

    impl = sa.JSON()
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())


metadata = sa.MetaData()
_NAME = sa.String(255)
_ID = sa.String(67)
_STATE = sa.String(16)


def _column(name: str, kind: Any, *, null: bool = False, **options: Any) -> sa.Column[Any]:
    return sa.Column(name, kind, nullable=null, **options)


def _definitions(name: str, *extra: sa.Column[Any] | sa.Index) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column("name", _NAME, primary_key=True),
        _column("definition", JSON()),
        *extra,
        _column("created_on", UTCDateTime()),
        _column("last_modified_on", UTCDateTime()),
    )  # fmt: skip


jobs = _definitions("jobs")
crawlers = _definitions("crawlers", _column("state", _STATE, default="READY"))
workflows = _definitions("workflows")
triggers = sa.Table(
    "triggers", metadata,
    sa.Column("name", _NAME, primary_key=True),
    _column("workflow_name", _NAME, null=True, index=True),
    _column("type", _STATE),
    _column("state", _STATE),
    _column("definition", JSON()),
    _column("created_on", UTCDateTime()),
    _column("last_modified_on", UTCDateTime()),
)  # fmt: skip

workflow_runs = sa.Table(
    "workflow_runs", metadata,
    sa.Column("id", _ID, primary_key=True),
    _column("workflow_name", _NAME, index=True),
    _column("name", _NAME, null=True),
    _column("status", _STATE, index=True),
    _column("previous_run_id", _ID, null=True, index=True),
    _column("started_on", UTCDateTime()),
    _column("completed_on", UTCDateTime(), null=True),
    _column("error_message", sa.Text, null=True),
    _column("run_properties", JSON()),
    # The workflow's triggers (Glue Trigger dicts) as they were when the run started.
    _column("triggers", JSON()),
    # Glue's StartingEventBatchCondition of a run an EVENT trigger's batch started.
    _column("starting_event_batch_condition", JSON(), null=True),
)  # fmt: skip

job_runs = sa.Table(
    "job_runs", metadata,
    sa.Column("id", _ID, primary_key=True),
    _column("job_name", _NAME),
    _column("workflow_run_id", _ID, null=True),
    _column("workflow_name", _NAME, null=True),
    _column("trigger_name", _NAME, null=True),
    _column("attempt", sa.Integer, default=0),
    _column("previous_run_id", _ID, null=True),
    _column("state", _STATE),
    _column("state_detail", sa.Text, null=True),
    # Why a run is being stopped: STOPPED (on request) or TIMEOUT (by the watchdog).
    _column("stop_reason", _STATE, null=True),
    _column("command", sa.String(64)),
    _column("arguments", JSON()),
    # Everything the run was started with that the definition may later change.
    _column("options", JSON()),
    _column("predecessor_runs", JSON()),
    _column("error_message", sa.Text, null=True),
    _column("created_on", UTCDateTime()),
    _column("started_on", UTCDateTime(), null=True),
    _column("last_modified_on", UTCDateTime()),
    _column("completed_on", UTCDateTime(), null=True),
    _column("execution_time", sa.Integer, null=True),
    _column("timeout", sa.Double, null=True),
    # Deadlines live with the run so they survive a restart.
    _column("not_before", UTCDateTime(), null=True),
    _column("timeout_at", UTCDateTime(), null=True),
    _column("notify_at", UTCDateTime(), null=True),
    _column("notified_states", JSON()),
    _column("owner", sa.String(64), null=True),
    _column("engine_run_id", sa.Text, null=True),
    # Runs started along one chain of standalone triggers (Glue's chain rule) share its id.
    _column("chain_id", _ID, null=True),
    sa.Index("ix_job_runs_job_state", "job_name", "state"),
    sa.Index("ix_job_runs_state_owner", "state", "owner"),
    sa.Index("ix_job_runs_workflow_run_state", "workflow_run_id", "state"),
    sa.Index("ix_job_runs_workflow_run_job", "workflow_run_id", "job_name", "state"),
    sa.Index("ix_job_runs_chain_job", "chain_id", "job_name"),
)  # fmt: skip

# What a resumed workflow run knows of each node, recorded when it is created (ResumeWorkflowRun):
# "rerun" (may run in it), "carried" (its final state and runs come from an earlier run) or
# "skipped" (recorded SUCCEEDED by the operator, who repaired its output by hand).
workflow_run_nodes = sa.Table(
    "workflow_run_nodes", metadata,
    sa.Column("workflow_run_id", _ID, primary_key=True),
    sa.Column("node_type", _STATE, primary_key=True),
    sa.Column("node_name", _NAME, primary_key=True),
    _column("origin", _STATE),
    _column("state", _STATE, null=True),
    _column("source_run_id", _ID, null=True),
    _column("run_ids", JSON()),
    _column("arguments", JSON()),  # a re-run node's argument overrides, for this run only
    _column("note", sa.Text, null=True),
    _column("recorded_on", UTCDateTime()),
)  # fmt: skip

# One run of a crawler (Glue's Crawl), run by the orchestrator ``owner`` in ``process``; at
# most one RUNNING or CANCELLING per crawler (a partial unique index).
_CRAWL_ACTIVE = sa.text("state IN ('RUNNING', 'CANCELLING')")
crawls = sa.Table(
    "crawls", metadata,
    sa.Column("id", _ID, primary_key=True),
    _column("crawler_name", _NAME, index=True),
    _column("workflow_run_id", _ID, null=True),
    _column("trigger_name", _NAME, null=True),
    _column("state", _STATE),
    _column("error_message", sa.Text, null=True),
    _column("started_on", UTCDateTime()),
    _column("completed_on", UTCDateTime(), null=True),
    _column("owner", sa.String(64), null=True),
    _column("process", sa.Text, null=True),
    _column("summary", JSON(), null=True),
    _column("chain_id", _ID, null=True),
    sa.Index("ix_crawls_workflow_run_crawler", "workflow_run_id", "crawler_name", "state"),
    sa.Index("ix_crawls_one_active", "crawler_name", unique=True, sqlite_where=_CRAWL_ACTIVE,
             postgresql_where=_CRAWL_ACTIVE),
    sa.Index("ix_crawls_state_owner", "state", "owner"),
)  # fmt: skip

trigger_firings = sa.Table(
    "trigger_firings", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _column("scope", _ID),
    _column("trigger_name", _NAME),
    _column("fired_on", UTCDateTime()),
    # The unique key makes a second firing in the same workflow run impossible.
    sa.UniqueConstraint("scope", "trigger_name", name="uq_trigger_firing"),
)  # fmt: skip

# The outbox: every state change that others react to, written in the same transaction.
events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _column("kind", sa.String(32)),
    _column("workflow_run_id", _ID, null=True),
    _column("job_run_id", _ID, null=True),
    _column("payload", JSON()),
    _column("created_on", UTCDateTime()),
    _column("processed", sa.Boolean, default=False),
    sa.Index("ix_events_unprocessed", "processed"),
)  # fmt: skip

notifications = sa.Table(
    "notifications", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    _column("detail_type", sa.String(64)),
    _column("job_name", _NAME, null=True),
    _column("job_run_id", _ID, null=True),
    _column("state", _STATE, null=True),
    _column("time", UTCDateTime(), index=True),
    _column("event", JSON()),
    _column("deliveries", JSON()),
)  # fmt: skip

# A live orchestrator process; runs it owns are re-checked when it stops beating.
orchestrators = sa.Table(
    "orchestrators", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    _column("host", _NAME),
    _column("pid", sa.Integer),
    _column("serving", sa.Boolean, default=False),
    _column("started_on", UTCDateTime()),
    _column("heartbeat_on", UTCDateTime()),
    _column("wake_address", sa.String(128), null=True),  # where a serve on SQLite is woken (store.wakeups)
)  # fmt: skip

# Tags on Glue resources (TagResource, GetTags), one row per key. ``kind`` is a kind of
# ``store.definitions`` ("job", "trigger", "workflow", "crawler"; later "database", "table"),
# so there is no foreign key: deleting a resource deletes its tags in the same transaction.
# Lengths are Glue's TagKey (1-128) and TagValue (0-256); keys are case-sensitive.
tags = sa.Table(
    "tags", metadata,
    sa.Column("kind", _STATE, primary_key=True),
    sa.Column("name", _NAME, primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    _column("value", sa.String(256)),
    sa.Index("ix_tags_kind_key_value", "kind", "key", "value"),  # the Tags filter of ListJobs
)  # fmt: skip

# The Data Catalog (Glue's databases, tables, table versions and partitions), each kept whole as
# Glue's input shape (DatabaseInput, TableInput, PartitionInput) beside the columns queries need.
# Names are stored folded to lowercase, as Glue folds them. No foreign keys (SQLite enforces
# none unless asked on every connection): deleting a database or a table deletes what it holds
# in the same transaction (``store.catalog``).
catalog_databases = sa.Table(
    "catalog_databases", metadata,
    sa.Column("name", _NAME, primary_key=True),
    _column("definition", JSON()),  # DatabaseInput
    _column("create_time", UTCDateTime()),
)  # fmt: skip

catalog_tables = sa.Table(
    "catalog_tables", metadata,
    sa.Column("database_name", _NAME, primary_key=True),
    sa.Column("name", _NAME, primary_key=True),
    _column("definition", JSON()),  # TableInput: StorageDescriptor, PartitionKeys, Parameters, ...
    _column("version_id", sa.Integer),  # 0 when created, one more on every UpdateTable
    _column("create_time", UTCDateTime()),
    _column("update_time", UTCDateTime()),
)  # fmt: skip

# Earlier states of a table, archived by UpdateTable (unless SkipArchive); the current state is
# the catalog_tables row.
catalog_table_versions = sa.Table(
    "catalog_table_versions", metadata,
    sa.Column("database_name", _NAME, primary_key=True),
    sa.Column("table_name", _NAME, primary_key=True),
    sa.Column("version_id", sa.Integer, primary_key=True),
    _column("definition", JSON()),  # the TableInput of that version
    _column("create_time", UTCDateTime()),
    _column("update_time", UTCDateTime()),
)  # fmt: skip

# ``values`` is the JSON array partition expressions index into; ``values_key`` (a digest of it)
# makes a partition unique in its table and finds it in one lookup. ``id`` orders a table's
# partitions (keyset pages) and splits them into GetPartitions' Segments.
catalog_partitions = sa.Table(
    "catalog_partitions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _column("database_name", _NAME),
    _column("table_name", _NAME),
    _column("values", JSON()),
    _column("values_key", sa.String(64)),
    _column("definition", JSON()),  # PartitionInput
    _column("create_time", UTCDateTime()),
    _column("update_time", UTCDateTime()),
    sa.UniqueConstraint("database_name", "table_name", "values_key", name="uq_catalog_partitions_values"),
    sa.Index("ix_catalog_partitions_table_id", "database_name", "table_name", "id"),
)  # fmt: skip

# Schedules (SCHEDULED triggers, crawler schedules): the last tick handled, so that a tick fires
# once however many serves run (a compare-and-set on it), and a crawler schedule's state.
schedules = sa.Table(
    "schedules", metadata,
    sa.Column("kind", _STATE, primary_key=True),
    sa.Column("name", _NAME, primary_key=True),
    _column("last_due_on", UTCDateTime(), null=True),
    _column("state", _STATE, null=True),  # crawlers: SCHEDULED or NOT_SCHEDULED
)  # fmt: skip

# Events received (adhere events put, EventBridge's PutEvents, folders, SQS, completions), kept
# whole by id: a second delivery of an id is dropped by the unique key. ``state`` is ROUTED
# (see trigger_events) or DROPPED with its ``reason``.
received_events = sa.Table(
    "received_events", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    _column("id", sa.String(128)),
    _column("source", sa.String(256)),
    _column("detail_type", sa.String(256)),
    _column("envelope", JSON()),
    _column("received_on", UTCDateTime()),
    _column("state", _STATE),
    _column("reason", sa.Text, null=True),
    sa.UniqueConstraint("id", name="uq_received_events_id"),
    sa.Index("ix_received_events_state", "state", "seq"),
)  # fmt: skip

# What became of an event for an EVENT trigger that counts it: WAITING in its open batch,
# CONSUMED by a workflow run, or DROPPED with a reason.
trigger_events = sa.Table(
    "trigger_events", metadata,
    sa.Column("trigger_name", _NAME, primary_key=True),
    sa.Column("event_seq", sa.Integer, primary_key=True),
    _column("state", _STATE),
    _column("received_on", UTCDateTime()),
    _column("workflow_run_id", _ID, null=True),
    _column("reason", sa.Text, null=True),
    sa.Index("ix_trigger_events_state", "state", "trigger_name"),
    sa.Index("ix_trigger_events_event", "event_seq"),
    sa.Index("ix_trigger_events_workflow_run", "workflow_run_id"),
)  # fmt: skip

# Job bookmarks: every version of a job's state (Glue's JobBookmarkEntry; ``reason`` COMMIT,
# RESET or REWIND), kept so that from/to windows and rewinds resolve by run id; what a run
# staged with commit() (promoted by its SUCCEEDED end); when each run listed each source.
job_bookmarks = sa.Table(
    "job_bookmarks", metadata,
    sa.Column("job_name", _NAME, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    _column("run", sa.Integer),
    _column("attempt", sa.Integer),
    _column("run_id", _ID, null=True),
    _column("previous_run_id", _ID, null=True),
    _column("job_bookmark", sa.Text),  # Glue's opaque JSON string: one state per transformation_ctx
    _column("listed", JSON(), null=True),  # what the committing run's sources listed (adhere bookmark --history)
    _column("reason", _STATE),
    _column("committed_on", UTCDateTime()),
    sa.Index("ix_job_bookmarks_run_id", "run_id"),
)  # fmt: skip

job_bookmark_stages = sa.Table(
    "job_bookmark_stages", metadata,
    sa.Column("job_run_id", _ID, primary_key=True),
    _column("job_name", _NAME),
    _column("base_version", sa.Integer),
    _column("job_bookmark", sa.Text),
    _column("listed", JSON(), null=True),
    _column("staged_on", UTCDateTime()),
)  # fmt: skip

job_bookmark_listings = sa.Table(
    "job_bookmark_listings", metadata,
    sa.Column("job_run_id", _ID, primary_key=True),
    sa.Column("context", _NAME, primary_key=True),
    _column("job_name", _NAME),
    _column("base_version", sa.Integer),
    _column("listed_at_ms", sa.BigInteger),
)  # fmt: skip
