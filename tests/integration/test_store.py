"""The store contract, run on SQLite and PostgreSQL (STYLE 3 and 12).

The database enforces the rules: conditional updates refuse illegal transitions (row count),
the unique key refuses a second firing, and a transaction that fails leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from orchestrator import errors, models, states, store
from orchestrator.settings import Settings

J = states.JobRunState
W = states.WorkflowRunStatus


def postgres_only(test: Any) -> Any:
    """Run ``test`` on the PostgreSQL ``db`` alone (concurrent writers, row locks)."""
    test = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)(test)
    return pytest.mark.postgres(test)


def _job_run(tx: store.Tx, state: J, **values: Any) -> str:
    run_id = store.new_id("jr")
    store.insert_job_run(
        tx, id=run_id, job_name=values.pop("job_name", "j"), state=state.value, command="pythonshell",
        **values,
    )
    return run_id


def _workflow_run(tx: store.Tx, status: W, name: str = "wf") -> str:
    run_id = store.new_id("wr")
    store.insert_workflow_run(
        tx, id=run_id, workflow_name=name, status=status.value, started_on=store.now(),
        run_properties={}, triggers=[],
    )
    return run_id


# --- opening ---------------------------------------------------------------------------------


def test_open_with_settings_creates_the_home_folder(tmp_path) -> None:
    settings = Settings(home=tmp_path / "project" / ".adhere")
    db = store.Store.open(settings)
    try:
        assert (tmp_path / "project" / ".adhere" / "adhere.db").is_file()
        assert db.revision() == store.HEAD_REVISION and not db.is_postgres
    finally:
        db.close()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("nonsense://", "bad database URL"),
        ("postgresql+psycopg://u:secret@127.0.0.1:1/x?connect_timeout=2", "cannot open the store"),
    ],
)
def test_open_failures_are_store_errors_without_the_password(url: str, words: str) -> None:
    with pytest.raises(errors.StoreError) as info:
        store.Store.open_url(url)
    assert words in info.value.message
    assert "secret" not in info.value.message


def test_datetimes_come_back_aware_in_utc(db: store.Store) -> None:
    local = dt.datetime(2024, 3, 5, 7, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with db.transaction() as tx:
        run_id = _job_run(tx, J.RUNNING, started_on=local)
    with db.read() as conn:
        row = store.get_job_run(conn, run_id)
    assert row is not None
    assert row["started_on"] == local and row["started_on"].utcoffset() == dt.timedelta(0)


# --- definitions -----------------------------------------------------------------------------


def test_upsert_definition_reports_created_updated_unchanged(db: store.Store) -> None:
    with db.transaction() as tx:
        assert store.upsert_definition(tx, "job", "j", {"definition": {"v": 1}}) == "created"
    with db.read() as conn:
        first = store.get_definition(conn, "job", "j")
    with db.transaction() as tx:
        assert store.upsert_definition(tx, "job", "j", {"definition": {"v": 1}}) == "unchanged"
    with db.read() as conn:
        assert store.get_definition(conn, "job", "j") == first
    with db.transaction() as tx:
        assert store.upsert_definition(tx, "job", "j", {"definition": {"v": 2}}) == "updated"
    with db.read() as conn:
        second = store.get_definition(conn, "job", "j")
    assert first is not None and second is not None
    assert second["definition"] == {"v": 2}
    assert second["created_on"] == first["created_on"]
    assert second["last_modified_on"] >= first["last_modified_on"]


def test_definitions_list_by_name_filter_and_delete(db: store.Store) -> None:
    with db.transaction() as tx:
        for name, wf in (("t2", "wf"), ("t1", "wf"), ("t3", None)):
            store.upsert_definition(
                tx, "trigger", name,
                {"workflow_name": wf, "type": "CONDITIONAL", "state": "ACTIVATED", "definition": {}},
            )
    with db.read() as conn:
        assert [r["name"] for r in store.list_definitions(conn, "trigger")] == ["t1", "t2", "t3"]
        assert [r["name"] for r in store.list_definitions(conn, "trigger", workflow_name="wf")] == [
            "t1", "t2",
        ]
    with db.transaction() as tx:
        assert store.delete_definition(tx, "trigger", "t1") is True
        assert store.delete_definition(tx, "trigger", "t1") is False
        store.lock_definition(tx, "trigger", "t2")  # a no-op on SQLite, a row lock on PostgreSQL
    with db.read() as conn:
        assert store.get_definition(conn, "trigger", "t1") is None


# --- conditional state updates ---------------------------------------------------------------


def test_job_run_updates_follow_the_transition_table(db: store.Store) -> None:
    """Every (current, target) pair: the row moves exactly when the table allows it."""
    pairs = list(itertools.product(J, J))
    with db.transaction() as tx:
        ids = {pair: _job_run(tx, pair[0]) for pair in pairs}
        moved = {pair: store.set_job_run_state(tx, ids[pair], pair[1]) for pair in pairs}
    with db.read() as conn:
        for (current, target), run_id in ids.items():
            allowed = target in states.JOB_RUN_TRANSITIONS[current]
            assert moved[(current, target)] is allowed, (current, target)
            row = store.get_job_run(conn, run_id)
            assert row is not None
            assert row["state"] == (target if allowed else current).value, (current, target)


def test_a_terminal_job_run_never_moves_again(db: store.Store) -> None:
    with db.transaction() as tx:
        run_id = _job_run(tx, J.RUNNING)
        assert store.set_job_run_state(tx, run_id, J.SUCCEEDED, error_message=None)
        for target in J:
            assert store.set_job_run_state(tx, run_id, target) is False
    with db.read() as conn:
        row = store.get_job_run(conn, run_id)
    assert row is not None and row["state"] == J.SUCCEEDED.value


def test_expect_narrows_the_states_an_update_applies_to(db: store.Store) -> None:
    with db.transaction() as tx:
        run_id = _job_run(tx, J.STARTING)
        # WAITING -> STARTING is legal, but this run is not WAITING.
        assert store.set_job_run_state(tx, run_id, J.RUNNING, expect=[J.WAITING.value]) is False
        assert store.set_job_run_state(tx, run_id, J.RUNNING, expect=[J.STARTING.value]) is True
        assert store.update_job_run(tx, run_id, owner="me") == 1
        assert store.update_job_run(tx, "jr_missing", owner="me") == 0


def test_workflow_run_updates_follow_the_transition_table(db: store.Store) -> None:
    pairs = list(itertools.product(W, W))
    with db.transaction() as tx:
        ids = {pair: _workflow_run(tx, pair[0]) for pair in pairs}
        moved = {pair: store.set_workflow_run_status(tx, ids[pair], pair[1]) for pair in pairs}
    with db.read() as conn:
        for (current, target), run_id in ids.items():
            allowed = target in states.WORKFLOW_RUN_TRANSITIONS[current]
            assert moved[(current, target)] is allowed, (current, target)
            row = store.get_workflow_run(conn, run_id)
            assert row is not None
            assert row["status"] == (target if allowed else current).value


def test_workflow_runs_list_newest_first_and_count_by_status(db: store.Store) -> None:
    with db.transaction() as tx:
        ids = [_workflow_run(tx, status) for status in (W.RUNNING, W.COMPLETED, W.RUNNING)]
        _workflow_run(tx, W.RUNNING, name="other")
    with db.read() as conn:
        listed = store.list_workflow_runs(conn, "wf")
        assert {r["id"] for r in listed} == set(ids)
        starts = [r["started_on"] for r in listed]
        assert starts == sorted(starts, reverse=True)
        assert store.count_workflow_runs(conn, "wf", [W.RUNNING.value]) == 2
        assert len(store.list_workflow_runs(conn, None, limit=2)) == 2


# --- trigger firings -------------------------------------------------------------------------


def test_record_firing_is_true_once_then_false(db: store.Store) -> None:
    with db.transaction() as tx:
        assert store.record_firing(tx, "wr_1", "t") is True
        assert store.record_firing(tx, "wr_1", "t") is False
    with db.transaction() as tx:
        assert store.record_firing(tx, "wr_1", "t") is False
        assert store.record_firing(tx, "wr_2", "t") is True
        assert store.record_firing(tx, "wr_1", "u") is True
    with db.read() as conn:
        assert store.fired_triggers(conn, "wr_1") == {"t", "u"}
        count = conn.execute(sa.select(sa.func.count()).select_from(models.trigger_firings)).scalar()
    assert count == 3


def test_a_firing_in_a_failed_transaction_is_not_recorded(db: store.Store) -> None:
    with pytest.raises(RuntimeError), db.transaction() as tx:
        assert store.record_firing(tx, "wr_1", "t") is True
        raise RuntimeError("crash after the firing")
    with db.transaction() as tx:
        assert store.record_firing(tx, "wr_1", "t") is True


@postgres_only
def test_concurrent_firings_of_one_trigger_record_one(db: store.Store) -> None:
    """Two transactions insert the same firing at once; the unique key lets exactly one win."""
    barrier = threading.Barrier(2)
    results: list[bool] = []
    failures: list[BaseException] = []

    def fire() -> None:
        try:
            with db.transaction() as tx:
                barrier.wait(5)
                results.append(store.record_firing(tx, "wr_1", "t"))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert failures == []
    assert sorted(results) == [False, True]


# --- events (the outbox) ---------------------------------------------------------------------


def test_events_are_claimed_in_order_and_marked_processed(db: store.Store) -> None:
    with db.transaction() as tx:
        for i in range(3):
            store.insert_event(tx, "K", workflow_run_id="wr_1", payload={"i": i})
        store.insert_event(tx, "DONE", processed=True)
    with db.transaction() as tx:
        assert store.has_unprocessed_events(tx)
        claimed = store.claim_events(tx)
        assert [e["payload"]["i"] for e in claimed] == [0, 1, 2]
        assert [e["id"] for e in store.claim_events(tx, limit=2)] == [e["id"] for e in claimed[:2]]
        store.mark_events_processed(tx, [claimed[0]["id"]])
        store.mark_events_processed(tx, [])
    with db.transaction() as tx:
        rest = store.claim_events(tx)
        assert [e["payload"]["i"] for e in rest] == [1, 2]
        store.mark_events_processed(tx, [e["id"] for e in rest])
    with db.read() as conn:
        assert store.claim_events(conn) == []
        assert not store.has_unprocessed_events(conn)


def test_marking_events_in_a_failed_transaction_leaves_them_unprocessed(db: store.Store) -> None:
    with db.transaction() as tx:
        store.insert_event(tx, "K")
    with pytest.raises(RuntimeError), db.transaction() as tx:
        store.mark_events_processed(tx, [e["id"] for e in store.claim_events(tx)])
        raise RuntimeError("crash before commit")
    with db.read() as conn:
        assert len(store.claim_events(conn)) == 1


@postgres_only
def test_claimed_events_are_skipped_by_a_concurrent_claim(db: store.Store) -> None:
    """SKIP LOCKED: a second scheduler passes over the events a first one holds."""
    with db.transaction() as tx:
        for i in range(4):
            store.insert_event(tx, "K", payload={"i": i})
    with db.transaction() as first:
        mine = store.claim_events(first, limit=2)
        with db.transaction() as second:
            theirs = store.claim_events(second)
        assert [e["payload"]["i"] for e in mine] == [0, 1]
        assert [e["payload"]["i"] for e in theirs] == [2, 3]


# --- notifications and orchestrators ---------------------------------------------------------


def test_notifications_list_newest_first_and_record_deliveries(db: store.Store) -> None:
    base = store.now()
    with db.transaction() as tx:
        for i in (1, 3, 2):
            store.insert_notification(
                tx, id=f"n{i}", detail_type="Glue Job State Change", job_name="j", job_run_id="jr",
                state="FAILED", time=base + dt.timedelta(seconds=i), event={"i": i}, deliveries={},
            )
    with db.transaction() as tx:
        store.record_deliveries(tx, [("n2", "ops", {"ok": True, "error": None}), ("missing", "ops", {"ok": True})])
        store.record_deliveries(tx, [("n2", "pager", {"ok": False, "error": "503"})])  # merged, the missing one ignored
        known: dict[str, dict] = {"n1": {}}  # recorded by the caller: not read back, kept current
        store.record_deliveries(tx, [("n1", "ops", {"ok": True, "error": None})], known)
        assert known == {"n1": {"ops": {"ok": True, "error": None}}}
    with db.read() as conn:
        listed = store.list_notifications(conn)
        assert [n["id"] for n in listed] == ["n3", "n2", "n1"]
        assert [n["id"] for n in store.list_notifications(conn, limit=1)] == ["n3"]
    assert listed[1]["deliveries"] == {
        "ops": {"ok": True, "error": None}, "pager": {"ok": False, "error": "503"},
    }
    assert listed[0]["event"] == {"i": 3}
    assert listed[2]["deliveries"] == {"ops": {"ok": True, "error": None}}


def test_orchestrator_registry(db: store.Store) -> None:
    with db.transaction() as tx:
        store.register_orchestrator(tx, "o1", "host", 123, serving=True)
        store.register_orchestrator(tx, "o2", "host", 456, serving=False)
    with db.read() as conn:
        before = {o["id"]: o for o in store.list_orchestrators(conn)}
    assert set(before) == {"o1", "o2"}
    assert before["o1"]["serving"] is True and before["o1"]["pid"] == 123
    with db.transaction() as tx:
        store.heartbeat(tx, "o1")
        store.unregister_orchestrator(tx, "o2")
    with db.read() as conn:
        [after] = store.list_orchestrators(conn)
    assert after["id"] == "o1"
    assert after["heartbeat_on"] >= before["o1"]["heartbeat_on"]
    assert after["started_on"] == before["o1"]["started_on"]
    with pytest.raises(sa.exc.IntegrityError), db.transaction() as tx:
        store.register_orchestrator(tx, "o1", "host", 789, serving=False)
