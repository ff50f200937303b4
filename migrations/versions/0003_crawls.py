"""crawls

Crawler actions are recorded as crawls, so a workflow run whose trigger starts a crawler
shows it in its graph and completes (until crawlers run, such a crawl is FAILED).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.store.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamp = orchestrator.store.tables.UTCDateTime(timezone=True)
    op.create_table(
        "crawls",
        sa.Column("id", sa.String(length=67), nullable=False),
        sa.Column("crawler_name", sa.String(length=255), nullable=False),
        sa.Column("workflow_run_id", sa.String(length=67), nullable=True),
        sa.Column("trigger_name", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("started_on", stamp, nullable=False),
        sa.Column("completed_on", stamp, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_crawls_crawler_name", "crawls", ["crawler_name"])
    op.create_index("ix_crawls_workflow_run_crawler", "crawls", ["workflow_run_id", "crawler_name", "state"])


def downgrade() -> None:
    op.drop_index("ix_crawls_workflow_run_crawler", table_name="crawls")
    op.drop_index("ix_crawls_crawler_name", table_name="crawls")
    op.drop_table("crawls")
