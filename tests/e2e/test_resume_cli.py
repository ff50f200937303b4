"""The repair loop as a person lives it, end to end: a run fails, the operator fixes what broke
(an input file, an argument, a node's output by hand) and resumes it with ``adhere resume``;
``history`` tells which run produced each node's state; runs are named by unique prefixes or
by their workflow; ``show`` lists nodes upstream first with their times; ``logs RUN NODE``
finds a node's job run and ``-f`` follows a running one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Project

WF_RUN_ID = r"wr_[0-9a-f]{64}"
_JOB = "Command: {Name: pythonshell, ScriptLocation: job.py}"
_READS = "Command: {Name: pythonshell, ScriptLocation: reads.py}"
READS_SCRIPT = '''\
"""Reads its --input file (input.txt by default): fails until the operator puts it there."""
import os, sys

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "ledger.txt"), "a") as ledger:
    ledger.write(f"{args['--JOB_NAME']} {os.getpid()}\\n")
print("argv", sys.argv[1:], flush=True)
with open(os.path.join(here, args.get("--input", "input.txt"))) as f:
    print("read", f.read().strip(), flush=True)
'''
# extract -> load (needs input.txt) -> index -> publish, and extract -> audit
ETL = f"""\
    Workflows: [{{Name: etl}}]
    Jobs:
      - {{Name: extract, Workflow: etl, {_JOB}}}
      - {{Name: load, Workflow: etl, {_READS}, DependsOn: [extract]}}
      - {{Name: index, Workflow: etl, {_JOB}, DependsOn: [load]}}
      - {{Name: publish, Workflow: etl, {_JOB}, DependsOn: [index]}}
      - {{Name: audit, Workflow: etl, {_JOB}, DependsOn: [extract]}}
"""
S = ["SUCCEEDED"]
AFTER_LOAD = {"load": S, "index": S, "publish": S}


@pytest.fixture
def etl(project: Project) -> str:
    """The ETL workflow applied and run once without its input file: the id of that run."""
    project.job_script()
    project.write("reads.py", READS_SCRIPT)
    project.apply(ETL)
    run = project.json("run", "etl", expect=1)["Run"]
    assert project.final_states(run) == {"extract": "SUCCEEDED", "audit": "SUCCEEDED", "load": "FAILED"}
    return run["WorkflowRunId"]


def _new_run(out: str) -> str:
    """The new run's id from what ``adhere resume`` says first (``resuming RUN as NEW: ...``)."""
    return re.search(rf"^resuming \S+ as ({WF_RUN_ID})", out, re.M).group(1)


def test_failed_reruns_what_failed_and_what_never_ran_then_has_nothing_to_do(project: Project, etl: str) -> None:
    project.write("input.txt", "42 rows\n")
    result = project.cli("resume", "etl", "--failed")  # the workflow's name: its latest run
    new = _new_run(result.out)
    assert result.out.startswith(f"resuming {etl[:15]} as {new}: starting load\n"), result
    carried = [line for line in result.out.splitlines() if "carried from" in line]
    assert carried == [f"extract: SUCCEEDED  carried from {etl[:15]}", f"audit: SUCCEEDED  carried from {etl[:15]}"]
    assert project.job_states(new) == AFTER_LOAD
    assert project.ledger() == {"extract": 1, "audit": 1, "load": 2, "index": 1, "publish": 1}
    run = project.json("show", new)["Run"]
    assert (run["PreviousRunId"], run["Status"]) == (etl, "COMPLETED")
    assert (run["Statistics"]["SucceededActions"], run["Statistics"]["TotalActions"]) == (5, 5)

    # Nothing failed any more: it says so, starts nothing and exits 0.
    again = project.cli("resume", "etl", "--failed")
    assert again.out.strip() == (
        f"nothing to resume: no node of workflow run {new} ended FAILED, TIMEOUT, STOPPED or ERROR"
    )
    assert project.json("resume", new, "--failed") == {"RunId": None, "NodeIds": []}
    assert len(project.json("runs", "etl")["Runs"]) == 2


