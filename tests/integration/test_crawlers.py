"""Crawlers as Glue runs them, on SQLite and PostgreSQL: the crawler operations and their
errors, crawls run by the loop in processes of their own (success, failure, stop, a crawl of a
dead orchestrator), crawlers as nodes of workflows, and their "Glue Crawler State Change" events.

What a crawl writes into the catalog is tested in test_crawler.py; here the data is a small
folder of JSON lines, enough for a table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from driving import apply, drive_workflow, job, orchestrating, settled, wait_for

from orchestrator import errors, store
from orchestrator.service import crawlers, notifications, workflow_runs
from orchestrator.settings import Settings

CRAWLER_EVENT = "Glue Crawler State Change"


def _data(folder: Path, rows: int = 3) -> Path:
    (folder / "data" / "year=2024").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "year=2024" / "part-0.json").write_text(
        "".join(json.dumps({"id": i, "name": f"n{i}"}) + "\n" for i in range(rows)))
    return folder / "data"


def _crawler(name: str, path: Path | str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Role": "r", "DatabaseName": "raw", "Targets": {"S3Targets": [{"Path": str(path)}]}, **extra}


def _crawls(db: store.Store, name: str) -> list[dict[str, Any]]:
    return crawlers.list_crawls(db, name)["Crawls"]


def _ended(db: store.Store, name: str) -> dict[str, Any] | None:
    found = _crawls(db, name)
    return found[0] if found and found[0]["State"] != "RUNNING" else None


# --- the operations ------------------------------------------------------------------------------


def test_a_crawler_is_created_read_listed_updated_and_deleted(db: store.Store, settings: Settings,
                                                            tmp_path: Path) -> None:
    crawlers.create_crawler(db, settings, _crawler("c1", tmp_path, Tags={"team": "data"}))
    with pytest.raises(errors.AlreadyExistsException):
        crawlers.create_crawler(db, settings, _crawler("c1", tmp_path))
    got = crawlers.get_crawler(db, "c1")["Crawler"]
    assert got["State"] == "READY" and "LastCrawl" not in got
    assert got["SchemaChangePolicy"] == {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DEPRECATE_IN_DATABASE"}
    assert got["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_EVERYTHING"}
    crawlers.create_crawler(db, settings, _crawler("c2", tmp_path))
    assert crawlers.list_crawlers(db, tags={"team": "data"})["CrawlerNames"] == ["c1"]
    assert [c["Name"] for c in crawlers.get_crawlers(db)["Crawlers"]] == ["c1", "c2"]
    page = crawlers.get_crawlers(db, max_results=1)
    assert [c["Name"] for c in page["Crawlers"]] == ["c1"]
    assert [c["Name"] for c in crawlers.get_crawlers(db, page["NextToken"], 1)["Crawlers"]] == ["c2"]
    assert crawlers.batch_get_crawlers(db, ["c2", "nope"])["CrawlersNotFound"] == ["nope"]
    crawlers.update_crawler(db, settings, {"Name": "c1", "TablePrefix": "p_"})
    updated = crawlers.get_crawler(db, "c1")["Crawler"]
    assert updated["TablePrefix"] == "p_" and updated["DatabaseName"] == "raw"  # the rest stays
    crawlers.delete_crawler(db, "c1")
    with pytest.raises(errors.EntityNotFoundException):
        crawlers.get_crawler(db, "c1")
    with pytest.raises(errors.EntityNotFoundException):
        crawlers.delete_crawler(db, "c1")


def test_one_crawl_at_a_time_and_glue_errors_for_starts_and_stops(db: store.Store, settings: Settings,
                                                                  tmp_path: Path) -> None:
    crawlers.create_crawler(db, settings, _crawler("c", tmp_path))
    with pytest.raises(errors.EntityNotFoundException):
        crawlers.start_crawler(db, "nope")
    with pytest.raises(errors.CrawlerNotRunningException):
        crawlers.stop_crawler(db, "c")
    crawlers.start_crawler(db, "c")
    with db.transaction() as tx:  # as if a loop had taken it
        assert store.crawls.claim_unowned(tx, "someone", 1)
    assert crawlers.get_crawler(db, "c")["Crawler"]["State"] == "RUNNING"
    with pytest.raises(errors.CrawlerRunningException, match="has already started"):
        crawlers.start_crawler(db, "c")
    for refused in (lambda: crawlers.update_crawler(db, settings, {"Name": "c", "TablePrefix": "x"}),
                    lambda: crawlers.delete_crawler(db, "c")):
        with pytest.raises(errors.CrawlerRunningException):
            refused()
    crawlers.stop_crawler(db, "c")
    assert crawlers.get_crawler(db, "c")["Crawler"]["State"] == "STOPPING"
    with pytest.raises(errors.CrawlerStoppingException):
        crawlers.stop_crawler(db, "c")
    assert [c["State"] for c in _crawls(db, "c")] == ["RUNNING"]  # ListCrawls shows a stopping crawl RUNNING


def test_the_unique_index_keeps_one_crawl_under_way_whoever_writes(db: store.Store, settings: Settings,
                                                                  tmp_path: Path) -> None:
    """Two writers that both found no crawl under way (the race the index settles)."""
    crawlers.create_crawler(db, settings, _crawler("c", tmp_path))
    first = store.crawls.Crawl("cr_1", "c", None, None, "RUNNING", None, store.now(), None)
    second = store.crawls.Crawl("cr_2", "c", None, None, "RUNNING", None, store.now(), None)
    with db.transaction() as tx:
        assert store.crawls.insert_if_idle(tx, first)
        assert not store.crawls.insert_if_idle(tx, second)
        ended = store.crawls.end(tx, "cr_1", "SUCCEEDED")
        assert ended is not None and ended.state == "SUCCEEDED"
        assert store.crawls.insert_if_idle(tx, second)  # ended crawls do not count


def test_list_crawls_filters(db: store.Store, settings: Settings, tmp_path: Path) -> None:
    crawlers.create_crawler(db, settings, _crawler("c", tmp_path))
    with db.transaction() as tx:
        for i, state in enumerate(("SUCCEEDED", "FAILED", "CANCELLED")):
            store.crawls.insert(tx, store.crawls.Crawl(f"cr_{i}", "c", None, None, state, None, store.now(),
                                                       store.now()))

    def ids(*filters: dict[str, Any]) -> list[str]:
        return sorted(c["CrawlId"] for c in crawlers.list_crawls(db, "c", filters)["Crawls"])

    assert ids({"FieldName": "STATE", "FilterOperator": "EQ", "FieldValue": "COMPLETED"}) == ["cr_0"]
    assert ids({"FieldName": "STATE", "FilterOperator": "NE", "FieldValue": "COMPLETED"}) == ["cr_1", "cr_2"]
    assert ids({"FieldName": "CRAWL_ID", "FilterOperator": "EQ", "FieldValue": "cr_2"}) == ["cr_2"]
    assert ids({"FieldName": "START_TIME", "FilterOperator": "GT", "FieldValue": "2000-01-01T00:00:00Z"}) == [
        "cr_0", "cr_1", "cr_2"]
    assert ids({"FieldName": "DPU_HOUR", "FilterOperator": "GT", "FieldValue": "1"}) == []
    assert [c["State"] for c in crawlers.list_crawls(db, "c")["Crawls"]] == ["STOPPED", "FAILED", "COMPLETED"]
    with pytest.raises(errors.InvalidInputException, match="STATE filters"):
        ids({"FieldName": "STATE", "FilterOperator": "LT", "FieldValue": "COMPLETED"})
    with pytest.raises(errors.InvalidInputException, match="not a time"):
        ids({"FieldName": "END_TIME", "FilterOperator": "LT", "FieldValue": "yesterday"})


# --- crawls run by the loop -------------------------------------------------------------------------


def test_a_crawl_runs_writes_its_table_and_announces_itself(db: store.Store, settings: Settings,
                                                           tmp_path: Path) -> None:
    crawlers.create_crawler(db, settings, _crawler("c", _data(tmp_path)))
    crawlers.start_crawler(db, "c")
    with orchestrating(db, settings) as orch:
        crawl = wait_for(lambda: _ended(db, "c"), 60, orch, "the crawl's end")
        wait_for(lambda: not orch.busy, 10, orch)
    assert crawl["State"] == "COMPLETED", crawl
    assert json.loads(json.loads(crawl["Summary"])["TABLE"]["ADD"])["Count"] == 1
    from orchestrator.service import tables

    table = tables.get_table(db, settings, "raw", "data")["Table"]
    assert table["PartitionKeys"] == [{"Name": "year", "Type": "string"}]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["id", "name"]
    got = crawlers.get_crawler(db, "c")["Crawler"]
    assert got["State"] == "READY" and got["LastCrawl"]["Status"] == "SUCCEEDED"
    wait_for(lambda: settled(db), 10)
    events = [n for n in notifications.get_notifications(db) if n["detail_type"] == CRAWLER_EVENT]
    assert sorted(n["state"] for n in events) == ["Started", "Succeeded"]
    done = next(n["event"]["detail"] for n in events if n["state"] == "Succeeded")
    assert done["crawlerName"] == "c" and done["tablesCreated"] == "1" and done["partitionsCreated"] == "1"
    metrics = crawlers.get_crawler_metrics(db, ["c"])["CrawlerMetricsList"][0]
    assert metrics["TablesCreated"] == 1 and metrics["LastRuntimeSeconds"] > 0


def test_a_crawl_that_cannot_list_its_target_fails_with_the_reason(db: store.Store, settings: Settings,
                                                                  tmp_path: Path) -> None:
    crawlers.create_crawler(db, settings, _crawler("c", tmp_path / "missing"))
    crawlers.start_crawler(db, "c")
    with orchestrating(db, settings) as orch:
        crawl = wait_for(lambda: _ended(db, "c"), 60, orch, "the crawl's end")
    assert crawl["State"] == "FAILED" and "missing" in crawl["ErrorMessage"]
    assert crawlers.get_crawler(db, "c")["Crawler"]["LastCrawl"]["Status"] == "FAILED"


def test_a_stopped_crawl_is_cancelled_and_writes_nothing(db: store.Store, settings: Settings, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADHERE_CRAWL_START_DELAY", "30")  # a crawl that takes a while, in its own process
    crawlers.create_crawler(db, settings, _crawler("c", _data(tmp_path)))
    crawlers.start_crawler(db, "c")
    with orchestrating(db, settings) as orch:
        wait_for(lambda: _process_of(db, "c"), 30, orch, "the crawl's process")
        crawlers.stop_crawler(db, "c")
        orch.wake()
        crawl = wait_for(lambda: _ended(db, "c"), 20, orch, "the crawl's end")
    assert crawl["State"] == "STOPPED"
    assert crawlers.get_crawler(db, "c")["Crawler"]["LastCrawl"]["Status"] == "CANCELLED"
    assert not _database_exists(db, settings)  # the crawl would have created it with its table


def test_a_crawl_stopped_before_any_loop_took_it_is_cancelled_at_once(db: store.Store, settings: Settings,
                                                                     tmp_path: Path) -> None:
    crawlers.create_crawler(db, settings, _crawler("c", tmp_path))
    crawlers.start_crawler(db, "c")
    crawlers.stop_crawler(db, "c")
    assert [c["State"] for c in _crawls(db, "c")] == ["STOPPED"]
    assert crawlers.get_crawler(db, "c")["Crawler"]["State"] == "READY"


def _process_of(db: store.Store, name: str) -> str | None:
    with db.read() as tx:
        found = store.crawls.active(tx, [name]).get(name)
    return found.process if found else None


def _database_exists(db: store.Store, settings: Settings) -> bool:
    from orchestrator.service import databases

    try:
        databases.get_database(db, settings, "raw")
    except errors.EntityNotFoundException:
        return False
    return True


def test_a_crawl_of_a_dead_orchestrator_fails(db: store.Store, settings: Settings, tmp_path: Path) -> None:
    crawlers.create_crawler(db, settings, _crawler("c", tmp_path))
    stamp = store.now()
    with db.transaction() as tx:
        store.orchestrators.register(tx, "gone:1:x", "elsewhere", 1, True)
        store.crawls.insert(tx, store.crawls.Crawl("cr_lost", "c", None, None, "RUNNING", None, stamp, None,
                                                   owner="gone:1:x"))
        store.orchestrators.unregister(tx, "gone:1:x")
    with orchestrating(db, settings) as orch:
        crawl = wait_for(lambda: _ended(db, "c"), 30, orch, "recovery")
    assert crawl["State"] == "FAILED" and "orchestrator" in crawl["ErrorMessage"]


# --- crawlers in workflows -------------------------------------------------------------------------


def test_a_crawler_node_runs_and_its_crawl_state_starts_the_next_job(db: store.Store, settings: Settings,
                                                                    tmp_path: Path) -> None:
    script = tmp_path / "report.py"
    script.write_text("print('report')\n")
    apply(db, tmp_path, Workflows=[{"Name": "wf"}], Jobs=[job("report", str(script))],
          Crawlers=[_crawler("catalog_raw", _data(tmp_path))],
          Triggers=[
              {"Name": "go", "WorkflowName": "wf", "Type": "ON_DEMAND", "Actions": [{"CrawlerName": "catalog_raw"}]},
              {"Name": "after", "WorkflowName": "wf", "Type": "CONDITIONAL", "StartOnCreation": True,
               "Predicate": {"Conditions": [{"LogicalOperator": "EQUALS", "CrawlerName": "catalog_raw",
                                             "CrawlState": "SUCCEEDED"}]},
               "Actions": [{"JobName": "report"}]},
          ])
    run_id = workflow_runs.start_workflow_run(db, "wf")
    run = drive_workflow(db, settings, run_id, timeout=90)
    assert run["Status"] == "COMPLETED"
    nodes = {n["Name"]: n for n in run["Graph"]["Nodes"] if n["Type"] in ("JOB", "CRAWLER")}
    assert nodes["catalog_raw"]["CrawlerDetails"]["Crawls"][0]["State"] == "SUCCEEDED"
    assert nodes["report"]["JobDetails"]["JobRuns"][0]["JobRunState"] == "SUCCEEDED"


def test_a_trigger_starting_a_crawler_already_crawling_records_its_crawl_failed(
        db: store.Store, settings: Settings, tmp_path: Path) -> None:
    apply(db, tmp_path, Workflows=[{"Name": "wf"}], Crawlers=[_crawler("c", tmp_path)],
          Triggers=[{"Name": "go", "WorkflowName": "wf", "Type": "ON_DEMAND", "Actions": [{"CrawlerName": "c"}]}])
    crawlers.start_crawler(db, "c")  # crawling on its own, not claimed by any loop
    run_id = workflow_runs.start_workflow_run(db, "wf")
    run = drive_workflow(db, settings, run_id)
    assert run["Status"] == "COMPLETED"
    node = next(n for n in run["Graph"]["Nodes"] if n["Type"] == "CRAWLER")
    crawl = node["CrawlerDetails"]["Crawls"][0]
    assert crawl["State"] == "FAILED" and "has already started" in crawl["ErrorMessage"]


def test_a_failed_crawler_node_is_resumed_with_what_follows_it(db: store.Store, settings: Settings,
                                                               tmp_path: Path) -> None:
    script = tmp_path / "report.py"
    script.write_text("print('report')\n")
    apply(db, tmp_path, Workflows=[{"Name": "wf"}], Jobs=[job("report", str(script))],
          Crawlers=[_crawler("c", tmp_path / "later")],
          Triggers=[
              {"Name": "go", "WorkflowName": "wf", "Type": "ON_DEMAND", "Actions": [{"CrawlerName": "c"}]},
              {"Name": "after", "WorkflowName": "wf", "Type": "CONDITIONAL", "StartOnCreation": True,
               "Predicate": {"Conditions": [{"LogicalOperator": "EQUALS", "CrawlerName": "c",
                                             "CrawlState": "SUCCEEDED"}]},
               "Actions": [{"JobName": "report"}]},
          ])
    first = drive_workflow(db, settings, workflow_runs.start_workflow_run(db, "wf"), timeout=60)
    crawled = next(n for n in first["Graph"]["Nodes"] if n["Type"] == "CRAWLER")
    assert crawled["CrawlerDetails"]["Crawls"][0]["State"] == "FAILED"
    _data(tmp_path / "later")  # the data arrives
    resumed = workflow_runs.resume_workflow_run(db, None, first["WorkflowRunId"], [crawled["UniqueId"]])
    run = drive_workflow(db, settings, resumed["RunId"], timeout=60)
    nodes = {n["Name"]: n for n in run["Graph"]["Nodes"] if n["Type"] in ("JOB", "CRAWLER")}
    assert nodes["c"]["CrawlerDetails"]["Crawls"][-1]["State"] == "SUCCEEDED"
    assert nodes["report"]["JobDetails"]["JobRuns"][0]["JobRunState"] == "SUCCEEDED"
