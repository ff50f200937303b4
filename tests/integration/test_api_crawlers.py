"""Crawlers through boto3 against a real `adhere serve`: every crawler operation once, Glue's
errors on the wire, botocore's paginator for GetCrawlers, and a crawl the serve runs that
writes a table GetTable then returns."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from integration.api_fixtures import Served

pytestmark = pytest.mark.timeout(240)


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def glue(served: Served) -> Any:
    return served.client()


def _folder(served: Served, name: str) -> Path:
    folder = served.folder / name / "events" / "day=2024-01-01"
    folder.mkdir(parents=True)
    (folder / "e.json").write_text("".join(json.dumps({"id": i, "kind": "click"}) + "\n" for i in range(5)))
    return folder.parent


def test_crawler_operations_and_their_errors(glue: Any, served: Served) -> None:
    name = f"c_{uuid.uuid4().hex[:8]}"
    targets = {"S3Targets": [{"Path": str(served.folder)}]}
    glue.create_crawler(Name=name, Role="r", DatabaseName="api", Targets=targets, Tags={"suite": name})
    with pytest.raises(ClientError) as exc:
        glue.create_crawler(Name=name, Role="r", Targets=targets)
    assert code(exc) == "AlreadyExistsException"
    with pytest.raises(ClientError) as exc:
        glue.create_crawler(Name=f"{name}x", Role="r", Targets={})
    assert code(exc) == "InvalidInputException"
    crawler = glue.get_crawler(Name=name)["Crawler"]
    assert crawler["State"] == "READY" and crawler["DatabaseName"] == "api"
    assert glue.list_crawlers(Tags={"suite": name})["CrawlerNames"] == [name]
    assert glue.batch_get_crawlers(CrawlerNames=[name, "nope"])["CrawlersNotFound"] == ["nope"]
    pages = list(glue.get_paginator("get_crawlers").paginate(PaginationConfig={"PageSize": 1}))
    assert name in [c["Name"] for page in pages for c in page["Crawlers"]]
    glue.update_crawler(Name=name, TablePrefix="t_")
    assert glue.get_crawler(Name=name)["Crawler"]["TablePrefix"] == "t_"
    with pytest.raises(ClientError) as exc:
        glue.stop_crawler(Name=name)
    assert code(exc) == "CrawlerNotRunningException"
    with pytest.raises(ClientError) as exc:
        glue.start_crawler(Name="nope")
    assert code(exc) == "EntityNotFoundException"
    glue.delete_crawler(Name=name)
    with pytest.raises(ClientError) as exc:
        glue.get_crawler(Name=name)
    assert code(exc) == "EntityNotFoundException"


def test_a_crawl_started_through_the_api_writes_its_table(glue: Any, served: Served) -> None:
    name = f"c_{uuid.uuid4().hex[:8]}"
    glue.create_crawler(Name=name, Role="r", DatabaseName=name, Targets={"S3Targets": [{"Path": str(_folder(served, name))}]})
    glue.start_crawler(Name=name)
    with pytest.raises(ClientError) as exc:
        glue.start_crawler(Name=name)
    assert code(exc) == "CrawlerRunningException"
    deadline = time.monotonic() + 90
    while (crawls := glue.list_crawls(CrawlerName=name)["Crawls"])[0]["State"] == "RUNNING":
        assert time.monotonic() < deadline, crawls
        time.sleep(0.1)
    assert crawls[0]["State"] == "COMPLETED", crawls[0]
    assert json.loads(json.loads(crawls[0]["Summary"])["TABLE"]["ADD"])["Count"] == 1
    table = glue.get_table(DatabaseName=name, Name="events")["Table"]
    assert table["PartitionKeys"] == [{"Name": "day", "Type": "string"}]
    assert table["Parameters"]["classification"] == "json"
    partitions = glue.get_partitions(DatabaseName=name, TableName="events", Expression="day = '2024-01-01'")
    assert [p["Values"] for p in partitions["Partitions"]] == [["2024-01-01"]]
    crawler = glue.get_crawler(Name=name)["Crawler"]
    assert crawler["State"] == "READY" and crawler["LastCrawl"]["Status"] == "SUCCEEDED"
    metrics = glue.get_crawler_metrics(CrawlerNameList=[name])["CrawlerMetricsList"]
    assert metrics[0]["TablesCreated"] == 1
    with pytest.raises(ClientError) as exc:
        glue.list_crawls(CrawlerName=name, Filters=[{"FieldName": "STATE", "FilterOperator": "GT",
                                                       "FieldValue": "COMPLETED"}])
    assert code(exc) == "InvalidInputException"
