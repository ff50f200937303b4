"""Migrations are the only way the schema changes, and they build exactly the tables (STYLE 11).

Run on SQLite and PostgreSQL: upgrade to head, compare with ``store.tables.metadata``, a
single head equal to ``store.HEAD_REVISION``, every revision down and up again one step at a
time (rows of the other tables survive), and downgrade to base then upgrade again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from orchestrator import errors, store
from orchestrator.store import tables

ALEMBIC_INI = Path(store.__file__).resolve().parents[2] / "migrations" / "alembic.ini"
REVISIONS = ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009"]  # oldest first
METADATA = tables.metadata
CATALOG = ("catalog_databases", "catalog_tables", "catalog_table_versions", "catalog_partitions")
EVENTS = ("schedules", "received_events", "trigger_events")
BOOKMARKS = ("job_bookmarks", "job_bookmark_stages", "job_bookmark_listings")
# What each revision adds, so that one step down is checked for exactly what it removes.
ADDED_BY = {
    "0001": {"tables": set(METADATA.tables) - {"crawls", "workflow_run_nodes", "tags", *CATALOG, *EVENTS, *BOOKMARKS},
             "indexes": set()},
    "0002": {"tables": set(), "indexes": {("job_runs", "ix_job_runs_workflow_run_job")}},
    "0003": {"tables": {"crawls"}, "indexes": set()},
    "0004": {"tables": {"workflow_run_nodes"}, "indexes": {("workflow_runs", "ix_workflow_runs_previous_run_id")}},
    "0005": {"tables": {"tags"}, "indexes": {("tags", "ix_tags_kind_key_value")}},
    "0006": {"tables": set(CATALOG), "indexes": {("catalog_partitions", "ix_catalog_partitions_table_id")}},
    "0007": {"tables": set(), "indexes": {("crawls", "ix_crawls_one_active"), ("crawls", "ix_crawls_state_owner")}},
    "0008": {"tables": set(EVENTS), "indexes": {("job_runs", "ix_job_runs_chain_job"),
                                                 ("received_events", "ix_received_events_state"),
                                                 ("trigger_events", "ix_trigger_events_state"),
                                                 ("trigger_events", "ix_trigger_events_event"),
                                                 ("trigger_events", "ix_trigger_events_workflow_run")}},
    "0009": {"tables": set(BOOKMARKS), "indexes": {("job_bookmarks", "ix_job_bookmarks_run_id")}},
}


def _config() -> Config:
    return Config(str(ALEMBIC_INI))


def _differences(conn: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(context, METADATA)


def _tables(conn: sa.Connection) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


def _indexes(conn: sa.Connection, table: str) -> set[str]:
    return {ix["name"] for ix in sa.inspect(conn).get_indexes(table)}


def _run(db: store.Store, action: str, revision: str) -> None:
    cfg = _config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def _expected_at(revision: str | None) -> tuple[set[str], set[tuple[str, str]]]:
    """The tables and the extra indexes present at ``revision`` (None: base)."""
    upto = REVISIONS[: REVISIONS.index(revision) + 1] if revision else []
    names = {"alembic_version"} if revision else set()
    indexes: set[tuple[str, str]] = set()
    for rev in upto:
        names |= ADDED_BY[rev]["tables"]
        indexes |= ADDED_BY[rev]["indexes"]
    return names, indexes


def test_single_head_and_one_linear_history() -> None:
    script = ScriptDirectory.from_config(_config())
    assert script.get_heads() == [store.HEAD_REVISION]
    revisions = list(script.walk_revisions())  # newest first
    assert [r.revision for r in revisions] == REVISIONS[::-1]
    assert [r.down_revision for r in revisions] == [*REVISIONS[-2::-1], None]


def test_open_migrates_a_blank_database_to_head(blank_db_url: str) -> None:
    db = store.Store.open_url(blank_db_url)
    try:
        assert db.revision() == store.HEAD_REVISION
        with db.read() as tx:
            assert _tables(tx.conn) == set(METADATA.tables) | {"alembic_version"}
            assert _differences(tx.conn) == []
        # Opening again finds the schema at head and runs nothing.
        assert db.upgrade(only_if_needed=True) is False
        assert db.upgrade(only_if_needed=False) is True  # alembic itself finds nothing to do
        assert db.revision() == store.HEAD_REVISION
    finally:
        db.close()


def test_every_revision_steps_down_and_up_again(blank_db_url: str) -> None:
    """From head to base one revision at a time, checking what each step removed, then up again
    one at a time to a schema equal to the tables."""
    db = store.Store.open_url(blank_db_url)
    try:
        for revision in [*REVISIONS[-2::-1], None]:
            _run(db, "downgrade", "-1")
            assert db.revision() == revision
            names, indexes = _expected_at(revision)
            with db.read() as tx:
                # alembic keeps its (empty) version table at base
                assert _tables(tx.conn) - {"alembic_version"} == names - {"alembic_version"}
                if "job_runs" in names:
                    has = ("job_runs", "ix_job_runs_workflow_run_job") in indexes
                    assert ("ix_job_runs_workflow_run_job" in _indexes(tx.conn, "job_runs")) is has
        for revision in REVISIONS:
            _run(db, "upgrade", "+1")
            assert db.revision() == revision
            names, _ = _expected_at(revision)
            with db.read() as tx:
                assert _tables(tx.conn) == names
        with db.read() as tx:
            assert _differences(tx.conn) == []
    finally:
        db.close()


def test_downgrade_to_base_then_upgrade_to_head(blank_db_url: str) -> None:
    db = store.Store.open_url(blank_db_url)
    try:
        _run(db, "downgrade", "base")
        assert db.revision() is None
        with db.read() as tx:
            assert _tables(tx.conn) <= {"alembic_version"}
        _run(db, "upgrade", "head")
        assert db.revision() == store.HEAD_REVISION
        with db.read() as tx:
            assert _differences(tx.conn) == []
    finally:
        db.close()


def test_0003_round_trip_keeps_the_rows_of_the_other_tables(db: store.Store) -> None:
    """Down to 0002 drops crawls (and only crawls); up again brings an empty crawls table back,
    and the runs written before are untouched."""
    stamp = store.now()
    with db.transaction() as tx:
        run = _workflow_run(stamp)
        store.workflow_runs.insert(tx, run)
        store.job_runs.insert(tx, [store.job_runs.new(id="jr_1", job_name="j", state="SUCCEEDED",
                                                      workflow_run_id=run.id, created_on=stamp)])
        store.crawls.insert(tx, _crawl(run.id, stamp))
    _run(db, "downgrade", "0002")
    assert db.revision() == "0002"
    with db.read() as tx:
        assert "crawls" not in _tables(tx.conn)
        names, _ = _expected_at("0002")
        assert _tables(tx.conn) == names
    _run(db, "upgrade", "head")
    with db.read() as tx:
        assert _differences(tx.conn) == []
        assert store.crawls.of_workflow_run(tx, run.id) == []
        assert store.workflow_runs.get(tx, run.id) == run
        [job_run] = store.job_runs.of_workflow_run(tx, run.id)
        assert (job_run.id, job_run.state) == ("jr_1", "SUCCEEDED")


def test_concurrent_opens_of_a_blank_database_migrate_it_once(blank_db_url: str) -> None:
    """Processes starting together (an `adhere serve` and an `adhere run`) both open the store:
    the migration lock (a file lock on SQLite, an advisory lock on PostgreSQL) serialises them."""
    barrier = threading.Barrier(3)
    failures: list[BaseException] = []

    def open_it() -> None:
        try:
            barrier.wait(10)
            store.Store.open_url(blank_db_url).close()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    db = store.Store.open_url(blank_db_url, upgrade=False)
    try:
        assert db.revision() == store.HEAD_REVISION
        with db.read() as tx:
            assert _differences(tx.conn) == []
    finally:
        db.close()


def _workflow_run(stamp: dt.datetime, run_id: str = "wr_1") -> store.workflow_runs.WorkflowRun:
    return store.workflow_runs.WorkflowRun(
        run_id, "wf", None, "RUNNING", None, stamp, None, None, {"k": "v"}, [{"Name": "t", "Type": "ON_DEMAND"}]
    )


def _crawl(workflow_run_id: str, stamp: dt.datetime) -> store.crawls.Crawl:
    return store.crawls.Crawl("cr_1", "c", workflow_run_id, "t", "FAILED", "no crawls", stamp, stamp)


def test_a_store_at_head_accepts_rows_in_every_table(db: store.Store) -> None:
    """The migrated tables take what the tables describe (JSON, aware datetimes, defaults): one
    row in each, through the store's verbs, read back equal."""
    stamp = store.now()
    written: set[str] = set()
    with db.transaction() as tx:
        for kind in store.definitions.KINDS:
            extra = {"workflow_name": "wf", "type": "ON_DEMAND", "state": "CREATED"} if kind == "trigger" else {}
            body = store.definitions.Body(f"{kind}-1", {"Name": f"{kind}-1"}, {"spec": {"a": [1, 2]}}, **extra)
            assert store.definitions.save_many(tx, kind, [body], {}) == {f"{kind}-1": "created"}
        written |= {"jobs", "crawlers", "workflows", "triggers"}
        run = _workflow_run(stamp)
        store.workflow_runs.insert(tx, run)
        store.job_runs.insert(tx, [store.job_runs.new(
            id="jr_1", job_name="job-1", state="RUNNING", workflow_run_id=run.id, created_on=stamp,
            options=store.job_runs.RunOptions(script="s.py", effective_arguments={"--a": "1"}, timeout=60.0),
        )])  # fmt: skip
        store.crawls.insert(tx, _crawl(run.id, stamp))
        assert store.firings.record(tx, run.id, "t")
        store.outbox.insert(tx, "K", workflow_run_id=run.id, payload={"nested": {"x": None}})
        notice = store.notifications.Notification("n1", "Glue Job State Change", "job-1", "jr_1", "FAILED", stamp,
                                                  {"detail": {"state": "FAILED"}}, {})
        store.notifications.insert(tx, notice)
        store.orchestrators.register(tx, "o1", "host", 1, serving=True)
        node = store.workflow_run_nodes.RunNode(run.id, "job", "job-1", "carried", "FAILED", "wr_0", ["jr_0"],
                                                {"--a": "2"}, None, stamp)
        store.workflow_run_nodes.insert(tx, [node])
        store.tags.put(tx, "job", "job-1", {"team": "data", "note": ""})
        assert store.catalog.create_database(tx, "db-1", {"Name": "db-1", "Parameters": {"k": "v"}}, stamp)
        table = store.catalog.create_table(tx, "db-1", "t-1", {"Name": "t-1", "PartitionKeys": [{"Name": "k"}]}, stamp)
        assert table is not None and store.catalog.update_table(tx, table, {"Name": "t-1"}, stamp, archive=True)
        assert store.catalog.create_partitions(tx, "db-1", "t-1", [(["v"], {"Values": ["v"]})], stamp)
        store.schedules.reset(tx, "crawler", "crawler-1", stamp, state="SCHEDULED")
        envelope = {"id": "e-1", "source": "s", "detail-type": "d", "detail": {"k": [1]}}
        seqs = store.received_events.insert(tx, [{"id": "e-1", "source": "s", "detail_type": "d", "envelope": envelope,
                                                  "received_on": stamp, "state": "ROUTED", "reason": None}])
        store.received_events.count(tx, [{"trigger_name": "trigger-1", "event_seq": seqs["e-1"], "state": "WAITING",
                                          "received_on": stamp, "workflow_run_id": None, "reason": None}])
        version = store.bookmarks.Version("job-1", 1, 1, 0, "jr_1", None, '{"c": {"kind": "files"}}', {"c": {"new": 1}},
                                          "COMMIT", stamp)
        store.bookmarks.add(tx, version)
        store.bookmarks.stage(tx, store.bookmarks.Stage("jr_2", "job-1", 1, "{}", None, stamp))
        store.bookmarks.record_listing(tx, "jr_2", "c", "job-1", 1, 1_700_000_000_000)
        written |= {"workflow_runs", "job_runs", "crawls", "trigger_firings", "events", "notifications",
                    "orchestrators", "workflow_run_nodes", "tags", *CATALOG, *EVENTS, *BOOKMARKS}
    assert written == set(METADATA.tables)  # a new table needs a line here
    with db.transaction() as tx:
        job = store.definitions.get(tx, "job", "job-1")
        trigger = store.definitions.get(tx, "trigger", "trigger-1")
        assert job is not None and job.spec == {"spec": {"a": [1, 2]}} and job.glue == {"Name": "job-1"}
        assert job.created_on.tzinfo is not None and job.created_on == job.last_modified_on
        assert abs((job.created_on - stamp).total_seconds()) < 60
        assert trigger is not None and (trigger.workflow_name, trigger.type, trigger.state) == (
            "wf", "ON_DEMAND", "CREATED",
        )
        crawler = store.definitions.get(tx, "crawler", "crawler-1")
        assert crawler is not None and crawler.state == "READY"  # the column's default
        assert store.workflow_runs.get(tx, run.id) == run
        job_run = store.job_runs.get(tx, "jr_1")
        assert job_run is not None and job_run.options.effective_arguments == {"--a": "1"}
        assert job_run.options.timeout == 60.0 and job_run.created_on == stamp
        assert store.crawls.of_workflow_run(tx, run.id) == [_crawl(run.id, stamp)]
        assert store.firings.fired(tx, run.id) == {"t"}
        [event] = store.outbox.claim(tx)
        assert event.payload == {"nested": {"x": None}} and event.kind == "K" and event.id is not None
        assert store.notifications.find(tx) == [notice]
        [orch] = store.orchestrators.find(tx)
        assert (orch.id, orch.serving, orch.pid) == ("o1", True, 1)
        assert store.workflow_run_nodes.of_run(tx, run.id) == [node]
        assert store.tags.get(tx, "job", "job-1") == {"note": "", "team": "data"}
        database = store.catalog.get_database(tx, "db-1")
        assert database is not None and database.definition["Parameters"] == {"k": "v"} and database.create_time == stamp
        current = store.catalog.get_table(tx, "db-1", "t-1")
        assert current is not None and (current.version_id, current.definition) == (1, {"Name": "t-1"})
        [archived] = store.catalog.find_versions(tx, "db-1", "t-1")
        assert archived.version_id == 0 and archived.definition["PartitionKeys"] == [{"Name": "k"}]
        [partition] = store.catalog.find_partitions(tx, current)
        assert partition.values == ["v"] and partition.create_time == stamp
        assert store.catalog.get_partition(tx, "db-1", "t-1", ["v"]) == partition
        assert store.schedules.get(tx, "crawler", "crawler-1") == store.schedules.Schedule(
            "crawler", "crawler-1", stamp, "SCHEDULED")
        [waiting] = store.received_events.waiting_all(tx)
        assert (waiting.trigger_name, waiting.count, waiting.oldest) == ("trigger-1", 1, stamp)
        assert store.received_events.get(tx, "e-1") == envelope
        assert store.bookmarks.latest(tx, "job-1") == version
        assert store.bookmarks.staged(tx, "jr_2") == store.bookmarks.Stage("jr_2", "job-1", 1, "{}", None, stamp)
        assert store.bookmarks.listings(tx, "jr_2") == (1, {"c": 1_700_000_000_000})


