"""The scheduler duty: consumes outbox events and fires triggers, each at most once per workflow run.

In each wake-up it takes the completion events written in the loop's own transaction (and, when
asked, those other processes wrote), evaluates the triggers that watch the nodes they concern
(``predicates.evaluate`` over the latest node states of the run), records firings (the unique
key makes a second firing a no-op), creates the runs of their actions, announces job runs'
ends, and completes workflow runs with nothing left to do. It is the only writer of firings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from orchestrator import chains, crawl, deliveries, events, intake, job_run, predicates, store
from orchestrator.effects import Effects
from orchestrator.states import CRAWL_TERMINAL, JobRunState, TriggerType, WorkflowRunStatus
from orchestrator.store.outbox import Event

_W = WorkflowRunStatus
_TERMINAL = store.job_runs.TERMINAL
_ENDED = _TERMINAL | {s.value for s in CRAWL_TERMINAL}
_STATE_CHANGE = frozenset(events.JOB_STATE_SEVERITY)
Node = tuple[str, str]


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The trigger graph a workflow run started with, indexed for evaluation (immutable, cacheable)."""

    start: tuple[Mapping[str, Any], ...]
    triggers: Mapping[str, Mapping[str, Any]]  # conditional, by name
    watchers: Mapping[Node, tuple[str, ...]]  # node -> the conditional triggers watching it
    predicates: Mapping[str, predicates.Compiled]
    # A resumed run's nodes (see orchestrator/resume.py): those that may run in it (None: all),
    # and the final states carried over from earlier runs, as (state, the run that produced it).
    rerun: frozenset[Node] | None = None
    carried: Mapping[Node, tuple[str, str | None]] = dataclasses.field(default_factory=dict)
    overrides: Mapping[Node, Mapping[str, str]] = dataclasses.field(default_factory=dict)  # --arg, re-runs only

    @classmethod
    def of(cls, triggers: Sequence[Mapping[str, Any]],
           nodes: Sequence[store.workflow_run_nodes.RunNode] = ()) -> Snapshot:
        start, conditional, preds = [], {}, {}
        watchers: dict[Node, list[str]] = defaultdict(list)
        for trig in triggers:
            if trig["Type"] != TriggerType.CONDITIONAL.value:
                start.append(trig)
            elif trig.get("State") == "ACTIVATED":
                pred = preds[trig["Name"]] = predicates.compile(trig["Predicate"])
                conditional[trig["Name"]] = trig
                for node in predicates.watched_nodes(pred):
                    watchers[node].append(trig["Name"])
        rerun = frozenset((n.node_type, n.node_name) for n in nodes if n.origin == store.workflow_run_nodes.RERUN)
        carried = {(n.node_type, n.node_name): (n.state, n.run_ids[-1] if n.run_ids else None)
                   for n in nodes if n.origin != store.workflow_run_nodes.RERUN and n.state}
        overrides = {(n.node_type, n.node_name): n.arguments for n in nodes if n.arguments}
        return cls(tuple(start), conditional, {k: tuple(v) for k, v in watchers.items()}, preds,
                   rerun if nodes else None, carried, overrides)

    def may_run(self, node: Node) -> bool:
        return self.rerun is None or node in self.rerun


