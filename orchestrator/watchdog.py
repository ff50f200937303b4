"""The watchdog: deadlines (timeouts, delay notifications, retries due) in a heap.

Deadlines are stored with each run; this heap is only an index rebuilt from the store at
start, so the loop sleeps until the next deadline instead of scanning every run each tick.
Entries are checked against the store when they fall due, so a stale entry is harmless.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Iterator

TIMEOUT = "timeout"
NOTIFY = "notify"
RETRY = "retry"


class Watchdog:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, when: dt.datetime | None, kind: str, job_run_id: str) -> None:
        if when is not None:
            heapq.heappush(self._heap, (when.timestamp(), next(self._seq), kind, job_run_id))

    def next_due(self) -> float | None:
        """Epoch seconds of the earliest deadline, or None."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> Iterator[tuple[str, str]]:
        """Yield ``(kind, job_run_id)`` for every deadline at or before ``now``."""
        while self._heap and self._heap[0][0] <= now:
            _, _, kind, run_id = heapq.heappop(self._heap)
            yield kind, run_id
