"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orchestrator.store.tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crawlers",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "last_modified_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("workflow_run_id", sa.String(length=67), nullable=True),
        sa.Column("job_run_id", sa.String(length=67), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("processed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_unprocessed", ["processed"], unique=False)

    op.create_table(
        "job_runs",
        sa.Column("id", sa.String(length=67), nullable=False),
        sa.Column("job_name", sa.String(length=255), nullable=False),
        sa.Column("workflow_run_id", sa.String(length=67), nullable=True),
        sa.Column("workflow_name", sa.String(length=255), nullable=True),
        sa.Column("trigger_name", sa.String(length=255), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("previous_run_id", sa.String(length=67), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_detail", sa.Text(), nullable=True),
        sa.Column("stop_reason", sa.String(length=16), nullable=True),
        sa.Column("command", sa.String(length=64), nullable=False),
        sa.Column(
            "arguments",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "options",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "predecessor_runs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "last_modified_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("completed_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("execution_time", sa.Integer(), nullable=True),
        sa.Column("timeout", sa.Double(), nullable=True),
        sa.Column("not_before", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("timeout_at", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notify_at", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "notified_states",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("engine_run_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index("ix_job_runs_job_state", ["job_name", "state"], unique=False)
        batch_op.create_index("ix_job_runs_state_owner", ["state", "owner"], unique=False)
        batch_op.create_index(
            "ix_job_runs_workflow_run_state", ["workflow_run_id", "state"], unique=False
        )

    op.create_table(
        "jobs",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "last_modified_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("detail_type", sa.String(length=64), nullable=False),
        sa.Column("job_name", sa.String(length=255), nullable=True),
        sa.Column("job_run_id", sa.String(length=67), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=True),
        sa.Column("time", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "event",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "deliveries",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_time"), ["time"], unique=False)

    op.create_table(
        "orchestrators",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("serving", sa.Boolean(), nullable=False),
        sa.Column("started_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "trigger_firings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=67), nullable=False),
        sa.Column("trigger_name", sa.String(length=255), nullable=False),
        sa.Column("fired_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope", "trigger_name", name="uq_trigger_firing"),
    )
    op.create_table(
        "triggers",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("workflow_name", sa.String(length=255), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "last_modified_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_triggers_workflow_name"), ["workflow_name"], unique=False
        )

    op.create_table(
        "workflow_runs",
        sa.Column("id", sa.String(length=67), nullable=False),
        sa.Column("workflow_name", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("previous_run_id", sa.String(length=67), nullable=True),
        sa.Column("started_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "run_properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "triggers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workflow_runs_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_workflow_runs_workflow_name"), ["workflow_name"], unique=False
        )

    op.create_table(
        "workflows",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "last_modified_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("workflows")
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_runs_workflow_name"))
        batch_op.drop_index(batch_op.f("ix_workflow_runs_status"))

    op.drop_table("workflow_runs")
    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_triggers_workflow_name"))

    op.drop_table("triggers")
    op.drop_table("trigger_firings")
    op.drop_table("orchestrators")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_time"))

    op.drop_table("notifications")
    op.drop_table("jobs")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_job_runs_workflow_run_state")
        batch_op.drop_index("ix_job_runs_state_owner")
        batch_op.drop_index("ix_job_runs_job_state")

    op.drop_table("job_runs")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_unprocessed")

    op.drop_table("events")
    op.drop_table("crawlers")