SHARED = f"""\
    Workflows: [{{Name: shared}}]
    Crawlers: [{{Name: index}}]
    Jobs:
      - {{Name: extract, Workflow: shared, {_JOB}}}
      - {{Name: index, Workflow: shared, {_JOB}, DependsOn: [extract]}}
    Triggers:
      - Name: shared.crawl
        WorkflowName: shared
        Type: CONDITIONAL
        StartOnCreation: true
        Predicate: {{Conditions: [{{JobName: extract, State: SUCCEEDED}}]}}
        Actions: [{{CrawlerName: index}}]
"""


def test_resume_nodes_by_name_by_wnode_id_and_by_kind(project: Project) -> None:
    project.job_script()
    project.apply(SHARED)
    first = project.json("run", "shared", expect=1)["Run"]  # crawls are recorded FAILED
    run_id = first["WorkflowRunId"]
    ids = {(n["Type"], n["Name"]): n["UniqueId"] for n in first["Graph"]["Nodes"]}

    refused = project.cli("resume", run_id, "--node", "index", expect=1)
    assert refused.err.splitlines() == [
        "An error occurred (InvalidInputException): 'index' names a job and a crawler: say job:index or crawler:index"
    ]
    # A resumed run's exit code is `adhere run`'s: its carried FAILED crawl makes it 1.
    by_kind = project.json("resume", run_id, "--node", "job:index", expect=1)["Run"]
    assert project.job_states(by_kind["WorkflowRunId"]) == {"index": S}
    by_id = project.json("resume", run_id, "--node", ids[("JOB", "extract")], expect=1)["Run"]
    assert project.job_states(by_id["WorkflowRunId"]) == {"extract": S, "index": S}  # and what is downstream
    crawled = project.sql("SELECT crawler_name FROM crawls WHERE workflow_run_id = ?", by_id["WorkflowRunId"])
    assert crawled == [("index",)]
    alone = project.json("resume", run_id, "--node", "extract", "--only", expect=1)["Run"]
    assert project.job_states(alone["WorkflowRunId"]) == {"extract": S}
    assert project.ledger() == {"extract": 3, "index": 3}

    answer = project.json("resume", run_id, "--node", "crawler:index", "--no-wait")  # ResumeWorkflowRun's answer
    assert answer["NodeIds"] == [ids[("CRAWLER", "index")]] and re.fullmatch(WF_RUN_ID, answer["RunId"])
    unknown = project.cli("resume", run_id, "--node", "nope", expect=1)
    assert "node 'nope' is not a job or crawler of this workflow run's graph" in unknown.err


def test_skip_with_a_reason_runs_what_is_downstream_and_history_tells(project: Project, etl: str) -> None:
    result = project.cli("resume", etl[:20], "--skip", "load", "--reason", "loaded by hand from the backup")
    new = _new_run(result.out)
    assert "load: SUCCEEDED  skipped by the operator: loaded by hand from the backup" in result.out, result
    assert project.job_states(new) == {"index": S, "publish": S}
    assert project.ledger()["load"] == 1  # the failed attempt only

    history = project.json("history", new)
    assert [(r["WorkflowRunId"], r["PreviousRunId"]) for r in history["Runs"]] == [(etl, None), (new, etl)]
    nodes = {n["Name"]: n for n in history["Nodes"]}
    load = {k: nodes["load"][k] for k in ("Type", "State", "RunId", "Runs", "SkippedBy", "Reason")}
    assert load == {"Type": "JOB", "State": "SUCCEEDED", "RunId": new, "Runs": [], "SkippedBy": "operator",
                    "Reason": "loaded by hand from the backup"}
    assert (nodes["extract"]["RunId"], nodes["index"]["RunId"]) == (etl, new)
    assert project.json("history", etl)["Runs"] == history["Runs"]  # the same chain from its other end

    text = project.cli("history", "etl").out  # the workflow's latest run: the resumed one
    assert re.search(r"load\s+SUCCEEDED\s+skipped by the operator: loaded by hand from the backup", text), text
    assert re.search(rf"extract\s+SUCCEEDED\s+{etl[:15]} \(carried\)", text), text
    shown = project.cli("show", new).out
    assert re.search(r"load\s+etl\.load\.depends\s+SUCCEEDED\s.*skipped by the operator: loaded by hand", shown)
    assert f"resumes {etl[:15]}" in shown


