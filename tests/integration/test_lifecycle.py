"""The job run lifecycle with real python-shell processes, on SQLite and PostgreSQL.

Retries (automatic, delayed, manual), timeouts (with a job that ignores TERM, so the KILL after
the grace ends it), stops, concurrency limits and queuing, argument merging, delay
notifications to a webhook, deadlines that survive an orchestrator crash, runs whose process
was lost, and the ``examples/lifecycle`` workflow. Each ended run is checked for its one "Glue
Job State Change". Durations are a few seconds; the assertions are about behaviour and order,
not speed.
"""

from __future__ import annotations

import datetime as dt
import http.server
import itertools
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from driving import (
    RUN_STATUS,
    STATE_CHANGE,
    alive,
    apply,
    crash,
    drive_workflow,
    firings,
    fork_server_gone,
    is_final,
    job,
    notified,
    on,
    orchestrating,
    orchestrator_process,
    row,
    runs,
    settled,
    start,
    state,
    wait_for,
)

from orchestrator import errors, store
from orchestrator.service import definitions as service_definitions
from orchestrator.service import job_runs, notifications, workflow_runs, workflows
from orchestrator.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lifecycle"

# Every script records its argv (by job run id) beside it, then does its part.
_PRELUDE = """\
import json, os, pathlib, signal, subprocess, sys, time
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
    # Sleeps --seconds; with --child it first starts a `sleep 30` child in its process group;
    # with --ignore-term it records each TERM it gets (in terms/<run id>) and carries on.
    # Records its pids, then its start and end times.
    "sleep.py": """\
if arg("--ignore-term"):
    def _term(*_):
        (here / "terms").mkdir(exist_ok=True)
        with open(here / "terms" / run_id, "a") as f:
            f.write(f"{time.time()}\\n")
    signal.signal(signal.SIGTERM, _term)
pids = [os.getpid()]
if arg("--child"):
    pids.append(subprocess.Popen(["sleep", "30"]).pid)
(here / "pids").mkdir(exist_ok=True)
(here / "pids" / (run_id + ".json")).write_text(json.dumps(pids))
start = time.time()
end = start + float(arg("--seconds", "30"))
while time.time() < end:  # a signal handler interrupts sleep(): sleep again until the end
    time.sleep(max(0.0, end - time.time()))
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


def pids_of(scripts: Path, run_id: str) -> list[int]:
    return json.loads((scripts / "pids" / f"{run_id}.json").read_text())


def argv_of(scripts: Path, run_id: str) -> dict[str, str]:
    args = json.loads((scripts / "argv" / f"{run_id}.json").read_text())
    return dict(zip(args[::2], args[1::2], strict=True))


def running_with_pids(db: store.Store, scripts: Path, run_id: str) -> bool:
    return state(db, run_id) == "RUNNING" and (scripts / "pids" / f"{run_id}.json").exists()


def job_runs_in(db: store.Store, workflow_run_id: str) -> list[dict[str, Any]]:
    graph = workflow_runs.get_workflow_run(db, None, workflow_run_id)["Graph"]
    return [r for n in graph["Nodes"] for r in (n.get("JobDetails") or {}).get("JobRuns", [])]


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
    apply(db, scripts,
          Workflows=[{"Name": "wf"}],
          Jobs=[job("flaky", "flaky.py", MaxRetries=2), job("on_failed", "ok.py"), job("on_ok", "ok.py")],
          Triggers=[start("wf.start", "wf", "flaky"),
                    on("wf.failed", "wf", {"flaky": "FAILED"}, "on_failed"),
                    on("wf.ok", "wf", {"flaky": "SUCCEEDED"}, "on_ok")])  # fmt: skip
    run_id = workflow_runs.start_workflow_run(db, "wf")
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
    # Each attempt is a run that ended: one state change each, FAILED ones included.
    assert [notified(db, r["Id"]) for r in attempts] == [
        [(STATE_CHANGE, "FAILED")],
        [(STATE_CHANGE, "FAILED")],
        [(STATE_CHANGE, "SUCCEEDED")],
    ]
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
        workflow_runs.stop_workflow_run(db, "wf", run_id)


