"""``adhere catalog ...`` as a real process: databases from a definition file, tables and
partitions written through Glue's API (boto3 against a serve on the project's store), read back
as tables and as Glue's JSON, in-process and through the serve (``--endpoint``), and mistakes
as one line without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from integration.api_fixtures import Served, serve

if TYPE_CHECKING:
    from tests.e2e.conftest import Project

pytestmark = pytest.mark.timeout(180)
DEFS = """\
Databases:
  - Name: Sales
    Description: what we sold
    LocationUri: s3://bucket/sales/
"""


@pytest.fixture
def served(project: Project) -> Iterator[Served]:
    (project.dir / ".adhere").mkdir(exist_ok=True)
    yield from serve(project.db_url or f"sqlite:///{project.dir / '.adhere' / 'adhere.db'}", project.dir)


# The commands print the same whatever the store (the catalog's behaviour on both is test_catalog's).
@pytest.mark.parametrize("project", ["sqlite"], indirect=True)
def test_the_catalog_read_from_the_command_line(project: Project, served: Served) -> None:
    assert project.cli("apply", str(project.write("defs.yaml", DEFS))).out.strip() == "created: database sales"
    glue = served.client()
    keys = [{"Name": "year", "Type": "int"}, {"Name": "region", "Type": "string"}]
    glue.create_table(DatabaseName="sales", TableInput={
        "Name": "orders", "PartitionKeys": keys, "Parameters": {"classification": "parquet"},
        "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint", "Comment": "the order"}],
                              "Location": "s3://bucket/sales/orders/"}})
    glue.batch_create_partition(DatabaseName="sales", TableName="orders", PartitionInputList=[
        {"Values": [str(year), region], "StorageDescriptor": {"Location": f"s3://bucket/sales/orders/{year}/{region}/"}}
        for year in (2023, 2024) for region in ("eu", "us")])
    glue.update_table(DatabaseName="sales", TableInput={"Name": "orders", "PartitionKeys": keys, "Description": "v1"})

    listed = project.cli("catalog", "databases").out
    assert "sales" in listed and "what we sold" in listed and "default" in listed
    table = project.cli("catalog", "table", "sales", "orders").out
    assert "table sales.orders" in table and "partition key" in table and "v1" in table
    pruned = project.json("catalog", "partitions", "sales", "orders", "--expression", "year > 2023 AND region = 'us'")
    assert [p["Values"] for p in pruned["Partitions"]] == [["2024", "us"]]
    versions = project.json("catalog", "versions", "sales", "orders")
    assert [v["VersionId"] for v in versions["TableVersions"]] == ["1", "0"]

    # through the serve, the very same output
    for args in (("catalog", "tables", "sales"), ("catalog", "partitions", "sales", "orders")):
        assert project.cli("--endpoint", served.url, *args).out == project.cli(*args).out
    assert "2 partitions" in project.cli("catalog", "partitions", "sales", "orders", "--expression", "year = 2024").out

    # mistakes: one line naming Glue's exception, in-process and through the serve alike
    for prefix in ((), ("--endpoint", served.url)):
        missing = project.cli(*prefix, "catalog", "table", "sales", "nope", expect=1)
        assert missing.err == "An error occurred (EntityNotFoundException): Table nope not found.\n"
        bad = project.cli(*prefix, "catalog", "partitions", "sales", "orders", "--expression", "year >", expect=1)
        assert bad.err.startswith("An error occurred (InvalidInputException): Unsupported expression 'year >'")
    assert "Database nope not found" in project.cli("catalog", "tables", "nope", "--json", expect=1).err
