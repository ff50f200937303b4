"""The crawl duty: runs crawls as processes of their own, beside the job runs.

Each wake-up it claims RUNNING crawls no orchestrator runs (up to ``SLOTS`` at a time here),
starts ``python -m catalog.crawl_process CRAWL_ID`` for each after the commit, signals the
process of a crawl asked to stop, and ends the crawls whose process exited without ending them
(CANCELLED when a stop was asked, FAILED otherwise). A crawl's process ends it itself, in the
transaction that writes the Data Catalog, so the catalog is as before or as after a crawl,
never half-written. Crawls of an orchestrator that died are FAILED by recovery.

A crawl is CPU-bound for seconds: in a process of its own it never holds up the loop.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator import crawl, errors, store
from orchestrator.effects import Effects
from orchestrator.settings import Settings

if TYPE_CHECKING:
    from engines.process import LocalProcesses

log = logging.getLogger(__name__)
SLOTS = 2  # crawls one orchestrator runs at a time (each uses every core it can for a while)
STOPPED = "the orchestrator running this crawl stopped; the Data Catalog is as before the crawl"


class Crawls:
    def __init__(self, owner: str, settings: Settings, db: store.Store, wake: Callable[[], None],
                 scope: str | None = None) -> None:
        self.owner = owner
        self.settings = settings
        self.db = db
        self.scope = scope
        self._wake = wake
        self._processes: LocalProcesses | None = None
        self._running: dict[str, str] = {}  # crawl id -> process (engine run id)
        self._stopping: set[str] = set()  # crawl ids whose process was signalled
        self._exited: collections.deque[str] = collections.deque()  # processes that ended
        self._lock = threading.Lock()
        self.tick = False  # the loop sets it on its poll tick and when woken: look for crawls to claim

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def has_work(self) -> bool:
        return bool(self._exited)

    def step(self, tx: store.Tx, now: dt.datetime, effects: Effects) -> None:
        self._record_exits(tx, effects)
        if not (self.tick or self._running):
            return
        for c in store.crawls.owned(tx, self.owner):
            if c.state == "CANCELLING" and c.id in self._running and c.id not in self._stopping:
                effects.after.append(lambda c=c: self._stop(c.id))
        if self.tick:
            self._claim(tx, effects)

    def _claim(self, tx: store.Tx, effects: Effects) -> None:
        claimed = store.crawls.claim_unowned(tx, self.owner, SLOTS - len(self._running), self.scope)
        for c in claimed:
            notice = crawl.state_change(c, account=self.settings.account_id, region=self.settings.region)
            if notice is not None:
                from orchestrator import deliveries

                deliveries.record(tx, notice, None, None, effects)
            effects.after.append(lambda c=c: self._spawn(c.id))

    def _record_exits(self, tx: store.Tx, effects: Effects) -> None:
        with self._lock:
            exited, self._exited = list(self._exited), collections.deque()
        by_process = {p: cid for cid, p in self._running.items()}
        for process in exited:
            crawl_id = by_process.get(process)
            if crawl_id is None:
                continue
            status = self._processes.poll(process) if self._processes else None
            current = store.crawls.get(tx, crawl_id)
            if current is not None and current.state in store.crawls.ACTIVE:
                if current.state == "CANCELLING":
                    crawl.end(tx, crawl_id, "CANCELLED")
                else:
                    reason = (status.error_message if status else None) or "the crawl process ended without a result"
                    crawl.end(tx, crawl_id, "FAILED", reason)
            effects.after.append(lambda crawl_id=crawl_id: self._forget(crawl_id))

    # --- after the commit -------------------------------------------------------------------------
    def _spawn(self, crawl_id: str) -> None:
        from engines.process import LocalProcesses

        if self._processes is None:
            self._processes = LocalProcesses(self._exit)
        self._running[crawl_id] = ""  # a process is on its way
        argv = [sys.executable, "-m", "catalog.crawl_process", crawl_id]
        env = {**os.environ, "ADHERE_DB_URL": self.db.url}
        try:
            process = self._processes.spawn(argv, run_dir=self.settings.logs_dir / crawl_id, env=env)
        except Exception as exc:  # a crawl that cannot start fails; it is never left RUNNING
            log.error("cannot start crawl %s: %s", crawl_id, exc)
            self._running.pop(crawl_id, None)
            self._end_now(crawl_id, f"the crawl process could not start: {exc}")
            return
        self._running[crawl_id] = process
        try:
            with self.db.transaction() as tx:
                store.crawls.set_process(tx, crawl_id, process)
        except Exception as exc:
            log.warning("could not record the process of crawl %s: %s", crawl_id, exc)

    def _end_now(self, crawl_id: str, reason: str) -> None:
        with self.db.transaction() as tx:
            crawl.end(tx, crawl_id, "FAILED", reason)
        self._wake()

    def _stop(self, crawl_id: str) -> None:
        process = self._running.get(crawl_id)
        if process and self._processes is not None:
            self._stopping.add(crawl_id)
            self._processes.cancel(process, grace=10.0)

    def _exit(self, process: str) -> None:
        """A crawl process ended (called on the process watcher's thread)."""
        with self._lock:
            self._exited.append(process)
        self._wake()

    def _forget(self, crawl_id: str) -> None:
        self._running.pop(crawl_id, None)
        self._stopping.discard(crawl_id)

    def close(self) -> None:
        """The orchestrator stops: its crawls end FAILED and their processes are stopped (a crawl
        is not adopted: the next one starts over, the catalog being as before this one)."""
        running = {cid: p for cid, p in self._running.items() if p}
        if running:
            try:
                with self.db.transaction() as tx:
                    for crawl_id in running:
                        crawl.end(tx, crawl_id, "FAILED", STOPPED)
            except errors.StoreError as exc:
                log.warning("could not end the crawls of this orchestrator: %s", exc)
        if self._processes is not None:
            for process in running.values():
                self._processes.cancel(process, grace=2.0)
            self._processes.close()
