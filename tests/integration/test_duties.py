"""The loop's duties one at a time against a real store, on SQLite and PostgreSQL, without the loop.

Each test plays the loop's part by hand: it opens ``db.transaction(consumed=[])``, calls a
duty's ``step(tx, now, effects)`` (the dispatcher's ``record``/``claim``), and asserts on the
``Effects`` and the rows; it applies ``effects.after`` only once the transaction has committed,
as the loop does. A transaction that fails (an exception inside it) leaves the rows and the
duty's memory as they were, and the same step then does the work. The scheduler joins in where
a run's end must be announced: exactly one "Glue Job State Change" per ended run.

Jobs run on ``tiny`` (``driving.TinyEngine``), an engine whose runs end when the test says so.
"""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from driving import RUN_STATUS, STATE_CHANGE, TINY, TinyEngine, apply, notified, register_tiny, row

from orchestrator import dispatcher as dp
from orchestrator import effects as fx
from orchestrator import job_run, store
from orchestrator.effects import Effects
from orchestrator.recovery import DEAD_AFTER, LOST_WHILE_STARTING, Recovery
from orchestrator.scheduler import Scheduler
from orchestrator.service import job_runs
from orchestrator.settings import Settings
from orchestrator.states import JobRunState
from orchestrator.store.job_runs import JobRun, RunOptions
from orchestrator.store.outbox import Event
from orchestrator.upkeep import Upkeep
from orchestrator.watchdog import Watchdog

J = JobRunState
HERE = "orchestrator-here"
Duty = Callable[[store.Tx, dt.datetime, Effects], None]


class Boom(Exception):
    """Raised inside a transaction: it rolls back."""


def step(
    db: store.Store, *duties: Duty, now: dt.datetime | None = None
) -> tuple[Effects, list[Event]]:
    """One transaction of the loop with these duties: their effects, and the outbox events
    written in it (seen after each duty: the scheduler consumes them). Nothing is applied: call
    ``commit(effects)`` for the duties' bookkeeping."""
    effects = Effects()
    written: list[Event] = []
    with db.transaction(consumed=[]) as tx:
        for duty in duties:
            duty(tx, now or store.now(), effects)
            written += [e for e in tx.consumed or [] if not any(e is w for w in written)]
    return effects, written


def failing_step(db: store.Store, *duties: Duty, now: dt.datetime | None = None) -> Effects:
    """The same, but the transaction fails after the duties ran (a lost connection, a deadlock)."""
    effects = Effects()
    with pytest.raises(Boom), db.transaction(consumed=[]) as tx:
        for duty in duties:
            duty(tx, now or store.now(), effects)
        raise Boom
    return effects


def commit(effects: Effects) -> None:
    """What the loop does first once the transaction has committed."""
    for bookkeeping in effects.after:
        bookkeeping()


def insert(db: store.Store, **values: Any) -> JobRun:
    """A job run row as a test wants it (job ``t``, engine ``tiny``)."""
    values.setdefault("id", store.new_id("jr"))
    values.setdefault("job_name", "t")
    values.setdefault("command", TINY)
    run = store.job_runs.new(**values)
    with db.transaction() as tx:
        store.job_runs.insert(tx, [run])
    return run


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    """``tiny`` as a built-in engine name, for this test."""
    register_tiny(monkeypatch)


@pytest.fixture
def jobs(db: store.Store, tmp_path: Path, tiny: None) -> None:
    (tmp_path / "t.py").write_text("# run by the tiny engine: never executed\n")
    apply(db, tmp_path, Jobs=[
        {"Name": "t", "Command": {"Name": TINY, "ScriptLocation": "t.py"}, "Timeout": "10m",
         "NotificationProperty": {"NotifyDelayAfter": "5m"}, "ExecutionProperty": {"MaxConcurrentRuns": 5}},
        {"Name": "q", "Command": {"Name": TINY, "ScriptLocation": "t.py"}, "JobRunQueuingEnabled": True},
    ])  # fmt: skip


