"""The built-in classifiers on real files written to tmp_path, read through a counting Readable."""

from __future__ import annotations

import bz2
import datetime
import decimal
import gzip
import json
import random
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog import classifiers, schemas
from catalog.classifiers import UNKNOWN, Classification, arrow, classify
from catalog.classifiers import json as json_classifier

MB = 1 << 20
TEXT_IN = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
LAZY = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"


class LocalFile:
    """A Readable over a local file that counts the bytes it hands out."""

    def __init__(self, path: Path, fail: BaseException | None = None) -> None:
        self.key = str(path)
        self.path = path
        self.size = path.stat().st_size
        self.fail = fail
        self.bytes_read = 0

    def read(self, start: int, length: int) -> bytes:
        if self.fail is not None:
            raise self.fail
        with self.path.open("rb") as f:
            f.seek(start)
            data = f.read(length)
        self.bytes_read += len(data)
        return data


class MemoryFile:
    """A Readable over bytes, for property tests."""

    def __init__(self, data: bytes, key: str = "memory") -> None:
        self.key = key
        self.data = data
        self.size = len(data)

    def read(self, start: int, length: int) -> bytes:
        return self.data[start:start + length]


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., LocalFile]:
    """Write bytes or text to a file in tmp_path, optionally compressed, and open it as a Readable."""

    def _write(name: str, content: bytes | str, compress: str = "none") -> LocalFile:
        data = content.encode() if isinstance(content, str) else content
        data = {"none": lambda d: d, "gzip": gzip.compress, "bzip2": bz2.compress}[compress](data)
        path = tmp_path / name
        path.write_bytes(data)
        return LocalFile(path)

    return _write


def parquet_file(tmp_path: Path, table: pa.Table, name: str = "data.parquet", **options: object) -> LocalFile:
    path = tmp_path / name
    pq.write_table(table, path, **options)
    return LocalFile(path)


# ---------------------------------------------------------------------------------------- Parquet