class Scheduler:
    """``capacity()`` is how many more runs this process's dispatcher can take now: runs created
    within it are owned (and started) here, the rest wait for any orchestrator to claim them.
    ``active_here(run_id, effects)`` is True when this process runs an active job run of that
    workflow run, which then cannot be complete (and the store need not be asked)."""

    def __init__(self, owner: str, *, scope: str | None = None, capacity: Callable[[Effects], int] = lambda _e: 0,
                 active_here: Callable[[str, Effects], bool] = lambda _run, _effects: False) -> None:
        self.owner = owner
        self.scope = scope
        self.capacity = capacity
        self.active_here = active_here
        self.claim = True  # read the events other processes wrote (the loop sets it per wake-up)
        self._snapshots: dict[str, Snapshot] = {}
        self._event_triggers: list[intake.EventTrigger] | None = None  # read again when woken
        # Per workflow run and AND trigger: a watched job last seen without a wanted run (a hint
        # for _cannot_hold, checked against the store each time; never trusted on its own).
        self._witnesses: dict[str, dict[str, str]] = defaultdict(dict)

    def step(self, tx: store.Tx, now: dt.datetime, effects: Effects) -> None:
        """Consume the events written in this transaction and, when ``claim`` is set, those in
        the store; events the pass itself writes (runs that ended at once) are consumed too."""
        if tx.consumed is None:
            tx.consumed = []
        if self.claim:  # woken or on the tick: EVENT triggers may have changed
            self._event_triggers = None
        budget = _Budget(self.scope is not None, self.capacity(effects))
        batch = [*tx.consumed, *(store.outbox.claim(tx, scope=self.scope) if self.claim else ())]
        while batch:
            tx.consumed.clear()
            self._consume(tx, batch, budget, effects)
            batch = list(tx.consumed)
        tx.consumed.clear()

    def _consume(self, tx: store.Tx, batch: Sequence[Event], budget: _Budget, effects: Effects) -> None:
        by_run: dict[str, list[Event]] = defaultdict(list)
        if completions := [e for e in batch if chains.chained(e)]:
            chains.fire(tx, completions, effects)
        notices = []
        for event in batch:
            if event.kind == store.outbox.JOB_RUN_COMPLETED:
                notices.append(_announce(tx, event, effects))
            elif event.kind == store.outbox.CRAWL_COMPLETED:
                notices.append(_announce_crawl(tx, event, effects))
            if event.workflow_run_id:
                by_run[event.workflow_run_id].append(event)
        if notices := [n for n in notices if n is not None]:
            # Completions are events for EVENT triggers too (one workflow starts on another's job).
            if self._event_triggers is None:
                self._event_triggers = intake.event_triggers(tx)
            if self._event_triggers:
                intake.receive(tx, notices, triggers=self._event_triggers, only_counted=True)
        # Every run is locked first, in id order: a pass then never waits for a run while it
        # holds job rows (job_run.create locks them), so two schedulers cannot deadlock.
        headers = store.workflow_runs.headers(tx, by_run)
        for run_id, run_events in by_run.items():
            if (run := headers.get(run_id)) is not None:
                self._evaluate(tx, run, run_events, budget, effects)

    def _snapshot(self, tx: store.Tx, run: store.workflow_runs.Header) -> Snapshot:
        snap = self._snapshots.get(run.id)
        if snap is None:
            nodes = store.workflow_run_nodes.of_run(tx, run.id) if run.previous_run_id else ()
            snap = self._snapshots[run.id] = Snapshot.of(store.workflow_runs.triggers(tx, run.id), nodes)
        return snap

    def _evaluate(self, tx: store.Tx, run: store.workflow_runs.Header, run_events: Sequence[Event],
                  budget: _Budget, effects: Effects) -> None:
        run_id = run.id
        if run.status == _W.STOPPING.value:
            if not store.job_runs.any_active(tx, run_id) and not store.crawls.any_active(tx, run_id) and store.workflow_runs.set_status(
                tx, run_id, _W.STOPPED.value, completed_on=store.now()
            ):
                self._ended(tx, run_id, effects)
            return
        if run.status != _W.RUNNING.value:
            return
        snap = self._snapshot(tx, run)
        fired = False
        candidates: set[str] = set()
        for event in run_events:
            if event.kind == store.outbox.WORKFLOW_RUN_STARTED:
                for trig in snap.start:
                    fired |= self._fire(tx, run, trig, [], budget, effects, snap)
            elif event.kind == store.outbox.JOB_RUN_COMPLETED:
                candidates.update(snap.watchers.get(("job", event.payload["job_name"]), ()))
            elif event.kind == store.outbox.CRAWL_COMPLETED:
                candidates.update(snap.watchers.get(("crawler", event.payload["crawler_name"]), ()))
            elif event.kind == store.outbox.NODE_SKIPPED:  # recorded SUCCEEDED by the operator
                candidates.update(snap.watchers.get((event.payload["node_type"], event.payload["node_name"]), ()))
        witnesses = self._witnesses[run_id]
        names = [n for n in sorted(candidates) if not _cannot_hold(tx, run_id, snap, n, witnesses)]
        latest = _latest(tx, run_id, {node for n in names for node in predicates.watched_nodes(snap.predicates[n])},
                         snap.carried)
        for name in names:
            pred = snap.predicates[name]
            states = {node: (latest[node][1] if node in latest else None) for node in predicates.watched_nodes(pred)}
            if predicates.evaluate(pred, states):
                wanted = set(pred.conditions)
                preds = [
                    {"JobName": job, "RunId": latest[("job", job)][0]}
                    for kind, job in sorted(predicates.watched_nodes(pred))
                    if kind == "job" and (("job", job), states[("job", job)]) in wanted and latest[("job", job)][0]
                ]
                fired |= self._fire(tx, run, snap.triggers[name], preds, budget, effects, snap)
        idle = (
            not fired
            and not self.active_here(run_id, effects)
            and not store.job_runs.any_active(tx, run_id)
            and not store.crawls.any_active(tx, run_id)
            and not store.outbox.has_unprocessed(tx, run_id)
        )
        if idle and store.workflow_runs.set_status(tx, run_id, _W.COMPLETED.value, completed_on=store.now()):
            self._ended(tx, run_id, effects)

    def _fire(self, tx: store.Tx, run: store.workflow_runs.Header, trig: Mapping[str, Any],
              preds: Sequence[Mapping[str, str]], budget: _Budget, effects: Effects, snap: Snapshot) -> bool:
        # In a resumed run a trigger starts only the nodes that may run again in it: the others
        # keep the state an earlier run gave them; one that would start none of them does not fire.
        actions = [a for a in trig.get("AdhereActions") or [] if snap.may_run(_action_node(a))]
        # The unique key (scope, trigger) makes a second firing in this run a no-op.
        if not actions or not store.firings.record(tx, run.id, trig["Name"]):
            return False
        requests = []
        for action in actions:
            if action.get("crawler_name") and not action.get("job_name"):
                crawl.start(tx, action["crawler_name"], workflow_run_id=run.id, trigger_name=trig["Name"])
                continue
            overrides = job_run.action_overrides(action)
            arguments = {**(action.get("arguments") or {}), **snap.overrides.get(("job", action["job_name"]), {})}
            requests.append(job_run.Request(
                action["job_name"], arguments=arguments, trigger_name=trig["Name"],
                workflow_run_id=run.id, workflow_name=run.workflow_name, predecessor_runs=preds,
                overrides=overrides, owner=self.owner if budget.take() else None,
            ))  # fmt: skip
        for request, created in zip(requests, job_run.create(tx, requests, direct=False), strict=True):
            if created.state != JobRunState.STARTING.value:  # ended at once or waits: owned by nobody
                budget.give_back(request.owner == self.owner)
            elif created.owner == self.owner:
                effects.start.append(created)
            else:
                effects.unowned = True  # for any orchestrator with a free slot to claim
        return True

    def _ended(self, tx: store.Tx, run_id: str, effects: Effects) -> None:
        store.outbox.insert(tx, store.outbox.WORKFLOW_RUN_ENDED, workflow_run_id=run_id, processed=True)
        effects.ended_workflow_runs.append(run_id)
        effects.after.append(lambda: self._forget(run_id))

    def _forget(self, run_id: str) -> None:
        self._snapshots.pop(run_id, None)
        self._witnesses.pop(run_id, None)


