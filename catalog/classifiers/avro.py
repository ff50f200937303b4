"""Avro object container files: the writer's schema from the header, mapped as Hive's AvroSerDe does.

The header is ``Obj\\x01``, a metadata map (``avro.schema``, ``avro.codec``) in Avro's binary
encoding, then a 16-byte sync marker; data blocks follow, each with its record count, which gives
the sample's records without decoding them. The codec compresses blocks inside the file, so
compressionType stays "none" as for Parquet.
"""

from __future__ import annotations

import json
from typing import Any

from catalog import schemas
from catalog.classifiers.base import Classification, Readable, columns
from catalog.classifiers.sampling import MEGABYTE, SAMPLE_BYTES

MAGIC = b"Obj\x01"
SERDE = "org.apache.hadoop.hive.serde2.avro.AvroSerDe"
INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.avro.AvroContainerInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.avro.AvroContainerOutputFormat"
_MAX_HEADER = 16 * MEGABYTE
_SYNC = 16

_PRIMITIVES = {"null": schemas.VOID, "boolean": "boolean", "int": "int", "long": "bigint",
               "float": "float", "double": "double", "bytes": "binary", "string": "string"}  # fmt: skip
_LOGICAL = {("int", "date"): "date", ("long", "timestamp-millis"): "timestamp",
            ("long", "timestamp-micros"): "timestamp", ("long", "timestamp-nanos"): "timestamp",
            ("long", "local-timestamp-millis"): "timestamp",
            ("long", "local-timestamp-micros"): "timestamp",
            ("long", "local-timestamp-nanos"): "timestamp"}  # fmt: skip


def matches(head: bytes) -> bool:
    return head.startswith(MAGIC)


def classify(file: Readable) -> Classification | None:
    """The header's schema as a Classification; None when the header or schema is unusable."""
    header = _header(file)
    if header is None:
        return None
    metadata, data_start, sync = header
    literal = metadata.get("avro.schema", b"").decode("utf-8")
    schema = json.loads(literal)
    record = _Types().hive(schema, "")
    if not isinstance(record, tuple) or record[0] != "struct":
        return None  # Hive's AvroSerDe needs a record at the top
    records, used, whole = _blocks(file, data_start, sync)
    count, average = (0, 0) if whole else (None, None)
    if records:
        average = max(1, round(used / records))
        count = records if whole else round(records * (file.size - data_start) / used)
    return Classification(
        classification="avro",
        compression="none",
        columns=columns(record[1]),
        serde=SERDE,
        input_format=INPUT_FORMAT,
        output_format=OUTPUT_FORMAT,
        serde_parameters={"serialization.format": "1"},
        parameters={"avro.schema.literal": literal},
        record_count=count,
        average_record_size=average,
    )


class _Truncated(Exception):
    """The bytes read so far end inside the structure being decoded."""


class _Cursor:
    """Reads Avro's binary encoding (zig-zag varint longs, length-prefixed bytes) from a buffer."""

    def __init__(self, data: bytes, position: int = 0) -> None:
        self.data = data
        self.position = position

    def long(self) -> int:
        shift = result = 0
        while True:
            if self.position >= len(self.data):
                raise _Truncated
            byte = self.data[self.position]
            self.position += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return (result >> 1) ^ -(result & 1)
            shift += 7
            if shift > 63:
                raise ValueError("an Avro long longer than 10 bytes")

    def bytes(self, length: int | None = None) -> bytes:
        length = self.long() if length is None else length
        if length < 0:
            raise ValueError("negative Avro length")
        if self.position + length > len(self.data):
            raise _Truncated
        self.position += length
        return self.data[self.position - length:self.position]


