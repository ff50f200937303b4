"""catalog

Glue's Data Catalog: databases, tables, archived table versions and partitions, each kept as
Glue's input shape beside the columns its queries need; the ``default`` database Glue has.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orchestrator.store.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
DEFAULT_DATABASE = {"Name": "default", "Description": "Default Hive database"}


def _stamp() -> orchestrator.store.tables.UTCDateTime:
    return orchestrator.store.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    databases = op.create_table(
        "catalog_databases",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("definition", _JSON, nullable=False),
        sa.Column("create_time", _stamp(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "catalog_tables",
        sa.Column("database_name", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("definition", _JSON, nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("create_time", _stamp(), nullable=False),
        sa.Column("update_time", _stamp(), nullable=False),
        sa.PrimaryKeyConstraint("database_name", "name"),
    )
    op.create_table(
        "catalog_table_versions",
        sa.Column("database_name", sa.String(length=255), nullable=False),
        sa.Column("table_name", sa.String(length=255), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("definition", _JSON, nullable=False),
        sa.Column("create_time", _stamp(), nullable=False),
        sa.Column("update_time", _stamp(), nullable=False),
        sa.PrimaryKeyConstraint("database_name", "table_name", "version_id"),
    )
    op.create_table(
        "catalog_partitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("database_name", sa.String(length=255), nullable=False),
        sa.Column("table_name", sa.String(length=255), nullable=False),
        sa.Column("values", _JSON, nullable=False),
        sa.Column("values_key", sa.String(length=64), nullable=False),
        sa.Column("definition", _JSON, nullable=False),
        sa.Column("create_time", _stamp(), nullable=False),
        sa.Column("update_time", _stamp(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("database_name", "table_name", "values_key", name="uq_catalog_partitions_values"),
    )
    op.create_index("ix_catalog_partitions_table_id", "catalog_partitions", ["database_name", "table_name", "id"])
    # Glue's catalog always has ``default`` (GetDatabase("default") works on a fresh store).
    op.bulk_insert(databases, [{"name": "default", "definition": DEFAULT_DATABASE,
                                "create_time": dt.datetime.now(dt.UTC)}])


def downgrade() -> None:
    op.drop_index("ix_catalog_partitions_table_id", table_name="catalog_partitions")
    op.drop_table("catalog_partitions")
    op.drop_table("catalog_table_versions")
    op.drop_table("catalog_tables")
    op.drop_table("catalog_databases")
