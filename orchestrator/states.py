"""Run states and their allowed transitions, as data (Glue's JobRunState, CrawlState, WorkflowRunStatus).

Pure: no I/O. The store enforces the same table with conditional updates
(``UPDATE ... WHERE state IN allowed_from(target)``).
"""

from __future__ import annotations

import enum
from typing import TypeVar

S = TypeVar("S", bound=enum.StrEnum)


class JobRunState(enum.StrEnum):
    STARTING = "STARTING"
    WAITING = "WAITING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    ERROR = "ERROR"
    EXPIRED = "EXPIRED"


class CrawlState(enum.StrEnum):
    RUNNING = "RUNNING"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ERROR = "ERROR"


class WorkflowRunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    ERROR = "ERROR"


class TriggerState(enum.StrEnum):
    CREATING = "CREATING"
    CREATED = "CREATED"
    ACTIVATING = "ACTIVATING"
    ACTIVATED = "ACTIVATED"
    DEACTIVATING = "DEACTIVATING"
    DEACTIVATED = "DEACTIVATED"
    DELETING = "DELETING"
    UPDATING = "UPDATING"


class TriggerType(enum.StrEnum):
    SCHEDULED = "SCHEDULED"
    CONDITIONAL = "CONDITIONAL"
    ON_DEMAND = "ON_DEMAND"
    EVENT = "EVENT"


JOB_RUN_TERMINAL = frozenset(
    {
        JobRunState.STOPPED,
        JobRunState.SUCCEEDED,
        JobRunState.FAILED,
        JobRunState.TIMEOUT,
        JobRunState.ERROR,
        JobRunState.EXPIRED,
    }
)
JOB_RUN_ACTIVE = frozenset(set(JobRunState) - JOB_RUN_TERMINAL)
CRAWL_TERMINAL = frozenset(
    {CrawlState.CANCELLED, CrawlState.SUCCEEDED, CrawlState.FAILED, CrawlState.ERROR}
)
WORKFLOW_RUN_TERMINAL = frozenset(
    {WorkflowRunStatus.COMPLETED, WorkflowRunStatus.STOPPED, WorkflowRunStatus.ERROR}
)

# States a trigger condition may name (botocore: Condition.State / Condition.CrawlState; Glue's
# console and API reject the others for predicates).
JOB_CONDITION_STATES = frozenset(
    {JobRunState.SUCCEEDED, JobRunState.STOPPED, JobRunState.FAILED, JobRunState.TIMEOUT}
)
CRAWL_CONDITION_STATES = frozenset({CrawlState.SUCCEEDED, CrawlState.FAILED, CrawlState.CANCELLED})

_J = JobRunState
JOB_RUN_TRANSITIONS: dict[JobRunState, frozenset[JobRunState]] = {
    _J.STARTING: frozenset(
        {_J.WAITING, _J.RUNNING, _J.STOPPING, _J.STOPPED, _J.FAILED, _J.TIMEOUT, _J.ERROR}
    ),
    _J.WAITING: frozenset(
        {_J.STARTING, _J.RUNNING, _J.STOPPING, _J.STOPPED, _J.FAILED, _J.TIMEOUT, _J.ERROR, _J.EXPIRED}
    ),
    _J.RUNNING: frozenset({_J.STOPPING, _J.SUCCEEDED, _J.FAILED, _J.TIMEOUT, _J.ERROR}),
    # A run asked to stop may still finish on its own before the stop lands.
    _J.STOPPING: frozenset({_J.STOPPED, _J.SUCCEEDED, _J.FAILED, _J.TIMEOUT, _J.ERROR}),
    **{s: frozenset() for s in JOB_RUN_TERMINAL},
}

_C = CrawlState
CRAWL_TRANSITIONS: dict[CrawlState, frozenset[CrawlState]] = {
    _C.RUNNING: frozenset({_C.CANCELLING, _C.SUCCEEDED, _C.FAILED, _C.ERROR}),
    _C.CANCELLING: frozenset({_C.CANCELLED, _C.SUCCEEDED, _C.FAILED, _C.ERROR}),
    **{s: frozenset() for s in CRAWL_TERMINAL},
}

_W = WorkflowRunStatus
WORKFLOW_RUN_TRANSITIONS: dict[WorkflowRunStatus, frozenset[WorkflowRunStatus]] = {
    _W.RUNNING: frozenset({_W.COMPLETED, _W.STOPPING, _W.ERROR}),
    _W.STOPPING: frozenset({_W.STOPPED}),
    **{s: frozenset() for s in WORKFLOW_RUN_TERMINAL},
}


class IllegalTransition(ValueError):
    """A run was asked to move to a state its current state does not lead to."""


def transition(table: dict[S, frozenset[S]], current: S, target: S) -> S:
    """Return ``target`` when the table allows ``current -> target``, else raise."""
    if target not in table[current]:
        raise IllegalTransition(f"{current} -> {target}")
    return target


def allowed_from(table: dict[S, frozenset[S]], target: S) -> frozenset[S]:
    """States from which ``target`` may be reached: the WHERE clause of a conditional update."""
    return frozenset(s for s, nxt in table.items() if target in nxt)
