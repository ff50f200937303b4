"""Schedules and events through `adhere serve` and the CLI, as users run them: `adhere events
put` from another process wakes the serve; an open batch survives kill -9; two serves on one
PostgreSQL store fire each tick and each batch once; a watched folder and an SQS queue of S3
notifications start workflows; trigger and schedule commands; the health endpoint; SIGTERM."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

WORKFLOW = """\
Workflows:
  - Name: ingest
Jobs:
  - Name: load
    Command: {{Name: pythonshell, ScriptLocation: job.py}}
Triggers:
  - Name: on-files
    WorkflowName: ingest
    Type: EVENT
    StartOnCreation: true
    EventBatchingCondition: {{BatchSize: {size}, BatchWindow: {window}}}
    EventPattern:
      source: [aws.s3]
      detail-type: [Object Created]
      detail: {{object: {{key: [{{suffix: .json}}]}}}}
    Actions: [{{JobName: load}}]
"""


def _entries(*keys: str, ids: bool = True) -> str:
    return json.dumps([{**({"Id": f"ev-{k}"} if ids else {}), "Source": "aws.s3", "DetailType": "Object Created",
                        "Detail": json.dumps({"bucket": {"name": "landing"}, "object": {"key": k}})} for k in keys])


def _runs(project: Any) -> list[tuple[str, str, str]]:
    return project.sql("SELECT id, status, run_properties FROM workflow_runs WHERE workflow_name = 'ingest'"
                       " ORDER BY started_on")


def _ids(run: tuple[str, str, Any]) -> str:
    props = run[2] if isinstance(run[2], dict) else json.loads(run[2])
    return props["aws:eventIds"]


def test_events_put_wakes_the_serve_and_starts_the_run(project: Any) -> None:
    project.job_script()
    project.apply(WORKFLOW.format(size=2, window=900))
    # A poll every 30 s: only the wake-up can start the run within the wait below.
    serve = project.spawn("serve", env={"ADHERE_POLL_INTERVAL": "30"})
    project.wait_for(lambda: project.serving(serve.pid), 20, "serve to register")
    project.write("events.json", _entries("a.json", "b.json"))
    out = project.json("events", "put", "--file", "events.json")
    assert out["FailedEntryCount"] == 0
    [run] = project.wait_for(lambda: _runs(project), 10, "the batch's run")
    assert _ids(run) == "[ev-a.json, ev-b.json]"
    project.wait_for(lambda: project.ledger()["load"] == 1, 20, "the job to run")
    listed = project.json("events", "list")["Events"]
    assert {(e["EventId"], e["State"], e["WorkflowRunId"]) for e in listed} == {
        ("ev-a.json", "CONSUMED", run[0]), ("ev-b.json", "CONSUMED", run[0])}
    with urllib.request.urlopen(f"http://127.0.0.1:{_port(project, serve)}/health", timeout=5) as answer:
        assert answer.status == 200 and json.load(answer)["status"] == "ok"
    assert project.terminate(serve) == 0
    assert any(json.loads(line).get("message") == "event batch fired"
               for line in _log(serve).splitlines() if line.startswith("{"))


def _log(serve: Any) -> str:
    return Path(serve.log).read_text()


def _port(project: Any, serve: Any) -> int:
    text = project.wait_for(lambda: "Glue's API on" in _log(serve) and _log(serve), 10, "the serve's port")
    return int(text.split("Glue's API on http://")[1].split()[0].rsplit(":", 1)[1])


def test_an_open_batch_survives_kill_9_and_fires_with_exactly_its_events(project: Any) -> None:
    project.job_script()
    project.apply(WORKFLOW.format(size=3, window=900))
    serve = project.serve()
    project.write("two.json", _entries("a.json", "b.json"))
    project.cli("events", "put", "--file", "two.json")
    time.sleep(0.5)
    os.killpg(serve.pid, signal.SIGKILL)
    serve.wait(10)
    project.write("more.json", _entries("b.json", "c.json"))  # b.json again: a duplicate
    project.cli("events", "put", "--file", "more.json")
    assert _runs(project) == []
    project.serve()
    [run] = project.wait_for(lambda: _runs(project), 20, "the batch's run after the restart")
    assert _ids(run) == "[ev-a.json, ev-b.json, ev-c.json]"
    states = {e["EventId"]: e["State"] for e in project.json("events", "list")["Events"]}
    assert states == {"ev-a.json": "CONSUMED", "ev-b.json": "CONSUMED", "ev-c.json": "CONSUMED"}


@pytest.mark.postgres
@pytest.mark.slow
def test_two_serves_fire_each_tick_and_each_batch_once(postgres_project: Any) -> None:
    project = postgres_project
    project.job_script()
    project.write("workflow.yaml", WORKFLOW.format(size=1, window=900).replace(
        "Triggers:", "  - Name: tick\n    Command: {Name: pythonshell, ScriptLocation: job.py}\nTriggers:") + """\
  - Name: every-minute
    Type: SCHEDULED
    Schedule: cron(* * * * ? *)
    StartOnCreation: true
    Actions: [{JobName: tick}]
