"""`adhere serve`: Glue's awsJson1_1 protocol, a bare ASGI application on uvicorn, with the
orchestrator loop in the same process.

One route, ``POST /``: the operation is the ``X-Amz-Target`` header's suffix. A request is
read (at most ``max_request_bytes``), authenticated when access keys are configured, parsed,
validated against botocore's model, handed to the operation's service function on a worker
thread, and its result written back through the model's output shape. Every refusal is a 4xx
in Glue's error shape; anything else is a 500 whose traceback stays in the server's log.
``Adhere.Call`` (``api.calls``) runs a marked service function for `adhere --endpoint`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import re
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from starlette.datastructures import Headers

from orchestrator import errors, store
from orchestrator.api import calls, model, operations
from orchestrator.settings import Settings

log = logging.getLogger("adhere.api")

JSON_TYPE = "application/x-amz-json-1.1"
_ACCEPTED_TYPES = ("application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json")
# Adhere.Call: service calls of `adhere --endpoint`; AWSEvents.PutEvents: EventBridge's, for EVENT triggers.
_SERVICES = frozenset({"AWSGlue", "Adhere", "AWSEvents"})
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class _Refused(errors.GlueError):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def _error(exc: errors.AdhereError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    status = getattr(exc, "status", 400)
    body = {"__type": exc.code, "message": exc.message, "Message": exc.message, **getattr(exc, "details", {})}
    return status, json.dumps(body).encode(), [(b"x-amzn-errortype", exc.code.encode())]


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def app(db: store.Store, settings: Settings, wake: Callable[[], None] = lambda: None,
        workers: int = 40, health: Callable[[], dict[str, Any]] | None = None) -> ASGIApp:
    """The ASGI application over ``db``; ``wake`` is the loop's (requests that start runs call it);
    ``GET /health`` answers ``health()`` (200 when its status is "ok", else 503).

    A bare ASGI callable rather than a framework's router: there is one route, and a framework's
    middleware stack cost a third of a request's CPU. Service functions run on ``workers``
    threads, so a slow request (a lock, a large page) never holds up the others.
    """
    from orchestrator.api import auth

    keys = auth.load_keys(settings)
    verifier = auth.Verifier(keys) if keys else None
    ctx = operations.Context(db, settings, wake)
    limit = settings.max_request_bytes
    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="adhere-api-worker")

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off; websockets are not served
        request_id = secrets.token_hex(16).encode()
        if scope["path"] == "/health" and scope["method"] == "GET":
            report = health() if health is not None else {"status": "ok"}
            await _respond(send, 200 if report.get("status") == "ok" else 503,
                           json.dumps(report, default=str).encode(), request_id, [], b"application/json")
            return
        if scope["path"] != "/" or scope["method"] != "POST":
            status = 405 if scope["path"] == "/" else 404
            await _respond(send, status, b"", request_id, [], b"text/plain")
            return
        extra: list[tuple[bytes, bytes]] = []
        try:
            out = await _handle(scope, receive)
        except errors.AdhereError as exc:
            status, out, extra = _error(exc)
        except _Disconnected:
            return
        except Exception:
            log.exception("internal error in request %s", request_id.decode())
            status, out, extra = _error(errors.InternalServiceException(
                f"An internal error occurred (request {request_id.decode()})"))
        else:
            if not isinstance(out, bytes):  # a streamed result of Adhere.Call
                await _stream(send, out, request_id)
                return
            status = 200
        await _respond(send, status, out, request_id, extra)

    async def _stream(send: Send, chunks: Iterator[bytes], request_id: bytes) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", calls.STREAM_TYPE.encode()), (b"x-amzn-requestid", request_id)]})
        loop = asyncio.get_running_loop()
        while (chunk := await loop.run_in_executor(pool, next, chunks, None)) is not None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def read(receive: Receive, declared: bytes | None) -> bytes:
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise _Refused("RequestEntityTooLargeException", f"Request body is over the limit of {limit} bytes", 413)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _Refused("RequestEntityTooLargeException", f"Request body is over the limit of {limit} bytes",
                               413)
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _handle(scope: Scope, receive: Receive) -> bytes | Iterator[bytes]:
        headers = dict(scope["headers"])  # the ones read here are sent once
        target = headers.get(b"x-amz-target", b"").decode("latin-1")
        prefix, _, name = target.partition(".")
        if prefix not in _SERVICES or not name:
            raise _Refused("UnknownOperationException", f"Unknown X-Amz-Target {target[:80]!r}; this server "
                           "answers AWSGlue.<Operation>")
        content_type = headers.get(b"content-type", JSON_TYPE.encode()).decode("latin-1")
        content_type = content_type.split(";")[0].strip().lower()
        if content_type not in _ACCEPTED_TYPES:
            raise _Refused("SerializationException", f"Content-Type must be {JSON_TYPE}, not {content_type[:80]!r}")
        raw = await read(receive, headers.get(b"content-length"))
        if verifier is not None:  # the path and query as sent: the signature is over them
            verifier.verify(scope["method"], scope["raw_path"].decode("latin-1"),
                            scope["query_string"].decode("latin-1"), Headers(scope=scope), raw)
        loop = asyncio.get_running_loop()
        if prefix == "Adhere":
            if name != "Call":
                raise _Refused("UnknownOperationException", f"Unknown operation Adhere.{name[:80]}")
            return await loop.run_in_executor(pool, calls.call, ctx, raw)
        if prefix == "AWSEvents":
            if name != "PutEvents":
                raise _Refused("UnknownOperationException", f"adhere answers only PutEvents of EventBridge, not {name[:80]}")
            result = await loop.run_in_executor(pool, operations.put_events, ctx, _parse(raw))
            return json.dumps(result, separators=(",", ":")).encode()
        handler = operations.TABLE.get(name)
        if handler is None:
            known = name in model.operation_names()
            raise _Refused("UnknownOperationException", f"adhere does not implement {name}" if known
                           else f"Unknown operation {name[:80]!r}")
        body = _parse(raw)
        model.validate(name, body)
        if name in operations.INLINE:
            result = handler(ctx, body)
        else:
            result = await loop.run_in_executor(pool, handler, ctx, body)
        return json.dumps(model.output(name, result), separators=(",", ":")).encode()

    return application


class _Disconnected(Exception):
    """The client went away before its request was read."""


async def _respond(send: Send, status: int, body: bytes, request_id: bytes, extra: list[tuple[bytes, bytes]],
                   content_type: bytes = JSON_TYPE.encode()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(body)).encode()),
        (b"x-amzn-requestid", request_id), *extra]})
    await send({"type": "http.response.body", "body": body})


def _parse(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        detail = f" ({exc.msg} at line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise _Refused("SerializationException", f"The request body is not valid JSON{detail}") from None
    if b"\\u0000" in raw or _SURROGATE_ESCAPE.search(raw):
        _check_storable(body, "")
    return body


# A JSON escape of a surrogate code point; a pair is fine, a lone half is not valid text.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _check_storable(value: Any, where: str, depth: int = 0) -> None:
    """No string anywhere in a request may hold what the store cannot keep (a NUL, a lone
    surrogate), whatever the model's pattern for it says: refused here, naming the member."""
    from orchestrator.definitions.text import storable_problem

    if depth > 200:
        return  # the model's validation refuses such nesting
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        place = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else str(key)
        for text in ((key,) if isinstance(key, str) else ()) + ((item,) if isinstance(item, str) else ()):
            if problem := storable_problem(text):
                raise errors.InvalidInputException(f"1 validation error detected: Value at {place!r} {problem}")
        _check_storable(item, place, depth + 1)


