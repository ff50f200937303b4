"""The orchestrator loop: one thread that wakes, lets each duty do its part in one transaction,
commits, and then applies what the duties decided.

It wakes on a job's end (pushed by its engine), on the next deadline (a timeout, a schedule's
tick, a batch's window), on ``wake()`` (work this process wrote, e.g. an API call, or another
process through ``store.wakeups``) or on the poll tick. The duties (recovery, dispatcher,
watchdog, upkeep, a serve's schedules and event batches, crawls, scheduler, deliveries) decide
from the rows and return effects; nothing in memory changes before the commit, so a failed
transaction (a PostgreSQL deadlock, a lost connection) is simply tried again.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from orchestrator import errors, notifications, store
from orchestrator.crawls import Crawls
from orchestrator.deliveries import Deliveries
from orchestrator.dispatcher import Dispatcher
from orchestrator.effects import Effects
from orchestrator.event_batches import EventBatches
from orchestrator.recovery import Recovery
from orchestrator.scheduled import Scheduled
from orchestrator.scheduler import Scheduler
from orchestrator.settings import Settings
from orchestrator.upkeep import Upkeep
from orchestrator.watchdog import Watchdog

log = logging.getLogger(__name__)
SWEEP_EVERY = 5.0  # seconds between polls of every followed run (under the engines' pushes)


class Orchestrator:
    """The loop of one process. ``scope`` limits it to one workflow run (an `adhere run`)."""

    def __init__(self, settings: Settings, db: store.Store, *, serving: bool = False,
                 scope: str | None = None) -> None:
        self.settings = settings
        self.db = db
        self.serving = serving
        self.scope = scope
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._signal = threading.Event()
        self.dispatcher = Dispatcher(settings, db.url, self.id, on_exit=self._signal.set, scope=scope)
        self.scheduler = Scheduler(self.id, scope=scope, capacity=self.dispatcher.capacity,
                                   active_here=self.dispatcher.active_here)
        self.watchdog = Watchdog()
        self.recovery = Recovery(self.id, settings, self.dispatcher, scope)
        self.upkeep = Upkeep(self.id, self.dispatcher)
        self.deliveries = Deliveries()
        self.crawls = Crawls(self.id, settings, db, self.wake, scope)
        # Schedules and event batches are a serve's: `adhere run` runs one workflow run only.
        self.scheduled: Scheduled | None = None
        self.event_batches: EventBatches | None = None
        if serving:
            self.scheduled = Scheduled(catch_up=settings.schedule_catch_up, min_interval=settings.min_schedule_interval,
                                       account=settings.account_id, region=settings.region)
            self.event_batches = EventBatches()
        self._timed: tuple[Scheduled | EventBatches, ...] = tuple(
            d for d in (self.scheduled, self.event_batches) if d is not None)
        self._listener: store.wakeups.Listener | None = None
        sinks: list[Any] = list(settings.notification_sinks)
        if settings.notifications_file:
            sinks += notifications.load_file(settings.notifications_file)
        self.notifier = notifications.Notifier(sinks, on_result=self.deliveries.delivered)
        # In this order: what ended and started is written before triggers are evaluated, and
        # runs are claimed with the slots the scheduler left.
        self._duties = (self.recovery.step, self.dispatcher.record, self.watchdog.step, self.upkeep.step,
                        *(d.step for d in self._timed),
                        self.crawls.step, self.scheduler.step, self.dispatcher.claim, self.deliveries.step)
        self._woken = True  # read the store's unprocessed events on the first wake-up
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Set when a workflow run ends (or, unscoped, a job run): wakes whoever waits in run_until.
        self.changed = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_poll = 0.0
        self._next_sweep = time.time() + SWEEP_EVERY
        self.error: BaseException | None = None
        self.committed_at = time.time()  # the last wake-up whose transaction went through (health)

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Orchestrator:
        address = None
        if self.serving:  # other processes that write work wake it at once (store.wakeups)
            self._listener = store.wakeups.Listener(self.db, self.wake)
            address = self._listener.start()
        with self.db.transaction() as tx:
            store.orchestrators.register(tx, self.id, socket.gethostname(), os.getpid(), self.serving,
                                         wake_address=address)
        self._thread = threading.Thread(target=self._main, name="adhere-orchestrator", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Work was written to the store (by this process): look now, not at the next tick."""
        with self._lock:
            self._woken = True
        self._signal.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._signal.set()
        if self._listener is not None:
            self._listener.stop()
        if self._thread:
            self._thread.join(timeout)
        self.notifier.close(timeout=5)
        self.dispatcher.close()
        self.crawls.close()
        try:
            with self.db.transaction() as tx:
                self.deliveries.flush(tx)
                store.orchestrators.unregister(tx, self.id)
        except errors.StoreError:
            log.warning("could not unregister orchestrator %s", self.id)

    def health(self) -> dict[str, Any]:
        """What ``GET /health`` reports: "ok" while the loop runs and its transactions go through."""
        alive = self._thread is not None and self._thread.is_alive() and self.error is None
        stale = time.time() - self.committed_at
        ok = alive and stale < max(30.0, 4 * self.settings.poll_interval)
        return {"status": "ok" if ok else "failing", "orchestrator": self.id, "loop": "running" if alive else "stopped",
                "last_commit_seconds_ago": round(stale, 3), "following": self.busy}

    @property
    def busy(self) -> bool:
        """True while this process follows runs it started, adopted or is about to start."""
        return self.dispatcher.busy or self.crawls.busy

    def _main(self) -> None:
        try:
            while not self._stop.is_set():
                self._iterate()
            self._wake_up(time.time(), final=True)  # submissions not yet recorded
        except BaseException as exc:  # surfaced to the caller, which exits non-zero
            log.exception("orchestrator loop failed")
            self.error = exc
        finally:
            self.changed.set()

    def _iterate(self) -> None:
        self._signal.wait(self._sleep_time())
        self._signal.clear()
        self._wake_up(time.time())

    def _sleep_time(self) -> float:
        wait = self._next_poll - time.time()
        for due in (self.watchdog.next_due(), *(d.next_due() for d in self._timed)):
            if due is not None:
                wait = min(wait, due - time.time())
        return max(0.0, wait)

    # --- one wake-up ----------------------------------------------------------------------------
    def _wake_up(self, now: float, final: bool = False) -> None:
        tick = now >= self._next_poll
        if tick:
            self._next_poll = now + self.settings.poll_interval
        self.dispatcher.sweep = tick and now >= self._next_sweep
        if self.dispatcher.sweep:
            self._next_sweep = now + SWEEP_EVERY
        self.dispatcher.collect()
        due = (self.watchdog.next_due() or now + 1) <= now
        timed = any(d.due(now) for d in self._timed)
        with self._lock:
            woken, self._woken = self._woken, False
        if not (tick or due or timed or woken or final or self.dispatcher.has_work() or self.crawls.has_work()):
            return
        # Events other processes (or this one's service calls) wrote are read when woken or on the tick.
        self.scheduler.claim = tick or woken
        self.upkeep.tick = self.deliveries.tick = tick and not final
        # Unowned runs (StartJobRun) come without an event: from other processes, seen on the
        # tick; from this one's service calls (Glue's API in a serve), seen when they wake it.
        if tick or woken:
            self.dispatcher.unowned = True
        self.crawls.tick = (tick or woken or timed) and not final
        if self.scheduled is not None:
            self.scheduled.refresh |= woken
        if self.event_batches is not None:
            self.event_batches.tick = tick or woken
        effects = Effects()
        try:
            # The last wake-up only records (no scheduler): the completion events it writes are
            # left unprocessed for the next orchestrator, not consumed here unseen.
            with self.db.loop_transaction(consumed=None if final else []) as tx:
                moment = store.now()
                for duty in self._duties[1:2] if final else self._duties:
                    duty(tx, moment, effects)
                if effects.start or effects.cancel:
                    # Processes start or stop on the strength of this commit: it must survive a
                    # crash of the database server. The others record what the run folders tell
                    # again after one (a run's end, its start).
                    tx.commit_durably()
            self.committed_at = time.time()
        except errors.StoreError as exc:
            # Nothing was written and nothing in memory changed: go over it again.
            log.warning("store error, retrying: %s", exc)
            with self._lock:
                self._woken = True
            time.sleep(0.05 + random.random() * 0.2)
            return
        self._apply(effects)

    def _apply(self, effects: Effects) -> None:
        for bookkeeping in effects.after:
            bookkeeping()
        self.watchdog.add(effects.deadlines)
        if effects.unowned:
            self.dispatcher.unowned = True
        self.dispatcher.adopt(effects.adopt)
        for job_run_id in effects.cancel:
            self.dispatcher.cancel(job_run_id)
        self.dispatcher.start(effects.start)  # and the runs waiting for the slots freed above
        for event in effects.publish:  # after the starts: the next job's start is the latency that matters
            self.deliveries.published(event)
            self.notifier.publish(event)
        if effects.ended_workflow_runs or (effects.ended and self.scope is None):
            self.changed.set()


def run_until(orchestrator: Orchestrator, done: Callable[[], bool], tick: Callable[[], None] | None = None,
              interval: float = 0.1, *, drain: bool = True) -> None:
    """Block until ``done()`` and (with ``drain``) the orchestrator follows no run, calling
    ``tick`` meanwhile."""
    while True:
        if orchestrator.error is not None:
            raise errors.InternalServiceException(f"orchestrator failed: {orchestrator.error}")
        if tick:
            tick()
        if done() and not (drain and orchestrator.busy):
            return
        orchestrator.changed.wait(interval)
        orchestrator.changed.clear()