@pytest.fixture
def woken() -> threading.Event:
    return threading.Event()


@pytest.fixture
def dispatcher(
    settings: Settings, db: store.Store, jobs: None, woken: threading.Event
) -> Iterator[dp.Dispatcher]:
    two = settings.replace(max_processes=2)
    made = dp.Dispatcher(two, db.url, HERE, on_exit=woken.set)
    try:
        yield made
    finally:
        made.close()


def engine_of(dispatcher: dp.Dispatcher) -> TinyEngine:
    engine = dispatcher.engine(TINY)
    assert isinstance(engine, TinyEngine)
    return engine


# --- the dispatcher ----------------------------------------------------------------------------


def test_the_dispatcher_claims_starts_and_records_runs_by_job_run_id(
    db: store.Store, settings: Settings, dispatcher: dp.Dispatcher, woken: threading.Event
) -> None:
    ids = [job_runs.start_job_run(db, "t") for _ in range(3)]
    effects, _ = step(db, dispatcher.claim)
    assert [r.id for r in effects.start] == ids[:2]  # oldest first, as many as free slots
    assert [row(db, i).owner for i in ids] == [HERE, HERE, None]
    commit(effects)

    dispatcher.start(effects.start)
    engine = engine_of(dispatcher)
    assert [r.job_run_id for r in engine.submitted] == ids[:2]
    request = engine.submitted[0]
    assert (request.arguments["--JOB_RUN_ID"], request.arguments["--JOB_NAME"]) == (ids[0], "t")
    assert (
        request.env["ADHERE_JOB_RUN_ID"] == ids[0]
        and request.run_dir == settings.logs_dir.resolve() / ids[0]
    )
    assert (request.run_dir / dp.ENGINE_RUN_ID_FILE).read_text() == "tiny-1"  # for recovery
    # The run book, keyed by job run id; nothing is written before the next transaction.
    assert {i: r.engine_run_id for i, r in dispatcher.book.items()} == {
        ids[0]: "tiny-1",
        ids[1]: "tiny-2",
    }
    assert [row(db, i).state for i in ids] == ["STARTING"] * 3 and dispatcher.has_work()

    effects, _ = step(db, dispatcher.record)
    first = row(db, ids[0])
    assert (first.state, first.engine_run_id) == ("RUNNING", "tiny-1")
    assert first.started_on is not None
    assert first.timeout_at == first.started_on + dt.timedelta(minutes=10)
    assert first.notify_at == first.started_on + dt.timedelta(minutes=5)
    assert (first.timeout_at, fx.TIMEOUT, ids[0]) in effects.deadlines
    assert (first.notify_at, fx.NOTIFY, ids[0]) in effects.deadlines
    assert len(effects.deadlines) == 4 and effects.ended == set()
    commit(effects)
    assert not dispatcher.has_work()
    effects, _ = step(db, dispatcher.claim)
    assert effects.start == [] and row(db, ids[2]).owner is None  # no free slot

    # The engine reports the end by job run id: the loop is woken, then asks the engine.
    woken.clear()
    engine.end("tiny-1", J.SUCCEEDED)
    assert woken.is_set()
    dispatcher.collect()
    assert dispatcher.has_work()
    effects, written = step(db, dispatcher.record)
    assert row(db, ids[0]).state == "SUCCEEDED" and effects.ended == {ids[0]}
    assert [(e.kind, e.job_run_id, e.payload["state"]) for e in written] == [
        (store.outbox.JOB_RUN_COMPLETED, ids[0], "SUCCEEDED")
    ]
    assert ids[0] in dispatcher.book  # until the commit
    commit(effects)
    assert sorted(dispatcher.book) == [ids[1]] and not dispatcher.has_work()
    effects, _ = step(db, dispatcher.claim)
    assert [r.id for r in effects.start] == [ids[2]]  # the freed slot


