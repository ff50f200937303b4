"""The job-side runtime API (orchestrator.runtime) from real job processes, on SQLite and PostgreSQL.

A job puts a workflow run property and a later job of the same run reads it; run properties
written at once by a job and by two other writers (as CLI calls would) all survive; Glue's
``getResolvedOptions`` resolves the arguments a job is started with, ignores the ones it was
not asked for, and stops a job whose required option is missing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from driving import apply, job, wait_for

from orchestrator import runner, runtime, store
from orchestrator.service import job_runs, workflow_runs, workflows
from orchestrator.settings import Settings

SCRIPTS = {
    "produce.py": """\
import sys
from orchestrator.runtime import getResolvedOptions, put_run_properties
args = getResolvedOptions(sys.argv, ["JOB_NAME", "WORKFLOW_NAME", "WORKFLOW_RUN_ID"])
put_run_properties({"rows": "42", "producer": args["JOB_NAME"]})
""",
    "consume.py": """\
import json, pathlib, sys
from orchestrator.runtime import get_run_properties, getResolvedOptions
args = getResolvedOptions(sys.argv, ["JOB_NAME", "JOB_RUN_ID", "WORKFLOW_RUN_ID", "out"])
props = get_run_properties()
pathlib.Path(args["out"]).write_text(json.dumps({"args": args, "props": props}))
""",
    "needs_missing.py": """\
import sys
from orchestrator.runtime import getResolvedOptions
getResolvedOptions(sys.argv, ["JOB_NAME", "not_given"])
""",
    "outside.py": """\
from orchestrator.runtime import get_run_properties
get_run_properties()
""",
    # Puts a new key every 20 ms (at least 10 of them) until the test says the other writers are
    # done, then how many it put.
    "keep_putting.py": """\
import pathlib, time
from orchestrator.runtime import put_run_properties
done = pathlib.Path(__file__).resolve().parent / "writers-done"
give_up = time.monotonic() + 60
n = 0
while n < 10 or not done.exists():
    assert time.monotonic() < give_up, "the other writers never finished"
    put_run_properties({f"job-{n:04d}": str(n)})
    n += 1
    time.sleep(0.02)
