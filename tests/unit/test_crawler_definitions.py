"""Crawlers in definition files and CreateCrawler requests: targets, Configuration and the
recrawl rules Glue enforces, each refused with what is wrong; relative paths resolved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator import errors
from orchestrator.definitions import loading


def _crawler(**extra: Any) -> dict[str, Any]:
    return {"Name": "c", "Role": "r", "Targets": {"S3Targets": [{"Path": "data/raw"}]}, **extra}


def _problems(**extra: Any) -> str:
    with pytest.raises(errors.ValidationError) as info:
        loading.load_mapping({"Crawlers": [_crawler(**extra)]}, Path("/defs"))
    return str(info.value)


def test_a_relative_local_path_is_relative_to_the_file_and_urls_stay() -> None:
    targets = {"S3Targets": [{"Path": "data/raw"}, {"Path": "s3://bucket/x/"}, {"Path": "file:///srv/y"},
                             {"Path": "/abs/z"}]}
    defs = loading.load_mapping({"Crawlers": [_crawler(Targets=targets)]}, Path("/defs"))
    assert [t["Path"] for t in defs.crawlers[0].targets["S3Targets"]] == [
        "/defs/data/raw", "s3://bucket/x/", "file:///srv/y", "/abs/z"]
    model, _ = loading.load_request("crawler", _crawler(), base_dir=Path("/api"))
    assert model.targets["S3Targets"][0]["Path"] == "/api/data/raw"


@pytest.mark.parametrize(("extra", "says"), [
    ({"Targets": {}}, "at least one target"),
    ({"Targets": {"S3Targets": [{"Exclusions": ["*.tmp"]}]}}, "S3Targets[0] needs a Path"),
    ({"Configuration": "{not json"}, "JSON object"),
    ({"Configuration": "[1]"}, "JSON object"),
    ({"Configuration": '{"Version": 1.0, "Grouping": {"TableGroupingPolicy": "Whatever"}}'}, "CombineCompatibleSchemas"),
    ({"Configuration": '{"Version": 1.0, "Grouping": {"TableLevelConfiguration": 0}}'}, "at least 1"),
    ({"Configuration": '{"CrawlerOutput": {"Tables": {"TableThreshold": "5"}}}'}, "whole number"),
    ({"Configuration": '{"CrawlerOutput": {"Tables": {"AddOrUpdateBehavior": "Replace"}}}'}, "MergeNewColumns"),
])
def test_what_glue_refuses_is_refused_with_the_reason(extra: dict[str, Any], says: str) -> None:
    assert says in _problems(**extra)


def test_incremental_crawls_with_log_policies_and_a_documented_configuration_load() -> None:
    config = ('{"Version": 1.0, "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas", '
              '"TableLevelConfiguration": 2}, "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": '
              '"InheritFromTable"}, "Tables": {"AddOrUpdateBehavior": "MergeNewColumns", "TableThreshold": 10}}}')
    defs = loading.load_mapping({"Crawlers": [_crawler(
        RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}, Configuration=config,
        SchemaChangePolicy={"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"})]}, Path("/defs"))
    assert defs.crawlers[0].configuration == config


def test_an_incremental_crawler_with_update_policies_loads_with_a_note() -> None:
    defs = loading.load_mapping({"Crawlers": [_crawler(
        RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"},
        SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"})]}, Path("/defs"))
    assert any("acts as LOG" in n.message for n in defs.notes)


def test_targets_adhere_does_not_crawl_are_kept_and_noted() -> None:
    targets = {"S3Targets": [{"Path": "/d"}], "JdbcTargets": [{"ConnectionName": "pg", "Path": "db/%"}]}
    defs = loading.load_mapping({"Crawlers": [_crawler(Targets=targets)]}, Path("/defs"))
    assert defs.crawlers[0].targets["JdbcTargets"] == targets["JdbcTargets"]
    assert any("JdbcTargets" in n.message and "not crawled" in n.message for n in defs.notes)