def test_arg_overrides_a_jobs_arguments_for_its_rerun_only(project: Project, etl: str) -> None:
    project.write("backup.txt", "rows from the backup\n")
    for args, message in [
        (("--arg", "extract:--day=1"), "--arg names jobs that do not run again in this resume: extract"),
        (("--arg", "load"), "--arg must look like JOB:--key=value, got 'load'"),
    ]:
        refused = project.cli("resume", etl, "--failed", *args, expect=1)
        assert refused.err.splitlines() == [f"An error occurred (InvalidInputException): {message}"]
    result = project.cli("resume", etl, "--failed", "--arg", "load:--input=backup.txt")
    new = _new_run(result.out)
    assert project.job_states(new) == AFTER_LOAD
    logs = project.cli("logs", new, "load").out
    assert "read rows from the backup" in logs and "'--input', 'backup.txt'" in logs

    later = project.json("run", "etl", expect=1)["Run"]  # the job's definition is as it was
    (load,) = project.job_nodes(later)["load"]
    assert load["JobRunState"] == "FAILED" and "--input" not in load.get("Arguments", {})


def test_bulk_repair_resumes_each_failed_run_once(project: Project, etl: str) -> None:
    second = project.json("run", "etl", expect=1)["Run"]["WorkflowRunId"]
    dry = project.cli("resume", "--workflow", "etl", "--failed", "--dry-run")
    assert dry.out.splitlines() == [f"would resume {etl} (failed: load)", f"would resume {second} (failed: load)"]
    assert len(project.json("runs", "etl")["Runs"]) == 2

    project.write("input.txt", "42 rows\n")
    done = project.json("resume", "--workflow", "etl", "--failed")  # hosts the orchestrator until both end
    assert [(r["WorkflowRunId"], r["Failed"], r["Status"]) for r in done] == [
        (etl, ["job:load"], "COMPLETED"), (second, ["job:load"], "COMPLETED")
    ]
    for r in done:
        assert project.job_states(r["RunId"]) == AFTER_LOAD

    again = project.cli("resume", "--workflow", "etl", "--failed")  # each run is resumed once
    assert again.out.startswith("nothing to resume: no COMPLETED run of etl has nodes that ended"), again
    assert len(project.json("runs", "etl")["Runs"]) == 4
    assert project.json("resume", "--workflow", "etl", "--failed", "--since", "1h", "--dry-run") == []
    refused = project.cli("resume", "--workflow", "etl", "--since", "tomorrow", "--failed", expect=1)
    assert "--since takes an ISO date or date/time" in refused.err


