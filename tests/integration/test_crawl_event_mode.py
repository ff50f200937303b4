"""Crawlers with ``RecrawlPolicy: {RecrawlBehavior: CRAWL_EVENT_MODE}``, on SQLite and PostgreSQL:
the S3 events of an event-started workflow run name the folders its crawl lists, and only
those are written (new partitions and tables, partitions and tables updated), nothing deleted;
the first crawl lists everything and a crawl without events crawls nothing; events outside
the include path, excluded, hidden or not "Object Created" are ignored and logged; Glue's rules
for the mode (one target, no SampleSize); a resumed run crawls its original run's events; the
same on a moto S3 server.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from driving import apply, drive_workflow, orchestrating, wait_for
from integration.s3_fixtures import s3_client

from catalog import classifiers, crawl_events, crawl_options, crawl_process, crawler
from orchestrator import intake, store
from orchestrator.definitions import crawler_rules
from orchestrator.effects import Effects
from orchestrator.event_batches import EventBatches
from orchestrator.service import crawlers, triggers, workflow_runs
from orchestrator.settings import Settings
from orchestrator.sources import s3_events

EVENT_MODE = {"RecrawlBehavior": "CRAWL_EVENT_MODE"}
WHEN = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)

# --- trees and events ----------------------------------------------------------------------------


def jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def sale(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": i, "name": f"n{i}", "city": "Lyon", "amount": i * 1.5, **extra}


def lake(root: Path) -> Path:
    """lake/sales/year=2024/month={1,2}/part-0.json and lake/returns/year=2024/month=1/r.json."""
    for month in ("1", "2"):
        jsonl(root / "sales" / "year=2024" / f"month={month}" / "part-0.json", [sale(1), sale(2)])
    jsonl(root / "returns" / "year=2024" / "month=1" / "r.json", [{"order": 1, "reason": "broken"}])
    return root


def created(watched: Path, path: Path, event_id: str) -> dict[str, Any]:
    """S3's "Object Created" for ``path`` as adhere's folder source announces it from ``watched``."""
    size = path.stat().st_size if path.exists() else 1
    return s3_events.object_created(str(watched), path.relative_to(watched).as_posix(), size=size, time=WHEN,
                                    account="123456789012", region="us-east-1", resources=[watched.as_uri()],
                                    event_id=event_id)  # fmt: skip


def deleted(watched: Path, path: Path, event_id: str) -> dict[str, Any]:
    return s3_events.s3_event(s3_events.OBJECT_DELETED, str(watched), path.relative_to(watched).as_posix(),
                              time=WHEN, account="123456789012", region="us-east-1", event_id=event_id)  # fmt: skip


def changes(tmp_path: Path, root: Path) -> list[dict[str, Any]]:
    """Files written after the first crawl, and the S3 events of the run (six): a new partition,
    a new file in a catalogued partition, a new table's folder, an excluded file, a file outside
    the include path and a deletion. A file without an event and a partition removed from disk
    (``sales/.../month=2``) must not be looked at."""
    sales = root / "sales" / "year=2024"
    jsonl(sales / "month=3" / "part-0.json", [sale(3)])
    jsonl(sales / "month=1" / "part-1.json", [sale(4, extra="x")])
    jsonl(
        root / "refunds" / "year=2024" / "month=1" / "r.json",
        [{"refund": 1, "total": 2.5, "currency": "EUR"}],
    )
    jsonl(sales / "month=5" / "part-0.json.tmp", [sale(5)])  # excluded (its folder never read)
    jsonl(sales / "month=4" / "part-0.json", [sale(6)])  # no event names it
    jsonl(tmp_path / "elsewhere" / "x.json", [sale(7)])
    shutil.rmtree(sales / "month=2")
    return [
        created(tmp_path, sales / "month=3" / "part-0.json", "ev-new-partition"),
        created(tmp_path, sales / "month=1" / "part-1.json", "ev-existing-partition"),
        created(tmp_path, root / "refunds" / "year=2024" / "month=1" / "r.json", "ev-new-table"),
        created(tmp_path, sales / "month=5" / "part-0.json.tmp", "ev-excluded"),
        created(tmp_path, tmp_path / "elsewhere" / "x.json", "ev-outside"),
        deleted(tmp_path, sales / "month=2" / "part-0.json", "ev-deleted"),
    ]


# --- crawling and reading back -------------------------------------------------------------------


def definition(path: Path | str, name: str = "c", **extra: Any) -> dict[str, Any]:
    target = {"Path": str(path), "Exclusions": ["**.tmp"], **extra.pop("target", {})}
    return {"Name": name, "Role": "r", "DatabaseName": "lake", "Targets": {"S3Targets": [target]},
            "RecrawlPolicy": EVENT_MODE, **extra}  # fmt: skip


def run(db: store.Store, crawl_def: Mapping[str, Any], events: Sequence[Mapping[str, Any]] | None,
        crawl_id: str = "run-1") -> tuple[crawler.Summary, list[str]]:  # fmt: skip
    lines: list[str] = []
    summary = crawler.crawl(db, crawl_def, crawl_id=crawl_id, log=lines.append, events=events)
    return summary, lines


def tables(db: store.Store) -> dict[str, dict[str, Any]]:
    with db.read() as tx:
        return {t.name: t.definition for t in store.catalog.find_tables(tx, "lake")}


def partitions(db: store.Store, table: str) -> dict[tuple[str, ...], dict[str, Any]]:
    with db.read() as tx:
        row = store.catalog.get_table(tx, "lake", table)
        assert row is not None
        return {tuple(p.values): p.definition for p in store.catalog.find_partitions(tx, row)}


def columns(definition: Mapping[str, Any]) -> list[str]:
    return [c["Name"] for c in definition["StorageDescriptor"]["Columns"]]


def counts(summary: crawler.Summary | Mapping[str, Any]) -> tuple[int, ...]:
    names = ("tables_created", "tables_updated", "tables_deleted", "partitions_created", "partitions_updated",
             "partitions_deleted")  # fmt: skip
    if isinstance(summary, Mapping):
        return tuple(summary[n] for n in names)
    return tuple(getattr(summary, n) for n in names)


@pytest.fixture
def classified(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The keys of the files classified during the test (small crawls classify in-process)."""
    seen: list[str] = []
    real = classifiers.classify

    def counting(file: classifiers.Readable) -> classifiers.Classification:
        seen.append(file.key)
        return real(file)

    monkeypatch.setattr(classifiers, "classify", counting)
    yield seen


