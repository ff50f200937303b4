"""The scheduler against a real store, on SQLite and PostgreSQL.

First whole workflow runs, driven by an Orchestrator with real python-shell job processes;
then the scheduler duty alone: ``Scheduler.step`` in the loop's transaction
(``db.transaction(consumed=[])``), asserting on its ``Effects`` and on the rows. Steps that
crash roll back whole, two schedulers never fire a trigger twice, and a hypothesis state
machine checks safety (at most once, terminal runs never move) and liveness (a trigger fires
exactly when its predicate holds, a run completes exactly when nothing is left to do).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar

import hypothesis
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from orchestrator import crawl as crawling
from orchestrator import errors, job_run, runner, scheduler, states, store
from orchestrator.definitions import loading
from orchestrator.effects import Effects
from orchestrator.service import definitions as service_definitions
from orchestrator.service import job_runs as service_job_runs
from orchestrator.service import workflow_runs as service_workflow_runs
from orchestrator.settings import Settings
from orchestrator.store.job_runs import JobRun

J = states.JobRunState
W = states.WorkflowRunStatus
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
FreshDatabase = Callable[[str, Path], AbstractContextManager[str]]
_WORKFLOW_TERMINAL = {s.value for s in states.WORKFLOW_RUN_TERMINAL}
_ANNOUNCED = {J.SUCCEEDED.value, J.FAILED.value, J.TIMEOUT.value, J.STOPPED.value}

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


def _job(name: str, script: str = "ok.py", **extra: Any) -> dict[str, Any]:
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
    }  # fmt: skip


def _on_demand(name: str, workflow: str, *jobs: str) -> dict[str, Any]:
    return {"Name": name, "WorkflowName": workflow, "Type": "ON_DEMAND", "Actions": [{"JobName": j} for j in jobs]}


def apply(db: store.Store, data: Mapping[str, Any], scripts: Path) -> None:
    service_definitions.apply(db, loading.load_mapping(data, base_dir=scripts))


def start(db: store.Store, workflow: str, properties: Mapping[str, str] | None = None) -> str:
    return service_workflow_runs.start_workflow_run(db, workflow, properties)


def drive(db: store.Store, settings: Settings, run_id: str, timeout: float = 120) -> dict[str, Any]:
    """Run an orchestrator on one workflow run until the run is terminal; returns GetWorkflowRun."""
    deadline = time.monotonic() + timeout

    def done() -> bool:
        if time.monotonic() > deadline:
            raise AssertionError(f"workflow run not finished after {timeout}s")
        return service_workflow_runs.workflow_run_status(db, run_id) in _WORKFLOW_TERMINAL

    orch = runner.Orchestrator(settings, db, scope=run_id).start()
    try:
        runner.run_until(orch, done, interval=0.05)
    finally:
        orch.stop()
    return service_workflow_runs.get_workflow_run(db, None, run_id)


def fired(db: store.Store, run_id: str) -> set[str]:
    with db.read() as tx:
        return store.firings.fired(tx, run_id)


def job_runs_of(db: store.Store, run_id: str, *, active: bool = False) -> list[JobRun]:
    with db.read() as tx:
        return store.job_runs.of_workflow_run(tx, run_id, active=active)


def jobs_of(db: store.Store, run_id: str) -> Counter[str]:
    return Counter(r.job_name for r in job_runs_of(db, run_id))


def status(db: store.Store, run_id: str) -> str:
    with db.read() as tx:
        found = store.workflow_runs.status(tx, run_id)
    assert found is not None
    return found


class _Rollback(Exception):
    """Raised to leave a transaction without committing it."""


_claim = store.outbox.claim  # the real one, whatever a test patches


def unprocessed(db: store.Store) -> list[store.outbox.Event]:
    """The events a claim would take now, left unclaimed (the transaction is rolled back)."""
    events: list[store.outbox.Event] = []
    with pytest.raises(_Rollback), db.transaction() as tx:
        events = _claim(tx, limit=100_000)
        raise _Rollback
    return events


def step(
    db: store.Store, sched: scheduler.Scheduler, *, claim: bool = True, effects: Effects | None = None,
    before: Callable[[store.Tx], None] | None = None,
) -> Effects:
    """One wake-up with the scheduler duty alone: the loop's transaction (``consumed=[]``), what
    earlier duties write in it (``before``), the step, the commit, then the bookkeeping."""
    effects = Effects() if effects is None else effects
    sched.claim = claim
    with db.transaction(consumed=[]) as tx:
        if before is not None:
            before(tx)
        sched.step(tx, store.now(), effects)
    for bookkeeping in effects.after:
        bookkeeping()
    return effects


def end_run(tx: store.Tx, run: JobRun, state: J) -> JobRun:
    """Bring an active run to ``state`` by legal steps, as engine reports would; the run as
    recorded (a run being stopped that fails ends STOPPED)."""
    current = J(run.state)
    if state is J.STOPPED and current is J.RUNNING:
        assert store.job_runs.set_state(tx, run.id, J.STOPPING.value, stop_reason=J.STOPPED.value)
    elif state is not J.STOPPED and current in (J.STARTING, J.WAITING):
        assert store.job_runs.set_state(tx, run.id, J.RUNNING.value, started_on=store.now())
    fresh = store.job_runs.get(tx, run.id)
    assert fresh is not None
    done, _ = job_run.complete(tx, fresh, state)
    assert done is not None, (current, state)
    return done


def finish(db: store.Store, job_run_id: str, state: J) -> JobRun:
    """End a run in a transaction of its own (its event waits in the outbox for a claim)."""
    with db.transaction() as tx:
        run = store.job_runs.get(tx, job_run_id)
        assert run is not None
        return end_run(tx, run, state)


def by_job(db: store.Store, run_id: str) -> dict[str, JobRun]:
    """The latest run of each job of a workflow run."""
    return {r.job_name: r for r in job_runs_of(db, run_id)}


# --- one workflow run, end to end (module-scoped: run once per backend) ----------------------

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


@dataclasses.dataclass
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
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fresh_db_url: FreshDatabase
) -> Iterator[FlowRun]:
    folder = tmp_path_factory.mktemp(f"flow-{request.param}")
    with fresh_db_url(request.param, folder) as url:
        db = store.Store.open_url(url)
        try:
            settings = Settings(home=folder / ".adhere", db_url=url, poll_interval=0.05, kill_grace=1.0)
            scripts = write_scripts(folder / "jobs")
            apply(db, FLOW, scripts)
            run_id = start(db, "flow", {"k": "v"})
            run = drive(db, settings, run_id)
            runs = {job: service_job_runs.get_job_runs(db, job)["JobRuns"] for job in FLOW_JOBS}
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
    e = flow.only("e")  # one run: the second success did not fire "either" again
    assert e["JobRunState"] == "SUCCEEDED" and e["TriggerName"] == "either"
    # It fired on the first of a and b to succeed (a, unless b's sleep was outrun).
    first = min(flow.only("a"), flow.only("b"), key=lambda r: r["CompletedOn"])
    assert {"JobName": first["JobName"], "RunId": first["Id"]} in e["PredecessorRuns"]
    assert e["StartedOn"] >= first["CompletedOn"]


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
    assert fired(flow.db, flow.run_id) == {"start", "both", "either", "on-failure"}
    # One run per job (two attempts of f): nothing an action starts was started twice.
    assert jobs_of(flow.db, flow.run_id) == {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 2}


def test_every_ended_job_run_was_announced_once(flow: FlowRun) -> None:
    """A "Glue Job State Change" per job run, with its state (the scheduler records them)."""
    with flow.db.read() as tx:
        notices = [n for n in store.notifications.find(tx, limit=1000) if n.detail_type == "Glue Job State Change"]
    expected = Counter((r["Id"], r["JobRunState"]) for runs in flow.runs.values() for r in runs)
    assert Counter((n.job_run_id, n.state) for n in notices) == expected


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
    assert "AdhereActions" not in by_name[("TRIGGER", "both")]["TriggerDetails"]["Trigger"]


def test_predecessor_runs_name_the_runs_that_met_the_predicate(flow: FlowRun) -> None:
    a, b, c = flow.only("a"), flow.only("b"), flow.only("c")
    assert sorted(flow.only("d")["PredecessorRuns"], key=lambda p: p["JobName"]) == [
        {"JobName": "a", "RunId": a["Id"]}, {"JobName": "b", "RunId": b["Id"]},
    ]  # fmt: skip
    assert all(r["PredecessorRuns"] == [{"JobName": "c", "RunId": c["Id"]}] for r in flow.runs["f"])
    assert a["PredecessorRuns"] == [] and b["PredecessorRuns"] == []


def test_run_properties_are_the_defaults_with_the_start_overrides(flow: FlowRun) -> None:
    assert flow.run["WorkflowRunProperties"] == {"k": "v", "keep": "yes"}
    props = service_workflow_runs.get_workflow_run_properties(flow.db, "flow", flow.run_id)
    assert props == {"k": "v", "keep": "yes"}


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


# --- the scheduler duty alone ------------------------------------------------------------------

# start -> a, b;  a AND b SUCCEEDED -> d;  a ANY b SUCCEEDED -> e
FAN: dict[str, Any] = {
    "Workflows": [{"Name": "fan"}],
    "Jobs": [_job(n, ExecutionProperty={"MaxConcurrentRuns": 1000}) for n in ("a", "b", "d", "e")],
    "Triggers": [
        _on_demand("go", "fan", "a", "b"),
        _conditional("all", "fan", _when("AND", ("a", "SUCCEEDED"), ("b", "SUCCEEDED")), "d"),
        _conditional("any", "fan", _when("ANY", ("a", "SUCCEEDED"), ("b", "SUCCEEDED")), "e"),
    ],
}


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    return write_scripts(tmp_path / "jobs")


@pytest.fixture
def fan(db: store.Store, scripts: Path) -> store.Store:
    apply(db, FAN, scripts)
    return db


def test_a_start_event_fires_the_start_trigger_and_leaves_its_runs_to_any_orchestrator(fan: store.Store) -> None:
    """Without capacity here, the runs are STARTING and unowned, and the effects say so (the
    dispatcher then claims them when it has room)."""
    db = fan
    run_id = start(db, "fan")
    effects = step(db, scheduler.Scheduler("s1"))
    assert fired(db, run_id) == {"go"}
    runs = job_runs_of(db, run_id)
    assert sorted((r.job_name, r.state, r.owner, r.trigger_name) for r in runs) == [
        ("a", "STARTING", None, "go"), ("b", "STARTING", None, "go"),
    ]  # fmt: skip
    assert effects.start == [] and effects.unowned is True
    assert effects.ended_workflow_runs == [] and effects.publish == []
    assert unprocessed(db) == []
    assert status(db, run_id) == "RUNNING"


@pytest.mark.parametrize(("capacity", "owned"), [(1, 1), (2, 2), (5, 2)])
def test_runs_within_capacity_are_owned_and_started_here(fan: store.Store, capacity: int, owned: int) -> None:
    """``capacity(effects)`` (the dispatcher's free slots, given what this wake-up already
    starts): that many new runs are owned by this process and returned to start; the rest are
    left to any orchestrator."""
    db = fan
    run_id = start(db, "fan")
    earlier = store.job_runs.new(id="jr_earlier", job_name="x", state="STARTING")
    asked: list[Effects] = []

    def free(effects: Effects) -> int:
        asked.append(effects)
        assert effects.start == [earlier]  # what earlier duties put in this wake-up's effects
        return capacity

    effects = step(db, scheduler.Scheduler("s1", capacity=free), effects=Effects(start=[earlier]))
    assert len(asked) == 1 and asked[0] is effects
    runs = job_runs_of(db, run_id)
    mine = sorted((r for r in runs if r.owner == "s1"), key=lambda r: r.id)
    assert len(mine) == owned and all(r.state == "STARTING" for r in runs)
    assert [r.owner for r in runs if r not in mine] == [None] * (2 - owned)
    assert effects.start[0] is earlier and sorted(effects.start[1:], key=lambda r: r.id) == mine
    assert effects.unowned is (owned < 2)


def test_a_scoped_scheduler_owns_every_run_it_creates(fan: store.Store) -> None:
    """An `adhere run` follows its one workflow run: every run is its own, whatever the capacity."""
    db = fan
    run_id = start(db, "fan")
    effects = step(db, scheduler.Scheduler("s1", scope=run_id))
    assert sorted(r.job_name for r in effects.start) == ["a", "b"]
    assert all(r.owner == "s1" and r.state == "STARTING" for r in effects.start)
    assert {r.id for r in effects.start} == {r.id for r in job_runs_of(db, run_id)}
    assert effects.unowned is False


def test_a_scoped_scheduler_claims_only_the_events_of_its_run(fan: store.Store) -> None:
    db = fan
    mine, other = start(db, "fan"), start(db, "fan")
    step(db, scheduler.Scheduler("s1", scope=mine))
    assert fired(db, mine) == {"go"} and fired(db, other) == set()
    assert [e.workflow_run_id for e in unprocessed(db)] == [other]


def test_runs_that_end_at_once_give_their_slot_back(db: store.Store, scripts: Path) -> None:
    """A run recorded FAILED by admission or ERROR (its job is gone) is not started: the slot it
    took is given back, and a later firing in the same step owns a run with it."""
    apply(db, {
        "Workflows": [{"Name": "first"}, {"Name": "second"}],
        "Jobs": [_job("busy"), _job("gone"), _job("free")],
        "Triggers": [_on_demand("go-first", "first", "busy", "gone"), _on_demand("go-second", "second", "free")],
    }, scripts)  # fmt: skip
    service_job_runs.start_job_run(db, "busy")  # holds busy's only slot (MaxConcurrentRuns 1)
    with db.transaction() as tx:
        assert store.definitions.delete(tx, "job", "gone")
    first, second = start(db, "first"), start(db, "second")  # consumed in this order
    effects = step(db, scheduler.Scheduler("s1", capacity=lambda _effects: 2))
    runs = {**by_job(db, first), **by_job(db, second)}
    assert (runs["busy"].state, runs["gone"].state, runs["free"].state) == ("FAILED", "ERROR", "STARTING")
    assert "Concurrent runs exceeded" in (runs["busy"].error_message or "")
    assert runs["gone"].error_message == "Job gone does not exist (deleted?)"
    assert runs["busy"].owner is None and runs["gone"].owner is None
    assert effects.start == [runs["free"]] and runs["free"].owner == "s1"
    assert effects.unowned is False


def test_without_claim_only_the_events_of_the_transaction_are_consumed(fan: store.Store) -> None:
    """A wake-up that is neither woken nor on its tick reads no events from the store, but the
    completions written in its own transaction (by the dispatcher) are consumed there."""
    db = fan
    run_id = start(db, "fan")
    sched = scheduler.Scheduler("s1")
    effects = step(db, sched, claim=False)
    assert fired(db, run_id) == set() and job_runs_of(db, run_id) == []
    assert effects == Effects()
    assert [e.kind for e in unprocessed(db)] == ["WORKFLOW_RUN_STARTED"]
    step(db, sched)
    runs = by_job(db, run_id)
    effects = step(db, sched, claim=False, before=lambda tx: [end_run(tx, runs[j], J.SUCCEEDED) for j in "ab"])
    assert fired(db, run_id) == {"go", "all", "any"}
    assert jobs_of(db, run_id) == {"a": 1, "b": 1, "d": 1, "e": 1}
    assert unprocessed(db) == []  # written processed, consumed in the same transaction
    assert sorted(e["detail"]["jobName"] for e in effects.publish) == ["a", "b"]


@pytest.mark.parametrize("state", [J.SUCCEEDED, J.FAILED, J.TIMEOUT, J.STOPPED, J.ERROR])
def test_each_consumed_completion_is_announced_once(fan: store.Store, state: J) -> None:
    """"Glue Job State Change" for SUCCEEDED, FAILED, TIMEOUT and STOPPED (not for ERROR):
    recorded in the step's transaction, and handed to the loop to publish after the commit."""
    db = fan
    run_id = start(db, "fan")
    sched = scheduler.Scheduler("s1")
    step(db, sched)
    a = by_job(db, run_id)["a"]
    ended = finish(db, a.id, state)
    effects = step(db, sched)
    with db.read() as tx:
        notices = store.notifications.find(tx)
    if state is J.ERROR:
        assert notices == [] and effects.publish == []
        return
    [notice] = notices
    [event] = effects.publish
    assert (notice.detail_type, notice.job_name, notice.job_run_id, notice.state) == (
        "Glue Job State Change", "a", a.id, state.value,
    )
    assert notice.event == event and notice.id == event["id"] and notice.deliveries == {}
    assert event["detail"]["state"] == state.value and event["detail"]["jobRunId"] == a.id
    assert event["detail"]["message"] == (ended.error_message or f"Job run {_PAST[state]}")
    assert step(db, sched).publish == []  # consumed: never announced again
    with db.read() as tx:
        assert len(store.notifications.find(tx)) == 1