def test_a_failed_transaction_leaves_the_dispatcher_as_it_was(
    db: store.Store, dispatcher: dp.Dispatcher
) -> None:
    run_id = job_runs.start_job_run(db, "t")
    effects, _ = step(db, dispatcher.claim)
    commit(effects)
    dispatcher.start(effects.start)
    engine = engine_of(dispatcher)

    failing_step(db, dispatcher.record)  # the start is not recorded, and not forgotten
    assert row(db, run_id).state == "STARTING" and dispatcher.has_work()
    commit(step(db, dispatcher.record)[0])
    assert row(db, run_id).state == "RUNNING" and not dispatcher.has_work()

    engine.end("tiny-1", J.FAILED, "SystemExit: 3")
    dispatcher.collect()
    announce = Scheduler(HERE).step
    failing_step(db, dispatcher.record, announce)  # the end is not recorded, and not forgotten
    assert row(db, run_id).state == "RUNNING" and notified(db, run_id) == []
    assert dispatcher.has_work() and run_id in dispatcher.book
    effects, _ = step(db, dispatcher.record, announce)
    commit(effects)
    ended = row(db, run_id)
    assert (ended.state, ended.error_message) == ("FAILED", "SystemExit: 3")
    assert notified(db, run_id) == [(STATE_CHANGE, "FAILED")]
    assert dispatcher.book == {} and not dispatcher.has_work()
    commit(step(db, dispatcher.record, announce)[0])  # nothing left to record twice
    assert notified(db, run_id) == [(STATE_CHANGE, "FAILED")]


def test_a_run_its_engine_refuses_fails_with_the_engine_message(
    db: store.Store, dispatcher: dp.Dispatcher
) -> None:
    run_id = job_runs.start_job_run(db, "t")
    effects, _ = step(db, dispatcher.claim)
    engine_of(dispatcher).refuse = "no cluster here"
    dispatcher.start(effects.start)
    assert dispatcher.book == {}
    effects, written = step(db, dispatcher.record, Scheduler(HERE).step)
    commit(effects)
    failed = row(db, run_id)
    assert (failed.state, failed.error_message, failed.engine_run_id) == (
        "FAILED",
        "no cluster here",
        None,
    )
    assert effects.ended == {run_id} and not dispatcher.has_work()
    assert notified(db, run_id) == [(STATE_CHANGE, "FAILED")]
    assert [e.kind for e in written] == [store.outbox.JOB_RUN_COMPLETED]


def test_a_run_stopped_while_starting_is_cancelled_once_started(
    db: store.Store, settings: Settings, dispatcher: dp.Dispatcher
) -> None:
    run_id = job_runs.start_job_run(db, "t")
    effects, _ = step(db, dispatcher.claim)
    dispatcher.start(effects.start)  # submitted, not yet recorded RUNNING
    stopped = job_runs.batch_stop_job_run(db, "t", [run_id])
    assert stopped["SuccessfulSubmissions"] == [{"JobName": "t", "JobRunId": run_id}]
    assert row(db, run_id).state == "STOPPING"  # owned: its owner stops it

    effects, _ = step(db, dispatcher.record)
    commit(effects)
    stopping = row(db, run_id)
    assert (stopping.state, stopping.engine_run_id, stopping.stop_reason) == (
        "STOPPING",
        "tiny-1",
        "STOPPED",
    )
    assert effects.cancel == [run_id] and effects.deadlines == []
    engine = engine_of(dispatcher)
    for job_run_id in effects.cancel:
        dispatcher.cancel(job_run_id)
    dispatcher.cancel(run_id)  # asked again (the upkeep's sweep): signalled once
    assert engine.cancelled == [("tiny-1", settings.kill_grace)]

    engine.end("tiny-1", J.FAILED, "killed by SIGTERM")  # a stopped process exits non-zero
    dispatcher.collect()
    commit(step(db, dispatcher.record, Scheduler(HERE).step)[0])
    assert row(db, run_id).state == "STOPPED"
    assert notified(db, run_id) == [(STATE_CHANGE, "STOPPED")]


