"""A job's bookmark around its runs: what a run reads from (its context), and the promotion of
what it committed when it ends SUCCEEDED.

``commit()`` in a script stages the new state; the run's SUCCEEDED end promotes it in the same
transaction (stricter than Glue, which advances on commit() even when the script fails after).
A FAILED, TIMEOUT or STOPPED run, or one whose orchestrator died, never advances the bookmark,
so its retry and its resume read the same input again. Of two runs that read the same version,
the second to end finds the version moved on and ends FAILED, having committed nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from orchestrator import bookmarks, errors, store
from orchestrator.store.bookmarks import COMMIT, RESET, REWIND, Version
from orchestrator.store.job_runs import JobRun

PIN = "--job-bookmark-pin"  # adhere's: a re-run reads the input window of this earlier run (resume --pin-input)


def option_problem(tx: store.Tx, job_name: str, arguments: dict[str, str]) -> str | None:
    """Why a run's bookmark options cannot be used (refused at its start), or None: a bad
    combination, or a --job-bookmark-from/--job-bookmark-to that is no run of this job."""
    if not any(key in arguments for key in (bookmarks.OPTION, bookmarks.CONTINUATION, bookmarks.FROM, bookmarks.TO)):
        return None
    try:
        opts = bookmarks.options(arguments)
    except errors.InvalidInputException as exc:
        return str(exc)
    for flag, run_id in ((bookmarks.FROM, opts.from_run), (bookmarks.TO, opts.to_run)):
        found = store.job_runs.get(tx, run_id) if run_id else None
        if run_id and (found is None or found.job_name != job_name):
            return f"{flag} {run_id}: no run of job {job_name} has that id"
    return None


def advances(run: JobRun) -> bool:
    """Whether the run may commit: ``job-bookmark-enable`` (checked when it was created)."""
    args = run.options.effective_arguments
    if not ("--job-bookmark-option" in args or "--continuation-option" in args):
        return False
    try:
        return bookmarks.options(args).advances
    except errors.InvalidInputException:
        return False


def conflict(tx: store.Tx, run: JobRun) -> str | None:
    """Why a run that is ending SUCCEEDED cannot promote what it staged (it then ends FAILED),
    or None. Locks the job's definition row: promotions of one job are serialised."""
    if not advances(run) or (staged := store.bookmarks.staged(tx, run.id)) is None:
        return None
    store.definitions.get(tx, "job", run.job_name, lock=True)
    head = store.bookmarks.latest(tx, run.job_name)
    current = head.version if head else 0
    if current != staged.base_version:
        by = f" by {head.reason.lower()}" + (f" of run {head.run_id}" if head and head.run_id else "") if head else ""
        return (f"JobBookmark of {run.job_name} moved from version {staged.base_version} to {current}{by} while this "
                "run ran; its commit was not applied (run it again to process what is new)")
    return None


def promote(tx: store.Tx, run: JobRun, stamp: dt.datetime) -> Version | None:
    """After a SUCCEEDED end was recorded (``conflict`` said None): the staged state becomes the
    next version. Version and Run both grow; Attempt is the run's."""
    staged = store.bookmarks.staged(tx, run.id) if advances(run) else None
    if staged is None:
        return None
    head = store.bookmarks.latest(tx, run.job_name)
    previous = _last_commit(tx, run.job_name)
    version = Version(run.job_name, (head.version if head else 0) + 1, (head.run if head else 0) + 1, run.attempt,
                      run.id, previous.run_id if previous else None, staged.job_bookmark, staged.listed, COMMIT, stamp)
    store.bookmarks.add(tx, version)
    store.bookmarks.unstage(tx, run.id)
    return version


def discard(tx: store.Tx, run: JobRun) -> None:
    """A run that did not succeed: what it staged is dropped, the bookmark stays."""
    if advances(run):
        store.bookmarks.unstage(tx, run.id)


def _last_commit(tx: store.Tx, job_name: str) -> Version | None:
    return next((v for v in store.bookmarks.history(tx, job_name) if v.reason == COMMIT), None)


