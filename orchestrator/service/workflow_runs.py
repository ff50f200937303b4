"""Workflow runs (StartWorkflowRun, GetWorkflowRun, GetWorkflowRuns, StopWorkflowRun,
ResumeWorkflowRun, GetWorkflowRunProperties, PutWorkflowRunProperties), and adhere's bulk
repair and run history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import crawl, errors, job_bookmark, job_run, resume, store, workflow_run
from orchestrator.service import paging, remote, resources, shapes
from orchestrator.states import JobRunState, WorkflowRunStatus
from orchestrator.store.workflow_run_nodes import RunNode
from orchestrator.store.workflow_runs import WorkflowRun

_W = WorkflowRunStatus


@remote.callable(wakes=True)
def start_workflow_run(db: store.Store, name: str, run_properties: Mapping[str, str] | None = None,
                       *, direct: bool = True) -> str:
    """StartWorkflowRun (``direct=False``: as its start trigger would, recording an ERROR run
    over the workflow's MaxConcurrentRuns instead of refusing)."""
    with db.transaction() as tx:
        return workflow_run.start(tx, name, run_properties, direct=direct).id


def _pinned(overrides: dict[str, dict[str, str]], rerun: Any, done: Mapping[resume.Node, resume.Final]
            ) -> dict[str, dict[str, str]]:
    """Each re-run job that ran in the original run reads its last attempt's input again."""
    pinned = {job: dict(args) for job, args in overrides.items()}
    for kind, name in rerun:
        final = done.get((kind, name))
        if kind == "job" and final is not None and final.run_ids and not final.skipped:
            pinned.setdefault(name, {})[job_bookmark.PIN] = final.run_ids[-1]
    return pinned


def _run(tx: store.Tx, name: str | None, run_id: str) -> WorkflowRun:
    run = store.workflow_runs.get(tx, run_id)
    if run is None or (name and run.workflow_name != name):
        raise errors.EntityNotFoundException(f"Workflow run {run_id} not found")
    return run


def shape(tx: store.Tx, run: WorkflowRun, *, include_graph: bool) -> dict[str, Any]:
    """GetWorkflowRun's WorkflowRun of a row, read with its job runs and crawls (and, for a
    resumed run, those of the nodes it carried over)."""
    job_runs = store.job_runs.of_workflow_run(tx, run.id)
    crawls = store.crawls.of_workflow_run(tx, run.id)
    carried = [n for n in store.workflow_run_nodes.of_run(tx, run.id) if n.state] if run.previous_run_id else []
    if include_graph and carried:
        ids = [rid for n in carried for rid in n.run_ids]
        earlier_jobs = store.job_runs.get_many(tx, ids)
        earlier_crawls = store.crawls.get_many(tx, ids)
        job_runs += [earlier_jobs[rid] for n in carried for rid in n.run_ids if rid in earlier_jobs]
        crawls += [earlier_crawls[rid] for n in carried for rid in n.run_ids if rid in earlier_crawls]
    return shapes.workflow_run(run, job_runs, crawls, include_graph=include_graph, carried=carried)


@remote.callable
def get_workflow_run(db: store.Store, name: str | None, run_id: str, include_graph: bool = True) -> dict[str, Any]:
    with db.read() as tx:
        return shape(tx, _run(tx, name, run_id), include_graph=include_graph)


@remote.callable
def get_workflow_runs(db: store.Store, name: str | None = None, include_graph: bool = False,
                      next_token: str | None = None, max_results: int | None = 100) -> dict[str, Any]:
    """GetWorkflowRuns, newest first (of every workflow when ``name`` is None), a page at a time."""
    offset = paging.offset(next_token)
    with db.read() as tx:
        if name:
            resources.stored(tx, "workflow", name)
        runs = store.workflow_runs.find(tx, name, max_results + 1 if max_results else None, offset=offset)
        runs, token = paging.page_by_offset(runs, max_results, offset)
        return {"Runs": [shape(tx, run, include_graph=include_graph) for run in runs], **({"NextToken": token} if token else {})}


@remote.callable
def workflow_run_status(db: store.Store, run_id: str) -> str:
    """The run's Status alone (what a follower polls)."""
    with db.read() as tx:
        status = store.workflow_runs.status(tx, run_id)
    if status is None:
        raise errors.EntityNotFoundException(f"Workflow run {run_id} not found")
    return status


@remote.callable(wakes=True)
def stop_workflow_run(db: store.Store, name: str | None, run_id: str) -> None:
    """StopWorkflowRun: no trigger fires any more; active runs are stopped; STOPPING -> STOPPED."""
    with db.transaction() as tx:
        run = _run(tx, name, run_id)
        if not store.workflow_runs.set_status(tx, run_id, _W.STOPPING.value):
            raise errors.IllegalWorkflowStateException(
                f"Workflow run {run_id} is {run.status}, not RUNNING; it cannot be stopped"
            )
        for active in store.job_runs.of_workflow_run(tx, run_id, active=True):
            job_run.request_stop(tx, active)
        for c in store.crawls.of_workflow_run(tx, run_id):
            if c.state == "RUNNING":
                crawl.cancel(tx, c)
        store.outbox.insert(tx, store.outbox.WORKFLOW_RUN_STOPPING, workflow_run_id=run_id)


@remote.callable
def get_workflow_run_properties(db: store.Store, name: str | None, run_id: str) -> dict[str, str]:
    with db.read() as tx:
        return dict(_run(tx, name, run_id).run_properties)


@remote.callable
def put_workflow_run_properties(db: store.Store, name: str | None, run_id: str,
                                properties: Mapping[str, str]) -> None:
    """PutWorkflowRunProperties: upsert keys, under the run's row lock (so that jobs and other
    writers never lose each other's keys); only while the run is RUNNING or STOPPING."""
    with db.transaction() as tx:
        before = store.workflow_runs.merge_properties(tx, run_id, properties)
        if before is None or (name and before.workflow_name != name):
            raise errors.EntityNotFoundException(f"Workflow run {run_id} not found")
        if before.status not in store.workflow_runs.ACTIVE:
            raise errors.IllegalWorkflowStateException(f"Workflow run {run_id} is {before.status}")


# --- resuming ----------------------------------------------------------------------------------


def finals(tx: store.Tx, run: WorkflowRun) -> dict[resume.Node, resume.Final]:
    """Each node's final state in a run: its own latest run there, else what the run carried
    over from an earlier one (or the operator recorded)."""
    out: dict[resume.Node, resume.Final] = {}
    for node in store.workflow_run_nodes.of_run(tx, run.id):
        if node.origin != store.workflow_run_nodes.RERUN and node.state:
            skipped = node.origin == store.workflow_run_nodes.SKIPPED
            out[(node.node_type, node.node_name)] = resume.Final(
                node.state, node.source_run_id or run.id, tuple(node.run_ids),
                skipped=skipped, note=node.note, on=node.recorded_on if skipped else None,
            )  # fmt: skip
    own: dict[resume.Node, list[tuple[str, str]]] = {}
    for job in store.job_runs.of_workflow_run(tx, run.id):
        own.setdefault(("job", job.job_name), []).append((job.id, job.state))
    for c in store.crawls.of_workflow_run(tx, run.id):
        own.setdefault(("crawler", c.crawler_name), []).append((c.id, c.state))
    for node, runs in own.items():
        out[node] = resume.Final(runs[-1][1], run.id, tuple(rid for rid, _ in runs))
    return out


@remote.callable(wakes=True)
def resume_workflow_run(
    db: store.Store, name: str | None, run_id: str, node_ids: Sequence[str] = (), *, failed: bool = False,
    only: bool = False, skip: Sequence[str] = (), reason: str | None = None,
    arguments: Mapping[str, Mapping[str, str]] | None = None, once: bool = False, pin_input: bool = False,
) -> dict[str, Any]:
    """ResumeWorkflowRun: a new run of a COMPLETED run's graph (``PreviousRunId`` the original)
    in which the chosen nodes and what is downstream of them run again, started directly, and
    every other node keeps its final state and runs (see ``orchestrator/resume.py``).

    Extensions: ``failed`` chooses every node that ended in failure and re-runs, besides them,
    only what never ran because of them (then ``RunId`` is None when nothing failed); ``only``
    re-runs the chosen nodes alone; ``skip`` records nodes SUCCEEDED by the operator (with
    ``reason``) and runs what is downstream of them; ``arguments`` maps a job to argument
    overrides for its re-run; ``pin_input`` has each re-run job read exactly the input window
    of its last attempt in the original run (its bookmarked sources), not what arrived since.
    Node references are ``wnode_`` ids or (``job:``/``crawler:``) names."""
    overrides = {job: {(k if k.startswith("--") else f"--{k}"): v for k, v in args.items()}
                 for job, args in (arguments or {}).items()}
    with db.transaction() as tx:
        original = _run(tx, name, run_id)
        if original.status != _W.COMPLETED.value:
            raise errors.IllegalWorkflowStateException(
                f"Workflow run {run_id} is {original.status}: only a COMPLETED run can be resumed"
            )
        wf = store.definitions.get(tx, "workflow", original.workflow_name, lock=True)  # admission is serialised
        if wf is None:
            raise errors.EntityNotFoundException(f"Workflow {original.workflow_name} not found")
        if once and store.workflow_runs.resumed_from(tx, [original.id]):
            return {"RunId": None, "NodeIds": []}
        chosen = resume.resolve(original.triggers, node_ids)
        skipped = resume.resolve(original.triggers, skip)
        if not (chosen or skipped or failed):
            raise errors.InvalidInputException("choose at least one node to resume")
        done = finals(tx, original)
        plan = resume.plan(original.triggers, done, chosen, failed=failed, only=only, skip=skipped)
        if unknown := sorted(set(overrides) - {n for k, n in plan.rerun if k == "job"}):
            raise errors.InvalidInputException(f"--arg names jobs that do not run again in this resume: {', '.join(unknown)}")
        if not (plan.start or plan.skip):
            return {"RunId": None, "NodeIds": []}  # ``failed`` and nothing failed
        if pin_input:
            overrides = _pinned(overrides, plan.rerun, done)
        limit = wf.spec.get("max_concurrent_runs")
        if limit and store.workflow_runs.count_active(tx, original.workflow_name) >= limit:
            raise errors.ConcurrentRunsExceededException(f"Concurrent runs exceeded for workflow: {original.workflow_name}.")
        stamp = store.now()
        new = WorkflowRun(store.new_id("wr"), original.workflow_name, None, _W.RUNNING.value, original.id, stamp,
                          None, None, dict(original.run_properties), original.triggers)
        store.workflow_runs.insert(tx, new)
        store.workflow_run_nodes.insert(tx, _recorded(new.id, plan, overrides, reason, stamp))
        _start_chosen(tx, new, original, plan, overrides, done)
        for kind, node_name in plan.skip:
            store.outbox.insert(tx, store.outbox.NODE_SKIPPED, workflow_run_id=new.id,
                                payload={"node_type": kind, "node_name": node_name})
    return {"RunId": new.id, "NodeIds": plan.node_ids}


def _recorded(run_id: str, plan: resume.Plan, overrides: Mapping[str, Mapping[str, str]], reason: str | None,
              stamp: Any) -> list[RunNode]:
    nodes = [RunNode(run_id, kind, node, store.workflow_run_nodes.RERUN, None, None, [],
                     dict(overrides.get(node, {})) if kind == "job" else {}, None, stamp)
             for kind, node in sorted(plan.rerun)]
    # A node the operator skipped in an earlier run stays marked so (with when and why) in every
    # run that carries it over: it is never shown as a real success.
    nodes += [RunNode(run_id, kind, node, store.workflow_run_nodes.SKIPPED if final.skipped else
                      store.workflow_run_nodes.CARRIED, final.state, final.source, list(final.run_ids), {},
                      final.note, (final.on or stamp) if final.skipped else stamp)
              for (kind, node), final in sorted(plan.carried.items())]
    nodes += [RunNode(run_id, kind, node, store.workflow_run_nodes.SKIPPED, JobRunState.SUCCEEDED.value, None, [],
                      {}, reason or "skipped by the operator", stamp)
              for kind, node in plan.skip]
    return nodes


def _start_chosen(tx: store.Tx, new: WorkflowRun, original: WorkflowRun, plan: resume.Plan,
                  overrides: Mapping[str, Mapping[str, str]], done: Mapping[resume.Node, resume.Final]) -> None:
    """The chosen nodes start directly (the start trigger does not fire again), each with what
    the trigger that started it gave it in the run that produced its final state (the original,
    or an earlier one it carried the node from), and this resume's overrides alone (an earlier
    resume's are not inherited); job definitions are read afresh."""
    earlier = store.job_runs.get_many(tx, [done[("job", n)].run_ids[-1] for k, n in plan.start
                                           if k == "job" and done[("job", n)].run_ids])
    requests = []
    for kind, node in plan.start:
        if kind == "crawler":
            crawl.start(tx, node, workflow_run_id=new.id)
            continue
        run_ids = done[(kind, node)].run_ids
        before = earlier.get(run_ids[-1]) if run_ids else None
        if before is None:  # skipped by the operator in an earlier run: it has no run
            trigger, action = _action(original.triggers, None, node)
        else:
            trigger = before.trigger_name
            action = _action(original.triggers, trigger, node)[1] if trigger else None
        given = (action.get("arguments") or {}) if action else (before.arguments if before else {})
        requests.append(job_run.Request(
            node, arguments={**given, **overrides.get(node, {})},
            trigger_name=trigger, workflow_run_id=new.id, workflow_name=new.workflow_name,
            predecessor_runs=before.predecessor_runs if before else (),
            overrides=job_run.action_overrides(action) if action else {},
        ))  # fmt: skip
    job_run.create(tx, requests, direct=False)


def _action(triggers: Sequence[Mapping[str, Any]], trigger: str | None,
            job: str) -> tuple[str | None, Mapping[str, Any] | None]:
    """The trigger and its action that starts ``job`` in a run's trigger snapshot (the first
    trigger that starts it when ``trigger`` is None); no action when none does."""
    for trig in triggers:
        if trigger is None or trig["Name"] == trigger:
            for action in trig.get("AdhereActions") or []:
                if action.get("job_name") == job:
                    return trig["Name"], action
    return trigger, None


@remote.callable(wakes=True)
def resume_failed_runs(db: store.Store, workflow_name: str, *, since: Any = None,
                       dry_run: bool = False) -> list[dict[str, Any]]:
    """Bulk repair (an adhere extension): resume, each into a new run of its own and only once,
    every COMPLETED run of a workflow that has nodes that ended in failure. Returns per run its
    ``WorkflowRunId``, the failed nodes and the resume's ``RunId``/``NodeIds`` (none when
    ``dry_run``, or when it was resumed already) or the ``Error`` that refused it. The resumed
    runs start together: jobs that allow one run at a time (MaxConcurrentRuns 1, the default)
    fail in all but one of them unless they queue (JobRunQueuingEnabled); ``adhere resume
    --workflow`` resumes and follows them one at a time instead."""
    with db.read() as tx:
        resources.stored(tx, "workflow", workflow_name)
        runs = store.workflow_runs.find(tx, workflow_name, limit=None, status=_W.COMPLETED.value, since=since)
        resumed = {r.previous_run_id for r in store.workflow_runs.resumed_from(tx, [r.id for r in runs])}
        failing = []
        for run in reversed(runs):  # oldest first
            bad = sorted(n for n, f in finals(tx, run).items() if f.state in resume.FAILED_STATES)
            if bad and run.id not in resumed:
                failing.append((run, bad))
    out = []
    for run, bad in failing:
        result: dict[str, Any] = {"WorkflowRunId": run.id, "Failed": [f"{k}:{n}" for k, n in bad]}
        if not dry_run:
            try:
                result.update(resume_workflow_run(db, workflow_name, run.id, failed=True, once=True))
            except errors.GlueError as exc:  # the workflow's MaxConcurrentRuns, say: the rest still answer
                result["Error"] = {"Code": exc.code, "Message": exc.message}
        out.append(result)
    return out


@remote.callable
def get_workflow_run_history(db: store.Store, run_id: str) -> dict[str, Any]:
    """The chain of runs a run belongs to (the original, then each resume, oldest first), and
    for each of its nodes which run produced its final state (an adhere extension)."""
    with db.read() as tx:
        run = _run(tx, None, run_id)
        chain = [run]
        while chain[0].previous_run_id and (earlier := store.workflow_runs.get(tx, chain[0].previous_run_id)):
            chain.insert(0, earlier)
        later = store.workflow_runs.resumed_from(tx, [run.id])
        while later:
            chain += later
            later = store.workflow_runs.resumed_from(tx, [r.id for r in later])
        nodes = finals(tx, run)
    return {
        "Runs": [{"WorkflowRunId": r.id, "PreviousRunId": r.previous_run_id, "Status": r.status,
                  "StartedOn": r.started_on, "CompletedOn": r.completed_on} for r in chain],
        "Nodes": [
            {"Type": kind.upper(), "Name": node, "State": f.state, "RunId": f.source, "Runs": list(f.run_ids),
             **({"SkippedBy": "operator", "Reason": f.note, "SkippedOn": f.on} if f.skipped else {})}
            for (kind, node), f in sorted(nodes.items())
        ],
    }
