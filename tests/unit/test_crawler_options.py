"""What a crawl reads from a crawler's definition, the locations it compares, and its Summary."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from catalog import crawl_options, crawler, reconcile
from catalog.crawl_options import CrawlError, Options


def crawler_def(**extra: Any) -> dict[str, Any]:
    return {"Name": "c", "Targets": {"S3Targets": [{"Path": "s3://b/data"}]}, **extra}


def config(**sections: Any) -> str:
    return json.dumps({"Version": 1.0, **sections})


def test_defaults_are_glues() -> None:
    options = Options.from_glue(crawler_def())
    assert (options.database, options.table_prefix, options.update, options.delete, options.recrawl) == (
        "default", "", "UPDATE_IN_DATABASE", "DEPRECATE_IN_DATABASE", "CRAWL_EVERYTHING")
    assert options.targets == (crawl_options.Target("s3://b/data"),)
    assert not (options.merge_new_columns or options.inherit_from_table or options.combine_compatible)
    assert options.table_threshold is None and options.table_level is None


def test_every_option_is_read() -> None:
    options = Options.from_glue(crawler_def(
        DatabaseName="Lake", TablePrefix="raw_",
        Targets={"S3Targets": [{"Path": " /data/a ", "Exclusions": ["**.tmp"], "SampleSize": 5}, {"Path": "file:///b"}]},
        SchemaChangePolicy={"UpdateBehavior": "LOG", "DeleteBehavior": "DELETE_FROM_DATABASE"},
        Configuration=config(
            CrawlerOutput={"Tables": {"AddOrUpdateBehavior": "MergeNewColumns", "TableThreshold": 7},
                           "Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}},
            Grouping={"TableGroupingPolicy": "CombineCompatibleSchemas", "TableLevelConfiguration": 3},
            CreatePartitionIndex=True),
    ))  # fmt: skip
    assert options.database == "lake" and options.table_prefix == "raw_"
    assert options.targets == (crawl_options.Target("/data/a", ("**.tmp",), 5), crawl_options.Target("file:///b"))
    assert (options.update, options.delete) == ("LOG", "DELETE_FROM_DATABASE")
    assert options.merge_new_columns and options.inherit_from_table and options.combine_compatible
    assert (options.table_threshold, options.table_level) == (7, 3)


def test_crawl_new_folders_only_forces_log() -> None:
    options = Options.from_glue(crawler_def(
        RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"},
        SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DELETE_FROM_DATABASE"}))  # fmt: skip
    assert (options.update, options.delete) == ("LOG", "LOG")


@pytest.mark.parametrize(("extra", "message"), [
    ({"Configuration": "{"}, "Configuration is not valid JSON"),
    ({"Configuration": "[1]"}, "Configuration must be a JSON object"),
    ({"Configuration": config(Grouping=[])}, "Grouping must be an object"),
    ({"Configuration": config(CrawlerOutput={"Tables": 3})}, "CrawlerOutput must be an object of objects"),
    ({"Configuration": config(CrawlerOutput={"Tables": {"TableThreshold": 0}})}, "TableThreshold must be a whole number"),
    ({"Configuration": config(CrawlerOutput={"Tables": {"TableThreshold": True}})}, "TableThreshold"),
    ({"Configuration": config(CrawlerOutput={"Tables": {"TableThreshold": "3"}})}, "TableThreshold"),
    ({"Configuration": config(CrawlerOutput={"Tables": {"AddOrUpdateBehavior": "Replace"}})},
     "AddOrUpdateBehavior can only be 'MergeNewColumns'"),
    ({"Configuration": config(Grouping={"TableGroupingPolicy": "X"})}, "TableGroupingPolicy can only be"),
    ({"Configuration": config(Grouping={"TableLevelConfiguration": 0.5})}, "TableLevelConfiguration"),
    ({"SchemaChangePolicy": {"UpdateBehavior": "DROP"}}, "UpdateBehavior must be one of"),
    ({"SchemaChangePolicy": {"DeleteBehavior": "IGNORE"}}, "DeleteBehavior must be one of"),
    ({"RecrawlPolicy": {"RecrawlBehavior": "SOMETIMES"}}, "RecrawlBehavior must be one of"),
    ({"Targets": {"S3Targets": []}}, "no S3Targets to crawl"),
    ({"Targets": {"S3Targets": [{"Path": "/a"}], "JdbcTargets": [{"ConnectionName": "x"}]}}, "not JdbcTargets"),
    ({"Targets": {"S3Targets": [{"Path": " "}]}}, r"S3Targets\[0\]: a Path is required"),
    ({"Targets": {"S3Targets": [{"Path": "/a", "Exclusions": "*.csv"}]}}, "Exclusions must be a list"),
    ({"Targets": {"S3Targets": [{"Path": "/a", "SampleSize": 0}]}}, "SampleSize must be a whole number from 1 to 249"),
    ({"Name": ""}, "the crawler has no Name"),
    ({"Targets": [{"Path": "/a"}]}, "Targets must be an object"),
])  # fmt: skip
def test_bad_definitions_are_crawl_errors(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(CrawlError, match=message):
        Options.from_glue(crawler_def(**extra))


def test_the_errors_are_glues() -> None:
    assert crawler.CrawlError is CrawlError
    assert CrawlError("x").code == "InvalidInputException"
    assert crawler.CrawlCancelled().message == "The crawl was stopped; nothing was written to the Data Catalog."


@pytest.mark.parametrize(("location", "expected"), [
    ("s3://bucket/data/", "s3://bucket/data"),
    ("S3://bucket", "s3://bucket"),
    ("file:///srv/data/", "file:///srv/data"),
    ("file://localhost/srv/data", "file:///srv/data"),
    ("/srv/data/../lake/", "file:///srv/lake"),
    ("", ""),
])  # fmt: skip
def test_canonical_locations(location: str, expected: str) -> None:
    assert crawl_options.canonical(location) == expected


def test_a_relative_path_is_made_absolute() -> None:
    assert crawl_options.canonical("data") == f"file://{os.path.abspath('data')}"


def test_folder_urls_end_in_a_slash() -> None:
    assert crawler.folder_url("s3://b/data", ("year=2024", "month=01")) == "s3://b/data/year=2024/month=01/"
    assert crawler.folder_url("file:///srv", ()) == "file:///srv/"


def test_an_empty_summary_is_an_empty_object() -> None:
    assert crawler.Summary().to_glue() == {}


def test_the_summary_speaks_glue() -> None:
    summary = crawler.Summary()
    summary.table("ADD", "sales")
    summary.table("ADD", "returns")
    summary.table("DELETE", "old")
    summary.partition("ADD", "sales", 3)
    summary.partition("ADD", "returns", 1)
    summary.partition("UPDATE", "sales", 0)  # nothing: not counted
    assert (summary.tables_created, summary.tables_deleted, summary.partitions_created, summary.partitions_updated) == (2, 1, 4, 0)
    glue = summary.to_glue()
    assert set(glue) == {"TABLE", "PARTITION"} and set(glue["TABLE"]) == {"ADD", "DELETE"}
    assert json.loads(glue["TABLE"]["ADD"]) == {"Details": {"names": ["sales", "returns"]}, "Count": 2}
    assert json.loads(glue["PARTITION"]["ADD"]) == {"Details": {"sales": 3, "returns": 1}, "Count": 4}
    assert json.loads(json.dumps(glue)) == glue  # the caller stores it as JSON


def test_the_details_are_no_fields() -> None:
    import dataclasses

    summary = reconcile.Summary(tables_created=1)
    summary.table("ADD", "t")
    assert dataclasses.asdict(summary) == {"tables_created": 2, "tables_updated": 0, "tables_deleted": 0,
                                           "partitions_created": 0, "partitions_updated": 0, "partitions_deleted": 0}  # fmt: skip
