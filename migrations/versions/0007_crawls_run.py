"""crawls run

Crawls run now: the orchestrator that runs one (``owner``) and its process, the summary of
what it changed in the Data Catalog, and at most one crawl under way per crawler (Glue's
CrawlerRunningException), enforced by a partial unique index.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_ACTIVE = sa.text("state IN ('RUNNING', 'CANCELLING')")


def upgrade() -> None:
    with op.batch_alter_table("crawls") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("process", sa.Text(), nullable=True))
        batch.add_column(sa.Column("summary", _JSON, nullable=True))
    op.create_index("ix_crawls_one_active", "crawls", ["crawler_name"], unique=True,
                    sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)
    op.create_index("ix_crawls_state_owner", "crawls", ["state", "owner"])


def downgrade() -> None:
    op.drop_index("ix_crawls_state_owner", table_name="crawls")
    op.drop_index("ix_crawls_one_active", table_name="crawls")
    with op.batch_alter_table("crawls") as batch:
        batch.drop_column("summary")
        batch.drop_column("process")
        batch.drop_column("owner")