def test_rows_are_typed_as_their_tables() -> None:
    """Each verb module's row lists its table's columns in order (what ``Row(*row)`` relies on)."""
    pairs = [
        (store.job_runs.JobRun, tables.job_runs),
        (store.workflow_runs.WorkflowRun, tables.workflow_runs),
        (store.crawls.Crawl, tables.crawls),
        (store.notifications.Notification, tables.notifications),
        (store.orchestrators.Orchestrator, tables.orchestrators),
        (store.workflow_run_nodes.RunNode, tables.workflow_run_nodes),
        (store.catalog.Database, tables.catalog_databases),
        (store.catalog.Table, tables.catalog_tables),
        (store.catalog.TableVersion, tables.catalog_table_versions),
        (store.catalog.Partition, tables.catalog_partitions),
        (store.schedules.Schedule, tables.schedules),
        (store.bookmarks.Version, tables.job_bookmarks),
        (store.bookmarks.Stage, tables.job_bookmark_stages),
    ]
    for row_type, table in pairs:
        assert [f.name for f in dataclasses.fields(row_type)] == [c.name for c in table.columns], row_type


@pytest.mark.parametrize("url", ["sqlite:///:memory:"])
def test_in_memory_sqlite_is_migrated_too(url: str) -> None:
    db = store.Store.open_url(url)
    try:
        assert db.revision() == store.HEAD_REVISION
    finally:
        db.close()


def test_a_store_written_by_a_newer_adhere_is_a_clear_error(db_url: str) -> None:
    """A revision this version does not know: refused with what to do, and left as it was."""
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(errors.StoreError, match="is at revision 0099, newer than this adhere knows "
                       rf"\(its newest is {store.HEAD_REVISION}\): upgrade adhere"):
        store.Store.open_url(db_url)
    left = store.Store.open_url(db_url, upgrade=False)
    try:
        assert left.revision() == "0099"
    finally:
        left.close()
