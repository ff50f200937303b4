"""The job run lifecycle with real python-shell processes, on SQLite and PostgreSQL.

Retries (automatic, delayed, manual), timeouts, stops, concurrency limits and queuing,
argument merging, delay notifications to a webhook, deadlines that survive an orchestrator
crash, runs whose process was lost, and the ``examples/lifecycle`` workflow. Durations are
a few seconds; the assertions are about behaviour, not speed.
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engines import process
from orchestrator import definitions, errors, models, runner, service, store
from orchestrator.settings import Settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "lifecycle"

# Every script records its argv (by job run id) beside it, then does its part.
_PRELUDE = """\
import json, os, pathlib, subprocess, sys, time
args = sys.argv[1:]
here = pathlib.Path(__file__).resolve().parent
run_id = args[args.index("--JOB_RUN_ID") + 1]
def arg(name, default=None):
    return args[args.index(name) + 1] if name in args else default
(here / "argv").mkdir(exist_ok=True)
(here / "argv" / (run_id + ".json")).write_text(json.dumps(args))
"""
SCRIPTS = {
    "ok.py": "print('ok')\n",
    # Fails until it has been called --succeed-on times (a counter file per job).
    "flaky.py": """\
counter = here / ("count-" + arg("--JOB_NAME"))
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
if n < int(arg("--succeed-on", "3")):
    raise SystemExit(f"attempt {n} fails")
print("attempt", n, "succeeds")
""",
    # Sleeps --seconds; with --child it first starts a `sleep 30` child in its process group.
    # Records its pids, then its start and end times.
    "sleep.py": """\
pids = [os.getpid()]
if arg("--child"):
    pids.append(subprocess.Popen(["sleep", "30"]).pid)
