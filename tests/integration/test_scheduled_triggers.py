"""Schedules, on SQLite and PostgreSQL: SCHEDULED triggers (a workflow's start trigger and a
standalone one) and crawler schedules fire once per tick, only while activated; a tick missed
while nothing ran fires once or not at all by the catch-up policy; rival loops fire a tick once;
standalone conditional triggers follow Glue's chain rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from driving import apply, job, orchestrating, settled, wait_for

from orchestrator import errors, store
from orchestrator.effects import Effects
from orchestrator.scheduled import Scheduled
from orchestrator.service import crawlers, job_runs, notifications, triggers, workflow_runs
from orchestrator.settings import Settings

EVERY_5 = "cron(0/5 * * * ? *)"


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def _step(db: store.Store, duty: Scheduled, at: dt.datetime) -> Effects:
    effects = Effects()
    with db.transaction() as tx:
        duty.step(tx, at, effects)
    return effects


def _baseline(db: store.Store, kind: str, name: str, at: dt.datetime) -> None:
    with db.transaction() as tx:
        store.schedules.reset(tx, kind, name, at)


def _scheduled_job(db: store.Store, folder: Path, **trigger: Any) -> None:
    (folder / "ok.py").write_text("print('ok')\n")
    apply(db, folder, Jobs=[job("nightly", "ok.py")], Triggers=[{
        "Name": "every-5", "Type": "SCHEDULED", "Schedule": EVERY_5, "StartOnCreation": True,
        "Actions": [{"JobName": "nightly", "Arguments": {"--mode": "scheduled"}}], **trigger}])


def _runs(db: store.Store, name: str = "nightly") -> list[dict[str, Any]]:
    return job_runs.get_job_runs(db, name)["JobRuns"]


def test_a_standalone_scheduled_trigger_starts_its_job_once_per_tick(db: store.Store, tmp_path: Path) -> None:
    _scheduled_job(db, tmp_path)
    _baseline(db, "trigger", "every-5", _at("2026-01-01T10:00:30"))
    duty = Scheduled(started=_at("2026-01-01T10:00:00"))
    _step(db, duty, _at("2026-01-01T10:04:59"))
    assert _runs(db) == [] and duty.next_due() == _at("2026-01-01T10:05:00").timestamp()
    _step(db, duty, _at("2026-01-01T10:05:00.2"))
    _step(db, duty, _at("2026-01-01T10:05:01"))  # the same tick again: nothing
    [run] = _runs(db)
    assert run["TriggerName"] == "every-5" and run["Arguments"] == {"--mode": "scheduled"}
    _step(db, duty, _at("2026-01-01T10:10:00"))
    assert len(_runs(db)) == 2


def test_rival_loops_fire_a_tick_once(db: store.Store, tmp_path: Path) -> None:
    _scheduled_job(db, tmp_path)
    _baseline(db, "trigger", "every-5", _at("2026-01-01T10:00:30"))
    one, two = Scheduled(started=_at("2026-01-01T10:00:00")), Scheduled(started=_at("2026-01-01T10:00:00"))
    for duty in (one, two, one):
        _step(db, duty, _at("2026-01-01T10:05:00"))
    assert len(_runs(db)) == 1


@pytest.mark.parametrize(("policy", "fired"), [("none", 0), ("latest", 1)])
def test_ticks_missed_while_nothing_ran_fire_once_or_not_at_all(db: store.Store, tmp_path: Path, policy: str,
                                                                fired: int) -> None:
    _scheduled_job(db, tmp_path)
    _baseline(db, "trigger", "every-5", _at("2026-01-01T10:00:30"))
    # Down from 10:01 to 11:02: twelve ticks were missed.
    duty = Scheduled(catch_up=policy, started=_at("2026-01-01T11:02:00"))
    _step(db, duty, _at("2026-01-01T11:02:00"))
    assert len(_runs(db)) == fired
    _step(db, duty, _at("2026-01-01T11:05:00"))  # the next tick is on time whatever the policy
    assert len(_runs(db)) == fired + 1


def test_only_activated_triggers_fire_and_starting_one_counts_from_then(db: store.Store, tmp_path: Path) -> None:
    _scheduled_job(db, tmp_path, StartOnCreation=False)
    duty = Scheduled(catch_up="latest", started=_at("2026-01-01T09:00:00"))
    _step(db, duty, _at("2026-01-01T10:05:00"))
    assert _runs(db) == []
    triggers.start_trigger(db, "every-5")
    assert triggers.get_trigger(db, "every-5")["Trigger"]["State"] == "ACTIVATING"
    _step(db, duty, _at("2026-01-01T10:07:00"))  # the loop takes it up: ticks count from now
    assert triggers.get_trigger(db, "every-5")["Trigger"]["State"] == "ACTIVATED" and _runs(db) == []
    _step(db, duty, _at("2026-01-01T10:10:00"))
    assert len(_runs(db)) == 1
    triggers.stop_trigger(db, "every-5")
    assert triggers.get_trigger(db, "every-5")["Trigger"]["State"] == "DEACTIVATING"
    _step(db, duty, _at("2026-01-01T10:15:00"))
    assert triggers.get_trigger(db, "every-5")["Trigger"]["State"] == "DEACTIVATED" and len(_runs(db)) == 1
    _step(db, duty, _at("2026-01-01T10:20:00"))
    assert len(_runs(db)) == 1


def test_reapplying_an_unchanged_trigger_keeps_its_state(db: store.Store, tmp_path: Path) -> None:
    _scheduled_job(db, tmp_path)
    triggers.stop_trigger(db, "every-5")
    state = triggers.get_trigger(db, "every-5")["Trigger"]["State"]
    _scheduled_job(db, tmp_path)
    assert state in ("DEACTIVATING", "DEACTIVATED")
    assert triggers.get_trigger(db, "every-5")["Trigger"]["State"] == state


def test_a_scheduled_start_over_the_jobs_limit_records_a_failed_run(db: store.Store, tmp_path: Path) -> None:
    _scheduled_job(db, tmp_path)
    _baseline(db, "trigger", "every-5", _at("2026-01-01T10:00:30"))
    duty = Scheduled(started=_at("2026-01-01T10:00:00"))
    _step(db, duty, _at("2026-01-01T10:05:00"))  # STARTING, never run here: it holds the slot
    _step(db, duty, _at("2026-01-01T10:10:00"))
    newest = _runs(db)[0]
    assert newest["JobRunState"] == "FAILED" and "Concurrent runs exceeded" in newest["ErrorMessage"]


def test_a_workflows_scheduled_start_trigger_starts_runs(db: store.Store, tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("print('ok')\n")
    apply(db, tmp_path, Workflows=[{"Name": "daily", "MaxConcurrentRuns": 1}], Jobs=[job("load", "ok.py")],
          Triggers=[{"Name": "at-5", "WorkflowName": "daily", "Type": "SCHEDULED", "Schedule": EVERY_5,
                     "StartOnCreation": True, "Actions": [{"JobName": "load"}]}])
    _baseline(db, "trigger", "at-5", _at("2026-01-01T10:00:30"))
    duty = Scheduled(started=_at("2026-01-01T10:00:00"))
    _step(db, duty, _at("2026-01-01T10:05:00"))
    _step(db, duty, _at("2026-01-01T10:10:00"))  # the first still runs: Glue records an ERROR run
    statuses = sorted(r["Status"] for r in workflow_runs.get_workflow_runs(db, "daily")["Runs"])
    assert statuses == ["ERROR", "RUNNING"]


def test_crawler_schedules_start_stop_and_fire(db: store.Store, settings: Settings, tmp_path: Path) -> None:
    crawler = {"Name": "nightly-crawl", "Role": "r", "DatabaseName": "raw", "Schedule": EVERY_5,
               "Targets": {"S3Targets": [{"Path": str(tmp_path)}]}}
    crawlers.create_crawler(db, settings, crawler)
    assert crawlers.get_crawler(db, "nightly-crawl")["Crawler"]["Schedule"] == {
        "ScheduleExpression": EVERY_5, "State": "SCHEDULED"}
    with pytest.raises(errors.SchedulerRunningException):
        crawlers.start_crawler_schedule(db, "nightly-crawl")
    crawlers.stop_crawler_schedule(db, "nightly-crawl")
    assert crawlers.get_crawler(db, "nightly-crawl")["Crawler"]["Schedule"]["State"] == "NOT_SCHEDULED"
    with pytest.raises(errors.SchedulerNotRunningException):
        crawlers.stop_crawler_schedule(db, "nightly-crawl")
    duty = Scheduled(started=_at("2026-01-01T10:00:00"))
    _baseline(db, "crawler", "nightly-crawl", _at("2026-01-01T10:00:30"))
    _step(db, duty, _at("2026-01-01T10:05:00"))
    assert crawlers.list_crawls(db, "nightly-crawl")["Crawls"] == []
    crawlers.start_crawler_schedule(db, "nightly-crawl")
    _baseline(db, "crawler", "nightly-crawl", _at("2026-01-01T10:05:30"))
    _step(db, duty, _at("2026-01-01T10:10:00"))
    assert [c["State"] for c in crawlers.list_crawls(db, "nightly-crawl")["Crawls"]] == ["RUNNING"]
    # The next tick finds it crawling: Glue's invocation failure event, not a failed crawl.
    _step(db, duty, _at("2026-01-01T10:15:00"))
    assert len(crawlers.list_crawls(db, "nightly-crawl")["Crawls"]) == 1
    kinds = [n["detail_type"] for n in notifications.get_notifications(db)]
    assert "Glue Scheduled Crawler Invocation Failure" in kinds
    crawlers.update_crawler_schedule(db, settings, "nightly-crawl", "cron(0 3 * * ? *)")
    assert crawlers.get_crawler(db, "nightly-crawl")["Crawler"]["Schedule"] == {
        "ScheduleExpression": "cron(0 3 * * ? *)", "State": "SCHEDULED"}
    with pytest.raises(errors.InvalidInputException, match="Schedule"):
        crawlers.update_crawler_schedule(db, settings, "nightly-crawl", "cron(0 3 * * * *)")
    with pytest.raises(errors.NoScheduleException):
        crawlers.create_crawler(db, settings, {**crawler, "Name": "unscheduled", "Schedule": None})
        crawlers.start_crawler_schedule(db, "unscheduled")


def test_next_fire_times(db: store.Store, settings: Settings, tmp_path: Path) -> None:
    _scheduled_job(db, tmp_path)
    found = triggers.next_fire_times(db, settings, "every-5", 3)
    times = found["FireTimes"]
    assert len(times) == 3 and all(t.minute % 5 == 0 and t.second == 0 for t in times)
    assert (times[1] - times[0]) == dt.timedelta(minutes=5) and times[0] > store.now()


def test_standalone_conditional_triggers_follow_the_chain_rule(db: store.Store, settings: Settings,
                                                               tmp_path: Path) -> None:
    """A chain a trigger started fires the conditional triggers watching it; a StartJobRun does not."""
    (tmp_path / "ok.py").write_text("print('ok')\n")
    apply(db, tmp_path, Jobs=[job("extract", "ok.py"), job("load", "ok.py")], Triggers=[
        {"Name": "kick", "Type": "ON_DEMAND", "Actions": [{"JobName": "extract"}]},
        {"Name": "then-load", "Type": "CONDITIONAL", "StartOnCreation": True,
         "Predicate": {"Conditions": [{"LogicalOperator": "EQUALS", "JobName": "extract", "State": "SUCCEEDED"}]},
         "Actions": [{"JobName": "load"}]}])
    with orchestrating(db, settings) as orch:
        direct = job_runs.start_job_run(db, "extract")
        wait_for(lambda: job_runs.get_job_run(db, "extract", direct)["JobRunState"] == "SUCCEEDED", orch=orch)
        triggers.start_trigger(db, "kick")
        orch.wake()
        wait_for(lambda: _runs(db, "load"), orch=orch, what="load started by the chain")
        wait_for(lambda: _runs(db, "load")[0]["JobRunState"] == "SUCCEEDED" and not orch.busy, orch=orch)
    wait_for(lambda: settled(db))
    [run] = _runs(db, "load")
    assert run["TriggerName"] == "then-load"
    chained = [r for r in _runs(db, "extract") if r["Id"] != direct]
    assert run["PredecessorRuns"] == [{"JobName": "extract", "RunId": chained[0]["Id"]}]


def test_0008_schedules_the_crawlers_saved_with_a_schedule_before_it(db: store.Store, settings: Settings,
                                                                     tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    crawler = {"Name": "old", "Role": "r", "DatabaseName": "raw", "Schedule": EVERY_5,
               "Targets": {"S3Targets": [{"Path": str(tmp_path)}]}}
    crawlers.create_crawler(db, settings, crawler)
    crawlers.create_crawler(db, settings, {**crawler, "Name": "unscheduled", "Schedule": None})
    config = Config(str(Path(store.__file__).resolve().parents[2] / "migrations" / "alembic.ini"))
    for revision in ("0007", "head"):
        with db.engine.begin() as conn:
            config.attributes["connection"] = conn
            (command.downgrade if revision == "0007" else command.upgrade)(config, revision)
    with db.read() as tx:
        found = store.schedules.all_of(tx)
    assert list(found) == [("crawler", "old")] and found[("crawler", "old")].state == "SCHEDULED"
    assert abs((found[("crawler", "old")].last_due_on - store.now()).total_seconds()) < 60
