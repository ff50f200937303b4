"""The orchestrator loop: one thread that drives the scheduler, the dispatcher and the watchdog.

It wakes on a job's exit (pushed by its engine), on the next deadline, or on the poll tick
that picks up work other processes wrote to the store. All it knows it re-reads from the
store after a restart: runs it owned are adopted by the next orchestrator (see reconcile).
"""

from __future__ import annotations

import collections
import logging
import os
import queue
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from orchestrator import errors, events, job_run, models, notifications, store
from orchestrator import watchdog as wd
from orchestrator.dispatcher import Dispatcher
from orchestrator.scheduler import Scheduler
from orchestrator.settings import Settings
from orchestrator.states import JOB_RUN_TERMINAL, JobRunState

log = logging.getLogger(__name__)
HEARTBEAT_EVERY = 2.0
DEAD_AFTER = 15.0
SWEEP_EVERY = 5.0
ENGINE_RUN_ID_FILE = "engine_run_id"
_J = JobRunState
_STATE_CHANGE = (_J.SUCCEEDED, _J.FAILED, _J.TIMEOUT, _J.STOPPED)


class Orchestrator:
    """Scheduler + dispatcher + watchdog for one process. ``scope`` limits it to one workflow run."""

    def __init__(self, settings: Settings, db: store.Store, *, serving: bool = False,
                 scope: str | None = None) -> None:
        self.settings = settings
        self.db = db
        self.serving = serving
        self.scope = scope
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._queue: queue.SimpleQueue[tuple[str, ...]] = queue.SimpleQueue()
        self.dispatcher = Dispatcher(settings, db.url, lambda c, e: self._queue.put(("exit", c, e)))
        self.scheduler = Scheduler(self.id, take=self._take, active_here=self._active_here)
        self.watchdog = wd.Watchdog()
        sinks: list[Any] = list(settings.notification_sinks)
        if settings.notifications_file:
            sinks += notifications.load_file(settings.notifications_file)
        self.notifier = notifications.Notifier(sinks, on_result=self._delivered)
        # Delivery outcomes not yet recorded: written together on the poll tick, never waking the
        # loop on their own.
        self._delivered_q: collections.deque[tuple[str, str, dict[str, Any]]] = collections.deque()
        # Deliveries of the notifications recorded here, newest last (saves reading them back).
        self._deliveries: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        # Runs this process follows: job run id -> (command, engine run id or None).
        self._mine: dict[str, tuple[str, str | None]] = {}
        self._by_engine: dict[tuple[str, str], str] = {}
        self._cancelled: set[str] = set()
        # STARTING runs this process owns and is about to start: id -> row.
        self._pending: dict[str, dict[str, Any]] = {}
        self._to_cancel: list[str] = []
        # Completion events written consumed in the current transaction, for the scheduler; None
        # outside a scheduling transaction (then they stay in the store for a pass to claim).
        self._local: list[dict[str, Any]] | None = None
        # Runs started since the last transaction: (row, engine run id or None, when, failure).
        self._started: list[tuple[dict[str, Any], str | None, Any, str | None]] = []
        # Whether unowned STARTING runs may exist (skips the claim query when surely not).
        self._unowned = True
        self._stop = threading.Event()
        # Set when a workflow run ends (or, unscoped, a job run): wakes whoever waits in run_until.
        self.changed = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_poll = 0.0
        self._next_beat = 0.0
        self._next_reconcile = 0.0
        self._next_sweep = time.time() + SWEEP_EVERY
        self.error: BaseException | None = None

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> Orchestrator:
        with self.db.transaction() as tx:
            store.register_orchestrator(tx, self.id, socket.gethostname(), os.getpid(), self.serving)
        self._thread = threading.Thread(target=self._main, name="adhere-orchestrator", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        self._queue.put(("wake",))

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self.wake()
        if self._thread:
            self._thread.join(timeout)
        self.notifier.close(timeout=5)
        self.dispatcher.close()
        delivered = self._take_delivered()
        try:
            with self.db.transaction() as tx:
                store.record_deliveries(tx, delivered, self._deliveries)
                store.unregister_orchestrator(tx, self.id)
        except errors.StoreError:
            log.warning("could not unregister orchestrator %s", self.id)

    @property
    def busy(self) -> bool:
        """True while this process follows runs it started, adopted or is about to start."""
        return bool(self._mine or self._pending)

    def _active_here(self, workflow_run_id: str) -> bool:
        # Within a scope every run this process starts or follows belongs to that workflow run.
        return workflow_run_id == self.scope and bool(self._mine or self._pending)

    def _take(self, command: str) -> bool:
        """Whether a run the scheduler creates is ours to start: always within a scope (one
        workflow run is this process's whole job), else only while a slot is free for it."""
        return self.scope is not None or len(self._pending) < self.dispatcher.free_total()

    def _main(self) -> None:
        try:
            while not self._stop.is_set():
                self._iterate()
            if self._started:
                notices: list[dict[str, Any]] = []
                with self.db.transaction() as tx:
                    self._record_started(tx, notices)
                self._publish(notices)
        except BaseException as exc:  # surfaced to the CLI, which exits non-zero
            log.exception("orchestrator loop failed")
            self.error = exc
        finally:
            self.changed.set()

    def _iterate(self) -> None:
        items = self._drain(self._sleep_time())
        now = time.time()
        periodic = now >= self._next_poll
        due = list(self.watchdog.pop_due(now))
        if not (items or periodic or due):
            return
        if periodic:
            self._next_poll = now + self.settings.poll_interval
        exits = [(item[1], item[2]) for item in items if item[0] == "exit"]
        delivered = self._take_delivered() if periodic else []  # a statement per tick, not per job
        # Events other processes (or service calls) wrote are read on the poll tick or when woken.
        claim = periodic or any(item[0] == "wake" for item in items)
        if periodic and now >= self._next_sweep:
            # A safety net under the engines' push notifications: poll every run we follow.
            self._next_sweep = now + SWEEP_EVERY
            exits += [(command, erid) for command, erid in self._mine.values() if erid]
        ended = self._ended(set(exits))
        notices: list[dict[str, Any]] = []
        self._to_cancel: list[str] = []
        saved = self._memory()
        try:
            self._apply(ended, due, periodic, claim, now, notices, delivered)
        except errors.StoreError as exc:
            # A transient failure (a PostgreSQL deadlock, a lost connection): nothing was
            # written, so forget what this wake-up changed in memory and go over it again.
            log.warning("store error, retrying: %s", exc)
            self._restore(saved)
            for item in items:
                self._queue.put(item)
            for kind, run_id in due:
                self.watchdog.add(store.now(), kind, run_id)
            self._delivered_q.extend(delivered)
            self._local = None
            time.sleep(0.05 + random.random() * 0.2)
            return
        for run_id in self._to_cancel + [item[1] for item in items if item[0] == "cancel"]:
            self._cancel(run_id)
        self._launch()  # before publishing: the next job's start is the latency that matters
        self._publish(notices)

    def _memory(self) -> tuple[Any, ...]:
        return (dict(self._mine), dict(self._by_engine), dict(self._pending), list(self._started), self._unowned)

    def _restore(self, saved: tuple[Any, ...]) -> None:
        mine = saved[0]
        for run_id in self._mine.keys() - mine.keys():
            self.dispatcher.release(self._mine[run_id][0])  # adopted in the failed transaction
        for run_id in mine.keys() - self._mine.keys():
            self.dispatcher.reserve(mine[run_id][0])  # forgotten in the failed transaction
        self._mine, self._by_engine, self._pending, self._started, self._unowned = saved

    def _apply(self, ended: list[tuple[str, str, Any]], due: list[tuple[str, str]], periodic: bool,
               claim: bool, now: float, notices: list[dict[str, Any]],
               delivered: list[tuple[str, str, dict[str, Any]]]) -> None:
        """One transaction for everything a wake-up learned: completions, deadlines, trigger
        firings, claims and notification deliveries commit together (fewer commits on the
        hop's path, and no second writer competing for the store's lock)."""
        changed = bool(ended) and self.scope is None
        with self.db.transaction() as tx:
            store.record_deliveries(tx, delivered, self._deliveries)
            self._local = []
            self._record_started(tx, notices)
            for run_id, command, status in ended:
                row = store.get_job_run(tx, run_id)
                if row is not None and row["state"] not in _TERMINAL_VALUES:
                    self._finish(tx, row, status.state, status.error_message, notices)
                self._forget(run_id, command)  # frees the slot for the firings and claims below
            if due:
                self._due(tx, due, notices)
            if periodic:
                self._periodic(tx, now, notices)
            while True:
                local, self._local = self._local or [], []
                result = self.scheduler.run_pass(tx, self.scope, local=local, claim=claim)
                changed |= bool(result.ended_runs)
                for row in result.created:
                    self._pending[row["id"]] = row
                self._unowned |= result.unowned
                if not (result.more or self._local):
                    break
                claim = True  # runs that ended at once wrote events to the store
            self._claim(tx)
            self._local = None
        if changed:
            self.changed.set()

    def _ended(self, exits: Iterable[tuple[str, str]]) -> list[tuple[str, str, Any]]:
        """The exited runs whose engine reports a terminal status (no store access)."""
        ended = []
        for command, erid in exits:
            run_id = self._by_engine.get((command, erid))
            if run_id is None:
                continue
            status = self.dispatcher.poll(command, erid)
            if status.state in JOB_RUN_TERMINAL:
                ended.append((run_id, command, status))
        return ended

    def _sleep_time(self) -> float:
        wait = self._next_poll - time.time()
        due = self.watchdog.next_due()
        if due is not None:
            wait = min(wait, due - time.time())
        return max(0.0, wait)

    def _drain(self, timeout: float) -> list[tuple[str, ...]]:
        items = []
        try:
            items.append(self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait())
        except queue.Empty:
            return items
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    # --- scheduling and launching ---------------------------------------------------------
    def _launch(self) -> None:
        """Start the STARTING runs this process owns.

        They are recorded RUNNING in the next transaction (the next wake-up, within a poll
        interval), not in one of their own: the engine's run id is in the run folder at once,
        so a process killed before that commit is adopted from there (see _reconcile).
        """
        for run_id, row in list(self._pending.items()):
            if not self.dispatcher.reserve(row["command"]):
                continue  # waits for a slot, in creation order
            del self._pending[run_id]
            stamp = store.now()
            try:
                erid = self.dispatcher.submit(row)
                (self.dispatcher.run_dir(row["id"]) / ENGINE_RUN_ID_FILE).write_text(erid)
            except errors.EngineError as exc:
                self.dispatcher.release(row["command"])
                self._started.append((row, None, stamp, exc.message))
                continue
            self._mine[row["id"]] = (row["command"], erid)
            self._by_engine[(row["command"], erid)] = row["id"]
            self._started.append((row, erid, stamp, None))
            options = row.get("options") or {}
            self.watchdog.add(stamp + _seconds(row.get("timeout")), wd.TIMEOUT, row["id"])
            if options.get("notify_delay_after"):
                self.watchdog.add(stamp + _seconds(options["notify_delay_after"]), wd.NOTIFY, row["id"])

    def _record_started(self, tx: store.Tx, notices: list[dict[str, Any]]) -> None:
        """Write down the runs started since the last transaction: RUNNING, or FAILED to start."""
        started, self._started = self._started, []
        for row, erid, stamp, failure in started:
            if erid is None:
                store.set_job_run_state(tx, row["id"], _J.RUNNING, expect=[_J.STARTING.value], started_on=stamp)
                self._finish(tx, {**row, "state": _J.RUNNING.value, "started_on": stamp}, _J.FAILED, failure,
                             notices)
                continue
            options = row.get("options") or {}
            delay = options.get("notify_delay_after")
            if not store.set_job_run_state(
                tx, row["id"], _J.RUNNING, expect=[_J.STARTING.value], stamp=stamp, started_on=stamp,
                engine_run_id=erid, timeout_at=stamp + _seconds(row.get("timeout")),
                notify_at=stamp + _seconds(delay) if delay else None, state_detail=None,
            ):  # stopped while starting: keep the engine id so the stop can land
                store.update_job_run(tx, row["id"], engine_run_id=erid, started_on=stamp)
                self._to_cancel.append(row["id"])

    def _claim(self, tx: store.Tx) -> None:
        """Take unowned STARTING runs (written by other processes, retries, promotions) while slots are free."""
        free = self.dispatcher.free_total() - len(self._pending)
        if free <= 0 or not self._unowned:
            return
        query = _UNOWNED_IN_SCOPE if self.scope else _UNOWNED
        rows = tx.execute(query, {"_scope": self.scope, "_limit": free}).mappings().all()
        for row in rows:
            if tx.execute(_CLAIM, {"_id": row["id"], "owner": self.id}).rowcount:
                self._pending[row["id"]] = {**row, "owner": self.id}
        if len(rows) < free:
            self._unowned = False  # none left until something writes more

    # --- completion -----------------------------------------------------------------------
    def _finish(self, tx: store.Tx, row: Mapping[str, Any], state: JobRunState, message: str | None,
                notices: list[dict[str, Any]]) -> None:
        final, retry = job_run.complete(tx, row, state, error_message=message, events_out=self._local)
        if final and JobRunState(final["state"]) in _STATE_CHANGE:
            event = events.job_state_change(final["job_name"], final["id"], final["state"],
                                            final.get("error_message") or _default_message(final), time=store.now())
            notices.append(self._record(tx, event, final))
        if retry and retry.get("not_before") and retry["state"] == _J.WAITING.value:
            self.watchdog.add(retry["not_before"], wd.RETRY, retry["id"])
        self._unowned |= retry is not None
        if (row.get("options") or {}).get("job_run_queuing_enabled"):
            self._unowned |= bool(job_run.promote_waiting(tx, row["job_name"]))  # else the periodic sweep

    def _forget(self, run_id: str, command: str) -> None:
        entry = self._mine.pop(run_id, None)
        if entry is not None:
            self.dispatcher.release(command)
            if entry[1]:
                self._by_engine.pop((command, entry[1]), None)
        self._cancelled.discard(run_id)

    # --- deadlines ------------------------------------------------------------------------
    def _due(self, tx: store.Tx, due: Iterable[tuple[str, str]], notices: list[dict[str, Any]]) -> None:
        ids = list({run_id for _, run_id in due})
        rows = {r["id"]: r for r in store.job_runs_where(tx, models.job_runs.c.id.in_(ids))}  # one query
        for kind, run_id in due:
            row = rows.get(run_id)
            if row is None or row["state"] in _TERMINAL_VALUES:
                continue
            if kind == wd.TIMEOUT and row["state"] in (_J.RUNNING.value, _J.STARTING.value):
                store.update_job_run(tx, run_id, stop_reason=_J.TIMEOUT.value)
                self._to_cancel.append(run_id)
            elif kind == wd.NOTIFY:
                notices.extend(self._delay_notice(tx, row))
            elif kind == wd.RETRY and row["state"] == _J.WAITING.value:
                store.set_job_run_state(tx, run_id, _J.STARTING, expect=[_J.WAITING.value], state_detail=None)
                self._unowned = True

    def _delay_notice(self, tx: store.Tx, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One "Glue Job Run Status" event per status a late run is seen in."""
        state = row["state"]
        if state not in (_J.STARTING.value, _J.RUNNING.value, _J.STOPPING.value) or state in row["notified_states"]:
            return []
        delay = (row.get("options") or {}).get("notify_delay_after") or 0
        started = row.get("started_on") or row["created_on"]
        event = events.job_run_status(row["job_name"], row["id"], state, started_on=started,
                                      notify_delay_after=delay, time=store.now())
        notified = [*row["notified_states"], state]
        store.update_job_run(tx, row["id"], notified_states=notified)
        if isinstance(row, dict):
            row["notified_states"] = notified  # a second due entry for this run sees it
        return [self._record(tx, event, row)]

    def _cancel(self, run_id: str) -> None:
        entry = self._mine.get(run_id)
        if entry is None or entry[1] is None or run_id in self._cancelled:
            return
        self._cancelled.add(run_id)
        self.dispatcher.cancel(entry[0], entry[1])

    # --- periodic work ----------------------------------------------------------------------
    def _periodic(self, tx: store.Tx, now: float, notices: list[dict[str, Any]]) -> None:
        if now >= self._next_beat:
            self._next_beat = now + HEARTBEAT_EVERY
            store.heartbeat(tx, self.id)
        if now >= self._next_reconcile:
            self._next_reconcile = now + DEAD_AFTER / 3
            self._reconcile(tx, notices)
        t = models.job_runs
        for row in store.job_runs_where(tx, t.c.state == _J.STOPPING.value, t.c.owner == self.id):
            if row["engine_run_id"]:
                self._to_cancel.append(row["id"])
                if row["notified_states"]:  # already late when stopped: one event for STOPPING too
                    notices.extend(self._delay_notice(tx, row))
            else:  # stopped before it was started
                self._finish(tx, row, _J.STOPPED, None, notices)
                self._pending.pop(row["id"], None)
        waiting = store.job_runs_where(tx, t.c.state == _J.WAITING.value)
        for job_name in {row["job_name"] for row in waiting if row["not_before"] is None}:
            job_run.promote_waiting(tx, job_name)  # queued for a MaxConcurrentRuns slot
        for row in waiting:
            if row["not_before"] is not None and row["not_before"] <= store.now():  # a retry now due
                store.set_job_run_state(tx, row["id"], _J.STARTING, expect=[_J.WAITING.value], state_detail=None)
        self._unowned = True

    def _reconcile(self, tx: store.Tx, notices: list[dict[str, Any]]) -> None:
        """Adopt runs whose orchestrator died; finish those whose process is gone."""
        t = models.job_runs
        live = []
        for orch in store.list_orchestrators(tx):
            if orch["id"] != self.id and _dead(orch):
                store.unregister_orchestrator(tx, orch["id"])
            else:
                live.append(orch["id"])
        active = [s.value for s in _J if s.value not in _TERMINAL_VALUES]
        clauses = [t.c.state.in_(active), t.c.owner.is_not(None), t.c.owner.not_in(live)]
        if self.scope:
            clauses.append(t.c.workflow_run_id == self.scope)
        orphans = store.job_runs_where(tx, *clauses)
        for row in orphans:
            if not row["engine_run_id"]:
                # Reserved but not recorded as started: adopt it if the engine accepted it (its id
                # is in the run folder), queue it again if the engine was never called (no run
                # folder), and fail it otherwise (it may have started, unseen).
                run_dir = self.settings.logs_dir / row["id"]
                recorded = run_dir / ENGINE_RUN_ID_FILE
                if row["state"] in (_J.STARTING.value, _J.STOPPING.value) and recorded.exists():
                    started = row["started_on"] or store.now()
                    row = {**row, "engine_run_id": recorded.read_text().strip(), "started_on": started,
                           "timeout_at": started + _seconds(row.get("timeout"))}
                    store.update_job_run(tx, row["id"], engine_run_id=row["engine_run_id"])
                    store.set_job_run_state(tx, row["id"], _J.RUNNING, expect=[_J.STARTING.value],
                                            started_on=started, timeout_at=row["timeout_at"])
                elif row["state"] == _J.STARTING.value and not run_dir.exists():
                    store.update_job_run(tx, row["id"], owner=None)
                    continue
                else:
                    self._finish(tx, row, _J.FAILED, "the orchestrator was lost while starting this run",
                                 notices)
                    continue
            store.update_job_run(tx, row["id"], owner=self.id)
            command = row["command"]
            self.dispatcher.reserve(command)
            self._mine[row["id"]] = (command, row["engine_run_id"])
            self._by_engine[(command, row["engine_run_id"])] = row["id"]
            self.watchdog.add(row["timeout_at"], wd.TIMEOUT, row["id"])
            self.watchdog.add(row["notify_at"], wd.NOTIFY, row["id"])
            self._queue.put(("exit", command, row["engine_run_id"]))  # poll once now
            if row["stop_reason"] or row["state"] == _J.STOPPING.value:
                self._to_cancel.append(row["id"])

    # --- notifications ------------------------------------------------------------------
    def _record(self, tx: store.Tx, event: dict[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
        store.insert_notification(
            tx, id=event["id"], detail_type=event["detail-type"], job_name=row["job_name"], job_run_id=row["id"],
            state=event["detail"].get("state"), time=store.now(), event=event, deliveries={},
        )
        self._deliveries[event["id"]] = {}
        if len(self._deliveries) > _KNOWN_DELIVERIES:
            self._deliveries.popitem(last=False)  # an old one's results are merged from the store
        return event

    def _publish(self, notices: Iterable[dict[str, Any]]) -> None:
        for event in notices:
            self.notifier.publish(event)

    def _delivered(self, event_id: str, sink: str, ok: bool, error: str | None) -> None:
        self._delivered_q.append((event_id, sink, {"ok": ok, "error": error}))  # on a sink's thread

    def _take_delivered(self) -> list[tuple[str, str, dict[str, Any]]]:
        taken = []
        while self._delivered_q:
            taken.append(self._delivered_q.popleft())
        return taken


_TERMINAL_VALUES = frozenset(s.value for s in JOB_RUN_TERMINAL)
_KNOWN_DELIVERIES = 10_000
_jr = models.job_runs
_UNOWNED = (
    sa.select(_jr).where(_jr.c.state == _J.STARTING.value, _jr.c.owner.is_(None))
    .order_by(_jr.c.created_on).limit(sa.bindparam("_limit"))
)
_UNOWNED_IN_SCOPE = _UNOWNED.where(_jr.c.workflow_run_id == sa.bindparam("_scope"))
_CLAIM = sa.update(_jr).where(
    _jr.c.id == sa.bindparam("_id"), _jr.c.owner.is_(None), _jr.c.state == _J.STARTING.value
)


def _seconds(value: float | None) -> Any:
    import datetime as dt

    return dt.timedelta(seconds=float(value or job_run.DEFAULT_TIMEOUT))


def _default_message(row: Mapping[str, Any]) -> str:
    return f"Job run {row['state'].lower()}"


def _dead(orch: Mapping[str, Any]) -> bool:
    if orch["host"] == socket.gethostname():
        try:
            os.kill(orch["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return (store.now() - orch["heartbeat_on"]).total_seconds() > DEAD_AFTER
    return (store.now() - orch["heartbeat_on"]).total_seconds() > DEAD_AFTER


def run_until(orchestrator: Orchestrator, done: Callable[[], bool], tick: Callable[[], None] | None = None,
              interval: float = 0.1) -> None:
    """Block until ``done()`` and the orchestrator follows no run, calling ``tick`` meanwhile."""
    while True:
        if orchestrator.error is not None:
            raise errors.InternalServiceException(f"orchestrator failed: {orchestrator.error}")
        if tick:
            tick()
        if done() and not orchestrator.busy:
            return
        orchestrator.changed.wait(interval)
        orchestrator.changed.clear()
