"""The store contract, run on SQLite and PostgreSQL (STYLE 3, 12 and 17).

The database enforces the rules: conditional updates refuse illegal transitions (row count),
the unique key refuses a second firing, SKIP LOCKED shares the outbox, row locks keep
concurrent writers' keys, and a transaction that fails leaves nothing behind. Verbs return
frozen, typed rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from orchestrator import errors, states, store
from orchestrator.settings import Settings
from orchestrator.store.job_runs import JobRun, RunOptions
from orchestrator.store.workflow_runs import WorkflowRun

J = states.JobRunState
W = states.WorkflowRunStatus
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def postgres_only(test: Any) -> Any:
    """Run ``test`` on the PostgreSQL ``db`` alone (concurrent writers, row locks)."""
    test = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)(test)
    return pytest.mark.postgres(test)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _job_run(tx: store.Tx, state: J | str, **values: Any) -> JobRun:
    run = store.job_runs.new(id=values.pop("id", None) or store.new_id("jr"), job_name=values.pop("job_name", "j"),
                             state=str(state), command="pythonshell", **values)
    store.job_runs.insert(tx, [run])
    return run


def _workflow_run(tx: store.Tx, status: W | str, name: str = "wf", **values: Any) -> WorkflowRun:
    fields: dict[str, Any] = {
        "id": store.new_id("wr"), "workflow_name": name, "name": None, "status": str(status),
        "previous_run_id": None, "started_on": store.now(), "completed_on": None, "error_message": None,
        "run_properties": {}, "triggers": [],
    }  # fmt: skip
    run = WorkflowRun(**{**fields, **values})
    store.workflow_runs.insert(tx, run)
    return run


def _threads(target: Callable[[int], None], n: int, timeout: float = 60) -> list[BaseException]:
    """Run ``target(i)`` on ``n`` threads at once; the exceptions they raised."""
    failures: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread is still running"
    return failures


class _Rollback(Exception):
    """Raised to leave a transaction without committing it."""


# --- opening ---------------------------------------------------------------------------------


def test_open_with_settings_creates_the_home_folder(tmp_path: Path) -> None:
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
        run = _job_run(tx, J.RUNNING, started_on=local)
    with db.read() as tx:
        row = store.job_runs.get(tx, run.id)
    assert row is not None and row.started_on is not None
    assert row.started_on == local and row.started_on.utcoffset() == dt.timedelta(0)


def test_a_failed_transaction_leaves_nothing_behind(db: store.Store) -> None:
    with pytest.raises(_Rollback), db.transaction() as tx:
        run = _job_run(tx, J.RUNNING)
        _workflow_run(tx, W.RUNNING, id="wr_gone")
        store.outbox.insert(tx, "K")
        raise _Rollback
    with db.read() as tx:
        assert store.job_runs.get(tx, run.id) is None
        assert store.workflow_runs.get(tx, "wr_gone") is None
        assert not store.outbox.has_unprocessed(tx)


@postgres_only
def test_a_value_the_database_cannot_hold_is_invalid_input(db: store.Store) -> None:
    """PostgreSQL refuses a name longer than its column; the caller gets Glue's error."""
    with pytest.raises(errors.InvalidInputException, match="refused a value"), db.transaction() as tx:
        _job_run(tx, J.RUNNING, job_name="j" * 300)


# --- definitions -----------------------------------------------------------------------------


def _body(name: str, version: int, **columns: Any) -> store.definitions.Body:
    return store.definitions.Body(name, {"Name": name, "V": version}, {"name": name, "v": version}, **columns)


def _save(db: store.Store, kind: str, *bodies: store.definitions.Body) -> dict[str, str]:
    with db.transaction() as tx:
        current = store.definitions.get_many(tx, kind, (b.name for b in bodies))
        return store.definitions.save_many(tx, kind, bodies, current)


def test_save_many_reports_created_updated_unchanged(db: store.Store) -> None:
    assert _save(db, "job", _body("j", 1), _body("k", 1)) == {"j": "created", "k": "created"}
    with db.read() as tx:
        first = store.definitions.get(tx, "job", "j")
    assert _save(db, "job", _body("j", 1), _body("k", 2)) == {"j": "unchanged", "k": "updated"}
    assert _save(db, "job", _body("j", 2)) == {"j": "updated"}
    with db.read() as tx:
        second = store.definitions.get(tx, "job", "j")
    assert isinstance(first, store.definitions.Definition) and isinstance(second, store.definitions.Definition)
    assert (first.kind, first.name) == ("job", "j")
    assert (first.glue, first.spec) == ({"Name": "j", "V": 1}, {"name": "j", "v": 1})
    assert (first.workflow_name, first.type, first.state) == (None, None, None)
    assert second.glue == {"Name": "j", "V": 2} and second.spec == {"name": "j", "v": 2}
    assert second.created_on == first.created_on
    assert second.last_modified_on > first.last_modified_on
    with pytest.raises(dataclasses.FrozenInstanceError):
        second.name = "x"  # type: ignore[misc]