(here / "pids").mkdir(exist_ok=True)
(here / "pids" / (run_id + ".json")).write_text(json.dumps(pids))
start = time.time()
time.sleep(float(arg("--seconds", "30")))
(here / "stamps").mkdir(exist_ok=True)
(here / "stamps" / (run_id + ".json")).write_text(json.dumps([start, time.time()]))
""",
}


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    folder = tmp_path / "jobs"
    folder.mkdir()
    for name, body in SCRIPTS.items():
        (folder / name).write_text(_PRELUDE + body)
    return folder


def apply(db: store.Store, settings: Settings, scripts: Path, **data: Any) -> None:
    service.apply(db, definitions.load_mapping(data, base_dir=scripts), settings)


def job(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Command": {"Name": "pythonshell", "ScriptLocation": script}, **extra}


def on(
    name: str, workflow: str, conditions: Mapping[str, str], *actions: str | dict[str, Any]
) -> dict[str, Any]:
    return {
        "Name": name, "WorkflowName": workflow, "Type": "CONDITIONAL", "StartOnCreation": True,
        "Predicate": {"Logical": "AND", "Conditions": [
            {"LogicalOperator": "EQUALS", "JobName": j, "State": s} for j, s in conditions.items()]},
        "Actions": [a if isinstance(a, dict) else {"JobName": a} for a in actions],
    }  # fmt: skip


def start(name: str, workflow: str, *actions: str | dict[str, Any]) -> dict[str, Any]:
    return {
        "Name": name,
        "WorkflowName": workflow,
        "Type": "ON_DEMAND",
        "Actions": [a if isinstance(a, dict) else {"JobName": a} for a in actions],
    }


@contextlib.contextmanager
def orchestrating(
    db: store.Store, settings: Settings, scope: str | None = None
) -> Iterator[runner.Orchestrator]:
    orch = runner.Orchestrator(settings, db, scope=scope).start()
    try:
        yield orch
    finally:
        orch.stop()


def wait_for(
    check: Callable[[], Any],
    timeout: float = 20.0,
    orch: runner.Orchestrator | None = None,
    what: str = "condition",
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if orch is not None and orch.error is not None:
            raise AssertionError(f"orchestrator failed: {orch.error!r}")
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached after {timeout}s")
        time.sleep(0.05)


def drive_workflow(
    db: store.Store, settings: Settings, run_id: str, timeout: float = 30
) -> dict[str, Any]:
    terminal = {"COMPLETED", "STOPPED", "ERROR"}
    with orchestrating(db, settings, scope=run_id) as orch:
        wait_for(
            lambda: service.workflow_run_status(db, run_id) in terminal and not orch.busy,
            timeout,
            orch,
            f"workflow run {run_id} terminal",
        )
    return service.get_workflow_run(db, None, run_id)


def state(db: store.Store, run_id: str) -> str:
    return service.get_job_run(db, None, run_id)["JobRunState"]


def row(db: store.Store, run_id: str) -> dict[str, Any]:
    with db.read() as conn:
        found = store.get_job_run(conn, run_id)
    assert found is not None
    return found


def runs(db: store.Store, job_name: str) -> list[dict[str, Any]]:
    """GetJobRuns: newest first."""
    return service.get_job_runs(db, job_name)


def is_final(db: store.Store, run_id: str) -> bool:
    return state(db, run_id) in {"SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR", "EXPIRED"}


def firings(db: store.Store, scope: str) -> list[str]:
    t = models.trigger_firings
    with db.read() as conn:
        return sorted(conn.execute(sa.select(t.c.trigger_name).where(t.c.scope == scope)).scalars())


def alive(pid: int) -> bool:
    """True while ``pid`` is a live (not zombie) process."""
    stat = process.proc_stat(pid)
    return stat is not None and stat.state not in ("Z", "X")


def fork_server_gone(pid: int) -> bool:
    """True once ``pid`` (a job) no longer has the python fork server as its parent, which
    would record its exit status: the server ends a moment after its orchestrator."""
    stat = process.proc_stat(pid)
    try:
        return stat is None or b"_zygote" not in Path(f"/proc/{stat.ppid}/cmdline").read_bytes()
    except FileNotFoundError:
        return True


def pids_of(scripts: Path, run_id: str) -> list[int]:
    return json.loads((scripts / "pids" / f"{run_id}.json").read_text())


def argv_of(scripts: Path, run_id: str) -> dict[str, str]:
    args = json.loads((scripts / "argv" / f"{run_id}.json").read_text())
    return dict(zip(args[::2], args[1::2], strict=True))


# A whole orchestrator in another OS process, so that a test can kill it like a crash would.
_ORCHESTRATOR = """\
import sys, time
from orchestrator import runner, store
from orchestrator.settings import Settings
url, home = sys.argv[1], sys.argv[2]
db = store.Store.open_url(url)
orch = runner.Orchestrator(Settings(home=home, db_url=url, poll_interval=0.05, kill_grace=1.0), db).start()
while orch.error is None:
    time.sleep(0.1)
raise SystemExit(f"orchestrator failed: {orch.error!r}")
"""


@contextlib.contextmanager
def orchestrator_process(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """An orchestrator in its own process; the test SIGKILLs it (always killed and reaped after)."""
    log = open(settings.home.parent / f"orchestrator-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-c", _ORCHESTRATOR, settings.database_url, str(settings.home)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        log.close()


def crash(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the orchestrator process and reap it (a zombie would still look alive to _dead)."""
    proc.send_signal(signal.SIGKILL)
    proc.wait()


