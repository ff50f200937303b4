"""The scheduler: consumes outbox events and fires triggers, each at most once per workflow run.

One pass is one transaction: claim events, evaluate the triggers that watch the nodes those
events concern, record firings (the unique key makes a second firing a no-op), create the
job runs of their actions, mark the events processed, and complete runs with nothing left
to do. A crash anywhere in a pass rolls all of it back, so nothing fires twice and no
completion is lost.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from orchestrator import definitions, job_run, models, predicates, store
from orchestrator.states import JOB_RUN_ACTIVE, JOB_RUN_TERMINAL, TriggerType, WorkflowRunStatus

WORKFLOW_RUN_STARTED = "WORKFLOW_RUN_STARTED"
WORKFLOW_RUN_STOPPING = "WORKFLOW_RUN_STOPPING"
WORKFLOW_RUN_ENDED = "WORKFLOW_RUN_ENDED"
_ACTIVE = [s.value for s in JOB_RUN_ACTIVE]
_TERMINAL = frozenset(s.value for s in JOB_RUN_TERMINAL)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The trigger graph a workflow run started with, indexed for evaluation (immutable, cacheable)."""

    start: tuple[dict[str, Any], ...]
    conditional: tuple[dict[str, Any], ...]
    watchers: Mapping[tuple[str, str], tuple[str, ...]]
    predicates: Mapping[str, definitions.Predicate]
    watched: Mapping[str, frozenset[tuple[str, str]]]

    @classmethod
    def of(cls, triggers: Sequence[Mapping[str, Any]]) -> Snapshot:
        start, conditional, preds = [], [], {}
        watchers: dict[tuple[str, str], list[str]] = defaultdict(list)
        for trig in triggers:
            if trig["Type"] == TriggerType.CONDITIONAL.value:
                if trig.get("State") != "ACTIVATED":
                    continue
                pred = definitions.Predicate.model_validate(trig["Predicate"])
                preds[trig["Name"]] = pred
                conditional.append(dict(trig))
                for node in predicates.watched_nodes(pred):
                    watchers[node].append(trig["Name"])
            else:
                start.append(dict(trig))
        watched = {name: frozenset(predicates.watched_nodes(pred)) for name, pred in preds.items()}
        return cls(tuple(start), tuple(conditional), {k: tuple(v) for k, v in watchers.items()}, preds, watched)

    def trigger(self, name: str) -> dict[str, Any]:
        return next(t for t in self.conditional if t["Name"] == name)


@dataclasses.dataclass
class PassResult:
    created: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    events: int = 0
    # New events were written in this pass (runs that ended at once): run another pass.
    more: bool = False
    # Runs were created that no process owns yet (no free slot here).
    unowned: bool = False
    ended_runs: list[str] = dataclasses.field(default_factory=list)


