"""Glue's built-in classifiers: one file's format, compression and schema, from its bytes.

Built-ins run in Glue's order (add-classifier.md, glue-semantics.md §5.5): avro, orc, parquet by
their magic bytes, then json and csv on a text sample that gzip or bzip2 may compress. The log
formats, xml, bson and ion are not implemented, so such files come out UNKNOWN.

A file that no classifier recognises, or that is empty, truncated or corrupt, is ``UNKNOWN``;
only an error raised by ``Readable.read`` propagates, for the crawler to log and skip the file.
"""

from __future__ import annotations

import logging

from catalog.classifiers import avro, csv, json, orc, parquet
from catalog.classifiers.base import UNKNOWN, Classification, Guarded, Readable
from catalog.classifiers.sampling import TextSample

__all__ = ["UNKNOWN", "Classification", "Readable", "classify"]

logger = logging.getLogger(__name__)

_BINARY = (avro, orc, parquet)  # Glue's order; each claims a file by its magic bytes
_TEXT = (json, csv)


def classify(file: Readable) -> Classification:
    """The Classification of one file, ``UNKNOWN`` when it is not a format Glue recognises."""
    guarded = Guarded(file)
    try:
        return _classify(guarded)
    except Exception:
        if guarded.error is not None:
            raise guarded.error from None  # I/O, not the data: the crawler logs and skips
        # bad data must never stop a crawl; the trace helps when a classifier has a bug
        logger.debug("classifying %s failed; it is UNKNOWN", file.key, exc_info=True)
        return UNKNOWN


def _classify(file: Guarded) -> Classification:
    if file.size <= 0:
        return UNKNOWN
    head = file.read(0, 16)
    for module in _BINARY:
        if module.matches(head):
            # the magic claims the file: a damaged Avro/ORC/Parquet file is not tried as text
            return module.classify(file) or UNKNOWN
    sample = TextSample(file)
    for text_module in _TEXT:
        if (found := text_module.classify(sample)) is not None:
            return found
    return UNKNOWN