def test_an_unchanged_trigger_keeps_its_state(db: store.Store) -> None:
    """Applying the same definition again writes nothing, so StartTrigger/StopTrigger stick."""
    trig = _body("t", 1, workflow_name="wf", type="CONDITIONAL", state="ACTIVATED")
    assert _save(db, "trigger", trig) == {"t": "created"}
    with db.transaction() as tx:
        assert store.definitions.set_state(tx, "trigger", "t", "DEACTIVATED") is True
        assert store.definitions.set_state(tx, "trigger", "missing", "DEACTIVATED") is False
    assert _save(db, "trigger", trig) == {"t": "unchanged"}
    with db.read() as tx:
        row = store.definitions.get(tx, "trigger", "t")
    assert row is not None and (row.workflow_name, row.type, row.state) == ("wf", "CONDITIONAL", "DEACTIVATED")


def test_definitions_get_many_find_and_delete(db: store.Store) -> None:
    _save(db, "trigger", *(_body(n, 1, workflow_name=wf, type="CONDITIONAL", state="ACTIVATED")
                           for n, wf in (("t2", "wf"), ("t1", "wf"), ("t3", None))))  # fmt: skip
    with db.transaction() as tx:
        assert [d.name for d in store.definitions.find(tx, "trigger")] == ["t1", "t2", "t3"]
        assert [d.name for d in store.definitions.find(tx, "trigger", workflow_name="wf")] == ["t1", "t2"]
        assert store.definitions.find(tx, "job") == []
        # Locking is a row lock on PostgreSQL and a no-op under SQLite's writer lock.
        assert list(store.definitions.get_many(tx, "trigger", ["t3", "nope", "t1"], lock=True)) == ["t1", "t3"]
        locked = store.definitions.get(tx, "trigger", "t2", lock=True)
        assert locked is not None and locked.name == "t2"
        assert store.definitions.get(tx, "trigger", "nope", lock=True) is None
        assert store.definitions.delete(tx, "trigger", "t1") is True
        assert store.definitions.delete(tx, "trigger", "t1") is False
    with db.read() as tx:
        assert store.definitions.get(tx, "trigger", "t1") is None
        assert store.definitions.get_many(tx, "trigger", []) == {}


def test_get_many_takes_more_names_than_one_statement_can(db: store.Store) -> None:
    """SQLite allows 32,766 parameters per statement: names are asked in chunks."""
    _save(db, "job", _body("j00001", 1), _body("j11999", 1))
    names = [f"j{i:05}" for i in range(12_000)]
    with db.read() as tx:
        assert list(store.definitions.get_many(tx, "job", names)) == ["j00001", "j11999"]


# --- job runs --------------------------------------------------------------------------------


def test_job_runs_are_typed_rows(db: store.Store) -> None:
    options = RunOptions(script="s.py", effective_arguments={"--a": "1"}, timeout=90.0, max_retries=2,
                         retry_policy={"initial_delay": "1s"}, job_run_queuing_enabled=True)
    with db.transaction() as tx:
        run = _job_run(tx, J.STARTING, options=options, arguments={"--a": "1"}, created_on=at(0),
                       predecessor_runs=[{"JobName": "p", "RunId": "jr_p"}], timeout=90.0)
        other = _job_run(tx, J.RUNNING)
    with db.read() as tx:
        row = store.job_runs.get(tx, run.id)
        assert store.job_runs.get(tx, "jr_missing") is None
        assert store.job_runs.get_many(tx, [run.id, other.id, "jr_missing"]) == {run.id: run, other.id: other}
        assert store.job_runs.get_many(tx, []) == {}
    assert row == run  # every column round-trips, options included
    assert isinstance(row, JobRun) and isinstance(row.options, RunOptions)
    assert row.options == options and not row.terminal
    assert row.replace(state=J.SUCCEEDED.value).terminal
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.state = "RUNNING"  # type: ignore[misc]


def test_job_run_updates_follow_the_transition_table(db: store.Store) -> None:
    """Every (current, target) pair: the row moves exactly when the table allows it."""
    pairs = list(itertools.product(J, J))
    with db.transaction() as tx:
        ids = {pair: _job_run(tx, pair[0]).id for pair in pairs}
        moved = {pair: store.job_runs.set_state(tx, ids[pair], pair[1].value) for pair in pairs}
    with db.read() as tx:
        rows = store.job_runs.get_many(tx, ids.values())
    for (current, target), run_id in ids.items():
        allowed = target in states.JOB_RUN_TRANSITIONS[current]
        assert moved[(current, target)] is allowed, (current, target)
        assert rows[run_id].state == (target if allowed else current).value, (current, target)