@dataclasses.dataclass
class _Budget:
    """Runs this step may still assign to this process (all of them within a scope)."""

    unlimited: bool
    left: int

    def take(self) -> bool:
        if self.unlimited:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    def give_back(self, taken: bool) -> None:
        if taken and not self.unlimited:
            self.left += 1


def _announce(tx: store.Tx, event: Event, effects: Effects) -> dict[str, Any] | None:
    """"Glue Job State Change" for a job run that ended SUCCEEDED, FAILED, TIMEOUT or STOPPED:
    announced by whoever consumes its completion event, so exactly once, whatever ended it."""
    state = JobRunState(event.payload["state"])
    if state in _STATE_CHANGE and event.job_run_id:
        message = event.payload.get("error_message") or events.DEFAULT_JOB_MESSAGES[state]
        notice = events.job_state_change(event.payload["job_name"], event.job_run_id, state, message, time=store.now())
        deliveries.record(tx, notice, event.payload["job_name"], event.job_run_id, effects)
        return notice
    return None


def _announce_crawl(tx: store.Tx, event: Event, effects: Effects) -> dict[str, Any] | None:
    """"Glue Crawler State Change" for a crawl that ended SUCCEEDED or FAILED, once, like a job's."""
    ended = store.crawls.get(tx, event.payload["crawl_id"])
    if ended is not None and (notice := crawl.state_change(ended)) is not None:
        deliveries.record(tx, notice, None, None, effects)
        return notice
    return None


