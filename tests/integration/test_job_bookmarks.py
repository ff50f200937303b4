"""Job bookmarks on the server side, on SQLite and PostgreSQL: a run's commit() is staged and
promoted by its SUCCEEDED end only (Version and Run grow, Attempt is the run's); a run that fails
or times out never advances the bookmark; two runs over one version cannot both commit;
GetJobBookmark/ResetJobBookmark (whole, and back to a run), the history, bad options refused at
start, and the bookmark deleted with its job. The job side is in test_bookmarks_runtime.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from driving import apply, job

from orchestrator import errors, job_run, store
from orchestrator.service import bookmarks, job_runs, jobs
from orchestrator.settings import Settings
from orchestrator.states import JobRunState

ENABLE = {"--job-bookmark-option": "job-bookmark-enable"}


def _state(n: int) -> str:
    return json.dumps({"orders": {"kind": "files", "prefix": "/data", "watermark_ms": n, "in_band": {}}},
                      separators=(",", ":"), sort_keys=True)


@pytest.fixture
def loader(db: store.Store, tmp_path: Path) -> str:
    (tmp_path / "load.py").write_text("print('ok')\n")
    apply(db, tmp_path, Jobs=[job("load", "load.py", DefaultArguments=ENABLE, MaxRetries=1,
                                  ExecutionProperty={"MaxConcurrentRuns": 3})])
    return "load"


def _start(db: store.Store, **arguments: str) -> str:
    return job_runs.start_job_run(db, "load", arguments=arguments or None)


def _end(db: store.Store, run_id: str, state: JobRunState = JobRunState.SUCCEEDED) -> store.job_runs.JobRun:
    """End a run as its engine would report it (a stop or a timeout goes through STOPPING)."""
    with db.transaction() as tx:
        store.job_runs.set_state(tx, run_id, JobRunState.RUNNING.value, expect=[JobRunState.STARTING.value])
        if state in (JobRunState.STOPPED, JobRunState.TIMEOUT):
            store.job_runs.set_state(tx, run_id, JobRunState.STOPPING.value, stop_reason=state.value)
            state = JobRunState.FAILED
        run = store.job_runs.get(tx, run_id)
        assert run is not None
        ended, _retry = job_run.complete(tx, run, state, error_message=None if state is JobRunState.SUCCEEDED else "x")
    assert ended is not None
    return ended


def _entry(db: store.Store, run_id: str | None = None) -> dict:
    return bookmarks.get_job_bookmark(db, "load", run_id)["JobBookmarkEntry"]


def test_a_commit_is_promoted_by_the_runs_success_only(db: store.Store, loader: str) -> None:
    with pytest.raises(errors.EntityNotFoundException, match="Continuation for job load not found"):
        _entry(db)
    first = _start(db)
    assert bookmarks.job_bookmark_context(db, "load", first)["Version"] == 0
    assert bookmarks.commit_job_bookmark(db, "load", first, 0, _state(1), {"orders": {"new": 3}}) == {
        "Staged": True, "Version": 1}
    with pytest.raises(errors.EntityNotFoundException):
        _entry(db)  # staged, not promoted
    _end(db, first)
    assert _entry(db) == {"JobName": "load", "Version": 1, "Run": 1, "Attempt": 0, "RunId": first,
                          "JobBookmark": _state(1)}
    # A run that commits and then fails: nothing advances, and its retry reads the same version.
    second = _start(db)
    bookmarks.commit_job_bookmark(db, "load", second, 1, _state(2))
    ended = _end(db, second, JobRunState.FAILED)
    assert _entry(db)["Version"] == 1
    with db.read() as tx:
        [retry] = [r for r in store.job_runs.of_job(tx, "load") if r.previous_run_id == ended.id]
    assert bookmarks.job_bookmark_context(db, "load", retry.id)["JobBookmark"] == _state(1)
    bookmarks.commit_job_bookmark(db, "load", retry.id, 1, _state(2))
    _end(db, retry.id)
    assert _entry(db) == {"JobName": "load", "Version": 2, "Run": 2, "Attempt": 1, "RunId": retry.id,
                          "PreviousRunId": first, "JobBookmark": _state(2)}
    assert _entry(db, first)["Version"] == 1  # GetJobBookmark with RunId: what that run committed


@pytest.mark.parametrize("state", [JobRunState.TIMEOUT, JobRunState.STOPPED])
def test_runs_that_do_not_succeed_never_advance(db: store.Store, loader: str, state: JobRunState) -> None:
    run = _start(db)
    bookmarks.commit_job_bookmark(db, "load", run, 0, _state(1))
    assert _end(db, run, state).state == state.value
    with pytest.raises(errors.EntityNotFoundException):
        _entry(db)
    with db.read() as tx:
        assert store.bookmarks.staged(tx, run) is None


def test_two_runs_over_one_version_cannot_both_commit(db: store.Store, loader: str) -> None:
    one, two, three = _start(db), _start(db), _start(db)
    bookmarks.commit_job_bookmark(db, "load", one, 0, _state(1))
    bookmarks.commit_job_bookmark(db, "load", two, 0, _state(2))
    _end(db, one)
    ended = _end(db, two)  # it read version 0, which one moved on
    assert ended.state == "FAILED" and "moved from version 0 to 1" in (ended.error_message or "")
    with pytest.raises(errors.ConcurrentModificationException, match="version 1, not 0"):
        bookmarks.commit_job_bookmark(db, "load", three, 0, _state(3))
    assert _entry(db)["Version"] == 1 and _entry(db)["JobBookmark"] == _state(1)


def test_reset_and_rewind_add_versions_and_keep_history(db: store.Store, loader: str) -> None:
    runs = []
    for n in (1, 2, 3):
        run = _start(db)
        bookmarks.commit_job_bookmark(db, "load", run, n - 1, _state(n))
        _end(db, run)
        runs.append(run)
    rewound = bookmarks.reset_job_bookmark(db, "load", runs[0])["JobBookmarkEntry"]
    assert (rewound["Version"], rewound["Run"], rewound["JobBookmark"]) == (4, 3, _state(1))
    reset = bookmarks.reset_job_bookmark(db, "load")["JobBookmarkEntry"]
    assert (reset["Version"], reset["JobBookmark"]) == (5, "")
    history = bookmarks.job_bookmark_history(db, "load")["JobBookmarkEntries"]
    assert [(e["Version"], e["Reason"]) for e in history] == [(5, "RESET"), (4, "REWIND"), (3, "COMMIT"),
                                                               (2, "COMMIT"), (1, "COMMIT")]
    with pytest.raises(errors.EntityNotFoundException, match="committed no bookmark"):
        bookmarks.reset_job_bookmark(db, "load", "jr_" + "0" * 64)
    # from/to windows resolve by run id: the states after the first and the third run.
    window = _start(db, **{"--job-bookmark-option": "job-bookmark-pause", "--job-bookmark-from": runs[0],
                           "--job-bookmark-to": runs[2]})
    found = bookmarks.job_bookmark_context(db, "load", window)
    assert (found["Mode"], found["From"], found["To"]) == ("job-bookmark-pause", _state(1), _state(3))


def test_bad_options_are_refused_at_start(db: store.Store, settings: Settings, loader: str) -> None:
    with pytest.raises(errors.InvalidInputException, match="job-bookmark-from"):
        _start(db, **{"--job-bookmark-option": "job-bookmark-pause", "--job-bookmark-from": "jr_x"})
    with pytest.raises(errors.InvalidInputException, match="job-bookmark-enable"):
        _start(db, **{"--job-bookmark-option": "job-bookmark-sometimes"})
    disabled = _start(db, **{"--job-bookmark-option": "job-bookmark-disable"})
    with pytest.raises(errors.InvalidInputException, match="commit\\(\\) records nothing"):
        bookmarks.commit_job_bookmark(db, "load", disabled, 0, _state(1))


def test_the_bookmark_goes_with_its_job(db: store.Store, loader: str) -> None:
    run = _start(db)
    bookmarks.commit_job_bookmark(db, "load", run, 0, _state(1))
    _end(db, run)
    jobs.delete_job(db, "load")
    with db.read() as tx:
        assert store.bookmarks.latest(tx, "load") is None


def test_a_window_must_name_runs_of_the_job(db: store.Store, loader: str) -> None:
    run = _start(db)
    with pytest.raises(errors.InvalidInputException, match="--job-bookmark-to jr_nope: no run of job load"):
        _start(db, **{"--job-bookmark-option": "job-bookmark-pause", "--job-bookmark-from": run,
                      "--job-bookmark-to": "jr_nope"})


def test_a_pinned_rerun_cannot_commit_over_a_newer_state(db: store.Store, loader: str) -> None:
    failed = _start(db)
    bookmarks.record_job_bookmark_listing(db, "load", failed, "orders", 0, 1_700_000_000_000)
    _end(db, failed, JobRunState.FAILED)
    other = _start(db)
    bookmarks.commit_job_bookmark(db, "load", other, 0, _state(5))
    _end(db, other)
    pinned = _start(db, **{"--job-bookmark-pin": failed})
    found = bookmarks.job_bookmark_context(db, "load", pinned)
    assert found["Pin"] == {"RunId": failed, "Version": 0, "JobBookmark": "", "ListedAt": {"orders": 1_700_000_000_000}}
    with pytest.raises(errors.ConcurrentModificationException, match="pinned run"):
        bookmarks.commit_job_bookmark(db, "load", pinned, 1, _state(6))
