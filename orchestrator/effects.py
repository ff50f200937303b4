"""What one wake-up of the loop does once its transaction has committed.

The loop's duties decide from the rows, inside the transaction, and add here what must happen
outside it: processes to start, adopt or signal, events to publish, deadlines to watch, and
their own in-memory bookkeeping. Nothing is applied before the commit, so a failed commit
leaves no in-memory state to undo: the next wake-up decides again from the same rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.store.job_runs import JobRun

TIMEOUT = "timeout"
NOTIFY = "notify"
RETRY = "retry"


@dataclasses.dataclass
class Effects:
    start: list[JobRun] = dataclasses.field(default_factory=list)  # owned STARTING runs to submit
    adopt: list[JobRun] = dataclasses.field(default_factory=list)  # runs of a dead orchestrator, now ours
    cancel: list[str] = dataclasses.field(default_factory=list)  # job run ids: TERM, KILL after the grace
    publish: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # EventBridge events
    deadlines: list[tuple[dt.datetime, str, str]] = dataclasses.field(default_factory=list)  # (when, kind, run)
    ended: set[str] = dataclasses.field(default_factory=set)  # job run ids this wake-up ended
    ended_workflow_runs: list[str] = dataclasses.field(default_factory=list)
    unowned: bool = False  # STARTING runs were written that no orchestrator owns yet
    after: list[Callable[[], None]] = dataclasses.field(default_factory=list)  # the duties' bookkeeping

    def watch(self, when: dt.datetime | None, kind: str, job_run_id: str) -> None:
        if when is not None:
            self.deadlines.append((when, kind, job_run_id))