_PAST = {J.SUCCEEDED: "succeeded", J.FAILED: "failed", J.TIMEOUT: "timed out", J.STOPPED: "stopped"}


def test_a_workflow_run_completes_when_nothing_is_active_and_nothing_can_fire(fan: store.Store) -> None:
    db = fan
    run_id = start(db, "fan")
    sched = scheduler.Scheduler("s1")
    step(db, sched)
    runs = by_job(db, run_id)
    finish(db, runs["a"].id, J.FAILED)
    effects = step(db, sched)
    assert status(db, run_id) == "RUNNING" and effects.ended_workflow_runs == []  # b still runs
    finish(db, runs["b"].id, J.SUCCEEDED)  # "any" fires: e runs
    effects = step(db, sched)
    assert fired(db, run_id) == {"go", "any"} and status(db, run_id) == "RUNNING"
    finish(db, by_job(db, run_id)["e"].id, J.SUCCEEDED)
    effects = step(db, sched)
    assert effects.ended_workflow_runs == [run_id]
    with db.read() as tx:
        run = store.workflow_runs.get(tx, run_id)
    assert run is not None and run.status == "COMPLETED" and run.completed_on is not None
    assert unprocessed(db) == []  # WORKFLOW_RUN_ENDED is written processed
    assert step(db, sched).ended_workflow_runs == []


