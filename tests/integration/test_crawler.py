"""Crawls of realistic trees into the Data Catalog, on SQLite and PostgreSQL (``db``), on local
disk and on a moto S3 server: the tables, columns, types, partitions and parameters a crawl
writes, what a re-crawl changes under each policy, and that a crawl writes all or nothing."""

from __future__ import annotations

import bz2
import gzip
import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from integration.s3_fixtures import s3_client

from catalog import classifiers, crawler, inventory, storage
from orchestrator import store
from orchestrator.definitions import glue

# --- writing trees -------------------------------------------------------------------------------


def parquet(path: Path, rows: int = 3, **columns: pa.DataType) -> None:
    """A Parquet file with ``rows`` rows of the given columns (default: id bigint, name string)."""
    columns = columns or {"id": pa.int64(), "name": pa.string()}
    data = {}
    for name, type_ in columns.items():
        if pa.types.is_string(type_):
            data[name] = pa.array([f"{name}{i}" for i in range(rows)], type_)
        elif pa.types.is_floating(type_):
            data[name] = pa.array([i * 0.5 for i in range(rows)], type_)
        else:
            data[name] = pa.array(range(rows), type_)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(data), path)


def text(path: Path, body: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body.encode() if isinstance(body, str) else body)


CSV = "id,name,price\n1,apple,0.5\n2,pear,1.25\n3,fig,2.0\n"
JSONL = '{"user": "a", "clicks": 3, "tags": ["x"]}\n{"user": "b", "clicks": 5, "tags": []}\n'


def sales(root: Path, days: tuple[str, ...] = ("01", "02"), months: tuple[str, ...] = ("01", "02")) -> Path:
    """sales/year=2024/month=MM/day=DD/part-0.parquet: Hive partitions three levels deep."""
    for month in months:
        for day in days:
            parquet(root / "sales" / "year=2024" / f"month={month}" / f"day={day}" / "part-0.parquet", rows=4)
    return root / "sales"


# --- crawling and reading back -------------------------------------------------------------------


def definition(path: Path | str, name: str = "c1", **extra: Any) -> dict[str, Any]:
    target = {"Path": str(path), **extra.pop("target", {})}
    return {"Name": name, "DatabaseName": "lake", "Targets": {"S3Targets": [target]}, **extra}


def run(db: store.Store, crawl_def: Mapping[str, Any], crawl_id: str = "run-1",
        **kwargs: Any) -> tuple[crawler.Summary, list[str]]:  # fmt: skip
    lines: list[str] = []
    summary = crawler.crawl(db, crawl_def, crawl_id=crawl_id, log=lines.append, **kwargs)
    return summary, lines


def tables(db: store.Store, database: str = "lake") -> dict[str, dict[str, Any]]:
    with db.read() as tx:
        return {t.name: t.definition for t in store.catalog.find_tables(tx, database)}


def partitions(db: store.Store, table: str, database: str = "lake") -> dict[tuple[str, ...], dict[str, Any]]:
    with db.read() as tx:
        row = store.catalog.get_table(tx, database, table)
        assert row is not None
        return {tuple(p.values): p.definition for p in store.catalog.find_partitions(tx, row)}


def versions(db: store.Store, table: str, database: str = "lake") -> list[dict[str, Any]]:
    with db.read() as tx:
        return [v.definition for v in store.catalog.find_versions(tx, database, table)]


def columns(definition: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(c["Name"], c["Type"]) for c in definition["StorageDescriptor"]["Columns"]]


def keys(definition: Mapping[str, Any]) -> list[str]:
    return [k["Name"] for k in definition["PartitionKeys"]]


def url(path: Path) -> str:
    return f"file://{path}/"


def counts(summary: crawler.Summary) -> tuple[int, ...]:
    return (summary.tables_created, summary.tables_updated, summary.tables_deleted,
            summary.partitions_created, summary.partitions_updated, summary.partitions_deleted)  # fmt: skip


