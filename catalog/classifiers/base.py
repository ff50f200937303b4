"""What a classifier reads (a Readable) and returns (a Classification), shared by every format.

Mirrors the fields a Glue crawler writes for a file: classification, compressionType, columns,
the SerDe and formats, and the table parameters (glue-semantics.md §5.5).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from catalog import schemas

TEXT_INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


class Readable(Protocol):
    """A file the crawler can read by byte range: a local file or an S3 object."""

    key: str  # path or object key, for messages and the extension
    size: int

    def read(self, start: int, length: int) -> bytes:
        """Bytes ``start`` to ``start + length`` (fewer at the end of the file); an S3 ranged GET."""
        ...


@dataclass(frozen=True)
class Classification:
    """What a built-in classifier found in one file; ``UNKNOWN`` when no format matched."""

    classification: str  # "parquet" | "orc" | "avro" | "json" | "csv" | "UNKNOWN"
    compression: str  # Glue's compressionType: "none" | "gzip" | "bzip2"
    columns: tuple[tuple[str, str], ...]  # (name, Hive type string)
    serde: str  # SerializationLibrary
    input_format: str
    output_format: str
    serde_parameters: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)
    record_count: int | None = None  # exact from a footer, else estimated from the sample
    average_record_size: int | None = None  # bytes per record

    def __post_init__(self) -> None:
        # read-only views: a Classification is shared between files of one table
        object.__setattr__(self, "serde_parameters", MappingProxyType(dict(self.serde_parameters)))
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))


UNKNOWN = Classification("UNKNOWN", "none", (), "", "", "")


def columns(fields: Iterable[tuple[str, schemas.HiveType]]) -> tuple[tuple[str, str], ...]:
    """Table columns from a format's top-level fields.

    Names are lowercased (the Catalog is case-insensitive, as Hive is), names equal but for case
    become one column of the widened type, and a type seen only as null (or an empty object)
    becomes ``string``, the type Glue gives a field it could not type.
    """
    merged = schemas.widen_types(("struct", ()), ("struct", tuple(fields)))
    return tuple((name.lower(), schemas.render(settle(t))) for name, t in merged[1])


def settle(t: schemas.HiveType) -> schemas.HiveType:
    """Replace the placeholders of inference (void, empty struct) by ``string``, at any depth."""
    if t == schemas.VOID or t == ("struct", ()):
        return schemas.STRING
    if isinstance(t, str):
        return t
    if t[0] == "struct":
        return ("struct", tuple((name, settle(f)) for name, f in t[1]))
    if t[0] == "uniontype":
        return ("uniontype", tuple(settle(m) for m in t[1]))
    return (t[0], *(settle(part) for part in t[1:]))


class Guarded:
    """A Readable that remembers the error its ``read`` raised.

    pyarrow wraps a Python error raised inside a read into its own ``OSError``, which looks like
    a corrupt file; ``classify`` re-raises the remembered error so I/O failures still propagate.
    """

    def __init__(self, file: Readable) -> None:
        self.file = file
        self.key = file.key
        self.size = file.size
        self.error: BaseException | None = None

    def read(self, start: int, length: int) -> bytes:
        length = min(length, self.size - start)
        if start < 0 or length <= 0:
            return b""
        try:
            data = self.file.read(start, length)
        except BaseException as exc:
            self.error = self.error or exc
            raise
        return bytes(data[:length])


class RangeFile(io.RawIOBase):
    """A seekable read-only file over a Readable, so pyarrow reads footers by range, not whole files."""

    def __init__(self, file: Readable) -> None:
        super().__init__()
        self.file = file
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.file.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.file.read(self.position, len(buffer))
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)