def test_engines_report_ends_by_the_job_run_id_they_were_given(tiny: None, tmp_path: Path) -> None:
    engine = TinyEngine(tmp_path)
    heard: list[str] = []
    engine.set_listener(heard.append)
    engine.follow("jr_a", "tiny-a")
    engine.end("tiny-a", J.SUCCEEDED)
    engine.end("tiny-b", J.SUCCEEDED)  # before anyone follows it: told when followed
    assert heard == ["jr_a"]
    engine.follow("jr_b", "tiny-b")
    assert heard == ["jr_a", "jr_b"]
    engine.end("tiny-a", J.SUCCEEDED)  # reported once: no longer followed
    assert heard == ["jr_a", "jr_b"]


# --- the watchdog ------------------------------------------------------------------------------


def test_the_watchdog_times_out_a_run_it_asks_to_cancel(db: store.Store) -> None:
    now = store.now()
    late = insert(
        db,
        state=J.RUNNING.value,
        started_on=now - dt.timedelta(seconds=10),
        timeout=9.0,
        timeout_at=now - dt.timedelta(seconds=1),
        owner=HERE,
        engine_run_id="tiny-1",
    )
    later = insert(
        db, state=J.RUNNING.value, started_on=now, timeout_at=now + dt.timedelta(hours=1)
    )
    gone = insert(db, state=J.SUCCEEDED.value, timeout_at=None)
    watchdog = Watchdog()
    watchdog.add([(later.timeout_at, fx.TIMEOUT, later.id), (late.timeout_at, fx.TIMEOUT, late.id),
                  (now - dt.timedelta(seconds=2), fx.TIMEOUT, gone.id)])  # fmt: skip
    assert watchdog.next_due() == (now - dt.timedelta(seconds=2)).timestamp()

    failing_step(db, watchdog.step, now=now)
    assert row(db, late.id).stop_reason is None and len(watchdog) == 3  # as it was

    effects, _ = step(db, watchdog.step, now=now)
    assert effects.cancel == [late.id]  # TERM now, KILL after the grace (the dispatcher's part)
    timed_out = row(db, late.id)
    # It ends TIMEOUT when its process does; until then it is RUNNING with the reason recorded.
    assert (timed_out.state, timed_out.stop_reason) == ("RUNNING", "TIMEOUT")
    assert row(db, later.id).stop_reason is None and row(db, gone.id).state == "SUCCEEDED"
    assert len(watchdog) == 3  # until the commit
    commit(effects)
    assert len(watchdog) == 1 and watchdog.next_due() == later.timeout_at.timestamp()  # type: ignore[union-attr]

    with db.transaction() as tx:  # as the dispatcher records the killed process's end
        done, retry = job_run.complete(tx, timed_out, J.FAILED, error_message="killed by SIGKILL")
    assert done is not None and retry is None
    assert (done.state, done.error_message) == ("TIMEOUT", "Job run timed out after 9 seconds")