# --- the crawl -----------------------------------------------------------------------------------


def test_events_name_the_only_folders_crawled(
    db: store.Store, tmp_path: Path, classified: list[str]
) -> None:
    root = lake(tmp_path / "lake")
    summary, lines = run(db, definition(root), None)  # the first crawl lists everything
    assert counts(summary) == (2, 0, 0, 3, 0, 0) and summary.read["mode"] == "everything"
    assert any("not running in S3 event mode" in line for line in lines)
    before_tables, before_sales = tables(db), partitions(db, "sales")
    classified.clear()
    envelopes = [*changes(tmp_path, root), {"id": "ev-glue", "source": "aws.glue", "detail-type": "Glue Job State Change",
                                            "detail": {"jobName": "j"}}]  # fmt: skip

    summary, lines = run(db, definition(root), envelopes, "run-2")

    assert "The crawl is running by consuming Amazon S3 events." in lines
    assert "crawled 3 objects in 3 folders from 7 events" in lines
    assert sorted(classified) == ["refunds/year=2024/month=1/r.json", "sales/year=2024/month=1/part-0.json",
                                  "sales/year=2024/month=1/part-1.json", "sales/year=2024/month=3/part-0.json"]  # fmt: skip
    assert counts(summary) == (1, 1, 0, 2, 1, 0)
    assert summary.read == {
        "mode": "events", "events": 7, "objects": 3, "folders": 3, "files_listed": 4, "files_classified": 4,
        "files_skipped": 0, "leaf_folders": 3,
        "ignored_events": {"excluded by the target's Exclusions": 1, "not an S3 Object Created event": 2,
                           "not below the include path": 1}}  # fmt: skip
    for reason in ("part-0.json.tmp: excluded by the target's Exclusions", "x.json: not below the include path",
                   "aws.s3 'Object Deleted': not an S3 Object Created event"):  # fmt: skip
        assert any(reason in line for line in lines), reason
    found = tables(db)
    assert sorted(found) == ["refunds", "returns", "sales"]
    assert found["returns"] == before_tables["returns"]  # not looked at
    assert [k["Name"] for k in found["refunds"]["PartitionKeys"]] == ["year", "month"]
    assert found["refunds"]["StorageDescriptor"]["Location"] == f"file://{root}/refunds/"
    sales = partitions(db, "sales")
    assert sorted(sales) == [("2024", "1"), ("2024", "2"), ("2024", "3")]  # no month=4, no month=5
    assert sales[("2024", "2")] == before_sales[("2024", "2")]  # gone from disk, kept as it was
    assert sales[("2024", "1")]["Parameters"]["objectCount"] == "2"  # crawled again: both files
    assert columns(sales[("2024", "1")]) == ["id", "name", "city", "amount", "extra"]
    table = found["sales"]
    assert columns(table) == ["id", "name", "city", "amount", "extra"]  # merged in, nothing dropped
    # the table counts what it holds: month=1's two files, month=2's as catalogued, month=3's
    assert (table["Parameters"]["objectCount"], table["Parameters"]["recordCount"]) == ("4", "6")
    assert "DEPRECATED_BY_CRAWLER" not in json.dumps(found) + json.dumps(list(sales.values()))


