"""EVENT triggers, on SQLite and PostgreSQL: events stored once by id and routed by EventPattern,
batches that fire by size and by window (StartingEventBatchCondition, aws:eventIds, the payloads
for the run's jobs), every event's fate visible, MaxConcurrentRuns (an ERROR run, or waiting for
a slot), and one workflow started by another's job finishing."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from driving import apply, job, wait_for

from orchestrator import errors, runner, store
from orchestrator.effects import Effects
from orchestrator.event_batches import EventBatches
from orchestrator.service import events, triggers, workflow_runs
from orchestrator.settings import Settings

S3_PATTERN = {"source": ["aws.s3"], "detail-type": ["Object Created"],
              "detail": {"object": {"key": [{"suffix": ".json"}]}}}


def _event(key: str, event_id: str | None = None) -> dict[str, Any]:
    entry = {"Source": "aws.s3", "DetailType": "Object Created",
             "Detail": json.dumps({"bucket": {"name": "landing"}, "object": {"key": key, "size": 10}})}
    return {**entry, "Id": event_id} if event_id else entry


def _workflow(db: store.Store, folder: Path, *, size: int = 2, window: int | None = None, limit: int | None = None,
              pattern: dict[str, Any] | None = S3_PATTERN, **extra: Any) -> None:
    (folder / "ok.py").write_text("print('ok')\n")
    condition = {"BatchSize": size, **({"BatchWindow": window} if window else {})}
    trigger = {"Name": "on-files", "WorkflowName": "ingest", "Type": "EVENT", "EventBatchingCondition": condition,
               "Actions": [{"JobName": "load"}], **({"EventPattern": pattern} if pattern else {}), **extra}
    apply(db, folder, Workflows=[{"Name": "ingest", **({"MaxConcurrentRuns": limit} if limit else {})}],
          Jobs=[job("load", "ok.py")], Triggers=[trigger])


def _step(db: store.Store, duty: EventBatches, at: Any = None) -> Effects:
    effects = Effects()
    with db.transaction() as tx:
        duty.step(tx, at or store.now(), effects)
    return effects


def _runs(db: store.Store) -> list[dict[str, Any]]:
    return workflow_runs.get_workflow_runs(db, "ingest")["Runs"]


def _fates(db: store.Store, **filters: Any) -> list[tuple[str, str, str | None]]:
    return sorted((e["EventId"], e["State"], e.get("TriggerName")) for e in events.list_events(db, **filters)["Events"])


def test_a_full_batch_starts_one_run_with_its_events(db: store.Store, settings: Settings, tmp_path: Path) -> None:
    _workflow(db, tmp_path, size=2)
    triggers.start_trigger(db, "on-files")
    out = events.put_events(db, settings, [_event("a.json", "e1"), _event("b.csv", "e2"), _event("c.json", "e3"),
                                           _event("d.json", "e4")])
    assert out["FailedEntryCount"] == 0 and [e["EventId"] for e in out["Entries"]] == ["e1", "e2", "e3", "e4"]
    duty = EventBatches()
    _step(db, duty)
    [run_a] = [r for r in _runs(db)]
    assert run_a["StartingEventBatchCondition"] == {"BatchSize": 2, "BatchWindow": 0}
    assert run_a["WorkflowRunProperties"]["aws:eventIds"] == "[e1, e3]"
    assert events.get_workflow_run_events(db, run_a["WorkflowRunId"])["Events"][1]["detail"]["object"]["key"] == "c.json"
    assert _fates(db) == [("e1", "CONSUMED", "on-files"), ("e2", "DROPPED", None), ("e3", "CONSUMED", "on-files"),
                          ("e4", "WAITING", "on-files")]
    dropped = events.list_events(db, state="DROPPED")["Events"][0]
    assert "no EVENT trigger counts it" in dropped["Reason"]
    consumed = events.list_events(db, state="CONSUMED")["Events"]
    assert {e["WorkflowRunId"] for e in consumed} == {run_a["WorkflowRunId"]}


def test_a_duplicate_delivery_counts_once(db: store.Store, settings: Settings, tmp_path: Path) -> None:
    _workflow(db, tmp_path, size=2)
    triggers.start_trigger(db, "on-files")
    events.put_events(db, settings, [_event("a.json", "same")])
    events.put_events(db, settings, [_event("a.json", "same"), _event("a.json", "same")])
    _step(db, EventBatches())
    assert _runs(db) == [] and _fates(db) == [("same", "WAITING", "on-files")]


def test_the_window_fires_what_waits_when_it_expires(db: store.Store, settings: Settings, tmp_path: Path) -> None:
    _workflow(db, tmp_path, size=5, window=60)
    triggers.start_trigger(db, "on-files")
    events.put_events(db, settings, [_event("a.json", "w1"), _event("b.json", "w2")])
    duty = EventBatches()
    _step(db, duty)
    assert _runs(db) == []
    opened = store.now()
    assert duty.next_due() == pytest.approx(opened.timestamp() + 60, abs=2)
    _step(db, duty, at=opened + dt.timedelta(seconds=61))
    [run] = _runs(db)
    assert run["StartingEventBatchCondition"] == {"BatchSize": 0, "BatchWindow": 60}
    assert run["WorkflowRunProperties"]["aws:eventIds"] == "[w1, w2]"


def test_events_for_a_trigger_not_activated_are_dropped_with_the_reason(db: store.Store, settings: Settings,
                                                                        tmp_path: Path) -> None:
    _workflow(db, tmp_path, size=1)
    events.put_events(db, settings, [_event("a.json", "x1")])  # CREATED: never started
    triggers.start_trigger(db, "on-files")
    events.put_events(db, settings, [_event("b.json", "x2")])
    triggers.stop_trigger(db, "on-files")  # what waits is dropped too
    _step(db, EventBatches())
    assert _runs(db) == []
    found = {e["EventId"]: e for e in events.list_events(db)["Events"]}
    assert found["x1"]["State"] == "DROPPED" and "is CREATED, not ACTIVATED" in found["x1"]["Reason"]
    assert found["x2"]["State"] == "DROPPED" and "StopTrigger" in found["x2"]["Reason"]


def test_a_workflow_at_its_limit_gets_an_error_run_or_the_batch_waits(db: store.Store, settings: Settings,
                                                                      tmp_path: Path) -> None:
    _workflow(db, tmp_path, size=1, limit=1)
    triggers.start_trigger(db, "on-files")
    events.put_events(db, settings, [_event("a.json", "l1"), _event("b.json", "l2")])
    _step(db, EventBatches())
    runs = {r["WorkflowRunProperties"]["aws:eventIds"]: r for r in _runs(db)}
    assert runs["[l1]"]["Status"] == "RUNNING" and runs["[l2]"]["Status"] == "ERROR"
    [refused] = events.list_events(db, event_id="l2")["Events"]
    assert refused["State"] == "DROPPED" and "Concurrent runs exceeded" in refused["Reason"]
    assert refused["WorkflowRunId"] == runs["[l2]"]["WorkflowRunId"]


def test_a_batch_can_wait_for_a_run_slot(db: store.Store, settings: Settings, tmp_path: Path) -> None:
    _workflow(db, tmp_path, size=1, limit=1, WaitForRunSlot=True)
    triggers.start_trigger(db, "on-files")
    events.put_events(db, settings, [_event("a.json", "s1"), _event("b.json", "s2")])
    duty = EventBatches()
    _step(db, duty)
    [first] = _runs(db)
    assert first["WorkflowRunProperties"]["aws:eventIds"] == "[s1]" and duty.next_due() is not None
    assert _fates(db, event_id="s2") == [("s2", "WAITING", "on-files")]
    workflow_runs.stop_workflow_run(db, "ingest", first["WorkflowRunId"])
    with runner_loop(db, settings):  # the stop completes; the waiting batch gets the slot
        wait_for(lambda: len(_runs(db)) == 2, what="the waiting batch's run")
    assert _fates(db, event_id="s2")[0][1] == "CONSUMED"


def test_an_event_pattern_that_is_not_eventbridge_is_refused(db: store.Store, tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidInputException, match="EventPattern"):
        _workflow(db, tmp_path, pattern={"source": "aws.s3"})


def test_put_events_refuses_bad_entries_one_by_one(db: store.Store, settings: Settings) -> None:
    out = events.put_events(db, settings, [
        {"Source": "s", "DetailType": "d", "Detail": "{not json"},
        {"Source": "", "DetailType": "d", "Detail": "{}"},
        {"Source": "s", "DetailType": "d", "Detail": "[1]"},
        {"Source": "s", "DetailType": "d", "Detail": "{}"},
    ])
    assert out["FailedEntryCount"] == 3
    assert [e.get("ErrorCode") for e in out["Entries"][:3]] == ["MalformedDetail", "InvalidArgument", "MalformedDetail"]
    assert "EventId" in out["Entries"][3]
    with pytest.raises(errors.InvalidInputException, match="at most 10"):
        events.put_events(db, settings, [{"Source": "s", "DetailType": "d", "Detail": "{}"}] * 11)


def test_one_workflow_starts_when_another_ones_job_succeeds(db: store.Store, settings: Settings,
                                                           tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("print('ok')\n")
    pattern = {"source": ["aws.glue"], "detail-type": ["Glue Job State Change"],
               "detail": {"jobName": ["extract"], "state": ["SUCCEEDED"]}}
    apply(db, tmp_path, Workflows=[{"Name": "upstream"}, {"Name": "downstream"}],
          Jobs=[job("extract", "ok.py"), job("report", "ok.py")],
          Triggers=[{"Name": "go", "WorkflowName": "upstream", "Type": "ON_DEMAND", "Actions": [{"JobName": "extract"}]},
                    {"Name": "after-extract", "WorkflowName": "downstream", "Type": "EVENT", "StartOnCreation": True,
                     "EventPattern": pattern, "EventBatchingCondition": {"BatchSize": 1},
                     "Actions": [{"JobName": "report"}]}])
    with runner_loop(db, settings):
        workflow_runs.start_workflow_run(db, "upstream")
        run = wait_for(lambda: (workflow_runs.get_workflow_runs(db, "downstream")["Runs"] or [None])[0],
                       what="the downstream run")
        wait_for(lambda: workflow_runs.workflow_run_status(db, run["WorkflowRunId"]) == "COMPLETED")
    [event] = events.get_workflow_run_events(db, run["WorkflowRunId"])["Events"]
    assert event["detail"]["jobName"] == "extract" and event["detail"]["state"] == "SUCCEEDED"


@contextlib.contextmanager
def runner_loop(db: store.Store, settings: Settings) -> Iterator[runner.Orchestrator]:
    """A serving orchestrator (schedules and event batches are a serve's duties)."""
    orch = runner.Orchestrator(settings, db, serving=True).start()
    try:
        yield orch
    finally:
        orch.stop()
    assert orch.error is None, repr(orch.error)


def test_the_runs_jobs_read_the_whole_events_of_their_batch(db: store.Store, settings: Settings,
                                                             tmp_path: Path) -> None:
    _workflow(db, tmp_path, size=2)
    (tmp_path / "ok.py").write_text(
        "import json, pathlib\nfrom orchestrator import runtime\n"
        f"pathlib.Path({str(tmp_path / 'keys.json')!r}).write_text("
        "json.dumps([e['detail']['object']['key'] for e in runtime.events()]))\n")
    triggers.start_trigger(db, "on-files")
    with runner_loop(db, settings):
        events.put_events(db, settings, [_event("a.json", "p1"), _event("b.json", "p2")])
        wait_for(lambda: (tmp_path / "keys.json").exists(), what="the job's output")
    assert json.loads((tmp_path / "keys.json").read_text()) == ["a.json", "b.json"]


def test_events_list_pages_never_split_an_events_lines(db: store.Store, settings: Settings, tmp_path: Path) -> None:
    _workflow(db, tmp_path, size=100)
    apply(db, tmp_path, Workflows=[{"Name": "audit"}], Jobs=[job("load", "ok.py")], Triggers=[{
        "Name": "audit-files", "WorkflowName": "audit", "Type": "EVENT", "StartOnCreation": True,
        "EventPattern": S3_PATTERN, "EventBatchingCondition": {"BatchSize": 100}, "Actions": [{"JobName": "load"}]}])
    triggers.start_trigger(db, "on-files")
    events.put_events(db, settings, [_event(f"{i}.json", f"n{i}") for i in range(5)])
    seen: list[tuple[str, str | None]] = []
    token = None
    while True:
        page = events.list_events(db, max_results=3, next_token=token)
        seen += [(e["EventId"], e.get("TriggerName")) for e in page["Events"]]
        if not (token := page.get("NextToken")):
            break
    assert sorted(seen) == sorted((f"n{i}", t) for i in range(5) for t in ("audit-files", "on-files"))
