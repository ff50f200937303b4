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
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from driving import REPO, apply, wait_for

from orchestrator import store
from orchestrator.service import job_runs, orchestration, workflow_runs

pytestmark = pytest.mark.postgres
ROUNDS = 3


@pytest.fixture
def pg_url(
    tmp_path: Path, fresh_db_url: Callable[[str, Path], AbstractContextManager[str]]
) -> Iterator[str]:
    with fresh_db_url("postgres", tmp_path) as url:
        yield url


def _start(kind: str, url: str, name: str, barrier: Any, results: Any) -> None:
    """In a spawned process: wait at the barrier, then start a run; report the outcome (or
    whatever went wrong, so that the test shows it instead of waiting for a result)."""
    from orchestrator import errors as errors_
    from orchestrator import store as store_
    from orchestrator.service import job_runs as job_runs_
    from orchestrator.service import workflow_runs as workflow_runs_

    try:
        db = store_.Store.open_url(url)
        try:
            with db.read() as tx:  # connect before the barrier, so the race is on the start itself
                store_.orchestrators.find(tx)
            barrier.wait(timeout=30)
            if kind == "job":
                job_runs_.start_job_run(db, name)
            else:
                workflow_runs_.start_workflow_run(db, name)
            results.put("started")
        finally:
            db.close()
    except errors_.ConcurrentRunsExceededException:
        results.put("ConcurrentRunsExceededException")
    except BaseException as exc:
        results.put(f"{type(exc).__name__}: {exc}")


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
    assert [p.exitcode for p in procs] == [0, 0]
    return outcomes


def _job(name: str, script: str = "count.py", **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Command": {"Name": "pythonshell", "ScriptLocation": script}, **extra}


def test_two_processes_start_a_job_with_one_slot(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "count.py").write_text("print('never run here')\n")
    db = store.Store.open_url(pg_url)
    try:
        apply(db, tmp_path, Jobs=[_job(f"one-{i}") for i in range(ROUNDS)])
        for i in range(ROUNDS):
            assert _race("job", pg_url, f"one-{i}") == [
                "ConcurrentRunsExceededException",
                "started",
            ]
            assert len(job_runs.get_job_runs(db, f"one-{i}")["JobRuns"]) == 1
    finally:
        db.close()


def test_two_processes_start_a_workflow_with_one_slot(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "count.py").write_text("print('never run here')\n")
    db = store.Store.open_url(pg_url)
    try:
        apply(db, tmp_path,
              Workflows=[{"Name": f"wf-{i}", "MaxConcurrentRuns": 1} for i in range(ROUNDS)],
              Jobs=[_job(f"j-{i}", Workflow=f"wf-{i}") for i in range(ROUNDS)])  # fmt: skip
        for i in range(ROUNDS):
            assert _race("workflow", pg_url, f"wf-{i}") == [
                "ConcurrentRunsExceededException",
                "started",
            ]
            assert len(workflow_runs.get_workflow_runs(db, f"wf-{i}")["Runs"]) == 1
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
        apply(db, tmp_path,
              Workflows=[{"Name": "fan"}],
              Jobs=[_job("direct", ExecutionProperty={"MaxConcurrentRuns": 40}),
                    _job("root", Workflow="fan", **three),
                    *[_job(name, Workflow="fan", DependsOn="root", **three) for name in fan],
                    _job("join", Workflow="fan", DependsOn=fan, **three)])  # fmt: skip
        home = tmp_path / ".adhere"
        with _orchestrators(pg_url, home, 2) as procs:

            def both_serving() -> bool:
                assert all(p.poll() is None for p in procs), "an orchestrator died; see its log"
                return len(orchestration.serving_orchestrators(db)) == 2

            # Both up before any work is written, so that each can take its share.
            wait_for(both_serving, 60, what="two serving orchestrators")
            owners = {o.id for o in orchestration.serving_orchestrators(db)}
            direct = [job_runs.start_job_run(db, "direct") for _ in range(30)]
            flows = [workflow_runs.start_workflow_run(db, "fan") for _ in range(3)]

            def all_done() -> bool:
                assert all(p.poll() is None for p in procs), "an orchestrator died; see its log"
                return all(
                    job_runs.get_job_run(db, None, r)["JobRunState"] == "SUCCEEDED" for r in direct
                ) and all(workflow_runs.workflow_run_status(db, r) == "COMPLETED" for r in flows)

            wait_for(all_done, 60, what="every run done")
        executions = Counter((tmp_path / "executions.txt").read_text().split())
        in_flows = [
            r
            for wr in flows
            for n in workflow_runs.get_workflow_run(db, None, wr)["Graph"]["Nodes"]
            for r in (n.get("JobDetails") or {}).get("JobRuns", [])
        ]
        expected = set(direct) | {r["Id"] for r in in_flows}
        assert len(expected) == 30 + 3 * 12
        assert set(executions) == expected
        assert max(executions.values()) == 1, [k for k, v in executions.items() if v > 1]
        assert [r["JobRunState"] for r in in_flows] == ["SUCCEEDED"] * 3 * 12
        with db.read() as tx:
            ran_by = Counter(run.owner for run in store.job_runs.get_many(tx, expected).values())
        # Both served (not one idle while the other did everything), and no run went unowned.
        assert set(ran_by) == owners and len(owners) == 2, ran_by
    finally:
        db.close()


@pytest.mark.parametrize("idle_ping", [0.0, 3600.0], ids=["tested-when-idle", "not-tested"])
def test_a_connection_the_server_dropped_is_replaced(pg_url: str, idle_ping: float,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A pooled connection killed on the server's side (a restart, an idle timeout) is tested
    when it has been idle and replaced; one in steady use is not tested (no round trip)."""
    import sqlalchemy as sa

    from orchestrator.store import database

    monkeypatch.setattr(database, "_IDLE_PING", idle_ping)
    db = store.Store.open_url(pg_url)
    try:
        with db.read() as tx:
            pid = tx.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        killer = sa.create_engine(pg_url)
        with killer.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        killer.dispose()
        if idle_ping:
            with pytest.raises(Exception, match=r"terminat|closed|connection"), db.read() as tx:
                tx.execute(sa.text("SELECT 1"))
        with db.read() as tx:  # the pool has replaced it either way by now
            assert tx.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        db.close()