class Scheduler:
    """Evaluates triggers; the only writer of firings. ``take(command)`` says whether the local
    dispatcher will start a new run itself, so it is claimed in the same transaction."""

    def __init__(
        self,
        owner: str,
        take: Callable[[str], bool] | None = None,
        active_here: Callable[[str], bool] | None = None,
    ) -> None:
        self.owner = owner
        self.take = take or (lambda _command: False)
        # True when this process itself runs an active job run of that workflow run: then the
        # run cannot be complete, and the store need not be asked.
        self.active_here = active_here or (lambda _run_id: False)
        self._snapshots: dict[str, Snapshot] = {}
        # Per workflow run, per AND trigger: a watched job last seen without a wanted run (a hint
        # for _cannot_hold, checked against the store each time; never trusted on its own).
        self._witnesses: dict[str, dict[str, str]] = defaultdict(dict)

    def run_pass(
        self, tx: store.Tx, scope: str | None = None, local: Sequence[Mapping[str, Any]] = (), claim: bool = True
    ) -> PassResult:
        """One pass over ``local`` events (written consumed in this transaction by the caller)
        and, with ``claim``, the unprocessed events in the store."""
        result = PassResult()
        claimed = store.claim_events(tx, scope=scope) if claim else []
        events = [*local, *claimed]
        if not events:
            return result
        result.events = len(claimed)
        by_run: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for event in events:
            if event["workflow_run_id"]:
                by_run[event["workflow_run_id"]].append(event)
        store.mark_events_processed(tx, [e["id"] for e in claimed])
        if tx.dialect.name == "postgresql":
            # Lock every run first, in id order: a pass then never waits for a run while holding
            # job rows (job_run.create locks them), so two schedulers cannot deadlock.
            for run_id in sorted(by_run):
                _run_header(tx, run_id)
        for run_id, run_events in by_run.items():
            self._evaluate(tx, run_id, run_events, result)
        return result

    def _snapshot(self, tx: store.Tx, run_id: str) -> Snapshot:
        snap = self._snapshots.get(run_id)
        if snap is None:
            triggers = tx.execute(_RUN_TRIGGERS, {"_id": run_id}).scalar_one()
            snap = self._snapshots[run_id] = Snapshot.of(triggers)
        return snap

    def _evaluate(self, tx: store.Tx, run_id: str, events: Sequence[Mapping[str, Any]], result: PassResult) -> None:
        run = _run_header(tx, run_id)
        if run is None:
            return
        status = WorkflowRunStatus(run["status"])
        if status is WorkflowRunStatus.STOPPING:
            stopped = not _has_active(tx, run_id) and store.set_workflow_run_status(
                tx, run_id, WorkflowRunStatus.STOPPED, completed_on=store.now()
            )
            if stopped:
                self._ended(tx, run_id, result)
            return
        if status is not WorkflowRunStatus.RUNNING:
            return
        snap = self._snapshot(tx, run_id)
        fired = False
        candidates: set[str] = set()
        for event in events:
            if event["kind"] == WORKFLOW_RUN_STARTED:
                for trig in snap.start:
                    fired |= self._fire(tx, run, trig, [], result)
            elif event["kind"] == job_run.COMPLETED:
                candidates.update(snap.watchers.get(("job", event["payload"]["job_name"]), ()))
        for name in sorted(candidates):
            pred = snap.predicates[name]
            if _cannot_hold(tx, run_id, pred, self._witnesses[run_id], name):
                continue
            latest = _latest(tx, run_id, snap.watched[name])
            states = {node: (row["state"] if row and row["state"] in _TERMINAL else None) for node, row in latest.items()}
            if predicates.evaluate(pred, states):
                preds = [
                    {"JobName": node[1], "RunId": row["id"]}
                    for node, row in latest.items()
                    if row and any(c.job_name == node[1] and c.state == row["state"] for c in pred.conditions)
                ]
                fired |= self._fire(tx, run, snap.trigger(name), preds, result)
        idle = (
            not fired
            and not self.active_here(run_id)
            and not _has_active(tx, run_id)
            and not _has_unprocessed(tx, run_id)
        )
        if idle and store.set_workflow_run_status(tx, run_id, WorkflowRunStatus.COMPLETED, completed_on=store.now()):
            self._ended(tx, run_id, result)

    def _fire(
        self, tx: store.Tx, run: Mapping[str, Any], trig: Mapping[str, Any],
        preds: Sequence[Mapping[str, str]], result: PassResult,
    ) -> bool:
        # The unique key (scope, trigger) makes a second firing in this run a no-op.
        if not store.record_firing(tx, run["id"], trig["Name"]):
            return False
        actions = trig.get("AdhereActions") or []
        jobs = store.get_definitions(tx, "job", (a["job_name"] for a in actions if a.get("job_name")))
        for action in actions:
            name = action.get("job_name")
            if not name:
                continue  # crawler actions arrive with the catalog
            job_row = jobs.get(name)
            command = job_row["definition"]["spec"]["command"]["name"] if job_row else ""
            overrides = {"timeout": action.get("timeout"),
                         "notification_property": action.get("notification_property")}
            owner = self.owner if job_row and self.take(command) else None
            row = job_run.create(
                tx, name, job_row, arguments=action.get("arguments") or {}, direct=False,
                trigger_name=trig["Name"], workflow_run=run, predecessor_runs=preds,
                overrides=overrides, owner=owner,
            )
            if row.get("owner") == self.owner and row["state"] == "STARTING":
                result.created.append(row)
            else:
                result.unowned |= row["state"] == "STARTING"
            result.more |= row["state"] in _TERMINAL
        return True

    def _ended(self, tx: store.Tx, run_id: str, result: PassResult) -> None:
        self._snapshots.pop(run_id, None)
        self._witnesses.pop(run_id, None)
        store.insert_event(tx, WORKFLOW_RUN_ENDED, workflow_run_id=run_id, processed=True)
        result.ended_runs.append(run_id)