def test_a_terminal_job_run_never_moves_again(db: store.Store) -> None:
    with db.transaction() as tx:
        run = _job_run(tx, J.RUNNING)
        assert store.job_runs.set_state(tx, run.id, J.SUCCEEDED.value, error_message=None, completed_on=at(5))
        for target in J:
            assert store.job_runs.set_state(tx, run.id, target.value) is False
            assert store.job_runs.set_state(tx, run.id, target.value, expect=[J.RUNNING.value]) is False
    with db.read() as tx:
        row = store.job_runs.get(tx, run.id)
    assert row is not None and row.state == J.SUCCEEDED.value and row.completed_on == at(5)


def test_expect_narrows_the_states_an_update_applies_to(db: store.Store) -> None:
    with db.transaction() as tx:
        run = _job_run(tx, J.STARTING)
        # STARTING -> RUNNING is legal, but this run is not WAITING.
        assert store.job_runs.set_state(tx, run.id, J.RUNNING.value, expect=[J.WAITING.value]) is False
        assert store.job_runs.set_state(tx, run.id, J.RUNNING.value, expect=[J.STARTING.value]) is True
        assert store.job_runs.set_state(tx, "jr_missing", J.RUNNING.value) is False
        assert store.job_runs.update(tx, run.id, owner="me") is True
        assert store.job_runs.update(tx, "jr_missing", owner="me") is False
    with db.read() as tx:
        row = store.job_runs.get(tx, run.id)
    assert row is not None and (row.state, row.owner) == ("RUNNING", "me")
    assert row.last_modified_on > run.last_modified_on


def test_occupied_queued_and_waiting(db: store.Store) -> None:
    """Slots are held by STARTING, RUNNING and STOPPING runs; WAITING runs are queued (no
    retry delay) or retries (with one)."""
    with db.transaction() as tx:
        for state in (J.STARTING, J.RUNNING, J.STOPPING, J.SUCCEEDED, J.FAILED):
            _job_run(tx, state, job_name="a")
        _job_run(tx, J.RUNNING, job_name="b")
        q2 = _job_run(tx, J.WAITING, job_name="a", created_on=at(2))
        q1 = _job_run(tx, J.WAITING, job_name="a", created_on=at(1))
        retry = _job_run(tx, J.WAITING, job_name="a", created_on=at(0), not_before=at(60))
        other = _job_run(tx, J.WAITING, job_name="b", created_on=at(3))
    with db.read() as tx:
        assert store.job_runs.occupied(tx, ["a", "b", "c"]) == {"a": 3, "b": 1}
        assert store.job_runs.occupied(tx, []) == {}
        assert [r.id for r in store.job_runs.queued(tx, "a")] == [q1.id, q2.id]
        assert [r.id for r in store.job_runs.waiting(tx)] == [retry.id, q1.id, q2.id, other.id]


def test_claim_unowned_takes_the_oldest_starting_runs(db: store.Store) -> None:
    with db.transaction() as tx:
        run_a, run_b = _workflow_run(tx, W.RUNNING), _workflow_run(tx, W.RUNNING)
        old = _job_run(tx, J.STARTING, created_on=at(0), workflow_run_id=run_a.id)
        mid = _job_run(tx, J.STARTING, created_on=at(1), workflow_run_id=run_b.id)
        new = _job_run(tx, J.STARTING, created_on=at(2), workflow_run_id=run_a.id)
        _job_run(tx, J.STARTING, created_on=at(0), owner="other")
        _job_run(tx, J.WAITING, created_on=at(0))
    with db.transaction() as tx:
        taken = store.job_runs.claim_unowned(tx, "me", 1, scope=run_a.id)
        assert [(r.id, r.owner) for r in taken] == [(old.id, "me")]
        assert [r.id for r in store.job_runs.claim_unowned(tx, "me", 5)] == [mid.id, new.id]
        assert store.job_runs.claim_unowned(tx, "me", 5) == []
    with db.read() as tx:
        mine = store.job_runs.owned_in_state(tx, "me", J.STARTING.value)
        assert [r.id for r in mine] == [old.id, mid.id, new.id]
        assert store.job_runs.owned_in_state(tx, "me", J.RUNNING.value) == []


def test_concurrent_claims_never_take_a_run_twice(db: store.Store) -> None:
    """Orchestrators claiming at once (threads, own connections) share the runs out."""
    with db.transaction() as tx:
        ids = {_job_run(tx, J.STARTING, created_on=at(i)).id for i in range(12)}
    barrier = threading.Barrier(4)
    taken: dict[int, list[str]] = {}

    def claim(i: int) -> None:
        barrier.wait(10)
        while True:
            with db.transaction() as tx:
                got = store.job_runs.claim_unowned(tx, f"o{i}", 2)
            if not got:
                return
            taken.setdefault(i, []).extend(r.id for r in got)

    assert _threads(claim, 4) == []
    every = [run_id for runs in taken.values() for run_id in runs]
    assert sorted(every) == sorted(ids)  # each once
    with db.read() as tx:
        for i, runs in taken.items():
            assert {r.id for r in store.job_runs.owned_in_state(tx, f"o{i}", "STARTING")} == set(runs)


