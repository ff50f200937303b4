"""Migrations are the only way the schema changes, and they build exactly the models (STYLE 11).

Run on SQLite and PostgreSQL: upgrade to head, compare with ``models.Base.metadata``, a single
head equal to ``store.HEAD_REVISION``, and downgrade to base then upgrade again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from orchestrator import models, store

ALEMBIC_INI = Path(store.__file__).resolve().parent.parent / "migrations" / "alembic.ini"


def _config() -> Config:
    return Config(str(ALEMBIC_INI))


def _differences(conn: sa.Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(context, models.Base.metadata)


def _tables(conn: sa.Connection) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


def _run(db: store.Store, action: str, revision: str) -> None:
    cfg = _config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def test_single_head_is_the_store_head_revision() -> None:
    script = ScriptDirectory.from_config(_config())
    assert script.get_heads() == [store.HEAD_REVISION]
    # One linear history: every revision but the first has exactly one parent.
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None
    assert all(isinstance(r.down_revision, str) for r in revisions[:-1])


def test_open_migrates_a_blank_database_to_head(blank_db_url: str) -> None:
    db = store.Store.open_url(blank_db_url)
    try:
        assert db.revision() == store.HEAD_REVISION
        with db.read() as conn:
            assert _tables(conn) == set(models.Base.metadata.tables) | {"alembic_version"}
            assert _differences(conn) == []
        # Opening again finds the schema at head and runs nothing.
        assert db.upgrade(only_if_needed=True) is False
    finally:
        db.close()


def test_downgrade_to_base_then_upgrade_to_head(blank_db_url: str) -> None:
    db = store.Store.open_url(blank_db_url)
    try:
        _run(db, "downgrade", "base")
        assert db.revision() is None
        with db.read() as conn:
            assert _tables(conn) <= {"alembic_version"}
        _run(db, "upgrade", "head")
        assert db.revision() == store.HEAD_REVISION
        with db.read() as conn:
            assert _differences(conn) == []
    finally:
        db.close()


def test_a_store_at_head_accepts_rows_in_every_table(db: store.Store) -> None:
    """The migrated tables take what the models describe (JSON, aware datetimes, defaults)."""
    stamp = store.now()
    with db.transaction() as tx:
        store.upsert_definition(tx, "job", "j", {"definition": {"spec": {"a": [1, 2]}}})
        store.insert_event(tx, "K", payload={"nested": {"x": None}})
    with db.read() as conn:
        job = store.get_definition(conn, "job", "j")
        [event] = store.claim_events(conn)
    assert job is not None and job["definition"] == {"spec": {"a": [1, 2]}}
    assert job["created_on"].tzinfo is not None
    assert abs((job["created_on"] - stamp).total_seconds()) < 60
    assert event["payload"] == {"nested": {"x": None}} and event["processed"] is False


@pytest.mark.parametrize("url", ["sqlite:///:memory:"])
def test_in_memory_sqlite_is_migrated_too(url: str) -> None:
    db = store.Store.open_url(url)
    try:
        assert db.revision() == store.HEAD_REVISION
    finally:
        db.close()