def test_a_run_active_here_is_not_completed(fan: store.Store) -> None:
    """The dispatcher says a run of this workflow run is started or followed here (not yet
    RUNNING in the store): the workflow run is not complete, until that run's own end."""
    db = fan
    run_id = start(db, "fan")
    busy = {run_id}
    sched = scheduler.Scheduler("s1", active_here=lambda wr, _effects: wr in busy)
    step(db, sched)
    runs = by_job(db, run_id)
    finish(db, runs["a"].id, J.FAILED)
    with db.transaction() as tx:  # b's run is gone from the store's view of active runs
        assert store.job_runs.set_state(tx, runs["b"].id, J.ERROR.value)
    assert step(db, sched).ended_workflow_runs == [] and status(db, run_id) == "RUNNING"
    busy.clear()
    with db.transaction() as tx:
        job_run.completion_event(tx, by_job(db, run_id)["b"])
    assert step(db, sched).ended_workflow_runs == [run_id] and status(db, run_id) == "COMPLETED"


STOPPABLE: dict[str, Any] = {
    "Workflows": [{"Name": "stoppable"}],
    "Jobs": [_job("a"), _job("b"), _job("c")],
    "Triggers": [
        _on_demand("go", "stoppable", "a", "b"),
        _conditional("on-stop", "stoppable", _when("ANY", ("a", "STOPPED"), ("b", "STOPPED")), "c"),
    ],
}


def test_a_stopping_run_fires_nothing_and_ends_stopped_once_its_runs_end(db: store.Store, scripts: Path) -> None:
    apply(db, STOPPABLE, scripts)
    run_id = start(db, "stoppable")
    sched = scheduler.Scheduler("s1")
    step(db, sched)
    runs = by_job(db, run_id)
    with db.transaction() as tx:  # a started (by some dispatcher); b is still waiting for one
        assert store.job_runs.set_state(tx, runs["a"].id, J.RUNNING.value, owner="o1")
    service_workflow_runs.stop_workflow_run(db, "stoppable", run_id)
    runs = by_job(db, run_id)
    assert (runs["a"].state, runs["b"].state) == ("STOPPING", "STOPPED")  # b never started: stopped at once
    effects = step(db, sched)
    assert status(db, run_id) == "STOPPING" and effects.ended_workflow_runs == []
    assert fired(db, run_id) == {"go"}  # b STOPPED would fire "on-stop", but the run is stopping
    finish(db, runs["a"].id, J.STOPPED)
    effects = step(db, sched)
    assert effects.ended_workflow_runs == [run_id]
    with db.read() as tx:
        run = store.workflow_runs.get(tx, run_id)
    assert run is not None and run.status == "STOPPED" and run.completed_on is not None
    assert fired(db, run_id) == {"go"} and jobs_of(db, run_id) == {"a": 1, "b": 1}
    assert step(db, sched).ended_workflow_runs == []


def test_a_run_stopped_before_its_start_was_consumed_starts_nothing(db: store.Store, scripts: Path) -> None:
    apply(db, STOPPABLE, scripts)
    run_id = start(db, "stoppable")
    service_workflow_runs.stop_workflow_run(db, "stoppable", run_id)
    effects = step(db, scheduler.Scheduler("s1"))
    assert effects.ended_workflow_runs == [run_id] and status(db, run_id) == "STOPPED"
    assert fired(db, run_id) == set() and job_runs_of(db, run_id) == []


def test_a_failed_admission_is_consumed_in_the_same_step(db: store.Store, scripts: Path) -> None:
    """A trigger's run refused by MaxConcurrentRuns is recorded FAILED with its completion event,
    which the same step consumes: a trigger on that failure fires at once."""
    apply(db, {
        "Workflows": [{"Name": "w"}],
        "Jobs": [_job("busy"), _job("fallback")],
        "Triggers": [_on_demand("go", "w", "busy"),
                     _conditional("refused", "w", _when("AND", ("busy", "FAILED")), "fallback")],
    }, scripts)  # fmt: skip
    service_job_runs.start_job_run(db, "busy")
    run_id = start(db, "w")
    effects = step(db, scheduler.Scheduler("s1"))
    assert fired(db, run_id) == {"go", "refused"}
    runs = by_job(db, run_id)
    assert runs["busy"].state == "FAILED" and runs["fallback"].state == "STARTING"
    assert runs["fallback"].predecessor_runs == [{"JobName": "busy", "RunId": runs["busy"].id}]
    assert [(e["detail"]["jobName"], e["detail"]["state"]) for e in effects.publish] == [("busy", "FAILED")]
    assert unprocessed(db) == []


def test_a_run_whose_actions_all_end_at_once_completes_in_the_same_step(db: store.Store, scripts: Path) -> None:
    apply(db, {"Workflows": [{"Name": "w"}], "Jobs": [_job("gone")], "Triggers": [_on_demand("go", "w", "gone")]},
          scripts)
    with db.transaction() as tx:
        assert store.definitions.delete(tx, "job", "gone")
    run_id = start(db, "w")
    effects = step(db, scheduler.Scheduler("s1"))
    assert [r.state for r in job_runs_of(db, run_id)] == ["ERROR"]
    assert effects.ended_workflow_runs == [run_id] and status(db, run_id) == "COMPLETED"


# --- crawlers: a trigger's crawler action starts a crawl; its end fires the triggers watching it --

