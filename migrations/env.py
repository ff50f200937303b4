"""Alembic environment: one tree for SQLite and PostgreSQL (batch mode on SQLite)."""

from __future__ import annotations

from alembic import context

from orchestrator.store import tables as models

config = context.config
target_metadata = models.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        import sqlalchemy as sa

        engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
