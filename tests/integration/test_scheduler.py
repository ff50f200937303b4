"""The scheduler against a real store, on SQLite and PostgreSQL.

First a whole workflow run, driven by an Orchestrator with real python-shell job processes,
then the scheduler alone: passes that crash roll back whole, two schedulers never fire a
trigger twice, and a hypothesis state machine that completes runs in random orders.
"""

from __future__ import annotations

import itertools
import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import hypothesis
import pytest
import sqlalchemy as sa
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from orchestrator import (
    definitions,
    errors,
    job_run,
    models,
    runner,
    scheduler,
    service,
    states,
    store,
)
from orchestrator.settings import Settings

J = states.JobRunState
W = states.WorkflowRunStatus
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]

# Each script first writes its argv to argv/<job run id>.json beside it.
_PRELUDE = """\
import json, pathlib, sys
args = sys.argv[1:]
out = pathlib.Path(__file__).resolve().parent / "argv"
out.mkdir(exist_ok=True)
(out / (args[args.index("--JOB_RUN_ID") + 1] + ".json")).write_text(json.dumps(args))
"""
SCRIPTS = {
    "ok.py": "print('ok')\n",
    "boom.py": "raise ValueError('boom')\n",
    "exit3.py": "sys.exit(3)\n",
    "sleep.py": "import time\ntime.sleep(float(args[args.index('--seconds') + 1]))\n",
}


