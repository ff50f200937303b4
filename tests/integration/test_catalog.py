"""The Data Catalog through the service, on SQLite and PostgreSQL: databases, tables, table
versions and partitions (every operation, Glue's errors, batch items failing alone), names
folded to lowercase, cascades on delete, keyset pages, GetPartitions pruned in SQL by Glue's
expressions and split into Segments, SearchTables, and Databases in definition files.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator import errors, store
from orchestrator.definitions import loading
from orchestrator.service import databases, partitions, search, tables
from orchestrator.service import definitions as service_definitions
from orchestrator.settings import Settings

KEYS = [{"Name": "year", "Type": "int"}, {"Name": "region", "Type": "string"}]
COLUMNS = [{"Name": "id", "Type": "bigint", "Comment": "order id"}, {"Name": "amount", "Type": "double"}]


def table_input(name: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "TableType": "EXTERNAL_TABLE", "PartitionKeys": KEYS,
            "StorageDescriptor": {"Columns": COLUMNS, "Location": f"s3://bucket/{name}/"}, **extra}


def partition(year: int, region: str, **extra: Any) -> dict[str, Any]:
    return {"Values": [str(year), region],
            "StorageDescriptor": {"Columns": COLUMNS, "Location": f"s3://bucket/t/year={year}/region={region}/"},
            **extra}


@pytest.fixture
def orders(db: store.Store, settings: Settings) -> str:
    """Database ``sales`` with table ``orders`` (partitioned by year int, region string)."""
    databases.create_database(db, settings, {"Name": "sales"})
    tables.create_table(db, settings, "sales", table_input("orders"))
    return "orders"


def values_of(result: dict[str, Any]) -> list[list[str]]:
    return [p["Values"] for p in result["Partitions"]]


def all_pages(call: Any, key: str, **kwargs: Any) -> list[list[Any]]:
    pages, token = [], None
    while True:
        out = call(next_token=token, **kwargs)
        pages.append(out[key])
        token = out.get("NextToken")
        if not token:
            return pages


# --- databases ---------------------------------------------------------------------------------


def test_a_fresh_store_has_glues_default_database(db: store.Store, settings: Settings) -> None:
    got = databases.get_database(db, settings, "default")["Database"]
    assert (got["Name"], got["CatalogId"], got["Description"]) == ("default", settings.account_id, "Default Hive database")
    assert got["CreateTime"].tzinfo is not None
    assert [d["Name"] for d in databases.get_databases(db, settings)["DatabaseList"]] == ["default"]


def test_database_lifecycle_with_names_folded(db: store.Store, settings: Settings) -> None:
    assert databases.create_database(db, settings, {"Name": "Sales", "Description": "first", "LocationUri": "s3://b/",
                                                    "Parameters": {"k": "v"}}) == {}
    got = databases.get_database(db, settings, "SALES")["Database"]
    assert {k: got[k] for k in ("Name", "Description", "LocationUri", "Parameters")} == {
        "Name": "sales", "Description": "first", "LocationUri": "s3://b/", "Parameters": {"k": "v"}}
    with pytest.raises(errors.AlreadyExistsException, match="Database sales already exists"):
        databases.create_database(db, settings, {"Name": "sAlEs"})
    databases.update_database(db, settings, "Sales", {"Name": "sales", "Description": "second"})
    got = databases.get_database(db, settings, "sales")["Database"]
    assert got["Description"] == "second" and "Parameters" not in got  # replaced whole
    with pytest.raises(errors.InvalidInputException, match="cannot be renamed"):
        databases.update_database(db, settings, "sales", {"Name": "other"})
    with pytest.raises(errors.EntityNotFoundException, match="Database nope not found"):
        databases.update_database(db, settings, "nope", {"Name": "nope"})
    databases.delete_database(db, settings, "SALES")
    for call in (lambda: databases.get_database(db, settings, "sales"),
                 lambda: databases.delete_database(db, settings, "sales")):
        with pytest.raises(errors.EntityNotFoundException, match="Database sales not found"):
            call()


def test_get_databases_pages_in_name_order(db: store.Store, settings: Settings) -> None:
    for name in ("c", "a", "e", "b", "d"):
        databases.create_database(db, settings, {"Name": name})
    pages = all_pages(lambda **kw: databases.get_databases(db, settings, max_results=2, **kw), "DatabaseList")
    assert [[d["Name"] for d in page] for page in pages] == [["a", "b"], ["c", "d"], ["default", "e"]]
    with pytest.raises(errors.InvalidInputException, match="NextToken"):
        databases.get_databases(db, settings, next_token="garbage")


def test_inputs_are_checked_against_glues_shapes(db: store.Store, settings: Settings) -> None:
    with pytest.raises(errors.InvalidInputException, match=r"DatabaseInput\.LocationURI: unknown field \(did you mean LocationUri\?\)"):
        databases.create_database(db, settings, {"Name": "x", "LocationURI": "s3://b/"})
    with pytest.raises(errors.InvalidInputException, match=r"DatabaseInput\.Name: is required"):
        databases.create_database(db, settings, {"Description": "no name"})
    with pytest.raises(errors.InvalidInputException, match="Name 'a\\\\nb'"):
        databases.create_database(db, settings, {"Name": "a\nb"})
    with pytest.raises(errors.InvalidInputException, match=r"TableInput\.StorageDescriptor\.Columns\[0\]\.Name: is required"):
        tables.create_table(db, settings, "default", {"Name": "t", "StorageDescriptor": {"Columns": [{"Type": "int"}]}})
    assert [d["Name"] for d in databases.get_databases(db, settings)["DatabaseList"]] == ["default"]


def test_another_catalog_id_is_refused(db: store.Store, settings: Settings) -> None:
    databases.get_database(db, settings, "default", catalog_id=settings.account_id)
    with pytest.raises(errors.EntityNotFoundException, match="Catalog 999999999999 not found"):
        databases.get_database(db, settings, "default", catalog_id="999999999999")
    with pytest.raises(errors.EntityNotFoundException, match="Catalog"):
        tables.get_tables(db, settings, "default", catalog_id="999999999999")


# --- tables ------------------------------------------------------------------------------------


def test_table_lifecycle_in_glues_shape(db: store.Store, settings: Settings) -> None:
    databases.create_database(db, settings, {"Name": "sales"})
    tables.create_table(db, settings, "Sales", table_input("Orders", Parameters={"classification": "parquet"}))
    got = tables.get_table(db, settings, "SALES", "ORDERS")["Table"]
    assert {k: got[k] for k in ("Name", "DatabaseName", "VersionId", "CatalogId", "IsRegisteredWithLakeFormation")} == {
        "Name": "orders", "DatabaseName": "sales", "VersionId": "0", "CatalogId": settings.account_id,
        "IsRegisteredWithLakeFormation": False}
    assert got["PartitionKeys"] == KEYS and got["StorageDescriptor"]["Columns"] == COLUMNS
    assert got["Parameters"] == {"classification": "parquet"} and got["CreateTime"] == got["UpdateTime"]
    with pytest.raises(errors.AlreadyExistsException, match="Table orders already exists"):
        tables.create_table(db, settings, "sales", table_input("orders"))
    with pytest.raises(errors.EntityNotFoundException, match="Database nope not found"):
        tables.create_table(db, settings, "nope", table_input("t"))
    with pytest.raises(errors.EntityNotFoundException, match="Database nope not found"):
        tables.get_table(db, settings, "nope", "orders")
    with pytest.raises(errors.EntityNotFoundException, match="Table missing not found"):
        tables.get_table(db, settings, "sales", "missing")
    with pytest.raises(errors.InvalidInputException, match="Iceberg"):
        tables.create_table(db, settings, "sales", None, name="ice", open_table_format_input={"IcebergInput": {}})
    # CreateTable's own Name stands in for TableInput.Name, and must agree with it
    tables.create_table(db, settings, "sales", {"TableType": "VIRTUAL_VIEW"}, name="View1")
    assert tables.get_table(db, settings, "sales", "view1")["Table"]["TableType"] == "VIRTUAL_VIEW"
    with pytest.raises(errors.InvalidInputException, match="differ"):
        tables.create_table(db, settings, "sales", {"Name": "a"}, name="b")
    tables.delete_table(db, settings, "sales", "ORDERS")
    with pytest.raises(errors.EntityNotFoundException, match="Table orders not found"):
        tables.delete_table(db, settings, "sales", "orders")


def test_update_table_archives_the_replaced_version_unless_skip_archive(db: store.Store, settings: Settings,
                                                                         orders: str) -> None:
    tables.update_table(db, settings, "sales", table_input(orders, Description="v1"))
    tables.update_table(db, settings, "sales", table_input(orders, Description="v2"), version_id="1")
    tables.update_table(db, settings, "sales", table_input(orders, Description="v3"), skip_archive=True)
    got = tables.get_table(db, settings, "sales", orders)["Table"]
    assert (got["VersionId"], got["Description"]) == ("3", "v3") and got["UpdateTime"] > got["CreateTime"]
    listed = tables.get_table_versions(db, settings, "sales", orders)["TableVersions"]
    # version 2 was replaced with SkipArchive: not kept; the current version leads the list
    assert [(v["VersionId"], v["Table"]["VersionId"], v["Table"].get("Description")) for v in listed] == [
        ("3", "3", "v3"), ("1", "1", "v1"), ("0", "0", None)]
    assert listed[2]["Table"]["Name"] == orders and listed[2]["Table"]["DatabaseName"] == "sales"
    one = tables.get_table_version(db, settings, "sales", orders, "1")["TableVersion"]
    assert (one["VersionId"], one["Table"]["Description"]) == ("1", "v1")
    assert tables.get_table_version(db, settings, "sales", orders)["TableVersion"]["VersionId"] == "3"
    with pytest.raises(errors.EntityNotFoundException, match="Version 2 of table orders not found"):
        tables.get_table_version(db, settings, "sales", orders, "2")
    with pytest.raises(errors.InvalidInputException, match="not a version"):
        tables.get_table_version(db, settings, "sales", orders, "two")
    pages = all_pages(lambda **kw: tables.get_table_versions(db, settings, "sales", orders, max_results=2, **kw),
                      "TableVersions")
    assert [[v["VersionId"] for v in page] for page in pages] == [["3", "1"], ["0"]]


def test_version_id_is_an_optimistic_lock(db: store.Store, settings: Settings, orders: str) -> None:
    seen = tables.get_table(db, settings, "sales", orders)["Table"]["VersionId"]
    tables.update_table(db, settings, "sales", table_input(orders, Description="mine"), version_id=seen)
    with pytest.raises(errors.ConcurrentModificationException, match="is at version 1, not 0"):
        tables.update_table(db, settings, "sales", table_input(orders, Description="theirs"), version_id=seen)
    assert tables.get_table(db, settings, "sales", orders)["Table"]["Description"] == "mine"
    with pytest.raises(errors.InvalidInputException, match="cannot be renamed"):
        tables.update_table(db, settings, "sales", {"Name": "renamed"}, name=orders)
    with pytest.raises(errors.EntityNotFoundException, match="Table ghost not found"):
        tables.update_table(db, settings, "sales", table_input("ghost"))


def test_deleting_versions_one_or_in_a_batch(db: store.Store, settings: Settings, orders: str) -> None:
    for n in range(3):
        tables.update_table(db, settings, "sales", table_input(orders, Description=f"v{n + 1}"))
    tables.delete_table_version(db, settings, "sales", orders, "0")
    with pytest.raises(errors.EntityNotFoundException, match="Version 0 of table orders not found"):
        tables.delete_table_version(db, settings, "sales", orders, "0")
    with pytest.raises(errors.InvalidInputException, match="current version"):
        tables.delete_table_version(db, settings, "sales", orders, "3")
    result = tables.batch_delete_table_version(db, settings, "sales", orders, ["1", "3", "9", "x", "1"])
    assert [(e["VersionId"], e["TableName"], e["ErrorDetail"]["ErrorCode"]) for e in result["Errors"]] == [
        ("3", "orders", "InvalidInputException"), ("x", "orders", "InvalidInputException"),
        ("9", "orders", "EntityNotFoundException")]
    assert [v["VersionId"] for v in tables.get_table_versions(db, settings, "sales", orders)["TableVersions"]] == ["3", "2"]


def test_batch_delete_table_reports_each_missing_table(db: store.Store, settings: Settings, orders: str) -> None:
    tables.create_table(db, settings, "sales", table_input("returns"))
    result = tables.batch_delete_table(db, settings, "sales", ["ORDERS", "ghost", "returns"])
    assert result == {"Errors": [{"TableName": "ghost", "ErrorDetail": {
        "ErrorCode": "EntityNotFoundException", "ErrorMessage": "Table ghost not found."}}]}
    assert tables.get_tables(db, settings, "sales")["TableList"] == []
    with pytest.raises(errors.EntityNotFoundException, match="Database nope not found"):
        tables.batch_delete_table(db, settings, "nope", ["a"])


def test_get_tables_pages_and_matches_names(db: store.Store, settings: Settings) -> None:
    databases.create_database(db, settings, {"Name": "d"})
    names = ["sales_2023", "sales_2024", "salesman", "returns", "a_1", "b_1", "c_1"]
    for name in names:
        tables.create_table(db, settings, "d", {"Name": name})
    pages = all_pages(lambda **kw: tables.get_tables(db, settings, "d", max_results=3, **kw), "TableList")
    assert [[t["Name"] for t in page] for page in pages] == [["a_1", "b_1", "c_1"], ["returns", "sales_2023", "sales_2024"],
                                                            ["salesman"]]

    def matching(expression: str, **kw: Any) -> list[str]:
        return [t["Name"] for t in tables.get_tables(db, settings, "d", expression, **kw)["TableList"]]

    assert matching("sales_*") == ["sales_2023", "sales_2024"]
    assert matching("SALES*") == ["sales_2023", "sales_2024", "salesman"]
    assert matching("^sales_20\\d\\d$") == ["sales_2023", "sales_2024"]
    assert matching("returns|[ab]_1") == ["a_1", "b_1", "returns"]
    assert matching("sales") == []  # the whole name must match
    pages = all_pages(lambda **kw: tables.get_tables(db, settings, "d", "*_*", max_results=2, **kw), "TableList")
    assert [[t["Name"] for t in page] for page in pages] == [["a_1", "b_1"], ["c_1", "sales_2023"], ["sales_2024"]]
    with pytest.raises(errors.InvalidInputException, match="groups"):
        matching("(sales)")


@pytest.mark.parametrize(("pattern", "name", "matches"), [
    ("abc", "abc", True), ("abc", "abcd", False), ("ab*", "abxyz", True), ("*c", "abc", True), ("*", "", True),
    ("a.c", "abc", True), ("a.c", "ac", False), ("a.*", "a", True), ("a.+", "a", False), ("ab?c", "ac", True),
    ("ab+c", "abbbc", True), ("[a-c]x", "bx", True), ("[^a-c]x", "bx", False), ("[A-Z]1", "q1", True),
    ("x|y|z", "y", True), ("\\.", ".", True), ("\\.", "a", False), ("\\d+", "2024", True), ("^a$", "a", True),
    ("a\\*", "a*", True), ("[]]", "]", True), ("t_[0-9]*", "t_2", True),
])  # fmt: skip
def test_name_patterns(pattern: str, name: str, matches: bool) -> None:
    assert search.name_matcher(pattern)(name) is matches


@pytest.mark.parametrize("pattern", ["(a)", "a{2}", "a|b)", "+a", "[ab", "a^b", "a$b", "\\"])
def test_name_patterns_that_are_refused(pattern: str) -> None:
    with pytest.raises(errors.InvalidInputException, match="Expression"):
        search.name_matcher(pattern)


def test_name_patterns_never_backtrack() -> None:
    """Patterns that make a backtracking matcher take exponential time answer at once here."""
    started = time.monotonic()
    assert search.name_matcher("a*" * 400 + "b")("a" * 255) is False
    assert search.name_matcher("a+" * 100 + "b")("a" * 255) is False
    assert time.monotonic() - started < 5


# --- cascades ----------------------------------------------------------------------------------


def _counts(db: store.Store) -> dict[str, int]:
    with db.read() as tx:
        return {
            "tables": len(store.catalog.find_tables(tx, None)),
            "versions": sum(len(store.catalog.find_versions(tx, t.database_name, t.name))
                            for t in store.catalog.find_tables(tx, None)),
            "partitions": sum(len(store.catalog.find_partitions(tx, t)) for t in store.catalog.find_tables(tx, None)),
        }


def test_deleting_a_database_deletes_its_tables_versions_and_partitions(db: store.Store, settings: Settings,
                                                                        orders: str) -> None:
    databases.create_database(db, settings, {"Name": "kept"})
    tables.create_table(db, settings, "kept", table_input("t"))
    partitions.create_partition(db, settings, "kept", "t", partition(2020, "eu"))
    tables.update_table(db, settings, "sales", table_input(orders, Description="v1"))
    partitions.batch_create_partition(db, settings, "sales", orders, [partition(2020, "eu"), partition(2021, "us")])
    assert _counts(db) == {"tables": 2, "versions": 1, "partitions": 3}
    databases.delete_database(db, settings, "sales")
    assert _counts(db) == {"tables": 1, "versions": 0, "partitions": 1}
    with db.read() as tx:  # nothing of the deleted database is left behind, even unreachable
        assert store.catalog.find_versions(tx, "sales", orders) == []
        assert store.catalog.get_partition(tx, "sales", orders, ["2020", "eu"]) is None
    databases.create_database(db, settings, {"Name": "sales"})  # a new database of the same name is empty
    assert tables.get_tables(db, settings, "sales")["TableList"] == []


def test_deleting_a_table_deletes_its_versions_and_partitions(db: store.Store, settings: Settings, orders: str) -> None:
    tables.update_table(db, settings, "sales", table_input(orders, Description="v1"))
    partitions.create_partition(db, settings, "sales", orders, partition(2020, "eu"))
    tables.delete_table(db, settings, "sales", orders)
    assert _counts(db) == {"tables": 0, "versions": 0, "partitions": 0}
    tables.create_table(db, settings, "sales", table_input(orders))
    assert [v["VersionId"] for v in tables.get_table_versions(db, settings, "sales", orders)["TableVersions"]] == ["0"]
    assert partitions.get_partitions(db, settings, "sales", orders)["Partitions"] == []


# --- partitions --------------------------------------------------------------------------------


def test_partition_lifecycle(db: store.Store, settings: Settings, orders: str) -> None:
    partitions.create_partition(db, settings, "SALES", "Orders", partition(2024, "eu", Parameters={"rows": "10"}))
    got = partitions.get_partition(db, settings, "sales", orders, ["2024", "eu"])["Partition"]
    assert {k: got[k] for k in ("Values", "DatabaseName", "TableName", "CatalogId", "Parameters")} == {
        "Values": ["2024", "eu"], "DatabaseName": "sales", "TableName": "orders", "CatalogId": settings.account_id,
        "Parameters": {"rows": "10"}}
    assert got["CreationTime"].tzinfo is not None
    with pytest.raises(errors.AlreadyExistsException, match="Partition already exists"):
        partitions.create_partition(db, settings, "sales", orders, partition(2024, "eu"))
    with pytest.raises(errors.InvalidInputException, match=r"has 1 value; table orders has 2 partition keys \(year, region\)"):
        partitions.create_partition(db, settings, "sales", orders, {"Values": ["2024"]})
    with pytest.raises(errors.InvalidInputException, match="has 3 values"):
        partitions.get_partition(db, settings, "sales", orders, ["2024", "eu", "x"])
    with pytest.raises(errors.EntityNotFoundException, match="Cannot find partition"):
        partitions.get_partition(db, settings, "sales", orders, ["2024", "EU"])  # values are case-sensitive
    partitions.update_partition(db, settings, "sales", orders, ["2024", "eu"],
                                {"StorageDescriptor": {"Location": "s3://moved/"}})
    got = partitions.get_partition(db, settings, "sales", orders, ["2024", "eu"])["Partition"]
    assert got["StorageDescriptor"] == {"Location": "s3://moved/"} and "Parameters" not in got
    with pytest.raises(errors.InvalidInputException, match="cannot change"):
        partitions.update_partition(db, settings, "sales", orders, ["2024", "eu"], partition(2025, "eu"))
    with pytest.raises(errors.EntityNotFoundException, match="Cannot find partition"):
        partitions.update_partition(db, settings, "sales", orders, ["1999", "eu"], {})
    partitions.delete_partition(db, settings, "sales", orders, ["2024", "eu"])
    with pytest.raises(errors.EntityNotFoundException, match="Cannot find partition"):
        partitions.delete_partition(db, settings, "sales", orders, ["2024", "eu"])
    with pytest.raises(errors.EntityNotFoundException, match="Table ghost not found"):
        partitions.create_partition(db, settings, "sales", "ghost", partition(2024, "eu"))


def test_batch_partition_operations_fail_item_by_item(db: store.Store, settings: Settings, orders: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    partitions.create_partition(db, settings, "sales", orders, partition(2020, "eu"))
    result = partitions.batch_create_partition(db, settings, "sales", orders, [
        partition(2021, "eu"), partition(2020, "eu"), {"Values": ["2022"]}, partition(2021, "eu"), partition(2022, "us")])
    assert [(e["PartitionValues"], e["ErrorDetail"]["ErrorCode"]) for e in result["Errors"]] == [
        (["2022"], "InvalidInputException"), (["2021", "eu"], "AlreadyExistsException"),
        (["2020", "eu"], "AlreadyExistsException")]
    assert values_of(partitions.get_partitions(db, settings, "sales", orders)) == [
        ["2020", "eu"], ["2021", "eu"], ["2022", "us"]]

    result = partitions.batch_update_partition(db, settings, "sales", orders, [
        {"PartitionValueList": ["2020", "eu"], "PartitionInput": partition(2020, "eu", Parameters={"n": "1"})},
        {"PartitionValueList": ["1999", "eu"], "PartitionInput": partition(1999, "eu")},
        {"PartitionValueList": ["2021", "eu"], "PartitionInput": partition(2023, "eu")}])
    assert [(e["PartitionValueList"], e["ErrorDetail"]["ErrorCode"]) for e in result["Errors"]] == [
        (["1999", "eu"], "EntityNotFoundException"), (["2021", "eu"], "InvalidInputException")]
    assert partitions.get_partition(db, settings, "sales", orders, ["2020", "eu"])["Partition"]["Parameters"] == {"n": "1"}

    asked = [{"Values": ["2022", "us"]}, {"Values": ["1999", "eu"]}, {"Values": ["2020", "eu"]}, {"Values": ["2021", "eu"]}]
    monkeypatch.setattr(partitions, "MAX_BATCH_GET", 3)
    result = partitions.batch_get_partition(db, settings, "sales", orders, asked)
    assert values_of(result) == [["2022", "us"], ["2020", "eu"]]  # in the order asked; the missing one left out
    assert result["UnprocessedKeys"] == [{"Values": ["2021", "eu"]}]

    result = partitions.batch_delete_partition(db, settings, "sales", orders,
                                               [{"Values": ["2020", "eu"]}, {"Values": ["1999", "eu"]}])
    assert result["Errors"] == [{"PartitionValues": ["1999", "eu"], "ErrorDetail": {
        "ErrorCode": "EntityNotFoundException", "ErrorMessage": "Cannot find partition."}}]
    assert values_of(partitions.get_partitions(db, settings, "sales", orders)) == [["2021", "eu"], ["2022", "us"]]


def test_get_partitions_pages_and_segments_are_disjoint_and_cover(db: store.Store, settings: Settings,
                                                                  orders: str) -> None:
    made = [partition(year, region) for year in range(2000, 2013) for region in ("eu", "us")]
    partitions.batch_create_partition(db, settings, "sales", orders, made)
    everything = [p["Values"] for p in made]
    pages = all_pages(lambda **kw: partitions.get_partitions(db, settings, "sales", orders, max_results=7, **kw),
                      "Partitions")
    assert [len(page) for page in pages] == [7, 7, 7, 5]
    assert [p["Values"] for page in pages for p in page] == everything  # creation order, no repeat, no gap
    for total in (1, 3, 10):
        segments = [values_of(partitions.get_partitions(db, settings, "sales", orders,
                                                        segment={"SegmentNumber": n, "TotalSegments": total}))
                    for n in range(total)]
        flat = [v for segment in segments for v in segment]
        assert sorted(flat) == sorted(everything) and len(flat) == len(everything)
        again = values_of(partitions.get_partitions(db, settings, "sales", orders,
                                                    segment={"SegmentNumber": 0, "TotalSegments": total}))
        assert again == segments[0]  # the split is deterministic
    paged = all_pages(lambda **kw: partitions.get_partitions(
        db, settings, "sales", orders, segment={"SegmentNumber": 1, "TotalSegments": 3}, max_results=2, **kw),
        "Partitions")
    assert [p["Values"] for page in paged for p in page] == values_of(partitions.get_partitions(
        db, settings, "sales", orders, segment={"SegmentNumber": 1, "TotalSegments": 3}))
    for bad in ({"SegmentNumber": 3, "TotalSegments": 3}, {"SegmentNumber": 0, "TotalSegments": 11},
                {"SegmentNumber": -1, "TotalSegments": 2}):
        with pytest.raises(errors.InvalidInputException, match="Segment"):
            partitions.get_partitions(db, settings, "sales", orders, segment=bad)


def test_exclude_column_schema_leaves_out_the_columns(db: store.Store, settings: Settings, orders: str) -> None:
    partitions.create_partition(db, settings, "sales", orders, partition(2024, "eu"))
    [full] = partitions.get_partitions(db, settings, "sales", orders)["Partitions"]
    [lean] = partitions.get_partitions(db, settings, "sales", orders, exclude_column_schema=True)["Partitions"]
    assert full["StorageDescriptor"]["Columns"] == COLUMNS
    assert lean["StorageDescriptor"] == {"Location": "s3://bucket/t/year=2024/region=eu/"}


def test_get_partitions_prunes_in_sql_by_glues_expression(db: store.Store, settings: Settings, orders: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    made = [partition(year, region) for year in (2019, 2020, 2021, 2022) for region in ("eu", "us", "apac")]
    partitions.batch_create_partition(db, settings, "sales", orders, made)
    loaded: list[int] = []
    real = store.catalog.Partition
    monkeypatch.setattr(store.catalog, "Partition", lambda *row: loaded.append(1) or real(*row))

    def pruned(expression: str, **kw: Any) -> list[list[str]]:
        loaded.clear()
        found = values_of(partitions.get_partitions(db, settings, "sales", orders, expression, **kw))
        # the database filtered: only matching rows came back (and, for a page, the next one's first)
        assert len(loaded) == len(found) + ("max_results" in kw)
        return found

    assert pruned("year > 2020 AND region = 'eu'") == [["2021", "eu"], ["2022", "eu"]]
    assert pruned("year BETWEEN 2019 AND 2020 AND region LIKE 'a%'") == [["2019", "apac"], ["2020", "apac"]]
    assert pruned("region IN ('us') AND NOT year < 2022") == [["2022", "us"]]
    assert pruned("year = 2019 OR year = 2022", max_results=3) == [["2019", "eu"], ["2019", "us"], ["2019", "apac"]]
    assert len(pruned("region <> 'eu'", segment={"SegmentNumber": 0, "TotalSegments": 2})) + len(
        pruned("region <> 'eu'", segment={"SegmentNumber": 1, "TotalSegments": 2})) == 8
    assert pruned("year > 2009") == [p["Values"] for p in made]  # compared as integers, not as text
    for bad in ("year >", "nokey = 1", "year = 'abc'"):
        with pytest.raises(errors.InvalidInputException):
            partitions.get_partitions(db, settings, "sales", orders, bad)


# --- SearchTables ------------------------------------------------------------------------------


def test_search_tables_by_text_filters_and_sort(db: store.Store, settings: Settings, orders: str) -> None:
    databases.create_database(db, settings, {"Name": "web"})
    tables.create_table(db, settings, "web", {"Name": "customer-link", "Description": "Links we follow",
                                              "Parameters": {"classification": "json"}})
    tables.create_table(db, settings, "web", {"Name": "xxlinkyy", "StorageDescriptor": {"Columns": [{"Name": "url"}]}})
    tables.create_table(db, settings, "sales", {"Name": "returns", "Owner": "finance"})

    def names(**kwargs: Any) -> list[str]:
        return [f"{t['DatabaseName']}.{t['Name']}" for t in tables.search_tables(db, settings, **kwargs)["TableList"]]

    assert names() == ["sales.orders", "sales.returns", "web.customer-link", "web.xxlinkyy"]
    assert names(search_text="LINK") == ["web.customer-link", "web.xxlinkyy"]
    assert names(search_text='"links we follow"') == ["web.customer-link"]
    assert names(search_text="order id") == ["sales.orders"]  # a column's comment
    assert names(search_text="URL") == ["web.xxlinkyy"]  # a column's name
    assert names(filters=[{"Key": "Name", "Value": "link"}]) == ["web.customer-link"]  # tokens, as Glue documents
    assert names(filters=[{"Key": "classification", "Value": "json"}, {"Key": "DatabaseName", "Value": "web"}]) == [
        "web.customer-link"]
    assert names(filters=[{"Key": "Owner", "Value": "finance"}]) == ["sales.returns"]
    created = tables.get_table(db, settings, "web", "xxlinkyy")["Table"]["CreateTime"]
    assert names(filters=[{"Key": "CreateTime", "Value": str(created.timestamp()),
                           "Comparator": "GREATER_THAN_EQUALS"}]) == ["sales.returns", "web.xxlinkyy"]
    assert names(sort_criteria=[{"FieldName": "Name", "Sort": "DESC"}]) == [
        "web.xxlinkyy", "sales.returns", "sales.orders", "web.customer-link"]
    pages = all_pages(lambda **kw: tables.search_tables(db, settings, max_results=3,
                                                        sort_criteria=[{"FieldName": "UpdateTime", "Sort": "DESC"}], **kw),
                      "TableList")
    assert [[t["Name"] for t in page] for page in pages] == [["returns", "xxlinkyy", "customer-link"], ["orders"]]
    with pytest.raises(errors.InvalidInputException, match="SortCriteria"):
        tables.search_tables(db, settings, sort_criteria=[{"FieldName": "Owner"}])


# --- definition files --------------------------------------------------------------------------


def test_definition_files_create_and_update_databases(db: store.Store, settings: Settings, tmp_path: Path) -> None:
    def apply(data: dict[str, Any]) -> list[tuple[str, str, str]]:
        defs = loading.load_mapping(data, tmp_path)
        return [(o.kind, o.name, o.change) for o in service_definitions.apply(db, defs)]

    first = {"Databases": [{"Name": "Raw", "Description": "landing", "Tags": {"team": "data"}}, {"Name": "curated"}]}
    assert apply(first) == [("database", "raw", "created"), ("database", "curated", "created")]
    assert apply(first) == [("database", "raw", "unchanged"), ("database", "curated", "unchanged")]
    tables.create_table(db, settings, "raw", {"Name": "events"})
    second = {"Databases": [{"Name": "raw", "Description": "landing zone"}, {"Name": "curated", "Tags": {"t": "1"}}]}
    assert apply(second) == [("database", "raw", "updated"), ("database", "curated", "updated")]
    assert databases.get_database(db, settings, "raw")["Database"]["Description"] == "landing zone"
    assert tables.get_table(db, settings, "raw", "events")["Table"]["Name"] == "events"  # what it holds stays
    with db.read() as tx:
        assert store.tags.get(tx, "database", "raw") == {"team": "data"}  # a file without Tags keeps them
        assert store.tags.get(tx, "database", "curated") == {"t": "1"}
    # --prune never deletes a database (it holds what crawlers wrote)
    assert service_definitions.pruned(db, loading.load_mapping({"Databases": []}, tmp_path)) == []


def test_a_transaction_writes_a_table_and_its_partitions_or_nothing(db: store.Store, settings: Settings) -> None:
    """What a crawler does: tables and partitions written with the ``*_in`` verbs in its own
    transaction, all of it undone when one part fails."""
    with db.transaction() as tx:
        made = tables.create_in(tx, "default", table_input("crawled"))
        assert partitions.create_in(tx, made, [partition(2024, "eu"), partition(2024, "us")]) == []
    assert len(partitions.get_partitions(db, settings, "default", "crawled")["Partitions"]) == 2
    with pytest.raises(errors.AlreadyExistsException), db.transaction() as tx:
        made = tables.create_in(tx, "default", table_input("half"))
        partitions.create_in(tx, made, [partition(2024, "eu")])
        tables.create_in(tx, "default", table_input("crawled"))
    with pytest.raises(errors.EntityNotFoundException):
        tables.get_table(db, settings, "default", "half")


def test_definition_files_validate_databases_as_the_other_kinds(tmp_path: Path) -> None:
    with pytest.raises(errors.ValidationError) as caught:
        loading.load_mapping({"Databases": [{"Name": "a", "LocationURI": "s3://b/"}, {"Name": "A"}, {"Description": "x"}]},
                             tmp_path)
    assert sorted(str(p) for p in caught.value.problems) == [
        "Databases[0].LocationURI: unknown field (did you mean LocationUri?)",
        "Databases[1].Name: duplicate database name 'a' (first at Databases[0])",  # Glue folds names
        "Databases[2].Name: is required",
    ]
    # what get-database, get-databases and create-database --cli-input-json give loads too
    exported = {"Database": {"Name": "One", "CreateTime": 1.5, "CatalogId": "123456789012", "Parameters": {"n": 1}},
                "DatabaseList": [{"Name": "two", "TargetDatabase": {"DatabaseName": "x"}}], "NextToken": "t"}
    defs = loading.load_mapping(exported, tmp_path)
    assert [d.to_glue() for d in defs.databases] == [
        {"Name": "one", "Parameters": {"n": "1"}}, {"Name": "two", "TargetDatabase": {"DatabaseName": "x"}}]
    assert {str(n) for n in defs.notes} >= {"Database.CreateTime: dropped; only Glue's GetDatabase returns it",
                                            "DatabaseList[0].TargetDatabase: kept; adhere does not use it"}
    request = loading.load_mapping({"DatabaseInput": {"Name": "three"}, "Tags": {"team": "data"}}, tmp_path)
    assert [(d.name, d.tags) for d in request.databases] == [("three", {"team": "data"})]
    # an `adhere --endpoint apply` sends them to the serve, which loads them back the same
    again = loading.load_mapping(service_definitions.sent(request), tmp_path)
    assert again.databases == request.databases