def test_the_watchdog_records_one_delay_notification_per_state(db: store.Store) -> None:
    now = store.now()
    options = RunOptions(notify_delay_after=60.0)
    late = insert(
        db,
        state=J.RUNNING.value,
        options=options,
        started_on=now - dt.timedelta(seconds=61),
        notify_at=now - dt.timedelta(seconds=1),
        owner=HERE,
        engine_run_id="tiny-1",
    )
    watchdog = Watchdog()
    watchdog.add([(late.notify_at, fx.NOTIFY, late.id)] * 2)  # twice, e.g. after an adoption

    failing_step(db, watchdog.step, now=now)
    assert (
        notified(db, late.id) == []
        and row(db, late.id).notified_states == []
        and len(watchdog) == 2
    )

    effects, _ = step(db, watchdog.step, now=now)
    commit(effects)
    assert notified(db, late.id) == [(RUN_STATUS, "RUNNING")]
    assert [e["detail"]["state"] for e in effects.publish] == ["RUNNING"]
    assert row(db, late.id).notified_states == ["RUNNING"] and len(watchdog) == 0

    watchdog.add([(now, fx.NOTIFY, late.id)])  # due again, same state: nothing new
    effects, _ = step(db, watchdog.step, now=now)
    commit(effects)
    assert effects.publish == [] and notified(db, late.id) == [(RUN_STATUS, "RUNNING")]

    with db.transaction() as tx:
        assert store.job_runs.set_state(tx, late.id, J.STOPPING.value, stop_reason=J.STOPPED.value)
    watchdog.add([(now, fx.NOTIFY, late.id)])  # a new state: one more
    effects, _ = step(db, watchdog.step, now=now)
    commit(effects)
    assert notified(db, late.id) == [(RUN_STATUS, "RUNNING"), (RUN_STATUS, "STOPPING")]
    assert row(db, late.id).notified_states == ["RUNNING", "STOPPING"]


def test_the_watchdog_moves_a_retry_that_is_due_to_starting(db: store.Store) -> None:
    now = store.now()
    due = insert(
        db,
        state=J.WAITING.value,
        attempt=1,
        not_before=now - dt.timedelta(seconds=0.1),
        state_detail="Retry due at ...",
    )
    stopped = insert(
        db, state=J.STOPPED.value, attempt=1, not_before=now - dt.timedelta(seconds=0.1)
    )
    watchdog = Watchdog()
    watchdog.add([(due.not_before, fx.RETRY, due.id), (stopped.not_before, fx.RETRY, stopped.id)])  # type: ignore[list-item]

    failing_step(db, watchdog.step, now=now)
    assert row(db, due.id).state == "WAITING" and len(watchdog) == 2

    effects, _ = step(db, watchdog.step, now=now)
    commit(effects)
    moved = row(db, due.id)
    assert (moved.state, moved.state_detail, moved.owner) == ("STARTING", None, None)
    assert effects.unowned  # for any orchestrator with a free slot to claim
    assert row(db, stopped.id).state == "STOPPED" and effects.cancel == [] and len(watchdog) == 0


def test_the_watchdog_does_nothing_before_a_deadline(db: store.Store) -> None:
    now = store.now()
    run = insert(db, state=J.RUNNING.value, timeout_at=now + dt.timedelta(seconds=5))
    watchdog = Watchdog()
    watchdog.add([(run.timeout_at, fx.TIMEOUT, run.id)])  # type: ignore[list-item]
    effects, _ = step(db, watchdog.step, now=now)
    assert effects == Effects() and len(watchdog) == 1
    effects, _ = step(db, watchdog.step, now=now + dt.timedelta(seconds=5))
    assert effects.cancel == [run.id]


# --- recovery ----------------------------------------------------------------------------------


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def register(db: store.Store, orchestrator_id: str, host: str, pid: int) -> None:
    with db.transaction() as tx:
        store.orchestrators.register(tx, orchestrator_id, host, pid, serving=True)


