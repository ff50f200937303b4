"""``adhere crawl`` as a real process: a crawler from a definition file (its relative path is
the file's folder's), crawled and followed to its end (exit 0 only when it SUCCEEDED), its table
read back with ``adhere catalog``, its history with ``adhere crawls``, its log with ``adhere
logs``; a crawl that fails exits 1 with the reason."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Project

pytestmark = pytest.mark.timeout(180)
DEFS = """\
Crawlers:
  - Name: landing
    Role: crawler
    DatabaseName: raw
    Targets:
      S3Targets:
        - Path: landing/orders
          Exclusions: ["**.tmp"]
  - Name: broken
    Role: crawler
    Targets:
      S3Targets:
        - Path: nowhere
"""


@pytest.mark.parametrize("project", ["sqlite"], indirect=True)
def test_a_crawl_from_the_command_line(project: Project) -> None:
    for month in ("01", "02"):
        project.write(f"landing/orders/month={month}/part-0.csv", "id,amount,city\n1,9.5,Oslo\n2,3.25,Rome\n")
    project.write("landing/orders/month=02/scratch.tmp", "not data")
    project.cli("apply", str(project.write("defs.yaml", DEFS)))

    done = project.cli("crawl", "landing")
    assert "SUCCEEDED" in done.out and "1 created" in done.out, done
    table = json.loads(project.cli("catalog", "table", "raw", "orders", "--json").out)["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["id", "amount", "city"]
    assert table["Parameters"]["classification"] == "csv" and table["PartitionKeys"][0]["Name"] == "month"
    found = json.loads(project.cli("catalog", "partitions", "raw", "orders", "--expression", "month = '02'",
                                   "--json").out)  # not the table: its times may hold "01"
    assert [p["Values"] for p in found["Partitions"]] == [["02"]]

    crawls = json.loads(project.cli("crawls", "landing", "--json").out)["Crawls"]
    assert [c["State"] for c in crawls] == ["COMPLETED"]
    log = project.cli("logs", crawls[0]["CrawlId"]).out
    assert "landing" in log

    failed = project.cli("crawl", "broken", expect=1)
    assert "FAILED" in failed.out and "nowhere" in failed.out
    assert "RUNNING" not in project.cli("crawlers").out
