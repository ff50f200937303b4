"""Glue's chain rule: standalone CONDITIONAL triggers fire on completions of runs that standalone
triggers started (glue-semantics 3.6).

A completion that carries a chain id (its run was started by a scheduled, on-demand or
conditional trigger outside any workflow) is offered to the activated standalone conditional
triggers watching its job or crawler. ``ANY`` fires once per matching completion; ``AND``
fires once per chain, when the latest run in the chain of every watched node is in its
wanted state. The unique firing key (scope, trigger) holds "once" against every rival.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from orchestrator import predicates, store, trigger
from orchestrator.effects import Effects
from orchestrator.store.outbox import CRAWL_COMPLETED, JOB_RUN_COMPLETED, Event

_ENDED = frozenset({"SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR", "CANCELLED"})


def chained(event: Event) -> bool:
    return (event.workflow_run_id is None and bool(event.payload.get("chain_id"))
            and event.kind in (JOB_RUN_COMPLETED, CRAWL_COMPLETED) and not event.payload.get("retry_id"))


def fire(tx: store.Tx, completions: Sequence[Event], effects: Effects) -> None:
    """Fire the standalone conditional triggers these chained completions satisfy."""
    rows = [r for r in store.definitions.triggers_of_type(tx, "CONDITIONAL", standalone=True) if r.state == "ACTIVATED"]
    if not rows:
        return
    compiled = {r.name: predicates.compile(r.glue["Predicate"]) for r in rows if r.glue.get("Predicate")}
    for event in completions:
        chain = event.payload["chain_id"]
        node = (("job", event.payload["job_name"]) if event.kind == JOB_RUN_COMPLETED
                else ("crawler", event.payload["crawler_name"]))
        run_id = event.job_run_id or event.payload.get("crawl_id")
        for row in rows:
            pred = compiled.get(row.name)
            if pred is None or node not in predicates.watched_nodes(pred):
                continue
            if pred.logical == "ANY":
                if (node, event.payload["state"]) not in pred.conditions:
                    continue
                scope = "cx_" + hashlib.sha256(f"{chain}/{run_id}".encode()).hexdigest()  # fits a run id
                preds = [(node, run_id)]
            else:
                latest = _latest(tx, chain, predicates.watched_nodes(pred))
                states = {n: latest[n][1] if n in latest else None for n in predicates.watched_nodes(pred)}
                if not predicates.evaluate(pred, states):
                    continue
                scope, preds = chain, [(n, latest[n][0]) for n in sorted(latest)]
            if store.firings.record(tx, scope, row.name):
                runs = [{"JobName": name, "RunId": rid} for (kind, name), rid in preds if kind == "job" and rid]
                trigger.fire_standalone(tx, row, chain_id=chain, predecessor_runs=runs)
                effects.unowned = True


def _latest(tx: store.Tx, chain: str, nodes: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    jobs = store.job_runs.latest_in_chain(tx, chain, [name for kind, name in nodes if kind == "job"])
    crawls = store.crawls.latest_in_chain(tx, chain, [name for kind, name in nodes if kind == "crawler"])
    found = {("job", k): v for k, v in jobs.items()} | {("crawler", k): v for k, v in crawls.items()}
    return {node: v for node, v in found.items() if v[1] in _ENDED}