def test_runs_are_named_by_unique_prefixes_and_workflows(project: Project) -> None:
    project.job_script()
    project.apply(f"""\
        Workflows: [{{Name: wf}}]
        Jobs: [{{Name: x, Workflow: wf, {_JOB}}}]
    """)
    ids = [project.json("run", "wf", "--no-wait")["RunId"] for _ in range(11)]  # nothing executes them
    assert project.json("show", "wf")["Run"]["WorkflowRunId"] == ids[-1]  # a workflow: its latest run
    first = ids[0]
    k = next(n for n in range(4, 68) if not any(other.startswith(first[:n]) for other in ids[1:])) + 1
    assert project.json("show", first[:k])["Run"]["WorkflowRunId"] == first
    assert project.json("show", first[3:k])["Run"]["WorkflowRunId"] == first  # the hex alone, as docker's
    assert project.json("show", first)["Run"]["WorkflowRunId"] == first  # full ids as ever

    ambiguous = project.cli("show", "wr_", expect=1).err.splitlines()
    assert ambiguous[0] == (
        "An error occurred (InvalidInputException): 'wr_' is ambiguous: more than 10 runs start with it;"
        " give more characters:"
    )
    assert len(ambiguous) == 11 and {line.split()[0] for line in ambiguous[1:]} <= set(ids)
    assert all("workflow wf, RUNNING, started" in line for line in ambiguous[1:])

    second = ids[1][:k + 2]
    assert project.json("run-properties", second, "--set", "k=v") == {"RunProperties": {"k": "v"}}
    assert project.cli("stop", second).out.strip() == f"stopping workflow run {ids[1]}"
    assert project.json("history", second)["Runs"][0]["WorkflowRunId"] == ids[1]
    missing = project.cli("stop", "wr_ffffffffffffffff_nope", expect=1)
    assert missing.err.splitlines() == [
        "An error occurred (EntityNotFoundException): Workflow run wr_ffffffffffffffff_nope not found"
    ]

    # Job runs: logs and stop-job-run take prefixes too.
    ran = project.json("start-job", "x")["JobRun"]["Id"]
    assert project.cli("logs", ran[:20]).out.startswith("hello from x\n")
    waiting = project.json("start-job", "x", "--no-wait")["JobRunId"]
    stopped = project.json("stop-job-run", "x", waiting[:20], "jr_nope", expect=1)  # one was not found
    assert stopped["SuccessfulSubmissions"] == [{"JobName": "x", "JobRunId": waiting}]
    assert [e["JobRunId"] for e in stopped["Errors"]] == ["jr_nope"]


ORDER = f"""\
    Workflows: [{{Name: order}}]
    Jobs:
      - {{Name: z_first, Workflow: order, {_JOB}, DefaultArguments: {{--sleep: "1.2"}}}}
      - {{Name: m_second, Workflow: order, {_JOB}, DependsOn: [z_first]}}
      - {{Name: a_third, Workflow: order, {_JOB}, DependsOn: [m_second],
          DefaultArguments: {{--fail: "true", --message: bad row 7}}}}
"""


def test_show_lists_nodes_upstream_first_with_times_and_log_hints(project: Project) -> None:
    project.job_script()
    project.apply(ORDER)
    run = project.cli("run", "order", expect=1)
    ended = [line.split(":")[0] for line in run.out.splitlines() if line.endswith(("SUCCEEDED", "bad row 7"))]
    assert ended[:3] == ["z_first", "m_second", "a_third"], run

    shown = project.cli("show", "order").out
    rows = [line.split()[0] for line in shown.splitlines() if line.strip().startswith(("z_", "m_", "a_"))]
    assert rows[:3] == ["z_first", "m_second", "a_third"], shown
    # Times: tenths from a second on, milliseconds below (a busy machine may slow the quick job).
    assert re.search(r"z_first\s+order\.start\s+SUCCEEDED\s+\d\d:\d\d:\d\d\s+[1-4]\.\ds\s+1\s", shown), shown
    quick = r"m_second\s+order\.m_second\.depends\s+SUCCEEDED\s+\d\d:\d\d:\d\d\s+(0\.\d{3}|[1-9]\.\d)s\s+1\s"
    assert re.search(quick, shown), shown
    assert re.search(r"a_third\s+order\.a_third\.depends\s+FAILED\s+.*\s1\s+ValueError: bad row 7", shown), shown
    hint = re.search(r"a_third: (adhere logs (wr_[0-9a-f]{12}) a_third)$", shown, re.M)
    assert hint, shown
    assert project.cli(*hint.group(1).split()[1:]).out.startswith("hello from a_third\n")


TICKER = '''\
"""Prints three ticks, then waits for the file "release" before its last line."""
import os, time

here = os.path.dirname(os.path.abspath(__file__))
for i in range(3):
    print(f"tick {i}", flush=True)
    time.sleep(0.2)
while not os.path.exists(os.path.join(here, "release")):
    time.sleep(0.05)
print("done", flush=True)
'''


