"""Job runs: one row per attempt, with what it was started with and the deadlines that survive a restart.

A state change is ``UPDATE ... WHERE id = :id AND state IN (:allowed)`` and checks the row
count, so the database, not the code path, enforces the transition table of states.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from orchestrator import states
from orchestrator.store import tables
from orchestrator.store.database import Tx, now
from orchestrator.store.definitions import Definition
from orchestrator.store.definitions import row as definition_row

_J = states.JobRunState
ACTIVE = tuple(s.value for s in _J if s in states.JOB_RUN_ACTIVE)
# States that hold one of a job's MaxConcurrentRuns slots (WAITING runs are queued, not running).
OCCUPYING = tuple(s for s in ACTIVE if s != _J.WAITING.value)


@dataclasses.dataclass(frozen=True, slots=True)
class RunOptions:
    """What a run is started with, frozen at creation (a later UpdateJob does not change it)."""

    script: str | None = None
    python_version: str | None = None
    effective_arguments: dict[str, str] = dataclasses.field(default_factory=dict)
    timeout: float = 0.0  # seconds
    notify_delay_after: float | None = None  # seconds
    max_retries: int = 0
    retry_policy: dict[str, Any] | None = None
    worker_type: str | None = None
    number_of_workers: int | None = None
    max_capacity: float | None = None
    job_run_queuing_enabled: bool = False

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> RunOptions:
        return cls(**{k: v for k, v in (data or {}).items() if k in _OPTION_FIELDS})

    def to_json(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in _OPTION_FIELDS}


_OPTION_FIELDS = tuple(f.name for f in dataclasses.fields(RunOptions))
NO_OPTIONS = RunOptions()


@dataclasses.dataclass(frozen=True, slots=True)
class JobRun:
    """One job run attempt (the fields in the table's column order)."""

    id: str
    job_name: str
    workflow_run_id: str | None
    workflow_name: str | None
    trigger_name: str | None
    attempt: int
    previous_run_id: str | None
    state: str
    state_detail: str | None
    stop_reason: str | None  # STOPPED (asked) or TIMEOUT (the watchdog), while it is being stopped
    command: str
    arguments: dict[str, str]
    options: RunOptions
    predecessor_runs: list[dict[str, str]]
    error_message: str | None
    created_on: dt.datetime
    started_on: dt.datetime | None
    last_modified_on: dt.datetime
    completed_on: dt.datetime | None
    execution_time: int | None
    timeout: float | None
    not_before: dt.datetime | None  # a retry waits until then
    timeout_at: dt.datetime | None
    notify_at: dt.datetime | None
    notified_states: list[str]
    owner: str | None  # the orchestrator that starts and follows it
    engine_run_id: str | None
    chain_id: str | None  # the chain of standalone triggers that started it (Glue's chain rule)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def replace(self, **changes: Any) -> JobRun:
        return dataclasses.replace(self, **changes)


TERMINAL = frozenset(s.value for s in states.JOB_RUN_TERMINAL)
_t = tables.job_runs
_COLUMNS = tuple(c.name for c in _t.columns)
assert tuple(f.name for f in dataclasses.fields(JobRun)) == _COLUMNS, "JobRun must list the table's columns"
_OPTIONS_AT = _COLUMNS.index("options")


def _row(row: Sequence[Any]) -> JobRun:
    values = list(row)
    values[_OPTIONS_AT] = RunOptions.of(values[_OPTIONS_AT])
    return JobRun(*values)


def _params(run: JobRun) -> dict[str, Any]:
    values = {name: getattr(run, name) for name in _COLUMNS}
    values["options"] = run.options.to_json()
    return values


def new(
    *, id: str, job_name: str, state: str, command: str = "", created_on: dt.datetime | None = None,
    options: RunOptions = NO_OPTIONS, **values: Any,
) -> JobRun:
    """A run not yet written, with defaults for everything not given."""
    stamp = created_on or now()
    fields: dict[str, Any] = dict.fromkeys(_COLUMNS)
    fields.update(
        id=id, job_name=job_name, state=state, command=command, created_on=stamp, last_modified_on=stamp,
        options=options, attempt=0, arguments={}, predecessor_runs=[], notified_states=[],
    )
    fields.update(values)
    return JobRun(**fields)


_BP = sa.bindparam
_INSERT = sa.insert(_t)
_SELECT = sa.select(_t)
_GET = _SELECT.where(_t.c.id == _BP("_id"))
_GET_MANY = _SELECT.where(_t.c.id.in_(_BP("_ids", expanding=True)))
_UPDATE = sa.update(_t).where(_t.c.id == _BP("_id"))
_SET_STATE = _UPDATE.where(_t.c.state.in_(_BP("_allowed", expanding=True)))
_ALLOWED = {
    target.value: [s.value for s in states.allowed_from(states.JOB_RUN_TRANSITIONS, target)] for target in _J
}


def insert(tx: Tx, runs: Sequence[JobRun]) -> None:
    """Write new runs (one statement for many)."""
    if runs:
        tx.execute(_INSERT, [_params(r) for r in runs])


def get(tx: Tx, run_id: str) -> JobRun | None:
    row = tx.execute(_GET, {"_id": run_id}).first()
    return _row(row) if row else None


def get_many(tx: Tx, ids: Iterable[str]) -> dict[str, JobRun]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {row[0]: _row(row) for row in tx.execute(_GET_MANY, {"_ids": wanted})}


def set_state(tx: Tx, run_id: str, target: str, *, expect: Sequence[str] | None = None, **values: Any) -> bool:
    """Move a run to ``target`` if the transition table allows it from its current state (or
    from one of ``expect``); False when the row was not in such a state."""
    values.setdefault("last_modified_on", now())
    values["state"] = target
    params = {"_id": run_id, "_allowed": list(expect or _ALLOWED[target]), **values}
    return tx.execute(_SET_STATE, params).rowcount == 1


def update(tx: Tx, run_id: str, **values: Any) -> bool:
    values.setdefault("last_modified_on", now())
    return tx.execute(_UPDATE, {"_id": run_id, **values}).rowcount == 1


# --- admission ---------------------------------------------------------------------------------

_OCCUPIED = (
    sa.select(_t.c.job_name, sa.func.count())
    .where(_t.c.job_name.in_(_BP("_jobs", expanding=True)), _t.c.state.in_(OCCUPYING))
    .group_by(_t.c.job_name)
)


def occupied(tx: Tx, job_names: Iterable[str]) -> dict[str, int]:
    """How many MaxConcurrentRuns slots each job's runs hold now (absent: none)."""
    names = sorted(set(job_names))
    return dict(tx.execute(_OCCUPIED, {"_jobs": names}).all()) if names else {}


_jobs = tables.jobs
_ADMISSION = (
    sa.select(
        _jobs,
        sa.select(sa.func.count()).where(_t.c.job_name == _jobs.c.name, _t.c.state.in_(OCCUPYING))
        .correlate(_jobs).scalar_subquery().label("occupied"),
    )
    .where(_jobs.c.name.in_(_BP("_names", expanding=True)))
    .order_by(_jobs.c.name)
)
_LOCK_JOBS = (
    sa.select(_jobs.c.name).where(_jobs.c.name.in_(_BP("_names", expanding=True))).order_by(_jobs.c.name)
    .with_for_update()
)


def admission(tx: Tx, job_names: Iterable[str]) -> dict[str, tuple[Definition, int]]:
    """The definitions of jobs about to get runs, with how many MaxConcurrentRuns slots their
    runs hold now. On PostgreSQL the jobs are locked first, in name order (two lockers in that
    order never deadlock), and counted by a second statement: its snapshot, taken after the
    locks, sees the runs of whoever held them before (a count in the locking statement would
    not), so admission decisions on a job are serialised across processes."""
    names = sorted(set(job_names))
    if not names:
        return {}
    if tx.is_postgres:
        tx.execute(_LOCK_JOBS, {"_names": names})
    return {row.name: (definition_row("job", row), row.occupied) for row in tx.execute(_ADMISSION, {"_names": names})}


_QUEUED = _SELECT.where(
    _t.c.job_name == _BP("_job"), _t.c.state == _J.WAITING.value, _t.c.not_before.is_(None)
).order_by(_t.c.created_on)
_WAITING = _SELECT.where(_t.c.state == _J.WAITING.value).order_by(_t.c.created_on)


def queued(tx: Tx, job_name: str) -> list[JobRun]:
    """A job's runs waiting for a MaxConcurrentRuns slot, oldest first."""
    return [_row(r) for r in tx.execute(_QUEUED, {"_job": job_name})]


def waiting(tx: Tx) -> list[JobRun]:
    """Every WAITING run: queued for a slot, or a retry waiting for its delay."""
    return [_row(r) for r in tx.execute(_WAITING)]


# --- ownership ---------------------------------------------------------------------------------

_UNOWNED = (
    _SELECT.where(_t.c.state == _J.STARTING.value, _t.c.owner.is_(None))
    .order_by(_t.c.created_on).limit(_BP("_limit"))
)
_UNOWNED_IN_SCOPE = _UNOWNED.where(_t.c.workflow_run_id == _BP("_scope"))
_CLAIM = sa.update(_t).where(_t.c.id == _BP("_id"), _t.c.owner.is_(None), _t.c.state == _J.STARTING.value)


def claim_unowned(tx: Tx, owner: str, limit: int, scope: str | None = None) -> list[JobRun]:
    """Take up to ``limit`` STARTING runs that no orchestrator owns (of one workflow run with
    ``scope``), oldest first; a run another process claims first is skipped."""
    query = _UNOWNED_IN_SCOPE if scope else _UNOWNED
    taken = []
    for row in tx.execute(query, {"_scope": scope, "_limit": limit}):
        if tx.execute(_CLAIM, {"_id": row[0], "owner": owner}).rowcount:
            taken.append(_row(row).replace(owner=owner))
    return taken


_OWNED_IN_STATE = _SELECT.where(_t.c.state == _BP("_state"), _t.c.owner == _BP("_owner")).order_by(_t.c.created_on)


def owned_in_state(tx: Tx, owner: str, state: str) -> list[JobRun]:
    return [_row(r) for r in tx.execute(_OWNED_IN_STATE, {"_owner": owner, "_state": state})]


def orphans(tx: Tx, live_owners: Iterable[str], scope: str | None = None) -> list[JobRun]:
    """Active runs owned by an orchestrator that is not among ``live_owners``."""
    query = _SELECT.where(_t.c.state.in_(ACTIVE), _t.c.owner.is_not(None), _t.c.owner.not_in(list(live_owners)))
    if scope:
        query = query.where(_t.c.workflow_run_id == scope)
    return [_row(r) for r in tx.execute(query.order_by(_t.c.created_on))]


# --- reading -----------------------------------------------------------------------------------

_OF_WORKFLOW_RUN = _SELECT.where(_t.c.workflow_run_id == _BP("_run")).order_by(_t.c.created_on, _t.c.attempt)
_ACTIVE_OF_WORKFLOW_RUN = _OF_WORKFLOW_RUN.where(_t.c.state.in_(ACTIVE))


def of_workflow_run(tx: Tx, workflow_run_id: str, *, active: bool = False) -> list[JobRun]:
    """A workflow run's job runs in creation order (only the active ones with ``active``)."""
    query = _ACTIVE_OF_WORKFLOW_RUN if active else _OF_WORKFLOW_RUN
    return [_row(r) for r in tx.execute(query, {"_run": workflow_run_id})]


def with_prefix(tx: Tx, prefix: str, job_name: str | None = None, limit: int = 10) -> list[str]:
    """Run ids that start with ``prefix`` (a user's short id), of one job or any, at most ``limit``."""
    query = sa.select(_t.c.id).where(_t.c.id.startswith(prefix, autoescape=True))
    if job_name:
        query = query.where(_t.c.job_name == job_name)
    return list(tx.execute(query.order_by(_t.c.id).limit(limit)).scalars())


def of_job(tx: Tx, job_name: str, limit: int | None = 200, offset: int = 0) -> list[JobRun]:
    """A job's runs, newest first (as GetJobRuns returns them), from ``offset``."""
    query = _SELECT.where(_t.c.job_name == job_name).order_by(_t.c.created_on.desc(), _t.c.id.desc())
    query = query.limit(limit).offset(offset or None)
    return [_row(r) for r in tx.execute(query)]


# --- what the scheduler asks -------------------------------------------------------------------

_LATEST = (
    sa.select(_t.c.id, _t.c.job_name, _t.c.state)
    .where(_t.c.workflow_run_id == _BP("_run"), _t.c.job_name.in_(_BP("_jobs", expanding=True)))
    .order_by(_t.c.created_on, _t.c.attempt)
)
_JOBS_IN_STATES = sa.select(_t.c.job_name).distinct().where(
    _t.c.workflow_run_id == _BP("_run"),
    _t.c.job_name.in_(_BP("_jobs", expanding=True)),
    _t.c.state.in_(_BP("_states", expanding=True)),
)
_JOB_IN_STATES = sa.select(_t.c.id).where(
    _t.c.workflow_run_id == _BP("_run"), _t.c.job_name == _BP("_job"), _t.c.state.in_(_BP("_states", expanding=True))
).limit(1)
_ANY_ACTIVE = sa.select(_t.c.id).where(_t.c.workflow_run_id == _BP("_run"), _t.c.state.in_(ACTIVE)).limit(1)


def latest(tx: Tx, workflow_run_id: str, job_names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """The latest run of each job in a workflow run as (id, state); retries supersede attempts."""
    found: dict[str, tuple[str, str]] = {}
    names = sorted(set(job_names))
    if names:
        for run_id, job_name, state in tx.execute(_LATEST, {"_run": workflow_run_id, "_jobs": names}):
            found[job_name] = (run_id, state)
    return found


_LATEST_IN_CHAIN = (
    sa.select(_t.c.id, _t.c.job_name, _t.c.state)
    .where(_t.c.chain_id == _BP("_chain"), _t.c.job_name.in_(_BP("_jobs", expanding=True)))
    .order_by(_t.c.created_on, _t.c.attempt)
)


def latest_in_chain(tx: Tx, chain_id: str, job_names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``latest`` among the runs a chain of standalone triggers started."""
    names = sorted(set(job_names))
    rows = tx.execute(_LATEST_IN_CHAIN, {"_chain": chain_id, "_jobs": names}) if names else ()
    return {job_name: (run_id, state) for run_id, job_name, state in rows}


def jobs_in_states(tx: Tx, workflow_run_id: str, job_names: Iterable[str], wanted: Iterable[str]) -> set[str]:
    """Which of the jobs have a run in one of the ``wanted`` states in the workflow run."""
    params = {"_run": workflow_run_id, "_jobs": sorted(set(job_names)), "_states": sorted(set(wanted))}
    return set(tx.execute(_JOBS_IN_STATES, params).scalars())


def job_in_states(tx: Tx, workflow_run_id: str, job_name: str, wanted: Iterable[str]) -> bool:
    params = {"_run": workflow_run_id, "_job": job_name, "_states": sorted(set(wanted))}
    return tx.execute(_JOB_IN_STATES, params).first() is not None


def any_active(tx: Tx, workflow_run_id: str) -> bool:
    return tx.execute(_ANY_ACTIVE, {"_run": workflow_run_id}).first() is not None
