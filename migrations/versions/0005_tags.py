"""tags

Tags on jobs, triggers, workflows and crawlers (TagResource, UntagResource, GetTags, and the
Tags filter of ListJobs/ListTriggers), one row per key, with Glue's TagKey and TagValue lengths.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name", "key"),
    )
    op.create_index("ix_tags_kind_key_value", "tags", ["kind", "key", "value"])


def downgrade() -> None:
    op.drop_index("ix_tags_kind_key_value", table_name="tags")
    op.drop_table("tags")
