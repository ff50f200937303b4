"""Delimited text: Glue's built-in CSV classifier (glue-semantics.md §5.5).

The delimiter is the first of ``, | \\t ; \\x01`` that splits every sampled row into the same
number (at least two) of columns, over at least two rows. The first row is a header when every
cell of it is a STRING, each cell but the last is under 150 characters, each is a valid Glue
name, and at least one data column is not STRING; otherwise columns are ``col0, col1, ...``.
Values type as ``bigint`` (whole numbers within 64 bits), ``double``, ``boolean`` or ``string``,
the types Glue's crawler gives CSV columns; an empty cell is null and never decides a type.
"""

from __future__ import annotations

import csv
import re

from catalog import schemas
from catalog.classifiers.base import TEXT_INPUT_FORMAT, TEXT_OUTPUT_FORMAT, Classification, columns
from catalog.classifiers.sampling import SAMPLE_RECORDS, TextSample

SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
DELIMITERS = (",", "|", "\t", ";", "\x01")
MAX_HEADER_CELL = 150
MAX_NAME = 255  # Glue's limit on a column name
_NEWLINE = re.compile(r"\r\n|\n|\r")
_BIGINT = re.compile(r"[-+]?\d+")
_DOUBLE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# Glue's pattern for names (CreateTable's Column.Name): printable characters and tab
_NAME = re.compile("[\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff\t]+")
_INT64 = 1 << 63


def classify(sample: TextSample) -> Classification | None:
    """The sample as delimited text, or None when no delimiter gives a consistent table."""
    text = sample.text()
    if text is None:
        return None
    lines, used, whole = _lines(text, sample.complete)
    for delimiter in DELIMITERS:
        rows = _split(lines, delimiter)
        if rows is not None:
            break
    else:
        return None
    names, types = _columns(rows)
    header = names is not None
    if names is None:
        names = [f"col{i}" for i in range(len(types))]
    count, average = sample.estimate(len(rows), len(text[:used].encode("utf-8")), whole)
    parameters = {"delimiter": delimiter, "areColumnsQuoted": _quoted(lines, delimiter),
                  "columnsOrdered": "true"}  # fmt: skip
    if header:
        parameters["skip.header.line.count"] = "1"
        count = max(0, count - 1)
    return Classification(
        classification="csv",
        compression=sample.compression,
        columns=columns(zip(names, types, strict=True)),
        serde=SERDE,
        input_format=TEXT_INPUT_FORMAT,
        output_format=TEXT_OUTPUT_FORMAT,
        serde_parameters={"field.delim": delimiter},
        parameters=parameters,
        record_count=count,
        average_record_size=average,
    )


def value_type(value: str) -> str | None:
    """The type one cell parses as; None for an empty cell (null)."""
    if not value:
        return None
    if _BIGINT.fullmatch(value):
        return "bigint" if -_INT64 <= int(value) < _INT64 else "double"
    if _DOUBLE.fullmatch(value):
        return "double"
    if value.lower() in ("true", "false"):
        return "boolean"
    return schemas.STRING


def _lines(text: str, complete: bool) -> tuple[list[str], int, bool]:
    """(the first lines of the sample, characters they span, whether they are the whole file)."""
    if not complete:  # the sample ends inside a line: drop it
        text = text[: max(text.rfind("\n"), text.rfind("\r")) + 1]
    lines: list[str] = []
    position = 0
    for newline in _NEWLINE.finditer(text):
        lines.append(text[position:newline.start()])
        position = newline.end()
        if len(lines) == SAMPLE_RECORDS:
            break
    else:
        if position < len(text):  # the last line of a file without a final newline
            lines.append(text[position:])
            position = len(text)
    return lines, position, complete and position == len(text)


def _split(lines: list[str], delimiter: str) -> list[list[str]] | None:
    """The rows, when every non-blank line has the same number (≥ 2) of fields and there are ≥ 2."""
    rows: list[list[str]] = []
    try:
        for row in csv.reader(lines, delimiter=delimiter, quotechar='"', strict=False):
            if not row:
                continue  # a blank line
            if len(row) < 2 or (rows and len(row) != len(rows[0])):
                return None
            rows.append(row)
    except csv.Error:  # a field past the csv module's size limit: not a table we can read
        return None
    return rows if len(rows) >= 2 else None


def _columns(rows: list[list[str]]) -> tuple[list[str] | None, list[schemas.HiveType]]:
    """(header names or None, column types) by Glue's header heuristic."""
    data_types = _types(rows[1:])
    first = rows[0]
    # a trailing delimiter leaves a last column empty throughout, header included
    trailing = not first[-1] and data_types[-1] == schemas.VOID
    cells = first[:-1] if trailing else first
    is_header = (
        all(value_type(cell) == schemas.STRING and _NAME.fullmatch(cell) for cell in cells)
        and all(len(cell) < MAX_HEADER_CELL for cell in first[:-1])
        and any(t not in (schemas.STRING, schemas.VOID) for t in data_types)
    )
    if not is_header:
        return None, _types(rows)
    names = _unique([cell.strip().lower()[:MAX_NAME] or f"col{i}" for i, cell in enumerate(first)])
    return names, data_types


def _types(rows: list[list[str]]) -> list[schemas.HiveType]:
    types: list[schemas.HiveType] = [schemas.VOID] * len(rows[0])
    for row in rows:
        for i, cell in enumerate(row):
            if (t := value_type(cell)) is not None and t != types[i]:
                types[i] = schemas.widen_types(types[i], t)
    return types


def _unique(names: list[str]) -> list[str]:
    """Names made distinct: a repeated name takes its column's position (``id``, ``id_3``).

    Glue leaves duplicates for Athena to reject; a table with distinct names is readable.
    """
    seen: set[str] = set()
    result = []
    for i, name in enumerate(names):
        candidate = name
        while candidate in seen:
            candidate = f"{candidate}_{i}"
        seen.add(candidate)
        result.append(candidate)
    return result


def _quoted(lines: list[str], delimiter: str) -> str:
    """Whether any field of the sample is wrapped in double quotes (Glue's areColumnsQuoted)."""
    opening = re.compile(f'(?:^|{re.escape(delimiter)})"')
    return "true" if any(opening.search(line) for line in lines) else "false"
