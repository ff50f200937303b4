"""The deliveries duty: every notification is recorded with the change that causes it, published
to the sinks after the commit, and how each sink's delivery ended is written on the poll tick.

Sinks report on their own threads; their outcomes wait here (never waking the loop) and are
written together, a statement per tick rather than per job.
"""

from __future__ import annotations

import collections
import datetime as dt
from typing import Any

from orchestrator import store
from orchestrator.effects import Effects
from orchestrator.store.notifications import Notification

_KNOWN = 10_000  # deliveries remembered of the notifications published here


def record(tx: store.Tx, event: dict[str, Any], job_name: str | None, job_run_id: str | None,
           effects: Effects) -> None:
    """Record an EventBridge event in the same transaction as its cause; publish it after."""
    detail = event.get("detail") or {}
    store.notifications.insert(tx, Notification(
        event["id"], event["detail-type"], job_name, job_run_id, detail.get("state"), store.now(), event, {}
    ))  # fmt: skip
    effects.publish.append(event)


class Deliveries:
    def __init__(self) -> None:
        self._outcomes: collections.deque[tuple[str, str, dict[str, Any]]] = collections.deque()
        # Deliveries of the notifications published here, newest last (saves reading them back).
        self._known: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self.tick = False  # the loop sets it on its poll tick

    def delivered(self, event_id: str, sink: str, ok: bool, error: str | None) -> None:
        """A sink's outcome (called on the sink's thread)."""
        self._outcomes.append((event_id, sink, {"ok": ok, "error": error}))

    def published(self, event: dict[str, Any]) -> None:
        self._known[event["id"]] = {}
        if len(self._known) > _KNOWN:
            self._known.popitem(last=False)  # an old one's outcomes are merged from the store

    def step(self, tx: store.Tx, now: dt.datetime, effects: Effects) -> None:
        if not (self.tick and self._outcomes):
            return
        taken = list(self._outcomes)  # the deque only grows at its right meanwhile
        store.notifications.record_deliveries(tx, taken, self._known)
        effects.after.append(lambda: [self._outcomes.popleft() for _ in taken])

    def flush(self, tx: store.Tx) -> None:
        """Write every outcome now (the loop's last transaction)."""
        self.tick = True
        self.step(tx, store.now(), Effects())
        self._outcomes.clear()