class Receiver:
    """A webhook endpoint on 127.0.0.1: keeps every event POSTed to it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        received = self.events

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


# --- retries -----------------------------------------------------------------------------------


def test_retries_make_new_runs_and_triggers_see_only_the_final_outcome(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(db, settings, scripts,
          Workflows=[{"Name": "wf"}],
          Jobs=[job("flaky", "flaky.py", MaxRetries=2), job("on_failed", "ok.py"), job("on_ok", "ok.py")],
          Triggers=[start("wf.start", "wf", "flaky"),
                    on("wf.failed", "wf", {"flaky": "FAILED"}, "on_failed"),
                    on("wf.ok", "wf", {"flaky": "SUCCEEDED"}, "on_ok")])  # fmt: skip
    run_id = service.start_workflow_run(db, "wf")
    run = drive_workflow(db, settings, run_id)

    attempts = runs(db, "flaky")[::-1]  # oldest first
    assert [r["Attempt"] for r in attempts] == [0, 1, 2]
    assert [r["JobRunState"] for r in attempts] == ["FAILED", "FAILED", "SUCCEEDED"]
    assert [r.get("PreviousRunId") for r in attempts] == [
        None,
        attempts[0]["Id"],
        attempts[1]["Id"],
    ]
    assert "attempt 1 fails" in attempts[0]["ErrorMessage"]
    # Triggers saw only the last attempt: the FAILED branch never fired, the SUCCEEDED one did.
    assert runs(db, "on_failed") == []
    assert [r["JobRunState"] for r in runs(db, "on_ok")] == ["SUCCEEDED"]
    assert firings(db, run_id) == ["wf.ok", "wf.start"]
    # The run graph lists every attempt under the job's node.
    node = next(n for n in run["Graph"]["Nodes"] if n["Name"] == "flaky")
    assert sorted(r["Id"] for r in node["JobDetails"]["JobRuns"]) == sorted(
        r["Id"] for r in attempts
    )
    assert run["Status"] == "COMPLETED"
    assert run["Statistics"]["SucceededActions"] == 2 and run["Statistics"]["FailedActions"] == 0
    # A COMPLETED run cannot be stopped.
    with pytest.raises(errors.IllegalWorkflowStateException):
        service.stop_workflow_run(db, "wf", run_id)


def test_a_retry_policy_delays_the_retry_in_waiting(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(db, settings, scripts, Jobs=[
        job("delayed", "flaky.py", MaxRetries=1, DefaultArguments={"--succeed-on": "2"},
            RetryPolicy={"InitialDelay": "0.5s"})])  # fmt: skip
    first = service.start_job_run(db, "delayed")
    seen: set[str] = set()
    with orchestrating(db, settings) as orch:

        def retried_and_done() -> bool:
            attempts = runs(db, "delayed")
            if len(attempts) == 2:
                seen.add(attempts[0]["JobRunState"])
            return len(attempts) == 2 and attempts[0]["JobRunState"] == "SUCCEEDED"

        wait_for(retried_and_done, 20, orch, "the delayed retry")
    failed, retry = row(db, first), row(db, runs(db, "delayed")[0]["Id"])
    assert (
        failed["state"] == "FAILED" and retry["previous_run_id"] == first and retry["attempt"] == 1
    )
    assert "WAITING" in seen
    assert retry["not_before"] is not None
    assert (retry["not_before"] - failed["completed_on"]).total_seconds() == pytest.approx(
        0.5, abs=0.05
    )
    assert retry["started_on"] >= retry["not_before"]


def test_a_manual_retry_points_at_the_run_it_retries(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(
        db,
        settings,
        scripts,
        Jobs=[job("manual", "flaky.py", DefaultArguments={"--succeed-on": "2"})],
    )
    failed = service.start_job_run(db, "manual", {"--x": "1"})
    with orchestrating(db, settings) as orch:
        wait_for(lambda: is_final(db, failed), 20, orch)
        assert state(db, failed) == "FAILED"
        assert len(runs(db, "manual")) == 1  # MaxRetries 0: no automatic retry
        retry = service.start_job_run(db, "manual", job_run_id=failed)
        wait_for(lambda: is_final(db, retry), 20, orch)
    got = service.get_job_run(db, "manual", retry)
    assert got["PreviousRunId"] == failed and got["JobRunState"] == "SUCCEEDED"
    assert got["Arguments"] == {"--x": "1"}  # the retried run's arguments carry over
    with pytest.raises(errors.EntityNotFoundException):
        service.start_job_run(db, "manual", job_run_id="jr_" + "0" * 64)


# --- timeouts ----------------------------------------------------------------------------------


def test_a_timeout_kills_the_process_group_and_fires_timeout_triggers(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(db, settings, scripts,
          Workflows=[{"Name": "wf"}],
          Jobs=[job("slow", "sleep.py", Timeout="2s", MaxRetries=2, DefaultArguments={"--child": "yes"}),
                job("long", "sleep.py", Timeout="10m"),
                job("after_timeout", "ok.py"), job("after_ok", "ok.py")],
          Triggers=[start("wf.start", "wf", "slow", {"JobName": "long", "Timeout": "1s"}),
                    on("wf.timeout", "wf", {"slow": "TIMEOUT"}, "after_timeout"),
                    on("wf.ok", "wf", {"slow": "SUCCEEDED"}, "after_ok")])  # fmt: skip
    run_id = service.start_workflow_run(db, "wf")
    run = drive_workflow(db, settings, run_id)

    [slow] = runs(db, "slow")  # TIMEOUT is not retried
    assert slow["JobRunState"] == "TIMEOUT"
    assert "timed out" in slow["ErrorMessage"] and "2 seconds" in slow["ErrorMessage"]
    assert 2 <= (slow["CompletedOn"] - slow["StartedOn"]).total_seconds() < 6
    for pid in pids_of(scripts, slow["Id"]):  # the script and its child `sleep 30`
        wait_for(lambda pid=pid: not alive(pid), 5, what=f"pid {pid} gone")
    assert [r["JobRunState"] for r in runs(db, "after_timeout")] == ["SUCCEEDED"]
    assert runs(db, "after_ok") == []
    # The trigger Action's Timeout (1s) overrides the job's (10m).
    [long] = runs(db, "long")
    assert long["JobRunState"] == "TIMEOUT" and row(db, long["Id"])["timeout"] == 1.0
    assert (long["CompletedOn"] - long["StartedOn"]).total_seconds() < 5
    assert run["Statistics"]["TimeoutActions"] == 2


# --- stopping ----------------------------------------------------------------------------------


def test_batch_stop_job_run(db: store.Store, settings: Settings, scripts: Path) -> None:
    apply(
        db,
        settings,
        scripts,
        Jobs=[job("stoppable", "sleep.py", MaxRetries=2, DefaultArguments={"--child": "1"})],
    )
    run_id = service.start_job_run(db, "stoppable")
    with orchestrating(db, settings) as orch:
        wait_for(
            lambda: (
                state(db, run_id) == "RUNNING" and (scripts / "pids" / f"{run_id}.json").exists()
            ),
            20,
            orch,
            "RUNNING",
        )
        result = service.batch_stop_job_run(db, "stoppable", [run_id, "jr_unknown"])
        assert state(db, run_id) == "STOPPING"
        assert result["SuccessfulSubmissions"] == [{"JobName": "stoppable", "JobRunId": run_id}]
        assert [(e["JobRunId"], e["ErrorDetail"]["ErrorCode"]) for e in result["Errors"]] == [
            ("jr_unknown", "EntityNotFoundException")
        ]
        wait_for(lambda: state(db, run_id) == "STOPPED", 10, orch, "STOPPED")
    again = service.batch_stop_job_run(db, "stoppable", [run_id])
    assert again["SuccessfulSubmissions"] == []
    assert again["Errors"][0]["ErrorDetail"]["ErrorCode"] == "InvalidInputException"
    assert len(runs(db, "stoppable")) == 1  # STOPPED is not retried
    for pid in pids_of(scripts, run_id):
        wait_for(lambda pid=pid: not alive(pid), 5, what=f"pid {pid} gone")


def test_stop_workflow_run(db: store.Store, settings: Settings, scripts: Path) -> None:
    apply(db, settings, scripts,
          Workflows=[{"Name": "wf"}],
          Jobs=[job("long", "sleep.py"), job("queued", "sleep.py", JobRunQueuingEnabled=True),
                job("after_stop", "ok.py"), job("after_long", "ok.py")],
          Triggers=[start("wf.start", "wf", "long", "queued"),
                    on("wf.stopped", "wf", {"long": "STOPPED"}, "after_stop"),
                    on("wf.any", "wf", {"queued": "STOPPED"}, "after_long")])  # fmt: skip
    # A second run of `queued` holds its only slot, so the workflow's one waits in WAITING.
    blocker = service.start_job_run(db, "queued")
    run_id = service.start_workflow_run(db, "wf")
    with orchestrating(db, settings) as orch:

        def started() -> bool:
            by_job = {r["JobName"]: r["JobRunState"] for r in _job_runs_in(db, run_id)}
            return by_job.get("long") == "RUNNING" and by_job.get("queued") == "WAITING"

        wait_for(started, 20, orch, "long RUNNING, queued WAITING")
        service.stop_workflow_run(db, "wf", run_id)
        assert service.workflow_run_status(db, run_id) == "STOPPING"
        wait_for(lambda: service.workflow_run_status(db, run_id) == "STOPPED", 15, orch, "STOPPED")
        with pytest.raises(errors.IllegalWorkflowStateException):
            service.stop_workflow_run(db, "wf", run_id)
        service.batch_stop_job_run(db, "queued", [blocker])
        wait_for(lambda: is_final(db, blocker), 10, orch)
    states_ = {r["JobName"]: r["JobRunState"] for r in _job_runs_in(db, run_id)}
    assert states_ == {"long": "STOPPED", "queued": "STOPPED"}
    assert firings(db, run_id) == ["wf.start"]  # no trigger fired after the stop
    assert runs(db, "after_stop") == [] and runs(db, "after_long") == []


def _job_runs_in(db: store.Store, workflow_run_id: str) -> list[dict[str, Any]]:
    graph = service.get_workflow_run(db, None, workflow_run_id)["Graph"]
    return [r for n in graph["Nodes"] for r in (n.get("JobDetails") or {}).get("JobRuns", [])]


# --- concurrency -------------------------------------------------------------------------------


def test_max_concurrent_runs(db: store.Store, settings: Settings, scripts: Path) -> None:
    fast = {"--seconds": "0.3"}
    apply(db, settings, scripts,
          Workflows=[{"Name": "wf"}, {"Name": "one_at_a_time", "MaxConcurrentRuns": 1}],
          Jobs=[job("lim", "sleep.py", DefaultArguments=fast),
                job("limq", "sleep.py", DefaultArguments=fast, JobRunQueuingEnabled=True),
                job("solo", "ok.py")],
          Triggers=[start("wf.start", "wf", "lim", "limq"),
                    start("one.start", "one_at_a_time", "solo")])  # fmt: skip
    # Direct starts over the limit raise and record nothing.
    first = service.start_job_run(db, "lim")
    with pytest.raises(errors.ConcurrentRunsExceededException, match="lim"):
        service.start_job_run(db, "lim")
    assert len(runs(db, "lim")) == 1
    service.batch_stop_job_run(db, "lim", [first])  # never started: STOPPED at once
    assert state(db, first) == "STOPPED"
    # The workflow's MaxConcurrentRuns, likewise.
    service.start_workflow_run(db, "one_at_a_time")
    with pytest.raises(errors.ConcurrentRunsExceededException, match="one_at_a_time"):
        service.start_workflow_run(db, "one_at_a_time")
    # Trigger starts over the limit: FAILED without queuing, WAITING (then run) with it.
    wr1 = service.start_workflow_run(db, "wf")
    wr2 = service.start_workflow_run(db, "wf")
    with orchestrating(db, settings) as orch:
        wait_for(
            lambda: (
                all(service.workflow_run_status(db, r) == "COMPLETED" for r in (wr1, wr2))
                and not orch.busy
            ),
            20,
            orch,
            "both runs COMPLETED",
        )
    lim = runs(db, "lim")[:2][::-1]
    assert [r["JobRunState"] for r in lim] == ["SUCCEEDED", "FAILED"]
    assert lim[1]["ErrorMessage"].startswith("Concurrent runs exceeded for lim")
    limq = runs(db, "limq")[::-1]
    assert [r["JobRunState"] for r in limq] == ["SUCCEEDED", "SUCCEEDED"]
    assert limq[1]["StartedOn"] >= limq[0]["CompletedOn"]  # it waited for the slot


def test_direct_start_with_queuing_waits_instead_of_raising(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(
        db,
        settings,
        scripts,
        Jobs=[
            job("q", "sleep.py", DefaultArguments={"--seconds": "0.3"}, JobRunQueuingEnabled=True)
        ],
    )
    first = service.start_job_run(db, "q")
    second = service.start_job_run(db, "q")
    assert state(db, second) == "WAITING"
    with orchestrating(db, settings) as orch:
        wait_for(lambda: is_final(db, second), 20, orch)
    a, b = service.get_job_run(db, "q", first), service.get_job_run(db, "q", second)
    assert a["JobRunState"] == b["JobRunState"] == "SUCCEEDED"
    assert b["StartedOn"] >= a["CompletedOn"]
    service.start_job_run(db, "q", job_run_queuing_enabled=False)
    with pytest.raises(errors.ConcurrentRunsExceededException):  # the run's own setting wins
        service.start_job_run(db, "q", job_run_queuing_enabled=False)


def test_the_per_engine_process_limit_queues_work(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(
        db,
        settings,
        scripts,
        Jobs=[
            job(
                "stamp",
                "sleep.py",
                DefaultArguments={"--seconds": "0.2"},
                ExecutionProperty={"MaxConcurrentRuns": 3},
            )
        ],
    )
    ids = [service.start_job_run(db, "stamp") for _ in range(3)]
    with orchestrating(db, settings.model_copy(update={"max_processes": 1})) as orch:
        wait_for(
            lambda: all(is_final(db, i) for i in ids) and not orch.busy, 30, orch, "all three done"
        )
    assert {state(db, i) for i in ids} == {"SUCCEEDED"}
    spans = sorted(json.loads((scripts / "stamps" / f"{i}.json").read_text()) for i in ids)
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert begin >= end, f"two job processes ran at once: {spans}"


# --- arguments and run properties --------------------------------------------------------------


def test_arguments_merge_and_run_properties(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(db, settings, scripts,
          Workflows=[{"Name": "wf", "DefaultRunProperties": {"k": "default", "keep": "yes"}}],
          Jobs=[job("args", "ok.py", DefaultArguments={"--a": "1", "--b": "2"},
                    NonOverridableArguments={"--c": "3"})],
          Triggers=[start("wf.start", "wf", {"JobName": "args", "Arguments": {"--b": "T", "--e": "5"}})])  # fmt: skip
    direct = service.start_job_run(db, "args", {"--b": "X", "--c": "Y", "--d": "4"})
    with orchestrating(db, settings) as orch:
        wait_for(lambda: is_final(db, direct), 20, orch)
    got = service.get_job_run(db, "args", direct)
    assert got["JobRunState"] == "SUCCEEDED"
    assert got["Arguments"] == {"--b": "X", "--c": "Y", "--d": "4"}  # what the run was given
    argv = argv_of(scripts, direct)
    assert {k: argv[k] for k in ("--a", "--b", "--c", "--d")} == {
        "--a": "1",
        "--b": "X",
        "--c": "3",
        "--d": "4",
    }
    assert (
        argv["--JOB_NAME"] == "args"
        and argv["--JOB_RUN_ID"] == direct
        and "--WORKFLOW_RUN_ID" not in argv
    )

    run_id = service.start_workflow_run(db, "wf", {"k": "v"})
    assert service.get_workflow_run_properties(db, "wf", run_id) == {"k": "v", "keep": "yes"}
    service.put_workflow_run_properties(db, "wf", run_id, {"k": "w", "new": "1"})
    assert service.get_workflow_run_properties(db, "wf", run_id) == {
        "k": "w",
        "keep": "yes",
        "new": "1",
    }
    drive_workflow(db, settings, run_id)
    [in_wf] = [r for r in runs(db, "args") if r["Id"] != direct]
    assert in_wf["Arguments"] == {"--b": "T", "--e": "5"} and in_wf["TriggerName"] == "wf.start"
    argv = argv_of(scripts, in_wf["Id"])
    assert (argv["--a"], argv["--b"], argv["--c"], argv["--e"]) == ("1", "T", "3", "5")
    assert argv["--WORKFLOW_NAME"] == "wf" and argv["--WORKFLOW_RUN_ID"] == run_id
    assert service.get_workflow(db, "wf")["DefaultRunProperties"] == {"k": "default", "keep": "yes"}
    with pytest.raises(errors.IllegalWorkflowStateException):  # the run is over
        service.put_workflow_run_properties(db, "wf", run_id, {"late": "1"})


# --- delay notifications -----------------------------------------------------------------------


def test_delay_notification_once_per_status_and_to_a_webhook(
    db: store.Store, settings: Settings, scripts: Path, receiver: Receiver
) -> None:
    apply(db, settings, scripts, Jobs=[
        job("late", "sleep.py", DefaultArguments={"--seconds": "2"},
            NotificationProperty={"NotifyDelayAfter": "1s"})])  # fmt: skip
    hooked = settings.model_copy(
        update={"notification_sinks": [{"type": "webhook", "url": receiver.url, "name": "hook"}]}
    )
    run_id = service.start_job_run(db, "late")

    def mine() -> list[dict[str, Any]]:
        return [n for n in service.get_notifications(db) if n["job_run_id"] == run_id]

    with orchestrating(db, hooked) as orch:
        wait_for(lambda: is_final(db, run_id), 20, orch)
        wait_for(
            lambda: len(mine()) == 2 and all(n["deliveries"] for n in mine()),
            10,
            orch,
            "deliveries",
        )
    got = sorted((n["detail_type"], n["state"]) for n in mine())
    assert got == [("Glue Job Run Status", "RUNNING"), ("Glue Job State Change", "SUCCEEDED")]
    assert all(n["deliveries"] == {"hook": {"ok": True, "error": None}} for n in mine())
    status = next(n for n in mine() if n["detail_type"] == "Glue Job Run Status")
    run = row(db, run_id)
    assert 0.9 <= (status["time"] - run["started_on"]).total_seconds() < 2.5
    assert status["event"]["detail"]["notificationCondition"] == {"NotifyDelayAfter": 1}
    posted = sorted(
        (e["detail-type"], e["detail"]["state"])
        for e in receiver.events
        if e["detail"].get("jobRunId") == run_id
    )
    assert posted == got


def test_a_late_run_that_is_stopped_also_reports_stopping(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    (scripts / "stubborn.py").write_text(
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(60)\n"
    )
    apply(db, settings, scripts, Jobs=[
        job("stubborn", "stubborn.py", NotificationProperty={"NotifyDelayAfter": "1s"})])  # fmt: skip
    run_id = service.start_job_run(db, "stubborn")

    def states_notified() -> list[tuple[str, str]]:
        return sorted((n["detail_type"], n["state"]) for n in service.get_notifications(db)
                      if n["job_run_id"] == run_id)

    with orchestrating(db, settings) as orch:
        wait_for(lambda: ("Glue Job Run Status", "RUNNING") in states_notified(), 20, orch, "delay event")
        service.batch_stop_job_run(db, "stubborn", [run_id])  # TERM is ignored: STOPPING lasts the grace
        wait_for(lambda: is_final(db, run_id), 20, orch)
    assert states_notified() == [
        ("Glue Job Run Status", "RUNNING"),
        ("Glue Job Run Status", "STOPPING"),
        ("Glue Job State Change", "STOPPED"),
    ]


# --- restarts ----------------------------------------------------------------------------------


def test_deadlines_survive_an_orchestrator_crash(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(
        db,
        settings,
        scripts,
        Jobs=[
            job("t3", "sleep.py", Timeout="3s"),
            job("t1", "sleep.py", Timeout="1s", DefaultArguments={"--child": "1"}),
        ],
    )
    later, passed = service.start_job_run(db, "t3"), service.start_job_run(db, "t1")
    with orchestrator_process(settings) as first:
        wait_for(
            lambda: state(db, later) == state(db, passed) == "RUNNING", 30, what="both RUNNING"
        )
        crash(first)
    deadline_later, deadline_passed = row(db, later)["timeout_at"], row(db, passed)["timeout_at"]
    assert state(db, passed) == "RUNNING"  # no orchestrator: the deadline goes by unseen
    wait_for(lambda: store.now() > deadline_passed + _seconds(0.3), 5)
    adopted_at = store.now()
    with orchestrating(db, settings) as orch:
        wait_for(lambda: is_final(db, passed), 10, orch, "the passed deadline")
        honoured = row(db, passed)["completed_on"]
        wait_for(lambda: is_final(db, later), 10, orch, "the stored deadline")
    assert state(db, passed) == "TIMEOUT" and state(db, later) == "TIMEOUT"
    assert (honoured - adopted_at).total_seconds() < 1.5  # at once on adoption
    lateness = (row(db, later)["completed_on"] - deadline_later).total_seconds()
    assert 0 <= lateness < 1.5  # at about the stored deadline, not restarted from adoption
    for pid in pids_of(scripts, passed) + pids_of(scripts, later):
        wait_for(lambda pid=pid: not alive(pid), 5, what=f"pid {pid} gone")


def test_a_run_whose_process_was_lost_fails_and_is_retried(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    # Attempt 1 sleeps (and is killed); the retry succeeds at once.
    (scripts / "lost.py").write_text(
        _PRELUDE
        + """\