CRAWLS: dict[str, Any] = {
    "Workflows": [{"Name": "cw"}],
    "Crawlers": [{"Name": "crawl"}, {"Name": "quiet"}],
    "Jobs": [_job("after")],
    "Triggers": [
        {"Name": "go", "WorkflowName": "cw", "Type": "ON_DEMAND",
         "Actions": [{"CrawlerName": "crawl"}, {"CrawlerName": "quiet"}]},
        {"Name": "on-crawl-failed", "WorkflowName": "cw", "Type": "CONDITIONAL", "StartOnCreation": True,
         "Predicate": {"Conditions": [{"LogicalOperator": "EQUALS", "CrawlerName": "crawl", "CrawlState": "FAILED"}]},
         "Actions": [{"JobName": "after"}]},
        {"Name": "on-crawl-succeeded", "WorkflowName": "cw", "Type": "CONDITIONAL", "StartOnCreation": True,
         "Predicate": {"Conditions": [{"LogicalOperator": "EQUALS", "CrawlerName": "quiet",
                                       "CrawlState": "SUCCEEDED"}]},
         "Actions": [{"JobName": "after"}]},
    ],
}  # fmt: skip


def test_a_crawler_action_starts_a_crawl_whose_end_fires_its_watchers(db: store.Store, scripts: Path) -> None:
    apply(db, CRAWLS, scripts)
    run_id = start(db, "cw")
    sched = scheduler.Scheduler("s1")
    effects = step(db, sched)
    with db.read() as tx:
        crawls = {c.crawler_name: c for c in store.crawls.of_workflow_run(tx, run_id)}
    assert sorted((c.crawler_name, c.state, c.trigger_name, c.owner) for c in crawls.values()) == [
        ("crawl", "RUNNING", "go", None), ("quiet", "RUNNING", "go", None),
    ]  # fmt: skip
    assert effects.ended_workflow_runs == [] and fired(db, run_id) == {"go"}
    with db.transaction() as tx:  # as the crawls' processes end them
        crawling.end(tx, crawls["crawl"].id, "FAILED", "the target is gone")
        crawling.end(tx, crawls["quiet"].id, "CANCELLED")
    effects = step(db, sched)
    assert fired(db, run_id) == {"go", "on-crawl-failed"}
    [after] = job_runs_of(db, run_id)
    assert (after.job_name, after.state, after.trigger_name) == ("after", "STARTING", "on-crawl-failed")
    assert after.predecessor_runs == []  # Glue's PredecessorRuns name job runs only
    assert effects.ended_workflow_runs == [] and unprocessed(db) == []
    finish(db, after.id, J.SUCCEEDED)
    assert step(db, sched).ended_workflow_runs == [run_id]
    run = service_workflow_runs.get_workflow_run(db, "cw", run_id)
    assert run["Status"] == "COMPLETED" and fired(db, run_id) == {"go", "on-crawl-failed"}
    statistics = run["Statistics"]
    assert (statistics["FailedActions"], statistics["StoppedActions"], statistics["SucceededActions"]) == (1, 1, 1)
    nodes = {n["Name"]: n for n in run["Graph"]["Nodes"]}
    [crawl] = nodes["crawl"]["CrawlerDetails"]["Crawls"]
    assert crawl["State"] == "FAILED" and crawl["ErrorMessage"] == "the target is gone"


def test_a_run_whose_trigger_starts_only_crawlers_completes(db: store.Store, scripts: Path) -> None:
    apply(db, {
        "Workflows": [{"Name": "only"}],
        "Crawlers": [{"Name": "c1"}, {"Name": "c2"}],
        "Triggers": [{"Name": "go", "WorkflowName": "only", "Type": "ON_DEMAND",
                      "Actions": [{"CrawlerName": "c1"}, {"CrawlerName": "c2"}]}],
    }, scripts)  # fmt: skip
    run_id = start(db, "only")
    sched = scheduler.Scheduler("s1")
    effects = step(db, sched)
    assert effects.ended_workflow_runs == [] and status(db, run_id) == "RUNNING"  # while they crawl
    with db.read() as tx:
        crawls = store.crawls.of_workflow_run(tx, run_id)
    assert sorted(c.crawler_name for c in crawls) == ["c1", "c2"]
    assert job_runs_of(db, run_id) == [] and effects.start == []
    with db.transaction() as tx:
        for c in crawls:
            crawling.end(tx, c.id, "SUCCEEDED")
    assert step(db, sched).ended_workflow_runs == [run_id] and status(db, run_id) == "COMPLETED"


