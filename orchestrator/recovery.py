"""The recovery duty: this orchestrator's heartbeat, and the runs of orchestrators that died.

A run owned by a dead orchestrator is adopted when its process can still be followed (its
engine run id is recorded, in the store or in its run folder), queued again when it was never
handed to an engine, and failed with a clear message otherwise: no run stays RUNNING for ever.
"""

from __future__ import annotations

import datetime as dt
import os
import socket

from orchestrator import crawl, job_run, store
from orchestrator import dispatcher as dp
from orchestrator import effects as fx
from orchestrator.effects import Effects
from orchestrator.settings import Settings
from orchestrator.states import JobRunState
from orchestrator.store.job_runs import JobRun
from orchestrator.store.orchestrators import Orchestrator

_J = JobRunState
HEARTBEAT_EVERY = 2.0
DEAD_AFTER = 15.0
LOST_WHILE_STARTING = "the orchestrator was lost while starting this run"
LOST_CRAWL = "the orchestrator running this crawl stopped; the Data Catalog is as before the crawl"


class Recovery:
    def __init__(self, owner: str, settings: Settings, dispatcher: dp.Dispatcher, scope: str | None = None) -> None:
        self.owner = owner
        self.settings = settings
        self.dispatcher = dispatcher
        self.scope = scope
        self._next_beat = 0.0
        self._next_check = 0.0

    def step(self, tx: store.Tx, now: dt.datetime, effects: Effects) -> None:
        moment = now.timestamp()
        if moment >= self._next_beat:
            store.orchestrators.heartbeat(tx, self.owner)
            effects.after.append(lambda: setattr(self, "_next_beat", moment + HEARTBEAT_EVERY))
        if moment >= self._next_check:
            self.reconcile(tx, now, effects)
            effects.after.append(lambda: setattr(self, "_next_check", moment + DEAD_AFTER / 3))

    def reconcile(self, tx: store.Tx, now: dt.datetime, effects: Effects) -> None:
        """Forget dead orchestrators; adopt, queue again or fail the active runs they owned."""
        live = []
        for orch in store.orchestrators.find(tx):
            if orch.id != self.owner and dead(orch, now):
                store.orchestrators.unregister(tx, orch.id)
            else:
                live.append(orch.id)
        for run in store.job_runs.orphans(tx, live, self.scope):
            self._recover(tx, run, effects)
        for c in store.crawls.orphans(tx, live):  # its process, if alive, finds it ended and writes nothing
            crawl.end(tx, c.id, "FAILED", LOST_CRAWL)

    def _recover(self, tx: store.Tx, run: JobRun, effects: Effects) -> None:
        if not run.engine_run_id:
            # Reserved but not recorded as started: adopt it if the engine accepted it (its id is
            # in the run folder), queue it again if the engine was never called (no run folder),
            # and fail it otherwise (it may have started, unseen).
            run_dir = self.settings.logs_dir / run.id
            recorded = run_dir / dp.ENGINE_RUN_ID_FILE
            if run.state in (_J.STARTING.value, _J.STOPPING.value) and recorded.exists():
                started = run.started_on or store.now()
                delay = run.options.notify_delay_after  # the deadlines the dispatcher would have set
                run = run.replace(engine_run_id=recorded.read_text().strip(), started_on=started,
                                  timeout_at=job_run.deadline(started, run.options.timeout),
                                  notify_at=started + dt.timedelta(seconds=delay) if delay else None)
                store.job_runs.update(tx, run.id, engine_run_id=run.engine_run_id)
                store.job_runs.set_state(tx, run.id, _J.RUNNING.value, expect=[_J.STARTING.value],
                                         started_on=started, timeout_at=run.timeout_at, notify_at=run.notify_at)
            elif run.state == _J.STARTING.value and not run_dir.exists():
                store.job_runs.update(tx, run.id, owner=None)  # never handed to an engine: queue it again
                effects.unowned = True
                return
            else:
                self.dispatcher.finish(tx, run, _J.FAILED, LOST_WHILE_STARTING, effects)
                return
        store.job_runs.update(tx, run.id, owner=self.owner)
        effects.adopt.append(run.replace(owner=self.owner))
        effects.watch(run.timeout_at, fx.TIMEOUT, run.id)
        effects.watch(run.notify_at, fx.NOTIFY, run.id)
        if run.stop_reason or run.state == _J.STOPPING.value:
            effects.cancel.append(run.id)


def dead(orch: Orchestrator, now: dt.datetime) -> bool:
    """No heartbeat for DEAD_AFTER seconds, or (on this host) no such process."""
    if orch.host == socket.gethostname():
        try:
            os.kill(orch.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    return (now - orch.heartbeat_on).total_seconds() > DEAD_AFTER
