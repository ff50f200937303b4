"""The Data Catalog through boto3 against a real `adhere serve`: every database, table, table
version and partition operation once, Glue's errors on the wire, the model's limits, and
botocore's paginators for GetDatabases, GetTables, GetTableVersions and GetPartitions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError
from integration.api_fixtures import Served

pytestmark = pytest.mark.timeout(240)
KEYS = [{"Name": "year", "Type": "int"}, {"Name": "region", "Type": "string"}]


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def glue(served: Served) -> Any:
    return served.client()


@pytest.fixture
def database(glue: Any) -> str:
    """A new database of this test's own (the server is shared by the module)."""
    name = f"db_{uuid.uuid4().hex[:8]}"
    glue.create_database(DatabaseInput={"Name": name.upper(), "Description": "test", "Parameters": {"k": "v"}})
    return name


def table_input(name: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "PartitionKeys": KEYS, "TableType": "EXTERNAL_TABLE",
            "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}], "Location": f"s3://b/{name}/"},
            **extra}


def test_databases(glue: Any, database: str) -> None:
    got = glue.get_database(Name=database.upper())["Database"]
    assert (got["Name"], got["Description"], got["Parameters"], got["CatalogId"]) == (
        database, "test", {"k": "v"}, "123456789012")
    assert isinstance(got["CreateTime"], dt.datetime)
    assert glue.get_database(Name="default")["Database"]["Name"] == "default"
    with pytest.raises(ClientError) as exc:
        glue.create_database(DatabaseInput={"Name": database})
    assert code(exc) == "AlreadyExistsException"
    glue.update_database(Name=database, DatabaseInput={"Name": database, "LocationUri": "s3://b/"})
    assert glue.get_database(Name=database)["Database"]["LocationUri"] == "s3://b/"
    names = [d["Name"] for page in glue.get_paginator("get_databases").paginate(PaginationConfig={"PageSize": 1})
             for d in page["DatabaseList"]]
    assert database in names and "default" in names and names == sorted(names)
    glue.delete_database(Name=database)
    with pytest.raises(ClientError) as exc:
        glue.get_database(Name=database)
    assert code(exc) == "EntityNotFoundException"
    assert "Database" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        glue.get_database(Name="default", CatalogId="999999999999")
    assert code(exc) == "EntityNotFoundException"


def test_tables_and_versions(glue: Any, database: str) -> None:
    glue.create_table(DatabaseName=database, TableInput=table_input("Orders"))
    glue.create_table(DatabaseName=database, TableInput=table_input("returns"))
    table = glue.get_table(DatabaseName=database, Name="orders")["Table"]
    assert (table["Name"], table["DatabaseName"], table["VersionId"], table["IsRegisteredWithLakeFormation"]) == (
        "orders", database, "0", False)
    assert isinstance(table["UpdateTime"], dt.datetime) and table["PartitionKeys"] == KEYS
    with pytest.raises(ClientError) as exc:
        glue.create_table(DatabaseName=database, TableInput=table_input("orders"))
    assert code(exc) == "AlreadyExistsException"

    glue.update_table(DatabaseName=database, TableInput=table_input("orders", Description="v1"), VersionId="0")
    glue.update_table(DatabaseName=database, TableInput=table_input("orders", Description="v2"), SkipArchive=True)
    with pytest.raises(ClientError) as exc:
        glue.update_table(DatabaseName=database, TableInput=table_input("orders"), VersionId="0")
    assert code(exc) == "ConcurrentModificationException"
    versions = [v["VersionId"] for page in glue.get_paginator("get_table_versions").paginate(
        DatabaseName=database, TableName="orders", PaginationConfig={"PageSize": 1}) for v in page["TableVersions"]]
    assert versions == ["2", "0"]
    got = glue.get_table_version(DatabaseName=database, TableName="orders", VersionId="0")["TableVersion"]
    assert (got["VersionId"], got["Table"]["VersionId"]) == ("0", "0") and "Description" not in got["Table"]
    glue.update_table(DatabaseName=database, TableInput=table_input("orders", Description="v3"))
    glue.delete_table_version(DatabaseName=database, TableName="orders", VersionId="0")
    errors = glue.batch_delete_table_version(DatabaseName=database, TableName="orders", VersionIds=["2", "7"])["Errors"]
    assert [(e["VersionId"], e["ErrorDetail"]["ErrorCode"]) for e in errors] == [("7", "EntityNotFoundException")]

    names = [t["Name"] for page in glue.get_paginator("get_tables").paginate(
        DatabaseName=database, PaginationConfig={"PageSize": 1}) for t in page["TableList"]]
    assert names == ["orders", "returns"]
    assert [t["Name"] for t in glue.get_tables(DatabaseName=database, Expression="ret*")["TableList"]] == ["returns"]
    found = glue.search_tables(SearchText=database, Filters=[{"Key": "Name", "Value": "returns"}])["TableList"]
    assert [(t["DatabaseName"], t["Name"]) for t in found] == [(database, "returns")]

    glue.delete_table(DatabaseName=database, Name="returns")
    errors = glue.batch_delete_table(DatabaseName=database, TablesToDelete=["orders", "ghost"])["Errors"]
    assert [(e["TableName"], e["ErrorDetail"]["ErrorCode"]) for e in errors] == [("ghost", "EntityNotFoundException")]
    with pytest.raises(ClientError) as exc:
        glue.get_table(DatabaseName=database, Name="orders")
    assert code(exc) == "EntityNotFoundException"


