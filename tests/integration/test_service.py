"""Service-level rules not tied to running jobs: workflow admission for scheduled/event starts,
engine checks before anything is applied, and notification sinks from a settings file."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from driving import apply, is_final, orchestrating, wait_for

from orchestrator import errors, store
from orchestrator.service import definitions as service_definitions
from orchestrator.service import job_runs, jobs, notifications, workflow_runs
from orchestrator.settings import Settings


def test_a_non_direct_start_over_the_workflow_limit_records_an_error_run(
    db: store.Store, tmp_path: Path
) -> None:
    (tmp_path / "ok.py").write_text("pass\n")
    apply(db, tmp_path, Workflows=[{"Name": "once", "MaxConcurrentRuns": 1}],
          Jobs=[{"Name": "j", "Command": {"ScriptLocation": "ok.py"}, "Workflow": "once"}])  # fmt: skip
    first = workflow_runs.start_workflow_run(db, "once", direct=False)
    second = workflow_runs.start_workflow_run(
        db, "once", direct=False
    )  # as a schedule or event would
    with pytest.raises(errors.ConcurrentRunsExceededException):
        workflow_runs.start_workflow_run(db, "once")  # a direct start is refused instead
    assert workflow_runs.get_workflow_run(db, "once", first)["Status"] == "RUNNING"
    refused = workflow_runs.get_workflow_run(db, "once", second)
    assert refused["Status"] == "ERROR"
    assert refused["ErrorMessage"] == "Concurrent runs exceeded for workflow: once."
    assert refused["CompletedOn"] == refused["StartedOn"]
    assert sorted(
        r["WorkflowRunId"] for r in workflow_runs.get_workflow_runs(db, "once")["Runs"]
    ) == sorted([first, second])
    with db.read() as tx:  # the refused run starts nothing: no start event for the scheduler
        assert not store.outbox.has_unprocessed(tx, second)
        assert store.outbox.has_unprocessed(tx, first)


def test_an_engine_whose_extra_is_missing_fails_validation_and_nothing_is_applied(
    db: store.Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    (tmp_path / "t.py").write_text("pass\n")
    path = tmp_path / "defs.json"
    path.write_text(json.dumps({"Jobs": [
        {"Name": "shell", "Command": {"ScriptLocation": "t.py"}},
        {"Name": "r", "Command": {"Name": "glueray", "ScriptLocation": "t.py"}}]}))  # fmt: skip
    with pytest.raises(errors.ValidationError) as caught:
        service_definitions.validate([path], settings)  # what `adhere apply` calls first
    assert "pip install 'adhere[ray]'" in str(caught.value)
    assert [p.where for p in caught.value.problems] == ["Jobs[r].Command.Name"]
    assert jobs.get_jobs(db)["Jobs"] == []


def test_sinks_come_from_a_settings_file(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    received = tmp_path / "events.jsonl"
    sink = tmp_path / "sink.py"
    sink.write_text(
        f"import sys\nopen({str(received)!r}, 'a').write(sys.stdin.read().strip() + '\\n')\n"
    )
    sinks_file = tmp_path / "sinks.yaml"
    sinks_file.write_text(
        "notification_sinks:\n"
        f"  - {{type: command, name: file, argv: [{sys.executable!r}, {str(sink)!r}], "
        "detail_types: [Glue Job State Change]}\n"
    )
    (tmp_path / "ok.py").write_text("pass\n")
    apply(db, tmp_path, Jobs=[{"Name": "j", "Command": {"ScriptLocation": "ok.py"}}])
    with_file = settings.replace(notifications_file=sinks_file)
    run_id = job_runs.start_job_run(db, "j")
    with orchestrating(db, with_file) as orch:
        wait_for(lambda: is_final(db, run_id), 20, orch, "the run's end")
    # The loop has stopped: its notifier delivered what it published, and the outcome is recorded.
    [event] = [json.loads(line) for line in received.read_text().splitlines()]
    assert event["detail-type"] == "Glue Job State Change"
    assert (event["detail"]["jobRunId"], event["detail"]["state"]) == (run_id, "SUCCEEDED")
    [recorded] = notifications.get_notifications(db)
    assert recorded["id"] == event["id"]
    assert recorded["deliveries"] == {"file": {"ok": True, "error": None}}
