"""The upkeep duty, on the poll tick: stops asked of this process's runs, queued runs promoted as
MaxConcurrentRuns slots free up, and retries whose delay has passed.

Stop requests and promotions are written by other processes too (the CLI, the API): this is
where the runs they concern are picked up.
"""

from __future__ import annotations

import datetime as dt

from orchestrator import dispatcher as dp
from orchestrator import job_run, store, watchdog
from orchestrator.effects import Effects
from orchestrator.states import JobRunState

_J = JobRunState


class Upkeep:
    def __init__(self, owner: str, dispatcher: dp.Dispatcher) -> None:
        self.owner = owner
        self.dispatcher = dispatcher
        self.tick = False  # the loop sets it on its poll tick

    def step(self, tx: store.Tx, now: dt.datetime, effects: Effects) -> None:
        if not self.tick:
            return
        for run in store.job_runs.owned_in_state(tx, self.owner, _J.STOPPING.value):
            if run.engine_run_id:
                effects.cancel.append(run.id)
                if run.notified_states:  # already late when stopped: one event for STOPPING too
                    watchdog.delay_notice(tx, run, effects)
            else:  # stopped before it was started
                self.dispatcher.finish(tx, run, _J.STOPPED, None, effects)
        waiting = store.job_runs.waiting(tx)
        for job_name in sorted({run.job_name for run in waiting if run.not_before is None}):
            if job_run.promote_waiting(tx, job_name):  # queued for a MaxConcurrentRuns slot
                effects.unowned = True
        for run in waiting:
            if run.not_before is not None and run.not_before <= now and store.job_runs.set_state(
                tx, run.id, _J.STARTING.value, expect=[_J.WAITING.value], state_detail=None
            ):  # a retry now due
                effects.unowned = True
