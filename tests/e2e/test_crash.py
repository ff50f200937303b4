"""Invariant 1 end to end: SIGKILL ``adhere serve`` mid-run, start another, and the run carries on.

The job processes live in their own process groups, so they outlive the killed orchestrator;
the next one adopts them from their store rows (engine run id = pid:start_ticks:run_dir) and
learns their end from the exit status their boot wrapper wrote. Nothing runs twice, no trigger
fires twice, nothing is left RUNNING. The kill lands at three moments of the graph, on SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Project

_JOB = "Command: {Name: pythonshell, ScriptLocation: job.py}"
# Three starts; an AND and an ANY join; a FAILED branch; a branch that never fires.
#   crash.start -> s1, s2, s3(fails)
#   s1 AND s2 -> a      s1 ANY s2 -> b      s3 FAILED -> f      s3 SUCCEEDED -> never
#   a AND b -> c        c AND f -> d        d ANY never -> e
CRASH = f"""\
    Workflows:
      - Name: crash
    Jobs:
      - {{Name: s1, Workflow: crash, {_JOB}, DefaultArguments: {{--sleep: "0.5"}}}}
      - {{Name: s2, Workflow: crash, {_JOB}, DefaultArguments: {{--sleep: "0.6"}}}}
      - {{Name: s3, Workflow: crash, {_JOB}, DefaultArguments: {{--sleep: "0.4", --fail: "true"}}}}
      - {{Name: a, Workflow: crash, {_JOB}, DefaultArguments: {{--sleep: "0.6"}}, DependsOn: [s1, s2]}}
      - {{Name: b, Workflow: crash, {_JOB}, DefaultArguments: {{--sleep: "0.4"}}, DependsOn: [s1, s2], WaitFor: ANY}}
      - {{Name: f, Workflow: crash, {_JOB}, DefaultArguments: {{--sleep: "0.5"}}, DependsOn: {{s3: FAILED}}}}
      - {{Name: never, Workflow: crash, {_JOB}, DependsOn: {{s3: SUCCEEDED}}}}
      - {{Name: c, Workflow: crash, {_JOB}, DefaultArguments: {{--sleep: "0.5"}}, DependsOn: [a, b]}}
      - {{Name: d, Workflow: crash, {_JOB}, DefaultArguments: {{--sleep: "0.3"}}, DependsOn: [c, f]}}
      - {{Name: e, Workflow: crash, {_JOB}, DefaultArguments: {{--sleep: "0.3"}}, DependsOn: [d, never], WaitFor: ANY}}