def test_recovery_adopts_queues_again_or_fails_the_runs_of_a_dead_orchestrator(
    db: store.Store, settings: Settings, dispatcher: dp.Dispatcher, dead_pid: int
) -> None:
    register(db, "dead", socket.gethostname(), dead_pid)  # on this host, and its process is gone
    register(db, "elsewhere", "another-host", 1)  # beating: alive
    register(db, HERE, socket.gethostname(), 1)
    now = store.now()
    hour = now + dt.timedelta(hours=1)
    running = insert(
        db,
        state=J.RUNNING.value,
        owner="dead",
        engine_run_id="tiny-9",
        started_on=now,
        timeout_at=hour,
        notify_at=now + dt.timedelta(minutes=10),
    )
    stopping = insert(
        db,
        state=J.STOPPING.value,
        owner="dead",
        engine_run_id="tiny-8",
        started_on=now,
        stop_reason=J.STOPPED.value,
        timeout_at=hour,
    )
    never_handed = insert(db, state=J.STARTING.value, owner="dead")  # no run folder: no engine call
    unknown = insert(db, state=J.STARTING.value, owner="dead")  # a run folder, no engine run id
    (settings.logs_dir / unknown.id).mkdir(parents=True)
    accepted = insert(
        db,
        state=J.STARTING.value,
        owner="dead",
        options=RunOptions(timeout=120.0, notify_delay_after=300.0),
    )  # the engine accepted it: its id in the folder
    (settings.logs_dir / accepted.id).mkdir(parents=True)
    (settings.logs_dir / accepted.id / dp.ENGINE_RUN_ID_FILE).write_text("tiny-7\n")
    finished = insert(db, state=J.SUCCEEDED.value, owner="dead")
    alive = insert(db, state=J.RUNNING.value, owner="elsewhere", engine_run_id="tiny-6")
    recovery = Recovery(HERE, settings, dispatcher)
    duties = (recovery.step, Scheduler(HERE).step)

    failing_step(db, *duties, now=now)
    assert [row(db, r.id).owner for r in (running, never_handed, unknown)] == ["dead"] * 3
    with db.read() as tx:
        assert {o.id for o in store.orchestrators.find(tx)} == {"dead", "elsewhere", HERE}

    effects, _ = step(db, *duties, now=now)  # the same wake-up again: it was not forgotten
    with db.read() as tx:
        assert {o.id for o in store.orchestrators.find(tx)} == {"elsewhere", HERE}
    assert sorted(r.id for r in effects.adopt) == sorted([running.id, stopping.id, accepted.id])
    assert {r.owner for r in effects.adopt} == {HERE}
    assert [row(db, r.id).owner for r in (running, stopping, accepted)] == [HERE] * 3
    assert effects.cancel == [stopping.id]  # its stop had not landed
    assert (running.timeout_at, fx.TIMEOUT, running.id) in effects.deadlines
    assert (running.notify_at, fx.NOTIFY, running.id) in effects.deadlines
    taken = row(db, accepted.id)
    assert (taken.state, taken.engine_run_id) == ("RUNNING", "tiny-7")
    assert taken.started_on is not None
    # Its deadlines, as the dispatcher would have recorded them: watched from now on.
    assert taken.timeout_at == taken.started_on + dt.timedelta(seconds=120)
    assert taken.notify_at == taken.started_on + dt.timedelta(seconds=300)
    assert (taken.timeout_at, fx.TIMEOUT, accepted.id) in effects.deadlines
    assert (taken.notify_at, fx.NOTIFY, accepted.id) in effects.deadlines
    requeued = row(db, never_handed.id)
    assert (requeued.state, requeued.owner) == ("STARTING", None) and effects.unowned
    lost = row(db, unknown.id)
    assert (lost.state, lost.error_message) == ("FAILED", LOST_WHILE_STARTING)
    assert effects.ended == {unknown.id}
    assert notified(db, unknown.id) == [(STATE_CHANGE, "FAILED")]
    assert row(db, finished.id).owner == "dead" and row(db, alive.id).owner == "elsewhere"

    commit(effects)
    dispatcher.adopt(effects.adopt)  # followed here, keyed by job run id, polled once
    assert sorted(dispatcher.book) == sorted(r.id for r in effects.adopt)
    dispatcher.collect()
    assert not dispatcher.has_work()  # all still running on the engine
    engine_of(dispatcher).end("tiny-9", J.SUCCEEDED)
    dispatcher.collect()
    commit(step(db, dispatcher.record, Scheduler(HERE).step)[0])
    assert row(db, running.id).state == "SUCCEEDED"
    assert notified(db, running.id) == [(STATE_CHANGE, "SUCCEEDED")]

    # Once committed, the next check is a third of DEAD_AFTER away.
    orphan = insert(db, state=J.RUNNING.value, owner="dead", engine_run_id="tiny-5")
    effects, _ = step(db, recovery.step, now=now)
    assert effects.adopt == [] and row(db, orphan.id).owner == "dead"
    effects, _ = step(db, recovery.step, now=now + dt.timedelta(seconds=DEAD_AFTER / 3))
    assert [r.id for r in effects.adopt] == [orphan.id]