def test_partitions(glue: Any, database: str) -> None:
    glue.create_table(DatabaseName=database, TableInput=table_input("events"))
    made = [{"Values": [str(year), region], "StorageDescriptor": {"Location": f"s3://b/{year}/{region}/"}}
            for year in (2022, 2023, 2024) for region in ("eu", "us")]
    glue.create_partition(DatabaseName=database, TableName="events", PartitionInput=made[0])
    errors = glue.batch_create_partition(DatabaseName=database, TableName="events", PartitionInputList=made)["Errors"]
    assert [(e["PartitionValues"], e["ErrorDetail"]["ErrorCode"]) for e in errors] == [
        (["2022", "eu"], "AlreadyExistsException")]
    with pytest.raises(ClientError) as exc:
        glue.create_partition(DatabaseName=database, TableName="events", PartitionInput={"Values": ["2022"]})
    assert code(exc) == "InvalidInputException"

    got = glue.get_partition(DatabaseName=database, TableName="events", PartitionValues=["2023", "us"])["Partition"]
    assert (got["Values"], got["TableName"], got["DatabaseName"]) == (["2023", "us"], "events", database)
    assert isinstance(got["CreationTime"], dt.datetime)

    pages = list(glue.get_paginator("get_partitions").paginate(
        DatabaseName=database, TableName="events", Expression="year >= 2023", PaginationConfig={"PageSize": 3}))
    assert [len(p["Partitions"]) for p in pages] == [3, 1]
    segments = [glue.get_partitions(DatabaseName=database, TableName="events",
                                    Segment={"SegmentNumber": n, "TotalSegments": 4})["Partitions"] for n in range(4)]
    assert sorted(p["Values"] for s in segments for p in s) == sorted(p["Values"] for p in made)
    lean = glue.get_partitions(DatabaseName=database, TableName="events", ExcludeColumnSchema=True)["Partitions"]
    assert len(lean) == 6
    with pytest.raises(ClientError) as exc:
        glue.get_partitions(DatabaseName=database, TableName="events", Expression="year >")
    assert code(exc) == "InvalidInputException" and "year >" in exc.value.response["Error"]["Message"]

    batch = glue.batch_get_partition(DatabaseName=database, TableName="events",
                                     PartitionsToGet=[{"Values": ["2024", "eu"]}, {"Values": ["1999", "eu"]}])
    assert [p["Values"] for p in batch["Partitions"]] == [["2024", "eu"]] and batch["UnprocessedKeys"] == []

    glue.update_partition(DatabaseName=database, TableName="events", PartitionValueList=["2024", "eu"],
                          PartitionInput={"Values": ["2024", "eu"], "Parameters": {"rows": "3"}})
    errors = glue.batch_update_partition(DatabaseName=database, TableName="events", Entries=[
        {"PartitionValueList": ["2024", "us"], "PartitionInput": {"Values": ["2024", "us"], "Parameters": {"n": "1"}}},
        {"PartitionValueList": ["1999", "us"], "PartitionInput": {"Values": ["1999", "us"]}}])["Errors"]
    assert [(e["PartitionValueList"], e["ErrorDetail"]["ErrorCode"]) for e in errors] == [
        (["1999", "us"], "EntityNotFoundException")]
    assert glue.get_partition(DatabaseName=database, TableName="events",
                              PartitionValues=["2024", "eu"])["Partition"]["Parameters"] == {"rows": "3"}

    glue.delete_partition(DatabaseName=database, TableName="events", PartitionValues=["2024", "eu"])
    errors = glue.batch_delete_partition(DatabaseName=database, TableName="events", PartitionsToDelete=[
        {"Values": ["2024", "us"]}, {"Values": ["2024", "eu"]}])["Errors"]
    assert [(e["PartitionValues"], e["ErrorDetail"]["ErrorCode"]) for e in errors] == [
        (["2024", "eu"], "EntityNotFoundException")]
    with pytest.raises(ClientError) as exc:
        glue.get_partition(DatabaseName=database, TableName="events", PartitionValues=["2024", "eu"])
    assert code(exc) == "EntityNotFoundException"
    glue.delete_database(Name=database)  # and with it the table and its partitions
    with pytest.raises(ClientError) as exc:
        glue.get_partitions(DatabaseName=database, TableName="events")
    assert code(exc) == "EntityNotFoundException"


def test_the_models_limits_are_the_servers(served: Served, database: str) -> None:
    """Limits botocore's client does not check, the server does, from the same model."""
    unchecked = served.client(parameter_validation=False)
    for call in (
        lambda: unchecked.get_tables(DatabaseName=database, MaxResults=101),
        lambda: unchecked.get_partitions(DatabaseName=database, TableName="t", MaxResults=1001),
        lambda: unchecked.get_partitions(DatabaseName=database, TableName="t",
                                         Segment={"SegmentNumber": 0, "TotalSegments": 11}),
        lambda: unchecked.batch_delete_partition(DatabaseName=database, TableName="t",
                                                 PartitionsToDelete=[{"Values": ["x"]}] * 26),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "InvalidInputException"
    with pytest.raises(ParamValidationError):  # and botocore's own checks still apply
        served.client().create_database(DatabaseInput={})
