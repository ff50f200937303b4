"""Finding runs by what a person types (an adhere extension; Glue's API takes full ids only).

As in git and docker: a full id is itself; a workflow's name stands for its latest run; else a
unique prefix of an id (``wr_3f2a``, or the hex alone, ``3f2a``) is the run it starts. A prefix
that several runs share is InvalidInputException listing them (at most ``CANDIDATES``). Ids are
lowercase, so the text is matched lowercased.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from orchestrator import errors, resume, store
from orchestrator.service import remote

CANDIDATES = 10  # an ambiguous prefix lists at most these
_HEX = re.compile(r"[0-9a-f]+")
_WR, _JR = "wr_", "jr_"


class NotRunYet(errors.EntityNotFoundException):
    """The node has not run in the workflow run (or not as many times as asked) yet."""


@remote.callable
def resolve_workflow_run(db: store.Store, text: str) -> str:
    """The id of the workflow run ``text`` names: an id, a workflow (its latest run) or a prefix."""
    with db.read() as tx:
        return _workflow_run(tx, text, f"Workflow run {text} not found")


@remote.callable
def resolve_job_run(db: store.Store, text: str, job_name: str | None = None) -> str:
    """The id of the job run ``text`` names (of ``job_name`` when given): an id or a prefix."""
    with db.read() as tx:
        found = _job_run(tx, text, job_name)
    if found is None:
        raise errors.EntityNotFoundException(f"Job run {text} not found")
    return found


@remote.callable
def resolve_job_runs(db: store.Store, texts: Sequence[str], job_name: str) -> list[str]:
    """Each text's job run id, for operations that report unknown ids themselves (BatchStopJobRun
    id by id, StartJobRun's retry): a text that names none is kept as it is; an ambiguous one
    refuses the whole call."""
    with db.read() as tx:
        return [_job_run(tx, text, job_name) or text for text in texts]


@remote.callable
def resolve_run(db: store.Store, text: str) -> tuple[str, str]:
    """("workflow" | "job", id) for a run of either kind: ids, a workflow's name, prefixes of both."""
    with db.read() as tx:
        if store.workflow_runs.status(tx, text) is not None:
            return "workflow", text
        if store.job_runs.get(tx, text) is not None:
            return "job", text
        if (latest := _latest_of_workflow(tx, text)) is not None:
            return "workflow", latest
        key = text.lower()
        runs = _prefixed(key, _WR, lambda p: store.workflow_runs.with_prefix(tx, p, CANDIDATES + 1))
        jobs = _prefixed(key, _JR, lambda p: store.job_runs.with_prefix(tx, p, None, CANDIDATES + 1))
        if len(runs) + len(jobs) == 1:
            return ("workflow", runs[0]) if runs else ("job", jobs[0])
        if runs or jobs:
            raise _ambiguous(tx, text, runs, jobs)
    raise errors.EntityNotFoundException(f"Run {text} not found")


@remote.callable
def node_job_run(db: store.Store, run_text: str, node: str, attempt: int | None = None) -> str:
    """The job run behind a node of a workflow run (``adhere logs RUN NODE``), or the crawl behind
    a crawler node: its latest attempt, or the ``attempt``-th (1 is the first). For a resumed
    run's carried node it is the earlier run's that produced the node's state."""
    from orchestrator.service.workflow_runs import finals

    with db.read() as tx:
        run_id = _workflow_run(tx, run_text, f"Workflow run {run_text} not found")
        run = store.workflow_runs.get(tx, run_id)
        assert run is not None
        ((kind, name),) = resume.resolve(run.triggers, [node])
        final = finals(tx, run).get((kind, name))
    if final is not None and final.skipped:
        raise errors.EntityNotFoundException(
            f"job {name} was skipped by the operator in workflow run {run_id} ({final.note}): it has no logs"
        )
    runs = final.run_ids if final is not None else ()
    if attempt is not None and attempt < 1:
        raise errors.InvalidInputException(f"--attempt counts from 1 (the first attempt), not {attempt}")
    if not runs:
        raise NotRunYet(f"job {name} has not run in workflow run {run_id}")
    if attempt is None:
        return runs[-1]
    if attempt > len(runs):
        raise NotRunYet(f"job {name} has {len(runs)} attempt{'s' if len(runs) != 1 else ''} in workflow run"
                        f" {run_id}, not {attempt}")
    return runs[attempt - 1]


# --- in one read transaction --------------------------------------------------------------------


def _workflow_run(tx: store.Tx, text: str, not_found: str) -> str:
    if store.workflow_runs.status(tx, text) is not None:
        return text
    if (latest := _latest_of_workflow(tx, text)) is not None:
        return latest
    runs = _prefixed(text.lower(), _WR, lambda p: store.workflow_runs.with_prefix(tx, p, CANDIDATES + 1))
    if len(runs) == 1:
        return runs[0]
    if runs:
        raise _ambiguous(tx, text, runs, [])
    raise errors.EntityNotFoundException(not_found)


def _latest_of_workflow(tx: store.Tx, name: str) -> str | None:
    """The latest run of the workflow called ``name``; None when no workflow is; an error when
    the workflow has no runs yet."""
    if not name:
        return None
    latest = store.workflow_runs.find(tx, name, limit=1)
    if latest:
        return latest[0].id
    if store.definitions.get(tx, "workflow", name) is not None:
        raise errors.EntityNotFoundException(f"Workflow {name} has no runs yet")
    return None


def _job_run(tx: store.Tx, text: str, job_name: str | None) -> str | None:
    exact = store.job_runs.get(tx, text)
    if exact is not None and (job_name is None or exact.job_name == job_name):
        return text
    jobs = _prefixed(text.lower(), _JR, lambda p: store.job_runs.with_prefix(tx, p, job_name, CANDIDATES + 1))
    if len(jobs) > 1:
        raise _ambiguous(tx, text, [], jobs)
    return jobs[0] if jobs else None


def _prefixed(text: str, kind: str, find: Callable[[str], list[str]]) -> list[str]:
    """Ids of one kind starting with ``text``, or with ``kind + text`` when it is bare hex."""
    if not text:
        return []
    if text.startswith(kind):
        return find(text)
    if _HEX.fullmatch(text):
        return find(kind + text)
    return []


def _ambiguous(tx: store.Tx, text: str, runs: Sequence[str], jobs: Sequence[str]) -> errors.InvalidInputException:
    """The error for a prefix several runs share, listing them (workflow runs first)."""
    lines = []
    for run_id in runs[:CANDIDATES]:
        if (run := store.workflow_runs.get(tx, run_id)) is not None:
            lines.append(f"  {run.id}  workflow {run.workflow_name}, {run.status}, started {run.started_on:%Y-%m-%d %H:%M:%S}Z")
    found = store.job_runs.get_many(tx, jobs[: max(0, CANDIDATES - len(lines))])
    for job_id in jobs:
        if job_id in found:
            job = found[job_id]
            lines.append(f"  {job.id}  job {job.job_name}, {job.state}, created {job.created_on:%Y-%m-%d %H:%M:%S}Z")
    more = len(runs) + len(jobs) > CANDIDATES
    head = f"{text!r} is ambiguous: {'more than ' if more else ''}{min(len(runs) + len(jobs), CANDIDATES)} runs start with it"
    return errors.InvalidInputException("\n".join([head + "; give more characters:", *lines]))