""")
    env = {"ADHERE_MIN_SCHEDULE_INTERVAL": "0"}
    project.cli("apply", "workflow.yaml", env=env)
    serves = [project.spawn("serve", env=env) for _ in range(2)]
    project.wait_for(lambda: all(project.serving(s.pid) for s in serves), 20, "both serves")
    for batch in range(4):
        project.write(f"e{batch}.json", _entries(*(f"{batch}-{i}.json" for i in range(5))))
        project.cli("events", "put", "--file", f"e{batch}.json")
    project.wait_for(lambda: len(_runs(project)) >= 20, 30, "twenty runs")
    time.sleep(1)
    assert len(_runs(project)) == 20
    assert sorted(_ids(r) for r in _runs(project)) == sorted(f"[ev-{b}-{i}.json]" for b in range(4) for i in range(5))
    # The next minute's tick: one run, started within a second of it, whichever serve fired it.
    start = dt.datetime.now(dt.UTC)
    tick = start.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    project.wait_for(lambda: project.sql("SELECT created_on FROM job_runs WHERE job_name = 'tick'"),
                     75, "the scheduled tick")
    time.sleep(2)
    [(created,)] = project.sql("SELECT created_on FROM job_runs WHERE job_name = 'tick'")
    assert dt.timedelta(0) <= created - tick < dt.timedelta(seconds=1), (created, tick)


def test_a_watched_folder_starts_the_workflow(sqlite_project: Any) -> None:
    project = sqlite_project
    project.job_script()
    project.apply(WORKFLOW.format(size=2, window=900))
    landing = project.dir / "landing"
    landing.mkdir()
    (landing / "before.json").write_text("{}")  # landed while nothing watched: not lost
    project.spawn("serve", "--watch", str(landing))
    (landing / "ignored.csv").write_text("a,b\n")
    (landing / "after.json.part").write_text("{}")
    (landing / "after.json.part").rename(landing / "after.json")
    [run] = project.wait_for(lambda: _runs(project), 20, "the folder's batch")
    keys = sorted(json.loads(e)["detail"]["object"]["key"] for (e,) in project.sql(
        "SELECT envelope FROM received_events WHERE state = 'ROUTED'"))
    assert keys == ["after.json", "before.json"]
    assert _ids(run).count("ev-") == 0 and _ids(run).count(",") == 1
    dropped = project.json("events", "list", "--state", "DROPPED")["Events"]
    assert [json.loads(e[0])["detail"]["object"]["key"] for e in project.sql(
        "SELECT envelope FROM received_events WHERE state = 'DROPPED'")] == ["ignored.csv"] and len(dropped) == 1


def test_an_sqs_queue_of_s3_notifications_starts_the_workflow(sqlite_project: Any, s3_server: str) -> None:
    import boto3

    project = sqlite_project
    project.job_script()
    project.apply(WORKFLOW.format(size=1, window=900))
    sqs = boto3.client("sqs", endpoint_url=s3_server, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"landing-{time.monotonic_ns()}")["QueueUrl"]
    body = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                         "eventTime": "2026-12-04T10:00:00.000Z",
                         "s3": {"bucket": {"name": "landing"},
                                "object": {"key": "day%3D1/a.json", "size": 3, "eTag": "e", "sequencer": "01"}}}]}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))  # delivered twice: counts once
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")} | {"AWS_ENDPOINT_URL_SQS": s3_server}
    project.spawn("serve", "--sqs", url, env=env)
    [run] = project.wait_for(lambda: _runs(project), 30, "the queue's run")
    [(envelope,)] = project.sql("SELECT envelope FROM received_events")
    assert json.loads(envelope)["detail"]["object"]["key"] == "day=1/a.json"
    project.wait_for(lambda: int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
        "ApproximateNumberOfMessages"]) == 0, 20, "the messages deleted")
    assert len(_runs(project)) == 1 and run[1] in ("RUNNING", "COMPLETED")


def test_trigger_and_schedule_commands(sqlite_project: Any) -> None:
    project = sqlite_project
    project.job_script()
    project.apply("""\