def _action_node(action: Mapping[str, Any]) -> Node:
    return ("job", action["job_name"]) if action.get("job_name") else ("crawler", action["crawler_name"])


def _latest(tx: store.Tx, run_id: str, nodes: Iterable[Node],
            carried: Mapping[Node, tuple[str, str | None]]) -> dict[Node, tuple[str | None, str]]:
    """(run id, state) of the latest ended run of each node in this workflow run, or the state
    an earlier run gave it (a resumed run's carried nodes); active ones are absent."""
    nodes = list(nodes)
    jobs = [name for kind, name in nodes if kind == "job"]
    crawlers = [name for kind, name in nodes if kind == "crawler"]
    latest: dict[Node, tuple[str | None, str]] = {}
    for name, (rid, state) in store.job_runs.latest(tx, run_id, jobs).items():
        latest[("job", name)] = (rid, state)
    for name, found in store.crawls.latest(tx, run_id, crawlers).items():
        latest[("crawler", name)] = found
    for node in nodes:
        if node not in latest and node in carried:
            state, rid = carried[node]
            latest[node] = (rid, state)
    return {node: found for node, found in latest.items() if found[1] in _ENDED}


def _cannot_hold(tx: store.Tx, run_id: str, snap: Snapshot, name: str, witnesses: dict[str, str]) -> bool:
    """A cheap necessary condition for AND over jobs (the common fan-in): every job has a run
    in a wanted state. False means "evaluate it properly", not that it holds.

    A fan-in over n jobs is asked after each of their n completions: checking the one job that
    blocked it last time is a single-row lookup, and only when that job is done is the whole
    set counted again (and the job still missing, latest in the list, becomes the witness).
    """
    pred = snap.predicates[name]
    if pred.logical == "ANY" or len(pred.conditions) < 4 or any(kind != "job" for (kind, _), _ in pred.conditions):
        return False
    wanted = {state for _, state in pred.conditions if state is not None}
    witness = witnesses.get(name)
    if witness is not None and not store.job_runs.job_in_states(tx, run_id, witness, wanted):
        return True
    # Jobs whose state a resumed run carries over, in a wanted state, are done already.
    jobs = [job for (_, job), _ in pred.conditions if snap.carried.get(("job", job), ("",))[0] not in wanted]
    done = store.job_runs.jobs_in_states(tx, run_id, jobs, wanted)
    missing = [job for job in jobs if job not in done]
    if not missing:
        witnesses.pop(name, None)
        return False
    witnesses[name] = missing[-1]
    return True
