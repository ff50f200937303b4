"""The sample a text classifier sees: the head of a file, decompressed on the fly.

Glue reads "the first 1,000 records or the first megabyte" of a file, and for JSON keeps
reading in 1 MB steps up to 10 MB until it finds a valid record (glue-semantics.md B.1).
gzip and bzip2 are recognised by their magic bytes, whatever the file is called.
"""

from __future__ import annotations

import bz2
import zlib
from typing import Any

from catalog.classifiers.base import Readable

MEGABYTE = 1 << 20
SAMPLE_BYTES = MEGABYTE  # decoded bytes a classifier looks at first
MAX_SAMPLE_BYTES = 10 * MEGABYTE  # JSON's limit when no valid record is found sooner
SAMPLE_RECORDS = 1_000
_PIECE = 64 * 1024

_GZIP = b"\x1f\x8b\x08"
_BZIP2_BLOCK = b"1AY&SY"  # the first block's magic, after "BZh" and the block size digit
_BZIP2_EMPTY = b"\x17\x72\x45\x38\x50\x90"  # the end-of-stream magic of an empty stream
# control bytes that do not occur in text (tab, newlines, form feed and Hive's \x01 do)
_CONTROLS = bytes(c for c in range(32) if c not in b"\t\n\r\x0c\x01")


def compression_of(head: bytes) -> str:
    """Glue's compressionType for a file starting with ``head`` (at least 10 bytes when present)."""
    if head.startswith(_GZIP):
        return "gzip"
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[4:10] in (_BZIP2_BLOCK, _BZIP2_EMPTY):
        return "bzip2"
    return "none"


class TextSample:
    """The decoded head of a file, grown on demand by whole reads of ``chunk`` raw bytes.

    ``complete`` means ``data`` holds the whole decoded file. A compressed stream cut short
    (or corrupt past the point already decoded) just ends the sample early.
    """

    def __init__(self, file: Readable, chunk: int = MEGABYTE) -> None:
        self.file = file
        self.chunk = chunk
        self.data = b""
        self.raw_read = 0  # bytes of the file read so far
        self.complete = False
        self._ended = False  # no more decoded bytes will come
        head = file.read(0, min(file.size, chunk))
        self.raw_read = len(head)
        self.compression = compression_of(head)
        self._decoder = _Decoder(self.compression)
        self._feed(head, SAMPLE_BYTES)

    def grow(self, limit: int) -> bool:
        """Decode until ``data`` holds ``limit`` bytes or the file ends; whether anything was added."""
        before = len(self.data)
        self._feed(b"", limit)
        while len(self.data) < limit and not self._ended:
            raw = self.file.read(self.raw_read, min(self.chunk, self.file.size - self.raw_read))
            if not raw:
                self._finish()
                break
            self.raw_read += len(raw)
            self._feed(raw, limit)
        return len(self.data) > before

    def text(self) -> str | None:
        """The sample as text, or None when it holds binary data (NULs, other control bytes)."""
        data = self.data
        if not data or b"\x00" in data:
            return None
        controls = len(data) - len(data.translate(None, _CONTROLS))
        if controls * 100 > len(data):
            return None
        # utf-8 with a BOM is common in exported CSV; other bytes (latin-1) are kept as U+FFFD
        return data.decode("utf-8-sig", errors="replace")

    def estimate(self, records: int, used: int, whole: bool) -> tuple[int, int]:
        """(record count, average record size) of the file from ``records`` that span ``used`` bytes.

        ``whole`` says the records are every record of the file. Otherwise the count is scaled
        from the decoded bytes the sample covers to the decoded size the file is expected to
        have (its size times the sample's compression ratio).
        """
        if records <= 0 or used <= 0:
            return 0, 0
        average = max(1, round(used / records))
        if whole:
            return records, average
        return max(records, round(records * self.decoded_size() / used)), average

    def decoded_size(self) -> float:
        """The file's size once decompressed: exact when complete, else scaled from the sample."""
        if self.complete:
            return len(self.data)
        return len(self.data) * self.file.size / max(1, self._decoder.consumed)

    def _feed(self, raw: bytes, limit: int) -> None:
        if self._ended:
            return
        try:
            self.data += self._decoder.decode(raw, max(0, limit - len(self.data)))
        except (OSError, EOFError, ValueError, zlib.error):
            self._ended = True  # corrupt from here on: keep what decoded cleanly
            return
        if self.raw_read >= self.file.size and self._decoder.drained:
            self._finish()

    def _finish(self) -> None:
        self._ended = True
        # a stream cut inside a member (a truncated file) ends with a partial record
        self.complete = self._decoder.drained and self._decoder.at_boundary


class _Decoder:
    """Incremental decompression with a cap on the output, so a small file cannot bomb memory.

    Input goes in by pieces, so the raw bytes behind the output (``consumed``) are known to within
    a piece (a bzip2 block at worst): the sample's compression ratio scales the estimates.
    """

    def __init__(self, compression: str) -> None:
        self.compression = compression
        self.pending = b""  # input read but not yet decoded because the output cap was reached
        self.consumed = 0  # raw bytes decoded so far
        self.drained = True  # everything fed so far has been decoded and returned
        self.at_boundary = True  # between members: the input so far ends a whole stream
        self._stream = self._new()

    def _new(self) -> Any:
        if self.compression == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self.compression == "bzip2":
            return bz2.BZ2Decompressor()
        return None

    def decode(self, raw: bytes, room: int) -> bytes:
        self.pending += raw
        if self._stream is None:
            out, self.pending = self.pending[:room], self.pending[room:]
            self.consumed += len(out)
            self.drained = not self.pending
            return out
        out = bytearray()
        while len(out) < room:
            stream = self._stream
            if self._buffered():
                piece = b""  # bz2 holds output it could not return last time
            elif self.pending:
                piece, self.pending = self.pending[:_PIECE], self.pending[_PIECE:]
                self.consumed += len(piece)
                self.at_boundary = False
            else:
                break
            out += stream.decompress(piece, room - len(out))
            left = b"" if isinstance(stream, bz2.BZ2Decompressor) else stream.unconsumed_tail
            if stream.eof:  # a member ended: gzip and bzip2 files may hold several
                left += stream.unused_data
                self._stream = self._new()
                self.at_boundary = True
            self.pending = left + self.pending
            self.consumed -= len(left)
        self.drained = len(out) < room and not self.pending and not self._buffered()
        return bytes(out)

    def _buffered(self) -> bool:
        return isinstance(self._stream, bz2.BZ2Decompressor) and not self._stream.needs_input
