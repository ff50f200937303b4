"""The ``adhere`` command end to end: real processes on a tmp project's SQLite store.

What a user sees: exit codes, one-line errors without tracebacks (the ``project.cli`` helper
fails any test whose stderr shows one), Glue's JSON shapes, and workflow runs that finish
whether the ``run`` command or ``adhere serve`` executes them.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Project

WF_RUN_ID = r"wr_[0-9a-f]{64}"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
QUICKSTART_FAILED = {  # the example as shipped: extract_rates fails, the failure branch runs
    "extract_orders": "SUCCEEDED",
    "extract_rates": "FAILED",
    "fallback_rates": "SUCCEEDED",
    "choose_rates": "SUCCEEDED",
    "report": "SUCCEEDED",
}
QUICKSTART_OK = {
    "extract_orders": "SUCCEEDED",
    "extract_rates": "SUCCEEDED",
    "choose_rates": "SUCCEEDED",
    "report": "SUCCEEDED",
}

_JOB = "Command: {Name: pythonshell, ScriptLocation: job.py}"
# Three parallel starts, an AND join, an ANY join, a FAILED branch and one that never fires.
FANOUT = f"""\
    Workflows:
      - Name: fan
    Jobs:
      - {{Name: a, Workflow: fan, {_JOB}, DefaultArguments: {{--sleep: "0.2"}}}}
      - {{Name: b, Workflow: fan, {_JOB}, DefaultArguments: {{--sleep: "0.3"}}}}
      - {{Name: c, Workflow: fan, {_JOB}, DefaultArguments: {{--fail: "true"}}}}
      - {{Name: join, Workflow: fan, {_JOB}, DependsOn: [a, b]}}
      - {{Name: either, Workflow: fan, {_JOB}, DependsOn: [a, b], WaitFor: ANY}}
      - {{Name: on_fail, Workflow: fan, {_JOB}, DependsOn: {{c: FAILED}}}}
      - {{Name: never, Workflow: fan, {_JOB}, DependsOn: {{c: SUCCEEDED}}}}
"""
FANOUT_STATES = {
    "a": "SUCCEEDED",
    "b": "SUCCEEDED",
    "c": "FAILED",
    "join": "SUCCEEDED",
    "either": "SUCCEEDED",
    "on_fail": "SUCCEEDED",
}

GOOD = f"""\
    Workflows:
      - Name: wf
    Jobs:
      - {{Name: x, Workflow: wf, {_JOB}}}
      - {{Name: y, Workflow: wf, {_JOB}, DependsOn: {{x: FAILED}}}}
"""

BAD = f"""\
    Workflows:
      - Name: wf
    Jobs:
      - {{Name: x, {_JOB}, Timeout: forever}}
      - {{Name: y, Workflow: wf, {_JOB}, DependsOn: {{ghost: SUCCEEDED}}}}
    Triggers:
      - {{Name: t0, WorkflowName: wf, Type: ON_DEMAND, Actions: [{{JobName: x}}]}}
      - Name: t1
        WorkflowName: wf
        Type: CONDITIONAL
        Predicate: {{Conditions: [{{JobName: x, State: SUCCEEDED}}]}}
        Actions: [{{JobName: nojob}}]
      - Name: t2
        WorkflowName: wf
        Type: CONDITIONAL
        Predicate: {{Conditions: [{{JobName: x, State: DONE}}]}}
        Actions: [{{JobName: y}}]
