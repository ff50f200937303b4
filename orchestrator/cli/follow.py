"""``adhere logs -f``: a running job's log, printed as it grows, until the job run ends.

Engines give a run's log as it is now (stdout, then stderr), so following reads it again on
each poll and prints the lines it did not have before. Both streams grow at their ends, so the
lines read last time are always a subsequence of those read now; what the subsequence leaves
out is new.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.cli.commands import App

POLL = 0.25  # seconds between reads of the log and the run's state
_ENDED = {"SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR", "EXPIRED"}
_ACTIVE = {"RUNNING", "STOPPING"}  # a workflow run in which more job runs may still start


def job_run_logs(app: App, job_run_id: str, poll: float = POLL) -> str:
    """Print the job run's log, then its new lines, until the run has ended; returns its state."""
    from orchestrator.service import job_runs

    before: list[str] = []
    while True:
        # The state first: a log read after the run was seen ended holds all of it.
        state = job_runs.get_job_run(app.db, None, job_run_id)["JobRunState"]
        now = list(job_runs.get_job_run_logs(app.db, app.settings, job_run_id))
        for line in new_lines(before, now):
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        before = now
        if state in _ENDED:
            return state
        time.sleep(poll)


def node_job_run(app: App, run_id: str, node: str, attempt: int | None, poll: float = POLL) -> str:
    """The node's job run, waiting for it while the workflow run goes on and the node has not
    started yet (its trigger has not fired, or the attempt asked for is a retry to come)."""
    from orchestrator.service import lookup, workflow_runs

    while True:
        try:
            return lookup.node_job_run(app.db, run_id, node, attempt)
        except lookup.NotRunYet:
            if workflow_runs.workflow_run_status(app.db, run_id) not in _ACTIVE:
                raise
        time.sleep(poll)


def new_lines(before: Sequence[str], now: Sequence[str]) -> list[str]:
    """The lines of ``now`` that are not the (greedily matched) subsequence ``before``, in
    order. A line read while it was being written (``hel``, now ``hello``) is printed again
    whole, once."""
    out: list[str] = []
    i = 0
    for line in now:
        if i < len(before) and line == before[i]:
            i += 1
            continue
        if i < len(before) and before[i] and line.startswith(before[i]):
            i += 1  # the partial line, completed since
        out.append(line)
    return out
