"""schedules and events

Schedules keep the last tick they handled (a compare-and-set on it makes one serve fire a tick,
however many run); received events are kept whole, by id (a duplicate delivery is a no-op),
with what became of each for each EVENT trigger that counts it; a workflow run started by a
batch records the condition that fired it; runs started along a chain of standalone triggers
share its id (Glue's chain rule); a serve records where it is woken.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("last_due_on", _TIME, nullable=True),
        sa.Column("state", sa.String(16), nullable=True),
    )
    op.create_table(
        "received_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("source", sa.String(256), nullable=False),
        sa.Column("detail_type", sa.String(256), nullable=False),
        sa.Column("envelope", _JSON, nullable=False),
        sa.Column("received_on", _TIME, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.UniqueConstraint("id", name="uq_received_events_id"),
        sa.Index("ix_received_events_state", "state", "seq"),
    )
    op.create_table(
        "trigger_events",
        sa.Column("trigger_name", sa.String(255), primary_key=True),
        sa.Column("event_seq", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("received_on", _TIME, nullable=False),
        sa.Column("workflow_run_id", sa.String(67), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Index("ix_trigger_events_state", "state", "trigger_name"),
        sa.Index("ix_trigger_events_event", "event_seq"),
        sa.Index("ix_trigger_events_workflow_run", "workflow_run_id"),
    )
    with op.batch_alter_table("workflow_runs") as batch:
        batch.add_column(sa.Column("starting_event_batch_condition", _JSON, nullable=True))
    with op.batch_alter_table("job_runs") as batch:
        batch.add_column(sa.Column("chain_id", sa.String(67), nullable=True))
    op.create_index("ix_job_runs_chain_job", "job_runs", ["chain_id", "job_name"])
    with op.batch_alter_table("crawls") as batch:
        batch.add_column(sa.Column("chain_id", sa.String(67), nullable=True))
    with op.batch_alter_table("orchestrators") as batch:
        batch.add_column(sa.Column("wake_address", sa.String(128), nullable=True))
    _schedule_existing_crawlers()


def _schedule_existing_crawlers() -> None:
    """Crawlers saved with a Schedule before schedules fired: SCHEDULED from now, as Glue has them."""
    crawlers = sa.table("crawlers", sa.column("name", sa.String), sa.column("definition", _JSON))
    schedules = sa.table("schedules", sa.column("kind", sa.String), sa.column("name", sa.String),
                         sa.column("last_due_on", _TIME), sa.column("state", sa.String))
    now = dt.datetime.now(dt.UTC)
    if op.get_bind().dialect.name == "sqlite":  # stored naive, in UTC, as the store's own type does
        now = now.replace(tzinfo=None)
    rows = [{"kind": "crawler", "name": name, "last_due_on": now, "state": "SCHEDULED"}
            for name, definition in op.get_bind().execute(sa.select(crawlers.c.name, crawlers.c.definition))
            if isinstance(definition, dict) and (definition.get("glue") or {}).get("Schedule")]
    if rows:
        op.bulk_insert(schedules, rows)


def downgrade() -> None:
    with op.batch_alter_table("orchestrators") as batch:
        batch.drop_column("wake_address")
    with op.batch_alter_table("crawls") as batch:
        batch.drop_column("chain_id")
    op.drop_index("ix_job_runs_chain_job", table_name="job_runs")
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_column("chain_id")
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("starting_event_batch_condition")
    op.drop_table("trigger_events")
    op.drop_table("received_events")
    op.drop_table("schedules")
