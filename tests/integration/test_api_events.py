"""Schedules, events and job bookmarks through the HTTP API with boto3, on SQLite and
PostgreSQL: EventBridge's PutEvents on the same server as Glue's API starting a workflow run, the
crawler schedule operations, StartTrigger/StopTrigger states, GetJobBookmark/ResetJobBookmark,
and the health endpoint."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest
from api_fixtures import Served, wait_for
from botocore.exceptions import ClientError


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_put_events_through_boto3_starts_the_workflow(served: Served) -> None:
    glue, events = served.client(), served.client("events")
    workflow, trigger, job = _unique("wf"), _unique("on-orders"), _unique("load")
    glue.create_workflow(Name=workflow)
    glue.create_job(Name=job, Role="r", Command={"Name": "pythonshell",
                                                  "ScriptLocation": served.script(f"{job}.py", "print('ok')\n")})
    # EventPattern is an adhere extension: botocore does not know it, so it comes in a file or,
    # as here, the trigger counts the events addressed to its workflow (an EventBridge target).
    glue.create_trigger(Name=trigger, WorkflowName=workflow, Type="EVENT", Actions=[{"JobName": job}],
                        EventBatchingCondition={"BatchSize": 2, "BatchWindow": 900})
    glue.start_trigger(Name=trigger)
    arn = f"arn:aws:glue:us-east-1:123456789012:workflow/{workflow}"
    entry = {"Source": "orders.app", "DetailType": "Order Placed", "Detail": json.dumps({"order": 1}),
             "Resources": [arn]}
    out = events.put_events(Entries=[entry, {**entry, "Detail": json.dumps({"order": 2})},
                                     {**entry, "Detail": "not json"}])
    assert out["FailedEntryCount"] == 1 and out["Entries"][2]["ErrorCode"] == "MalformedDetail"
    ids = [e["EventId"] for e in out["Entries"][:2]]
    runs = wait_for(lambda: glue.get_workflow_runs(Name=workflow)["Runs"])
    assert runs[0]["WorkflowRunProperties"]["aws:eventIds"] == f"[{ids[0]}, {ids[1]}]"
    assert runs[0]["StartingEventBatchCondition"] == {"BatchSize": 2, "BatchWindow": 0}
    with pytest.raises(ClientError) as refused:
        events.put_events(Entries=[entry] * 11)  # over EventBridge's 10: botocore lets it through
    assert refused.value.response["Error"]["Code"] in ("InvalidInputException", "ValidationException")
    with pytest.raises(ClientError) as unknown:
        events.list_rules()
    assert unknown.value.response["Error"]["Code"] == "UnknownOperationException"


def test_crawler_schedules_and_trigger_states_through_boto3(served: Served) -> None:
    glue = served.client()
    crawler, job, trigger = _unique("crawler"), _unique("job"), _unique("every-5")
    glue.create_crawler(Name=crawler, Role="r", DatabaseName="default", Schedule="cron(0/5 * * * ? *)",
                        Targets={"S3Targets": [{"Path": str(served.folder)}]})
    assert glue.get_crawler(Name=crawler)["Crawler"]["Schedule"] == {
        "ScheduleExpression": "cron(0/5 * * * ? *)", "State": "SCHEDULED"}
    glue.stop_crawler_schedule(CrawlerName=crawler)
    assert glue.get_crawler(Name=crawler)["Crawler"]["Schedule"]["State"] == "NOT_SCHEDULED"
    with pytest.raises(glue.exceptions.SchedulerNotRunningException):
        glue.stop_crawler_schedule(CrawlerName=crawler)
    glue.update_crawler_schedule(CrawlerName=crawler, Schedule="cron(15 12 * * ? *)")
    glue.start_crawler_schedule(CrawlerName=crawler)
    assert glue.get_crawler(Name=crawler)["Crawler"]["Schedule"] == {
        "ScheduleExpression": "cron(15 12 * * ? *)", "State": "SCHEDULED"}
    with pytest.raises(glue.exceptions.InvalidInputException) as bad:
        glue.update_crawler_schedule(CrawlerName=crawler, Schedule="cron(15 12 * * * *)")
    assert "day-of-month and day-of-week" in str(bad.value)
    glue.create_job(Name=job, Role="r", Command={"Name": "pythonshell", "ScriptLocation": served.script(
        f"{job}.py", "print('ok')\n")})
    glue.create_trigger(Name=trigger, Type="SCHEDULED", Schedule="cron(0/5 * * * ? *)", Actions=[{"JobName": job}])
    assert glue.get_trigger(Name=trigger)["Trigger"]["State"] == "CREATED"
    glue.start_trigger(Name=trigger)  # the serve's loop takes it up at once
    wait_for(lambda: glue.get_trigger(Name=trigger)["Trigger"]["State"] == "ACTIVATED")
    glue.stop_trigger(Name=trigger)
    wait_for(lambda: glue.get_trigger(Name=trigger)["Trigger"]["State"] == "DEACTIVATED")
    with pytest.raises(glue.exceptions.InvalidInputException, match="minimum interval"):
        glue.create_trigger(Name=_unique("often"), Type="SCHEDULED", Schedule="cron(* * * * ? *)",
                            Actions=[{"JobName": job}])


def test_the_health_endpoint(served: Served) -> None:
    with urllib.request.urlopen(f"{served.url}/health", timeout=10) as answer:
        report: dict[str, Any] = json.load(answer)
    assert answer.status == 200 and report["status"] == "ok" and report["loop"] == "running"


def test_job_bookmarks_through_boto3(served: Served) -> None:
    from orchestrator import job_run, store
    from orchestrator.service import bookmarks
    from orchestrator.states import JobRunState

    glue = served.client()
    name = _unique("load")
    glue.create_job(Name=name, Role="r", Command={"Name": "pythonshell", "ScriptLocation": served.script(
        f"{name}.py", "print('ok')\n")}, DefaultArguments={"--job-bookmark-option": "job-bookmark-enable"})
    with pytest.raises(glue.exceptions.EntityNotFoundException, match="Continuation for job"):
        glue.get_job_bookmark(JobName=name)
    with pytest.raises(glue.exceptions.InvalidInputException, match="job-bookmark-to"):
        glue.start_job_run(JobName=name, Arguments={"--job-bookmark-option": "job-bookmark-pause",
                                                    "--job-bookmark-from": "jr_x"})
    # A run's commit, as the job side stages it, promoted by its end (the loop is not involved).
    with served.db.transaction() as tx:
        [created] = job_run.create(tx, [job_run.Request(name)], direct=True)
        run_id = created.id
        store.job_runs.set_state(tx, run_id, JobRunState.RUNNING.value)
    bookmarks.commit_job_bookmark(served.db, name, run_id, 0, '{"c":{"kind":"files"}}')
    with served.db.transaction() as tx:
        run = store.job_runs.get(tx, run_id)
        assert run is not None
        job_run.complete(tx, run, JobRunState.SUCCEEDED)
    got = glue.get_job_bookmark(JobName=name)["JobBookmarkEntry"]
    assert (got["Version"], got["Run"], got["RunId"], got["JobBookmark"]) == (1, 1, run_id, '{"c":{"kind":"files"}}')
    reset = glue.reset_job_bookmark(JobName=name)["JobBookmarkEntry"]
    assert (reset["Version"], reset["Run"]) == (2, 1) and not reset.get("JobBookmark")
    rewound = glue.reset_job_bookmark(JobName=name, RunId=run_id)["JobBookmarkEntry"]
    assert rewound["Version"] == 3 and rewound["JobBookmark"] == '{"c":{"kind":"files"}}'
