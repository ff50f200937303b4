"""The job-side runtime API (orchestrator.runtime) from real job processes, on SQLite and PostgreSQL.

A job puts a workflow run property and a later job of the same run reads it; Glue's
``getResolvedOptions`` resolves the arguments a job is started with, ignores the ones it was
not asked for, and stops a job whose required option is missing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator import definitions, runner, runtime, service, store
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
}


def _job(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Command": {"Name": "pythonshell", "ScriptLocation": script}, **extra}


def _drive(db: store.Store, settings: Settings, done: Any, timeout: float = 30) -> None:
    orch = runner.Orchestrator(settings, db).start()
    deadline = time.monotonic() + timeout
    try:
        while not (done() and not orch.busy):
            assert orch.error is None, orch.error
            assert time.monotonic() < deadline, "not done in time"
            time.sleep(0.05)
    finally:
        orch.stop()


@pytest.fixture
def applied(db: store.Store, settings: Settings, tmp_path: Path) -> Path:
    folder = tmp_path / "jobs"
    folder.mkdir()
    for name, body in SCRIPTS.items():
        (folder / name).write_text(body)
    out = tmp_path / "consumed.json"
    data = {
        "Workflows": [{"Name": "props", "DefaultRunProperties": {"rows": "0", "kept": "yes"}}],
        "Jobs": [
            _job("produce", "produce.py", Workflow="props"),
            _job(
                "consume",
                "consume.py",
                Workflow="props",
                DependsOn="produce",
                DefaultArguments={"--out": str(out), "--unasked": "ignored"},
            ),
            _job("needs_missing", "needs_missing.py"),
            _job("outside", "outside.py"),
        ],
    }
    service.apply(db, definitions.load_mapping(data, base_dir=folder), settings)
    return out


def test_a_job_reads_the_run_property_an_earlier_job_put(
    db: store.Store, settings: Settings, applied: Path
) -> None:
    run_id = service.start_workflow_run(db, "props")
    _drive(db, settings, lambda: service.workflow_run_status(db, run_id) == "COMPLETED")
    run = service.get_workflow_run(db, "props", run_id)
    assert run["Statistics"]["SucceededActions"] == 2, run["Statistics"]
    got = json.loads(applied.read_text())
    assert got["props"] == {"rows": "42", "producer": "produce", "kept": "yes"}
    assert got["args"]["WORKFLOW_RUN_ID"] == run_id and got["args"]["JOB_NAME"] == "consume"
    assert got["args"]["out"] == str(applied) and "unasked" not in got["args"]
    assert run["WorkflowRunProperties"] == {"rows": "42", "producer": "produce", "kept": "yes"}
    # The workflow's defaults are untouched.
    assert service.get_workflow(db, "props")["DefaultRunProperties"] == {"rows": "0", "kept": "yes"}


def test_a_missing_required_option_fails_the_job(
    db: store.Store, settings: Settings, applied: Path
) -> None:
    missing = service.start_job_run(db, "needs_missing")
    outside = service.start_job_run(db, "outside")
    _drive(
        db,
        settings,
        lambda: all(
            service.get_job_run(db, None, r)["JobRunState"]
            not in ("STARTING", "RUNNING", "WAITING")
            for r in (missing, outside)
        ),
    )
    got = service.get_job_run(db, None, missing)
    assert got["JobRunState"] == "FAILED"
    assert "--not_given" in got["ErrorMessage"] and "required" in got["ErrorMessage"]
    got = service.get_job_run(db, None, outside)
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