def _prepare() -> None:
    for name in operations.TABLE:
        with contextlib.suppress(errors.InvalidInputException):  # required members are missing
            model.validate(name, {})
        model.output(name, {})


def check_binding(settings: Settings) -> str | None:
    """Refuse to listen beyond loopback without access keys unless told ``insecure``; the warning
    to print when told so."""
    from orchestrator.api import auth

    if settings.host in LOOPBACK or auth.load_keys(settings):
        return None
    if not settings.insecure:
        raise errors.InvalidInputException(
            f"refusing to listen on {settings.host} without access keys: anyone who can reach it could run "
            "jobs. Configure ADHERE_ACCESS_KEYS (or --access-keys-file), or pass --insecure")
    return (f"warning: listening on {settings.host} without access keys (--insecure): anyone who can reach "
            f"port {settings.port} can create and run jobs")


class Server:
    """uvicorn on a thread of its own, beside the orchestrator loop."""

    def __init__(self, db: store.Store, settings: Settings, wake: Callable[[], None] = lambda: None,
                 health: Callable[[], dict[str, Any]] | None = None) -> None:
        import uvicorn

        config = uvicorn.Config(app(db, settings, wake, health=health), host=settings.host, port=settings.port,
                                log_level="warning", access_log=False, lifespan="off",
                                proxy_headers=False)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        # Compile each operation's checks now, off the request path (a first request would
        # otherwise pay for its operation's, on the event loop).
        threading.Thread(target=_prepare, name="adhere-api-prepare", daemon=True).start()

    @property
    def port(self) -> int:
        """The bound port (settings may ask for 0: any free one)."""
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("the server is not listening")

    def start(self) -> Server:
        self._thread = threading.Thread(target=self.server.run, name="adhere-api", daemon=True)
        self._thread.start()
        import time

        while not self.server.started:
            if not self._thread.is_alive():
                raise errors.InvalidInputException(f"the API server could not start on port "
                                                   f"{self.server.config.port}")
            time.sleep(0.01)
        return self


    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread:
            self._thread.join(10)