"""


@pytest.fixture
def quickstart(project: Project) -> Path:
    """A copy of examples/quickstart in the project, applied."""
    dest = project.dir / "quickstart"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("out", "__pycache__"))
    project.cli("apply", "quickstart/workflow.yaml")
    return dest


# --- definitions ------------------------------------------------------------------------------


def test_validate_good_file(sqlite_project: Project) -> None:
    sqlite_project.job_script()
    result = sqlite_project.cli("validate", str(sqlite_project.write("good.yaml", GOOD)))
    assert result.out.strip() == "valid: 2 jobs, 0 crawlers, 2 triggers, 1 workflows"


def test_validate_and_apply_bad_file_list_every_problem_and_write_nothing(project: Project) -> None:
    project.job_script()
    project.write("bad.yaml", BAD)
    result = project.cli("validate", "bad.yaml", expect=1)
    head, *problems = result.err.splitlines()
    assert head == "An error occurred (InvalidInputException): bad.yaml: 4 problems; nothing was changed"
    assert sorted(p.strip().split(": ", 1)[0] for p in problems) == [
        "Jobs[0].Timeout",
        "Jobs[1].DependsOn.ghost",
        "Triggers[1].Actions[0].JobName",
        "Triggers[2].Predicate.Conditions[0].State",
    ], result.err
    assert "'DONE'" in result.err and "'nojob'" in result.err and "'forever'" in result.err

    assert project.cli("apply", "bad.yaml", expect=1).err == result.err
    assert project.json("jobs") == {"Jobs": []}


def test_apply_says_created_updated_unchanged(project: Project) -> None:
    project.job_script()
    first = project.apply(GOOD).out.splitlines()
    assert sorted(first) == [
        "created: job x",
        "created: job y",
        "created: trigger wf.start",
        "created: trigger wf.y.depends",
        "created: workflow wf",
    ]
    assert project.apply(GOOD).out.strip() == "unchanged: nothing to do (5 definitions)"

    edited = GOOD.replace("Name: y, Workflow", 'Name: y, Description: "now described", Workflow')
    assert project.apply(edited).out.splitlines() == ["updated: job y", "unchanged: 4 definitions"]
    again = project.json("apply", str(project.dir / "workflow.yaml"))
    assert (again["Created"], again["Updated"]) == ([], [])
    assert sorted(again["Unchanged"]) == [
        "job x",
        "job y",
        "trigger wf.start",
        "trigger wf.y.depends",
        "workflow wf",
    ]


def test_apply_says_when_a_job_moves_to_another_workflow(project: Project) -> None:
    project.job_script()
    project.apply(GOOD)
    moved = GOOD.replace("- Name: wf", "- Name: wf\n      - Name: other").replace(
        "{Name: y, Workflow: wf", "{Name: y, Workflow: other"
    ).replace("DependsOn: {x: FAILED}", "")
    out = project.apply(moved).out.splitlines()
    assert "updated: job y (moves from workflow wf to workflow other)" in out, out
    assert "deleted: trigger wf.y.depends (its DependsOn is gone)" in out, out
    assert {t["Name"] for t in project.json("triggers")["Triggers"]} == {"wf.start", "other.start"}


def test_a_big_apply_prints_a_summary_not_a_line_per_definition(project: Project) -> None:
    project.job_script()
    jobs = "\n".join(f"      - {{Name: j{i}, {_JOB}}}" for i in range(300))
    result = project.apply(f"    Jobs:\n{jobs}\n")
    assert result.out.splitlines() == ["created 300, updated 0, deleted 0, unchanged 0 definitions (changed: 300 jobs)"]


def test_user_text_is_printed_as_is_never_as_markup(project: Project) -> None:
    project.job_script()
    project.apply(f"""\
        Workflows: [{{Name: "[bold]w[/x]"}}]
        Jobs: [{{Name: "[/x]", Workflow: "[bold]w[/x]", {_JOB}}}]
    """)
    assert "[/x]" in project.cli("jobs").out
    assert "[bold]w[/x]" in project.cli("workflows").out
    run = project.cli("run", "[bold]w[/x]")
    assert run.out.splitlines()[0] == "[/x]: SUCCEEDED", run


def test_a_setting_that_cannot_be_read_is_one_line_naming_it(sqlite_project: Project) -> None:
    for variable, value, message in [
        ("ADHERE_NOTIFICATION_SINKS", '[{"type": ',
         "bad setting ADHERE_NOTIFICATION_SINKS: not valid JSON (Expecting value at line 1, column 11)"),
        ("ADHERE_MAX_PROCESSES", "many",
         "bad setting ADHERE_MAX_PROCESSES: must be a whole number of 1 or more, not 'many'"),
        ("ADHERE_PYTHON_START", "vfork", "bad setting ADHERE_PYTHON_START: must be fork or spawn, not 'vfork'"),
    ]:
        result = sqlite_project.cli("jobs", expect=1, env={variable: value})
        assert result.err.splitlines() == [f"An error occurred (InvalidInputException): {message}"]


def test_run_refuses_bad_sinks_before_starting_anything(project: Project) -> None:
    project.job_script()
    project.apply(GOOD)
    result = project.cli("run", "wf", expect=1, env={"ADHERE_NOTIFICATION_SINKS": '[{"type": "pager"}]'})
    assert "notification_sinks[0].type: unknown sink type 'pager'" in result.err
    assert project.json("runs", "wf") == {"Runs": []}


def test_schema_is_json_schema_of_definition_files(sqlite_project: Project) -> None:
    schema = sqlite_project.cli("schema").json()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"Jobs", "Triggers", "Workflows"} <= set(schema["properties"])


# --- workflow runs ----------------------------------------------------------------------------


def test_quickstart_example_runs_the_failure_branch_then_the_happy_path(
    project: Project, quickstart: Path
) -> None:
    run = project.cli("run", "quickstart", expect=1)  # a job failed, though the run COMPLETED
    run_id = re.search(WF_RUN_ID, run.out).group(0)
    assert f"run {run_id} COMPLETED" in run.out
    assert (
        "extract_rates: FAILED  ConnectionError: rates service unavailable (simulated outage)"
        in run.out
    )
    assert project.run_status(run_id) == "COMPLETED"
    assert project.job_states(run_id) == {
        name: [state] for name, state in QUICKSTART_FAILED.items()
    }
    assert '"rates_as_of": "yesterday"' in (quickstart / "out" / run_id / "report.json").read_text()

    # The happy path: the failure branch never runs; the ANY trigger fires on extract_rates.
    yaml_path = quickstart / "workflow.yaml"
    yaml_path.write_text(
        yaml_path.read_text().replace('--simulate_outage: "true"', '--simulate_outage: "false"')
    )
    assert project.cli("apply", str(yaml_path)).out.splitlines() == [
        "updated: job extract_rates",
        "unchanged: 9 definitions",
    ]
    ok = project.cli("run", "quickstart", "--json").json()["Run"]
    assert ok["Status"] == "COMPLETED"
    assert project.final_states(ok) == QUICKSTART_OK
    assert (ok["Statistics"]["SucceededActions"], ok["Statistics"]["FailedActions"]) == (4, 0)
    assert (
        '"rates_as_of": "today"'
        in (quickstart / "out" / ok["WorkflowRunId"] / "report.json").read_text()
    )


def test_run_no_wait_stays_running_until_serve_finishes_it(
    project: Project, quickstart: Path
) -> None:
    run_id = project.json("run", "quickstart", "--no-wait")["RunId"]
    assert re.fullmatch(WF_RUN_ID, run_id)
    time.sleep(1)
    assert project.run_status(run_id) == "RUNNING"
    assert project.job_states(run_id) == {}  # nothing executes it

    serve = project.serve()
    project.wait_for(
        lambda: project.run_status(run_id) == "COMPLETED", 30, "serve to finish the run"
    )
    assert project.terminate(serve) == 0

    run = project.json("show", run_id)["Run"]
    assert run["WorkflowRunId"] == run_id and run["Name"] == "quickstart"
    assert run["Status"] == "COMPLETED" and run["CompletedOn"] >= run["StartedOn"]
    nodes = run["Graph"]["Nodes"]
    assert {n["Type"] for n in nodes} == {"TRIGGER", "JOB"}
    assert {n["Name"] for n in nodes if n["Type"] == "TRIGGER"} == {
        "quickstart.start",
        "quickstart.fallback_rates.depends",
        "quickstart.choose_rates.depends",
        "quickstart.report.depends",
    }
    by_name = {n["Name"]: n for n in nodes}
    assert (
        by_name["quickstart.choose_rates.depends"]["TriggerDetails"]["Trigger"]["Predicate"][
            "Logical"
        ]
        == "ANY"
    )
    ids = {n["UniqueId"]: n["Name"] for n in nodes}
    edges = {(ids[e["SourceId"]], ids[e["DestinationId"]]) for e in run["Graph"]["Edges"]}
    assert {
        ("quickstart.start", "extract_rates"),
        ("extract_rates", "quickstart.fallback_rates.depends"),
        ("quickstart.fallback_rates.depends", "fallback_rates"),
        ("quickstart.report.depends", "report"),
    } <= edges
    assert project.final_states(run) == QUICKSTART_FAILED
    (job_run,) = by_name["fallback_rates"]["JobDetails"]["JobRuns"]
    assert job_run["Id"].startswith("jr_") and job_run["JobName"] == "fallback_rates"
    assert job_run["TriggerName"] == "quickstart.fallback_rates.depends"
    stats = run["Statistics"]
    assert (stats["TotalActions"], stats["SucceededActions"], stats["FailedActions"]) == (5, 4, 1)

    # A COMPLETED run can be neither stopped nor given properties (IllegalWorkflowStateException).
    stop = project.cli("stop", run_id, expect=1)
    assert stop.err.splitlines() == [
        f"An error occurred (IllegalWorkflowStateException): Workflow run {run_id} is COMPLETED, not RUNNING;"
        " it cannot be stopped"
    ]
    put = project.cli("run-properties", run_id, "--set", "k=v", expect=1)
    assert put.err.splitlines() == [f"An error occurred (IllegalWorkflowStateException): Workflow run {run_id} is COMPLETED"]
    refused = project.cli("--json", "stop", run_id, expect=1)  # a refusal a script can tell from a crash
    assert json.loads(refused.err) == {"Error": {
        "Code": "IllegalWorkflowStateException",
        "Message": f"Workflow run {run_id} is COMPLETED, not RUNNING; it cannot be stopped",
    }}


def test_run_while_serve_runs_each_job_once_and_listings_are_glue_shaped(project: Project) -> None:
    project.job_script()
    project.apply(FANOUT)
    serve = project.serve()
    run = project.cli("run", "fan", "--json", expect=1).json()["Run"]  # c failed
    assert run["Status"] == "COMPLETED"
    assert project.final_states(run) == FANOUT_STATES
    assert project.ledger() == dict.fromkeys(FANOUT_STATES, 1)
    # serve executed the run: the `run` command started no orchestrator of its own.
    owners = {
        r[0]
        for r in project.sql(
            "SELECT owner FROM job_runs WHERE workflow_run_id = ?", run["WorkflowRunId"]
        )
    }
    assert len(owners) == 1 and f":{serve.pid}:" in owners.pop()
    assert project.terminate(serve) == 0

    jobs = project.json("jobs")
    assert list(jobs) == ["Jobs"]
    assert {j["Name"] for j in jobs["Jobs"]} == {*FANOUT_STATES, "never"}
    assert jobs["Jobs"][0]["Command"]["Name"] == "pythonshell"
    triggers = project.json("triggers", "--workflow", "fan")
    assert list(triggers) == ["Triggers"]
    assert {t["Name"] for t in triggers["Triggers"]} == {
        "fan.start",
        "fan.join.depends",
        "fan.either.depends",
        "fan.on_fail.depends",
        "fan.never.depends",
    }
    assert all(
        set(t) >= {"Name", "Type", "Actions", "State"} and "AdhereActions" not in t
        for t in triggers["Triggers"]
    )
    assert project.json("workflows") == {"Workflows": ["fan"]}
    runs = project.json("runs", "fan")
    assert list(runs) == ["Runs"] and [r["WorkflowRunId"] for r in runs["Runs"]] == [
        run["WorkflowRunId"]
    ]
    assert runs["Runs"][0]["Status"] == "COMPLETED" and "Graph" not in runs["Runs"][0]
    job_runs = project.json("job-runs", "c")
    assert list(job_runs) == ["JobRuns"] and [r["JobRunState"] for r in job_runs["JobRuns"]] == [
        "FAILED"
    ]


# --- job runs ---------------------------------------------------------------------------------


def test_start_job_arguments_logs_and_failure(project: Project) -> None:
    project.job_script()
    project.apply(f"""\
        Jobs:
          - {{Name: greet, {_JOB}, DefaultArguments: {{--day: "1999-12-31"}}}}
          - {{Name: crash, {_JOB}, DefaultArguments: {{--fail: "true"}}}}
    """)
    project.cli("start-job", "greet", "--quiet")
    project.cli("start-job", "greet", "--arg", "--day=2024-01-01", "--arg", "extra=1", "--quiet")
    newest, oldest = project.json("job-runs", "greet")["JobRuns"]  # newest first
    assert (newest["JobRunState"], oldest["JobRunState"]) == ("SUCCEEDED", "SUCCEEDED")
    assert newest["StartedOn"] > oldest["StartedOn"]
    assert (newest["Arguments"], oldest["Arguments"]) == (
        {"--day": "2024-01-01", "--extra": "1"},
        {},
    )

    logs = project.cli("logs", newest["Id"]).out
    assert logs.startswith("hello from greet\n")
    argv = re.search(r"^argv (.*)$", logs, re.M).group(1)
    assert "'--day', '2024-01-01'" in argv and "1999-12-31" not in argv and "'--extra', '1'" in argv
    assert "'--JOB_NAME', 'greet'" in argv and f"'--JOB_RUN_ID', '{newest['Id']}'" in argv

    failed = project.cli("start-job", "crash", "--json", expect=1).json()["JobRun"]
    assert failed["JobRunState"] == "FAILED"
    assert failed["ErrorMessage"] == "ValueError: boom"


# --- errors -----------------------------------------------------------------------------------


def test_unknown_names_are_one_line_errors(project: Project) -> None:
    for args, message in [
        (("run", "nope"), "An error occurred (EntityNotFoundException): Workflow nope not found"),
        (("show", "wr_nope"), "An error occurred (EntityNotFoundException): Run wr_nope not found"),
        (("logs", "jr_nope"), "An error occurred (EntityNotFoundException): Job run jr_nope not found"),
        (("run", "x", "-p", "novalue"),
         "An error occurred (InvalidInputException): -p must look like key=value, got 'novalue'"),
    ]:
        result = project.cli(*args, expect=1)
        assert result.err.splitlines() == [message], result
    as_json = project.cli("--json", "run", "nope", expect=1)
    assert json.loads(as_json.err) == {
        "Error": {"Code": "EntityNotFoundException", "Message": "Workflow nope not found"}
    }


def test_bad_db_url_is_a_clear_error(sqlite_project: Project) -> None:
    result = sqlite_project.cli("--db", "bogus://x", "jobs", expect=1)
    assert result.err.splitlines() == [
        "An error occurred (StoreError): bad database URL bogus://x: Can't load plugin: sqlalchemy.dialects:bogus"
    ]
    assert sqlite_project.cli("jobs", expect=1, env={"ADHERE_DB_URL": "bogus://x"}).err.startswith(
        "An error occurred (StoreError): bad database URL"
    )
    refused = sqlite_project.cli("--db", "postgresql://me:secret@127.0.0.1:1/adhere", "jobs", expect=1)
    assert refused.err.startswith(
        "An error occurred (StoreError): cannot open the store at postgresql://me:***@127.0.0.1:1/adhere: "
    )
    assert "secret" not in refused.err
    assert not (sqlite_project.dir / ".adhere").exists()


def test_unusable_sqlite_folder_is_a_clear_error(sqlite_project: Project) -> None:
    blocker = sqlite_project.write("not-a-folder", "a file where a folder should be\n")
    sqlite_project.cli("--db", f"sqlite:///{blocker}/adhere.db", "jobs", expect=1)


def test_flags_before_the_command_and_their_environment_twins(sqlite_project: Project) -> None:
    sqlite_project.job_script()
    home = sqlite_project.dir / "elsewhere"
    sqlite_project.cli("--home", str(home), "apply", str(sqlite_project.write("good.yaml", GOOD)))
    assert (home / "adhere.db").exists() and not (sqlite_project.dir / ".adhere").exists()
    assert sqlite_project.cli("--json", "--home", str(home), "workflows").json() == {"Workflows": ["wf"]}
    assert sqlite_project.json("workflows", env={"ADHERE_HOME": str(home)}) == {"Workflows": ["wf"]}


def test_run_properties_defaults_overrides_and_set(project: Project) -> None:
    project.job_script()
    project.apply(f"""\
        Workflows:
          - {{Name: props, DefaultRunProperties: {{color: red, size: big}}}}
        Jobs:
          - {{Name: only, Workflow: props, {_JOB}}}
    """)
    run_id = project.cli("run", "props", "--no-wait", "-p", "color=blue", "-p", "new=1").out.strip()
    assert re.fullmatch(WF_RUN_ID, run_id)
    after_set = project.json("run-properties", run_id, "--set", "k=v", "--set", "size=small")
    assert after_set == {"RunProperties": {"color": "blue", "size": "small", "new": "1", "k": "v"}}
    other = project.json("run", "props", "--no-wait")["RunId"]
    runs = {
        r["WorkflowRunId"]: r["WorkflowRunProperties"]
        for r in project.json("runs", "props")["Runs"]
    }
    assert runs == {run_id: after_set["RunProperties"], other: {"color": "red", "size": "big"}}


def test_apply_prune_shows_then_deletes_what_the_files_no_longer_define(project: Project) -> None:
    project.job_script()
    project.apply(GOOD)
    project.write("extra.yaml", f"""\
        Jobs:
          - {{Name: stray, {_JOB}}}
        Triggers:
          - {{Name: stray.start, Type: ON_DEMAND, Actions: [{{JobName: stray}}]}}
    """)
    project.cli("apply", "extra.yaml")
    refused = project.cli("apply", "workflow.yaml", "--prune", expect=1)  # no --yes and no terminal
    assert "will delete: trigger stray.start" in refused.err and "will delete: job stray" in refused.err
    assert "pass --yes" in refused.err
    assert "stray" in {j["Name"] for j in project.json("jobs")["Jobs"]}  # nothing was deleted

    done = project.cli("apply", "workflow.yaml", "--prune", "--yes")
    assert "deleted: job stray (not in the files)" in done.out
    assert "deleted: trigger stray.start (not in the files)" in done.out
    assert {j["Name"] for j in project.json("jobs")["Jobs"]} == {"x", "y"}
    assert project.cli("apply", "workflow.yaml", "--prune").out.strip() == "unchanged: nothing to do (5 definitions)"


def test_delete_removes_definitions_as_glue_does(project: Project) -> None:
    project.job_script()
    project.apply(GOOD)
    assert project.cli("delete", "trigger", "wf.y.depends").out.strip() == "deleted trigger wf.y.depends"
    assert project.json("delete", "job", "y", "no-such-job") == {"Deleted": ["y", "no-such-job"]}  # idempotent
    assert {j["Name"] for j in project.json("jobs")["Jobs"]} == {"x"}
    project.cli("delete", "workflow", "wf")
    assert project.json("workflows")["Workflows"] == []
    assert project.json("triggers")["Triggers"] == []  # the workflow's triggers went with it
    assert {j["Name"] for j in project.json("jobs")["Jobs"]} == {"x"}  # its jobs did not
