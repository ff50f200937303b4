"""Arrow types to Hive type strings, for the formats pyarrow reads (Parquet, ORC).

A primitive table plus recursion for list, struct and map, after pyiceberg's Glue type visitor.
Hive has no unsigned, time or duration types: those take the smallest signed type that holds
their physical values, as Hive's own Parquet reader does.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.types as pt

from catalog import schemas

_MAX_PRECISION = 38

_PRIMITIVES = (
    (pt.is_boolean, "boolean"),
    (pt.is_int8, "tinyint"),
    (pt.is_int16, "smallint"),
    (pt.is_int32, "int"),
    (pt.is_int64, "bigint"),
    (pt.is_uint8, "smallint"),
    (pt.is_uint16, "int"),
    (pt.is_uint32, "bigint"),
    (pt.is_uint64, "bigint"),  # Hive reads Parquet UINT_64 as bigint; values past 2**63 wrap
    (pt.is_float16, "float"),
    (pt.is_float32, "float"),
    (pt.is_float64, "double"),
    (pt.is_date, "date"),
    (pt.is_timestamp, "timestamp"),
    (pt.is_time32, "int"),
    (pt.is_time64, "bigint"),
    (pt.is_duration, "bigint"),
    (pt.is_null, schemas.VOID),  # an all-null column; settled to string with the columns
)


_STRINGS = (pt.is_string, pt.is_large_string, pt.is_string_view)
_BINARIES = (pt.is_binary, pt.is_large_binary, pt.is_fixed_size_binary, pt.is_binary_view)
_LISTS = (pt.is_list, pt.is_large_list, pt.is_fixed_size_list, pt.is_list_view, pt.is_large_list_view)


def hive_type(t: pa.DataType) -> schemas.HiveType:
    """The parsed Hive type of an Arrow type."""
    if isinstance(t, pa.ExtensionType):
        return hive_type(t.storage_type)
    if pt.is_dictionary(t):
        return hive_type(t.value_type)
    if pt.is_decimal(t):
        if t.precision > _MAX_PRECISION or t.scale < 0:
            return schemas.STRING  # decimal256 past Hive's 38 digits, or a scale Hive lacks
        return f"decimal({t.precision},{t.scale})"
    if any(is_kind(t) for is_kind in _STRINGS):
        return schemas.STRING
    if any(is_kind(t) for is_kind in _BINARIES):
        return "binary"
    if pt.is_map(t):
        return ("map", hive_type(t.key_type), hive_type(t.item_type))
    if any(is_kind(t) for is_kind in _LISTS):
        return ("array", hive_type(t.value_type))
    if pt.is_struct(t):
        return ("struct", tuple((t.field(i).name, hive_type(t.field(i).type)) for i in range(t.num_fields)))
    if pt.is_union(t):
        return ("uniontype", tuple(hive_type(t.field(i).type) for i in range(t.num_fields)))
    for matches, name in _PRIMITIVES:
        if matches(t):
            return name
    return schemas.STRING  # intervals and anything newer: readable as text


def fields(schema: pa.Schema) -> list[tuple[str, schemas.HiveType]]:
    """A schema's top-level fields as (name, parsed Hive type)."""
    return [(f.name, hive_type(f.type)) for f in schema]