PARQUET_TYPES = [
    ("TinyOne", pa.int8(), [1], "tinyint"),
    ("s", pa.int16(), [1], "smallint"),
    ("i", pa.int32(), [1], "int"),
    ("b", pa.int64(), [1], "bigint"),
    ("u8", pa.uint8(), [1], "smallint"),
    ("u32", pa.uint32(), [1], "bigint"),
    ("f", pa.float32(), [1.5], "float"),
    ("d", pa.float64(), [1.5], "double"),
    ("price", pa.decimal128(10, 2), [decimal.Decimal("1.25")], "decimal(10,2)"),
    ("big", pa.decimal128(38, 9), [decimal.Decimal("1.5")], "decimal(38,9)"),
    ("str", pa.string(), ["x"], "string"),
    ("lstr", pa.large_string(), ["x"], "string"),
    ("bin", pa.binary(), [b"x"], "binary"),
    ("flag", pa.bool_(), [True], "boolean"),
    ("day", pa.date32(), [datetime.date(2024, 1, 2)], "date"),
    ("ts_ms", pa.timestamp("ms"), [datetime.datetime(2024, 1, 2)], "timestamp"),
    ("ts_us_tz", pa.timestamp("us", tz="UTC"), [datetime.datetime(2024, 1, 2)], "timestamp"),
    ("nothing", pa.null(), [None], "string"),
    ("category", pa.dictionary(pa.int32(), pa.string()), ["x"], "string"),
    ("tags", pa.list_(pa.string()), [["a"]], "array<string>"),
    ("addr", pa.struct([("city", pa.string()), ("zip", pa.int32())]), [{"city": "x", "zip": 1}],
     "struct<city:string,zip:int>"),
    ("attrs", pa.map_(pa.string(), pa.int64()), [[("k", 1)]], "map<string,bigint>"),
    ("deep", pa.list_(pa.struct([("Name", pa.string()), ("scores", pa.list_(pa.float64()))])),
     [[{"Name": "a", "scores": [1.0]}]], "array<struct<Name:string,scores:array<double>>>"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("arrow_type", "hive"),
    [(pa.uint16(), "int"), (pa.uint64(), "bigint"), (pa.float16(), "float"), (pa.date64(), "date"),
     (pa.time32("ms"), "int"), (pa.time64("us"), "bigint"), (pa.duration("s"), "bigint"),
     (pa.large_binary(), "binary"), (pa.binary(4), "binary"), (pa.string_view(), "string"),
     (pa.large_list(pa.int8()), "array<tinyint>"), (pa.list_(pa.int32(), 3), "array<int>"),
     (pa.decimal256(40, 2), "string"), (pa.decimal128(5, -2), "string"),
     (pa.month_day_nano_interval(), "string"),
     (pa.dense_union([pa.field("a", pa.int32()), pa.field("b", pa.string())]), "uniontype<int,string>"),
     (pa.struct([("a:b", pa.int32()), ("c d", pa.string())]), "struct<`a:b`:int,c d:string>"),
     (pa.map_(pa.int32(), pa.list_(pa.struct([("x", pa.bool_())]))), "map<int,array<struct<x:boolean>>>")],
)  # fmt: skip
def test_arrow_types_map_to_hive(arrow_type: pa.DataType, hive: str) -> None:
    assert schemas.render(arrow.hive_type(arrow_type)) == hive


def test_parquet_types_come_from_the_footer(tmp_path: Path) -> None:
    table = pa.table({name: pa.array(values, type=t) for name, t, values, _ in PARQUET_TYPES})
    found = classify(parquet_file(tmp_path, table))
    # top-level names are lowercased, nested field names keep their case
    assert found.columns == tuple((name.lower(), hive) for name, _, _, hive in PARQUET_TYPES)
    assert found.classification == "parquet"
    assert found.compression == "none"  # snappy pages are inside the file
    assert found.serde == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert found.input_format == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert found.output_format == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    assert dict(found.serde_parameters) == {"serialization.format": "1"}
    assert dict(found.parameters) == {}
    assert found.record_count == 1


@pytest.mark.parametrize("compression", ["snappy", "gzip", "zstd", "none"])
def test_parquet_record_count_is_exact_across_row_groups(tmp_path: Path, compression: str) -> None:
    table = pa.table({"id": pa.array(range(10_000), pa.int64())})
    file = parquet_file(tmp_path, table, row_group_size=3_000, compression=compression)
    found = classify(file)
    assert (found.record_count, found.compression, found.columns) == (10_000, "none", (("id", "bigint"),))
    assert found.average_record_size == round(file.size / 10_000)


def test_parquet_is_read_by_its_footer_not_whole(tmp_path: Path) -> None:
    rows, rng = 300_000, random.Random(1)
    noise = pa.array([rng.randbytes(16) for _ in range(rows)], pa.binary())  # incompressible
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "noise": noise})
    file = parquet_file(tmp_path, table, compression="none")
    assert file.size > 5 * MB
    assert classify(file).record_count == rows
    assert file.bytes_read < 80 * 1024


def test_parquet_with_a_csv_name_is_parquet(tmp_path: Path) -> None:
    file = parquet_file(tmp_path, pa.table({"a": [1]}), name="looks.csv")
    assert classify(file).classification == "parquet"


@pytest.mark.parametrize("cut", [1, 8, 100, 0.5])
def test_truncated_parquet_is_unknown(tmp_path: Path, write: Callable[..., LocalFile], cut: float) -> None:
    data = parquet_file(tmp_path, pa.table({"a": list(range(100))})).path.read_bytes()
    end = int(len(data) * cut) if isinstance(cut, float) else len(data) - cut
    assert classify(write("cut.parquet", data[:end])) == UNKNOWN


def test_parquet_magic_around_garbage_is_unknown(write: Callable[..., LocalFile]) -> None:
    assert classify(write("bad.parquet", b"PAR1" + b"\x07" * 100 + b"PAR1")) == UNKNOWN
    assert classify(write("tiny.parquet", b"PAR1PAR1")) == UNKNOWN


