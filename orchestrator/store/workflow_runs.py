"""Workflow runs: status, run properties, and the trigger graph each run started with."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from orchestrator import states
from orchestrator.store import tables
from orchestrator.store.database import Tx, values

_t = tables.workflow_runs
ACTIVE = (states.WorkflowRunStatus.RUNNING.value, states.WorkflowRunStatus.STOPPING.value)


@dataclasses.dataclass(frozen=True, slots=True)
class WorkflowRun:
    """One workflow run (the fields in the table's column order)."""

    id: str
    workflow_name: str
    name: str | None
    status: str
    previous_run_id: str | None
    started_on: dt.datetime
    completed_on: dt.datetime | None
    error_message: str | None
    run_properties: dict[str, str]
    # The workflow's triggers (Glue Trigger dicts with adhere's actions) when the run started.
    triggers: list[dict[str, Any]]
    starting_event_batch_condition: dict[str, int] | None = None  # Glue's, when a batch started it


@dataclasses.dataclass(frozen=True, slots=True)
class Header:
    """What evaluating a run's triggers needs besides its snapshot."""

    id: str
    workflow_name: str
    status: str
    previous_run_id: str | None  # set on a resumed run


_COLUMNS = tuple(c.name for c in _t.columns)
assert tuple(f.name for f in dataclasses.fields(WorkflowRun)) == _COLUMNS, "WorkflowRun must list the table's columns"
_BP = sa.bindparam
_SELECT = sa.select(_t)
_GET = _SELECT.where(_t.c.id == _BP("_id"))
_GET_LOCKED = _GET.with_for_update()
_HEADERS = sa.select(_t.c.id, _t.c.workflow_name, _t.c.status, _t.c.previous_run_id).where(
    _t.c.id.in_(_BP("_ids", expanding=True))
).order_by(_t.c.id)
_HEADERS_LOCKED = _HEADERS.with_for_update()
_TRIGGERS = sa.select(_t.c.triggers).where(_t.c.id == _BP("_id"))
_STATUS = sa.select(_t.c.status).where(_t.c.id == _BP("_id"))
_UPDATE = sa.update(_t).where(_t.c.id == _BP("_id"))
_SET_STATUS = _UPDATE.where(_t.c.status.in_(_BP("_allowed", expanding=True)))
_ALLOWED = {
    target.value: [s.value for s in states.allowed_from(states.WORKFLOW_RUN_TRANSITIONS, target)]
    for target in states.WorkflowRunStatus
}


def insert(tx: Tx, run: WorkflowRun) -> None:
    tx.execute(sa.insert(_t), values(run))


def get(tx: Tx, run_id: str, *, lock: bool = False) -> WorkflowRun | None:
    """One run; ``lock`` holds its row until the transaction ends (PostgreSQL; SQLite's writer
    lock already serialises)."""
    row = tx.execute(_GET_LOCKED if lock and tx.is_postgres else _GET, {"_id": run_id}).first()
    return WorkflowRun(*row) if row else None


def headers(tx: Tx, run_ids: Iterable[str]) -> dict[str, Header]:
    """Several runs' headers in one query, locked in id order on PostgreSQL (lockers in that
    order never deadlock; SQLite's writer lock already serialises)."""
    wanted = sorted(set(run_ids))
    if not wanted:
        return {}
    query = _HEADERS_LOCKED if tx.is_postgres else _HEADERS
    return {row[0]: Header(*row) for row in tx.execute(query, {"_ids": wanted})}


def triggers(tx: Tx, run_id: str) -> list[dict[str, Any]]:
    return tx.execute(_TRIGGERS, {"_id": run_id}).scalar_one()


def status(tx: Tx, run_id: str) -> str | None:
    return tx.execute(_STATUS, {"_id": run_id}).scalar()


def find(tx: Tx, workflow_name: str | None = None, limit: int | None = 100, *, status: str | None = None,
         since: dt.datetime | None = None, offset: int = 0) -> list[WorkflowRun]:
    """Runs newest first, of one workflow or all (in a status, started since a time), from ``offset``."""
    query = _SELECT.order_by(_t.c.started_on.desc(), _t.c.id)
    if workflow_name:
        query = query.where(_t.c.workflow_name == workflow_name)
    if status:
        query = query.where(_t.c.status == status)
    if since:
        query = query.where(_t.c.started_on >= since)
    if limit:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    return [WorkflowRun(*row) for row in tx.execute(query)]


def resumed_from(tx: Tx, run_ids: Iterable[str]) -> list[WorkflowRun]:
    """The runs that resume any of ``run_ids`` (their PreviousRunId), oldest first."""
    wanted = sorted(set(run_ids))
    if not wanted:
        return []
    query = _SELECT.where(_t.c.previous_run_id.in_(wanted)).order_by(_t.c.started_on, _t.c.id)
    return [WorkflowRun(*row) for row in tx.execute(query)]


def with_prefix(tx: Tx, prefix: str, limit: int = 10) -> list[str]:
    """Run ids that start with ``prefix`` (a user's short id), at most ``limit``."""
    query = sa.select(_t.c.id).where(_t.c.id.startswith(prefix, autoescape=True)).order_by(_t.c.id).limit(limit)
    return list(tx.execute(query).scalars())


def count_active(tx: Tx, workflow_name: str) -> int:
    """RUNNING and STOPPING runs of a workflow (what its MaxConcurrentRuns counts)."""
    query = sa.select(sa.func.count()).where(_t.c.workflow_name == workflow_name, _t.c.status.in_(ACTIVE))
    return int(tx.execute(query).scalar_one())


def set_status(tx: Tx, run_id: str, target: str, **values: Any) -> bool:
    """Move a run to ``target`` if the transition table allows it; False otherwise."""
    params = {"_id": run_id, "_allowed": _ALLOWED[target], "status": target, **values}
    return tx.execute(_SET_STATUS, params).rowcount == 1


def merge_properties(tx: Tx, run_id: str, properties: Mapping[str, str]) -> WorkflowRun | None:
    """Upsert run properties under the run's row lock: concurrent writers (jobs, the CLI, the
    API) never lose each other's keys. Returns the run as it was before, or None."""
    run = get(tx, run_id, lock=True)
    if run is not None:
        merged = {**run.run_properties, **{str(k): str(v) for k, v in properties.items()}}
        tx.execute(_UPDATE, {"_id": run_id, "run_properties": merged})
    return run