_wr = models.workflow_runs
_jr = models.job_runs
_ev = models.events
_BP = sa.bindparam
_RUN_HEADER = sa.select(_wr.c.id, _wr.c.workflow_name, _wr.c.status).where(_wr.c.id == _BP("_id"))
_RUN_TRIGGERS = sa.select(_wr.c.triggers).where(_wr.c.id == _BP("_id"))
_LATEST = (
    sa.select(_jr.c.id, _jr.c.job_name, _jr.c.state)
    .where(_jr.c.workflow_run_id == _BP("_run"), _jr.c.job_name.in_(_BP("_jobs", expanding=True)))
    .order_by(_jr.c.created_on, _jr.c.attempt)
)
# Which watched jobs have a run in one of the wanted states (_cannot_hold), or whether one has.
_JOBS_IN_STATES = sa.select(_jr.c.job_name).distinct().where(
    _jr.c.workflow_run_id == _BP("_run"),
    _jr.c.job_name.in_(_BP("_jobs", expanding=True)),
    _jr.c.state.in_(_BP("_states", expanding=True)),
)
_JOB_IN_STATES = sa.select(_jr.c.id).where(
    _jr.c.workflow_run_id == _BP("_run"), _jr.c.job_name == _BP("_job"), _jr.c.state.in_(_BP("_states", expanding=True))
).limit(1)
_ANY_ACTIVE = sa.select(_jr.c.id).where(_jr.c.workflow_run_id == _BP("_run"), _jr.c.state.in_(_ACTIVE)).limit(1)
_ANY_UNPROCESSED = sa.select(_ev.c.id).where(_ev.c.workflow_run_id == _BP("_run"), _ev.c.processed.is_(False)).limit(1)
_RUN_HEADER_LOCKED = _RUN_HEADER.with_for_update()


def _run_header(tx: store.Tx, run_id: str) -> dict[str, Any] | None:
    """The run's id, name and status, locked against concurrent evaluation (not its snapshot)."""
    query = _RUN_HEADER_LOCKED if tx.dialect.name == "postgresql" else _RUN_HEADER
    row = tx.execute(query, {"_id": run_id}).mappings().first()
    return dict(row) if row else None


def _latest(tx: store.Tx, run_id: str, nodes: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any] | None]:
    """The latest run of each watched node in this workflow run (retries supersede attempts)."""
    nodes = list(nodes)
    jobs = [name for kind, name in nodes if kind == "job"]
    latest: dict[tuple[str, str], dict[str, Any] | None] = dict.fromkeys(nodes)
    for row in tx.execute(_LATEST, {"_run": run_id, "_jobs": jobs}).mappings():
        latest[("job", row["job_name"])] = dict(row)
    return latest


def _cannot_hold(tx: store.Tx, run_id: str, pred: definitions.Predicate, witnesses: dict[str, str],
                 name: str) -> bool:
    """A cheap necessary condition for AND over jobs (the common fan-in): every job has a run
    in a wanted state. False means "evaluate it properly", not that it holds.

    A fan-in over n jobs is asked after each of their n completions: checking the one job that
    blocked it last time is a single-row lookup, and only when that job is done is the whole
    set counted again (and the job still missing, latest in the list, becomes the witness).
    """
    if pred.logical == "ANY" or len(pred.conditions) < 4 or any(c.job_name is None for c in pred.conditions):
        return False
    wanted = sorted({c.state.value for c in pred.conditions if c.state is not None})
    witness = witnesses.get(name)
    if witness is not None and tx.execute(_JOB_IN_STATES, {"_run": run_id, "_job": witness,
                                                           "_states": wanted}).first() is None:
        return True
    jobs = [c.job_name for c in pred.conditions if c.job_name is not None]
    done = set(tx.execute(_JOBS_IN_STATES, {"_run": run_id, "_jobs": sorted(set(jobs)), "_states": wanted}).scalars())
    missing = [job for job in jobs if job not in done]
    if not missing:
        witnesses.pop(name, None)
        return False
    witnesses[name] = missing[-1]
    return True


def _has_active(tx: store.Tx, run_id: str) -> bool:
    return tx.execute(_ANY_ACTIVE, {"_run": run_id}).first() is not None


def _has_unprocessed(tx: store.Tx, run_id: str) -> bool:
    return tx.execute(_ANY_UNPROCESSED, {"_run": run_id}).first() is not None