def test_a_retry_policy_delays_the_retry_in_waiting(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(db, scripts, Jobs=[
        job("delayed", "flaky.py", MaxRetries=1, DefaultArguments={"--succeed-on": "2"},
            RetryPolicy={"InitialDelay": "0.5s"})])  # fmt: skip
    first = job_runs.start_job_run(db, "delayed")
    seen: set[str] = set()
    with orchestrating(db, settings) as orch:

        def retried_and_done() -> bool:
            attempts = runs(db, "delayed")
            if len(attempts) == 2:
                seen.add(attempts[0]["JobRunState"])
            return len(attempts) == 2 and attempts[0]["JobRunState"] == "SUCCEEDED"

        wait_for(retried_and_done, 20, orch, "the delayed retry")
    failed, retry = row(db, first), row(db, runs(db, "delayed")[0]["Id"])
    assert (failed.state, retry.previous_run_id, retry.attempt) == ("FAILED", first, 1)
    assert "WAITING" in seen
    # Due exactly the policy's delay after the failure; created before that, started after it.
    assert retry.not_before == failed.completed_on + dt.timedelta(seconds=0.5)
    assert retry.created_on < retry.not_before <= retry.started_on


def test_a_manual_retry_points_at_the_run_it_retries(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(db, scripts, Jobs=[job("manual", "flaky.py", DefaultArguments={"--succeed-on": "2"})])
    failed = job_runs.start_job_run(db, "manual", {"--x": "1"})
    with orchestrating(db, settings) as orch:
        wait_for(lambda: is_final(db, failed), 20, orch)
        assert state(db, failed) == "FAILED"
        assert len(runs(db, "manual")) == 1  # MaxRetries 0: no automatic retry
        retry = job_runs.start_job_run(db, "manual", job_run_id=failed)
        wait_for(lambda: is_final(db, retry), 20, orch)
    got = job_runs.get_job_run(db, "manual", retry)
    assert got["PreviousRunId"] == failed and got["JobRunState"] == "SUCCEEDED"
    assert got["Arguments"] == {"--x": "1"}  # the retried run's arguments carry over
    with pytest.raises(errors.EntityNotFoundException):
        job_runs.start_job_run(db, "manual", job_run_id="jr_" + "0" * 64)


# --- timeouts ----------------------------------------------------------------------------------


def test_a_timeout_kills_the_process_group_and_fires_timeout_triggers(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(db, scripts,
          Workflows=[{"Name": "wf"}],
          Jobs=[job("slow", "sleep.py", Timeout="2s", MaxRetries=2, DefaultArguments={"--child": "yes"}),
                job("long", "sleep.py", Timeout="10m"),
                job("after_timeout", "ok.py"), job("after_ok", "ok.py")],
          Triggers=[start("wf.start", "wf", "slow", {"JobName": "long", "Timeout": "1s"}),
                    on("wf.timeout", "wf", {"slow": "TIMEOUT"}, "after_timeout"),
                    on("wf.ok", "wf", {"slow": "SUCCEEDED"}, "after_ok")])  # fmt: skip
    run_id = workflow_runs.start_workflow_run(db, "wf")
    run = drive_workflow(db, settings, run_id)

    [slow] = runs(db, "slow")  # TIMEOUT is not retried
    assert slow["JobRunState"] == "TIMEOUT"
    assert slow["ErrorMessage"] == "Job run timed out after 2 seconds"
    assert 2 <= (slow["CompletedOn"] - slow["StartedOn"]).total_seconds() < 10
    for pid in pids_of(scripts, slow["Id"]):  # the script and its child `sleep 30`
        wait_for(lambda pid=pid: not alive(pid), 5, what=f"pid {pid} gone")
    assert [r["JobRunState"] for r in runs(db, "after_timeout")] == ["SUCCEEDED"]
    assert runs(db, "after_ok") == []
    # The trigger Action's Timeout (1s) overrides the job's (10m).
    [long] = runs(db, "long")
    assert long["JobRunState"] == "TIMEOUT" and row(db, long["Id"]).timeout == 1.0
    assert 1 <= (long["CompletedOn"] - long["StartedOn"]).total_seconds() < 10
    assert run["Statistics"]["TimeoutActions"] == 2
    assert notified(db, slow["Id"]) == notified(db, long["Id"]) == [(STATE_CHANGE, "TIMEOUT")]


def test_a_job_that_ignores_term_is_killed_after_the_grace_and_ends_timeout(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    assert settings.kill_grace == 1.0
    apply(
        db,
        scripts,
        Jobs=[
            job(
                "stubborn",
                "sleep.py",
                Timeout="1s",
                DefaultArguments={"--ignore-term": "1", "--seconds": "60"},
            )
        ],
    )
    run_id = job_runs.start_job_run(db, "stubborn")
    with orchestrating(db, settings) as orch:
        wait_for(lambda: is_final(db, run_id), 20, orch, "the timeout")
    run = row(db, run_id)
    assert (run.state, run.error_message) == ("TIMEOUT", "Job run timed out after 1 seconds")
    assert run.stop_reason == "TIMEOUT"
    # TERM reached the job, which ignored it: only the KILL, a grace later, ended it.
    terms = [float(t) for t in (scripts / "terms" / run_id).read_text().split()]
    assert len(terms) == 1
    [pid] = pids_of(scripts, run_id)
    wait_for(lambda: not alive(pid), 5, what=f"pid {pid} gone")
    assert run.started_on is not None and run.completed_on is not None
    assert (run.completed_on - run.started_on).total_seconds() >= 1.0 + settings.kill_grace
    assert not (scripts / "stamps" / f"{run_id}.json").exists()  # it never got to its end
    assert notified(db, run_id) == [(STATE_CHANGE, "TIMEOUT")]


# --- stopping ----------------------------------------------------------------------------------


def test_batch_stop_job_run(db: store.Store, settings: Settings, scripts: Path) -> None:
    apply(
        db,
        scripts,
        Jobs=[job("stoppable", "sleep.py", MaxRetries=2, DefaultArguments={"--child": "1"})],
    )
    run_id = job_runs.start_job_run(db, "stoppable")
    with orchestrating(db, settings) as orch:
        wait_for(lambda: running_with_pids(db, scripts, run_id), 20, orch, "RUNNING")
        result = job_runs.batch_stop_job_run(db, "stoppable", [run_id, "jr_unknown"])
        assert state(db, run_id) == "STOPPING"
        assert result["SuccessfulSubmissions"] == [{"JobName": "stoppable", "JobRunId": run_id}]
        assert [(e["JobRunId"], e["ErrorDetail"]["ErrorCode"]) for e in result["Errors"]] == [
            ("jr_unknown", "EntityNotFoundException")
        ]
        wait_for(lambda: state(db, run_id) == "STOPPED", 10, orch, "STOPPED")
    again = job_runs.batch_stop_job_run(db, "stoppable", [run_id])
    assert again["SuccessfulSubmissions"] == []
    assert [e["ErrorDetail"]["ErrorCode"] for e in again["Errors"]] == ["InvalidInputException"]
    assert len(runs(db, "stoppable")) == 1  # STOPPED is not retried
    for pid in pids_of(scripts, run_id):
        wait_for(lambda pid=pid: not alive(pid), 5, what=f"pid {pid} gone")
    assert notified(db, run_id) == [(STATE_CHANGE, "STOPPED")]


def test_stop_workflow_run(db: store.Store, settings: Settings, scripts: Path) -> None:
    apply(db, scripts,
          Workflows=[{"Name": "wf"}],
          Jobs=[job("long", "sleep.py"), job("queued", "sleep.py", JobRunQueuingEnabled=True),
                job("after_stop", "ok.py"), job("after_long", "ok.py")],
          Triggers=[start("wf.start", "wf", "long", "queued"),
                    on("wf.stopped", "wf", {"long": "STOPPED"}, "after_stop"),
                    on("wf.any", "wf", {"queued": "STOPPED"}, "after_long")])  # fmt: skip
    # A second run of `queued` holds its only slot, so the workflow's one waits in WAITING.
    blocker = job_runs.start_job_run(db, "queued")
    run_id = workflow_runs.start_workflow_run(db, "wf")
    with orchestrating(db, settings) as orch:

        def started() -> bool:
            by_job = {r["JobName"]: r["JobRunState"] for r in job_runs_in(db, run_id)}
            return by_job.get("long") == "RUNNING" and by_job.get("queued") == "WAITING"

        wait_for(started, 20, orch, "long RUNNING, queued WAITING")
        workflow_runs.stop_workflow_run(db, "wf", run_id)
        assert workflow_runs.workflow_run_status(db, run_id) == "STOPPING"
        wait_for(
            lambda: workflow_runs.workflow_run_status(db, run_id) == "STOPPED", 15, orch, "STOPPED"
        )
        with pytest.raises(errors.IllegalWorkflowStateException):
            workflow_runs.stop_workflow_run(db, "wf", run_id)
        job_runs.batch_stop_job_run(db, "queued", [blocker])
        wait_for(lambda: is_final(db, blocker), 10, orch)
    in_run = job_runs_in(db, run_id)
    assert {r["JobName"]: r["JobRunState"] for r in in_run} == {
        "long": "STOPPED",
        "queued": "STOPPED",
    }
    assert firings(db, run_id) == ["wf.start"]  # no trigger fired after the stop
    assert runs(db, "after_stop") == [] and runs(db, "after_long") == []
    assert settled(db)
    for stopped in [blocker, *(r["Id"] for r in in_run)]:  # a RUNNING one and a WAITING one
        assert notified(db, stopped) == [(STATE_CHANGE, "STOPPED")], stopped


# --- concurrency -------------------------------------------------------------------------------


def test_max_concurrent_runs(db: store.Store, settings: Settings, scripts: Path) -> None:
    fast = {"--seconds": "0.3"}
    apply(db, scripts,
          Workflows=[{"Name": "wf"}, {"Name": "one_at_a_time", "MaxConcurrentRuns": 1}],
          Jobs=[job("lim", "sleep.py", DefaultArguments=fast),
                job("limq", "sleep.py", DefaultArguments=fast, JobRunQueuingEnabled=True),
                job("solo", "ok.py")],
          Triggers=[start("wf.start", "wf", "lim", "limq"),
                    start("one.start", "one_at_a_time", "solo")])  # fmt: skip
    # Direct starts over the limit raise and record nothing.
    first = job_runs.start_job_run(db, "lim")
    with pytest.raises(errors.ConcurrentRunsExceededException, match="lim"):
        job_runs.start_job_run(db, "lim")
    assert len(runs(db, "lim")) == 1
    job_runs.batch_stop_job_run(db, "lim", [first])  # never started: STOPPED at once
    assert state(db, first) == "STOPPED"
    # The workflow's MaxConcurrentRuns, likewise.
    workflow_runs.start_workflow_run(db, "one_at_a_time")
    with pytest.raises(errors.ConcurrentRunsExceededException, match="one_at_a_time"):
        workflow_runs.start_workflow_run(db, "one_at_a_time")
    # Trigger starts over the limit: FAILED without queuing, WAITING (then run) with it.
    wr1 = workflow_runs.start_workflow_run(db, "wf")
    wr2 = workflow_runs.start_workflow_run(db, "wf")
    with orchestrating(db, settings) as orch:
        wait_for(
            lambda: (
                all(workflow_runs.workflow_run_status(db, r) == "COMPLETED" for r in (wr1, wr2))
                and not orch.busy
            ),
            20,
            orch,
            "both runs COMPLETED",
        )
    lim = runs(db, "lim")[:2][::-1]
    assert [r["JobRunState"] for r in lim] == ["SUCCEEDED", "FAILED"]
    assert lim[1]["ErrorMessage"] == "Concurrent runs exceeded for lim (MaxConcurrentRuns 1)"
    limq = runs(db, "limq")[::-1]
    assert [r["JobRunState"] for r in limq] == ["SUCCEEDED", "SUCCEEDED"]
    assert limq[1]["StartedOn"] >= limq[0]["CompletedOn"]  # it waited for the slot
    assert settled(db)
    assert notified(db, first) == [(STATE_CHANGE, "STOPPED")]  # stopped before any orchestrator ran
    assert [notified(db, r["Id"]) for r in lim] == [
        [(STATE_CHANGE, "SUCCEEDED")],
        [(STATE_CHANGE, "FAILED")],
    ]


def test_direct_start_with_queuing_waits_instead_of_raising(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(
        db,
        scripts,
        Jobs=[
            job("q", "sleep.py", DefaultArguments={"--seconds": "0.3"}, JobRunQueuingEnabled=True)
        ],
    )
    first = job_runs.start_job_run(db, "q")
    second = job_runs.start_job_run(db, "q")
    assert state(db, second) == "WAITING"
    with orchestrating(db, settings) as orch:
        wait_for(lambda: is_final(db, second), 20, orch)
    a, b = job_runs.get_job_run(db, "q", first), job_runs.get_job_run(db, "q", second)
    assert a["JobRunState"] == b["JobRunState"] == "SUCCEEDED"
    assert b["StartedOn"] >= a["CompletedOn"]
    job_runs.start_job_run(db, "q", job_run_queuing_enabled=False)
    with pytest.raises(errors.ConcurrentRunsExceededException):  # the run's own setting wins
        job_runs.start_job_run(db, "q", job_run_queuing_enabled=False)


def test_the_per_engine_process_limit_queues_work(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(
        db,
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
    ids = [job_runs.start_job_run(db, "stamp") for _ in range(3)]
    with orchestrating(db, settings.replace(max_processes=1)) as orch:
        wait_for(
            lambda: all(is_final(db, i) for i in ids) and not orch.busy, 30, orch, "all three done"
        )
    assert [state(db, i) for i in ids] == ["SUCCEEDED"] * 3
    spans = sorted(json.loads((scripts / "stamps" / f"{i}.json").read_text()) for i in ids)
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert begin >= end, f"two job processes ran at once: {spans}"


# --- arguments and run properties --------------------------------------------------------------


def test_arguments_merge_and_run_properties(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(db, scripts,
          Workflows=[{"Name": "wf", "DefaultRunProperties": {"k": "default", "keep": "yes"}}],
          Jobs=[job("args", "ok.py", DefaultArguments={"--a": "1", "--b": "2"},
                    NonOverridableArguments={"--c": "3"})],
          Triggers=[start("wf.start", "wf", {"JobName": "args", "Arguments": {"--b": "T", "--e": "5"}})])  # fmt: skip
    direct = job_runs.start_job_run(db, "args", {"--b": "X", "--c": "Y", "--d": "4"})
    with orchestrating(db, settings) as orch:
        wait_for(lambda: is_final(db, direct), 20, orch)
    got = job_runs.get_job_run(db, "args", direct)
    assert got["JobRunState"] == "SUCCEEDED"
    assert got["Arguments"] == {"--b": "X", "--c": "Y", "--d": "4"}  # what the run was given
    argv = argv_of(scripts, direct)
    assert argv == {
        "--a": "1",
        "--b": "X",
        "--c": "3",
        "--d": "4",
        "--JOB_NAME": "args",
        "--JOB_RUN_ID": direct,
    }

    run_id = workflow_runs.start_workflow_run(db, "wf", {"k": "v"})
    assert workflow_runs.get_workflow_run_properties(db, "wf", run_id) == {"k": "v", "keep": "yes"}
    workflow_runs.put_workflow_run_properties(db, "wf", run_id, {"k": "w", "new": "1"})
    assert workflow_runs.get_workflow_run_properties(db, "wf", run_id) == {
        "k": "w",
        "keep": "yes",
        "new": "1",
    }
    drive_workflow(db, settings, run_id)
    [in_wf] = [r for r in runs(db, "args") if r["Id"] != direct]
    assert in_wf["Arguments"] == {"--b": "T", "--e": "5"} and in_wf["TriggerName"] == "wf.start"
    assert argv_of(scripts, in_wf["Id"]) == {
        "--a": "1", "--b": "T", "--c": "3", "--e": "5", "--JOB_NAME": "args", "--JOB_RUN_ID": in_wf["Id"],
        "--WORKFLOW_NAME": "wf", "--WORKFLOW_RUN_ID": run_id,
    }  # fmt: skip
    assert workflows.get_workflow(db, "wf")["Workflow"]["DefaultRunProperties"] == {
        "k": "default",
        "keep": "yes",
    }
    with pytest.raises(errors.IllegalWorkflowStateException):  # the run is over
        workflow_runs.put_workflow_run_properties(db, "wf", run_id, {"late": "1"})
    assert workflow_runs.get_workflow_run_properties(db, "wf", run_id) == {
        "k": "w",
        "keep": "yes",
        "new": "1",
    }


# --- delay notifications -----------------------------------------------------------------------


def test_delay_notification_once_per_status_and_to_a_webhook(
    db: store.Store, settings: Settings, scripts: Path, receiver: Receiver
) -> None:
    apply(db, scripts, Jobs=[
        job("late", "sleep.py", DefaultArguments={"--seconds": "2"},
            NotificationProperty={"NotifyDelayAfter": "1s"})])  # fmt: skip
    hooked = settings.replace(notification_sinks=[{"type": "webhook", "url": receiver.url, "name": "hook"}])
    run_id = job_runs.start_job_run(db, "late")

    def mine() -> list[dict[str, Any]]:
        return [n for n in notifications.get_notifications(db) if n["job_run_id"] == run_id]

    with orchestrating(db, hooked) as orch:
        wait_for(lambda: is_final(db, run_id), 20, orch)
        wait_for(
            lambda: len(mine()) == 2 and all(n["deliveries"] for n in mine()),
            10,
            orch,
            "deliveries",
        )
    got = notified(db, run_id)
    assert got == [(RUN_STATUS, "RUNNING"), (STATE_CHANGE, "SUCCEEDED")]
    assert [n["deliveries"] for n in mine()] == [{"hook": {"ok": True, "error": None}}] * 2
    status = next(n for n in mine() if n["detail_type"] == RUN_STATUS)
    run = row(db, run_id)
    assert run.started_on is not None and run.completed_on is not None
    # Not before the delay, and while the run was still RUNNING.
    assert run.started_on + dt.timedelta(seconds=1) <= status["time"] < run.completed_on
    assert status["event"]["detail"]["notificationCondition"] == {"NotifyDelayAfter": 1}
    posted = sorted(
        (e["detail-type"], e["detail"]["state"])
        for e in receiver.events
        if e["detail"].get("jobRunId") == run_id
    )
    assert posted == got
    assert sorted(e["id"] for e in receiver.events) == sorted(n["id"] for n in mine())


def test_a_late_run_that_is_stopped_also_reports_stopping(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(db, scripts, Jobs=[
        job("stubborn", "sleep.py", DefaultArguments={"--ignore-term": "1", "--seconds": "60"},
            NotificationProperty={"NotifyDelayAfter": "1s"})])  # fmt: skip
    run_id = job_runs.start_job_run(db, "stubborn")
    with orchestrating(db, settings) as orch:
        wait_for(lambda: (RUN_STATUS, "RUNNING") in notified(db, run_id), 20, orch, "delay event")
        job_runs.batch_stop_job_run(
            db, "stubborn", [run_id]
        )  # TERM is ignored: STOPPING lasts the grace
        wait_for(lambda: is_final(db, run_id), 20, orch)
    assert state(db, run_id) == "STOPPED"
    assert (scripts / "terms" / run_id).exists()  # it got the TERM, and the KILL ended it
    assert notified(db, run_id) == [
        (RUN_STATUS, "RUNNING"),
        (RUN_STATUS, "STOPPING"),
        (STATE_CHANGE, "STOPPED"),
    ]


# --- restarts ----------------------------------------------------------------------------------


def test_deadlines_survive_an_orchestrator_crash(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(
        db,
        scripts,
        Jobs=[
            job("t4", "sleep.py", Timeout="4s"),
            job("t2", "sleep.py", Timeout="2s", DefaultArguments={"--child": "1"}),
        ],
    )
    later, passed = job_runs.start_job_run(db, "t4"), job_runs.start_job_run(db, "t2")
    with orchestrator_process(settings) as first:
        # Both processes up (not only recorded RUNNING: a fork the server had not done yet
        # would be lost with it), then the orchestrator dies.
        wait_for(
            lambda: all(running_with_pids(db, scripts, r) for r in (later, passed)),
            30,
            what="both RUNNING",
        )
        crash(first)
    deadline_later, deadline_passed = row(db, later).timeout_at, row(db, passed).timeout_at
    assert deadline_later is not None and deadline_passed is not None
    assert state(db, passed) == "RUNNING"  # no orchestrator: the deadline goes by unseen
    wait_for(lambda: store.now() > deadline_passed + dt.timedelta(seconds=0.3), 5)
    assert state(db, passed) == "RUNNING"
    adopted_at = store.now()
    with orchestrating(db, settings) as orch:
        wait_for(lambda: is_final(db, passed), 10, orch, "the passed deadline")
        wait_for(lambda: is_final(db, later), 10, orch, "the stored deadline")
    honoured, ended = row(db, passed).completed_on, row(db, later).completed_on
    assert state(db, passed) == "TIMEOUT" and state(db, later) == "TIMEOUT"
    assert honoured is not None and ended is not None
    # The passed deadline is acted on at adoption, before a timeout restarted then could end it;
    # the other at its stored deadline, not at one restarted from adoption.
    assert adopted_at <= honoured < adopted_at + dt.timedelta(seconds=2)
    assert deadline_later <= ended < adopted_at + dt.timedelta(seconds=4)
    for pid in pids_of(scripts, passed) + pids_of(scripts, later):
        wait_for(lambda pid=pid: not alive(pid), 5, what=f"pid {pid} gone")
    assert notified(db, passed) == notified(db, later) == [(STATE_CHANGE, "TIMEOUT")]


def test_a_run_whose_process_was_lost_fails_and_is_retried(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    # Attempt 1 sleeps (and is killed); the retry succeeds at once.
    (scripts / "lost.py").write_text(_PRELUDE + """\
counter = here / "count-lost"
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
if n == 1:
    (here / "pids").mkdir(exist_ok=True)
    (here / "pids" / (run_id + ".json")).write_text(json.dumps([os.getpid()]))
    time.sleep(30)
""")  # fmt: skip
    apply(db, scripts, Jobs=[job("lost", "lost.py", MaxRetries=1)])
    run_id = job_runs.start_job_run(db, "lost")
    with orchestrator_process(settings) as first:
        wait_for(lambda: running_with_pids(db, scripts, run_id), 30, what="RUNNING")
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
    assert (retry["JobRunState"], retry["PreviousRunId"], retry["Attempt"]) == (
        "SUCCEEDED",
        run_id,
        1,
    )
    assert notified(db, run_id) == [(STATE_CHANGE, "FAILED")]
    assert notified(db, retry["Id"]) == [(STATE_CHANGE, "SUCCEEDED")]


# --- examples/lifecycle ------------------------------------------------------------------------


def test_the_lifecycle_example(
    db: store.Store, settings: Settings, tmp_path: Path, receiver: Receiver
) -> None:
    hooked = settings.replace(notification_sinks=[{"type": "webhook", "url": receiver.url}])
    service_definitions.apply(db, service_definitions.validate([EXAMPLE / "workflow.yaml"], hooked))
    state_dir = tmp_path / "example-state"
    run_id = workflow_runs.start_workflow_run(db, "lifecycle", {"out_dir": str(state_dir)})
    run = drive_workflow(db, hooked, run_id, timeout=40)
    assert run["Status"] == "COMPLETED"
    by_job: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(job_runs_in(db, run_id), key=lambda r: r["Attempt"]):
        by_job.setdefault(r["JobName"], []).append(r)
    assert {name: [r["JobRunState"] for r in attempts] for name, attempts in by_job.items()} == {
        "extract": ["FAILED", "SUCCEEDED"],
        "slow_report": ["TIMEOUT"],
        "cleanup_after_timeout": ["SUCCEEDED"],
        "load": ["SUCCEEDED"],
    }
    # The orchestrator has stopped: its notifier delivered what it published before closing.
    delayed = [e["detail"] for e in receiver.events if e["detail-type"] == RUN_STATUS]
    assert [(d["jobName"], d["state"]) for d in delayed] == [("load", "RUNNING")]
    changes = sorted(
        (e["detail"]["jobName"], e["detail"]["state"])
        for e in receiver.events
        if e["detail-type"] == STATE_CHANGE
    )
    assert changes == sorted(
        (r["JobName"], r["JobRunState"]) for attempts in by_job.values() for r in attempts
    )
    outputs = state_dir / run_id
    assert (outputs / "extract.attempts").read_text() == "2" and (outputs / "cleanup.txt").exists()
    assert not (EXAMPLE / "out").exists()  # the run property moved the outputs out of the repo
