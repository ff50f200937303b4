"""The catalog inputs a crawl writes, and how it tells a change from a crawl's noise (pure)."""

from __future__ import annotations

import copy

from catalog import inventory, reconcile
from orchestrator.definitions import glue

CSV = inventory.Kind("csv", "gzip", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                     "org.apache.hadoop.mapred.TextInputFormat",
                     "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat", ",")  # fmt: skip
JSON = inventory.Kind("json", "none", "org.openx.data.jsonserde.JsonSerDe", "in", "out")
POLICY = reconcile.Policy("c1", "run-1")


def leaf(parts: tuple[str, ...], columns: tuple[tuple[str, str], ...], kind: inventory.Kind = CSV,
         objects: int = 2, records: int = 10, average: int = 20) -> inventory.Leaf:  # fmt: skip
    parameters = {"delimiter": ",", "skip.header.line.count": "1"} if kind is CSV else {}
    serde = {"field.delim": ","} if kind is CSV else {"paths": ",".join(sorted(n for n, _ in columns))}
    return inventory.Leaf(parts, kind, columns, objects, objects * 100, records, average, parameters, serde)


def proposal(*leaves: inventory.Leaf, keys: tuple[str, ...] = ("p",)) -> reconcile.Proposal:
    partitions = [((lf.parts[-1].split("=")[-1],), f"s3://b/t/{'/'.join(lf.parts)}/", lf) for lf in leaves]
    return reconcile.Proposal("t", "s3://b/t/", keys, partitions, list(leaves), ("**.tmp",))


