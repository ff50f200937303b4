"""The watchdog duty: timeouts (TIMEOUT after TERM, then KILL), delay notifications, retries due.

Deadlines are stored with each run; the heap here is only an index of them, so that the loop
sleeps until the next one instead of scanning every run each tick. An entry is checked against
the store when it falls due (a stale one is harmless) and leaves the heap only once the
transaction that acted on it has committed.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Iterable

from orchestrator import deliveries, events, store
from orchestrator import effects as fx
from orchestrator.effects import Effects
from orchestrator.states import JobRunState
from orchestrator.store.job_runs import JobRun

_J = JobRunState
_LATE = frozenset({_J.STARTING.value, _J.RUNNING.value, _J.STOPPING.value})


class Watchdog:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, deadlines: Iterable[tuple[dt.datetime, str, str]]) -> None:
        for when, kind, job_run_id in deadlines:
            heapq.heappush(self._heap, (when.timestamp(), next(self._seq), kind, job_run_id))

    def next_due(self) -> float | None:
        """Epoch seconds of the earliest deadline, or None."""
        return self._heap[0][0] if self._heap else None

    def step(self, tx: store.Tx, now: dt.datetime, effects: Effects) -> None:
        stamp = now.timestamp()
        if not self._heap or self._heap[0][0] > stamp:
            return
        due = [entry for entry in self._heap if entry[0] <= stamp]
        runs = store.job_runs.get_many(tx, (run_id for *_, run_id in due))  # one query for many
        for _, _, kind, run_id in sorted(due):
            run = runs.get(run_id)
            if run is None or run.terminal:
                continue
            if kind == fx.TIMEOUT and run.state in (_J.RUNNING.value, _J.STARTING.value):
                store.job_runs.update(tx, run_id, stop_reason=_J.TIMEOUT.value)
                effects.cancel.append(run_id)
            elif kind == fx.NOTIFY and (notified := delay_notice(tx, run, effects)):
                runs[run_id] = notified  # a second entry for this run sees it
            elif kind == fx.RETRY and run.state == _J.WAITING.value:
                effects.unowned |= store.job_runs.set_state(
                    tx, run_id, _J.STARTING.value, expect=[_J.WAITING.value], state_detail=None
                )
        effects.after.append(lambda: self._remove(due))

    def _remove(self, entries: list[tuple[float, int, str, str]]) -> None:
        gone = set(entries)
        self._heap = [entry for entry in self._heap if entry not in gone]
        heapq.heapify(self._heap)


def delay_notice(tx: store.Tx, run: JobRun, effects: Effects) -> JobRun | None:
    """One "Glue Job Run Status" event per status a late run is seen in; the run as it is now
    recorded, or None when there was nothing to announce."""
    if run.state not in _LATE or run.state in run.notified_states:
        return None
    started = run.started_on or run.created_on
    event = events.job_run_status(run.job_name, run.id, run.state, started_on=started,
                                  notify_delay_after=run.options.notify_delay_after or 0, time=store.now())
    notified = [*run.notified_states, run.state]
    store.job_runs.update(tx, run.id, notified_states=notified)
    deliveries.record(tx, event, run.job_name, run.id, effects)
    return run.replace(notified_states=notified)