# -------------------------------------------------------------------------------------------- ORC


def test_orc_types_and_record_count(tmp_path: Path) -> None:
    table = pa.table({
        "Id": pa.array([1, 2, 3], pa.int64()),
        "small": pa.array([1, 2, 3], pa.int16()),
        "price": pa.array([decimal.Decimal("1.10")] * 3, pa.decimal128(12, 2)),
        "name": pa.array(["a", "b", "c"]),
        "at": pa.array([datetime.datetime(2024, 1, 1)] * 3, pa.timestamp("ns")),
        "day": pa.array([datetime.date(2024, 1, 1)] * 3, pa.date32()),
        "tags": pa.array([["x"], [], ["y", "z"]], pa.list_(pa.string())),
        "addr": pa.array([{"city": "c", "zip": 1}] * 3, pa.struct([("city", pa.string()), ("zip", pa.int32())])),
    })  # fmt: skip
    path = tmp_path / "data.orc"
    orc.write_table(table, path, compression="zlib")
    found = classify(LocalFile(path))
    assert found.columns == (
        ("id", "bigint"), ("small", "smallint"), ("price", "decimal(12,2)"), ("name", "string"),
        ("at", "timestamp"), ("day", "date"), ("tags", "array<string>"),
        ("addr", "struct<city:string,zip:int>"),
    )  # fmt: skip
    assert (found.classification, found.compression, found.record_count) == ("orc", "none", 3)
    assert found.serde == "org.apache.hadoop.hive.ql.io.orc.OrcSerde"
    assert found.input_format == "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat"
    assert found.output_format == "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat"


def test_truncated_orc_is_unknown(tmp_path: Path, write: Callable[..., LocalFile]) -> None:
    path = tmp_path / "data.orc"
    orc.write_table(pa.table({"a": list(range(1000))}), path)
    data = path.read_bytes()
    assert classify(write("cut.orc", data[: len(data) - 10])) == UNKNOWN
    assert classify(write("head.orc", data[:3])) == UNKNOWN


# ------------------------------------------------------------------------------------------- Avro


def _long(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)  # zig-zag
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _bytes(b: bytes) -> bytes:
    return _long(len(b)) + b


SYNC = bytes(range(16))


def avro_bytes(schema: object, blocks: list[tuple[int, bytes]] = (), codec: str = "null",
               literal: str | None = None) -> bytes:  # fmt: skip
    """An Avro object container file: the header, then blocks of (record count, encoded records)."""
    meta = {"avro.schema": (literal or json.dumps(schema)).encode(), "avro.codec": codec.encode()}
    header = b"Obj\x01" + _long(len(meta)) + b"".join(_bytes(k.encode()) + _bytes(v) for k, v in meta.items())
    out = header + _long(0) + SYNC
    for count, payload in blocks:
        out += _long(count) + _long(len(payload)) + payload + SYNC
    return out


AVRO_SCHEMA = {
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [
        {"name": "Id", "type": "long"},
        {"name": "qty", "type": "int"},
        {"name": "ok", "type": "boolean"},
        {"name": "ratio", "type": "float"},
        {"name": "score", "type": "double"},
        {"name": "raw", "type": "bytes"},
        {"name": "note", "type": ["null", "string"]},
        {"name": "either", "type": ["int", "string"]},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["A", "B"]}},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "at_us", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
        {"name": "ship", "type": {"type": "record", "name": "Address", "fields": [
            {"name": "city", "type": "string"}, {"name": "Zip", "type": ["null", "int"]}]}},
        {"name": "bill", "type": ["null", "Address"]},
        {"name": "other", "type": "shop.Hash"},
        {"name": "wrapped", "type": {"type": "string"}},
        {"name": "next", "type": ["null", "Order"]},
    ],
}  # fmt: skip
AVRO_COLUMNS = (
    ("id", "bigint"), ("qty", "int"), ("ok", "boolean"), ("ratio", "float"), ("score", "double"),
    ("raw", "binary"), ("note", "string"), ("either", "uniontype<int,string>"), ("status", "string"),
    ("hash", "binary"), ("price", "decimal(10,2)"), ("day", "date"), ("at_ms", "timestamp"),
    ("at_us", "timestamp"), ("tags", "array<string>"), ("attrs", "map<string,bigint>"),
    ("ship", "struct<city:string,Zip:int>"), ("bill", "struct<city:string,Zip:int>"),
    ("other", "binary"), ("wrapped", "string"), ("next", "string"),  # a recursive type
)  # fmt: skip