def _header(file: Readable) -> tuple[dict[str, bytes], int, bytes] | None:
    """(metadata, offset of the first block, sync marker), reading more until the header fits."""
    length = 64 * 1024
    while True:
        data = file.read(0, min(length, file.size))
        try:
            cursor = _Cursor(data, len(MAGIC))
            metadata: dict[str, bytes] = {}
            while count := cursor.long():
                if count < 0:  # a negative count is followed by the block's size in bytes
                    count = -count
                    cursor.long()
                for _ in range(count):
                    key = cursor.bytes().decode("utf-8")
                    metadata[key] = cursor.bytes()
            sync = cursor.bytes(_SYNC)
            return metadata, cursor.position, sync
        except _Truncated:
            if len(data) >= file.size or length >= _MAX_HEADER:
                return None
            length *= 4


def _blocks(file: Readable, start: int, sync: bytes) -> tuple[int, int, bool]:
    """(records, bytes they span, whether that is the whole file) from the blocks in the sample."""
    data = file.read(start, min(SAMPLE_BYTES, file.size - start))
    cursor = _Cursor(data)
    records = used = 0
    try:
        while cursor.position < len(data):
            count = cursor.long()
            size = cursor.long()
            cursor.bytes(size)
            if cursor.bytes(_SYNC) != sync:
                return records, used, False  # not a block boundary: stop counting
            records += count
            used = cursor.position
    except _Truncated:
        return records, used, False
    return records, used, start + used >= file.size


class _Types:
    """Avro schema to Hive types, remembering named types so later references resolve."""

    def __init__(self) -> None:
        self.named: dict[str, schemas.HiveType] = {}
        self.defining: set[str] = set()

    def hive(self, schema: Any, namespace: str) -> schemas.HiveType:
        if isinstance(schema, list):
            members = [t for t in (self.hive(s, namespace) for s in schema) if t != schemas.VOID]
            if not members:
                return schemas.VOID
            # a nullable field ["null", T] is T; other unions are Hive's uniontype, as AvroSerDe maps them
            return members[0] if len(members) == 1 else ("uniontype", tuple(members))
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return _PRIMITIVES[schema]
            name = _full_name(schema, namespace)
            if name in self.defining:
                return schemas.STRING  # a recursive type: Hive types cannot nest without end
            if name not in self.named:
                raise ValueError(f"unknown Avro type {schema!r}")
            return self.named[name]
        if not isinstance(schema, dict):
            raise ValueError(f"not an Avro schema: {schema!r}")
        return self._complex(schema, namespace)

    def _complex(self, schema: dict[str, Any], namespace: str) -> schemas.HiveType:
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if logical == "decimal" and kind in ("bytes", "fixed"):
            precision, scale = schema.get("precision", 0), schema.get("scale", 0)
            if isinstance(precision, int) and isinstance(scale, int) and 0 < precision <= 38 \
                    and 0 <= scale <= precision:  # fmt: skip
                if kind == "fixed":  # a named type, referable later as plain binary
                    self._name(schema, namespace, "binary")
                return f"decimal({precision},{scale})"
        if (kind, logical) in _LOGICAL:
            return _LOGICAL[kind, logical]
        if kind in ("record", "error"):
            name = self._name(schema, namespace, None)
            inner = name.rpartition(".")[0]
            self.defining.add(name)
            fields = tuple((f["name"], self.hive(f["type"], inner)) for f in schema["fields"])
            self.defining.discard(name)
            self.named[name] = ("struct", fields)
            return self.named[name]
        if kind == "enum":
            self._name(schema, namespace, schemas.STRING)
            return schemas.STRING
        if kind == "fixed":
            self._name(schema, namespace, "binary")
            return "binary"
        if kind == "array":
            return ("array", self.hive(schema["items"], namespace))
        if kind == "map":
            return ("map", schemas.STRING, self.hive(schema["values"], namespace))
        return self.hive(kind, namespace)  # {"type": "int"} and {"type": "Named"}

    def _name(self, schema: dict[str, Any], namespace: str, hive: schemas.HiveType | None) -> str:
        name = _full_name(schema["name"], schema.get("namespace", namespace))
        if hive is not None:
            self.named[name] = hive
        return name


def _full_name(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"
