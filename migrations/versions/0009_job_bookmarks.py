"""job bookmarks

Every committed version of a job's bookmark (Glue's JobBookmarkEntry), so that from/to windows
and rewinds resolve by run id; what a run staged with commit(), promoted by its SUCCEEDED end
in the same transaction; and when each run listed each source (a re-run can be pinned to it).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "job_bookmarks",
        sa.Column("job_name", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("run", sa.Integer, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(67), nullable=True),
        sa.Column("previous_run_id", sa.String(67), nullable=True),
        sa.Column("job_bookmark", sa.Text, nullable=False),
        sa.Column("listed", _JSON, nullable=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("committed_on", _TIME, nullable=False),
        sa.Index("ix_job_bookmarks_run_id", "run_id"),
    )
    op.create_table(
        "job_bookmark_stages",
        sa.Column("job_run_id", sa.String(67), primary_key=True),
        sa.Column("job_name", sa.String(255), nullable=False),
        sa.Column("base_version", sa.Integer, nullable=False),
        sa.Column("job_bookmark", sa.Text, nullable=False),
        sa.Column("listed", _JSON, nullable=True),
        sa.Column("staged_on", _TIME, nullable=False),
    )
    op.create_table(
        "job_bookmark_listings",
        sa.Column("job_run_id", sa.String(67), primary_key=True),
        sa.Column("context", sa.String(255), primary_key=True),
        sa.Column("job_name", sa.String(255), nullable=False),
        sa.Column("base_version", sa.Integer, nullable=False),
        sa.Column("listed_at_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_bookmark_listings")
    op.drop_table("job_bookmark_stages")
    op.drop_table("job_bookmarks")