def test_recovery_waits_for_a_silent_orchestrator_to_miss_its_heartbeats(
    db: store.Store, settings: Settings, dispatcher: dp.Dispatcher
) -> None:
    register(db, "quiet", "another-host", 1)
    run = insert(db, state=J.RUNNING.value, owner="quiet", engine_run_id="tiny-1")
    with db.read() as tx:
        [beat] = [o.heartbeat_on for o in store.orchestrators.find(tx) if o.id == "quiet"]
    effects, _ = step(
        db, Recovery(HERE, settings, dispatcher).step, now=beat + dt.timedelta(seconds=DEAD_AFTER)
    )
    assert effects.adopt == [] and row(db, run.id).owner == "quiet"
    late = beat + dt.timedelta(seconds=DEAD_AFTER + 1)
    effects, _ = step(db, Recovery(HERE, settings, dispatcher).step, now=late)
    assert [r.id for r in effects.adopt] == [run.id]


# --- upkeep ------------------------------------------------------------------------------------


def test_upkeep_acts_only_on_the_poll_tick(db: store.Store, dispatcher: dp.Dispatcher) -> None:
    run = insert(db, state=J.STOPPING.value, owner=HERE, stop_reason=J.STOPPED.value)
    upkeep = Upkeep(HERE, dispatcher)
    effects, _ = step(db, upkeep.step)
    assert effects == Effects() and row(db, run.id).state == "STOPPING"


def test_upkeep_sweeps_the_runs_asked_to_stop(db: store.Store, dispatcher: dp.Dispatcher) -> None:
    notify = RunOptions(notify_delay_after=60.0)
    signalled = insert(
        db, state=J.STOPPING.value, owner=HERE, stop_reason="STOPPED", engine_run_id="tiny-1"
    )
    late = insert(
        db,
        state=J.STOPPING.value,
        owner=HERE,
        stop_reason="STOPPED",
        engine_run_id="tiny-2",
        options=notify,
        notified_states=["RUNNING"],
        started_on=store.now(),
    )
    unstarted = insert(
        db, state=J.STOPPING.value, owner=HERE, stop_reason="STOPPED"
    )  # never handed to an engine
    others = insert(
        db, state=J.STOPPING.value, owner="elsewhere", stop_reason="STOPPED", engine_run_id="tiny-3"
    )
    upkeep = Upkeep(HERE, dispatcher)
    upkeep.tick = True
    duties = (upkeep.step, Scheduler(HERE).step)

    failing_step(db, *duties)
    assert row(db, unstarted.id).state == "STOPPING" and notified(db, late.id) == []

    effects, written = step(db, *duties)
    commit(effects)
    assert sorted(effects.cancel) == sorted([signalled.id, late.id])  # their processes get TERM
    assert row(db, unstarted.id).state == "STOPPED" and effects.ended == {unstarted.id}
    assert [(e.kind, e.job_run_id) for e in written] == [
        (store.outbox.JOB_RUN_COMPLETED, unstarted.id)
    ]
    assert notified(db, unstarted.id) == [(STATE_CHANGE, "STOPPED")]
    assert notified(db, late.id) == [
        (RUN_STATUS, "STOPPING")
    ]  # already late: STOPPING is announced
    assert notified(db, signalled.id) == [] and row(db, others.id).state == "STOPPING"

    effects, _ = step(db, *duties)  # swept again until their processes end: no second notice
    assert sorted(effects.cancel) == sorted([signalled.id, late.id])
    assert notified(db, late.id) == [(RUN_STATUS, "STOPPING")] and effects.ended == set()


