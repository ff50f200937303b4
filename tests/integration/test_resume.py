"""ResumeWorkflowRun and adhere's repairs (``failed``, ``only``, ``skip``, ``arguments``, bulk),
on SQLite and PostgreSQL, with real python-shell jobs.

Every job runs ``step.py``: it records its run in a ledger (one file per job run, with its
argv), then does what ``behaviour.json`` says for its job (succeed, fail, sleep, fail unless
``--mode fixed``, put a run property). A "fix" between a run and its resume is a change of that
file, as an operator's fix of a script would be.

Most tests use the diamond (g is a second, unrelated start node)::

    go:    ON_DEMAND                    -> a, g
    fan:   a SUCCEEDED                  -> b, c   (each with --from fan)
    join:  b AND c SUCCEEDED            -> d
    alarm: b ANY c FAILED               -> alert  (fires on the failing branch)
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from driving import drive_workflow, firings, orchestrating, wait_for

from orchestrator import errors, graph, store
from orchestrator.definitions import loading
from orchestrator.service import definitions as service_definitions
from orchestrator.service import job_runs, workflow_runs
from orchestrator.settings import Settings

STEP = """\
import json, pathlib, sys, time
args = sys.argv[1:]
def opt(key):
    return args[args.index(key) + 1] if key in args else None
here = pathlib.Path(__file__).resolve().parent
job, run = opt("--JOB_NAME"), opt("--JOB_RUN_ID")
(here / "ledger").mkdir(exist_ok=True)
(here / "ledger" / (run + ".json")).write_text(json.dumps(
    {"job": job, "workflow_run": opt("--WORKFLOW_RUN_ID"), "argv": args, "at": time.time()}))
what = json.loads((here / "behaviour.json").read_text()).get(job, "ok")
if what == "fail":
    raise SystemExit(f"{job} was told to fail")
if what == "sleep":
    time.sleep(120)
if what == "need-mode" and opt("--mode") != "fixed":
    raise SystemExit(f"{job} needs --mode fixed, got {opt('--mode')}")
if what == "put":
    from orchestrator.runtime import put_run_properties
    put_run_properties({"by_" + job: run, "last": job})
"""
ALL = ("a", "b", "c", "d", "g", "alert")


def _job(name: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Command": {"Name": "pythonshell", "ScriptLocation": "step.py"},
            "ExecutionProperty": {"MaxConcurrentRuns": 10}, **extra}  # fmt: skip


def _when(name: str, logical: str, conditions: dict[str, str], *actions: dict[str, Any]) -> dict[str, Any]:
    return {
        "Name": name, "WorkflowName": "dia", "Type": "CONDITIONAL", "StartOnCreation": True,
        "Predicate": {"Logical": logical, "Conditions": [
            {"LogicalOperator": "EQUALS", "JobName": j, "State": s} for j, s in conditions.items()]},
        "Actions": list(actions),
    }  # fmt: skip


def diamond(*, workflow: dict[str, Any] | None = None, jobs: dict[str, dict[str, Any]] | None = None,
            join: tuple[str, ...] = ("d",), fan_c: dict[str, Any] | None = None) -> dict[str, Any]:
    """The diamond's definitions; ``jobs`` adds fields to jobs (and defines new ones), ``fan_c``
    to fan's action for c."""
    extra = jobs or {}
    names = dict.fromkeys([*ALL, *extra])
    return {
        "Workflows": [{"Name": "dia", "DefaultRunProperties": {"k": "default"}, **(workflow or {})}],
        "Jobs": [_job(n, **extra.get(n, {})) for n in names],
        "Triggers": [
            {"Name": "go", "WorkflowName": "dia", "Type": "ON_DEMAND", "Actions": [{"JobName": "a"}, {"JobName": "g"}]},
            _when("fan", "AND", {"a": "SUCCEEDED"},
                  {"JobName": "b", "Arguments": {"--from": "fan"}}, {"JobName": "c", "Arguments": {"--from": "fan"}, **(fan_c or {})}),
            _when("join", "AND", {"b": "SUCCEEDED", "c": "SUCCEEDED"}, *({"JobName": j} for j in join)),
            _when("alarm", "ANY", {"b": "FAILED", "c": "FAILED"}, {"JobName": "alert"}),
        ],
    }  # fmt: skip


def nid(name: str, kind: str = "job") -> str:
    return graph.node_id(kind, name)