def test_orphans_are_active_runs_of_owners_not_alive(db: store.Store) -> None:
    with db.transaction() as tx:
        wr = _workflow_run(tx, W.RUNNING)
        lost = _job_run(tx, J.RUNNING, owner="dead", created_on=at(0))
        lost_in_run = _job_run(tx, J.STOPPING, owner="dead", created_on=at(1), workflow_run_id=wr.id)
        _job_run(tx, J.SUCCEEDED, owner="dead")
        _job_run(tx, J.RUNNING, owner="alive")
        _job_run(tx, J.STARTING)  # nobody's
    with db.read() as tx:
        assert [r.id for r in store.job_runs.orphans(tx, ["alive"])] == [lost.id, lost_in_run.id]
        assert [r.id for r in store.job_runs.orphans(tx, ["alive"], scope=wr.id)] == [lost_in_run.id]
        assert len(store.job_runs.orphans(tx, [])) == 3  # nobody alive: every owned active run


def test_runs_of_a_workflow_run_and_of_a_job(db: store.Store) -> None:
    with db.transaction() as tx:
        wr = _workflow_run(tx, W.RUNNING)
        first = _job_run(tx, J.FAILED, job_name="a", created_on=at(0), workflow_run_id=wr.id)
        retry = _job_run(tx, J.RUNNING, job_name="a", created_on=at(2), attempt=1, workflow_run_id=wr.id)
        b = _job_run(tx, J.SUCCEEDED, job_name="b", created_on=at(1), workflow_run_id=wr.id)
        alone = _job_run(tx, J.SUCCEEDED, job_name="a", created_on=at(3))
    with db.read() as tx:
        assert [r.id for r in store.job_runs.of_workflow_run(tx, wr.id)] == [first.id, b.id, retry.id]
        assert [r.id for r in store.job_runs.of_workflow_run(tx, wr.id, active=True)] == [retry.id]
        assert [r.id for r in store.job_runs.of_job(tx, "a")] == [alone.id, retry.id, first.id]
        assert [r.id for r in store.job_runs.of_job(tx, "a", limit=1)] == [alone.id]


def test_what_the_scheduler_asks_of_job_runs(db: store.Store) -> None:
    """Latest runs (a retry supersedes its attempt), jobs with a run in wanted states, activity."""
    with db.transaction() as tx:
        wr, idle = _workflow_run(tx, W.RUNNING), _workflow_run(tx, W.RUNNING)
        a0 = _job_run(tx, J.FAILED, job_name="a", created_on=at(0), workflow_run_id=wr.id)
        a1 = _job_run(tx, J.SUCCEEDED, job_name="a", created_on=at(5), attempt=1, workflow_run_id=wr.id)
        b0 = _job_run(tx, J.RUNNING, job_name="b", created_on=at(1), workflow_run_id=wr.id)
        _job_run(tx, J.SUCCEEDED, job_name="c", created_on=at(1))  # not in the workflow run
        _job_run(tx, J.SUCCEEDED, job_name="a", created_on=at(9), workflow_run_id=idle.id)
    with db.read() as tx:
        latest = store.job_runs.latest(tx, wr.id, ["a", "b", "c"])
        assert latest == {"a": (a1.id, "SUCCEEDED"), "b": (b0.id, "RUNNING")}
        assert store.job_runs.latest(tx, wr.id, []) == {}
        assert store.job_runs.jobs_in_states(tx, wr.id, ["a", "b", "c"], ["FAILED"]) == {"a"}
        assert store.job_runs.jobs_in_states(tx, wr.id, ["a", "b", "c"], ["SUCCEEDED", "RUNNING"]) == {"a", "b"}
        assert store.job_runs.job_in_states(tx, wr.id, "a", ["FAILED"]) is True  # any attempt, not the latest
        assert store.job_runs.job_in_states(tx, wr.id, "c", ["SUCCEEDED"]) is False
        assert store.job_runs.any_active(tx, wr.id) is True
        assert store.job_runs.any_active(tx, idle.id) is False
    assert a0.id != a1.id


# --- workflow runs ---------------------------------------------------------------------------


