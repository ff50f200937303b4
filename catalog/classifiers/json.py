"""JSON: a file that starts with a JSON object (JSON lines, or objects one after another) or array.

Types follow Glue's JSON classifier: whole numbers are ``int`` within 32 bits and ``bigint``
within 64, fractions ``double``, objects ``struct<...>`` (fields in first-seen order), arrays
``array<...>``, each widened across the sampled records; a field only ever null is ``string``.
A top-level array is one record with a single column named ``array`` (what Glue's built-in
classifier makes of it; splitting it into records needs a JsonPath custom classifier).
"""

from __future__ import annotations

import json

from catalog import schemas
from catalog.classifiers.base import TEXT_INPUT_FORMAT, TEXT_OUTPUT_FORMAT, Classification, columns
from catalog.classifiers.sampling import MAX_SAMPLE_BYTES, MEGABYTE, SAMPLE_RECORDS, TextSample

SERDE = "org.openx.data.jsonserde.JsonSerDe"
_DECODER = json.JSONDecoder()
_INT32 = 1 << 31
_INT64 = 1 << 63
_SPACES = " \t\n\r"


def classify(sample: TextSample) -> Classification | None:
    """The sample's records as a Classification, growing the sample until the first record parses."""
    while True:
        text = sample.text()
        if text is None:
            return None
        start = _skip(text, 0)
        if start == len(text) or text[start] not in "{[":
            return None
        try:
            scan = _scan(text, start, sample.complete)
            break
        except _CutShort:
            # Glue keeps reading in 1 MB steps, up to 10 MB, until it finds one valid record
            if len(sample.data) >= MAX_SAMPLE_BYTES or not sample.grow(len(sample.data) + MEGABYTE):
                return None
    if scan is None:
        return None
    record, records, end, whole = scan
    used = len(text[:end].encode("utf-8"))
    if whole is None:  # one array cut by the sample's end: one record spanning the whole file
        records, used, whole = 1, round(sample.decoded_size()), True
    count, average = sample.estimate(records, used, whole)
    found = columns(record[1])
    return Classification(
        classification="json",
        compression=sample.compression,
        columns=found,
        serde=SERDE,
        input_format=TEXT_INPUT_FORMAT,
        output_format=TEXT_OUTPUT_FORMAT,
        # Glue lists the top-level keys for the SerDe (inferred: sorted column names)
        serde_parameters={"paths": ",".join(sorted(name for name, _ in found))},
        record_count=count,
        average_record_size=average,
    )


def infer(value: object) -> schemas.HiveType:
    """The parsed Hive type of one decoded JSON value (``void`` for null)."""
    if value is None:
        return schemas.VOID
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        if -_INT32 <= value < _INT32:
            return "int"
        return "bigint" if -_INT64 <= value < _INT64 else "double"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return schemas.STRING
    if isinstance(value, list):
        element: schemas.HiveType = schemas.VOID
        for item in value:
            element = schemas.widen_types(element, infer(item))
        return ("array", element)
    assert isinstance(value, dict)
    fields = tuple((key, infer(item)) for key, item in value.items())
    # widening against the empty struct merges keys equal but for case, as Hive sees them
    return schemas.widen_types(("struct", ()), ("struct", fields)) if fields else ("struct", ())


class _CutShort(Exception):
    """The first record runs past the end of the sample."""


def _scan(text: str, start: int, complete: bool) -> tuple[tuple, int, int, bool | None] | None:
    """(record type, records, end of the last, whether they are the whole file), or None when the
    first record is not JSON. ``whole`` is None for a lone array cut short by the sample.

    Records run until the first value that does not parse or is of the other kind (an object
    among arrays): past the first record, that is the sample's cut-off or a damaged line.
    """
    arrays = text[start] == "["
    record: tuple = ("struct", ())
    records, position, end = 0, start, start
    while records < SAMPLE_RECORDS and (position := _skip(text, position)) < len(text):
        try:
            value, next_position = _DECODER.raw_decode(text, position)
        except (ValueError, RecursionError) as error:
            if records:
                break
            if complete or not _cut_short(error, text):
                return None
            if not arrays:
                raise _CutShort from None
            element = _elements(text, position)  # a long array: its first elements decide
            if element is None:
                return None
            return ("struct", (("array", ("array", element)),)), 1, len(text), None
        if not isinstance(value, list if arrays else dict):
            break
        fields = (("array", infer(value)),) if arrays else infer(value)[1]
        record = schemas.widen_types(record, ("struct", fields))
        records += 1
        position = end = next_position
    if records == 0:
        return None
    return record, records, end, complete and _skip(text, end) == len(text)


def _cut_short(error: Exception, text: str) -> bool:
    """Whether a decoding error comes from the text ending, not from a syntax error."""
    if not isinstance(error, json.JSONDecodeError):
        return False  # nested too deep
    # a literal or number cut mid-way fails a few characters before the end
    return error.msg.startswith("Unterminated string") or error.pos + 8 >= len(text)


def _elements(text: str, position: int) -> schemas.HiveType | None:
    """The widened type of the elements of an array the sample cuts short; None if none parses."""
    element: schemas.HiveType = schemas.VOID
    count = 0
    position += 1  # past "["
    while count < SAMPLE_RECORDS:
        try:
            value, position = _DECODER.raw_decode(text, _skip(text, position))
        except (ValueError, RecursionError) as error:
            if count == 0 and _cut_short(error, text):
                raise _CutShort from None
            break
        element = schemas.widen_types(element, infer(value))
        count += 1
        position = _skip(text, position)
        if not text.startswith(",", position):
            break
        position += 1
    return element if count else None


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in _SPACES:
        position += 1
    return position