def test_logs_of_a_node_its_attempts_and_follow(project: Project) -> None:
    project.job_script()
    project.write("ticker.py", TICKER)
    project.apply(f"""\
        Workflows: [{{Name: ticking}}]
        Jobs:
          - {{Name: ticker, Workflow: ticking, Command: {{Name: pythonshell, ScriptLocation: ticker.py}}}}
          - {{Name: flaky, Workflow: ticking, {_JOB}, MaxRetries: 1, DefaultArguments: {{--fail: "true"}}}}
    """)
    runner = project.spawn("run", "ticking")
    run_id = project.wait_for(lambda: project.sql("SELECT id FROM workflow_runs"), 30, "the run")[0][0]
    follower = project.spawn("logs", run_id[:12], "ticker", "-f")  # waits for the node's job run if need be
    log = follower.log  # type: ignore[attr-defined]
    project.wait_for(lambda: "tick 2" in log.read_text(), 30, "the follower to print tick 2")
    assert follower.poll() is None  # the job is still running: the follower goes on
    project.write("release", "")
    assert follower.wait(30) == 0
    assert log.read_text() == "tick 0\ntick 1\ntick 2\ndone\n"
    assert runner.wait(60) == 1  # flaky failed twice

    assert project.cli("logs", "ticking", "ticker").out == "tick 0\ntick 1\ntick 2\ndone\n"
    attempts = {r["Attempt"]: r["Id"] for r in project.json("job-runs", "flaky")["JobRuns"]}
    assert sorted(attempts) == [0, 1]
    assert f"'--JOB_RUN_ID', '{attempts[1]}'" in project.cli("logs", "ticking", "flaky").out  # the latest
    assert f"'--JOB_RUN_ID', '{attempts[0]}'" in project.cli("logs", "ticking", "flaky", "--attempt", "1").out
    too_far = project.cli("logs", "ticking", "flaky", "--attempt", "3", expect=1)
    assert too_far.err.splitlines() == [
        f"An error occurred (EntityNotFoundException): job flaky has 2 attempts in workflow run {run_id}, not 3"
    ]
    a_run = project.cli("logs", "ticking", expect=1)
    assert a_run.err.splitlines() == [
        f"An error occurred (InvalidInputException): ticking is workflow run {run_id}: say which node,"
        " adhere logs ticking NODE (its jobs: flaky, ticker)"
    ]
    # -f on a job run that has ended prints its log and returns.
    assert project.cli("logs", attempts[0], "-f").out == project.cli("logs", attempts[0]).out


def test_the_resume_example_fails_on_its_bad_row_and_finishes_once_fixed(project: Project) -> None:
    """examples/resume as its README tells it: run (validate FAILED), fix the input, resume."""
    import shutil
    from pathlib import Path

    example = project.dir / "resume"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "resume", example,
                    ignore=shutil.ignore_patterns("out", "__pycache__"))
    project.cli("apply", "resume/workflow.yaml")
    first = project.cli("run", "orders", "--json", expect=1).json()["Run"]
    assert project.final_states(first) == {"extract": "SUCCEEDED", "validate": "FAILED", "enrich": "SUCCEEDED"}
    csv = example / "input" / "orders.csv"
    csv.write_text(csv.read_text().replace("twelve", "12.00"))
    resumed = project.cli("resume", "orders", "--failed", "--json")
    run = resumed.json()["Run"]
    assert run["PreviousRunId"] == first["WorkflowRunId"] and run["Status"] == "COMPLETED"
    assert project.final_states(run) == dict.fromkeys(["extract", "validate", "enrich", "load", "report"], "SUCCEEDED")
    carried = {n["Name"]: n["JobDetails"]["JobRuns"][0]["Id"] for n in run["Graph"]["Nodes"] if n["Name"] in ("extract", "enrich")}
    assert carried == {n["Name"]: n["JobDetails"]["JobRuns"][0]["Id"] for n in first["Graph"]["Nodes"]
                       if n["Name"] in ("extract", "enrich")}  # carried over: the original's job runs
    report = (example / "out" / "2026-12-04" / "report.json").read_text()
    assert '"EUR": 54.5' in report and '"USD": 120.0' in report