def test_workflow_runs_are_typed_rows(db: store.Store) -> None:
    triggers = [{"Name": "t", "Type": "ON_DEMAND", "AdhereActions": [{"job_name": "a"}]}]
    with db.transaction() as tx:
        run = _workflow_run(tx, W.RUNNING, run_properties={"k": "v"}, triggers=triggers)
    with db.read() as tx:
        assert store.workflow_runs.get(tx, run.id) == run
        assert store.workflow_runs.get(tx, "wr_missing") is None
        assert store.workflow_runs.headers(tx, [run.id, "wr_missing"]) == {
            run.id: store.workflow_runs.Header(run.id, "wf", "RUNNING", None)
        }
        assert store.workflow_runs.status(tx, run.id) == "RUNNING"
        assert store.workflow_runs.status(tx, "wr_missing") is None
        assert store.workflow_runs.triggers(tx, run.id) == triggers
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.status = "STOPPED"  # type: ignore[misc]


def test_workflow_run_updates_follow_the_transition_table(db: store.Store) -> None:
    pairs = list(itertools.product(W, W))
    with db.transaction() as tx:
        ids = {pair: _workflow_run(tx, pair[0]).id for pair in pairs}
        moved = {pair: store.workflow_runs.set_status(tx, ids[pair], pair[1].value, completed_on=at(1))
                 for pair in pairs}  # fmt: skip
    with db.read() as tx:
        for (current, target), run_id in ids.items():
            allowed = target in states.WORKFLOW_RUN_TRANSITIONS[current]
            assert moved[(current, target)] is allowed, (current, target)
            row = store.workflow_runs.get(tx, run_id)
            assert row is not None
            assert row.status == (target if allowed else current).value, (current, target)
            assert (row.completed_on == at(1)) is allowed


def test_workflow_runs_list_newest_first_and_count_the_active(db: store.Store) -> None:
    with db.transaction() as tx:
        ids = [_workflow_run(tx, status, started_on=at(i)).id
               for i, status in enumerate((W.RUNNING, W.COMPLETED, W.STOPPING, W.STOPPED, W.RUNNING))]
        other = _workflow_run(tx, W.RUNNING, name="other", started_on=at(10))
    with db.read() as tx:
        assert [r.id for r in store.workflow_runs.find(tx, "wf")] == ids[::-1]
        assert [r.id for r in store.workflow_runs.find(tx, None, limit=2)] == [other.id, ids[-1]]
        assert store.workflow_runs.count_active(tx, "wf") == 3  # RUNNING, STOPPING, RUNNING
        assert store.workflow_runs.count_active(tx, "other") == 1
        assert store.workflow_runs.count_active(tx, "none") == 0


def test_merge_properties_upserts_and_returns_the_run_before(db: store.Store) -> None:
    with db.transaction() as tx:
        run = _workflow_run(tx, W.RUNNING, run_properties={"k": "v", "keep": "1"})
    with db.transaction() as tx:
        before = store.workflow_runs.merge_properties(tx, run.id, {"k": "w", "n": 3})  # type: ignore[dict-item]
        assert store.workflow_runs.merge_properties(tx, "wr_missing", {"k": "x"}) is None
    assert before == run
    with db.read() as tx:
        after = store.workflow_runs.get(tx, run.id)
    assert after is not None and after.run_properties == {"k": "w", "keep": "1", "n": "3"}


def test_concurrent_merges_keep_every_key(db: store.Store) -> None:
    """Jobs of one run putting properties at once (own connections): no writer loses another's key."""
    with db.transaction() as tx:
        run = _workflow_run(tx, W.RUNNING, run_properties={"k": "v"})
    barrier = threading.Barrier(6)

    def put(i: int) -> None:
        barrier.wait(10)
        for j in range(3):
            with db.transaction() as tx:
                store.workflow_runs.merge_properties(tx, run.id, {f"p{i}.{j}": str(i)})

    assert _threads(put, 6) == []
    with db.read() as tx:
        after = store.workflow_runs.get(tx, run.id)
    assert after is not None
    assert after.run_properties == {"k": "v", **{f"p{i}.{j}": str(i) for i in range(6) for j in range(3)}}