Jobs:
  - Name: nightly
    Command: {Name: pythonshell, ScriptLocation: job.py}
Triggers:
  - Name: at-three
    Type: SCHEDULED
    Schedule: cron(0 3 ? * MON-FRI *)
    Actions: [{JobName: nightly}]
""")
    listed = project.cli("triggers").out
    assert "at-three" in listed and "cron(0 3 ? * MON-FRI *)" in listed and "CREATED" in listed
    assert project.json("trigger", "start", "at-three")["TriggerState"] == "ACTIVATING"
    times = project.json("next", "at-three", "-n", "3")["FireTimes"]
    parsed = [dt.datetime.fromisoformat(t) for t in times]
    assert len(parsed) == 3 and all(t.hour == 3 and t.minute == 0 and t.isoweekday() <= 5 for t in parsed)
    assert "at least one" not in project.cli("trigger", "stop", "at-three").out
    bad = project.cli("apply", str(project.write("bad.yaml", """\
Jobs:
  - Name: nightly
    Command: {Name: pythonshell, ScriptLocation: job.py}
Triggers:
  - Name: too-often
    Type: SCHEDULED
    Schedule: cron(* * * * ? *)
    Actions: [{JobName: nightly}]
""")), expect=1)
    assert "minimum interval" in bad.err + bad.out
    assert project.cli("events", "put", expect=1).code == 1


def test_sigterm_stops_the_serve_and_the_next_one_adopts_the_runs_under_way(project: Any) -> None:
    project.job_script()
    project.apply("""\
Workflows:
  - Name: slow
Jobs:
  - Name: nap
    Workflow: slow
    Command: {Name: pythonshell, ScriptLocation: job.py}
    DefaultArguments: {--sleep: "4"}
""")
    serve = project.serve()
    run_id = project.json("run", "slow", "--no-wait")["RunId"]
    project.wait_for(lambda: project.job_states(run_id).get("nap") == ["RUNNING"], 20, "the job to run")
    started = time.monotonic()
    assert project.terminate(serve) == 0 and time.monotonic() - started < 10
    assert project.job_states(run_id)["nap"] == ["RUNNING"]  # not stopped with the serve
    project.serve()
    project.wait_for(lambda: project.run_status(run_id) == "COMPLETED", 30, "the next serve to finish it")
    assert project.job_states(run_id)["nap"] == ["SUCCEEDED"] and project.ledger()["nap"] == 1


def test_the_landing_example_crawls_and_summarizes_each_batch(sqlite_project: Any) -> None:
    import shutil
    import subprocess
    import sys

    project = sqlite_project
    example = project.dir / "landing"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "landing", example)
    (example / "landing").mkdir()
    project.cli("apply", "landing/workflow.yaml")
    project.spawn("serve", "--watch", str(example / "landing"))
    completed = "SELECT id FROM workflow_runs WHERE workflow_name = 'landing' AND status = 'COMPLETED' ORDER BY started_on"
    for batch in (1, 2):
        subprocess.run([sys.executable, str(example / "drop_files.py"), "10"], check=True, capture_output=True)
        project.wait_for(lambda b=batch: len(project.sql(completed)) == b, 60, f"batch {batch}'s run to complete")
    _first, second = (row[0] for row in project.sql(completed))
    shown = project.json("show", second)["Run"]
    assert shown["StartingEventBatchCondition"] == {"BatchSize": 10, "BatchWindow": 0}
    assert project.final_states(shown) == {"summarize": "SUCCEEDED"}
    logs = project.cli("logs", second, "summarize").out
    assert "10 files" in logs and "table landing.landing" in logs
    # The crawler's first crawl lists everything (Glue's rule); the next reads only its batch's files.
    reads = [json.loads(summary)["read"] for (summary,) in project.sql("SELECT summary FROM crawls ORDER BY started_on")]
    assert reads[0]["mode"] != reads[1]["mode"] and reads[1]["events"] == 10, reads