counter = here / "count-lost"
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
if n == 1:
    (here / "pids").mkdir(exist_ok=True)
    (here / "pids" / (run_id + ".json")).write_text(json.dumps([os.getpid()]))
    time.sleep(30)
"""
    )
    apply(db, settings, scripts, Jobs=[job("lost", "lost.py", MaxRetries=1)])
    run_id = service.start_job_run(db, "lost")
    with orchestrator_process(settings) as first:
        wait_for(
            lambda: (
                state(db, run_id) == "RUNNING" and (scripts / "pids" / f"{run_id}.json").exists()
            ),
            30,
            what="RUNNING",
        )
        crash(first)
    [pid] = pids_of(scripts, run_id)
    wait_for(lambda: fork_server_gone(pid), 10)
    os.killpg(pid, signal.SIGKILL)  # dies without _boot.py (or a parent) writing its exit status
    wait_for(lambda: not alive(pid), 5)
    assert not (settings.logs_dir / run_id / "exit_status").exists()
    with orchestrating(db, settings) as orch:
        wait_for(
            lambda: len(runs(db, "lost")) == 2 and is_final(db, runs(db, "lost")[0]["Id"]), 20, orch
        )
    retry, lost = runs(db, "lost")
    assert lost["Id"] == run_id and lost["JobRunState"] == "FAILED"
    assert "orchestrator lost it" in lost["ErrorMessage"]
    assert (
        retry["JobRunState"] == "SUCCEEDED"
        and retry["PreviousRunId"] == run_id
        and retry["Attempt"] == 1
    )


def _seconds(value: float) -> Any:
    import datetime as dt

    return dt.timedelta(seconds=value)


# --- examples/lifecycle ------------------------------------------------------------------------


def test_the_lifecycle_example(
    db: store.Store, settings: Settings, tmp_path: Path, receiver: Receiver
) -> None:
    hooked = settings.model_copy(
        update={"notification_sinks": [{"type": "webhook", "url": receiver.url}]}
    )
    service.apply(db, definitions.load_files([EXAMPLE / "workflow.yaml"]), hooked)
    state_dir = tmp_path / "example-state"
    run_id = service.start_workflow_run(db, "lifecycle", {"out_dir": str(state_dir)})
    run = drive_workflow(db, hooked, run_id, timeout=40)
    assert run["Status"] == "COMPLETED"
    by_job: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(_job_runs_in(db, run_id), key=lambda r: r["Attempt"]):
        by_job.setdefault(r["JobName"], []).append(r)
    assert [r["JobRunState"] for r in by_job["extract"]] == ["FAILED", "SUCCEEDED"]
    assert [r["JobRunState"] for r in by_job["slow_report"]] == ["TIMEOUT"]
    assert [r["JobRunState"] for r in by_job["cleanup_after_timeout"]] == ["SUCCEEDED"]
    assert [r["JobRunState"] for r in by_job["load"]] == ["SUCCEEDED"]
    wait_for(
        lambda: any(e["detail-type"] == "Glue Job Run Status" for e in receiver.events),
        10,
        what="the delay notification at the webhook",
    )
    delayed = [e["detail"] for e in receiver.events if e["detail-type"] == "Glue Job Run Status"]
    assert [(d["jobName"], d["state"]) for d in delayed] == [("load", "RUNNING")]
    outputs = state_dir / run_id
    assert (outputs / "extract.attempts").read_text() == "2" and (outputs / "cleanup.txt").exists()
    assert not (EXAMPLE / "out").exists()  # the run property moved the outputs out of the repo
