"""Service-level rules not tied to running jobs: workflow admission for scheduled/event starts,
engine checks at apply time, and notification sinks from a settings file."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest

from orchestrator import definitions, errors, runner, service, store
from orchestrator.settings import Settings


def test_a_non_direct_start_over_the_workflow_limit_records_an_error_run(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "ok.py").write_text("pass\n")
    data = {"Workflows": [{"Name": "once", "MaxConcurrentRuns": 1}],
            "Jobs": [{"Name": "j", "Command": {"ScriptLocation": "ok.py"}, "Workflow": "once"}]}
    service.apply(db, definitions.load_mapping(data, base_dir=tmp_path), settings)
    first = service.start_workflow_run(db, "once", direct=False)
    second = service.start_workflow_run(db, "once", direct=False)  # as a schedule or event would
    with pytest.raises(errors.ConcurrentRunsExceededException):
        service.start_workflow_run(db, "once")  # a direct start is refused instead
    assert service.get_workflow_run(db, "once", first)["Status"] == "RUNNING"
    refused = service.get_workflow_run(db, "once", second)
    assert refused["Status"] == "ERROR"
    assert refused["ErrorMessage"] == "Concurrent runs exceeded for workflow: once."
    assert [r["WorkflowRunId"] for r in service.get_workflow_runs(db, "once")].count(second) == 1


def test_an_engine_whose_extra_is_missing_fails_apply_and_writes_nothing(
    db: store.Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    (tmp_path / "t.py").write_text("pass\n")
    data = {"Jobs": [{"Name": "shell", "Command": {"ScriptLocation": "t.py"}},
                     {"Name": "r", "Command": {"Name": "glueray", "ScriptLocation": "t.py"}}]}
    with pytest.raises(errors.ValidationError) as caught:
        service.apply(db, definitions.load_mapping(data, base_dir=tmp_path), settings)
    assert "pip install 'adhere[ray]'" in str(caught.value)
    assert "Jobs[r].Command.Name" in str(caught.value)
    assert service.get_jobs(db) == []


def test_sinks_come_from_a_settings_file(db: store.Store, settings: Settings, tmp_path: Path) -> None:
    received = tmp_path / "events.jsonl"
    sink = tmp_path / "sink.py"
    sink.write_text(f"import sys\nopen({str(received)!r}, 'a').write(sys.stdin.read().strip() + '\\n')\n")
    sinks_file = tmp_path / "sinks.yaml"
    sinks_file.write_text(
        "notification_sinks:\n"
        f"  - {{type: command, name: file, argv: [{sys.executable!r}, {str(sink)!r}], "
        "detail_types: [Glue Job State Change]}\n"
    )
    (tmp_path / "ok.py").write_text("pass\n")
    data = {"Jobs": [{"Name": "j", "Command": {"ScriptLocation": "ok.py"}}]}
    service.apply(db, definitions.load_mapping(data, base_dir=tmp_path), settings)
    with_file = settings.model_copy(update={"notifications_file": sinks_file})
    run_id = service.start_job_run(db, "j")
    orch = runner.Orchestrator(with_file, db).start()
    try:
        deadline = time.monotonic() + 30
        while not received.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        orch.stop()
    [event] = [json.loads(line) for line in received.read_text().splitlines()]
    assert event["detail-type"] == "Glue Job State Change"
    assert event["detail"]["jobRunId"] == run_id
    assert event["detail"]["state"] == "SUCCEEDED"
    [recorded] = service.get_notifications(db)
    assert recorded["deliveries"] == {"file": {"ok": True, "error": None}}