@dataclasses.dataclass
class Project:
    db: store.Store
    settings: Settings
    folder: Path

    def apply(self, data: dict[str, Any]) -> None:
        service_definitions.apply(self.db, loading.load_mapping(data, base_dir=self.folder))

    def behave(self, **modes: str) -> None:
        (self.folder / "behaviour.json").write_text(json.dumps(modes))

    def start(self, properties: dict[str, str] | None = None) -> str:
        return workflow_runs.start_workflow_run(self.db, "dia", properties)

    def drive(self, run_id: str) -> dict[str, Any]:
        return drive_workflow(self.db, self.settings, run_id)

    def run(self, properties: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
        """Start a run and drive it to its end."""
        run_id = self.start(properties)
        got = self.drive(run_id)
        assert got["Status"] == "COMPLETED", got
        return run_id, got

    def resume(self, run_id: str, *nodes: str, **options: Any) -> dict[str, Any]:
        return workflow_runs.resume_workflow_run(self.db, "dia", run_id, list(nodes), **options)

    def resumed(self, run_id: str, *nodes: str, **options: Any) -> tuple[str, dict[str, Any], list[str]]:
        """Resume and drive the new run to its end: its id, GetWorkflowRun, the NodeIds."""
        out = self.resume(run_id, *nodes, **options)
        assert out["RunId"], out
        got = self.drive(out["RunId"])
        assert got["Status"] == "COMPLETED", got
        return out["RunId"], got, out["NodeIds"]

    def ledger(self, workflow_run: str | None = None) -> dict[str, dict[str, Any]]:
        """Each job run that executed: job, workflow run, argv (by job run id)."""
        folder = self.folder / "ledger"
        entries = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")} if folder.exists() else {}
        return {k: v for k, v in entries.items() if workflow_run in (None, v["workflow_run"])}

    def executions(self, workflow_run: str | None = None) -> Counter[str]:
        return Counter(e["job"] for e in self.ledger(workflow_run).values())

    def argv(self, job_run_id: str) -> dict[str, str]:
        args = self.ledger()[job_run_id]["argv"]
        return dict(zip(args[::2], args[1::2], strict=True))

    def history(self, run_id: str) -> dict[str, Any]:
        return workflow_runs.get_workflow_run_history(self.db, run_id)

    def run_count(self) -> int:
        return len(workflow_runs.get_workflow_runs(self.db, "dia", max_results=1000)["Runs"])


@pytest.fixture
def project(db: store.Store, settings: Settings, tmp_path: Path) -> Project:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "step.py").write_text(STEP)
    p = Project(db, settings, folder)
    p.behave()
    p.apply(diamond())
    return p