@postgres_only
def test_merge_properties_waits_for_the_writer_holding_the_run(
    db: store.Store, lock_wait: Callable[[store.Store], None]
) -> None:
    """A second writer reads the properties only after the first commits (without the row lock
    it would read the old ones and overwrite the first writer's key)."""
    with db.transaction() as tx:
        run = _workflow_run(tx, W.RUNNING, run_properties={"k": "v"})
    holding = threading.Event()

    def first(_: int) -> None:
        with db.transaction() as tx:
            store.workflow_runs.merge_properties(tx, run.id, {"a": "1"})
            holding.set()
            lock_wait(db)  # the second writer now waits for this row

    def second(_: int) -> None:
        assert holding.wait(30)
        with db.transaction() as tx:
            before = store.workflow_runs.merge_properties(tx, run.id, {"b": "2"})
        assert before is not None and before.run_properties == {"k": "v", "a": "1"}

    failures: list[BaseException] = []
    threads = [threading.Thread(target=_catching(f, failures)) for f in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    with db.read() as tx:
        after = store.workflow_runs.get(tx, run.id)
    assert after is not None and after.run_properties == {"k": "v", "a": "1", "b": "2"}


def _catching(target: Callable[[int], None], failures: list[BaseException]) -> Callable[[], None]:
    def run() -> None:
        try:
            target(0)
        except BaseException as exc:
            failures.append(exc)

    return run


def test_headers_of_several_runs(db: store.Store) -> None:
    with db.transaction() as tx:
        x, y = _workflow_run(tx, W.RUNNING), _workflow_run(tx, W.STOPPING, name="other")
        assert store.workflow_runs.headers(tx, [y.id, x.id, y.id, "wr_missing"]) == {
            x.id: store.workflow_runs.Header(x.id, "wf", "RUNNING", None),
            y.id: store.workflow_runs.Header(y.id, "other", "STOPPING", None),
        }
        assert store.workflow_runs.headers(tx, []) == {}


@postgres_only
def test_headers_lock_the_runs_to_the_end_of_the_transaction(
    db: store.Store, lock_wait: Callable[[store.Store], None]
) -> None:
    """What the scheduler reads of the runs it evaluates stays true until it commits: a status
    change by another transaction (StopWorkflowRun) waits for it."""
    with db.transaction() as tx:
        x, y = _workflow_run(tx, W.RUNNING), _workflow_run(tx, W.RUNNING)
    order: list[str] = []

    def stopper(_: int) -> None:
        with db.transaction() as tx:
            assert store.workflow_runs.set_status(tx, y.id, W.STOPPING.value)
        order.append("stopped")

    failures: list[BaseException] = []
    with db.transaction() as tx:
        assert set(store.workflow_runs.headers(tx, [y.id, x.id])) == {x.id, y.id}
        thread = threading.Thread(target=_catching(stopper, failures))
        thread.start()
        lock_wait(db)
        order.append("committing")
    thread.join(30)
    assert failures == [] and not thread.is_alive() and order == ["committing", "stopped"]


# --- trigger firings -------------------------------------------------------------------------


def test_record_firing_is_true_once_then_false(db: store.Store) -> None:
    with db.transaction() as tx:
        assert store.firings.record(tx, "wr_1", "t") is True
        assert store.firings.record(tx, "wr_1", "t") is False
    with db.transaction() as tx:
        assert store.firings.record(tx, "wr_1", "t") is False
        assert store.firings.record(tx, "wr_2", "t") is True
        assert store.firings.record(tx, "wr_1", "u") is True
    with db.read() as tx:
        assert store.firings.fired(tx, "wr_1") == {"t", "u"}
        assert store.firings.fired(tx, "wr_2") == {"t"}
        assert store.firings.fired(tx, "wr_3") == set()


def test_a_firing_in_a_failed_transaction_is_not_recorded(db: store.Store) -> None:
    with pytest.raises(_Rollback), db.transaction() as tx:
        assert store.firings.record(tx, "wr_1", "t") is True
        raise _Rollback
    with db.transaction() as tx:
        assert store.firings.fired(tx, "wr_1") == set()
        assert store.firings.record(tx, "wr_1", "t") is True


def test_concurrent_firings_of_one_trigger_record_one(db: store.Store) -> None:
    """Transactions insert the same firing at once (PostgreSQL: truly concurrently, the loser
    waits for the winner's commit; SQLite: one after the other); the unique key lets one win."""
    barrier = threading.Barrier(3)
    results: list[bool] = []

    def fire(_: int) -> None:
        barrier.wait(10)
        with db.transaction() as tx:
            results.append(store.firings.record(tx, "wr_1", "t"))

    assert _threads(fire, 3) == []
    assert sorted(results) == [False, False, True]


# --- events (the outbox) ---------------------------------------------------------------------


def _claimed(db: store.Store, **kwargs: Any) -> list[store.outbox.Event]:
    """What a claim would take now, without taking it (the transaction is rolled back)."""
    events: list[store.outbox.Event] = []
    with pytest.raises(_Rollback), db.transaction() as tx:
        events = store.outbox.claim(tx, **kwargs)
        raise _Rollback
    return events


def test_events_are_claimed_in_order_and_marked_processed(db: store.Store) -> None:
    with db.transaction() as tx:
        written = [store.outbox.insert(tx, "K", workflow_run_id="wr_1", payload={"i": i}) for i in range(3)]
        store.outbox.insert(tx, "DONE", processed=True)
    assert [e.payload for e in written] == [{"i": 0}, {"i": 1}, {"i": 2}] and written[0].id is None
    with db.transaction() as tx:
        assert store.outbox.has_unprocessed(tx) and store.outbox.has_unprocessed(tx, "wr_1")
        first = store.outbox.claim(tx, limit=2)
        assert [e.payload["i"] for e in first] == [0, 1]
        assert all(isinstance(e, store.outbox.Event) and e.kind == "K" and e.workflow_run_id == "wr_1"
                   and e.id is not None and e.created_on is not None for e in first)  # fmt: skip
        rest = store.outbox.claim(tx)  # the first claim's events are already processed
        assert [e.payload["i"] for e in rest] == [2]
        assert first[0].id is not None and first[1].id is not None and rest[0].id is not None
        assert first[0].id < first[1].id < rest[0].id
        assert store.outbox.claim(tx) == []
        assert not store.outbox.has_unprocessed(tx)
    assert _claimed(db) == []


def test_a_claim_in_a_failed_transaction_leaves_the_events_unprocessed(db: store.Store) -> None:
    with db.transaction() as tx:
        store.outbox.insert(tx, "K")
        store.outbox.insert(tx, "K")
    with pytest.raises(_Rollback), db.transaction() as tx:
        assert len(store.outbox.claim(tx)) == 2
        raise _Rollback  # the scheduler crashed before its commit
    assert len(_claimed(db)) == 2
    with db.transaction() as tx:
        assert len(store.outbox.claim(tx)) == 2
    assert _claimed(db) == []


def test_scoped_claims_and_per_run_queries(db: store.Store) -> None:
    with db.transaction() as tx:
        store.outbox.insert(tx, "K", workflow_run_id="wr_1")
        store.outbox.insert(tx, "K", workflow_run_id="wr_2", job_run_id="jr_2")
        store.outbox.insert(tx, "K", job_run_id="jr_3")
    ids = {e.workflow_run_id or e.job_run_id: e.id for e in _claimed(db)}
    assert [e.workflow_run_id for e in _claimed(db, scope="wr_2")] == ["wr_2"]
    assert [e.job_run_id for e in _claimed(db, scope="jr_3")] == ["jr_3"]  # a job run's own scope
    assert [e.workflow_run_id for e in _claimed(db, scope="jr_2")] == ["wr_2"]
    with db.transaction() as tx:
        assert [e.id for e in store.outbox.claim(tx, scope="wr_1")] == [ids["wr_1"]]
        assert not store.outbox.has_unprocessed(tx, "wr_1")
        assert store.outbox.has_unprocessed(tx, "wr_2")
    assert [e.id for e in _claimed(db)] == [ids["wr_2"], ids["jr_3"]]


def test_events_written_in_the_loops_transaction_are_consumed_there(db: store.Store) -> None:
    """In a transaction opened with ``consumed``, an event is written processed and handed over
    (nothing is left for a claimer); one written processed anyway is not handed over."""
    with db.transaction(consumed=[]) as tx:
        event = store.outbox.insert(tx, store.outbox.JOB_RUN_COMPLETED, workflow_run_id="wr_1",
                                    job_run_id="jr_1", payload={"state": "SUCCEEDED"})
        store.outbox.insert(tx, store.outbox.WORKFLOW_RUN_ENDED, workflow_run_id="wr_1", processed=True)
        assert tx.consumed == [event]
        assert not store.outbox.has_unprocessed(tx)
    assert _claimed(db) == []


def test_claimed_events_are_skipped_by_a_concurrent_claim(db: store.Store) -> None:
    """SKIP LOCKED on PostgreSQL: a second scheduler passes over the events a first one holds,
    and gets them once the first rolls back. On SQLite the writer lock serialises claimers, so
    the second takes what the first left."""
    with db.transaction() as tx:
        for i in range(4):
            store.outbox.insert(tx, "K", payload={"i": i})
    theirs: list[store.outbox.Event] = []

    def second(_: int) -> None:
        with db.transaction() as tx:
            theirs.extend(store.outbox.claim(tx))

    failures: list[BaseException] = []
    thread = threading.Thread(target=_catching(second, failures))
    with pytest.raises(_Rollback), db.transaction() as first:
        mine = store.outbox.claim(first, limit=2)
        if db.is_postgres:  # the second claim runs while the first holds its two events
            thread.start()
            thread.join(30)
        raise _Rollback  # the first scheduler crashes
    if not db.is_postgres:  # it had to wait for the first writer to finish
        thread.start()
        thread.join(30)
    assert failures == [] and not thread.is_alive()
    assert [e.payload["i"] for e in mine] == [0, 1]
    if db.is_postgres:
        assert [e.payload["i"] for e in theirs] == [2, 3]
        assert [e.payload["i"] for e in _claimed(db)] == [0, 1]  # the crash handed them back
    else:
        assert [e.payload["i"] for e in theirs] == [0, 1, 2, 3]
        assert _claimed(db) == []


# --- crawls, notifications and orchestrators -------------------------------------------------


def test_crawls_of_a_workflow_run_and_the_latest_per_crawler(db: store.Store) -> None:
    def crawl(crawl_id: str, name: str, state: str, seconds: float, run: str | None = "wr_1") -> store.crawls.Crawl:
        return store.crawls.Crawl(crawl_id, name, run, "t", state, None, at(seconds), at(seconds + 1))

    rows = [crawl("c2", "x", "SUCCEEDED", 5), crawl("c1", "x", "FAILED", 0), crawl("c3", "y", "RUNNING", 1),
            crawl("c4", "x", "FAILED", 9, run=None)]
    with db.transaction() as tx:
        for row in rows:
            store.crawls.insert(tx, row)
    with db.read() as tx:
        assert store.crawls.of_workflow_run(tx, "wr_1") == [rows[1], rows[2], rows[0]]
        assert store.crawls.latest(tx, "wr_1", ["x", "y", "z"]) == {"x": ("c2", "SUCCEEDED"), "y": ("c3", "RUNNING")}
        assert store.crawls.latest(tx, "wr_1", []) == {}
        assert store.crawls.of_workflow_run(tx, "wr_2") == []


def test_notifications_list_newest_first_and_record_deliveries(db: store.Store) -> None:
    base = store.now()

    def notice(i: int) -> store.notifications.Notification:
        return store.notifications.Notification(f"n{i}", "Glue Job State Change", "j", "jr", "FAILED",
                                                base + dt.timedelta(seconds=i), {"i": i}, {})

    with db.transaction() as tx:
        for i in (1, 3, 2):
            store.notifications.insert(tx, notice(i))
    with db.transaction() as tx:
        store.notifications.record_deliveries(
            tx, [("n2", "ops", {"ok": True, "error": None}), ("missing", "ops", {"ok": True})]
        )  # the missing one is ignored
        store.notifications.record_deliveries(tx, [("n2", "pager", {"ok": False, "error": "503"})])  # merged
        store.notifications.record_deliveries(tx, [])
        known: dict[str, dict[str, Any]] = {"n1": {}}  # recorded by the caller: not read back, kept current
        store.notifications.record_deliveries(tx, [("n1", "ops", {"ok": True, "error": None})], known)
        assert known == {"n1": {"ops": {"ok": True, "error": None}}}
    with db.read() as tx:
        listed = store.notifications.find(tx)
        assert [n.id for n in store.notifications.find(tx, limit=1)] == ["n3"]
    assert [n.id for n in listed] == ["n3", "n2", "n1"]
    assert all(isinstance(n, store.notifications.Notification) for n in listed)
    assert listed[1].deliveries == {"ops": {"ok": True, "error": None}, "pager": {"ok": False, "error": "503"}}
    assert listed[0] == notice(3)
    assert listed[2].deliveries == {"ops": {"ok": True, "error": None}}


def test_orchestrator_registry(db: store.Store) -> None:
    with db.transaction() as tx:
        store.orchestrators.register(tx, "o1", "host", 123, serving=True)
        store.orchestrators.register(tx, "o2", "host", 456, serving=False)
    with db.read() as tx:
        before = {o.id: o for o in store.orchestrators.find(tx)}
    assert set(before) == {"o1", "o2"}
    assert isinstance(before["o1"], store.orchestrators.Orchestrator)
    assert before["o1"].serving is True and before["o1"].pid == 123 and before["o2"].serving is False
    with db.transaction() as tx:
        store.orchestrators.heartbeat(tx, "o1")
        store.orchestrators.unregister(tx, "o2")
        store.orchestrators.unregister(tx, "o-missing")
    with db.read() as tx:
        [after] = store.orchestrators.find(tx)
    assert after.id == "o1"
    assert after.heartbeat_on > before["o1"].heartbeat_on
    assert after.started_on == before["o1"].started_on
    with pytest.raises(sa.exc.IntegrityError), db.transaction() as tx:
        store.orchestrators.register(tx, "o1", "host", 789, serving=False)


def test_one_statement_reads_leave_transactions_as_they_were(db: store.Store) -> None:
    """A read outside a transaction (the API's point reads) hands its connection back to the pool
    in the mode every other use expects: a write after it is still one atomic transaction."""
    import sqlalchemy as sa

    from orchestrator.store import tables

    for _ in range(3):  # the pool gives the same connection back
        with db.read(one_statement=True) as tx:
            assert tx.execute(sa.select(sa.literal(1))).scalar_one() == 1
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.execute(sa.insert(tables.tags).values(kind="job", name="j", key="k", value="v"))
        raise RuntimeError("rolled back")
    with db.read() as tx:
        assert tx.execute(sa.select(sa.func.count()).select_from(tables.tags)).scalar_one() == 0
