"""What the orchestrator adds on top of each engine, checked on every engine: a Timeout ends the
run TIMEOUT (and its TIMEOUT branch fires), and a job reads its Glue arguments and the workflow
run's properties through the runtime API, writing properties its downstream job sees."""

from __future__ import annotations

import importlib.util
import os
import shutil
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator import service, states
from orchestrator.definitions import loading
from orchestrator.service import definitions, orchestration, workflow_runs
from orchestrator.settings import Settings

PUBLISH = """\
import sys
from orchestrator.runtime import getResolvedOptions, put_run_properties
args = getResolvedOptions(sys.argv, ["JOB_NAME", "greeting"])
put_run_properties({"greeting": args["greeting"], "writer": args["JOB_NAME"]})
print("published", args, flush=True)
"""
READ = """\
import pathlib, sys
from orchestrator.runtime import get_run_properties
props = get_run_properties()
pathlib.Path(__file__).with_name("seen.txt").write_text(f"{props['greeting']} from {props['writer']}")
"""
HANG = "import time\nprint('hanging', flush=True)\ntime.sleep(120)\n"
MARK = "import pathlib\npathlib.Path(__file__).with_name('timeout-branch.txt').write_text('ran')\n"


def _require(command: str) -> None:
    if command == "pythonshell":
        return
    module = "ray" if command == "glueray" else "pyspark"
    missing = importlib.util.find_spec(module) is None or (command == "glueetl" and shutil.which("java") is None)
    if missing:
        if os.environ.get("ADHERE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{command} needs {module}{' and Java' if command == 'glueetl' else ''}")
        pytest.skip(f"{command} needs {module}")


@pytest.fixture(params=[
    "pythonshell",
    pytest.param("glueray", marks=pytest.mark.ray),
    pytest.param("glueetl", marks=pytest.mark.spark),
])
def engine_project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path, Settings]]:
    command = request.param
    _require(command)
    settings = Settings(home=tmp_path / ".adhere", poll_interval=0.05, kill_grace=1.0)
    try:
        yield command, tmp_path, settings
    finally:
        if command == "glueray":
            from engines import ray_cluster

            ray_cluster.LocalCluster(settings.home / "engines" / "glueray").stop()


def _drive(db: service.Store, settings: Settings, run_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    terminal = {s.value for s in states.WORKFLOW_RUN_TERMINAL}

    def done() -> bool:
        assert time.monotonic() < deadline, f"workflow run not finished after {timeout}s"
        return workflow_runs.workflow_run_status(db, run_id) in terminal

    with orchestration.host(db, settings, scope=run_id) as wait:
        wait(done, None)
    return workflow_runs.get_workflow_run(db, None, run_id)


def test_timeouts_and_the_runtime_api_on_every_engine(engine_project: tuple[str, Path, Settings]) -> None:
    command, folder, settings = engine_project
    for name, body in {"publish.py": PUBLISH, "read.py": READ, "hang.py": HANG, "mark.py": MARK}.items():
        (folder / name).write_text(textwrap.dedent(body))
    on = {"Name": command}
    data = {
        "Workflows": [{"Name": "contract"}],
        "Jobs": [
            {"Name": "publish", "Command": {**on, "ScriptLocation": "publish.py"}, "Workflow": "contract",
             "DefaultArguments": {"--greeting": "hello"}},
            {"Name": "read", "Command": {**on, "ScriptLocation": "read.py"}, "Workflow": "contract",
             "DependsOn": {"publish": "SUCCEEDED"}},
            {"Name": "hang", "Command": {**on, "ScriptLocation": "hang.py"}, "Workflow": "contract",
             "Timeout": "4s"},
            {"Name": "after_timeout", "Command": {"ScriptLocation": "mark.py"}, "Workflow": "contract",
             "DependsOn": {"hang": "TIMEOUT"}},
        ],
    }
    db = service.open_store(settings)
    try:
        definitions.apply(db, loading.load_mapping(data, base_dir=folder))
        run = _drive(db, settings, workflow_runs.start_workflow_run(db, "contract"))
    finally:
        db.close()
    latest = {
        node["Name"]: node["JobDetails"]["JobRuns"][-1]
        for node in run["Graph"]["Nodes"] if node.get("JobDetails")
    }
    assert run["Status"] == "COMPLETED"
    assert {name: r["JobRunState"] for name, r in latest.items()} == {
        "publish": "SUCCEEDED", "read": "SUCCEEDED", "hang": "TIMEOUT", "after_timeout": "SUCCEEDED",
    }, {name: r.get("ErrorMessage") for name, r in latest.items()}
    assert "timed out" in latest["hang"]["ErrorMessage"]
    assert (folder / "seen.txt").read_text() == "hello from publish"
    assert (folder / "timeout-branch.txt").exists()
    assert run["WorkflowRunProperties"]["writer"] == "publish"
