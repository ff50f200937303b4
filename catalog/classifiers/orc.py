"""ORC: the schema and row count come from the file tail, read by range through pyarrow.orc.

As with Parquet, ORC compresses inside the file, so compressionType stays "none".
"""

from __future__ import annotations

from catalog.classifiers.base import Classification, RangeFile, Readable, columns

MAGIC = b"ORC"
SERDE = "org.apache.hadoop.hive.ql.io.orc.OrcSerde"
INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat"


def matches(head: bytes) -> bool:
    return head.startswith(MAGIC)


def classify(file: Readable) -> Classification | None:
    """The file's tail as a Classification (pyarrow raises on a truncated or corrupt tail)."""
    from pyarrow import orc  # pyarrow loads with the first Parquet or ORC file, not before

    from catalog.classifiers import arrow

    reader = orc.ORCFile(RangeFile(file))
    rows = reader.nrows
    return Classification(
        classification="orc",
        compression="none",
        columns=columns(arrow.fields(reader.schema)),
        serde=SERDE,
        input_format=INPUT_FORMAT,
        output_format=OUTPUT_FORMAT,
        serde_parameters={"serialization.format": "1"},
        record_count=rows,
        average_record_size=round(file.size / rows) if rows else 0,
    )