def test_the_loop_completes_a_workflow_of_crawlers_and_the_job_after_them(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    apply(db, CRAWLS, scripts)
    run_id = start(db, "cw")
    run = drive(db, settings, run_id)
    assert run["Status"] == "COMPLETED"
    [after] = job_runs_of(db, run_id)
    assert (after.job_name, after.state) == ("after", "SUCCEEDED")
    with db.read() as tx:
        assert [c.state for c in store.crawls.of_workflow_run(tx, run_id)] == ["FAILED", "FAILED"]


# --- crash safety --------------------------------------------------------------------------


def _crash(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("crash while creating a job run")


def test_a_step_that_crashes_after_firing_rolls_back_whole(fan: store.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    db = fan
    run_id = start(db, "fan")
    real = store.firings.record

    def fire_then_crash(tx: store.Tx, scope: str, trigger_name: str) -> bool:
        assert real(tx, scope, trigger_name)
        raise RuntimeError("crash after the firing insert")

    monkeypatch.setattr(store.firings, "record", fire_then_crash)
    with pytest.raises(RuntimeError, match="after the firing"):
        step(db, scheduler.Scheduler("s1"))
    assert [e.kind for e in unprocessed(db)] == ["WORKFLOW_RUN_STARTED"]
    assert fired(db, run_id) == set() and job_runs_of(db, run_id) == []

    monkeypatch.setattr(store.firings, "record", real)
    monkeypatch.setattr(job_run, "create", _crash)
    with pytest.raises(RuntimeError, match="job run"):
        step(db, scheduler.Scheduler("s2"))
    assert [e.kind for e in unprocessed(db)] == ["WORKFLOW_RUN_STARTED"]
    assert fired(db, run_id) == set() and job_runs_of(db, run_id) == []

    monkeypatch.undo()
    sched = scheduler.Scheduler("s3")
    step(db, sched)
    assert unprocessed(db) == []
    assert fired(db, run_id) == {"go"} and jobs_of(db, run_id) == {"a": 1, "b": 1}
    assert step(db, sched) == Effects()  # nothing left: nothing happens


@pytest.mark.parametrize("where", ["after the claim", "after the first firing", "while creating runs"])
def test_a_crashed_step_loses_no_completion(fan: store.Store, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """The step over two completions (that fire "all" and "any") crashes; the events stay
    unprocessed, and the next step fires both triggers, once."""
    db = fan
    run_id = start(db, "fan")
    step(db, scheduler.Scheduler("s1"))
    for run in job_runs_of(db, run_id):
        finish(db, run.id, J.SUCCEEDED)
    if where == "after the claim":
        real_claim = store.outbox.claim

        def claim_then_crash(*args: Any, **kwargs: Any) -> Any:
            assert len(real_claim(*args, **kwargs)) == 2
            raise RuntimeError(where)

        monkeypatch.setattr(store.outbox, "claim", claim_then_crash)
    elif where == "after the first firing":
        real_record = store.firings.record

        def record(tx: store.Tx, scope: str, trigger_name: str) -> bool:
            if trigger_name == "any":  # "all" (first by name) has fired in this transaction
                assert store.firings.fired(tx, scope) == {"go", "all"}
                raise RuntimeError(where)
            return real_record(tx, scope, trigger_name)

        monkeypatch.setattr(store.firings, "record", record)
    else:
        monkeypatch.setattr(job_run, "create", _crash)
    with pytest.raises(RuntimeError):
        step(db, scheduler.Scheduler("s1"))
    assert [e.kind for e in unprocessed(db)] == ["JOB_RUN_COMPLETED"] * 2
    assert fired(db, run_id) == {"go"}
    with db.read() as tx:
        assert store.notifications.find(tx) == []  # rolled back with the rest
    monkeypatch.undo()
    effects = step(db, scheduler.Scheduler("s1"))
    assert fired(db, run_id) == {"go", "all", "any"}
    assert jobs_of(db, run_id) == {"a": 1, "b": 1, "d": 1, "e": 1}
    assert len(effects.publish) == 2


WIDE = [f"w{i}" for i in range(6)]


def _start_wide(db: store.Store, scripts: Path) -> str:
    """start -> w0..w5;  all of them SUCCEEDED -> z"""
    apply(db, {
        "Workflows": [{"Name": "wide"}],
        "Jobs": [_job(n) for n in [*WIDE, "z"]],
        "Triggers": [
            _on_demand("go", "wide", *WIDE),
            _conditional("all", "wide", _when("AND", *((n, "SUCCEEDED") for n in WIDE)), "z"),
        ],
    }, scripts)  # fmt: skip
    return start(db, "wide")


@pytest.mark.parametrize("order", [WIDE, WIDE[::-1], ["w2", "w5", "w0", "w4", "w1", "w3"]])
@pytest.mark.parametrize("fresh_scheduler", [False, True])
def test_a_wide_and_fires_at_its_last_completion_whatever_the_order(
    db: store.Store, scripts: Path, order: list[str], fresh_scheduler: bool
) -> None:
    """An AND over many jobs skips its full evaluation while a remembered job is missing (see
    scheduler._cannot_hold); that memory is a hint only, right in any completion order and
    when another scheduler (without it) takes over."""
    run_id = _start_wide(db, scripts)
    sched = scheduler.Scheduler("s1")
    step(db, sched)
    ids = {r.job_name: r.id for r in job_runs_of(db, run_id)}
    for count, name in enumerate(order, 1):
        finish(db, ids[name], J.SUCCEEDED)
        step(db, scheduler.Scheduler("s2") if fresh_scheduler else sched)
        assert ("all" in fired(db, run_id)) is (count == len(order)), name
    z = by_job(db, run_id)["z"]
    assert jobs_of(db, run_id)["z"] == 1
    assert sorted(z.predecessor_runs, key=lambda p: p["JobName"]) == [{"JobName": n, "RunId": ids[n]} for n in WIDE]


def test_a_wide_and_sees_a_retry_that_succeeds(db: store.Store, scripts: Path) -> None:
    """The witness is checked against the store: a job whose first attempt failed and whose
    retry succeeded counts by its latest run."""
    apply(db, {
        "Workflows": [{"Name": "wide"}],
        "Jobs": [*(_job(n) for n in WIDE[:3]), _job(WIDE[3], MaxRetries=1), _job("z")],
        "Triggers": [
            _on_demand("go", "wide", *WIDE[:4]),
            _conditional("all", "wide", _when("AND", *((n, "SUCCEEDED") for n in WIDE[:4])), "z"),
        ],
    }, scripts)  # fmt: skip
    run_id = start(db, "wide")
    sched = scheduler.Scheduler("s1")
    step(db, sched)
    first = by_job(db, run_id)
    finish(db, first["w3"].id, J.FAILED)  # retried at once
    step(db, sched)
    for name in WIDE[:3]:
        finish(db, first[name].id, J.SUCCEEDED)
        step(db, sched)
    assert "all" not in fired(db, run_id)  # the retry of w3 is still running
    retry = by_job(db, run_id)["w3"]
    assert retry.attempt == 1 and retry.previous_run_id == first["w3"].id
    finish(db, retry.id, J.SUCCEEDED)
    step(db, sched)
    assert "all" in fired(db, run_id)
    assert {"JobName": "w3", "RunId": retry.id} in by_job(db, run_id)["z"].predecessor_runs


def test_a_wide_and_never_fires_when_one_job_failed(db: store.Store, scripts: Path) -> None:
    run_id = _start_wide(db, scripts)
    sched = scheduler.Scheduler("s1")
    step(db, sched)
    for run in job_runs_of(db, run_id):
        finish(db, run.id, J.FAILED if run.job_name == "w3" else J.SUCCEEDED)
        step(db, sched)
    assert "all" not in fired(db, run_id)
    assert status(db, run_id) == "COMPLETED"


def test_redelivered_events_fire_nothing_twice(fan: store.Store) -> None:
    """Events seen again (a second scheduler, a replay) find the firings already recorded."""
    db = fan
    run_id = start(db, "fan")
    step(db, scheduler.Scheduler("s1"))
    runs = by_job(db, run_id)
    finish(db, runs["a"].id, J.SUCCEEDED)
    step(db, scheduler.Scheduler("s1"))  # "any" fires on a
    finish(db, runs["b"].id, J.SUCCEEDED)
    with db.transaction() as tx:  # replay every event the run had so far, for a second scheduler
        store.outbox.insert(tx, store.outbox.WORKFLOW_RUN_STARTED, workflow_run_id=run_id)
        for run in store.job_runs.of_workflow_run(tx, run_id):
            if run.terminal:
                job_run.completion_event(tx, run)
    step(db, scheduler.Scheduler("s2"))
    step(db, scheduler.Scheduler("s1"))
    assert fired(db, run_id) == {"go", "any", "all"}
    assert jobs_of(db, run_id) == {"a": 1, "b": 1, "d": 1, "e": 1}


def test_two_schedulers_never_double_fire(fan: store.Store, db_url: str) -> None:
    """Two schedulers (own connections) step over the same events while runs complete.

    On PostgreSQL they run in two threads at once; SQLite serialises writers, so there they
    take turns, interleaved with the completions.
    """
    db = fan
    other = store.Store.open_url(db_url)
    run_ids = [start(db, "fan") for _ in range(8)]
    schedulers = [(db, scheduler.Scheduler("s1")), (other, scheduler.Scheduler("s2"))]
    failures: list[BaseException] = []
    deadline = time.monotonic() + 120

    def complete_some() -> None:
        for run_id in run_ids:
            for run in job_runs_of(db, run_id, active=True):
                finish(db, run.id, J.SUCCEEDED)

    def all_done() -> bool:
        return all(status(db, r) == "COMPLETED" for r in run_ids)

    try:
        if db.is_postgres:
            stop = threading.Event()

            def loop(target: store.Store, sched: scheduler.Scheduler) -> None:
                try:
                    while not stop.is_set():
                        if step(target, sched) == Effects():
                            time.sleep(0.005)  # nothing to do: leave the other thread the GIL
                except BaseException as exc:
                    failures.append(exc)

            threads = [threading.Thread(target=loop, args=pair) for pair in schedulers]
            for thread in threads:
                thread.start()
            try:
                while not all_done() and not failures and time.monotonic() < deadline:
                    complete_some()
            finally:
                stop.set()
                for thread in threads:
                    thread.join(30)
        else:
            for turn in itertools.count():
                if all_done() or time.monotonic() > deadline:
                    break
                step(*schedulers[turn % 2])
                complete_some()
    finally:
        other.close()
    assert failures == []
    assert all_done()
    for run_id in run_ids:
        assert fired(db, run_id) == {"go", "all", "any"}
        assert jobs_of(db, run_id) == {"a": 1, "b": 1, "d": 1, "e": 1}
    with db.read() as tx:  # every completion announced once, whichever scheduler consumed it
        announced = Counter(n.job_run_id for n in store.notifications.find(tx, limit=1000))
    assert set(announced.values()) == {1} and len(announced) == 8 * 4


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_step_takes_run_locks_before_job_locks(fan: store.Store, lock_wait: Callable[[store.Store], None]) -> None:
    """Regression: a pass held a job row (from firing in run X) while waiting for run Y, whose
    holder then wanted that job row: PostgreSQL aborted one of them (deadlock detected)."""
    db = fan
    x, y = start(db, "fan"), start(db, "fan")
    step(db, scheduler.Scheduler("s0"))
    for run in sorted(job_runs_of(db, x), key=lambda r: r.job_name):
        finish(db, run.id, J.SUCCEEDED)  # X's step will fire "all" and "any": locks jobs d, e
    finish(db, by_job(db, y)["a"].id, J.SUCCEEDED)
    holding_y = threading.Event()
    failures: list[BaseException] = []

    def other_scheduler() -> None:  # evaluates Y: holds its run lock, then creates a run of d
        try:
            with db.transaction() as tx:
                store.workflow_runs.get(tx, y, lock=True)
                holding_y.set()
                lock_wait(db)  # the step under test waits for Y
                store.definitions.get(tx, "job", "d", lock=True)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=other_scheduler)
    thread.start()
    assert holding_y.wait(30)
    try:
        step(db, scheduler.Scheduler("s1"))
    except BaseException as exc:
        failures.append(exc)
    thread.join(30)
    assert failures == []
    assert fired(db, x) == {"go", "all", "any"} and fired(db, y) == {"go", "any"}


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
    apply(db, {
        "Workflows": [{"Name": "flaky_store"}],
        "Jobs": [{"Name": "a", **job}, {"Name": "b", **job, "DependsOn": {"a": "SUCCEEDED"}},
                 {"Name": "c", **job, "DependsOn": {"b": "SUCCEEDED"}}],
    }, tmp_path)  # fmt: skip
    real = scheduler.Scheduler.step
    failed: list[str] = []

    def flaky(self: scheduler.Scheduler, tx: store.Tx, now: Any, effects: Effects) -> None:
        completed = [e.payload["job_name"] for e in tx.consumed or () if e.kind == store.outbox.JOB_RUN_COMPLETED]
        real(self, tx, now, effects)
        for name in completed:
            if name in ("a", "b") and name not in failed:  # its completion and the firing it caused are written
                failed.append(name)
                raise errors.StoreError("store error: deadlock detected")

    monkeypatch.setattr(scheduler.Scheduler, "step", flaky)
    run_id = start(db, "flaky_store")
    run = drive(db, settings, run_id)
    assert failed == ["a", "b"]
    assert run["Status"] == "COMPLETED"
    assert (tmp_path / "ledger.txt").read_text().split() == ["a", "b", "c"]  # nothing ran twice
    assert [(r.job_name, r.state) for r in job_runs_of(db, run_id)] == [
        ("a", "SUCCEEDED"), ("b", "SUCCEEDED"), ("c", "SUCCEEDED"),
    ]  # fmt: skip
    assert fired(db, run_id) == {"flaky_store.start", "flaky_store.b.depends", "flaky_store.c.depends"}
    with db.read() as tx:
        assert sorted(n.job_name or "" for n in store.notifications.find(tx)) == ["a", "b", "c"]


def test_runs_left_unowned_by_a_full_process_are_claimed_when_it_has_room(
    db: store.Store, settings: Settings, scripts: Path
) -> None:
    """Regression: a trigger firing in a wake-up where this process had one free slot owned one
    of its two runs and left the other unowned, without saying so; the dispatcher, which had
    found nothing to claim before, never looked again and the workflow run never ended."""
    apply(db, {
        "Workflows": [{"Name": "w"}],
        "Jobs": [_job("a"), _job("b", "sleep.py", DefaultArguments={"--seconds": "1.5"}), _job("d"), _job("e")],
        "Triggers": [_on_demand("go", "w", "a", "b"),
                     _conditional("after-b", "w", _when("AND", ("b", "SUCCEEDED")), "d", "e")],
    }, scripts)  # fmt: skip
    run_id = start(db, "w")
    run = drive(db, settings.replace(max_processes=2), run_id, timeout=60)
    assert run["Status"] == "COMPLETED"
    assert {r.job_name: r.state for r in job_runs_of(db, run_id)} == dict.fromkeys("abde", "SUCCEEDED")


# --- a state machine: random completions, steps and stops, on both backends ---------------------

# The machine's workflow, as (logical, conditions, actions) per trigger; conditions name a job
# ("job", name) or a crawler ("crawler", name) and the state wanted.
#   go:     start -> a (1 retry), b (MaxConcurrentRuns 1: a second run at once fails admission), c, k
#   ab:     a AND b SUCCEEDED -> d          ac: a ANY c FAILED -> e         df: d SUCCEEDED -> f
#   cg:     c TIMEOUT ANY STOPPED -> g      kc: k SUCCEEDED -> crawler cr   crf: cr FAILED -> y
#   wide:   a, b, c, k SUCCEEDED (AND over four jobs: the witness path) -> w
#   mixed:  a SUCCEEDED, b SUCCEEDED, k FAILED, d SUCCEEDED (AND over four, mixed states) -> x
Node = tuple[str, str]
MACHINE_TRIGGERS: dict[str, tuple[str, list[tuple[Node, str]], list[Node]]] = {
    "ab": ("AND", [(("job", "a"), "SUCCEEDED"), (("job", "b"), "SUCCEEDED")], [("job", "d")]),
    "ac": ("ANY", [(("job", "a"), "FAILED"), (("job", "c"), "FAILED")], [("job", "e")]),
    "df": ("AND", [(("job", "d"), "SUCCEEDED")], [("job", "f")]),
    "cg": ("ANY", [(("job", "c"), "TIMEOUT"), (("job", "c"), "STOPPED")], [("job", "g")]),
    "kc": ("AND", [(("job", "k"), "SUCCEEDED")], [("crawler", "cr")]),
    "crf": ("AND", [(("crawler", "cr"), "FAILED")], [("job", "y")]),
    "wide": ("AND", [(("job", j), "SUCCEEDED") for j in "abck"], [("job", "w")]),
    "mixed": ("AND", [(("job", "a"), "SUCCEEDED"), (("job", "b"), "SUCCEEDED"), (("job", "k"), "FAILED"),
                      (("job", "d"), "SUCCEEDED")], [("job", "x")]),
}  # fmt: skip
START_ACTIONS = [("job", j) for j in "abck"]


def _machine_trigger(name: str) -> dict[str, Any]:
    logical, conditions, actions = MACHINE_TRIGGERS[name]
    return {
        "Name": name, "WorkflowName": "sm", "Type": "CONDITIONAL", "StartOnCreation": True,
        "Predicate": {"Logical": logical, "Conditions": [
            {"LogicalOperator": "EQUALS", "JobName": node, "State": state} if kind == "job"
            else {"LogicalOperator": "EQUALS", "CrawlerName": node, "CrawlState": state}
            for (kind, node), state in conditions
        ]},
        "Actions": [{"JobName": n} if kind == "job" else {"CrawlerName": n} for kind, n in actions],
    }  # fmt: skip


MACHINE_FLOW: dict[str, Any] = {
    "Workflows": [{"Name": "sm"}],
    "Crawlers": [{"Name": "cr"}],
    "Jobs": [
        _job("a", MaxRetries=1, ExecutionProperty={"MaxConcurrentRuns": 100}),
        _job("b"),
        *(_job(n, ExecutionProperty={"MaxConcurrentRuns": 100}) for n in "cdefgkwxy"),
    ],
    "Triggers": [
        _on_demand("go", "sm", *(name for _, name in START_ACTIONS)),
        *(_machine_trigger(name) for name in MACHINE_TRIGGERS),
    ],
}  # fmt: skip
# Each node is the action of exactly one trigger.
STARTED_BY = {node: name for name, (_, _, actions) in MACHINE_TRIGGERS.items() for node in actions}
STARTED_BY.update(dict.fromkeys(START_ACTIONS, "go"))
# Mostly successes, so that AND triggers over four jobs are reached.
ENDINGS = [J.SUCCEEDED, J.SUCCEEDED, J.SUCCEEDED, J.FAILED, J.TIMEOUT, J.STOPPED, J.ERROR]
MOSTLY_TRUE = st.sampled_from([True, True, True, False])
CRAWL_ENDINGS = ["SUCCEEDED", "SUCCEEDED", "FAILED", "CANCELLED"]
NEARLY_ALWAYS = st.sampled_from([True] * 7 + [False])


def _goal_wants(goal: str) -> dict[str, J]:
    """The job states that make ``goal`` fire: its own conditions, then those of the triggers
    that start the nodes it watches (the goal's own wishes first)."""
    wants: dict[str, J] = {}
    todo = [goal]
    while todo:
        _, conditions, _ = MACHINE_TRIGGERS[todo.pop(0)]
        for (kind, name), state in conditions:
            if kind == "job":
                wants.setdefault(name, J(state))
            if STARTED_BY[(kind, name)] != "go":
                todo.append(STARTED_BY[(kind, name)])
    return wants


# Each example works towards one trigger (random endings alone would rarely meet an AND over
# four jobs, nor the chains behind "df" and "mixed").
GOAL_WANTS = {name: _goal_wants(name) for name in MACHINE_TRIGGERS}


def holds(name: str, latest: Mapping[Node, str | None]) -> bool:
    """The reference: the trigger's predicate over the latest node states (a brute evaluation,
    independent of ``orchestrator.predicates``)."""
    logical, conditions, _ = MACHINE_TRIGGERS[name]
    met = [latest.get(node) == state for node, state in conditions]
    return all(met) if logical == "AND" else any(met)


@dataclasses.dataclass
class Coverage:
    """What the examples reached, summed over a test (a test that reaches nothing proves nothing)."""

    fired: Counter[str] = dataclasses.field(default_factory=Counter)  # examples in which each fired
    statuses: Counter[str] = dataclasses.field(default_factory=Counter)
    witness_skips: int = 0  # _cannot_hold answered "cannot hold" without a full evaluation
    owned: int = 0
    unowned: int = 0


class SchedulerMachine(RuleBasedStateMachine):
    """Random starts, completions (legal and repeated), steps with and without claims, stops and
    capacities on one store; after each step that claimed, the store is quiescent and checked
    for liveness as well as safety."""

    # Set by the test: a factory of fresh stores with MACHINE_FLOW applied, the trigger the
    # examples work towards (see GOAL_WANTS) and the coverage.
    fresh_store: ClassVar[Callable[[], AbstractContextManager[store.Store]]]
    goal: ClassVar[str]
    coverage: ClassVar[Coverage]

    def __init__(self) -> None:
        super().__init__()
        self._opened = self.fresh_store()
        self.db = self._opened.__enter__()
        self.capacity = 0
        self.book: dict[str, str] = {}  # owned job run id -> its workflow run: what a dispatcher follows
        self.scheduler = scheduler.Scheduler(
            "machine", capacity=lambda _effects: self.capacity,
            active_here=lambda wr, _effects: wr in self.book.values(),
        )  # fmt: skip
        self.run_ids: list[str] = []
        self.known: set[str] = set()  # job run ids seen so far
        self.ended_jobs: dict[str, str] = {}
        self.ended_workflows: dict[str, str] = {}
        self.fired: set[str] = set()  # the triggers that fired in this example

    def job_runs(self, *, active: bool = False) -> list[JobRun]:
        """In a replayable order (ids are random, and the runs one trigger creates share their
        creation time): by workflow run, creation, job and attempt."""
        with self.db.read() as tx:
            return [
                r for run_id in self.run_ids
                for r in sorted(store.job_runs.of_workflow_run(tx, run_id, active=active),
                                key=lambda r: (r.created_on, r.job_name, r.attempt))
            ]  # fmt: skip

    def statuses(self) -> dict[str, str]:
        with self.db.read() as tx:
            return {run_id: store.workflow_runs.status(tx, run_id) or "" for run_id in self.run_ids}

    @initialize()
    def start_the_first_workflow_run(self) -> None:
        self.start_workflow_run(then_step=True)

    @precondition(lambda self: len(self.run_ids) < 3)
    @rule(then_step=MOSTLY_TRUE)
    def start_workflow_run(self, then_step: bool) -> None:
        self.run_ids.append(start(self.db, "sm"))
        if then_step:
            self.scheduler_step()

    @rule(capacity=st.integers(0, 3))
    def set_capacity(self, capacity: int) -> None:
        self.capacity = capacity

    def _end(self, tx: store.Tx, pick: int, state: J, as_goal: bool = False) -> bool:
        active = [r for r in self.job_runs(active=True) if r.state != J.WAITING.value]
        wants = GOAL_WANTS[self.goal] if as_goal else {}
        active = [r for r in active if r.job_name in wants] or active
        if not active:
            return False
        run = active[pick % len(active)]
        state = wants.get(run.job_name, state)
        end_run(tx, run, state)
        self.book.pop(run.id, None)
        return True

    @rule(pick=st.integers(0, 99), state=st.sampled_from(ENDINGS), as_goal=NEARLY_ALWAYS, then_step=MOSTLY_TRUE)
    def complete_an_active_run(self, pick: int, state: J, as_goal: bool, then_step: bool) -> None:
        """End a run as an engine report recorded by another process would (mostly in the state
        the example's goal wants of its job, if it watches it); usually followed by a step, as
        the loop does."""
        with self.db.transaction() as tx:
            self._end(tx, pick, state, as_goal)
        self.known |= {r.id for r in self.job_runs()}  # retries
        if then_step:
            self.scheduler_step()

    @rule(pick=st.integers(0, 99), state=st.sampled_from(ENDINGS), as_goal=NEARLY_ALWAYS, claim=st.booleans())
    def complete_and_step_in_one_transaction(self, pick: int, state: J, as_goal: bool, claim: bool) -> None:
        """As the dispatcher does: the end is written in the loop's transaction and consumed
        there, with or without the store's other events."""
        self._step(claim=claim, before=lambda tx: self._end(tx, pick, state, as_goal))

    def active_crawls(self) -> list[Any]:
        with self.db.read() as tx:
            return [c for run_id in self.run_ids for c in store.crawls.of_workflow_run(tx, run_id)
                    if c.state in store.crawls.ACTIVE]

    @precondition(lambda self: bool(self.active_crawls()))
    @rule(pick=st.integers(0, 99), state=st.sampled_from(CRAWL_ENDINGS), as_goal=NEARLY_ALWAYS,
          then_step=MOSTLY_TRUE)
    def end_a_crawl(self, pick: int, state: str, as_goal: bool, then_step: bool) -> None:
        """End a crawl under way as its process would (FAILED when the example works towards
        "crf"); usually followed by a step."""
        crawls = self.active_crawls()
        wanted = "FAILED" if as_goal and self.goal == "crf" else state
        with self.db.transaction() as tx:
            assert crawling.end(tx, crawls[pick % len(crawls)].id, wanted) is not None
        if then_step:
            self.scheduler_step()

    @rule(pick=st.integers(0, 99), state=st.sampled_from(ENDINGS))
    def complete_an_ended_run_again(self, pick: int, state: J) -> None:
        ended = [r for r in self.job_runs() if r.terminal]
        if ended:
            with self.db.transaction() as tx:
                assert job_run.complete(tx, ended[pick % len(ended)], state) == (None, None)

    @rule()
    def scheduler_step(self) -> None:
        self._step(claim=True)

    @rule(pick=st.integers(0, 99), chance=st.integers(0, 11))
    def stop_a_workflow_run(self, pick: int, chance: int) -> None:
        """Rarely (a stop ends a run's story early, so it would crowd out the rest)."""
        statuses = self.statuses()
        running = [r for r in self.run_ids if statuses[r] == W.RUNNING.value]
        if running and chance == 0:
            service_workflow_runs.stop_workflow_run(self.db, "sm", running[pick % len(running)])

    def _step(self, *, claim: bool, before: Callable[[store.Tx], Any] | None = None) -> None:
        statuses = self.statuses()
        known = set(self.known)

        def earlier_duties(tx: store.Tx) -> None:
            if before is not None:
                before(tx)  # a retry it creates is the dispatcher's, not the scheduler's
                known.update(r.id for run_id in self.run_ids for r in store.job_runs.of_workflow_run(tx, run_id))

        effects = step(self.db, self.scheduler, claim=claim, before=earlier_duties)
        runs = self.job_runs()
        self.known = {r.id for r in runs}
        created = [r for r in runs if r.id not in known]
        # Owned runs are those returned to start, within the capacity; the others are left to
        # any orchestrator, and the effects say so.
        owned = [r for r in created if r.owner == "machine"]
        assert sorted(owned, key=lambda r: r.id) == sorted(effects.start, key=lambda r: r.id)
        assert all(r.state == J.STARTING.value for r in owned) and len(owned) <= self.capacity
        unowned = [r for r in created if r.state == J.STARTING.value and r.owner is None]
        assert effects.unowned is bool(unowned)
        self.book.update({r.id: r.workflow_run_id or "" for r in owned})
        self.coverage.owned += len(owned)
        self.coverage.unowned += len(unowned)
        # A workflow run ended in this step exactly when the effects say so.
        after = self.statuses()
        ended = [r for r in self.run_ids if after[r] != statuses[r] and after[r] in _WORKFLOW_TERMINAL]
        assert sorted(effects.ended_workflow_runs) == sorted(ended)
        if claim:
            with self.db.read() as tx:
                assert not store.outbox.has_unprocessed(tx)  # one step consumes everything
            self.check_quiescent(after)

    def check_quiescent(self, statuses: Mapping[str, str]) -> None:
        """Liveness and safety once every event is consumed: per workflow run, a trigger has
        fired exactly when its predicate holds over the latest node states (only "if" for a run
        that was stopped), and a run is RUNNING exactly while some job run is active."""
        with self.db.read() as tx:
            for run_id in self.run_ids:
                runs = store.job_runs.of_workflow_run(tx, run_id)
                crawls = store.crawls.of_workflow_run(tx, run_id)
                fired_here = store.firings.fired(tx, run_id)
                latest: dict[Node, str | None] = {}
                for run in sorted(runs, key=lambda r: r.attempt):
                    latest[("job", run.job_name)] = run.state if run.terminal else None
                for crawl in crawls:
                    active_crawl = crawl.state in store.crawls.ACTIVE
                    latest[("crawler", crawl.crawler_name)] = None if active_crawl else crawl.state
                active = any(not r.terminal for r in runs) or any(c.state in store.crawls.ACTIVE for c in crawls)
                status_now = statuses[run_id]
                stopped = status_now in (W.STOPPING.value, W.STOPPED.value)
                assert active is (status_now in (W.RUNNING.value, W.STOPPING.value)), (status_now, runs)
                if not stopped:
                    assert "go" in fired_here, status_now
                for name in MACHINE_TRIGGERS:
                    expected = holds(name, latest)
                    if stopped:
                        assert expected or name not in fired_here, (name, latest)
                    else:
                        assert (name in fired_here) is expected, (name, status_now, latest)
                # Nodes ran exactly for the triggers that fired.
                started = {(("job", r.job_name)) for r in runs} | {("crawler", c.crawler_name) for c in crawls}
                assert started == {node for node, by in STARTED_BY.items() if by in fired_here}
                self.fired |= fired_here
                self.coverage.statuses[status_now] += 1
            # Every completion consumed was announced once, with its state.
            found = store.notifications.find(tx, limit=100_000)
            notices = Counter((n.job_run_id, n.state) for n in found if n.job_run_id)
            crawl_notices = Counter(n.state for n in found if n.detail_type == "Glue Crawler State Change")
            ended_crawls = Counter(crawling.EVENT_STATE[c.state] for run_id in self.run_ids
                                   for c in store.crawls.of_workflow_run(tx, run_id) if c.state in crawling.EVENT_STATE)
        every = self.job_runs()
        assert notices == Counter((r.id, r.state) for r in every if r.state in _ANNOUNCED)
        assert crawl_notices == ended_crawls

    @invariant()
    def each_trigger_fires_and_starts_its_actions_at_most_once(self) -> None:
        with self.db.read() as tx:
            for run_id in self.run_ids:
                first_attempts = Counter(
                    r.job_name for r in store.job_runs.of_workflow_run(tx, run_id) if r.attempt == 0
                )
                assert [job for job, n in first_attempts.items() if n > 1] == []  # started twice
                crawled = Counter(c.crawler_name for c in store.crawls.of_workflow_run(tx, run_id))
                assert [c for c, n in crawled.items() if n > 1] == []
                fired_here = store.firings.fired(tx, run_id)
                assert {("job", j) for j in first_attempts} <= {n for n, by in STARTED_BY.items() if by in fired_here}

    @invariant()
    def ended_runs_never_change(self) -> None:
        for run in self.job_runs():
            if run.id in self.ended_jobs:
                assert run.state == self.ended_jobs[run.id]
            elif run.terminal:
                self.ended_jobs[run.id] = run.state
        for run_id, now in self.statuses().items():
            if run_id in self.ended_workflows:
                assert now == self.ended_workflows[run_id]
            elif now in _WORKFLOW_TERMINAL:
                self.ended_workflows[run_id] = now

    @invariant()
    def finished_workflow_runs_have_no_active_job_runs(self) -> None:
        with self.db.read() as tx:
            for run_id, ended in self.ended_workflows.items():
                assert store.job_runs.of_workflow_run(tx, run_id, active=True) == [], ended

    def teardown(self) -> None:
        self.coverage.fired.update(self.fired)
        self._opened.__exit__(None, None, None)


@pytest.fixture
def machine_stores(
    request: pytest.FixtureRequest, tmp_path: Path, fresh_db_url: FreshDatabase
) -> Iterator[Callable[[], AbstractContextManager[store.Store]]]:
    """A factory of fresh stores with MACHINE_FLOW applied, on the backend ``request.param``:
    copies of a file (SQLite) or of a template database (PostgreSQL), one per example."""
    backend = request.param
    examples = itertools.count()
    with fresh_db_url(backend, tmp_path) as url:
        db = store.Store.open_url(url)
        try:
            apply(db, MACHINE_FLOW, write_scripts(tmp_path / "jobs"))
        finally:
            db.close()
        if backend == "sqlite":
            template = Path(url.removeprefix("sqlite:///"))

            def fresh() -> AbstractContextManager[store.Store]:
                folder = tmp_path / f"example-{next(examples)}"
                folder.mkdir()
                shutil.copyfile(template, folder / "adhere.db")
                return _opened(f"sqlite:///{folder / 'adhere.db'}", lambda: None)

            yield fresh
            return
        server = request.getfixturevalue("postgres_server")
        template_name = url.rsplit("/", 1)[1].split("?", 1)[0]

        def fresh_pg() -> AbstractContextManager[store.Store]:
            name = server.unique_name("sm")
            return _opened(server.create(name, template=template_name), lambda: server.drop(name))

        yield fresh_pg


@contextlib.contextmanager
def _opened(url: str, cleanup: Callable[[], None]) -> Iterator[store.Store]:
    db = store.Store.open_url(url, upgrade=False)
    try:
        yield db
    finally:
        db.close()
        cleanup()


# The goals the examples work towards, in turn; "ab" and "kc" are on the way to "df" and "crf".
GOALS = ["wide", "mixed", "ac", "cg", "df", "crf"]


@pytest.mark.parametrize(
    ("machine_stores", "examples"),
    [pytest.param("sqlite", 12, id="sqlite"),
     pytest.param("postgres", 8, id="postgres", marks=pytest.mark.postgres)],
    indirect=["machine_stores"],
)  # fmt: skip
def test_scheduler_state_machine(
    machine_stores: Callable[[], AbstractContextManager[store.Store]], examples: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Safety and liveness under random interleavings (see SchedulerMachine), ``examples`` per
    goal."""
    coverage = Coverage()
    real = scheduler._cannot_hold

    def counting(*args: Any, **kwargs: Any) -> bool:
        skipped = real(*args, **kwargs)
        coverage.witness_skips += skipped
        return skipped

    monkeypatch.setattr(scheduler, "_cannot_hold", counting)
    SchedulerMachine.fresh_store = staticmethod(machine_stores)  # type: ignore[assignment]
    SchedulerMachine.coverage = coverage
    for goal in GOALS:
        SchedulerMachine.goal = goal
        try:
            run_state_machine_as_test(
                SchedulerMachine,
                settings=hypothesis.settings(
                    max_examples=examples, stateful_step_count=40, deadline=None, database=None,
                    suppress_health_check=[hypothesis.HealthCheck.too_slow],
                    # No shrinking: each step is a transaction, so shrinking a failure could
                    # outlast the test timeout; the failing steps are printed as they were.
                    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                ),
            )  # fmt: skip
        except BaseException as exc:
            exc.add_note(f"(the examples' goal was {goal!r}: SchedulerMachine.goal = {goal!r})")
            raise
    # The examples reached what the properties are about.
    assert set(MACHINE_TRIGGERS) <= set(coverage.fired), coverage
    assert coverage.witness_skips > 0, coverage
    assert coverage.owned > 0 and coverage.unowned > 0, coverage
    assert {"RUNNING", "COMPLETED", "STOPPED"} <= set(coverage.statuses), coverage