def context(tx: store.Tx, run: JobRun) -> dict[str, Any]:
    """What a run's script starts from (``Job.init``): its mode, the version and state it reads,
    and for a pause window or a pinned re-run the states that bound its input."""
    opts = bookmarks.options(run.options.effective_arguments)
    head = store.bookmarks.latest(tx, run.job_name)
    out: dict[str, Any] = {"JobName": run.job_name, "RunId": run.id, "Mode": opts.mode,
                           "Version": head.version if head else 0, "JobBookmark": head.job_bookmark if head else "",
                           "From": None, "To": None, "Pin": None}
    if opts.from_run and opts.to_run:
        out["From"] = _state_after(tx, run.job_name, opts.from_run)
        out["To"] = _state_after(tx, run.job_name, opts.to_run)
    if pinned := run.options.effective_arguments.get(PIN):
        base, listed_at = store.bookmarks.listings(tx, pinned)
        if base is None:
            raise errors.InvalidInputException(f"{PIN} {pinned}: that run listed no bookmarked source; nothing to pin")
        state = store.bookmarks.version(tx, run.job_name, base) if base else None
        out["Pin"] = {"RunId": pinned, "Version": base, "JobBookmark": state.job_bookmark if state else "",
                      "ListedAt": listed_at}
    return out


def _state_after(tx: store.Tx, job_name: str, run_id: str) -> str:
    """The state after the last successful run at or before ``run_id`` (Glue's from/to)."""
    found = store.bookmarks.committed_by(tx, job_name, run_id)
    if found is None:
        run = store.job_runs.get(tx, run_id)
        if run is None or run.job_name != job_name:
            raise errors.EntityNotFoundException(f"Job run {run_id} of {job_name} not found")
        found = store.bookmarks.last_commit_until(tx, job_name, run.completed_on or run.created_on)
    return found.job_bookmark if found else ""


def stage(tx: store.Tx, run: JobRun, base_version: int, job_bookmark: str, listed: dict[str, Any] | None) -> int:
    """``commit()``: the run's new state, staged until its end. Refused when the run cannot
    advance the bookmark or another run moved it since this one read it."""
    if not advances(run):
        raise errors.InvalidInputException(f"Job run {run.id} runs with bookmarks {_mode(run)}: commit() records nothing")
    if run.terminal:
        raise errors.InvalidInputException(f"Job run {run.id} is {run.state}: it can no longer commit")
    head = store.bookmarks.latest(tx, run.job_name)
    current = head.version if head else 0
    if current != base_version:
        raise errors.ConcurrentModificationException(
            f"JobBookmark of {run.job_name} is at version {current}, not {base_version} that this run read"
            + (f" (run {head.run_id} committed since)" if head and head.run_id else "")
            + ": this run cannot commit over it")
    if (pinned := run.options.effective_arguments.get(PIN)) and (base := store.bookmarks.listings(tx, pinned)[0]) \
            not in (None, current):
        # Its sources advanced from the pinned run's state: over a newer one they would wind back.
        raise errors.ConcurrentModificationException(
            f"JobBookmark of {run.job_name} moved from version {base} (what the pinned run {pinned} read) to "
            f"{current}: this re-run reprocessed its input but cannot commit over the newer state")
    bookmarks.load(job_bookmark)  # a state the next run can read, or ValueError
    store.bookmarks.stage(tx, store.bookmarks.Stage(run.id, run.job_name, base_version, job_bookmark, listed,
                                                    store.now()))
    return base_version + 1


def _mode(run: JobRun) -> str:
    try:
        return bookmarks.options(run.options.effective_arguments).mode.removeprefix("job-bookmark-")
    except errors.InvalidInputException:
        return "misconfigured"


def reset(tx: store.Tx, job_name: str, run_id: str | None) -> Version:
    """ResetJobBookmark: the next run reads everything (no ``run_id``) or what came after that
    run (a rewind). A new version either way (Run unchanged); none is removed."""
    head = store.bookmarks.latest(tx, job_name)
    state, reason = "", RESET
    if run_id is not None:
        found = store.bookmarks.committed_by(tx, job_name, run_id)
        if found is None:
            raise errors.EntityNotFoundException(f"Job run {run_id} committed no bookmark of {job_name}")
        state, reason = found.job_bookmark, REWIND
    last = _last_commit(tx, job_name)
    version = Version(job_name, (head.version if head else 0) + 1, head.run if head else 0,
                      head.attempt if head else 0, None, last.run_id if last else None, state,
                      {"rewound_to": run_id} if run_id else None, reason, store.now())
    store.bookmarks.add(tx, version)
    return version
