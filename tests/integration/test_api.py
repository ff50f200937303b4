"""Glue's API through boto3 against a real `adhere serve`: every operation of the jobs, job
runs, triggers, workflows, workflow runs and tags, with their errors and pagination, and a
workflow created, run, inspected, resumed and stopped through boto3 alone."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from integration.api_fixtures import Served, wait_for

pytestmark = pytest.mark.timeout(240)


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def glue(served: Served) -> Any:
    return served.client()


@pytest.fixture(scope="module")
def ok_script(served: Served) -> str:
    return served.script("ok.py", "print('ok')\n")


def job(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Role": "arn:aws:iam::123456789012:role/glue",
            "Command": {"Name": "pythonshell", "ScriptLocation": script, "PythonVersion": "3.9"}, **extra}


def finished(glue: Any, job_name: str, run_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = glue.get_job_run(JobName=job_name, RunId=run_id)["JobRun"]
        return run if run["JobRunState"] in ("SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR") else None

    return wait_for(done)


def completed(glue: Any, workflow: str, run_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = glue.get_workflow_run(Name=workflow, RunId=run_id, IncludeGraph=True)["Run"]
        return run if run["Status"] in ("COMPLETED", "STOPPED", "ERROR") else None

    return wait_for(done)


# --- jobs --------------------------------------------------------------------------------------


def test_job_lifecycle(glue: Any, ok_script: str) -> None:
    name = unique("job")
    assert glue.create_job(**job(name, ok_script, MaxRetries=2, Description="first",
                                 Tags={"team": "data"}))["Name"] == name
    got = glue.get_job(JobName=name)["Job"]
    assert got["Description"] == "first" and got["MaxRetries"] == 2
    assert got["Command"] == {"Name": "pythonshell", "ScriptLocation": ok_script, "PythonVersion": "3.9"}
    assert got["CreatedOn"].year >= 2026 and "Tags" not in got

    with pytest.raises(ClientError) as exc:
        glue.create_job(**job(name, ok_script))
    assert code(exc) == "AlreadyExistsException"

    update = {k: v for k, v in job(name, ok_script, MaxRetries=0).items() if k != "Name"}
    assert glue.update_job(JobName=name, JobUpdate=update)["JobName"] == name
    got = glue.get_job(JobName=name)["Job"]
    assert "Description" not in got and got.get("MaxRetries", 0) == 0  # the whole definition is replaced

    arn = f"arn:aws:glue:us-east-1:123456789012:job/{name}"
    assert glue.get_tags(ResourceArn=arn)["Tags"] == {"team": "data"}  # tags stay through UpdateJob

    assert glue.delete_job(JobName=name)["JobName"] == name
    assert glue.delete_job(JobName=name)["JobName"] == name  # idempotent, as in Glue
    with pytest.raises(ClientError) as exc:
        glue.get_job(JobName=name)
    assert code(exc) == "EntityNotFoundException"
    with pytest.raises(ClientError) as exc:
        glue.update_job(JobName=name, JobUpdate=update)
    assert code(exc) == "EntityNotFoundException"


def test_job_pages_batches_and_tag_filters(glue: Any, ok_script: str) -> None:
    prefix = unique("page")
    names = [f"{prefix}-{i}" for i in range(5)]
    for i, name in enumerate(names):
        glue.create_job(**job(name, ok_script, Tags={"batch": prefix, "parity": str(i % 2)}))

    listed = [n for page in glue.get_paginator("list_jobs").paginate(PaginationConfig={"PageSize": 2})
              for n in page["JobNames"] if n.startswith(prefix)]
    assert listed == names
    pages = list(glue.get_paginator("get_jobs").paginate(PaginationConfig={"PageSize": 2}))
    assert all(len(p["Jobs"]) <= 2 for p in pages)
    assert [j["Name"] for p in pages for j in p["Jobs"] if j["Name"].startswith(prefix)] == names

    assert glue.list_jobs(Tags={"batch": prefix, "parity": "1"})["JobNames"] == [names[1], names[3]]

    got = glue.batch_get_jobs(JobNames=[names[0], "no-such-job", names[2]])
    assert [j["Name"] for j in got["Jobs"]] == [names[0], names[2]]
    assert got["JobsNotFound"] == ["no-such-job"]

    with pytest.raises(ClientError) as exc:
        glue.get_jobs(NextToken="not-a-token")
    assert code(exc) == "InvalidInputException"


def test_definition_errors_name_the_member(glue: Any, ok_script: str) -> None:
    with pytest.raises(ClientError) as exc:  # botocore lets enums through; the server does not
        glue.create_job(**job(unique("bad"), ok_script, WorkerType="G.9X"))
    assert code(exc) == "InvalidInputException"
    assert "WorkerType" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        glue.create_job(**job(unique("bad"), ok_script, Command={"Name": "nosuchengine", "ScriptLocation": ok_script}))
    assert code(exc) == "InvalidInputException"
    assert "nosuchengine" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        glue.get_job_runs(JobName="x", MaxResults=201)  # over GetJobRuns' range
    assert code(exc) == "InvalidInputException"
    assert "MaxResults" in exc.value.response["Error"]["Message"]


# --- job runs ----------------------------------------------------------------------------------


def test_job_runs(served: Served, glue: Any) -> None:
    name = unique("runs")
    script = served.script(f"{name}.py", "import sys, time\nprint('args', sys.argv[1:])\ntime.sleep(0.2)\n")
    glue.create_job(**job(name, script, DefaultArguments={"--day": "1"}))

    run_id = glue.start_job_run(JobName=name, Arguments={"--day": "2"}, Timeout=5,
                                NotificationProperty={"NotifyDelayAfter": 3}, AllocatedCapacity=1,
                                SecurityConfiguration="none", ExecutionClass="STANDARD")["JobRunId"]
    with pytest.raises(ClientError) as exc:  # MaxConcurrentRuns is 1 by default
        glue.start_job_run(JobName=name)
    assert code(exc) == "ConcurrentRunsExceededException"
    run = finished(glue, name, run_id)
    assert run["JobRunState"] == "SUCCEEDED"
    assert run["Arguments"] == {"--day": "2"} and run["Timeout"] == 5
    assert run["NotificationProperty"] == {"NotifyDelayAfter": 3}
    assert run["StartedOn"] <= run["CompletedOn"]
    assert "PredecessorRuns" not in run
    assert glue.get_job_run(JobName=name, RunId=run_id, PredecessorsIncluded=True)["JobRun"]["PredecessorRuns"] == []

    second = glue.start_job_run(JobName=name)["JobRunId"]
    finished(glue, name, second)
    runs = glue.get_job_runs(JobName=name)["JobRuns"]
    assert [r["Id"] for r in runs] == [second, run_id]  # newest first
    paged = [r["Id"] for p in glue.get_paginator("get_job_runs").paginate(
        JobName=name, PaginationConfig={"PageSize": 1}) for r in p["JobRuns"]]
    assert paged == [second, run_id]

    stopped = glue.batch_stop_job_run(JobName=name, JobRunIds=[run_id, "jr_nope"])
    assert stopped["SuccessfulSubmissions"] == []
    assert {e["JobRunId"]: e["ErrorDetail"]["ErrorCode"] for e in stopped["Errors"]} == {
        run_id: "InvalidInputException", "jr_nope": "EntityNotFoundException"}

    for call, kwargs in ((glue.start_job_run, {"JobName": "no-such-job"}),
                         (glue.get_job_run, {"JobName": name, "RunId": "jr_nope"}),
                         (glue.get_job_runs, {"JobName": "no-such-job"})):
        with pytest.raises(ClientError) as exc:
            call(**kwargs)
        assert code(exc) == "EntityNotFoundException"


def test_stop_a_running_job_run(served: Served, glue: Any) -> None:
    name = unique("sleepy")
    glue.create_job(**job(name, served.script(f"{name}.py", "import time\ntime.sleep(60)\n")))
    run_id = glue.start_job_run(JobName=name)["JobRunId"]
    wait_for(lambda: glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]["JobRunState"] == "RUNNING")
    result = glue.batch_stop_job_run(JobName=name, JobRunIds=[run_id])
    assert result["SuccessfulSubmissions"] == [{"JobName": name, "JobRunId": run_id}]
    assert finished(glue, name, run_id)["JobRunState"] == "STOPPED"


# --- triggers ----------------------------------------------------------------------------------


def test_triggers(glue: Any, ok_script: str) -> None:
    wf, a, b = unique("twf"), unique("ta"), unique("tb")
    glue.create_workflow(Name=wf)
    glue.create_job(**job(a, ok_script))
    glue.create_job(**job(b, ok_script))
    start, then = f"{wf}-start", f"{wf}-then"
    assert glue.create_trigger(Name=start, WorkflowName=wf, Type="ON_DEMAND", Actions=[{"JobName": a}])["Name"] == start
    glue.create_trigger(Name=then, WorkflowName=wf, Type="CONDITIONAL", StartOnCreation=True,
                        Predicate={"Conditions": [{"LogicalOperator": "EQUALS", "JobName": a, "State": "SUCCEEDED"}]},
                        Actions=[{"JobName": b, "Arguments": {"--x": "1"}}], Tags={"k": "v"})

    got = glue.get_trigger(Name=then)["Trigger"]
    assert got["State"] == "ACTIVATED" and got["WorkflowName"] == wf and got["Type"] == "CONDITIONAL"
    assert got["Actions"] == [{"JobName": b, "Arguments": {"--x": "1"}}]
    assert glue.get_trigger(Name=start)["Trigger"]["State"] == "CREATED"

    with pytest.raises(ClientError) as exc:
        glue.create_trigger(Name=then, WorkflowName=wf, Type="ON_DEMAND", Actions=[{"JobName": b}])
    assert code(exc) == "AlreadyExistsException"
    with pytest.raises(ClientError) as exc:  # one start trigger per workflow
        glue.create_trigger(Name=f"{wf}-second", WorkflowName=wf, Type="ON_DEMAND", Actions=[{"JobName": b}])
    assert code(exc) == "InvalidInputException" and "one start trigger" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        glue.create_trigger(Name=unique("dangling"), Type="ON_DEMAND", Actions=[{"JobName": "no-such-job"}])
    assert code(exc) == "InvalidInputException" and "no-such-job" in exc.value.response["Error"]["Message"]

    assert [t["Name"] for t in glue.get_triggers(DependentJobName=b)["Triggers"]] == [then]
    assert glue.list_triggers(DependentJobName=a)["TriggerNames"] == [start]
    assert glue.list_triggers(Tags={"k": "v"})["TriggerNames"] == [then]
    got = glue.batch_get_triggers(TriggerNames=[start, "nope"])
    assert [t["Name"] for t in got["Triggers"]] == [start] and got["TriggersNotFound"] == ["nope"]

    updated = glue.update_trigger(Name=then, TriggerUpdate={"Description": "b after a"})["Trigger"]
    assert updated["Description"] == "b after a" and updated["State"] == "ACTIVATED"
    assert updated["Predicate"]["Conditions"][0]["JobName"] == a  # members not given are kept

    assert glue.stop_trigger(Name=then)["Name"] == then
    assert glue.get_trigger(Name=then)["Trigger"]["State"] == "DEACTIVATED"
    glue.start_trigger(Name=then)
    assert glue.get_trigger(Name=then)["Trigger"]["State"] == "ACTIVATED"

    assert glue.delete_trigger(Name=then)["Name"] == then
    assert glue.delete_trigger(Name=then)["Name"] == then  # idempotent
    with pytest.raises(ClientError) as exc:
        glue.get_trigger(Name=then)
    assert code(exc) == "EntityNotFoundException"


def test_standalone_on_demand_trigger_starts_its_jobs(glue: Any, ok_script: str) -> None:
    name, trig = unique("solo"), unique("solo-trigger")
    glue.create_job(**job(name, ok_script))
    glue.create_trigger(Name=trig, Type="ON_DEMAND", Actions=[{"JobName": name, "Arguments": {"--n": "7"}}])
    glue.start_trigger(Name=trig)
    run = wait_for(lambda: glue.get_job_runs(JobName=name)["JobRuns"])[0]
    run = finished(glue, name, run["Id"])
    assert run["JobRunState"] == "SUCCEEDED" and run["TriggerName"] == trig and run["Arguments"] == {"--n": "7"}


# --- workflows and their runs ------------------------------------------------------------------


def test_a_workflow_through_boto3_alone(served: Served, glue: Any) -> None:
    wf = unique("flow")
    marker = served.folder / f"{wf}.fixed"
    extract, load = f"{wf}-extract", f"{wf}-load"
    glue.create_job(**job(extract, served.script(f"{extract}.py", "print('extracted')\n")))
    glue.create_job(**job(load, served.script(f"{load}.py", (
        "import pathlib, sys\n"
        f"sys.exit(0 if pathlib.Path({str(marker)!r}).exists() else 3)\n"))))
    glue.create_workflow(Name=wf, DefaultRunProperties={"day": "mon"}, MaxConcurrentRuns=2, Description="demo")
    glue.create_trigger(Name=f"{wf}-start", WorkflowName=wf, Type="ON_DEMAND", Actions=[{"JobName": extract}])
    glue.create_trigger(Name=f"{wf}-then", WorkflowName=wf, Type="CONDITIONAL", StartOnCreation=True,
                        Predicate={"Logical": "AND", "Conditions": [
                            {"LogicalOperator": "EQUALS", "JobName": extract, "State": "SUCCEEDED"}]},
                        Actions=[{"JobName": load}])

    shown = glue.get_workflow(Name=wf, IncludeGraph=True)["Workflow"]
    assert shown["DefaultRunProperties"] == {"day": "mon"} and shown["MaxConcurrentRuns"] == 2
    assert {n["Name"] for n in shown["Graph"]["Nodes"]} == {extract, load, f"{wf}-start", f"{wf}-then"}
    assert "Graph" not in glue.get_workflow(Name=wf)["Workflow"]

    run_id = glue.start_workflow_run(Name=wf, RunProperties={"day": "tue"})["RunId"]
    run = completed(glue, wf, run_id)
    assert run["Status"] == "COMPLETED" and run["WorkflowRunProperties"] == {"day": "tue"}
    assert run["Statistics"]["FailedActions"] == 1 and run["Statistics"]["SucceededActions"] == 1
    nodes = {n["Name"]: n for n in run["Graph"]["Nodes"]}
    assert nodes[load]["JobDetails"]["JobRuns"][0]["JobRunState"] == "FAILED"
    assert "AdhereActions" not in json.dumps(run, default=str)
    assert glue.get_workflow(Name=wf)["Workflow"]["LastRun"]["WorkflowRunId"] == run_id

    marker.write_text("fixed")
    resumed = glue.resume_workflow_run(Name=wf, RunId=run_id, NodeIds=[nodes[load]["UniqueId"]])
    assert resumed["NodeIds"] == [nodes[load]["UniqueId"]]
    again = completed(glue, wf, resumed["RunId"])
    assert again["PreviousRunId"] == run_id and again["Statistics"]["FailedActions"] == 0
    again_nodes = {n["Name"]: n for n in again["Graph"]["Nodes"]}
    assert again_nodes[extract]["JobDetails"]["JobRuns"][0]["Id"] == \
        nodes[extract]["JobDetails"]["JobRuns"][0]["Id"]  # carried over, not run again
    with pytest.raises(ClientError) as exc:
        glue.resume_workflow_run(Name=wf, RunId=run_id, NodeIds=["wnode_nope"])
    assert code(exc) == "InvalidInputException"

    props = glue.get_workflow_run_properties(Name=wf, RunId=resumed["RunId"])["RunProperties"]
    assert props == {"day": "tue"}
    runs = [r["WorkflowRunId"] for p in glue.get_paginator("get_workflow_runs").paginate(
        Name=wf, PaginationConfig={"PageSize": 1}) for r in p["Runs"]]
    assert runs == [resumed["RunId"], run_id]
    assert wf in glue.list_workflows()["Workflows"]
    got = glue.batch_get_workflows(Names=[wf, "nope"], IncludeGraph=True)
    assert [w["Name"] for w in got["Workflows"]] == [wf] and got["MissingWorkflows"] == ["nope"]
    assert "Graph" in got["Workflows"][0]

    glue.update_workflow(Name=wf, Description="updated")
    shown = glue.get_workflow(Name=wf)["Workflow"]
    assert shown["Description"] == "updated" and shown["DefaultRunProperties"] == {"day": "mon"}


def test_stop_a_workflow_run_and_delete_the_workflow(served: Served, glue: Any) -> None:
    wf, slow = unique("stopwf"), unique("slow")
    glue.create_job(**job(slow, served.script(f"{slow}.py", "import time\ntime.sleep(60)\n")))
    glue.create_workflow(Name=wf)
    glue.create_trigger(Name=f"{wf}-start", WorkflowName=wf, Type="ON_DEMAND", Actions=[{"JobName": slow}])
    run_id = glue.start_workflow_run(Name=wf)["RunId"]
    glue.put_workflow_run_properties(Name=wf, RunId=run_id, RunProperties={"note": "hi"})
    assert glue.get_workflow_run_properties(Name=wf, RunId=run_id)["RunProperties"] == {"note": "hi"}

    with pytest.raises(ClientError) as exc:  # a workflow with a run under way is not deleted
        glue.delete_workflow(Name=wf)
    assert code(exc) == "ConcurrentModificationException"
    with pytest.raises(ClientError) as exc:  # only COMPLETED runs resume
        glue.resume_workflow_run(Name=wf, RunId=run_id, NodeIds=["wnode_x"])
    assert code(exc) == "IllegalWorkflowStateException"

    glue.stop_workflow_run(Name=wf, RunId=run_id)
    assert completed(glue, wf, run_id)["Status"] == "STOPPED"
    with pytest.raises(ClientError) as exc:
        glue.stop_workflow_run(Name=wf, RunId=run_id)
    assert code(exc) == "IllegalWorkflowStateException"

    assert glue.delete_workflow(Name=wf)["Name"] == wf
    with pytest.raises(ClientError) as exc:
        glue.get_workflow(Name=wf)
    assert code(exc) == "EntityNotFoundException"
    with pytest.raises(ClientError) as exc:  # its triggers went with it
        glue.get_trigger(Name=f"{wf}-start")
    assert code(exc) == "EntityNotFoundException"
    assert glue.get_job(JobName=slow)["Job"]["Name"] == slow  # its jobs did not
    assert glue.delete_workflow(Name=wf)["Name"] == wf


def test_workflow_run_limit(served: Served, glue: Any) -> None:
    wf, slow = unique("limit"), unique("slow")
    glue.create_job(**job(slow, served.script(f"{slow}.py", "import time\ntime.sleep(60)\n"),
                          ExecutionProperty={"MaxConcurrentRuns": 5}))
    glue.create_workflow(Name=wf, MaxConcurrentRuns=1)
    glue.create_trigger(Name=f"{wf}-start", WorkflowName=wf, Type="ON_DEMAND", Actions=[{"JobName": slow}])
    run_id = glue.start_workflow_run(Name=wf)["RunId"]
    with pytest.raises(ClientError) as exc:
        glue.start_workflow_run(Name=wf)
    assert code(exc) == "ConcurrentRunsExceededException"
    glue.stop_workflow_run(Name=wf, RunId=run_id)
    completed(glue, wf, run_id)
    with pytest.raises(ClientError) as exc:
        glue.get_workflow_run(Name=wf, RunId="wr_nope")
    assert code(exc) == "EntityNotFoundException"


# --- tags --------------------------------------------------------------------------------------


def test_tags(glue: Any, ok_script: str) -> None:
    name = unique("tagged")
    glue.create_job(**job(name, ok_script))
    arn = f"arn:aws:glue:us-east-1:123456789012:job/{name}"
    glue.tag_resource(ResourceArn=arn, TagsToAdd={"a": "1", "b": "2"})
    glue.untag_resource(ResourceArn=arn, TagsToRemove=["a", "zzz"])
    assert glue.get_tags(ResourceArn=arn)["Tags"] == {"b": "2"}
    with pytest.raises(ClientError) as exc:
        glue.get_tags(ResourceArn=f"arn:aws:glue:us-east-1:123456789012:job/{name}-missing")
    assert code(exc) == "EntityNotFoundException"
    with pytest.raises(ClientError) as exc:
        glue.get_tags(ResourceArn="arn:aws:glue:eu-west-1:999999999999:job/x")
    assert code(exc) == "InvalidInputException"
    glue.delete_job(JobName=name)
    glue.create_job(**job(name, ok_script))
    assert glue.get_tags(ResourceArn=arn)["Tags"] == {}  # tags went with the job


def test_script_roots_keep_clients_to_their_folders(tmp_path_factory: pytest.TempPathFactory,
                                                    fresh_db_url: Any) -> None:
    from integration.api_fixtures import serve

    folder = tmp_path_factory.mktemp("roots")
    (folder / "scripts").mkdir()
    inside = folder / "scripts" / "ok.py"
    inside.write_text("print('ok')\n")
    with fresh_db_url("sqlite", folder) as url:
        for served in serve(url, folder, script_roots=str(folder / "scripts")):
            glue = served.client()
            glue.create_job(**job("inside", str(inside)))
            for location, args in ((str(folder / "scripts" / ".." / "elsewhere.py"), {}),
                                   ("/etc/passwd", {}),
                                   (str(inside), {"--extra-py-files": "/etc/hosts"})):
                with pytest.raises(ClientError) as exc:
                    glue.create_job(**job(unique("outside"), location, DefaultArguments=args))
                assert code(exc) == "InvalidInputException"
                assert "outside the script roots" in exc.value.response["Error"]["Message"]


def test_the_boto3_example_runs_against_the_server(served: Served) -> None:
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "boto3" / "pipeline.py"
    for attempt in (1, 2):  # the second run finds the definitions and updates them
        done = subprocess.run([sys.executable, str(example), "--endpoint-url", served.url],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (attempt, done.stdout, done.stderr)
        assert "COMPLETED: 2 of 2 jobs succeeded" in done.stdout
    glue = served.client()
    runs = glue.get_workflow_runs(Name="boto3-sales")["Runs"]
    assert len(runs) == 2 and all(r["Status"] == "COMPLETED" for r in runs)