@pytest.fixture
def classified(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The keys of the files classified during the test (crawls of small trees classify inline)."""
    seen: list[str] = []
    real = classifiers.classify

    def counting(file: classifiers.Readable) -> classifiers.Classification:
        seen.append(file.key)
        return real(file)

    monkeypatch.setattr(classifiers, "classify", counting)
    yield seen


# --- what a first crawl writes -------------------------------------------------------------------


def test_hive_partitions_three_levels_deep_make_one_table(db: store.Store, tmp_path: Path) -> None:
    root = sales(tmp_path)
    summary, lines = run(db, definition(root))
    assert counts(summary) == (1, 0, 0, 4, 0, 0)
    [table] = tables(db).values()
    assert table["Name"] == "sales"
    assert keys(table) == ["year", "month", "day"]
    assert columns(table) == [("id", "bigint"), ("name", "string")]
    assert table["TableType"] == "EXTERNAL_TABLE" and table["Owner"] == "owner"
    sd = table["StorageDescriptor"]
    assert sd["Location"] == url(root)
    assert sd["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert sd["OutputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert sd["Compressed"] is False
    parameters = table["Parameters"]
    size = sum(f.stat().st_size for f in root.rglob("*.parquet"))
    assert parameters == {
        "classification": "parquet", "compressionType": "none", "typeOfData": "file", "recordCount": "16",
        "objectCount": "4", "sizeKey": str(size), "averageRecordSize": str(round(size / 16)),
        "UPDATED_BY_CRAWLER": "c1", "CrawlerSchemaSerializerVersion": "1.0",
        "CrawlerSchemaDeserializerVersion": "1.0", "CRAWL_RUN_ID": "run-1",
    }  # fmt: skip
    assert sd["Parameters"] == parameters
    assert list(glue.check(table, "TableInput")) == []
    found = partitions(db, "sales")
    assert sorted(found) == [("2024", m, d) for m in ("01", "02") for d in ("01", "02")]
    one = found[("2024", "02", "01")]
    assert one["StorageDescriptor"]["Location"] == url(root / "year=2024" / "month=02" / "day=01")
    assert columns(one) == columns(table)
    assert one["Parameters"]["objectCount"] == "1" and one["Parameters"]["recordCount"] == "4"
    assert "CRAWL_RUN_ID" not in one["Parameters"]
    assert list(glue.check(one, "PartitionInput")) == []
    assert summary.to_glue() == {
        "TABLE": {"ADD": json.dumps({"Details": {"names": ["sales"]}, "Count": 1})},
        "PARTITION": {"ADD": json.dumps({"Details": {"sales": 4}, "Count": 4})},
    }
    assert f"created table sales at {url(root)} (4 partitions)" in lines
    assert any("created database lake" in line for line in lines)


def test_unnamed_partitions_are_partition_0_1(db: store.Store, tmp_path: Path) -> None:
    for month, day in (("2024", "01"), ("2024", "02"), ("2025", "01")):
        text(tmp_path / "logs" / month / day / "a.json", JSONL)
    run(db, definition(tmp_path / "logs"))
    table = tables(db)["logs"]
    assert keys(table) == ["partition_0", "partition_1"]
    assert columns(table) == [("user", "string"), ("clicks", "int"), ("tags", "array<string>")]
    assert table["StorageDescriptor"]["SerdeInfo"] == {
        "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe", "Parameters": {"paths": "clicks,tags,user"}}
    assert sorted(partitions(db, "logs")) == [("2024", "01"), ("2024", "02"), ("2025", "01")]


def test_mixed_formats_under_one_path_make_a_table_each(db: store.Store, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    text(root / "fruit" / "a.csv", CSV)
    text(root / "fruit" / "b.csv", CSV)
    text(root / "clicks" / "day=1" / "a.json", JSONL)
    text(root / "clicks" / "day=2" / "a.json", JSONL)
    parquet(root / "orders" / "o.parquet")
    summary, _ = run(db, definition(root))
    found = tables(db)
    assert sorted(found) == ["clicks", "fruit", "orders"]
    assert summary.tables_created == 3 and summary.partitions_created == 2
    fruit = found["fruit"]
    assert columns(fruit) == [("id", "bigint"), ("name", "string"), ("price", "double")]
    assert fruit["Parameters"]["classification"] == "csv"
    assert fruit["Parameters"]["delimiter"] == ","
    assert fruit["Parameters"]["skip.header.line.count"] == "1"
    assert fruit["Parameters"]["recordCount"] == "6"
    assert fruit["StorageDescriptor"]["SerdeInfo"] == {
        "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", "Parameters": {"field.delim": ","}}
    assert fruit["StorageDescriptor"]["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert keys(fruit) == [] and fruit["StorageDescriptor"]["Location"] == url(root / "fruit")
    assert keys(found["clicks"]) == ["day"] and found["clicks"]["Parameters"]["classification"] == "json"
    assert found["orders"]["Parameters"]["classification"] == "parquet"


def test_schema_drift_below_the_threshold_merges_into_one_table(db: store.Store, tmp_path: Path) -> None:
    five = {name: pa.int32() for name in "abcde"}
    parquet(tmp_path / "t" / "p=1" / "x.parquet", **five)
    parquet(tmp_path / "t" / "p=2" / "x.parquet", **{**five, "a": pa.int64(), "f": pa.string()})  # 5 of 6 shared
    run(db, definition(tmp_path / "t"))
    table = tables(db)["t"]
    assert columns(table) == [("a", "bigint"), *((n, "int") for n in "bcde"), ("f", "string")]
    found = partitions(db, "t")
    assert columns(found[("1",)]) == [(n, "int") for n in "abcde"]  # each partition keeps its own schema
    assert columns(found[("2",)])[-1] == ("f", "string")


def test_schema_drift_above_the_threshold_splits_unless_combined(db: store.Store, tmp_path: Path) -> None:
    parquet(tmp_path / "t" / "year=2017" / "x.parquet", a=pa.int64(), b=pa.string())
    parquet(tmp_path / "t" / "year=2018" / "x.parquet", c=pa.int64(), d=pa.string())
    summary, _ = run(db, definition(tmp_path / "t"))
    assert sorted(tables(db)) == ["year_2017", "year_2018"] and summary.partitions_created == 0
    grouping = json.dumps({"Version": 1.0, "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"}})
    run(db, definition(tmp_path / "t", name="c2", DatabaseName="combined", Configuration=grouping))
    [table] = tables(db, "combined").values()
    assert (table["Name"], keys(table)) == ("t", ["year"])
    assert columns(table) == [("a", "bigint"), ("b", "string"), ("c", "bigint"), ("d", "string")]


def test_compressed_files_are_classified_and_marked(db: store.Store, tmp_path: Path) -> None:
    text(tmp_path / "z" / "csv" / "a.csv.gz", gzip.compress(CSV.encode()))
    text(tmp_path / "z" / "json" / "a.json.bz2", bz2.compress(JSONL.encode()))
    run(db, definition(tmp_path / "z"))
    found = tables(db)
    assert (found["csv"]["Parameters"]["compressionType"], found["csv"]["StorageDescriptor"]["Compressed"]) == ("gzip", True)
    assert columns(found["csv"]) == [("id", "bigint"), ("name", "string"), ("price", "double")]
    assert (found["json"]["Parameters"]["compressionType"], found["json"]["Parameters"]["classification"]) == ("bzip2", "json")


def test_corrupt_empty_and_unreadable_files_are_logged_and_skipped(db: store.Store, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    root = tmp_path / "t"
    parquet(root / "p=1" / "good.parquet")
    parquet(root / "p=2" / "good.parquet")
    good = (root / "p=1" / "good.parquet").read_bytes()
    text(root / "p=1" / "truncated.parquet", good[: len(good) // 2])
    text(root / "p=1" / "empty.parquet", b"")
    text(root / "p=2" / "noise.bin", bytes(range(256)) * 4)
    text(root / "p=2" / "locked.parquet", good)
    real = storage.Object.read

    def read(self: storage.Object, start: int, length: int) -> bytes:
        if self.key.endswith("locked.parquet"):
            raise storage.StorageError(f"cannot read {self.url}: Permission denied")
        return real(self, start, length)

    monkeypatch.setattr(storage.Object, "read", read)
    summary, lines = run(db, definition(root))
    assert counts(summary) == (1, 0, 0, 2, 0, 0)
    table = tables(db)["t"]
    assert table["Parameters"]["objectCount"] == "2"
    assert f"skipped {root}/p=1/empty.parquet: empty" in lines
    assert f"skipped {root}/p=1/truncated.parquet: not a format adhere recognises, or corrupt" in lines
    assert f"skipped {root}/p=2/noise.bin: not a format adhere recognises, or corrupt" in lines
    assert f"skipped {root}/p=2/locked.parquet: cannot read {root}/p=2/locked.parquet: Permission denied" in lines


def test_a_path_of_unknown_files_makes_unknown_tables(db: store.Store, tmp_path: Path) -> None:
    text(tmp_path / "blobs" / "a.bin", bytes(range(256)))
    text(tmp_path / "blobs" / "b.bin", bytes(range(256)))
    run(db, definition(tmp_path / "blobs"))
    table = tables(db)["blobs"]
    assert table["Parameters"]["classification"] == "UNKNOWN" and columns(table) == []
    assert "InputFormat" not in table["StorageDescriptor"]
    assert list(glue.check(table, "TableInput")) == []


def test_exclusions_are_relative_to_the_include_path_and_kept_on_the_table(db: store.Store, tmp_path: Path) -> None:
    root = sales(tmp_path)
    text(root / "year=2024" / "month=01" / "day=01" / "scratch.tmp", "junk")
    parquet(root / "archive" / "old.parquet", other=pa.string())
    patterns = ["**.tmp", "archive/**"]
    summary, lines = run(db, definition(root, target={"Exclusions": patterns}))
    assert sorted(tables(db)) == ["sales"] and summary.partitions_created == 4
    assert json.loads(tables(db)["sales"]["Parameters"]["exclusions"]) == patterns
    assert not any("scratch.tmp" in line for line in lines)


def test_many_small_tables_under_one_include_path(db: store.Store, tmp_path: Path) -> None:
    for i in range(12):  # twelve folders, twelve schemas with nothing in common
        parquet(tmp_path / "many" / f"Table-{i:02d}" / "x.parquet", **{f"c{i}_{j}": pa.int64() for j in range(3)})
    summary, _ = run(db, definition(tmp_path / "many", TablePrefix="raw_"))
    assert sorted(tables(db)) == [f"raw_table_{i:02d}" for i in range(12)]
    assert summary.tables_created == 12


def test_table_threshold_fails_the_crawl_and_writes_nothing(db: store.Store, tmp_path: Path) -> None:
    for i in range(4):
        parquet(tmp_path / "many" / f"t{i}" / "x.parquet", **{f"c{i}": pa.int64()})
    config = json.dumps({"Version": 1.0, "CrawlerOutput": {"Tables": {"TableThreshold": 3}}})
    with pytest.raises(crawler.CrawlError, match=r"found 4 tables, more than .*TableThreshold \(3\)"):
        run(db, definition(tmp_path / "many", Configuration=config))
    with db.read() as tx:
        assert store.catalog.get_database(tx, "lake") is None  # not even the database
    config = json.dumps({"Version": 1.0, "CrawlerOutput": {"Tables": {"TableThreshold": 4}}})
    assert run(db, definition(tmp_path / "many", Configuration=config))[0].tables_created == 4


def test_sample_size_reads_that_many_files_per_leaf_folder(db: store.Store, tmp_path: Path,
                                                           classified: list[str]) -> None:  # fmt: skip
    for p in ("1", "2"):
        for i in range(3):
            parquet(tmp_path / "t" / f"p={p}" / f"f{i}.parquet", rows=5)
    run(db, definition(tmp_path / "t", target={"SampleSize": 1}))
    assert sorted(classified) == ["p=1/f0.parquet", "p=2/f0.parquet"]
    table = tables(db)["t"]
    assert (table["Parameters"]["objectCount"], table["Parameters"]["recordCount"]) == ("6", "30")


def test_table_level_puts_the_tables_at_that_depth(db: store.Store, tmp_path: Path) -> None:
    root = sales(tmp_path)
    level = len(root.parts) - 1 + 2  # the include path's level, then two more: year=2024/month=MM
    config = json.dumps({"Version": 1.0, "Grouping": {"TableLevelConfiguration": level}})
    run(db, definition(root, Configuration=config))
    found = tables(db)
    assert sorted(found) == ["month_01", "month_02"]
    assert keys(found["month_01"]) == ["day"]
    assert found["month_01"]["StorageDescriptor"]["Location"] == url(root / "year=2024" / "month=01")


def test_the_classification_pool_gives_the_same_catalog(db: store.Store, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    root = sales(tmp_path, days=tuple(f"{d:02d}" for d in range(1, 8)))
    text(root / "year=2024" / "month=01" / "day=01" / "noise.bin", bytes(range(256)))
    run(db, definition(root, DatabaseName="inline"))
    monkeypatch.setattr(inventory, "INLINE_FILES", 0)
    monkeypatch.setattr(inventory, "BATCH", 2)
    _, lines = run(db, definition(root, DatabaseName="pooled"))
    assert any("noise.bin: not a format" in line for line in lines)
    inline, pooled = tables(db, "inline"), tables(db, "pooled")
    assert inline == pooled
    assert partitions(db, "sales", "inline") == partitions(db, "sales", "pooled")


# --- S3 ------------------------------------------------------------------------------------------


def _upload(endpoint: str, bucket: str, root: Path, prefix: str) -> None:
    client = s3_client(endpoint)
    for path in sorted(root.rglob("*")):
        if path.is_file():
            client.put_object(Bucket=bucket, Key=f"{prefix}/{path.relative_to(root).as_posix()}", Body=path.read_bytes())


def _without_locations(found: Mapping[Any, Any], base: str) -> str:
    return json.dumps({str(k): v for k, v in found.items()}, sort_keys=True).replace(base, "<base>")


def test_the_same_tree_on_s3_gives_the_same_catalog(db: store.Store, tmp_path: Path, s3_server: str,
                                                    s3_bucket: str) -> None:  # fmt: skip
    tree = tmp_path / "tree"
    sales(tree)
    text(tree / "sales" / "year=2024" / "month=01" / "day=01" / "b.csv", CSV)  # a minority format: skipped
    text(tree / "fruit" / "a.csv.gz", gzip.compress(CSV.encode()))
    text(tree / "clicks" / "2024" / "a.json", JSONL)
    _upload(s3_server, s3_bucket, tree, "data/tree")
    local, _ = run(db, definition(tree, DatabaseName="local"))
    remote, remote_lines = run(db, definition(f"s3://{s3_bucket}/data/tree", DatabaseName="remote"))
    assert counts(local) == counts(remote) == (3, 0, 0, 5, 0, 0)
    local_tables, remote_tables = tables(db, "local"), tables(db, "remote")
    assert _without_locations(local_tables, f"file://{tree}") == _without_locations(remote_tables, f"s3://{s3_bucket}/data/tree")
    assert remote_tables["sales"]["StorageDescriptor"]["Location"] == f"s3://{s3_bucket}/data/tree/sales/"
    for name in ("sales", "clicks"):
        assert _without_locations(partitions(db, name, "local"), f"file://{tree}") == _without_locations(
            partitions(db, name, "remote"), f"s3://{s3_bucket}/data/tree")
    assert any(line.endswith("b.csv: csv|, beside parquet files") for line in remote_lines)


def test_an_s3_target_that_cannot_be_listed_fails_the_crawl(db: store.Store, s3_server: str) -> None:
    with pytest.raises(crawler.CrawlError, match="the bucket no-such-bucket-here does not exist"):
        run(db, definition("s3://no-such-bucket-here/data"))
    assert tables(db) == {}


# --- re-crawls -----------------------------------------------------------------------------------


def test_a_recrawl_adds_new_partitions_and_changes_nothing_else(db: store.Store, tmp_path: Path) -> None:
    root = sales(tmp_path)
    run(db, definition(root))
    summary, _ = run(db, definition(root), "run-2")
    assert counts(summary) == (0, 0, 0, 0, 0, 0) and summary.to_glue() == {}
    assert versions(db, "sales") == []
    parquet(root / "year=2024" / "month=03" / "day=01" / "part-0.parquet", rows=4)
    summary, lines = run(db, definition(root, SchemaChangePolicy={"UpdateBehavior": "LOG"}), "run-3")
    assert (summary.partitions_created, summary.tables_updated) == (1, 0)  # statistics alone: not logged
    assert ("2024", "03", "01") in partitions(db, "sales")
    assert not any("changed" in line for line in lines)


def test_a_schema_change_updates_the_table_or_is_only_logged(db: store.Store, tmp_path: Path) -> None:
    root = tmp_path / "t"
    for p in ("1", "2"):
        parquet(root / f"p={p}" / "x.parquet", id=pa.int64(), name=pa.string())
    run(db, definition(root, name="upd"))
    run(db, definition(root, name="log", DatabaseName="logged", SchemaChangePolicy={"UpdateBehavior": "LOG"}))
    for p in ("1", "2"):  # every file gains a column
        parquet(root / f"p={p}" / "x.parquet", id=pa.int64(), name=pa.string(), score=pa.float64())
    summary, lines = run(db, definition(root, name="upd"), "run-2")
    assert counts(summary) == (0, 1, 0, 0, 2, 0)
    assert columns(tables(db)["t"])[-1] == ("score", "double")
    [archived] = versions(db, "t")
    assert columns(archived) == [("id", "bigint"), ("name", "string")]
    assert columns(partitions(db, "t")[("1",)])[-1] == ("score", "double")
    assert "updated table t: schema changed" in lines
    summary, lines = run(db, definition(root, name="log", DatabaseName="logged",
                                        SchemaChangePolicy={"UpdateBehavior": "LOG"}), "run-3")  # fmt: skip
    assert counts(summary) == (0, 0, 0, 0, 0, 0)
    assert columns(tables(db, "logged")["t"]) == [("id", "bigint"), ("name", "string")]
    assert versions(db, "t", "logged") == []
    assert "table t: schema changed (UpdateBehavior LOG: not updated)" in lines
    assert "table t: 2 partitions changed (UpdateBehavior LOG: not updated)" in lines


def test_merge_new_columns_adds_and_never_removes_or_retypes(db: store.Store, tmp_path: Path) -> None:
    root = tmp_path / "t"
    parquet(root / "x.parquet", id=pa.int32(), name=pa.string(), gone=pa.string())
    merge = json.dumps({"Version": 1.0, "CrawlerOutput": {"Tables": {"AddOrUpdateBehavior": "MergeNewColumns"}}})
    run(db, definition(root, Configuration=merge))
    with db.transaction() as tx:  # a user documents a column and adds a property
        table = store.catalog.get_table(tx, "lake", "t")
        assert table is not None
        changed = json.loads(json.dumps(table.definition))
        changed["StorageDescriptor"]["Columns"][0]["Comment"] = "the key"
        changed["Parameters"]["owner_team"] = "ops"
        changed["Description"] = "orders"
        store.catalog.update_table(tx, table, changed, store.now(), archive=True)
    parquet(root / "x.parquet", id=pa.int64(), name=pa.string(), extra=pa.float64())
    summary, _ = run(db, definition(root, Configuration=merge), "run-2")
    assert summary.tables_updated == 1
    table = tables(db)["t"]
    assert columns(table) == [("id", "int"), ("name", "string"), ("gone", "string"), ("extra", "double")]
    assert table["StorageDescriptor"]["Columns"][0]["Comment"] == "the key"
    assert (table["Parameters"]["owner_team"], table["Description"]) == ("ops", "orders")
    text(root / "x.parquet", JSONL)  # the classification changes: MergeNewColumns deprecates instead
    summary, lines = run(db, definition(root, Configuration=merge), "run-3")
    assert "DEPRECATED_BY_CRAWLER" in tables(db)["t"]["Parameters"]
    assert columns(tables(db)["t"])[-1] == ("extra", "double")
    assert any("cannot merge new columns: parameter 'classification' has changed" in line for line in lines)


@pytest.mark.parametrize("behavior", ["DELETE_FROM_DATABASE", "DEPRECATE_IN_DATABASE", "LOG"])
def test_deleted_data_follows_the_delete_behavior(db: store.Store, tmp_path: Path, behavior: str) -> None:
    root = tmp_path / "lake"
    sales(root)
    parquet(root / "returns" / "r.parquet", reason=pa.string(), amount=pa.float64())
    parquet(root / "stock" / "s.parquet", sku=pa.string())  # keeps the tables apart once returns is gone
    crawl_def = definition(root, SchemaChangePolicy={"DeleteBehavior": behavior})
    run(db, crawl_def)
    with db.transaction() as tx:  # tables no crawl of c1 may remove: another crawler's, a hand-made one
        other = {**tables(db)["returns"], "Name": "others"}
        other["Parameters"] = {**other["Parameters"], "UPDATED_BY_CRAWLER": "c9"}
        store.catalog.create_table(tx, "lake", "others", other, store.now())
        store.catalog.create_table(tx, "lake", "manual", {"Name": "manual", "StorageDescriptor": {
            "Location": url(root / "elsewhere")}}, store.now())  # fmt: skip
    shutil.rmtree(root / "returns")
    shutil.rmtree(root / "sales" / "year=2024" / "month=02")
    summary, lines = run(db, crawl_def, "run-2")
    found = tables(db)
    assert {"others", "manual"} <= set(found)
    if behavior == "DELETE_FROM_DATABASE":
        assert counts(summary)[2:] == (1, 0, 0, 2) and "returns" not in found
        assert sorted(partitions(db, "sales")) == [("2024", "01", "01"), ("2024", "01", "02")]
    elif behavior == "DEPRECATE_IN_DATABASE":
        assert counts(summary)[2:] == (1, 0, 0, 2)
        assert found["returns"]["Parameters"]["DEPRECATED_BY_CRAWLER"].isdigit()
        assert columns(found["returns"]) == [("reason", "string"), ("amount", "double")]
        marked = {v for v, p in partitions(db, "sales").items() if "DEPRECATED_BY_CRAWLER" in p["Parameters"]}
        assert marked == {("2024", "02", "01"), ("2024", "02", "02")}
        assert run(db, crawl_def, "run-3")[0].tables_deleted == 0  # deprecated once, not on every crawl
    else:
        assert counts(summary)[2:] == (0, 0, 0, 0) and "DEPRECATED_BY_CRAWLER" not in found["returns"]["Parameters"]
        assert len(partitions(db, "sales")) == 4
        assert "table returns: its data is gone (DeleteBehavior LOG: kept)" in lines
        assert "table sales: 2 partitions' data is gone (DeleteBehavior LOG: kept)" in lines


def test_crawl_new_folders_only_reads_only_new_folders(db: store.Store, tmp_path: Path, classified: list[str]) -> None:
    root = tmp_path / "lake"
    sales(root)
    parquet(root / "returns" / "r.parquet", reason=pa.string())
    incremental = {"RecrawlPolicy": {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"},
                   "SchemaChangePolicy": {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}}  # fmt: skip
    summary, _ = run(db, definition(root, **incremental))  # the first crawl reads everything
    assert (summary.tables_created, summary.partitions_created, len(classified)) == (2, 4, 5)
    classified.clear()
    before = tables(db)
    new_day = root / "sales" / "year=2024" / "month=03" / "day=01"
    parquet(new_day / "part-0.parquet", rows=4)  # a new partition
    parquet(root / "sales" / "year=2024" / "month=03" / "day=02" / "x.parquet", other=pa.string())  # too different
    parquet(root / "sales" / "year=2024" / "month=01" / "day=01" / "more.parquet", id=pa.int64(), wide=pa.string())
    parquet(root / "refunds" / "x.parquet", amount=pa.float64())  # a new folder beside the tables
    shutil.rmtree(root / "returns")  # deletions are not looked for
    summary, lines = run(db, definition(root, **incremental), "run-2")
    assert sorted(classified) == ["refunds/x.parquet", "sales/year=2024/month=03/day=01/part-0.parquet",
                                  "sales/year=2024/month=03/day=02/x.parquet"]  # fmt: skip
    assert counts(summary) == (1, 0, 0, 1, 0, 0)
    found = tables(db)
    assert sorted(found) == ["refunds", "returns", "sales"]
    assert found["sales"] == before["sales"] and found["returns"] == before["returns"]
    added = partitions(db, "sales")[("2024", "03", "01")]
    assert added["StorageDescriptor"]["Location"] == url(new_day)
    assert len(partitions(db, "sales")) == 5
    assert any("day=02: its schema differs too much from table sales's" in line for line in lines)
    summary, _ = run(db, definition(root, **incremental), "run-3")  # nothing new: nothing read
    assert counts(summary) == (0, 0, 0, 0, 0, 0)
    assert sorted(classified)[-1] == "sales/year=2024/month=03/day=02/x.parquet"  # the skipped one, again


def test_inherit_from_table_gives_partitions_the_tables_descriptor(db: store.Store, tmp_path: Path) -> None:
    root = tmp_path / "t"
    parquet(root / "p=1" / "x.parquet", a=pa.int64(), b=pa.string(), c=pa.string(), d=pa.string())
    parquet(root / "p=2" / "x.parquet", a=pa.int64(), b=pa.string(), c=pa.string(), d=pa.string(), e=pa.string())
    inherit = json.dumps({"Version": 1.0, "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}}})
    run(db, definition(root, Configuration=inherit))
    table = tables(db)["t"]
    one = partitions(db, "t")[("1",)]
    assert columns(one) == columns(table) and columns(one)[-1] == ("e", "string")
    assert one["StorageDescriptor"]["Location"] == url(root / "p=1")
    assert one["Parameters"]["objectCount"] == "1"


# --- all or nothing ------------------------------------------------------------------------------


def test_commit_runs_in_the_transaction_and_its_failure_writes_nothing(db: store.Store, tmp_path: Path) -> None:
    root = sales(tmp_path)
    seen: list[crawler.Summary] = []

    def failing(tx: store.Tx, summary: crawler.Summary) -> None:
        seen.append(summary)
        with_tables = store.catalog.find_tables(tx, "lake")  # the crawl's writes are visible here
        assert [t.name for t in with_tables] == ["sales"]
        raise RuntimeError("the crawl was stopped meanwhile")

    with pytest.raises(RuntimeError):
        run(db, definition(root), commit=failing)
    assert counts(seen[0]) == (1, 0, 0, 4, 0, 0)
    with db.read() as tx:
        assert store.catalog.get_database(tx, "lake") is None
    run(db, definition(root), commit=lambda tx, summary: seen.append(summary))
    assert len(seen) == 2 and sorted(tables(db)) == ["sales"]


@pytest.mark.parametrize("calls", [1, 3, 5, 7, 8])
def test_cancelled_is_honoured_between_phases_and_batches(db: store.Store, tmp_path: Path, calls: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(inventory, "BATCH", 1)
    monkeypatch.setattr(crawler, "CHECK_EVERY", 0)
    root = sales(tmp_path)
    asked = 0

    def cancelled() -> bool:
        nonlocal asked
        asked += 1
        return asked >= calls

    with pytest.raises(crawler.CrawlCancelled, match="was stopped; nothing was written"):
        run(db, definition(root), cancelled=cancelled)
    assert tables(db) == {}


def test_bad_definitions_fail_clearly(db: store.Store, tmp_path: Path) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (definition(tmp_path, Configuration="{not json"), "Configuration is not valid JSON"),
        (definition(tmp_path, RecrawlPolicy={"RecrawlBehavior": "CRAWL_EVENT_MODE"}, target={"SampleSize": 5}),
         "CRAWL_EVENT_MODE does not support Amazon S3 sampling"),
        (definition(tmp_path / "missing"), f"include path {tmp_path / 'missing'} does not exist"),
        (definition(tmp_path, target={"Exclusions": ["[z-a]"]}), "reversed range"),
        (definition(tmp_path, target={"SampleSize": 250}), "SampleSize must be a whole number from 1 to 249"),
    ]  # fmt: skip
    for crawl_def, message in cases:
        with pytest.raises(crawler.CrawlError, match=message.replace("(", r"\(").replace(")", r"\)")):
            run(db, crawl_def)
    assert isinstance(crawler.CrawlError("x"), crawler.errors.InvalidInputException)
    assert tables(db) == {}


def test_files_beside_folders_are_a_table_of_their_own(db: store.Store, tmp_path: Path) -> None:
    root = sales(tmp_path)
    parquet(root / "year=2024" / "stray.parquet")  # a file beside the month folders
    run(db, definition(root))
    found = tables(db)
    assert sorted(found) == ["month_01", "month_02", "year_2024"]
    assert found["year_2024"]["StorageDescriptor"]["Location"] == url(root / "year=2024")



def test_tables_are_matched_by_location_and_names_never_clash(db: store.Store, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    sales(root)
    parquet(root / "stock" / "s.parquet", sku=pa.string())
    with db.transaction() as tx:
        store.catalog.create_database(tx, "lake", {"Name": "lake"}, store.now())
        store.catalog.create_table(tx, "lake", "my_sales", {"Name": "my_sales", "Description": "hand-made",
                                   "StorageDescriptor": {"Location": f"file://{root}/sales"}}, store.now())  # fmt: skip
        store.catalog.create_table(tx, "lake", "stock", {"Name": "stock", "StorageDescriptor": {
            "Location": "s3://elsewhere/stock/"}}, store.now())  # fmt: skip
    summary, _ = run(db, definition(root))
    assert (summary.tables_created, summary.tables_updated) == (1, 1)
    found = tables(db)
    [new_stock] = [name for name in found if name.startswith("stock_")]  # "stock" is taken elsewhere
    assert set(found) == {"my_sales", "stock", new_stock} and len(new_stock) == len("stock_") + 8
    assert found[new_stock]["StorageDescriptor"]["Location"] == url(root / "stock")
    mine = found["my_sales"]
    assert (mine["Description"], mine["Parameters"]["UPDATED_BY_CRAWLER"], keys(mine)) == (
        "hand-made", "c1", ["year", "month", "day"])
    assert len(versions(db, "my_sales")) == 1 and len(partitions(db, "my_sales")) == 4
    assert run(db, definition(root), "run-2")[0].tables_created == 0  # found again by location


def test_a_single_file_include_path(db: store.Store, tmp_path: Path) -> None:
    parquet(tmp_path / "one" / "orders.parquet")
    run(db, definition(f"file://{tmp_path}/one/orders.parquet"))
    [(name, table)] = tables(db).items()
    assert name == "orders_parquet"
    assert table["StorageDescriptor"]["Location"] == f"file://{tmp_path}/one/orders.parquet"
    assert counts(run(db, definition(tmp_path / "one" / "orders.parquet"), "run-2")[0]) == (0, 0, 0, 0, 0, 0)


def test_crawl_new_folders_only_on_s3(db: store.Store, tmp_path: Path, s3_server: str, s3_bucket: str,
                                      classified: list[str]) -> None:  # fmt: skip
    sales(tmp_path / "tree")
    _upload(s3_server, s3_bucket, tmp_path / "tree", "t")
    incremental = definition(f"s3://{s3_bucket}/t/sales", RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"})
    assert counts(run(db, incremental)[0]) == (1, 0, 0, 4, 0, 0)
    parquet(tmp_path / "more" / "year=2025" / "month=01" / "day=01" / "part-0.parquet", rows=4)
    _upload(s3_server, s3_bucket, tmp_path / "more", "t/sales")
    classified.clear()
    assert counts(run(db, incremental, "run-2")[0]) == (0, 0, 0, 1, 0, 0)
    assert classified == ["year=2025/month=01/day=01/part-0.parquet"]
    added = partitions(db, "sales")[("2025", "01", "01")]
    assert added["StorageDescriptor"]["Location"] == f"s3://{s3_bucket}/t/sales/year=2025/month=01/day=01/"