def test_a_table_input_is_what_a_glue_crawler_writes() -> None:
    a = leaf(("p=1",), (("id", "bigint"), ("name", "string")), records=10, average=20)
    b = leaf(("p=2",), (("id", "double"), ("extra", "string")), records=30, average=40)
    table = reconcile.table_input(proposal(a, b), POLICY)
    assert list(glue.check(table, "TableInput")) == []
    sd = table["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == [("id", "double"), ("name", "string"), ("extra", "string")]
    assert sd["Compressed"] is True and sd["Location"] == "s3://b/t/"
    assert sd["SerdeInfo"] == {"SerializationLibrary": CSV.serde, "Parameters": {"field.delim": ","}}
    assert table["PartitionKeys"] == [{"Name": "p", "Type": "string"}]
    assert table["Parameters"] == {
        "delimiter": ",", "skip.header.line.count": "1", "classification": "csv", "compressionType": "gzip",
        "typeOfData": "file", "recordCount": "40", "objectCount": "4", "sizeKey": "400", "averageRecordSize": "35",
        "UPDATED_BY_CRAWLER": "c1", "CrawlerSchemaSerializerVersion": "1.0", "CrawlerSchemaDeserializerVersion": "1.0",
        "CRAWL_RUN_ID": "run-1", "exclusions": '["**.tmp"]',
    }  # fmt: skip
    assert sd["Parameters"] == table["Parameters"]


def test_json_paths_follow_the_merged_columns() -> None:
    a = leaf(("p=1",), (("b", "int"),), JSON)
    b = leaf(("p=2",), (("a", "int"), ("b", "int")), JSON)
    table = reconcile.table_input(proposal(a, b), POLICY)
    assert table["StorageDescriptor"]["SerdeInfo"]["Parameters"] == {"paths": "a,b"}


def test_a_partition_has_its_own_descriptor_or_the_tables() -> None:
    a = leaf(("p=1",), (("id", "bigint"),))
    b = leaf(("p=2",), (("id", "bigint"), ("more", "string")))
    table = reconcile.table_input(proposal(a, b), POLICY)
    own = reconcile.partition_input(("1",), "s3://b/t/p=1/", a, table, POLICY)
    assert list(glue.check(own, "PartitionInput")) == []
    assert own["Values"] == ["1"] and own["StorageDescriptor"]["Location"] == "s3://b/t/p=1/"
    assert own["StorageDescriptor"]["Columns"] == [{"Name": "id", "Type": "bigint"}]
    assert own["Parameters"]["objectCount"] == "2" and "CRAWL_RUN_ID" not in own["Parameters"]
    inherit = reconcile.Policy("c1", "run-1", inherit_from_table=True)
    inherited = reconcile.partition_input(("1",), "s3://b/t/p=1/", a, table, inherit)
    assert inherited["StorageDescriptor"]["Columns"] == table["StorageDescriptor"]["Columns"]
    assert inherited["StorageDescriptor"]["Location"] == "s3://b/t/p=1/"
    assert inherited["StorageDescriptor"]["Parameters"]["objectCount"] == "2"


def test_a_new_crawl_run_id_is_no_change() -> None:
    old = reconcile.table_input(proposal(leaf(("p=1",), (("id", "bigint"),))), POLICY)
    new = reconcile.table_input(proposal(leaf(("p=1",), (("id", "bigint"),))), reconcile.Policy("c1", "run-2"))
    assert old != new and reconcile.same(old, new)


def test_changes_are_named() -> None:
    base = reconcile.table_input(proposal(leaf(("p=1",), (("id", "bigint"),))), POLICY)

    def changed(edit: str) -> str:
        new = copy.deepcopy(base)
        if edit == "schema":
            new["StorageDescriptor"]["Columns"].append({"Name": "x", "Type": "int"})
        elif edit == "partition keys":
            new["PartitionKeys"] = []
        elif edit == "format":
            new["Parameters"]["classification"] = "json"
        elif edit == "location":
            new["StorageDescriptor"]["Location"] = "s3://b/u/"
        elif edit == "statistics":
            new["Parameters"]["recordCount"] = "99"
        else:
            new["Parameters"]["exclusions"] = "[]"
        return reconcile.describe_change(base, new)

    for edit in ("schema", "partition keys", "format", "location", "statistics", "parameters"):
        assert changed(edit) == edit


def test_merge_new_columns_appends_and_keeps() -> None:
    old = [{"Name": "id", "Type": "int", "Comment": "key"}, {"Name": "gone", "Type": "string"}]
    new = [{"Name": "ID", "Type": "bigint"}, {"Name": "extra", "Type": "double"}]
    assert reconcile.merge_new_columns(old, new) == [*old, {"Name": "extra", "Type": "double"}]


def test_fundamental_changes_are_named_as_glue_does() -> None:
    base = reconcile.table_input(proposal(leaf(("p=1",), (("id", "bigint"),))), POLICY)
    other = copy.deepcopy(base)
    assert reconcile.fundamental_change(base, other) is None
    other["Parameters"]["compressionType"] = "none"
    assert reconcile.fundamental_change(base, other) == "parameter 'compressionType'"
    hand_made = {**base, "Parameters": {k: v for k, v in base["Parameters"].items() if k != "compressionType"}}
    assert reconcile.fundamental_change(hand_made, base) == "parameter 'compressionType'"  # B.1's pitfall
    other = {**copy.deepcopy(base), "PartitionKeys": [{"Name": "q", "Type": "string"}]}
    assert reconcile.fundamental_change(base, other) == "the partition keys"


def test_what_a_user_set_is_kept() -> None:
    fresh = reconcile.table_input(proposal(leaf(("p=1",), (("id", "bigint"), ("n", "string")))), POLICY)
    old = copy.deepcopy(fresh)
    old["Description"] = "orders"
    old["Owner"] = "data-team"
    old["Parameters"].update({"team": "ops", "DEPRECATED_BY_CRAWLER": "1", "areColumnsQuoted": "true"})
    old["StorageDescriptor"]["Columns"][0]["Comment"] = "the key"
    kept = reconcile.keep_user_fields(old, fresh)
    assert (kept["Description"], kept["Owner"], kept["Parameters"]["team"]) == ("orders", "data-team", "ops")
    assert "DEPRECATED_BY_CRAWLER" not in kept["Parameters"]  # the data is back
    assert "areColumnsQuoted" not in kept["Parameters"]  # the crawler's, and no longer found
    assert kept["StorageDescriptor"]["Columns"][0] == {"Name": "id", "Type": "bigint", "Comment": "the key"}
    assert fresh["StorageDescriptor"]["Columns"][0] == {"Name": "id", "Type": "bigint"}  # not modified