def write_scripts(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in SCRIPTS.items():
        (folder / name).write_text(_PRELUDE + body)
    return folder


def _job(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Command": {"Name": "pythonshell", "ScriptLocation": script}, **extra}


def _when(logical: str, *conditions: tuple[str, str]) -> dict[str, Any]:
    return {
        "Logical": logical,
        "Conditions": [
            {"LogicalOperator": "EQUALS", "JobName": job, "State": state} for job, state in conditions
        ],
    }


def _conditional(name: str, workflow: str, predicate: dict[str, Any], *jobs: str) -> dict[str, Any]:
    return {
        "Name": name, "WorkflowName": workflow, "Type": "CONDITIONAL", "StartOnCreation": True,
        "Predicate": predicate, "Actions": [{"JobName": j} for j in jobs],
    }


# start -> a, b (sleeps), c (raises)
#   both:       a AND b SUCCEEDED -> d
#   either:     a ANY b SUCCEEDED -> e     (fires on the first; the second must not fire it again)
#   on-failure: c FAILED          -> f     (exits 3, retried once: two attempts)
#   never:      a AND c SUCCEEDED -> g     (c fails, so g never runs)
#   after-g:    g SUCCEEDED       -> h     (watches a job that never runs)
FLOW: dict[str, Any] = {
    "Workflows": [{"Name": "flow", "DefaultRunProperties": {"k": "default", "keep": "yes"}}],
    "Jobs": [
        _job("a", "ok.py", DefaultArguments={"--x": "default-x", "--y": "default-y"},
             NonOverridableArguments={"--z": "fixed"}),
        _job("b", "sleep.py", DefaultArguments={"--seconds": "0.6"}),
        _job("c", "boom.py"),
        _job("d", "ok.py"),
        _job("e", "ok.py"),
        _job("f", "exit3.py", MaxRetries=1),
        _job("g", "ok.py"),
        _job("h", "ok.py"),
    ],
    "Triggers": [
        {"Name": "start", "WorkflowName": "flow", "Type": "ON_DEMAND",
         "Actions": [{"JobName": "a", "Arguments": {"--y": "run-y", "--w": "run-w"}},
                     {"JobName": "b"}, {"JobName": "c"}]},
        _conditional("both", "flow", _when("AND", ("a", "SUCCEEDED"), ("b", "SUCCEEDED")), "d"),
        _conditional("either", "flow", _when("ANY", ("a", "SUCCEEDED"), ("b", "SUCCEEDED")), "e"),
        _conditional("on-failure", "flow", _when("AND", ("c", "FAILED")), "f"),
        _conditional("never", "flow", _when("AND", ("a", "SUCCEEDED"), ("c", "SUCCEEDED")), "g"),
        _conditional("after-g", "flow", _when("AND", ("g", "SUCCEEDED")), "h"),
    ],
}  # fmt: skip
FLOW_JOBS = [j["Name"] for j in FLOW["Jobs"]]


def apply(db: store.Store, settings: Settings, data: Mapping[str, Any], scripts: Path) -> None:
    service.apply(db, definitions.load_mapping(data, base_dir=scripts), settings)


def drive(db: store.Store, settings: Settings, run_id: str, timeout: float = 60) -> dict[str, Any]:
    """Run an orchestrator on one workflow run until the run is terminal; returns GetWorkflowRun."""
    deadline = time.monotonic() + timeout
    terminal = {s.value for s in states.WORKFLOW_RUN_TERMINAL}

    def done() -> bool:
        if time.monotonic() > deadline:
            raise AssertionError(f"workflow run not finished after {timeout}s")
        return service.get_workflow_run(db, None, run_id, include_graph=False)["Status"] in terminal

    orch = runner.Orchestrator(settings, db, scope=run_id).start()
    try:
        runner.run_until(orch, done, interval=0.05)
    finally:
        orch.stop()
    return service.get_workflow_run(db, None, run_id)


def firings(db: store.Store, scope: str) -> Counter[str]:
    t = models.trigger_firings
    with db.read() as conn:
        return Counter(conn.execute(sa.select(t.c.trigger_name).where(t.c.scope == scope)).scalars())


def job_runs_of(db: store.Store, run_id: str) -> list[dict[str, Any]]:
    t = models.job_runs
    with db.read() as conn:
        return store.job_runs_where(conn, t.c.workflow_run_id == run_id)


# --- one workflow run, end to end (module-scoped: run once per backend) ----------------------


@dataclass
class FlowRun:
    db: store.Store
    run_id: str
    run: dict[str, Any]  # GetWorkflowRun, with its Graph
    runs: dict[str, list[dict[str, Any]]]  # GetJobRuns per job, newest first
    scripts: Path

    def only(self, job: str) -> dict[str, Any]:
        [run] = self.runs[job]
        return run

    def argv(self, job_run_id: str) -> list[str]:
        return json.loads((self.scripts / "argv" / f"{job_run_id}.json").read_text())


@pytest.fixture(scope="module", params=BACKENDS)
def flow(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fresh_db_url: Callable[[str, Path], AbstractContextManager[str]],
) -> Iterator[FlowRun]:
    folder = tmp_path_factory.mktemp(f"flow-{request.param}")
    with fresh_db_url(request.param, folder) as url:
        db = store.Store.open_url(url)
        try:
            settings = Settings(home=folder / ".adhere", db_url=url, poll_interval=0.05, kill_grace=1.0)
            scripts = write_scripts(folder / "jobs")
            apply(db, settings, FLOW, scripts)
            run_id = service.start_workflow_run(db, "flow", {"k": "v"})
            run = drive(db, settings, run_id)
            runs = {job: service.get_job_runs(db, job) for job in FLOW_JOBS}
            yield FlowRun(db, run_id, run, runs, scripts)
        finally:
            db.close()


def test_the_run_completes_although_jobs_failed(flow: FlowRun) -> None:
    assert flow.run["Status"] == "COMPLETED"
    assert flow.run["CompletedOn"] >= flow.run["StartedOn"]
    assert flow.only("c")["JobRunState"] == "FAILED"
    assert "ValueError: boom" in flow.only("c")["ErrorMessage"]


def test_and_fires_once_both_succeeded(flow: FlowRun) -> None:
    d = flow.only("d")
    assert d["JobRunState"] == "SUCCEEDED" and d["TriggerName"] == "both"
    assert d["StartedOn"] >= max(flow.only("a")["CompletedOn"], flow.only("b")["CompletedOn"])


def test_any_fires_once_although_both_conditions_came_true(flow: FlowRun) -> None:
    e = flow.only("e")  # one run: b's success after a's did not fire "either" again
    assert e["JobRunState"] == "SUCCEEDED" and e["TriggerName"] == "either"
    assert {"JobName": "a", "RunId": flow.only("a")["Id"]} in e["PredecessorRuns"]


def test_a_failed_branch_fires_and_its_job_is_retried(flow: FlowRun) -> None:
    attempts = flow.runs["f"]  # newest first, as GetJobRuns returns them
    assert [r["Attempt"] for r in attempts] == [1, 0]
    assert [r["JobRunState"] for r in attempts] == ["FAILED", "FAILED"]
    assert attempts[0]["PreviousRunId"] == attempts[1]["Id"]
    assert all(r["ErrorMessage"] == "exit code 3" for r in attempts)
    assert all(r["TriggerName"] == "on-failure" for r in attempts)


def test_triggers_whose_predicate_never_holds_do_not_fire(flow: FlowRun) -> None:
    assert flow.runs["g"] == [] and flow.runs["h"] == []


def test_each_trigger_fired_exactly_once(flow: FlowRun) -> None:
    assert firings(flow.db, flow.run_id) == {"start": 1, "both": 1, "either": 1, "on-failure": 1}


def test_statistics_count_each_node_by_its_latest_run(flow: FlowRun) -> None:
    assert flow.run["Statistics"] == {
        "TotalActions": 8,  # g and h count though they never ran
        "SucceededActions": 4,  # a b d e
        "FailedActions": 2,  # c, and f by its last attempt
        "TimeoutActions": 0, "StoppedActions": 0, "RunningActions": 0, "ErroredActions": 0,
        "WaitingActions": 0,
    }  # fmt: skip


def test_graph_has_every_node_edge_and_attempt(flow: FlowRun) -> None:
    graph = flow.run["Graph"]
    by_name = {(n["Type"], n["Name"]): n for n in graph["Nodes"]}
    triggers = {"start", "both", "either", "on-failure", "never", "after-g"}
    assert set(by_name) == {("JOB", j) for j in FLOW_JOBS} | {("TRIGGER", t) for t in triggers}
    ids = {n["UniqueId"]: name for (_, name), n in by_name.items()}
    edges = {(ids[e["SourceId"]], ids[e["DestinationId"]]) for e in graph["Edges"]}
    assert edges == {
        ("start", "a"), ("start", "b"), ("start", "c"),
        ("a", "both"), ("b", "both"), ("both", "d"),
        ("a", "either"), ("b", "either"), ("either", "e"),
        ("c", "on-failure"), ("on-failure", "f"),
        ("a", "never"), ("c", "never"), ("never", "g"),
        ("g", "after-g"), ("after-g", "h"),
    }  # fmt: skip
    f_runs = by_name[("JOB", "f")]["JobDetails"]["JobRuns"]
    assert sorted(r["Attempt"] for r in f_runs) == [0, 1]
    assert "JobDetails" not in by_name[("JOB", "g")]
    assert by_name[("TRIGGER", "both")]["TriggerDetails"]["Trigger"]["Name"] == "both"


def test_predecessor_runs_name_the_runs_that_met_the_predicate(flow: FlowRun) -> None:
    a, b, c = flow.only("a"), flow.only("b"), flow.only("c")
    assert sorted(flow.only("d")["PredecessorRuns"], key=lambda p: p["JobName"]) == [
        {"JobName": "a", "RunId": a["Id"]}, {"JobName": "b", "RunId": b["Id"]},
    ]  # fmt: skip
    assert all(r["PredecessorRuns"] == [{"JobName": "c", "RunId": c["Id"]}] for r in flow.runs["f"])
    assert a["PredecessorRuns"] == [] and b["PredecessorRuns"] == []


def test_run_properties_are_the_defaults_with_the_start_overrides(flow: FlowRun) -> None:
    assert flow.run["WorkflowRunProperties"] == {"k": "v", "keep": "yes"}
    assert service.get_workflow_run_properties(flow.db, "flow", flow.run_id) == {"k": "v", "keep": "yes"}


def test_scripts_get_the_merged_arguments_and_glue_keys(flow: FlowRun) -> None:
    a = flow.only("a")
    argv = flow.argv(a["Id"])
    pairs = dict(zip(argv[::2], argv[1::2], strict=True))
    assert pairs == {
        "--x": "default-x",  # default
        "--y": "run-y",  # the action's argument overrides the default
        "--w": "run-w",  # an argument only the action gives
        "--z": "fixed",  # non-overridable
        "--JOB_NAME": "a", "--JOB_RUN_ID": a["Id"],
        "--WORKFLOW_NAME": "flow", "--WORKFLOW_RUN_ID": flow.run_id,
    }  # fmt: skip
    assert a["Arguments"] == {"--y": "run-y", "--w": "run-w"}


def test_get_job_runs_is_newest_first(flow: FlowRun) -> None:
    every = [r for runs in flow.runs.values() for r in runs]
    assert len(every) == 7
    for runs in flow.runs.values():
        starts = [r["StartedOn"] for r in runs]
        assert starts == sorted(starts, reverse=True)


# --- the scheduler alone: crash safety ---------------------------------------------------------

# start -> a, b;  a AND b SUCCEEDED -> d;  a ANY b SUCCEEDED -> e
FAN: dict[str, Any] = {
    "Workflows": [{"Name": "fan"}],
    "Jobs": [
        _job(n, "ok.py", ExecutionProperty={"MaxConcurrentRuns": 1000}) for n in ("a", "b", "d", "e")
    ],
    "Triggers": [
        {"Name": "go", "WorkflowName": "fan", "Type": "ON_DEMAND",
         "Actions": [{"JobName": "a"}, {"JobName": "b"}]},
        _conditional("all", "fan", _when("AND", ("a", "SUCCEEDED"), ("b", "SUCCEEDED")), "d"),
        _conditional("any", "fan", _when("ANY", ("a", "SUCCEEDED"), ("b", "SUCCEEDED")), "e"),
    ],
}  # fmt: skip


@pytest.fixture
def fan(db: store.Store, settings: Settings, tmp_path: Path) -> store.Store:
    apply(db, settings, FAN, write_scripts(tmp_path / "jobs"))
    return db


def finish(db: store.Store, job_run_id: str, state: J) -> bool:
    """End a run as its engine would report it (through RUNNING); False if it had already ended."""
    with db.transaction() as tx:
        row = store.get_job_run(tx, job_run_id)
        assert row is not None
        if row["state"] in (J.STARTING.value, J.WAITING.value) and state is not J.STOPPED:
            store.set_job_run_state(tx, job_run_id, J.RUNNING, started_on=store.now())
            row = store.get_job_run(tx, job_run_id)
        done, _ = job_run.complete(tx, row, state)
        return done is not None


def run_pass(db: store.Store, sched: scheduler.Scheduler) -> scheduler.PassResult:
    with db.transaction() as tx:
        return sched.run_pass(tx)


def status(db: store.Store, run_id: str) -> str:
    with db.read() as conn:
        run = store.get_workflow_run(conn, run_id)
    assert run is not None
    return run["status"]


def unprocessed(db: store.Store) -> int:
    t = models.events
    with db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).where(t.c.processed.is_(False))).scalar_one()


