"""Parquet: the schema and row count come from the footer, read by range like Glue ("directly
from the file", glue-semantics.md B.1), never the whole file.

Compression inside a Parquet file is per column chunk, so Glue leaves compressionType "none".
"""

from __future__ import annotations

from catalog.classifiers.base import Classification, RangeFile, Readable, columns

MAGIC = b"PAR1"
SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"


def matches(head: bytes) -> bool:
    return head.startswith(MAGIC)


def classify(file: Readable) -> Classification | None:
    """The file's footer as a Classification; None when the file ends without Parquet's magic."""
    import pyarrow.parquet as pq  # pyarrow loads with the first Parquet or ORC file, not before

    from catalog.classifiers import arrow

    # 4 magic bytes, the footer, its 4-byte length and the magic again: a truncated file fails here
    if file.size < 12 or file.read(file.size - 4, 4) != MAGIC:
        return None
    metadata = pq.ParquetFile(RangeFile(file)).metadata
    rows = metadata.num_rows
    return Classification(
        classification="parquet",
        compression="none",
        columns=columns(arrow.fields(metadata.schema.to_arrow_schema())),
        serde=SERDE,
        input_format=INPUT_FORMAT,
        output_format=OUTPUT_FORMAT,
        serde_parameters={"serialization.format": "1"},
        record_count=rows,
        average_record_size=round(file.size / rows) if rows else 0,
    )
