"""workflow run nodes

A resumed workflow run records, when it is created, which nodes may run again in it, which
are carried over from an earlier run (with the runs that produced their final state) and which
the operator recorded as done by hand. Resumed runs are found by their previous run.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orchestrator.store.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "workflow_run_nodes",
        sa.Column("workflow_run_id", sa.String(length=67), nullable=False),
        sa.Column("node_type", sa.String(length=16), nullable=False),
        sa.Column("node_name", sa.String(length=255), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=True),
        sa.Column("source_run_id", sa.String(length=67), nullable=True),
        sa.Column("run_ids", _JSON, nullable=False),
        sa.Column("arguments", _JSON, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_on", orchestrator.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workflow_run_id", "node_type", "node_name"),
    )
    op.create_index("ix_workflow_runs_previous_run_id", "workflow_runs", ["previous_run_id"])


def downgrade() -> None:
    op.drop_index("ix_workflow_runs_previous_run_id", table_name="workflow_runs")
    op.drop_table("workflow_run_nodes")