def nodes(run: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The job nodes of a GetWorkflowRun graph: their JobRuns (empty when it shows none)."""
    return {n["Name"]: (n.get("JobDetails") or {}).get("JobRuns", []) for n in run["Graph"]["Nodes"] if n["Type"] == "JOB"}


def states(run: dict[str, Any]) -> dict[str, str | None]:
    """The state of the latest JobRun each job node shows (None when it shows none)."""
    return {name: (max(rs, key=lambda r: r["StartedOn"])["JobRunState"] if rs else None)
            for name, rs in nodes(run).items()}  # fmt: skip


def ids(run: dict[str, Any]) -> dict[str, set[str]]:
    return {name: {r["Id"] for r in rs} for name, rs in nodes(run).items()}


def edges(run: dict[str, Any]) -> set[tuple[str, str]]:
    by_id = {n["UniqueId"]: n["Name"] for n in run["Graph"]["Nodes"]}
    return {(by_id[e["SourceId"]], by_id[e["DestinationId"]]) for e in run["Graph"]["Edges"]}


def history_nodes(history: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["Name"]: n for n in history["Nodes"]}


def stats(run: dict[str, Any], **counts: int) -> dict[str, int]:
    zero = dict.fromkeys(["TotalActions", "TimeoutActions", "FailedActions", "StoppedActions", "SucceededActions",
                          "RunningActions", "ErroredActions", "WaitingActions"], 0)  # fmt: skip
    return {**zero, "TotalActions": len(ALL), **counts}


def _c_failed(project: Project) -> tuple[str, dict[str, Any]]:
    """The original run: c fails, so d never runs and the alarm fires (alert runs)."""
    project.behave(c="fail")
    run_id, run = project.run()
    assert states(run) == {"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "FAILED", "d": None, "g": "SUCCEEDED",
                           "alert": "SUCCEEDED"}  # fmt: skip
    assert firings(project.db, run_id) == ["alarm", "fan", "go"]
    return run_id, run


# --- Glue's resume -----------------------------------------------------------------------------


def test_resume_after_a_failure_in_the_middle_of_a_diamond(project: Project) -> None:
    original, before = _c_failed(project)
    project.behave()  # the fix
    new, run, node_ids = project.resumed(original, nid("c"))
    assert node_ids == [nid("c")]
    assert run["PreviousRunId"] == original and run["WorkflowRunId"] == new
    # c and d ran in the new run; a, b, g are carried with their original runs; alert was
    # re-run (it is downstream of c) but the alarm did not hold this time.
    assert states(run) == {"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "SUCCEEDED", "d": "SUCCEEDED",
                           "g": "SUCCEEDED", "alert": None}  # fmt: skip
    for job in ("a", "b", "g"):
        assert ids(run)[job] == ids(before)[job]
    assert not ids(run)["c"] & ids(before)["c"]
    assert run["Statistics"] == stats(run, SucceededActions=5)
    # The same graph as the original: node ids stay valid.
    assert edges(run) == edges(before)
    assert {n["UniqueId"] for n in run["Graph"]["Nodes"]} == {n["UniqueId"] for n in before["Graph"]["Nodes"]}
    # The start trigger did not fire again, nor fan (upstream); join fired in the new run.
    assert firings(project.db, new) == ["join"]
    # Nothing that SUCCEEDED ran again.
    assert project.executions() == Counter(a=1, b=1, g=1, c=2, d=1, alert=1)
    assert project.executions(new) == Counter(c=1, d=1)
    # c re-ran with what its trigger gave it in the original, and its predecessor.
    [c_new] = nodes(run)["c"]
    assert c_new["TriggerName"] == "fan" and c_new["Arguments"] == {"--from": "fan"}
    [c_old] = nodes(before)["c"]
    assert c_new["PredecessorRuns"] == c_old["PredecessorRuns"]
    [d_new] = nodes(run)["d"]
    assert {p["RunId"] for p in d_new["PredecessorRuns"]} == {c_new["Id"], next(iter(ids(before)["b"]))}
    # The original is untouched.
    assert workflow_runs.get_workflow_run(project.db, "dia", original) == before
    # History: the chain, and which run produced each node's final state.
    history = project.history(new)
    assert [r["WorkflowRunId"] for r in history["Runs"]] == [original, new]
    assert history["Runs"][1]["PreviousRunId"] == original
    by_node = history_nodes(history)
    assert {n: (v["State"], v["RunId"]) for n, v in by_node.items()} == {
        "a": ("SUCCEEDED", original), "b": ("SUCCEEDED", original), "g": ("SUCCEEDED", original),
        "c": ("SUCCEEDED", new), "d": ("SUCCEEDED", new),
    }  # fmt: skip
    assert by_node["c"]["Runs"] == [c_new["Id"]] and by_node["a"]["Runs"] == list(ids(before)["a"])
    assert not any("SkippedBy" in v for v in by_node.values())
    assert project.history(original)["Runs"] == history["Runs"]


def test_an_any_trigger_that_fired_on_the_failing_branch_fires_again(project: Project) -> None:
    original, _ = _c_failed(project)
    new, run, _ = project.resumed(original, nid("c"))  # not fixed: c fails again
    assert states(run)["c"] == "FAILED" and states(run)["alert"] == "SUCCEEDED" and states(run)["d"] is None
    assert firings(project.db, new) == ["alarm"]
    assert project.executions(new) == Counter(c=1, alert=1)
    [alert] = nodes(run)["alert"]
    [c_new] = nodes(run)["c"]
    assert alert["PredecessorRuns"] == [{"JobName": "c", "RunId": c_new["Id"]}]
    assert run["Statistics"] == stats(run, SucceededActions=4, FailedActions=1)
    assert {n: v["RunId"] for n, v in history_nodes(project.history(new)).items()} == {
        "a": original, "b": original, "g": original, "c": new, "alert": new,
    }  # fmt: skip


@pytest.mark.parametrize("ending", ["TIMEOUT", "STOPPED"])
def test_resume_after_a_timeout_or_a_stop(project: Project, ending: str) -> None:
    project.apply(diamond(jobs={"c": {"Timeout": "1s"}} if ending == "TIMEOUT" else {}))
    project.behave(c="sleep")
    original = project.start()
    with orchestrating(project.db, project.settings, scope=original) as orch:
        if ending == "STOPPED":
            running = wait_for(lambda: [r["Id"] for r in job_runs.get_job_runs(project.db, "c")["JobRuns"]
                                        if r["JobRunState"] == "RUNNING"], orch=orch, what="c running")  # fmt: skip
            assert job_runs.batch_stop_job_run(project.db, "c", running)["Errors"] == []
        wait_for(lambda: workflow_runs.workflow_run_status(project.db, original) == "COMPLETED" and not orch.busy,
                 30, orch, "the original run completed")  # fmt: skip
    before = workflow_runs.get_workflow_run(project.db, "dia", original)
    assert states(before)["c"] == ending and states(before)["d"] is None and states(before)["alert"] is None
    assert before["Statistics"] == stats(before, SucceededActions=3, **{f"{ending.title()}Actions": 1})
    project.behave()
    new, run, node_ids = project.resumed(original, failed=True)
    assert node_ids == [nid("c")]
    assert states(run) == {"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "SUCCEEDED", "d": "SUCCEEDED",
                           "g": "SUCCEEDED", "alert": None}  # fmt: skip
    assert project.executions(new) == Counter(c=1, d=1)
    assert history_nodes(project.history(new))["c"]["State"] == "SUCCEEDED"
    assert history_nodes(project.history(original))["c"]["State"] == ending


def test_resume_of_a_resume(project: Project) -> None:
    original, before = _c_failed(project)
    first, run1, _ = project.resumed(original, nid("c"))  # still failing
    assert states(run1)["c"] == "FAILED"
    project.behave()
    second, run2, node_ids = project.resumed(first, failed=True)
    assert node_ids == [nid("c")]
    assert run2["PreviousRunId"] == first
    assert states(run2) == {"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "SUCCEEDED", "d": "SUCCEEDED",
                            "g": "SUCCEEDED", "alert": "SUCCEEDED"}  # fmt: skip
    # Carried twice, a keeps its run of the original; alert the one of the first resume.
    assert ids(run2)["a"] == ids(before)["a"] and ids(run2)["alert"] == ids(run1)["alert"]
    assert run2["Statistics"] == stats(run2, SucceededActions=6)
    assert project.executions() == Counter(a=1, b=1, g=1, c=3, d=1, alert=2)
    history = project.history(second)
    assert [r["WorkflowRunId"] for r in history["Runs"]] == [original, first, second]
    assert {n: v["RunId"] for n, v in history_nodes(history).items()} == {
        "a": original, "b": original, "g": original, "alert": first, "c": second, "d": second,
    }  # fmt: skip
    assert project.history(original)["Runs"] == history["Runs"]


def test_a_carried_node_chosen_in_a_resume_of_a_resume_keeps_its_trigger(project: Project) -> None:
    """b was carried into the first resume; choosing it in a resume of that one re-runs it with
    what its trigger gave it in the run that ran it."""
    original, before = _c_failed(project)
    project.behave()
    first, _, _ = project.resumed(original, nid("c"))
    second, run, node_ids = project.resumed(first, nid("b"))
    assert node_ids == [nid("b")]
    [b_old], [b_new] = nodes(before)["b"], nodes(run)["b"]
    assert b_new["TriggerName"] == "fan" and b_new["Arguments"] == {"--from": "fan"}
    assert b_new["PredecessorRuns"] == b_old["PredecessorRuns"] != []
    assert project.argv(b_new["Id"])["--from"] == "fan"
    assert project.executions(second) == Counter(b=1, d=1)


def test_a_chosen_node_keeps_what_its_action_set_and_reads_its_job_afresh(project: Project) -> None:
    """Started directly, c gets what fan's action gave it (arguments, timeout, notification),
    over its job definition as it is now."""
    project.apply(diamond(fan_c={"Timeout": "7m", "NotificationProperty": {"NotifyDelayAfter": 3}},
                          jobs={"c": {"Timeout": "20m", "DefaultArguments": {"--mode": "old"}}}))  # fmt: skip
    original, before = _c_failed(project)
    project.apply(diamond(fan_c={"Timeout": "7m", "NotificationProperty": {"NotifyDelayAfter": 3}},
                          jobs={"c": {"Timeout": "20m", "DefaultArguments": {"--mode": "new"}}}))  # fmt: skip
    project.behave()
    _, run, _ = project.resumed(original, "c")
    [c_old], [c_new] = nodes(before)["c"], nodes(run)["c"]
    assert c_old["Timeout"] == c_new["Timeout"] == 7
    assert c_old["NotificationProperty"] == c_new["NotificationProperty"] == {"NotifyDelayAfter": 3}
    assert (project.argv(c_old["Id"])["--mode"], project.argv(c_new["Id"])["--mode"]) == ("old", "new")


def test_resume_the_same_run_twice(project: Project) -> None:
    original, _ = _c_failed(project)
    project.behave()
    first = project.resume(original, nid("c"))
    second = project.resume(original, "c")
    assert first["RunId"] != second["RunId"]
    runs = [project.drive(first["RunId"]), project.drive(second["RunId"])]
    assert [r["PreviousRunId"] for r in runs] == [original, original]
    assert [states(r)["d"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert project.executions() == Counter(a=1, b=1, g=1, alert=1, c=3, d=2)
    history = project.history(original)
    assert [r["WorkflowRunId"] for r in history["Runs"]] == [original, first["RunId"], second["RunId"]]


def test_choosing_a_succeeded_node_reruns_it_and_its_downstream_only(project: Project) -> None:
    original, before = project.run()
    assert project.executions() == Counter(a=1, b=1, c=1, d=1, g=1)
    new, run, node_ids = project.resumed(original, "a", "d")  # d is downstream of a: redundant
    assert node_ids == [nid("a")]
    assert project.executions(new) == Counter(a=1, b=1, c=1, d=1)
    assert ids(run)["g"] == ids(before)["g"]
    assert firings(project.db, new) == ["fan", "join"]


def test_crawler_nodes_are_resumed_and_carried(project: Project) -> None:
    """A crawler (recorded FAILED until crawlers run) re-runs when chosen or failed, and its
    crawl is carried over, shown in the new run's graph, when it is not."""
    project.apply({
        "Workflows": [{"Name": "cw"}],
        "Crawlers": [{"Name": "cr"}],
        "Jobs": [_job("x"), _job("ok"), _job("alerted")],
        "Triggers": [
            {"Name": "cw-go", "WorkflowName": "cw", "Type": "ON_DEMAND", "Actions": [{"JobName": "x"}]},
            {"Name": "cw-crawl", "WorkflowName": "cw", "Type": "CONDITIONAL", "StartOnCreation": True,
             "Predicate": {"Conditions": [{"LogicalOperator": "EQUALS", "JobName": "x", "State": "SUCCEEDED"}]},
             "Actions": [{"CrawlerName": "cr"}]},
            {"Name": "cw-ok", "WorkflowName": "cw", "Type": "CONDITIONAL", "StartOnCreation": True,
             "Predicate": {"Conditions": [{"LogicalOperator": "EQUALS", "CrawlerName": "cr", "CrawlState": "SUCCEEDED"}]},
             "Actions": [{"JobName": "ok"}]},
            {"Name": "cw-alert", "WorkflowName": "cw", "Type": "CONDITIONAL", "StartOnCreation": True,
             "Predicate": {"Conditions": [{"LogicalOperator": "EQUALS", "CrawlerName": "cr", "CrawlState": "FAILED"}]},
             "Actions": [{"JobName": "alerted"}]},
        ],
    })  # fmt: skip
    original = workflow_runs.start_workflow_run(project.db, "cw")
    before = drive_workflow(project.db, project.settings, original)

    def crawls(run: dict[str, Any]) -> list[dict[str, Any]]:
        [node] = [n for n in run["Graph"]["Nodes"] if n["Type"] == "CRAWLER"]
        return (node.get("CrawlerDetails") or {}).get("Crawls", [])

    def resumed(*refs: str, **options: Any) -> tuple[str, dict[str, Any], list[str]]:
        out = workflow_runs.resume_workflow_run(project.db, "cw", original, list(refs), **options)
        return out["RunId"], drive_workflow(project.db, project.settings, out["RunId"]), out["NodeIds"]

    [crawl] = crawls(before)
    assert crawl["State"] == "FAILED" and states(before) == {"x": "SUCCEEDED", "ok": None, "alerted": "SUCCEEDED"}
    # failed: the crawler runs again (it fails again); alerted SUCCEEDED, so it is carried.
    new, run, node_ids = resumed(failed=True)
    assert node_ids == [nid("cr", "crawler")]
    assert len(crawls(run)) == 1 and crawls(run) != [crawl] and crawls(run)[0]["State"] == "FAILED"
    assert ids(run)["x"] == ids(before)["x"] and ids(run)["alerted"] == ids(before)["alerted"]
    assert firings(project.db, new) == [] and project.executions(new) == Counter()
    assert run["Statistics"]["FailedActions"] == 1 and run["Statistics"]["SucceededActions"] == 2
    assert history_nodes(project.history(new))["cr"] == {
        "Type": "CRAWLER", "Name": "cr", "State": "FAILED", "RunId": new, "Runs": history_nodes(project.history(new))["cr"]["Runs"],
    }  # fmt: skip
    # Glue, from the crawler: what it starts runs again in the new run.
    new, run, _ = resumed("crawler:cr")
    assert firings(project.db, new) == ["cw-alert"] and project.executions(new) == Counter(alerted=1)
    # A job downstream of the crawler alone: the crawl is carried, shown with its original times.
    new, run, node_ids = resumed("alerted")
    assert node_ids == [nid("alerted")] and crawls(run) == [crawl]
    assert history_nodes(project.history(new))["cr"]["RunId"] == original


# --- refusals ----------------------------------------------------------------------------------


def test_resume_is_refused_unless_completed(project: Project) -> None:
    project.apply(diamond(workflow={"MaxConcurrentRuns": 1}))
    running = project.start()  # no orchestrator: it stays RUNNING
    errored = workflow_runs.start_workflow_run(project.db, "dia", direct=False)
    assert workflow_runs.workflow_run_status(project.db, errored) == "ERROR"
    for run_id, status in [(running, "RUNNING"), (errored, "ERROR")]:
        with pytest.raises(errors.IllegalWorkflowStateException, match=f"is {status}: only a COMPLETED run"):
            project.resume(run_id, "a")
    workflow_runs.stop_workflow_run(project.db, "dia", running)
    with pytest.raises(errors.IllegalWorkflowStateException, match="is STOPPING"):
        project.resume(running, "a")
    assert project.drive(running)["Status"] == "STOPPED"
    with pytest.raises(errors.IllegalWorkflowStateException, match="is STOPPED"):
        project.resume(running, failed=True)
    assert project.run_count() == 2
    with pytest.raises(errors.EntityNotFoundException):
        project.resume("wr_nope", "a")
    with pytest.raises(errors.EntityNotFoundException):
        workflow_runs.resume_workflow_run(project.db, "other", running, ["a"])


@pytest.mark.parametrize(
    ("refs", "options", "message"),
    [
        ([nid("fan", "trigger")], {}, "is trigger fan: only job and crawler nodes can be resumed"),
        (["go"], {}, "'go' is a trigger"),
        (["d"], {}, "job d did not run in this workflow run"),
        ([nid("d")], {}, "job d did not run in this workflow run"),
        (["nope"], {}, "node 'nope' is not a job or crawler"),
        ([], {}, "choose at least one node"),
        (["c"], {"skip": ["c"]}, "c: a node cannot be both re-run and skipped"),
        (["c"], {"arguments": {"a": {"mode": "x"}}}, "names jobs that do not run again in this resume: a"),
        (["c"], {"only": True, "arguments": {"d": {"mode": "x"}}}, "do not run again in this resume: d"),
    ],
)
def test_bad_nodes_are_refused_and_change_nothing(project: Project, refs: list[str], options: dict[str, Any],
                                                  message: str) -> None:
    original, _ = _c_failed(project)
    with pytest.raises(errors.InvalidInputException, match=message):
        project.resume(original, *refs, **options)
    assert project.run_count() == 1


def test_max_concurrent_runs_applies_to_the_new_run(project: Project) -> None:
    project.apply(diamond(workflow={"MaxConcurrentRuns": 1}))
    original, _ = _c_failed(project)
    project.behave()
    busy = project.start()  # RUNNING (no orchestrator follows it)
    with pytest.raises(errors.ConcurrentRunsExceededException, match=r"Concurrent runs exceeded for workflow: dia\."):
        project.resume(original, "c")
    assert project.run_count() == 2
    workflow_runs.stop_workflow_run(project.db, "dia", busy)
    assert project.drive(busy)["Status"] == "STOPPED"
    out = project.resume(original, "c")  # RUNNING now: it counts against the limit
    with pytest.raises(errors.ConcurrentRunsExceededException):
        project.start()
    with pytest.raises(errors.ConcurrentRunsExceededException):
        project.resume(original, "c")
    assert project.drive(out["RunId"])["Status"] == "COMPLETED"
    project.run()


# --- adhere's repairs --------------------------------------------------------------------------


def test_failed_with_nothing_failed_starts_nothing(project: Project) -> None:
    original, _ = project.run()
    assert project.resume(original, failed=True) == {"RunId": None, "NodeIds": []}
    assert project.run_count() == 1
    assert workflow_runs.resume_failed_runs(project.db, "dia") == []


def test_only_reruns_the_chosen_node_alone(project: Project) -> None:
    original, before = _c_failed(project)
    project.behave()
    new, run, node_ids = project.resumed(original, "c", only=True)
    assert node_ids == [nid("c")]
    assert states(run) == {"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "SUCCEEDED", "d": None, "g": "SUCCEEDED",
                           "alert": "SUCCEEDED"}  # fmt: skip
    assert ids(run)["alert"] == ids(before)["alert"]  # carried: only c runs again
    assert project.executions(new) == Counter(c=1)
    assert firings(project.db, new) == []  # join would start d, which does not run again
    assert run["Statistics"] == stats(run, SucceededActions=5)
    assert set(history_nodes(project.history(new))) == {"a", "b", "c", "g", "alert"}
    # Skipped with ``only``: recorded, nothing runs, and the run completes.
    new, run, node_ids = project.resumed(original, skip=["c"], only=True)
    assert node_ids == [] and project.executions(new) == Counter() and firings(project.db, new) == []
    assert states(run)["d"] is None and run["Statistics"] == stats(run, SucceededActions=5)
    assert history_nodes(project.history(new))["c"]["SkippedBy"] == "operator"


def test_skip_records_a_repaired_node_and_runs_what_is_downstream(project: Project) -> None:
    original, before = _c_failed(project)
    project.behave()
    t0 = store.now()
    new, run, node_ids = project.resumed(original, skip=["c"], reason="reloaded by hand")
    assert node_ids == []
    assert states(run) == {"a": "SUCCEEDED", "b": "SUCCEEDED", "c": None, "d": "SUCCEEDED", "g": "SUCCEEDED",
                           "alert": None}  # fmt: skip
    assert run["Statistics"] == stats(run, SucceededActions=5)  # c counts as SUCCEEDED
    assert project.executions(new) == Counter(d=1)
    assert firings(project.db, new) == ["join"]
    [d_new] = nodes(run)["d"]
    assert d_new["PredecessorRuns"] == [{"JobName": "b", "RunId": next(iter(ids(before)["b"]))}]
    # Never a real success in GetJobRuns: c's only run is the failed one.
    assert [r["JobRunState"] for r in job_runs.get_job_runs(project.db, "c")["JobRuns"]] == ["FAILED"]
    c = history_nodes(project.history(new))["c"]
    assert c["State"] == "SUCCEEDED" and c["SkippedBy"] == "operator" and c["Reason"] == "reloaded by hand"
    assert c["Runs"] == [] and c["RunId"] == new
    assert t0 <= c["SkippedOn"] <= store.now()
    # Carried into a resume of the resume, c is still marked skipped, with its time and reason.
    later, _, _ = project.resumed(new, "d")
    c_later = history_nodes(project.history(later))["c"]
    assert {k: c_later.get(k) for k in ("State", "SkippedBy", "Reason", "RunId", "SkippedOn")} == {
        k: c.get(k) for k in ("State", "SkippedBy", "Reason", "RunId", "SkippedOn")
    }  # fmt: skip
    assert [r["JobRunState"] for r in job_runs.get_job_runs(project.db, "c")["JobRuns"]] == ["FAILED"]


def test_a_node_skipped_without_a_reason_can_be_rerun_later(project: Project) -> None:
    original, _ = _c_failed(project)
    new, _, _ = project.resumed(original, skip=[nid("c")])
    c = history_nodes(project.history(new))["c"]
    assert c["SkippedBy"] == "operator" and c["Reason"]
    project.behave()
    later, run, node_ids = project.resumed(new, "c")  # it has no run: its trigger's action is used
    assert node_ids == [nid("c")]
    [c_later] = nodes(run)["c"]
    assert c_later["JobRunState"] == "SUCCEEDED" and c_later["TriggerName"] == "fan"
    assert c_later["Arguments"] == {"--from": "fan"} and c_later["PredecessorRuns"] == []
    assert project.executions(later) == Counter(c=1, d=1)
    assert "SkippedBy" not in history_nodes(project.history(later))["c"]


def test_arguments_override_a_jobs_arguments_for_its_rerun_only(project: Project) -> None:
    project.behave(c="need-mode")
    original, _ = project.run()
    new, run, _ = project.resumed(original, "c", arguments={"c": {"mode": "fixed"}, "d": {"--extra": "1"}})
    [c_new], [d_new] = nodes(run)["c"], nodes(run)["d"]
    assert c_new["JobRunState"] == "SUCCEEDED"
    # On top of what its trigger action gave it in the original run.
    assert c_new["Arguments"] == {"--from": "fan", "--mode": "fixed"}
    assert project.argv(c_new["Id"])["--mode"] == "fixed" and project.argv(c_new["Id"])["--from"] == "fan"
    assert d_new["Arguments"] == {"--extra": "1"}  # started by a trigger of the new run
    # For that re-run only: a resume of the resumed run starts c as its trigger gave it.
    _, run_later, _ = project.resumed(new, "c")
    [c_later] = nodes(run_later)["c"]
    assert c_later["Arguments"] == {"--from": "fan"} and c_later["JobRunState"] == "FAILED"
    assert "--mode" not in project.argv(c_later["Id"])
    assert history_nodes(project.history(new))["c"]["Runs"] == [c_new["Id"]]


def test_a_changed_job_definition_is_picked_up_and_the_run_keeps_its_graph(project: Project) -> None:
    project.behave(c="need-mode")
    project.apply(diamond(jobs={"c": {"DefaultArguments": {"--mode": "broken"}}}))
    original, before = project.run()
    assert states(before)["c"] == "FAILED"
    # The fix: c's default argument; and join now also starts a new job, late.
    project.apply(diamond(jobs={"c": {"DefaultArguments": {"--mode": "fixed"}}, "late": {}}, join=("d", "late")))
    new, run, _ = project.resumed(original, nid("c"))
    [c_new] = nodes(run)["c"]
    assert c_new["JobRunState"] == "SUCCEEDED" and project.argv(c_new["Id"])["--mode"] == "fixed"
    assert "late" not in nodes(run) and project.executions(new) == Counter(c=1, d=1)
    assert edges(run) == edges(before)


def test_run_properties_start_as_the_original_ended(project: Project) -> None:
    project.behave(a="put", c="fail")
    original, before = project.run({"k": "given"})
    [a_run] = nodes(before)["a"]
    assert before["WorkflowRunProperties"] == {"k": "given", "by_a": a_run["Id"], "last": "a"}
    project.behave(c="put")
    _, run, _ = project.resumed(original, "c")
    [c_new] = nodes(run)["c"]
    assert run["WorkflowRunProperties"] == {"k": "given", "by_a": a_run["Id"], "by_c": c_new["Id"], "last": "c"}
    assert workflow_runs.get_workflow_run_properties(project.db, "dia", original) == before["WorkflowRunProperties"]


def test_bulk_repair_resumes_each_failed_run_once(project: Project) -> None:
    project.behave(c="fail")
    failed_first, _ = project.run()
    project.behave()
    fine, _ = project.run()
    project.behave(b="fail")
    failed_second, _ = project.run()
    planned = workflow_runs.resume_failed_runs(project.db, "dia", dry_run=True)
    assert planned == [{"WorkflowRunId": failed_first, "Failed": ["job:c"]},
                       {"WorkflowRunId": failed_second, "Failed": ["job:b"]}]  # fmt: skip
    assert project.run_count() == 3
    project.behave()
    done = workflow_runs.resume_failed_runs(project.db, "dia")
    assert [(r["WorkflowRunId"], r["NodeIds"]) for r in done] == [(failed_first, [nid("c")]),
                                                                   (failed_second, [nid("b")])]  # fmt: skip
    assert workflow_runs.resume_failed_runs(project.db, "dia") == []  # twice in a row: nothing new
    assert project.run_count() == 5
    for r in done:
        run = project.drive(r["RunId"])
        assert run["PreviousRunId"] == r["WorkflowRunId"]
        assert run["Statistics"]["FailedActions"] == 0 and states(run)["d"] == "SUCCEEDED"
    assert workflow_runs.resume_failed_runs(project.db, "dia") == []
    assert project.run_count() == 5
    assert fine not in {r["WorkflowRunId"] for r in done}
    assert project.executions(done[1]["RunId"]) == Counter(b=1, d=1)


# --- scale -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_thousand_node_layered_workflow_resumed_from_its_middle_layer(project: Project) -> None:
    """20 layers of 50 jobs, each layer started by an AND over the layer before; two jobs of
    layer 10 fail, so the last nine layers never run. The resume re-runs those two and the 450
    jobs below them, and nothing else."""
    layers = [[f"j{k:02d}_{i:02d}" for i in range(50)] for k in range(20)]
    project.apply({
        "Workflows": [{"Name": "big"}],
        "Jobs": [_job(j) for layer in layers for j in layer],
        "Triggers": [
            {"Name": "big-go", "WorkflowName": "big", "Type": "ON_DEMAND", "Actions": [{"JobName": j} for j in layers[0]]},
            *({"Name": f"big-{k}", "WorkflowName": "big", "Type": "CONDITIONAL", "StartOnCreation": True,
               "Predicate": {"Logical": "AND", "Conditions": [
                   {"LogicalOperator": "EQUALS", "JobName": j, "State": "SUCCEEDED"} for j in layers[k - 1]]},
               "Actions": [{"JobName": j} for j in layers[k]]} for k in range(1, 20)),
        ],
    })  # fmt: skip
    broken = [layers[10][7], layers[10][31]]
    project.behave(**dict.fromkeys(broken, "fail"))
    t0 = time.monotonic()
    original = workflow_runs.start_workflow_run(project.db, "big")
    before = drive_workflow(project.db, project.settings, original, timeout=300)
    first = time.monotonic() - t0
    assert before["Status"] == "COMPLETED"
    assert before["Statistics"]["SucceededActions"] == 548 and before["Statistics"]["FailedActions"] == 2
    project.behave()
    t0 = time.monotonic()
    out = workflow_runs.resume_workflow_run(project.db, "big", original, failed=True)
    planned = time.monotonic() - t0
    assert out["NodeIds"] == [nid(j) for j in broken]
    run = drive_workflow(project.db, project.settings, out["RunId"], timeout=300)
    second = time.monotonic() - t0
    assert run["Status"] == "COMPLETED" and run["Statistics"]["SucceededActions"] == 1000
    assert run["Statistics"]["TotalActions"] == 1000
    executions = project.executions(out["RunId"])
    assert set(executions) == {*broken, *(j for layer in layers[11:] for j in layer)}
    assert set(executions.values()) == {1}
    assert all(len(rs) == 1 for rs in nodes(run).values())  # every node shows one run, old or new
    assert len(firings(project.db, out["RunId"])) == 9
    history = project.history(out["RunId"])
    assert Counter(n["RunId"] for n in history["Nodes"]) == {original: 548, out["RunId"]: 452}
    print(f"\n1,000 nodes: original {first:.1f}s, resume planned in {planned:.2f}s, resumed run {second:.1f}s")