def test_a_pass_that_crashes_after_firing_rolls_back_whole(
    fan: store.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = fan
    run_id = service.start_workflow_run(db, "fan")
    real = store.record_firing

    def fire_then_crash(tx: store.Tx, scope: str, trigger_name: str) -> bool:
        assert real(tx, scope, trigger_name)
        raise RuntimeError("crash after the firing insert")

    monkeypatch.setattr(store, "record_firing", fire_then_crash)
    with pytest.raises(RuntimeError, match="after the firing"):
        run_pass(db, scheduler.Scheduler("s1"))
    assert unprocessed(db) == 1
    assert firings(db, run_id) == Counter() and job_runs_of(db, run_id) == []

    monkeypatch.setattr(store, "record_firing", real)
    monkeypatch.setattr(job_run, "create", _crash)
    with pytest.raises(RuntimeError, match="job run"):
        run_pass(db, scheduler.Scheduler("s2"))
    assert unprocessed(db) == 1
    assert firings(db, run_id) == Counter() and job_runs_of(db, run_id) == []

    monkeypatch.undo()
    result = run_pass(db, scheduler.Scheduler("s3"))
    assert result.events == 1 and unprocessed(db) == 0
    assert firings(db, run_id) == {"go": 1}
    assert sorted(r["job_name"] for r in job_runs_of(db, run_id)) == ["a", "b"]
    assert run_pass(db, scheduler.Scheduler("s3")).events == 0


def _crash(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("crash while creating a job run")


def test_a_crashed_pass_loses_no_completion(fan: store.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pass over two completions (that fire "all" and "any") crashes while marking its
    events; they stay unprocessed, and the next pass fires both triggers, once."""
    db = fan
    run_id = service.start_workflow_run(db, "fan")
    run_pass(db, scheduler.Scheduler("s1"))
    for row in job_runs_of(db, run_id):
        finish(db, row["id"], J.SUCCEEDED)
    monkeypatch.setattr(store, "mark_events_processed", _crash)
    with pytest.raises(RuntimeError):
        run_pass(db, scheduler.Scheduler("s1"))
    assert unprocessed(db) == 2 and firings(db, run_id) == {"go": 1}
    monkeypatch.undo()
    run_pass(db, scheduler.Scheduler("s1"))
    assert firings(db, run_id) == {"go": 1, "all": 1, "any": 1}
    assert Counter(r["job_name"] for r in job_runs_of(db, run_id)) == {"a": 1, "b": 1, "d": 1, "e": 1}


WIDE = [f"w{i}" for i in range(6)]


def _start_wide(db: store.Store, settings: Settings, tmp_path: Path) -> str:
    """start -> w0..w5;  all of them SUCCEEDED -> z"""
    apply(db, settings, {
        "Workflows": [{"Name": "wide"}],
        "Jobs": [_job(n, "ok.py") for n in [*WIDE, "z"]],
        "Triggers": [
            {"Name": "go", "WorkflowName": "wide", "Type": "ON_DEMAND", "Actions": [{"JobName": n} for n in WIDE]},
            _conditional("all", "wide", _when("AND", *((n, "SUCCEEDED") for n in WIDE)), "z"),
        ],
    }, write_scripts(tmp_path / "jobs"))
    return service.start_workflow_run(db, "wide")


@pytest.mark.parametrize("order", [WIDE, WIDE[::-1], ["w2", "w5", "w0", "w4", "w1", "w3"]])
@pytest.mark.parametrize("fresh_scheduler", [False, True])
def test_a_wide_and_fires_at_its_last_completion_whatever_the_order(
    db: store.Store, settings: Settings, tmp_path: Path, order: list[str], fresh_scheduler: bool
) -> None:
    """An AND over many jobs skips its full evaluation while a remembered job is missing (see
    scheduler._cannot_hold); that memory is a hint only, right in any completion order and
    when another scheduler (without it) takes over."""
    run_id = _start_wide(db, settings, tmp_path)
    sched = scheduler.Scheduler("s1")
    run_pass(db, sched)
    ids = {r["job_name"]: r["id"] for r in job_runs_of(db, run_id)}
    for count, name in enumerate(order, 1):
        finish(db, ids[name], J.SUCCEEDED)
        run_pass(db, scheduler.Scheduler("s2") if fresh_scheduler else sched)
        assert firings(db, run_id)["all"] == (1 if count == len(order) else 0), name
    assert [r["job_name"] for r in job_runs_of(db, run_id)].count("z") == 1


def test_a_wide_and_never_fires_when_one_job_failed(db: store.Store, settings: Settings, tmp_path: Path) -> None:
    run_id = _start_wide(db, settings, tmp_path)
    sched = scheduler.Scheduler("s1")
    run_pass(db, sched)
    for row in job_runs_of(db, run_id):
        finish(db, row["id"], J.FAILED if row["job_name"] == "w3" else J.SUCCEEDED)
        run_pass(db, sched)
    assert firings(db, run_id)["all"] == 0
    assert status(db, run_id) == "COMPLETED"


def test_redelivered_events_fire_nothing_twice(fan: store.Store) -> None:
    """Events seen again (a second scheduler, a replay) find the firings already recorded."""
    db = fan
    run_id = service.start_workflow_run(db, "fan")
    run_pass(db, scheduler.Scheduler("s1"))
    a, b = sorted(job_runs_of(db, run_id), key=lambda r: r["job_name"])
    finish(db, a["id"], J.SUCCEEDED)
    run_pass(db, scheduler.Scheduler("s1"))  # "any" fires on a
    finish(db, b["id"], J.SUCCEEDED)
    with db.transaction() as tx:  # replay every event the run ever had, for a second scheduler
        t = models.events
        for event in tx.execute(sa.select(t).where(t.c.workflow_run_id == run_id)).mappings().all():
            store.insert_event(tx, event["kind"], workflow_run_id=run_id, job_run_id=event["job_run_id"],
                               payload=event["payload"])
    run_pass(db, scheduler.Scheduler("s2"))
    run_pass(db, scheduler.Scheduler("s1"))
    assert firings(db, run_id) == {"go": 1, "any": 1, "all": 1}
    assert Counter(r["job_name"] for r in job_runs_of(db, run_id)) == {"a": 1, "b": 1, "d": 1, "e": 1}


def test_two_schedulers_never_double_fire(fan: store.Store, db_url: str) -> None:
    """Two schedulers (own connections) pass over the same events while runs complete.

    On PostgreSQL they run in two threads at once; SQLite serialises writers, so there they
    take turns, interleaved with the completions.
    """
    db = fan
    other = store.Store.open_url(db_url)
    n_runs = 8
    run_ids = [service.start_workflow_run(db, "fan") for _ in range(n_runs)]
    schedulers = [(db, scheduler.Scheduler("s1")), (other, scheduler.Scheduler("s2"))]
    errors: list[BaseException] = []
    deadline = time.monotonic() + 60

    def complete_some() -> None:
        t = models.job_runs
        with db.read() as conn:
            starting = store.job_runs_where(conn, t.c.state == J.STARTING.value)
        for row in starting:
            finish(db, row["id"], J.SUCCEEDED)

    def all_done() -> bool:
        return all(status(db, r) == "COMPLETED" for r in run_ids)

    try:
        if db.is_postgres:
            stop = threading.Event()

            def loop(target: store.Store, sched: scheduler.Scheduler) -> None:
                try:
                    while not stop.is_set():
                        if run_pass(target, sched).events == 0:
                            time.sleep(0.005)
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=loop, args=pair) for pair in schedulers]
            for thread in threads:
                thread.start()
            try:
                while not all_done() and not errors and time.monotonic() < deadline:
                    complete_some()
                    time.sleep(0.01)
            finally:
                stop.set()
                for thread in threads:
                    thread.join(30)
        else:
            turn = 0
            while not all_done() and time.monotonic() < deadline:
                run_pass(*schedulers[turn % 2])
                turn += 1
                complete_some()
    finally:
        other.close()
    assert errors == []
    assert all_done()
    for run_id in run_ids:
        assert firings(db, run_id) == {"go": 1, "all": 1, "any": 1}
        assert Counter(r["job_name"] for r in job_runs_of(db, run_id)) == {"a": 1, "b": 1, "d": 1, "e": 1}


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_pass_takes_run_locks_before_job_locks(fan: store.Store) -> None:
    """Regression: a pass held a job row (from firing in run X) while waiting for run Y, whose
    holder then wanted that job row: PostgreSQL aborted one of them (deadlock detected)."""
    db = fan
    x, y = service.start_workflow_run(db, "fan"), service.start_workflow_run(db, "fan")
    run_pass(db, scheduler.Scheduler("s0"))
    for row in sorted(job_runs_of(db, x), key=lambda r: r["job_name"]):
        finish(db, row["id"], J.SUCCEEDED)  # X's pass will fire "all" and "any": locks jobs d, e
    finish(db, next(r["id"] for r in job_runs_of(db, y) if r["job_name"] == "a"), J.SUCCEEDED)
    holding_y = threading.Event()
    errors: list[BaseException] = []

    def other_scheduler() -> None:  # evaluates Y: holds its run lock, then creates a run of d
        try:
            with db.transaction() as tx:
                store.get_workflow_run(tx, y, for_update=True)
                holding_y.set()
                _wait_for_a_lock_wait(db)
                store.lock_definition(tx, "job", "d")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=other_scheduler)
    thread.start()
    assert holding_y.wait(5)
    try:
        run_pass(db, scheduler.Scheduler("s1"))
    except BaseException as exc:
        errors.append(exc)
    thread.join(10)
    assert errors == []
    assert firings(db, x) == {"go": 1, "all": 1, "any": 1} and firings(db, y) == {"go": 1, "any": 1}


def _wait_for_a_lock_wait(db: store.Store, timeout: float = 5.0) -> None:
    """Until some session of this database waits for a lock (the pass under test)."""
    deadline = time.monotonic() + timeout
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while time.monotonic() < deadline:
        with db.read() as conn:
            if conn.execute(query).scalar_one():
                return
        time.sleep(0.02)
    raise AssertionError("the pass never waited for a lock")


# --- a state machine: random completions, passes and stops (SQLite) ----------------------------

# start -> a (1 retry), b (MaxConcurrentRuns 1: a second run at once fails admission), c
#   a AND b SUCCEEDED -> d;  a ANY c FAILED -> e;  d SUCCEEDED -> f;  c TIMEOUT ANY STOPPED -> g
MACHINE_FLOW: dict[str, Any] = {
    "Workflows": [{"Name": "sm"}],
    "Jobs": [
        _job("a", "ok.py", MaxRetries=1, ExecutionProperty={"MaxConcurrentRuns": 100}),
        _job("b", "ok.py"),
        *(_job(n, "ok.py", ExecutionProperty={"MaxConcurrentRuns": 100}) for n in "cdefg"),
    ],
    "Triggers": [
        {"Name": "go", "WorkflowName": "sm", "Type": "ON_DEMAND",
         "Actions": [{"JobName": "a"}, {"JobName": "b"}, {"JobName": "c"}]},
        _conditional("ab", "sm", _when("AND", ("a", "SUCCEEDED"), ("b", "SUCCEEDED")), "d"),
        _conditional("ac", "sm", _when("ANY", ("a", "FAILED"), ("c", "FAILED")), "e"),
        _conditional("df", "sm", _when("AND", ("d", "SUCCEEDED")), "f"),
        _conditional("cg", "sm", _when("ANY", ("c", "TIMEOUT"), ("c", "STOPPED")), "g"),
    ],
}  # fmt: skip
# Each job is the action of exactly one trigger.
STARTED_BY = {"a": "go", "b": "go", "c": "go", "d": "ab", "e": "ac", "f": "df", "g": "cg"}
ENDINGS = [J.SUCCEEDED, J.FAILED, J.TIMEOUT, J.STOPPED, J.ERROR]
_ACTIVE = [s.value for s in states.JOB_RUN_ACTIVE]
_JOB_TERMINAL = {s.value for s in states.JOB_RUN_TERMINAL}
_WORKFLOW_TERMINAL = {s.value for s in states.WORKFLOW_RUN_TERMINAL}


def end_run(db: store.Store, row: Mapping[str, Any], state: J) -> None:
    """Bring an active run to ``state`` by legal steps, as engine reports would."""
    with db.transaction() as tx:
        current = J(row["state"])
        if state is J.STOPPED and current is J.RUNNING:
            store.set_job_run_state(tx, row["id"], J.STOPPING)
        elif state is not J.STOPPED and current in (J.STARTING, J.WAITING):
            store.set_job_run_state(tx, row["id"], J.RUNNING, started_on=store.now())
        fresh = store.get_job_run(tx, row["id"])
        assert fresh is not None
        done, _ = job_run.complete(tx, fresh, state)
        assert done is not None, (current, state)


MOSTLY_TRUE = st.sampled_from([True, True, True, False])


class SchedulerMachine(RuleBasedStateMachine):
    """Random starts, completions (legal and repeated), passes and stops on one SQLite store."""

    # Set by the test: a SQLite file with MACHINE_FLOW applied, and a folder for the examples.
    template: ClassVar[Path]
    folder: ClassVar[Path]
    examples: ClassVar[Iterator[int]]

    def __init__(self) -> None:
        super().__init__()
        folder = self.folder / f"example-{next(self.examples)}"
        folder.mkdir()
        shutil.copyfile(self.template, folder / "adhere.db")
        self.db = store.Store.open_url(f"sqlite:///{folder / 'adhere.db'}")
        self.scheduler = scheduler.Scheduler("machine")
        self.run_ids: list[str] = []
        self.ended_jobs: dict[str, str] = {}
        self.ended_workflows: dict[str, str] = {}

    def job_runs(self, *clauses: Any) -> list[dict[str, Any]]:
        """In a replayable order (ids are random): by workflow run, job, attempt."""
        with self.db.read() as conn:
            rows = store.job_runs_where(conn, *clauses)
        return sorted(rows, key=lambda r: (self.run_ids.index(r["workflow_run_id"]), r["job_name"], r["attempt"]))

    @initialize()
    def start_the_first_workflow_run(self) -> None:
        self.start_workflow_run(then_pass=True)

    @precondition(lambda self: len(self.run_ids) < 3)
    @rule(then_pass=MOSTLY_TRUE)
    def start_workflow_run(self, then_pass: bool) -> None:
        self.run_ids.append(service.start_workflow_run(self.db, "sm"))
        if then_pass:
            self.scheduler_pass()

    @rule(pick=st.integers(0, 99), state=st.sampled_from(ENDINGS), then_pass=MOSTLY_TRUE)
    def complete_an_active_run(self, pick: int, state: J, then_pass: bool) -> None:
        """End a run as an engine report would; usually followed by a pass, as the runner does."""
        active = self.job_runs(models.job_runs.c.state.in_(_ACTIVE))
        if active:
            end_run(self.db, active[pick % len(active)], state)
        if then_pass:
            self.scheduler_pass()

    @rule(pick=st.integers(0, 99), state=st.sampled_from(ENDINGS))
    def complete_an_ended_run_again(self, pick: int, state: J) -> None:
        ended = self.job_runs(models.job_runs.c.state.in_(_JOB_TERMINAL))
        if ended:
            with self.db.transaction() as tx:
                assert job_run.complete(tx, ended[pick % len(ended)], state) == (None, None)

    @rule()
    def scheduler_pass(self) -> None:
        while run_pass(self.db, self.scheduler).more:
            pass

    @rule(pick=st.integers(0, 99), chance=st.integers(0, 3))
    def stop_a_workflow_run(self, pick: int, chance: int) -> None:
        """Rarely (a stop ends a run's story early, so it would crowd out the rest)."""
        running = [r for r in self.run_ids if status(self.db, r) == W.RUNNING.value]
        if running and chance == 0:
            service.stop_workflow_run(self.db, "sm", running[pick % len(running)])

    @invariant()
    def each_trigger_fires_and_starts_its_jobs_at_most_once(self) -> None:
        t = models.trigger_firings
        with self.db.read() as conn:
            fired = Counter(conn.execute(sa.select(t.c.scope, t.c.trigger_name)).all())
        assert [key for key, n in fired.items() if n > 1] == []
        first_attempts = Counter(
            (r["workflow_run_id"], r["job_name"]) for r in self.job_runs() if r["attempt"] == 0
        )
        assert [key for key, n in first_attempts.items() if n > 1] == []  # started twice
        assert set(first_attempts) == {
            (scope, job) for scope, trig in fired for job, by in STARTED_BY.items() if by == trig
        }

    @invariant()
    def ended_runs_never_change(self) -> None:
        for row in self.job_runs():
            if row["id"] in self.ended_jobs:
                assert row["state"] == self.ended_jobs[row["id"]]
            elif row["state"] in _JOB_TERMINAL:
                self.ended_jobs[row["id"]] = row["state"]
        for run_id in self.run_ids:
            now = status(self.db, run_id)
            if run_id in self.ended_workflows:
                assert now == self.ended_workflows[run_id]
            elif now in _WORKFLOW_TERMINAL:
                self.ended_workflows[run_id] = now

    @invariant()
    def finished_workflow_runs_have_no_active_job_runs(self) -> None:
        t = models.job_runs
        for run_id, ended in self.ended_workflows.items():
            active = self.job_runs(t.c.workflow_run_id == run_id, t.c.state.in_(_ACTIVE))
            assert active == [], ended

    def teardown(self) -> None:
        self.db.close()


def test_scheduler_state_machine(
    tmp_path: Path, fresh_db_url: Callable[[str, Path], AbstractContextManager[str]]
) -> None:
    """Invariants under random interleavings: a trigger fires at most once per workflow run (and
    its actions start once), a terminal job run never changes, and a finished workflow run has
    no active job runs."""
    with fresh_db_url("sqlite", tmp_path) as url:
        db = store.Store.open_url(url)
        settings = Settings(home=tmp_path / ".adhere", db_url=url)
        apply(db, settings, MACHINE_FLOW, write_scripts(tmp_path / "jobs"))
        db.close()
        shutil.copyfile(url.removeprefix("sqlite:///"), tmp_path / "machine.db")
    SchedulerMachine.template = tmp_path / "machine.db"
    SchedulerMachine.folder = tmp_path
    SchedulerMachine.examples = itertools.count()
    run_state_machine_as_test(
        SchedulerMachine,
        settings=hypothesis.settings(
            max_examples=50, stateful_step_count=25, deadline=None, database=None,
            suppress_health_check=[hypothesis.HealthCheck.too_slow],
            # No shrinking: each step is a transaction, so shrinking a failure could outlast
            # the test timeout; the failing steps (at most 25) are printed as they were.
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        ),
    )  # fmt: skip


# --- a transient store failure in the middle of a wake-up -------------------------------------


def test_a_failed_wake_up_transaction_is_retried_without_loss(
    db: store.Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deadlock or lost connection rolls a wake-up back; the loop goes over it again, so every
    completion is recorded once, every trigger fires once and the run completes."""
    (tmp_path / "ok.py").write_text(
        "import sys, pathlib\n"
        "name = sys.argv[sys.argv.index('--JOB_NAME') + 1]\n"
        "with open(pathlib.Path(__file__).parent / 'ledger.txt', 'a') as f:\n"
        "    f.write(name + '\\n')\n"
    )
    job = {"Command": {"ScriptLocation": "ok.py"}, "Workflow": "flaky_store"}
    apply(db, settings, {
        "Workflows": [{"Name": "flaky_store"}],
        "Jobs": [{"Name": "a", **job}, {"Name": "b", **job, "DependsOn": {"a": "SUCCEEDED"}},
                 {"Name": "c", **job, "DependsOn": {"b": "SUCCEEDED"}}],
    }, tmp_path)
    real = scheduler.Scheduler.run_pass
    calls = Counter[str]()

    def flaky(self: scheduler.Scheduler, tx: store.Tx, *args: Any, **kwargs: Any) -> scheduler.PassResult:
        result = real(self, tx, *args, **kwargs)
        calls["pass"] += 1
        if calls["pass"] in (2, 4):  # after a's and b's completions were written in this transaction
            raise errors.StoreError("store error: deadlock detected")
        return result

    monkeypatch.setattr(scheduler.Scheduler, "run_pass", flaky)
    run_id = service.start_workflow_run(db, "flaky_store")
    run = drive(db, settings, run_id)
    assert run["Status"] == "COMPLETED"
    assert (tmp_path / "ledger.txt").read_text().split() == ["a", "b", "c"]
    assert [r["state"] for r in job_runs_of(db, run_id)] == ["SUCCEEDED"] * 3
    assert firings(db, run_id) == Counter({"flaky_store.start": 1, "flaky_store.b.depends": 1,
                                           "flaky_store.c.depends": 1})
    assert calls["pass"] > 4