def test_without_events_nothing_is_crawled_and_a_full_crawl_deletes_as_usual(db: store.Store, tmp_path: Path,
                                                                             classified: list[str]) -> None:  # fmt: skip
    root = lake(tmp_path / "lake")
    run(db, definition(root), None)
    classified.clear()
    jsonl(root / "sales" / "year=2024" / "month=9" / "part-0.json", [sale(9)])
    summary, lines = run(db, definition(root), [], "run-2")
    assert counts(summary) == (0, 0, 0, 0, 0, 0) and classified == []
    assert summary.read["events"] == 0 and summary.read["files_listed"] == 0
    assert "0 events name 0 objects in 0 folders to crawl" in lines
    assert "crawled 0 objects in 0 folders from 0 events" in lines
    shutil.rmtree(root / "sales" / "year=2024" / "month=2")
    # listing mode: a full crawl, with the crawler's DeleteBehavior
    summary, _ = run(db, definition(root), None, "run-3")
    # month=9 added; month=2 deprecated; the table's statistics updated
    assert counts(summary) == (0, 1, 0, 1, 0, 1)
    assert "DEPRECATED_BY_CRAWLER" in partitions(db, "sales")[("2024", "2")]["Parameters"]


def test_an_unpartitioned_table_is_crawled_whole_and_a_misfit_folder_is_skipped(
    db: store.Store, tmp_path: Path
) -> None:
    root = tmp_path / "lake"
    jsonl(root / "ref" / "a.json", [{"code": "x", "label": "y"}])
    jsonl(root / "sales" / "year=2024" / "month=1" / "p.json", [sale(1)])
    run(db, definition(root, SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE"}), None)
    jsonl(root / "ref" / "b.json", [{"code": "z", "label": "w", "lang": "fr"}])
    jsonl(root / "sales" / "year=2024" / "stray.json", [sale(2)])  # not at the partitions' depth
    events = [created(tmp_path, root / "ref" / "b.json", "e1"),
              created(tmp_path, root / "sales" / "year=2024" / "stray.json", "e2")]  # fmt: skip
    summary, lines = run(db, definition(root), events, "run-2")
    assert counts(summary) == (0, 1, 0, 0, 0, 0)
    ref = tables(db)["ref"]
    assert columns(ref) == ["code", "label", "lang"] and ref["Parameters"]["objectCount"] == "2"
    assert any(
        "skipped folder" in line and "not at the depth of table sales's partitions" in line
        for line in lines
    )
    assert len(partitions(db, "sales")) == 1


def test_update_behavior_log_creates_and_only_logs_changes(db: store.Store, tmp_path: Path) -> None:
    root = lake(tmp_path / "lake")
    logged = definition(
        root, SchemaChangePolicy={"UpdateBehavior": "LOG", "DeleteBehavior": "DELETE_FROM_DATABASE"}
    )
    run(db, logged, None)
    before = tables(db)["sales"]
    envelopes = changes(tmp_path, root)
    summary, lines = run(db, logged, envelopes, "run-2")
    assert counts(summary) == (1, 0, 0, 2, 0, 0)  # new table and partitions only; nothing deleted
    assert tables(db)["sales"] == before
    assert "table sales: schema changed (UpdateBehavior LOG: not updated)" in lines
    assert sorted(partitions(db, "sales")) == [("2024", "1"), ("2024", "2"), ("2024", "3")]


def test_an_include_path_through_a_symbolic_link_matches_the_watched_real_folder(
    db: store.Store, tmp_path: Path
) -> None:
    real = lake(tmp_path / "real")
    (tmp_path / "link").symlink_to(real)
    run(db, definition(tmp_path / "link"), None)
    jsonl(real / "sales" / "year=2024" / "month=8" / "p.json", [sale(8)])
    event = created(
        real, real / "sales" / "year=2024" / "month=8" / "p.json", "e1"
    )  # the folder source resolves
    summary, _ = run(db, definition(tmp_path / "link"), [event], "run-2")
    assert summary.partitions_created == 1 and ("2024", "8") in partitions(db, "sales")


# --- Glue's rules for the mode -------------------------------------------------------------------


@pytest.mark.parametrize(("targets", "says"), [
    ({"S3Targets": [{"Path": "/a"}, {"Path": "/b"}]}, "supports a single target"),
    ({"S3Targets": [{"Path": "/a"}], "CatalogTargets": [{"DatabaseName": "d", "Tables": ["t"]}]},
     "supports a single target"),
    ({"S3Targets": [{"Path": "/a", "SampleSize": 3}]}, "does not support Amazon S3 sampling"),
    ({"S3Targets": [{"Path": "s3://%"}]}, "wildcard s3://%"),
    ({"JdbcTargets": [{"ConnectionName": "pg", "Path": "db/%"}]}, "not JdbcTargets"),
])  # fmt: skip
def test_what_glue_refuses_for_the_mode(targets: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        crawler_rules.check_recrawl(targets, EVENT_MODE)
    # other modes: no rule
    crawler_rules.check_recrawl(targets, {"RecrawlBehavior": "CRAWL_EVERYTHING"})
    if set(targets) == {"S3Targets"}:  # the crawl checks them too (other kinds: not crawled here)
        with pytest.raises(crawl_options.CrawlError, match=says):
            crawl_options.Options.from_glue(
                {"Name": "c", "Targets": targets, "RecrawlPolicy": EVENT_MODE}
            )


def test_the_mode_keeps_the_crawlers_schema_change_policy() -> None:
    policy = {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DELETE_FROM_DATABASE"}
    options = crawl_options.Options.from_glue(definition("/data", SchemaChangePolicy=policy))
    assert (options.recrawl, options.update, options.delete) == (
        "CRAWL_EVENT_MODE",
        *policy.values(),
    )


def test_a_file_as_include_path_is_refused(db: store.Store, tmp_path: Path) -> None:
    jsonl(tmp_path / "one.json", [sale(1)])
    with pytest.raises(crawler.CrawlError, match="CRAWL_EVENT_MODE crawls a folder, not one file"):
        run(db, definition(tmp_path / "one.json"), None)


def test_object_urls_of_local_folders_and_buckets() -> None:
    assert (
        crawl_events.object_url(created(Path("/srv/in"), Path("/srv/in/a b/c.json"), "x"))
        == "file:///srv/in/a b/c.json"
    )
    bucket = s3_events.object_created(
        "landing", "raw/c.json", size=1, time=WHEN, account="1", region="r"
    )
    assert crawl_events.object_url(bucket) == "s3://landing/raw/c.json"
    assert crawl_events.object_url({"detail": {"bucket": {"name": "b"}}}) is None


# --- crawls of event-started workflow runs, run by the loop ------------------------------------


def _crawl_row(db: store.Store, crawl_id: str) -> store.crawls.Crawl:
    with db.read() as tx:
        found = store.crawls.get(tx, crawl_id)
    assert found is not None
    return found


def _started_crawl(db: store.Store, settings: Settings) -> store.crawls.Crawl:
    """StartCrawler, run to its end by a loop."""
    crawlers.start_crawler(db, "c")
    with db.read() as tx:
        crawl_id = store.crawls.active(tx, ["c"])["c"].id
    with orchestrating(db, settings) as orch:
        wait_for(
            lambda: _crawl_row(db, crawl_id).state not in store.crawls.ACTIVE,
            60,
            orch,
            "the crawl's end",
        )
        wait_for(lambda: not orch.busy, 10, orch)
    return _crawl_row(db, crawl_id)


def _logs(db: store.Store, settings: Settings, crawl_id: str) -> str:
    return "\n".join(crawlers.get_crawl_logs(db, settings, crawl_id))


def test_a_crawl_in_an_event_started_run_crawls_its_events(db: store.Store, settings: Settings,
                                                           tmp_path: Path) -> None:  # fmt: skip
    root = lake(tmp_path / "lake")
    trigger = {"Name": "on-files", "WorkflowName": "ingest", "Type": "EVENT",
               "EventPattern": {"source": ["aws.s3"]}, "EventBatchingCondition": {"BatchSize": 6},
               "Actions": [{"CrawlerName": "c"}]}  # fmt: skip
    apply(
        db,
        tmp_path,
        Workflows=[{"Name": "ingest"}],
        Crawlers=[definition(root)],
        Triggers=[trigger],
    )
    triggers.start_trigger(db, "on-files")

    first = _started_crawl(db, settings)  # no crawl succeeded yet: the whole target
    assert first.state == "SUCCEEDED" and first.summary is not None
    assert first.summary["read"]["mode"] == "everything" and first.summary["tables_created"] == 2
    assert "not running in S3 event mode" in _logs(db, settings, first.id)
    alone = _started_crawl(db, settings)  # StartCrawler: no events, nothing crawled
    assert alone.state == "SUCCEEDED" and alone.summary is not None
    assert alone.summary["read"]["events"] == 0 and counts(alone.summary) == (0, 0, 0, 0, 0, 0)

    envelopes = changes(tmp_path, root)
    with db.transaction() as tx:
        intake.receive(tx, envelopes)
    with db.transaction() as tx:
        EventBatches().step(tx, store.now(), Effects())
    [wf_run] = workflow_runs.get_workflow_runs(db, "ingest")["Runs"]
    run_id = wf_run["WorkflowRunId"]
    done = drive_workflow(db, settings, run_id, timeout=90)
    assert done["Status"] == "COMPLETED"
    with db.read() as tx:
        [crawl] = store.crawls.of_workflow_run(tx, run_id)
    assert crawl.state == "SUCCEEDED" and crawl.summary is not None, crawl
    assert counts(crawl.summary) == (1, 1, 0, 2, 1, 0)
    assert {k: crawl.summary["read"][k] for k in ("mode", "events", "objects", "folders")} == {
        "mode": "events",
        "events": 6,
        "objects": 3,
        "folders": 3,
    }
    log = _logs(db, settings, crawl.id)
    assert "crawled 3 objects in 3 folders from 6 events" in log
    assert "ev-outside" in log and "not below the include path" in log
    assert sorted(partitions(db, "sales")) == [("2024", "1"), ("2024", "2"), ("2024", "3")]
    assert "refunds" in tables(db)


def test_a_resumed_run_crawls_the_events_of_the_run_it_resumes(db: store.Store, settings: Settings,
                                                               tmp_path: Path) -> None:  # fmt: skip
    root = lake(tmp_path / "lake")
    trigger = {"Name": "on-files", "WorkflowName": "ingest", "Type": "EVENT",
               "EventPattern": {"source": ["aws.s3"]}, "EventBatchingCondition": {"BatchSize": 2},
               "Actions": [{"CrawlerName": "c"}]}  # fmt: skip
    apply(
        db,
        tmp_path,
        Workflows=[{"Name": "ingest"}],
        Crawlers=[definition(root)],
        Triggers=[trigger],
    )
    triggers.start_trigger(db, "on-files")
    assert _started_crawl(db, settings).state == "SUCCEEDED"
    month = root / "sales" / "year=2024" / "month=7"
    jsonl(month / "a.json", [sale(1)])
    jsonl(month / "b.json", [sale(2)])
    with db.transaction() as tx:
        intake.receive(
            tx,
            [created(tmp_path, month / "a.json", "r1"), created(tmp_path, month / "b.json", "r2")],
        )
    with db.transaction() as tx:
        EventBatches().step(tx, store.now(), Effects())
    [wf_run] = workflow_runs.get_workflow_runs(db, "ingest")["Runs"]
    away = tmp_path / "away"
    root.rename(away)  # the include path is gone: the crawl fails
    first = drive_workflow(db, settings, wf_run["WorkflowRunId"], timeout=90)
    node = next(n for n in first["Graph"]["Nodes"] if n["Type"] == "CRAWLER")
    assert node["CrawlerDetails"]["Crawls"][0]["State"] == "FAILED"
    away.rename(root)
    resumed = workflow_runs.resume_workflow_run(
        db, None, wf_run["WorkflowRunId"], [node["UniqueId"]]
    )
    done = drive_workflow(db, settings, resumed["RunId"], timeout=90)
    assert done["Status"] == "COMPLETED"
    with db.read() as tx:
        [crawl] = store.crawls.of_workflow_run(tx, resumed["RunId"])
    assert crawl.state == "SUCCEEDED" and crawl.summary is not None, crawl
    assert crawl.summary["read"]["events"] == 2 and crawl.summary["read"]["objects"] == 2
    assert partitions(db, "sales")[("2024", "7")]["Parameters"]["objectCount"] == "2"


def test_an_updated_crawler_lists_everything_again(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    """Glue: after an update of properties that may affect the crawl, it runs in listing mode."""
    root = lake(tmp_path / "lake")
    crawlers.create_crawler(db, settings, definition(root))
    stamp = store.now()
    with db.transaction() as tx:
        store.crawls.insert(
            tx, store.crawls.Crawl("cr_done", "c", None, None, "SUCCEEDED", None, stamp, stamp)
        )
        store.crawls.insert(
            tx, store.crawls.Crawl("cr_now", "c", None, None, "RUNNING", None, stamp, None)
        )

    def events() -> list[dict[str, Any]] | None:
        with db.read() as tx:
            now, row = store.crawls.get(tx, "cr_now"), store.definitions.get(tx, "crawler", "c")
            assert now is not None and row is not None
            return crawl_process._events(tx, now, row)

    assert events() == []  # a crawl succeeded since the crawler was created: events (none)
    with db.transaction() as tx:
        store.crawls.end(tx, "cr_now", "CANCELLED")
    crawlers.update_crawler(db, settings, {"Name": "c", "Description": "changed"})
    with db.transaction() as tx:
        store.crawls.insert(
            tx, store.crawls.Crawl("cr_next", "c", None, None, "RUNNING", None, store.now(), None)
        )
    with db.read() as tx:
        later, row = store.crawls.get(tx, "cr_next"), store.definitions.get(tx, "crawler", "c")
        assert later is not None and row is not None
        assert crawl_process._events(tx, later, row) is None  # listing mode


# --- S3 ------------------------------------------------------------------------------------------


def test_the_same_on_s3(
    db: store.Store, s3_server: str, s3_bucket: str, classified: list[str]
) -> None:
    client = s3_client(s3_server)

    def put(key: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        body = "".join(json.dumps(row) + "\n" for row in rows).encode()
        client.put_object(Bucket=s3_bucket, Key=key, Body=body)
        return s3_events.object_created(
            s3_bucket, key, size=len(body), time=WHEN, account="1", region="us-east-1"
        )

    for month in ("1", "2"):
        put(f"t/sales/year=2024/month={month}/part-0.json", [sale(1), sale(2)])
    path = f"s3://{s3_bucket}/t/sales"
    assert counts(run(db, definition(path), None)[0]) == (1, 0, 0, 2, 0, 0)
    classified.clear()
    events = [put("t/sales/year=2025/month=1/part-0.json", [sale(3)]),
              put("t/sales/year=2024/month=1/part-1.json", [sale(4)]),
              put("t/other/x.json", [sale(5)])]  # fmt: skip
    put("t/sales/year=2025/month=2/part-0.json", [sale(6)])  # no event
    summary, lines = run(db, definition(path), events, "run-2")
    assert "crawled 2 objects in 2 folders from 3 events" in lines
    assert sorted(classified) == ["year=2024/month=1/part-0.json", "year=2024/month=1/part-1.json",
                                  "year=2025/month=1/part-0.json"]  # fmt: skip
    assert counts(summary) == (0, 1, 0, 1, 1, 0)
    found = partitions(db, "sales")
    assert sorted(found) == [("2024", "1"), ("2024", "2"), ("2025", "1")]
    assert found[("2025", "1")]["StorageDescriptor"]["Location"] == f"{path}/year=2025/month=1/"