def test_avro_schema_from_the_header(write: Callable[..., LocalFile]) -> None:
    literal = json.dumps(AVRO_SCHEMA, indent=1)
    found = classify(write("orders.avro", avro_bytes(None, [(3, b"x" * 30), (2, b"y" * 20)], literal=literal)))
    assert found.columns == AVRO_COLUMNS
    assert (found.classification, found.compression) == ("avro", "none")
    assert found.serde == "org.apache.hadoop.hive.serde2.avro.AvroSerDe"
    assert found.input_format == "org.apache.hadoop.hive.ql.io.avro.AvroContainerInputFormat"
    assert found.output_format == "org.apache.hadoop.hive.ql.io.avro.AvroContainerOutputFormat"
    assert dict(found.parameters) == {"avro.schema.literal": literal}
    assert found.record_count == 5  # every block is in the sample: exact


def test_avro_block_codec_is_not_the_files_compression(write: Callable[..., LocalFile]) -> None:
    schema = {"type": "record", "name": "r", "fields": [{"name": "a", "type": "long"}]}
    found = classify(write("d.avro", avro_bytes(schema, [(1, b"\x02")], codec="deflate")))
    assert (found.classification, found.compression, found.columns) == ("avro", "none", (("a", "bigint"),))


def test_avro_without_blocks_has_no_records(write: Callable[..., LocalFile]) -> None:
    schema = {"type": "record", "name": "r", "fields": []}
    found = classify(write("empty.avro", avro_bytes(schema)))
    assert (found.classification, found.columns, found.record_count) == ("avro", (), 0)


def test_avro_record_count_is_estimated_past_the_sample(write: Callable[..., LocalFile]) -> None:
    schema = {"type": "record", "name": "r", "fields": [{"name": "a", "type": "bytes"}]}
    record = _bytes(b"z" * 99)  # 100 bytes
    blocks = [(4_000, record * 4_000)] * 5  # 2 MB in five blocks of 400 kB
    file = write("big.avro", avro_bytes(schema, blocks))
    found = classify(file)
    assert found.record_count == pytest.approx(20_000, rel=0.01)
    assert found.average_record_size == pytest.approx(100, abs=1)  # and the blocks' framing
    assert file.bytes_read < 1.2 * MB


@pytest.mark.parametrize(
    "schema",
    ['"string"', '{"type": "array", "items": "int"}', "not json", '{"type": "record", "name": "r"}',
     '{"type": "record", "name": "r", "fields": [{"name": "a", "type": "Missing"}]}'],
)  # fmt: skip
def test_avro_with_an_unusable_schema_is_unknown(write: Callable[..., LocalFile], schema: str) -> None:
    assert classify(write("bad.avro", avro_bytes(None, literal=schema))) == UNKNOWN


def test_truncated_avro_header_is_unknown(write: Callable[..., LocalFile]) -> None:
    data = avro_bytes({"type": "record", "name": "r", "fields": [{"name": "a", "type": "long"}]})
    for end in (4, 10, len(data) - 1):
        assert classify(write("cut.avro", data[:end])) == UNKNOWN


# ------------------------------------------------------------------------------------------- JSON


