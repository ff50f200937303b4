"""The event batches duty: starts a workflow run when an EVENT trigger's batch is full or its
window has expired (Glue's EventBatchingCondition).

The window opens with the oldest event waiting for the trigger. A batch is taken under the
trigger's row lock, so of several serves one takes each batch; the run records the condition
that fired it (``StartingEventBatchCondition``: the non-zero member) and the batch's event ids
as ``aws:eventIds``, and its events are CONSUMED by it in the same transaction. A workflow at
its MaxConcurrentRuns gets an ERROR run and the events are DROPPED with that reason, as Glue
records it, unless the trigger asks to wait for a run slot (``WaitForRunSlot``).
"""

from __future__ import annotations

import collections
import datetime as dt
import logging

from orchestrator import intake, store, trigger, workflow_run
from orchestrator.effects import Effects
from orchestrator.store.received_events import CONSUMED, DROPPED

log = logging.getLogger(__name__)
DEFAULT_SIZE, DEFAULT_WINDOW = 1, 900  # seconds; Glue's BatchWindow default
RETRY = 1.0  # seconds before a batch waiting for a run slot is looked at again
READ = 5000  # waiting events read at a time (whole batches)
# Runs started by one wake-up: a backlog of full batches is fired over a few wake-ups in a row,
# so that no transaction of the loop keeps the store (SQLite's write lock) for long, and the
# first runs' jobs start while the rest are fired.
MAX_RUNS = 25


def event_ids(ids: list[str]) -> str:
    """``aws:eventIds`` in Glue's bracketed form, which scripts strip with ``[1:-1]``."""
    return "[" + ", ".join(ids) + "]"


class EventBatches:
    def __init__(self) -> None:
        self.tick = True  # look at the open batches (the loop sets it when woken or on its tick)
        self._next_due: dt.datetime | None = None
        self._left = MAX_RUNS  # runs this step may still start

    def next_due(self) -> float | None:
        return self._next_due.timestamp() if self._next_due else None

    def due(self, now: float) -> bool:
        return self._next_due is not None and self._next_due.timestamp() <= now

    def step(self, tx: store.Tx, now: dt.datetime, effects: Effects) -> None:
        if not (self.tick or self.due(now.timestamp())):
            return
        next_due: dt.datetime | None = None
        self._left = MAX_RUNS
        open_batches = store.received_events.waiting_all(tx)
        rows = store.definitions.get_many(tx, "trigger", [b.trigger_name for b in open_batches])
        for batch in open_batches:
            row = rows.get(batch.trigger_name)
            if row is None or row.state not in ("ACTIVATED", "ACTIVATING"):
                why = (
                    "trigger deleted"
                    if row is None
                    else intake.not_activated(row.name, row.state or "CREATED")
                )
                store.received_events.drop_waiting(tx, batch.trigger_name, why)
                continue
            size, window = _condition(row.spec)
            closes = batch.oldest + dt.timedelta(seconds=window)
            if batch.count < size and now < closes:
                next_due = min(next_due or closes, closes)
                continue
            if self._left <= 0:  # the rest at the next wake-up, at once
                next_due = now
            elif not self._fire(tx, row, size, window, now, effects):
                retry = now + dt.timedelta(seconds=RETRY)
                next_due = min(next_due or retry, retry)
            elif self._left <= 0:
                next_due = now
        self._next_due = next_due

    def _fire(
        self,
        tx: store.Tx,
        row: store.definitions.Definition,
        size: int,
        window: int,
        now: dt.datetime,
        effects: Effects,
    ) -> bool:
        """Start a run for each batch that is ready, up to the runs left to this step; False when
        one waits for a run slot."""
        store.definitions.get(tx, "trigger", row.name, lock=True)  # one serve takes each batch
        # The waiting events are read oldest first, many batches at a time: the backlog is
        # gone over once, not once per batch.
        limit = size * max(1, min(self._left, READ // size))
        pending: collections.deque[store.received_events.Pending] = collections.deque()
        more = True  # whether events may wait beyond those read
        while self._left > 0:
            if more and len(pending) < size:
                pending = collections.deque(store.received_events.oldest(tx, row.name, limit))
                more = len(pending) == limit
            if not pending:
                return True
            full = len(pending) >= size
            if not full and now < pending[0].received_on + dt.timedelta(seconds=window):
                return True  # what is left waits for its own window
            if (
                row.spec.get("wait_for_run_slot")
                and row.workflow_name
                and _at_limit(tx, row.workflow_name)
            ):
                return False
            self._left -= 1
            taken = [pending.popleft() for _ in range(min(size, len(pending)))]
            ids = [p.id for p in taken]
            condition = (
                {"BatchSize": size, "BatchWindow": 0}
                if full
                else {"BatchSize": 0, "BatchWindow": window}
            )
            run = trigger.start_workflow(tx, row, {"aws:eventIds": event_ids(ids)}, condition)
            seqs = [p.seq for p in taken]
            if run.status == "ERROR":
                store.received_events.settle(
                    tx,
                    row.name,
                    seqs,
                    DROPPED,
                    workflow_run_id=run.id,
                    reason=f"run refused: {run.error_message}",
                )
            else:
                store.received_events.settle(tx, row.name, seqs, CONSUMED, workflow_run_id=run.id)
            log.info(
                "event batch fired",
                extra={
                    "trigger": row.name,
                    "workflow_run_id": run.id,
                    "events": len(ids),
                    "condition": condition,
                },
            )
        return True


def _condition(spec: dict) -> tuple[int, int]:
    cond = spec.get("event_batching_condition") or {}
    return int(cond.get("batch_size") or DEFAULT_SIZE), int(
        cond.get("batch_window") or DEFAULT_WINDOW
    )


def _at_limit(tx: store.Tx, workflow_name: str) -> bool:
    wf = store.definitions.get(tx, "workflow", workflow_name)
    return wf is not None and workflow_run.at_limit(tx, wf)
