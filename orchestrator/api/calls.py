"""``X-Amz-Target: Adhere.Call``: a marked service function run for a client (``adhere
--endpoint``; the wire is described in ``orchestrator.service.remote``).

The function runs on this server's store with this server's settings. Only functions in
``remote.FUNCTIONS`` can be named. An iterator result (a job run's log) is streamed, one JSON
line per item, in blocks, so that neither side holds a whole log.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from typing import Any

from orchestrator import errors
from orchestrator.api.operations import Context
from orchestrator.service import remote

BLOCK = 64 * 1024  # bytes of streamed lines sent together
STREAM_TYPE = remote.STREAM_TYPE


class Failed(errors.GlueError):
    """An error of the called function, with what the client needs to raise it again."""

    def __init__(self, exc: errors.AdhereError) -> None:
        super().__init__(exc.message)
        self.code = exc.code
        self.status = getattr(exc, "status", 400)
        self.details = remote.error_details(exc)


def call(ctx: Context, raw: bytes) -> bytes | Iterator[bytes]:
    """Run the call ``raw`` asks for: ``{"Result": ...}`` as bytes, or blocks of JSON lines."""
    function, args, kwargs = _parse(raw)
    entry = remote.lookup(function)
    remote.with_settings(entry, args, kwargs, ctx.settings)
    try:
        inspect.signature(entry.function).bind(ctx.db, *args, **kwargs)
    except TypeError as exc:
        raise errors.InvalidInputException(f"bad arguments for {function}: {exc}") from None
    try:
        result = entry.function(ctx.db, *args, **kwargs)
    except errors.AdhereError as exc:
        raise Failed(exc) from exc
    finally:
        if entry.wakes:
            ctx.wake()
    if isinstance(result, Iterator):
        return _lines(result)
    return json.dumps({"Result": remote.encode(result)}, separators=(",", ":")).encode()


def _parse(raw: bytes) -> tuple[str, list[Any], dict[str, Any]]:
    try:
        request = json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError):
        request = None
    if not isinstance(request, dict) or not isinstance(request.get("Function"), str):
        raise errors.InvalidInputException('an Adhere.Call body is {"Function": "module.function", "Args": [...], '
                                           '"Kwargs": {...}}')
    try:
        args, kwargs = remote.decode(request.get("Args", [])), remote.decode(request.get("Kwargs", {}))
    except (ValueError, RecursionError) as exc:
        raise errors.InvalidInputException(f"bad arguments for {request['Function'][:80]}: {exc}") from None
    if not isinstance(args, list) or not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise errors.InvalidInputException("Args must be a list and Kwargs an object")
    return request["Function"], args, kwargs


def _lines(items: Iterator[Any]) -> Iterator[bytes]:
    """The items as ``{"Item": ...}`` lines, then ``{"End": true}``; an error on the way is the
    last line, ``{"Error": ...}`` (the status is sent already)."""
    block: list[bytes] = []
    size = 0
    try:
        for item in items:
            line = json.dumps({"Item": remote.encode(item)}, separators=(",", ":")).encode() + b"\n"
            block.append(line)
            size += len(line)
            if size >= BLOCK:
                yield b"".join(block)
                block, size = [], 0
        block.append(b'{"End":true}\n')
    except errors.AdhereError as exc:
        error = {"__type": exc.code, "Message": exc.message, **remote.error_details(exc)}
        block.append(json.dumps({"Error": error}).encode() + b"\n")
    yield b"".join(block)