def _lines(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_json_lines_types_widen_across_records(write: Callable[..., LocalFile]) -> None:
    text = _lines(
        {"id": 1, "Name": "a", "score": 1, "ok": True, "gone": None, "addr": {"city": "x"}, "tags": []},
        {"id": 2**40, "name": "b", "score": 2.5, "ok": False, "addr": {"zip": 12345}, "tags": ["t"]},
        {"id": 3, "score": None, "addr": {"city": None, "zip": 2**33}, "extra": [{"k": 1}, {"v": "w"}],
         "empty": {}, "nulls": [None]},
    )  # fmt: skip
    found = classify(write("data.json", text))
    assert found.columns == (
        ("id", "bigint"),  # int, then past 32 bits
        ("name", "string"),  # Name and name are one column, lowercased
        ("score", "double"),
        ("ok", "boolean"),
        ("gone", "string"),  # only ever null
        ("addr", "struct<city:string,zip:bigint>"),  # fields in first-seen order
        ("tags", "array<string>"),
        ("extra", "array<struct<k:int,v:string>>"),
        ("empty", "string"),
        ("nulls", "array<string>"),
    )
    assert (found.classification, found.compression, found.record_count) == ("json", "none", 3)
    assert found.serde == "org.openx.data.jsonserde.JsonSerDe"
    assert (found.input_format, found.output_format) == (TEXT_IN, TEXT_OUT)
    assert dict(found.serde_parameters) == {"paths": "addr,empty,extra,gone,id,name,nulls,ok,score,tags"}


@pytest.mark.parametrize(
    ("values", "hive"),
    [([1, -(2**31)], "int"), ([2**31 - 1, 2**31], "bigint"), ([1, 2**63], "double"), ([1, 0.5], "double"),
     ([True, 1], "string"), (["x", 1], "string"), ([{"a": 1}, [1]], "string"), ([None, None], "string"),
     ([[1], [2**40]], "array<bigint>"), ([[[1]], [[0.5]]], "array<array<double>>")],
)  # fmt: skip
def test_json_value_types(write: Callable[..., LocalFile], values: list[object], hive: str) -> None:
    found = classify(write("v.json", _lines(*({"v": v} for v in values))))
    assert found.columns == (("v", hive),)


@pytest.mark.parametrize(
    "text",
    [
        '{\n  "a": 1,\n  "b": {"c": [1, 2]}\n}\n',  # one pretty-printed document
        '{"a": 1}{"b": {"c": [3]}}',  # objects one after another
        '\ufeff{"a": 1, "b": {"c": []}}\r\n{"b": {"c": [2]}}\r\n',  # a BOM and CRLF
    ],
)
def test_json_documents_that_are_not_one_per_line(write: Callable[..., LocalFile], text: str) -> None:
    found = classify(write("doc.json", text))
    assert found.classification == "json"
    assert found.columns == (("a", "int"), ("b", "struct<c:array<int>>"))


def test_json_top_level_array_is_one_array_column(write: Callable[..., LocalFile]) -> None:
    found = classify(write("arr.json", json.dumps([{"a": 1}, {"a": 2.5, "b": "x"}])))
    assert found.columns == (("array", "array<struct<a:double,b:string>>"),)
    assert found.record_count == 1


def test_json_top_level_array_larger_than_the_sample(write: Callable[..., LocalFile]) -> None:
    text = "[" + ",".join(json.dumps({"id": i, "pad": "p" * 100}) for i in range(30_000)) + "]"
    file = write("big-array.json", text)
    found = classify(file)
    assert found.columns == (("array", "array<struct<id:int,pad:string>>"),)
    assert found.record_count == 1
    assert file.bytes_read <= MB + 16  # the magic bytes, then the sample


def test_json_first_record_past_one_megabyte_reads_on(write: Callable[..., LocalFile]) -> None:
    big = {"a": 1, "blob": ["x" * 1000] * 1500}  # 1.5 MB
    file = write("wide.json", json.dumps(big, indent=2) + "\n" + _lines({"a": 2, "blob": []}) * 2000)
    found = classify(file)
    assert found.columns == (("a", "int"), ("blob", "array<string>"))
    assert MB < file.bytes_read <= 3 * MB


def test_json_gives_up_after_ten_megabytes(write: Callable[..., LocalFile], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_classifier, "MAX_SAMPLE_BYTES", 2 * MB)  # Glue's 10 MB, made quicker
    file = write("huge.json", '{"a": "' + "x" * (3 * MB) + '"}\n')
    found = classify(file)
    assert found.classification != "json"
    assert file.bytes_read <= 3 * MB


def test_json_stops_at_a_damaged_record(write: Callable[..., LocalFile]) -> None:
    found = classify(write("damaged.json", _lines({"a": 1}, {"a": 2}) + "{oops\n" + _lines({"b": 1})))
    assert found.classification == "json"
    assert found.columns == (("a", "int"),)


@pytest.mark.parametrize("compress", ["gzip", "bzip2"])
def test_compressed_json(write: Callable[..., LocalFile], compress: str) -> None:
    found = classify(write("data.json.x", _lines({"a": 1}, {"a": 2.5}) * 50, compress=compress))
    assert (found.classification, found.compression, found.columns) == ("json", compress, (("a", "double"),))
    assert found.record_count == 100


def test_multi_member_and_truncated_gzip(write: Callable[..., LocalFile]) -> None:
    two = gzip.compress(_lines({"a": 1}).encode()) + gzip.compress(_lines({"a": 2**40}).encode())
    assert classify(write("two.gz", two)).columns == (("a", "bigint"),)
    whole = gzip.compress(_lines(*({"a": i, "b": "x"} for i in range(5_000))).encode())
    found = classify(write("cut.gz", whole[: len(whole) // 2]))
    assert (found.classification, found.compression) == ("json", "gzip")
    assert found.columns == (("a", "int"), ("b", "string"))


def test_json_record_count_is_estimated_from_the_sample(write: Callable[..., LocalFile]) -> None:
    text = _lines(*({"id": 100_000 + i, "name": f"n{i:08d}"} for i in range(100_000)))
    file = write("many.json", text)
    found = classify(file)
    assert found.record_count == pytest.approx(100_000, rel=0.01)
    assert found.average_record_size == round(len(text) / 100_000)
    assert file.bytes_read <= MB + 16


# -------------------------------------------------------------------------------------------- CSV


@pytest.mark.parametrize("delimiter", [",", "|", "\t", ";", "\x01"])
def test_csv_delimiters(write: Callable[..., LocalFile], delimiter: str) -> None:
    rows = [["id", "name", "price"], ["1", "a b", "2.5"], ["2", "c", "3"]]
    found = classify(write("d.csv", "".join(delimiter.join(r) + "\n" for r in rows)))
    assert found.classification == "csv"
    assert found.columns == (("id", "bigint"), ("name", "string"), ("price", "double"))
    assert dict(found.serde_parameters) == {"field.delim": delimiter}
    assert dict(found.parameters) == {"delimiter": delimiter, "skip.header.line.count": "1",
                                      "areColumnsQuoted": "false", "columnsOrdered": "true"}  # fmt: skip
    assert (found.serde, found.input_format, found.output_format) == (LAZY, TEXT_IN, TEXT_OUT)
    assert (found.compression, found.record_count) == ("none", 2)


def test_csv_delimiter_that_splits_consistently_wins(write: Callable[..., LocalFile]) -> None:
    # commas appear in the text but not the same number on every row; pipes do
    found = classify(write("p.csv", "a|b\nx, y|1\nz|2\n"))
    assert dict(found.parameters)["delimiter"] == "|"


@pytest.mark.parametrize(
    ("text", "columns", "header"),
    [
        # a header: strings over data with a non-string column
        ("Id,First Name\n1,bob\n2,al\n", (("id", "bigint"), ("first name", "string")), True),
        # every column of the data is a string: the first row cannot be told from the data
        ("name,city\nbob,paris\nal,rome\n", (("col0", "string"), ("col1", "string")), False),
        # a header cell that is a number is data
        ("name,2024\nbob,1\nal,2\n", (("col0", "string"), ("col1", "bigint")), False),
        ("name,true\nbob,1\nal,2\n", (("col0", "string"), ("col1", "string")), False),
        # a cell of 150 characters or more, except in the last column, is data
        (f"{'h' * 150},n\nx,1\ny,2\n", (("col0", "string"), ("col1", "string")), False),
        (f"n,{'H' * 300}\n1,x\n2,y\n", (("n", "bigint"), ("h" * 255, "string")), True),
        # an empty header cell is not a name
        (",n\nx,1\ny,2\n", (("col0", "string"), ("col1", "string")), False),
        # a trailing delimiter leaves a last column empty throughout, header included
        ("a,b,\n1,x,\n2,y,\n", (("a", "bigint"), ("b", "string"), ("col2", "string")), True),
        # repeated names are made distinct
        ("id,ID,x\n1,2,a\n3,4,b\n", (("id", "bigint"), ("id_1", "bigint"), ("x", "string")), True),
    ],
)
def test_csv_header_heuristic(write: Callable[..., LocalFile], text: str, columns: tuple, header: bool) -> None:
    found = classify(write("h.csv", text))
    assert found.classification == "csv"
    assert found.columns == columns
    assert ("skip.header.line.count" in found.parameters) is header
    assert found.record_count == (2 if header else 3)


@pytest.mark.parametrize(
    ("values", "hive"),
    [(["1", "-2", "+3"], "bigint"), (["1", "2.5"], "double"), (["1e3", ".5", "-2."], "double"),
     (["1", "x"], "string"), (["true", "FALSE"], "boolean"), (["true", "1"], "string"),
     (["1", ""], "bigint"), (["", ""], "string"), ([str(2**63), "1"], "double"),
     ([" 1", "2"], "string"), (["NaN", "1"], "string"), (["2024-01-01", "2024-01-02"], "string")],
)  # fmt: skip
def test_csv_value_types(write: Callable[..., LocalFile], values: list[str], hive: str) -> None:
    text = "k,v\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values))
    assert classify(write("t.csv", text)).columns == (("k", "bigint"), ("v", hive))


def test_csv_header_with_a_name_glue_refuses_is_data(write: Callable[..., LocalFile]) -> None:
    text = "na\x02me,n\n" + "x,1\n" * 200  # one control character: still text, but not a name
    assert classify(write("c.csv", text)).columns == (("col0", "string"), ("col1", "string"))


def test_csv_quoted_fields_keep_their_delimiters(write: Callable[..., LocalFile]) -> None:
    found = classify(write("q.csv", 'id,name\n1,"Smith, John"\n2,"Doe, ""Jane"""\n'))
    assert found.columns == (("id", "bigint"), ("name", "string"))
    assert found.parameters["areColumnsQuoted"] == "true"


@pytest.mark.parametrize(
    "text",
    ["a,b\n1,2,3\n", "only one column\nanother\n", "a,b\n", "a,b\n\n\n", "a;b\n1,2\n", ""],
)
def test_text_that_is_not_a_table_is_unknown(write: Callable[..., LocalFile], text: str) -> None:
    assert classify(write("x.csv", text)) == UNKNOWN


def test_csv_crlf_and_no_final_newline(write: Callable[..., LocalFile]) -> None:
    found = classify(write("w.csv", "a,b\r\n1,x\r\n2,y"))
    assert found.columns == (("a", "bigint"), ("b", "string"))
    assert found.record_count == 2


@pytest.mark.parametrize("compress", ["gzip", "bzip2"])
def test_compressed_csv(write: Callable[..., LocalFile], compress: str) -> None:
    found = classify(write("data.bin", "a,b\n1,x\n2,y\n", compress=compress))
    assert (found.classification, found.compression) == ("csv", compress)
    assert found.columns == (("a", "bigint"), ("b", "string"))


def test_a_50_megabyte_csv_is_classified_from_its_first_megabyte(write: Callable[..., LocalFile]) -> None:
    row = "".join(f"{i},name-{i:06d},{i * 0.5}\n" for i in range(1_000)).encode()
    data = b"id,name,amount\n" + row * (50 * MB // len(row))
    file = write("big.csv", data)
    found = classify(file)
    assert found.columns == (("id", "bigint"), ("name", "string"), ("amount", "double"))
    assert found.record_count == pytest.approx(data.count(b"\n") - 1, rel=0.05)
    assert file.bytes_read <= MB + 16


def test_a_compressed_csv_decodes_only_its_sample(write: Callable[..., LocalFile]) -> None:
    rows = "".join(f"{i:07d},x\n" for i in range(1_000_000))  # 10 MB decoded
    file = write("big.csv.gz", "a,b\n" + rows, compress="gzip")
    found = classify(file)
    assert (found.classification, found.compression, found.columns) == ("csv", "gzip", (("a", "bigint"), ("b", "string")))
    assert found.record_count == pytest.approx(1_000_000, rel=0.1)  # scaled by the compression ratio
    assert file.bytes_read <= MB + 16


# ------------------------------------------------------------------------------- any file at all


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00" * 100, random.Random(7).randbytes(4096), b"\x1f\x8b\x08" + b"\x00" * 50,
     b"BZh91AY&SY" + b"\xff" * 50, b"just some prose without structure\n",
     b"<?xml version='1.0'?>\n<a><b>1</b></a>\n", b"{not json\n", b"Obj\x01"],
)  # fmt: skip
def test_unrecognisable_files_are_unknown(write: Callable[..., LocalFile], content: bytes) -> None:
    assert classify(write("f", content)) == UNKNOWN


def test_unknown_is_what_glue_calls_it() -> None:
    assert UNKNOWN.classification == "UNKNOWN"
    assert UNKNOWN.columns == ()
    assert classifiers.__all__ == ["UNKNOWN", "Classification", "Readable", "classify"]


@pytest.mark.parametrize("kind", ["csv", "parquet", "orc", "avro"])
def test_read_errors_propagate(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"f.{kind}"
    if kind == "parquet":
        pq.write_table(pa.table({"a": [1]}), path)
    elif kind == "orc":
        orc.write_table(pa.table({"a": [1]}), path)
    elif kind == "avro":
        path.write_bytes(avro_bytes(AVRO_SCHEMA, [(1, b"x")]))
    else:
        path.write_bytes(b"a,b\n1,2\n" * 10)
    file = LocalFile(path)
    head = file.read(0, 16)

    class FailsAfterTheHead(LocalFile):
        def read(self, start: int, length: int) -> bytes:
            if start == 0 and length <= 16:
                return head[:length]
            raise ConnectionResetError("the connection dropped")

    with pytest.raises(ConnectionResetError, match="dropped"):
        classify(FailsAfterTheHead(path))
    with pytest.raises(PermissionError):
        classify(LocalFile(path, fail=PermissionError("denied")))


def test_classification_is_immutable(write: Callable[..., LocalFile]) -> None:
    found = classify(write("a.csv", "a,b\n1,2\n3,4\n"))
    with pytest.raises(TypeError):
        found.parameters["delimiter"] = ";"  # type: ignore[index]
    with pytest.raises(AttributeError):
        found.classification = "json"  # type: ignore[misc]
    assert isinstance(found, Classification)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_no_bytes_make_classify_raise(data: bytes) -> None:
    assert isinstance(classify(MemoryFile(data)), Classification)


VALID_PREFIXES = [
    avro_bytes(AVRO_SCHEMA, [(1, b"x")]),
    b"PAR1" + bytes(64) + b"PAR1",
    b"ORC" + bytes(64),
    _lines({"a": 1, "b": [1, {"c": None}]}).encode() * 3,
    b"a,b\n1,2\n" * 3,
    gzip.compress(b"a,b\n1,2\n" * 3),
    bz2.compress(b'{"a": 1}\n' * 3),
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID_PREFIXES), st.integers(min_value=0), st.binary(max_size=64))
def test_damaged_files_never_raise(prefix: bytes, cut: int, tail: bytes) -> None:
    """Any valid file cut anywhere and followed by junk classifies (to something) without raising."""
    data = prefix[: cut % (len(prefix) + 1)] + tail
    assert isinstance(classify(MemoryFile(data)), Classification)