put_run_properties({"job-count": str(n)})
""",
}


def _drive(
    db: store.Store, settings: Settings, done: Callable[[], bool], timeout: float = 30
) -> None:
    """Run an orchestrator until ``done()`` and it follows no run."""
    give_up = time.monotonic() + timeout

    def in_time() -> None:
        assert time.monotonic() < give_up, "not done in time"

    orch = runner.Orchestrator(settings, db).start()
    try:
        runner.run_until(orch, done, tick=in_time, interval=0.05)
    finally:
        orch.stop()


@pytest.fixture
def applied(db: store.Store, tmp_path: Path) -> Path:
    folder = tmp_path / "jobs"
    folder.mkdir()
    for name, body in SCRIPTS.items():
        (folder / name).write_text(body)
    out = tmp_path / "consumed.json"
    apply(db, folder,
          Workflows=[{"Name": "props", "DefaultRunProperties": {"rows": "0", "kept": "yes"}},
                     {"Name": "busy", "DefaultRunProperties": {"kept": "yes"}}],
          Jobs=[job("produce", "produce.py", Workflow="props"),
                job("consume", "consume.py", Workflow="props", DependsOn="produce",
                    DefaultArguments={"--out": str(out), "--unasked": "ignored"}),
                job("needs_missing", "needs_missing.py"),
                job("outside", "outside.py"),
                job("keep_putting", "keep_putting.py", Workflow="busy")])  # fmt: skip
    return out


def test_a_job_reads_the_run_property_an_earlier_job_put(
    db: store.Store, settings: Settings, applied: Path
) -> None:
    run_id = workflow_runs.start_workflow_run(db, "props")
    _drive(db, settings, lambda: workflow_runs.workflow_run_status(db, run_id) == "COMPLETED")
    run = workflow_runs.get_workflow_run(db, "props", run_id)
    assert run["Statistics"]["SucceededActions"] == 2, run["Statistics"]
    got = json.loads(applied.read_text())
    assert got["props"] == {"rows": "42", "producer": "produce", "kept": "yes"}
    consume = next(n for n in run["Graph"]["Nodes"] if n["Name"] == "consume")
    [consumed] = consume["JobDetails"]["JobRuns"]
    assert got["args"] == {
        "JOB_NAME": "consume", "JOB_RUN_ID": consumed["Id"], "WORKFLOW_RUN_ID": run_id, "out": str(applied),
    }  # fmt: skip
    assert run["WorkflowRunProperties"] == {"rows": "42", "producer": "produce", "kept": "yes"}
    # The workflow's defaults are untouched.
    assert workflows.get_workflow(db, "props")["Workflow"]["DefaultRunProperties"] == {
        "rows": "0",
        "kept": "yes",
    }


def test_run_properties_written_at_once_by_a_job_and_two_other_writers_all_survive(
    db: store.Store, settings: Settings, applied: Path
) -> None:
    run_id = workflow_runs.start_workflow_run(db, "busy")
    per_writer = 40
    failures: list[BaseException] = []

    def writer(name: str) -> None:
        """A CLI-style writer: its own connection, one PutWorkflowRunProperties per key."""
        own = store.Store.open_url(db.url, upgrade=False)
        try:
            for i in range(per_writer):
                workflow_runs.put_workflow_run_properties(
                    own, "busy", run_id, {f"{name}-{i:04d}": str(i)}
                )
        except BaseException as exc:
            failures.append(exc)
        finally:
            own.close()

    writers = [threading.Thread(target=writer, args=(name,)) for name in ("cli-a", "cli-b")]
    done = applied.parent / "jobs" / "writers-done"
    orch = runner.Orchestrator(settings, db).start()
    try:
        # The other writers start once the job writes, and the job writes until they are done.
        wait_for(
            lambda: "job-0000" in workflow_runs.get_workflow_run_properties(db, "busy", run_id),
            20,
            orch,
            "the job's first key",
        )
        try:
            for thread in writers:
                thread.start()
            for thread in writers:
                thread.join(60)
        finally:
            done.touch()
        assert failures == []
        give_up = time.monotonic() + 30

        def in_time() -> None:
            assert time.monotonic() < give_up, "the job did not end"

        runner.run_until(
            orch,
            lambda: workflow_runs.workflow_run_status(db, run_id) == "COMPLETED",
            tick=in_time,
            interval=0.05,
        )
    finally:
        orch.stop()
    props = workflow_runs.get_workflow_run_properties(db, "busy", run_id)
    count = int(props["job-count"])
    assert count >= 10
    expected = {
        "kept": "yes", "job-count": str(count),
        **{f"job-{i:04d}": str(i) for i in range(count)},
        **{f"{name}-{i:04d}": str(i) for name in ("cli-a", "cli-b") for i in range(per_writer)},
    }  # fmt: skip
    assert props == expected
    nodes = workflow_runs.get_workflow_run(db, "busy", run_id)["Graph"]["Nodes"]
    [ran] = next(n for n in nodes if n["Name"] == "keep_putting")["JobDetails"]["JobRuns"]
    assert ran["JobRunState"] == "SUCCEEDED"


def test_a_missing_required_option_fails_the_job(
    db: store.Store, settings: Settings, applied: Path
) -> None:
    missing = job_runs.start_job_run(db, "needs_missing")
    outside = job_runs.start_job_run(db, "outside")
    _drive(db, settings, lambda: all(
        job_runs.get_job_run(db, None, r)["JobRunState"] not in ("STARTING", "RUNNING", "WAITING")
        for r in (missing, outside)))  # fmt: skip
    got = job_runs.get_job_run(db, None, missing)
    assert got["JobRunState"] == "FAILED"
    assert "--not_given" in got["ErrorMessage"] and "required" in got["ErrorMessage"]
    got = job_runs.get_job_run(db, None, outside)
    assert got["JobRunState"] == "FAILED" and "only available to a job" in got["ErrorMessage"]


def test_get_resolved_options_behaves_like_glue() -> None:
    argv = [
        "script.py",
        "--JOB_NAME",
        "j",
        "--day",
        "2024-01-01",
        "--unknown",
        "x",
        "--flag",
        "--v",
        "-1",
    ]
    assert runtime.getResolvedOptions(argv, ["JOB_NAME", "day"]) == {
        "JOB_NAME": "j",
        "day": "2024-01-01",
    }
    assert runtime.getResolvedOptions(argv, ["v"]) == {"v": "-1"}
    assert runtime.getResolvedOptions(argv, []) == {}
    with pytest.raises(SystemExit):
        runtime.getResolvedOptions(argv, ["JOB_NAME", "missing"])


def test_run_properties_outside_a_workflow_run_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ADHERE_WORKFLOW_RUN_ID", "ADHERE_WORKFLOW_NAME", "ADHERE_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.argv", ["script.py", "--JOB_NAME", "j"])
    properties: dict[str, Any] = {"k": "v"}
    with pytest.raises(
        RuntimeError, match="only available to a job started by adhere inside a workflow run"
    ):
        runtime.put_run_properties(properties)
    with pytest.raises(RuntimeError, match="only available to a job"):
        runtime.get_run_properties()