"""
EXPECTED = {
    "s1": "SUCCEEDED",
    "s2": "SUCCEEDED",
    "s3": "FAILED",
    "a": "SUCCEEDED",
    "b": "SUCCEEDED",
    "f": "SUCCEEDED",
    "c": "SUCCEEDED",
    "d": "SUCCEEDED",
    "e": "SUCCEEDED",
}
FIRED = {
    "crash.start",
    "crash.a.depends",
    "crash.b.depends",
    "crash.f.depends",
    "crash.c.depends",
    "crash.d.depends",
    "crash.e.depends",
}  # never crash.never.depends
ACTIVE = ("WAITING", "STARTING", "RUNNING", "STOPPING")


def _first_wave(states: dict[str, str]) -> bool:
    """The three start jobs running, none finished: the kill lands before any trigger fired."""
    return all(states.get(j) == "RUNNING" for j in ("s1", "s2", "s3"))


def _mid_graph(states: dict[str, str]) -> bool:
    """Some jobs done, others running: the starts finished, the AND join or the FAILED branch running."""
    done = all(states.get(j) in ("SUCCEEDED", "FAILED") for j in ("s1", "s2", "s3"))
    return done and "RUNNING" in (states.get("a"), states.get("f"))


def _late(states: dict[str, str]) -> bool:
    """Deep in the graph: c running (after the AND of a and b), d and e still to come."""
    return states.get("c") == "RUNNING"


@contextlib.contextmanager
def _store_connection(project: Project) -> Iterator[Callable[..., list[tuple[Any, ...]]]]:
    """``execute(sql, *params)`` on a connection of the test's own, in autocommit mode."""
    if project.db_url is None:
        conn = sqlite3.connect(project.dir / ".adhere" / "adhere.db", timeout=30, isolation_level=None)
        try:
            yield lambda query, *params: conn.execute(query, params).fetchall()
        finally:
            conn.close()
        return
    import psycopg

    def execute(query: str, *params: Any) -> list[tuple[Any, ...]]:
        cursor = pg.execute(query.replace("?", "%s"), params)
        return cursor.fetchall() if cursor.description else []

    with psycopg.connect(project.db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as pg:
        yield execute


@pytest.mark.parametrize(
    "moment", [_first_wave, _mid_graph, _late], ids=["first-wave", "mid-graph", "late"]
)
def test_sigkill_serve_mid_run_then_restart_finishes_everything_once(
    project: Project, moment: Callable[[dict[str, str]], bool]
) -> None:
    project.job_script()
    project.apply(CRASH)
    env = {"ADHERE_MAX_PROCESSES": "8"}  # the whole wave runs at once, whatever the core count
    serve = project.spawn("serve", env=env)
    project.wait_for(lambda: project.serving(serve.pid), 30, "serve to register")
    run_id = project.cli("run", "crash", "--no-wait").out.strip()

    def current() -> dict[str, str]:
        return {name: states[-1] for name, states in project.job_states(run_id).items()}

    def kill_moment() -> dict[str, str] | None:
        states = current()
        # Not while a run is STARTING: between "process spawned" and "RUNNING recorded" a kill
        # makes the next orchestrator fail the run (see test_kill_between_spawn_and_record).
        if moment(states) and "STARTING" not in states.values():
            return states
        return None

    at_kill = project.wait_for(kill_moment, 30, f"the {moment.__name__} moment", interval=0.005)
    os.killpg(serve.pid, signal.SIGKILL)  # serve's group only: its jobs have their own
    serve.wait(10)
    running_at_kill = {
        r[0]: r[1]
        for r in project.sql(
            "SELECT job_name, id FROM job_runs WHERE workflow_run_id = ? AND state = 'RUNNING'",
            run_id,
        )
    }
    assert running_at_kill, at_kill
    assert project.run_status(run_id) == "RUNNING"

    restarted = project.spawn("serve", env=env)
    project.wait_for(
        lambda: project.run_status(run_id) == "COMPLETED",
        60,
        "the restarted serve to finish the run",
    )
    assert project.terminate(restarted) == 0

    rows = project.sql(
        "SELECT job_name, id, state, owner, error_message FROM job_runs WHERE workflow_run_id = ?",
        run_id,
    )
    runs_per_job = Counter(r[0] for r in rows)
    assert runs_per_job == dict.fromkeys(EXPECTED, 1), rows
    final = {r[0]: r[2] for r in rows}
    assert final == EXPECTED, rows
    assert not project.sql(f"SELECT id, state FROM job_runs WHERE state IN {ACTIVE}")
    # Adopted, not restarted: the rows running at the kill finished under the new serve.
    by_name = {r[0]: r for r in rows}
    for name, job_run_id in running_at_kill.items():
        assert by_name[name][1] == job_run_id
        assert by_name[name][2] == EXPECTED[name], by_name[name]
        assert f":{restarted.pid}:" in by_name[name][3]
    assert by_name["s3"][4] == "ValueError: boom"

    firings = Counter(
        r[0]
        for r in project.sql("SELECT trigger_name FROM trigger_firings WHERE scope = ?", run_id)
    )
    assert firings == dict.fromkeys(FIRED, 1)
    assert project.ledger() == dict.fromkeys(EXPECTED, 1)  # each job executed exactly once

    assert not [pid for pid in project.job_pids() if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


GAP = f"""\
    Workflows:
      - Name: gap
    Jobs:
      - {{Name: solo, Workflow: gap, {_JOB}, DefaultArguments: {{--sleep: "1.0"}}}}
      - {{Name: after, Workflow: gap, {_JOB}, DependsOn: [solo]}}
      - {{Name: on_fail, Workflow: gap, {_JOB}, DependsOn: {{solo: FAILED}}}}
"""


def test_kill_between_spawn_and_record(project: Project) -> None:
    """SIGKILL serve after it spawned a job but before it recorded it RUNNING (held there by the
    test locking the run: SQLite's write lock, or the row on PostgreSQL): the next serve must
    adopt the job, not fail it."""
    project.job_script()
    project.apply(GAP)
    run_id = project.cli("run", "gap", "--no-wait").out.strip()
    serve = project.spawn("serve")
    with _store_connection(project) as execute:

        def starting() -> bool:
            return bool(execute(
                "SELECT 1 FROM job_runs WHERE workflow_run_id = ? AND state = 'STARTING' AND owner IS NOT NULL",
                run_id,
            ))  # fmt: skip

        project.wait_for(starting, 30, "serve to create the job run", interval=0.0005)
        # serve's "RUNNING + engine run id" write now waits on us.
        execute("BEGIN IMMEDIATE" if project.db_url is None else "BEGIN")
        lock = "" if project.db_url is None else " FOR UPDATE"
        recorded = execute(f"SELECT engine_run_id FROM job_runs WHERE workflow_run_id = ?{lock}", run_id)[0][0]
        if recorded:
            pytest.skip("serve recorded the run before the test could hold the store")
        project.wait_for(lambda: project.ledger()["solo"] == 1, 30, "the job process to start")
        os.killpg(serve.pid, signal.SIGKILL)
        serve.wait(10)
        execute("ROLLBACK")

    restarted = project.serve()
    project.wait_for(
        lambda: project.run_status(run_id) == "COMPLETED", 30, "the restarted serve to finish"
    )
    assert project.terminate(restarted) == 0
    rows = project.sql(
        "SELECT job_name, state, error_message FROM job_runs WHERE workflow_run_id = ?", run_id
    )
    assert project.ledger() == {"solo": 1, "after": 1}, rows
    assert sorted((r[0], r[1]) for r in rows) == [("after", "SUCCEEDED"), ("solo", "SUCCEEDED")], (
        rows
    )
