"""Admission and execution across OS processes sharing one PostgreSQL store.

Real processes, released together by a barrier: two StartJobRun calls on a job with
MaxConcurrentRuns 1 admit exactly one; the same for StartWorkflowRun on a workflow with
MaxConcurrentRuns 1; and two orchestrators serving the same store never run a job twice.
PostgreSQL only (SQLite serialises writers, so there is no race to lose there); skipped
without ADHERE_TEST_POSTGRES_URL, failed under ADHERE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from orchestrator import definitions, service, store
from orchestrator.settings import Settings

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]
ROUNDS = 3


@pytest.fixture
def pg_url(
    tmp_path: Path, fresh_db_url: Callable[[str, Path], AbstractContextManager[str]]
) -> Iterator[str]:
    with fresh_db_url("postgres", tmp_path) as url:
        yield url


def _start(kind: str, url: str, name: str, barrier: Any, results: Any) -> None:
    """In a spawned process: wait at the barrier, then start a run; report the outcome."""
    from orchestrator import errors as errors_
    from orchestrator import service as service_
    from orchestrator import store as store_

    db = store_.Store.open_url(url)
    try:
        with db.read() as conn:  # connect before the barrier, so the race is on the start itself
            conn.exec_driver_sql("SELECT 1")
        barrier.wait(timeout=30)
        try:
            if kind == "job":
                service_.start_job_run(db, name)
            else:
                service_.start_workflow_run(db, name)
            results.put("started")
        except errors_.ConcurrentRunsExceededException:
            results.put("ConcurrentRunsExceededException")
        except Exception as exc:  # reported, so the test shows it
            results.put(f"{type(exc).__name__}: {exc}")
    finally:
        db.close()


def _race(kind: str, url: str, name: str) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_start, args=(kind, url, name, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        outcomes = sorted(results.get(timeout=60) for _ in procs)
    finally:
        for p in procs:
            p.join(30)
    results.close()
    results.join_thread()
    return outcomes


def _apply(db: store.Store, folder: Path, data: dict[str, Any]) -> None:
    settings = Settings(home=folder / ".adhere", db_url=db.url)
    service.apply(db, definitions.load_mapping(data, base_dir=folder), settings)


def _job(name: str, script: str = "count.py", **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Command": {"Name": "pythonshell", "ScriptLocation": script}, **extra}


def test_two_processes_start_a_job_with_one_slot(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "count.py").write_text("print('never run here')\n")
    db = store.Store.open_url(pg_url)
    try:
        _apply(db, tmp_path, {"Jobs": [_job(f"one-{i}") for i in range(ROUNDS)]})
        for i in range(ROUNDS):
            assert _race("job", pg_url, f"one-{i}") == [
                "ConcurrentRunsExceededException",
                "started",
            ]
            assert len(service.get_job_runs(db, f"one-{i}")) == 1
    finally:
        db.close()


def test_two_processes_start_a_workflow_with_one_slot(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "count.py").write_text("print('never run here')\n")
    db = store.Store.open_url(pg_url)
    try:
        _apply(db, tmp_path, {
            "Workflows": [{"Name": f"wf-{i}", "MaxConcurrentRuns": 1} for i in range(ROUNDS)],
            "Jobs": [_job(f"j-{i}", Workflow=f"wf-{i}") for i in range(ROUNDS)],
        })  # fmt: skip
        for i in range(ROUNDS):
            assert _race("workflow", pg_url, f"wf-{i}") == [
                "ConcurrentRunsExceededException",
                "started",
            ]
            assert len(service.get_workflow_runs(db, f"wf-{i}")) == 1
    finally:
        db.close()


# Each execution appends its job run id to executions.txt (O_APPEND: lines never interleave).
COUNT = """\
import os, sys, time
args = sys.argv[1:]
run_id = args[args.index("--JOB_RUN_ID") + 1]
fd = os.open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "executions.txt"),
             os.O_WRONLY | os.O_APPEND | os.O_CREAT)
os.write(fd, (run_id + "\\n").encode())
os.close(fd)
time.sleep(0.05)
"""
_SERVE = """\
import sys, time
from orchestrator import runner, store
from orchestrator.settings import Settings
url, home = sys.argv[1], sys.argv[2]
db = store.Store.open_url(url)
orch = runner.Orchestrator(Settings(home=home, db_url=url, poll_interval=0.05, max_processes=4), db,
                           serving=True).start()
while orch.error is None:
    time.sleep(0.1)
raise SystemExit(f"orchestrator failed: {orch.error!r}")
"""


@contextlib.contextmanager
def _orchestrators(url: str, home: Path, n: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    logs = [open(home.parent / f"orchestrator-{i}.log", "wb") for i in range(n)]  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SERVE, url, str(home)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for log in logs
    ]
    try:
        yield procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in logs:
            log.close()


def test_two_orchestrators_never_run_a_job_twice(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "count.py").write_text(COUNT)
    fan = [f"leaf-{i}" for i in range(10)]
    three = {"ExecutionProperty": {"MaxConcurrentRuns": 3}}  # three workflow runs at once
    db = store.Store.open_url(pg_url)
    try:
        _apply(db, tmp_path, {
            "Workflows": [{"Name": "fan"}],
            "Jobs": [_job("direct", ExecutionProperty={"MaxConcurrentRuns": 40}),
                     _job("root", Workflow="fan", **three),
                     *[_job(name, Workflow="fan", DependsOn="root", **three) for name in fan],
                     _job("join", Workflow="fan", DependsOn=fan, **three)],
        })  # fmt: skip
        home = tmp_path / ".adhere"
        with _orchestrators(pg_url, home, 2) as procs:
            direct = [service.start_job_run(db, "direct") for _ in range(30)]
            flows = [service.start_workflow_run(db, "fan") for _ in range(3)]
            deadline = time.monotonic() + 60
            while not (
                all(service.get_job_run(db, None, r)["JobRunState"] == "SUCCEEDED" for r in direct)
                and all(service.workflow_run_status(db, r) == "COMPLETED" for r in flows)
            ):
                assert all(p.poll() is None for p in procs), "an orchestrator died; see its log"
                assert time.monotonic() < deadline, "runs not done in 60 s"
                time.sleep(0.1)
            owners = {o["id"] for o in service.serving_orchestrators(db)}
        executions = Counter((tmp_path / "executions.txt").read_text().split())
        workflow_runs = [
            r
            for wr in flows
            for n in service.get_workflow_run(db, None, wr)["Graph"]["Nodes"]
            for r in (n.get("JobDetails") or {}).get("JobRuns", [])
        ]
        expected = set(direct) | {r["Id"] for r in workflow_runs}
        assert len(expected) == 30 + 3 * 12
        assert set(executions) == expected
        assert max(executions.values()) == 1, [k for k, v in executions.items() if v > 1]
        assert all(r["JobRunState"] == "SUCCEEDED" for r in workflow_runs)
        assert len(owners) == 2  # both served (not one idle while the other did everything)
    finally:
        db.close()
