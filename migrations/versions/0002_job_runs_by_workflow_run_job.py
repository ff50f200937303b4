"""job runs indexed by workflow run and job

The scheduler asks, per completion, whether one job of a workflow run has a run in a given
state (an AND trigger's witness) and which runs watched jobs have: without this index SQLite
scans every run of the workflow run in that state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_job_runs_workflow_run_job", "job_runs", ["workflow_run_id", "job_name", "state"])


def downgrade() -> None:
    op.drop_index("ix_job_runs_workflow_run_job", table_name="job_runs")