def test_upkeep_promotes_queued_runs_as_slots_free_up(
    db: store.Store, dispatcher: dp.Dispatcher
) -> None:
    first, queued = job_runs.start_job_run(db, "q"), job_runs.start_job_run(db, "q")
    assert (row(db, first).state, row(db, queued).state) == ("STARTING", "WAITING")
    upkeep = Upkeep(HERE, dispatcher)
    upkeep.tick = True
    effects, _ = step(db, upkeep.step)
    assert row(db, queued).state == "WAITING" and not effects.unowned  # the slot is held

    job_runs.batch_stop_job_run(db, "q", [first])  # not started: STOPPED at once, by the service
    failing_step(db, upkeep.step)
    assert row(db, queued).state == "WAITING"
    effects, _ = step(db, upkeep.step)
    promoted = row(db, queued)
    assert (promoted.state, promoted.state_detail, promoted.owner) == ("STARTING", None, None)
    assert effects.unowned


def test_upkeep_starts_the_retries_whose_delay_has_passed(
    db: store.Store, dispatcher: dp.Dispatcher
) -> None:
    now = store.now()
    due = insert(db, state=J.WAITING.value, attempt=1, not_before=now - dt.timedelta(seconds=1))
    not_yet = insert(db, state=J.WAITING.value, attempt=1, not_before=now + dt.timedelta(minutes=1))
    upkeep = Upkeep(HERE, dispatcher)
    upkeep.tick = True
    failing_step(db, upkeep.step, now=now)
    assert row(db, due.id).state == "WAITING"
    effects, _ = step(db, upkeep.step, now=now)
    assert (row(db, due.id).state, row(db, not_yet.id).state) == ("STARTING", "WAITING")
    assert effects.unowned


def test_a_run_stopped_in_the_dispatchers_queue_ends_with_one_notification(
    db: store.Store, dispatcher: dp.Dispatcher
) -> None:
    """Owned here but waiting for a process slot (never submitted), then stopped: the upkeep
    ends it STOPPED, the dispatcher forgets it after the commit, the scheduler announces it once."""
    ids = [job_runs.start_job_run(db, "t") for _ in range(3)]
    with db.transaction() as tx:  # as a scoped scheduler owns every run it creates
        owned = store.job_runs.claim_unowned(tx, HERE, 3)
    dispatcher.start(owned)  # two slots: the third waits
    assert sorted(dispatcher.book) == sorted(ids[:2]) and list(dispatcher.pending) == [ids[2]]
    job_runs.batch_stop_job_run(db, "t", [ids[2]])
    assert row(db, ids[2]).state == "STOPPING"
    upkeep = Upkeep(HERE, dispatcher)
    upkeep.tick = True
    scheduler = Scheduler(HERE)
    duties = (dispatcher.record, upkeep.step, scheduler.step, dispatcher.claim)
    failing_step(db, *duties)
    assert row(db, ids[2]).state == "STOPPING" and list(dispatcher.pending) == [ids[2]]
    assert notified(db, ids[2]) == [] and dispatcher.has_work()  # the two starts, still to record
    effects, _ = step(db, *duties)
    assert effects.ended == {ids[2]} and list(dispatcher.pending) == [ids[2]]  # until the commit
    commit(effects)
    assert row(db, ids[2]).state == "STOPPED" and dispatcher.pending == {}
    assert [row(db, i).state for i in ids[:2]] == ["RUNNING", "RUNNING"]
    assert engine_of(dispatcher).cancelled == []  # nothing to signal: it never started
    assert notified(db, ids[2]) == [(STATE_CHANGE, "STOPPED")]
    effects, _ = step(db, *duties)
    assert effects.ended == set() and notified(db, ids[2]) == [(STATE_CHANGE, "STOPPED")]
