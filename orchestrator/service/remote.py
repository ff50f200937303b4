"""Service calls sent to a running `adhere serve` instead of run on a store (``adhere --endpoint``).

An ``Endpoint`` stands in for the store: a service function marked ``@remote.callable``, given
one as its first argument, sends its call to the server as ``X-Amz-Target: Adhere.Call`` with
``{"Function": "jobs.get_jobs", "Args": [...], "Kwargs": {...}}``. The server (``api.calls``)
runs the same function on its own store and with its own settings (a parameter named
``settings`` is never sent) and returns ``{"Result": ...}``. Only marked functions of the
modules in ``MODULES`` can be called: ``FUNCTIONS`` is the allow-list, filled by the marks.

Values cross as JSON with single-key ``$`` tags, so that what comes back is what went:
datetimes, dates, tuples, sets, dicts with other than plain string keys, and the few value
classes of ``VALUES`` (``encode``/``decode``). A function that returns an iterator (a job run's
log) is streamed, one JSON line per item. An error comes back in Glue's shape and is raised
again as the same ``errors`` class (by its class, else its code) with the same message; a
ValidationError keeps its problems.

Requests are signed (SigV4, botocore's signer, imported only then) when credentials are at hand:
the first pair of ``ADHERE_ACCESS_KEYS``, else ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``.
One keep-alive connection (``http.client``) serves every call of a command.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import importlib
import inspect
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any, TypeVar

from orchestrator import errors
from orchestrator.settings import Settings

TARGET = "Adhere.Call"
JSON_TYPE = "application/x-amz-json-1.1"
STREAM_TYPE = "application/x-ndjson"
TIMEOUT = 300.0  # seconds a socket operation may wait (a large apply takes a while)
# The service modules whose marked functions a client may call (``module.function`` on the wire).
MODULES = ("bookmarks", "crawlers", "databases", "definitions", "events", "job_runs", "jobs", "lookup", "notifications", "partitions", "tables",
           "triggers", "workflow_runs", "workflows")
# Value classes a call may carry, by their name on the wire (``module:class``, imported to decode).
VALUES = {
    "Outcome": "orchestrator.service.definitions:Outcome",
    "Known": "orchestrator.definitions.problems:Known",
    **{name: f"orchestrator.states:{name}"
       for name in ("JobRunState", "CrawlState", "WorkflowRunStatus", "TriggerState", "TriggerType")},
}


@dataclasses.dataclass(frozen=True)
class Marked:
    """A marked function: the function, the position of its ``settings`` parameter (the store
    is at 0), and whether a call writes work the server's loop should look at at once."""

    function: Callable[..., Any]
    settings_at: int | None
    wakes: bool


FUNCTIONS: dict[str, Marked] = {}
# Whether writes through marked functions wake the serves of their store (``store.wakeups``);
# a serve turns it off: its own API wakes its loop directly.
WAKE_SERVES = [True]  # "jobs.get_jobs" -> its entry: the allow-list
F = TypeVar("F", bound=Callable[..., Any])


def callable(function: F | None = None, *, wakes: bool = False) -> Any:
    """Mark a service function as callable through an ``Endpoint`` (``@remote.callable``, or
    ``@remote.callable(wakes=True)`` when it writes work the server's loop should act on now)."""

    def mark(function: F) -> F:
        package, _, module = function.__module__.rpartition(".")
        if package != "orchestrator.service" or module not in MODULES:
            raise ValueError(f"{function.__module__} is not a service module of remote.MODULES")
        name = f"{module}.{function.__name__}"
        params = list(inspect.signature(function).parameters)
        FUNCTIONS[name] = Marked(function, params.index("settings") if "settings" in params else None, wakes)

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            if args and isinstance(args[0], Endpoint):
                return args[0].call(name, args[1:], kwargs)
            result = function(*args, **kwargs)
            if wakes and WAKE_SERVES[0] and args:  # work written here: a serve acts on it now
                from orchestrator import store

                if isinstance(args[0], store.Store):
                    store.wakeups.wake_serves(args[0])
            return result

        return call  # type: ignore[return-value]

    return mark(function) if function is not None else mark


def lookup(name: Any) -> Marked:
    """The marked function ``name`` names ("jobs.get_jobs"); InvalidInputException for any other."""
    text = name if isinstance(name, str) else ""
    module = text.partition(".")[0]
    if module in MODULES:
        importlib.import_module(f"orchestrator.service.{module}")  # its marks fill FUNCTIONS
    entry = FUNCTIONS.get(text)
    if entry is None:
        raise errors.InvalidInputException(f"{str(name)[:80]!r} is not a function adhere serves")
    return entry


def without_settings(entry: Marked, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """The arguments a client sends: a ``settings`` given (by position, after the store, or by
    name) is the server's to choose."""
    args, kwargs = list(args), {k: v for k, v in kwargs.items() if k != "settings"}
    at = entry.settings_at
    if at is not None and len(args) >= at:  # positions here count from after the store
        del args[at - 1]
    return args, kwargs


def with_settings(entry: Marked, args: list[Any], kwargs: dict[str, Any], settings: Settings) -> None:
    """Put the server's settings where the function takes them (the reverse of ``without_settings``)."""
    at = entry.settings_at
    if at is None:
        return
    if len(args) > at - 1:  # arguments after it came by position: so does it
        args.insert(at - 1, settings)
    else:
        kwargs["settings"] = settings


# --- values -------------------------------------------------------------------------------------


@functools.cache
def _value_names() -> dict[str, str]:
    return {path.replace(":", "."): name for name, path in VALUES.items()}


def encode(value: Any) -> Any:
    """``value`` as plain JSON data, its types kept by ``$`` tags (``decode`` is the reverse).
    TypeError for a value of no known kind."""
    kind = type(value)
    if value is None or kind in (str, int, float, bool):
        return value
    if kind is list:
        return [encode(v) for v in value]
    if kind is dict:
        if all(type(k) is str and not k.startswith("$") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"$dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if kind is tuple:
        return {"$tuple": [encode(v) for v in value]}
    if kind in (set, frozenset):
        return {"$set" if kind is set else "$frozenset": [encode(v) for v in value]}
    if kind is dt.datetime:
        return {"$datetime": value.isoformat()}
    if kind is dt.date:
        return {"$date": value.isoformat()}
    if kind is dt.timedelta:
        return {"$timedelta": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, PurePath):
        return {"$path": str(value)}
    name = _value_names().get(f"{kind.__module__}.{kind.__qualname__}")
    if name is not None and isinstance(value, enum.Enum):
        return {"$value": [name, encode(value.value)]}
    if name is not None and dataclasses.is_dataclass(value):
        return {"$value": [name, {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}]}
    raise TypeError(f"a {kind.__module__}.{kind.__qualname__} cannot be sent to or from adhere serve")


def decode(data: Any) -> Any:
    """The value ``encode`` made ``data`` of; ValueError for data it could not have made."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    tag = next(iter(data), None) if len(data) == 1 else None
    if tag is None or not tag.startswith("$"):
        return {k: decode(v) for k, v in data.items()}
    body = data[tag]
    try:
        return _TAGS[tag](body)
    except KeyError:
        raise ValueError(f"unknown tag {tag[:40]!r}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"bad {tag} value: {exc}") from None


def _pairs(body: Any) -> dict[Any, Any]:
    return {decode(k): decode(v) for k, v in body}


def _value(body: Any) -> Any:
    name, fields = body
    if name not in VALUES:
        raise ValueError(f"{str(name)[:40]!r} is not a value adhere sends")
    module, _, attribute = VALUES[name].partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        return cls(decode(fields))
    return cls(**{k: decode(v) for k, v in fields.items()})


_TAGS: dict[str, Callable[[Any], Any]] = {
    "$dict": _pairs,
    "$tuple": lambda body: tuple(decode(v) for v in body),
    "$set": lambda body: {decode(v) for v in body},
    "$frozenset": lambda body: frozenset(decode(v) for v in body),
    "$datetime": dt.datetime.fromisoformat,
    "$date": dt.date.fromisoformat,
    "$timedelta": lambda body: dt.timedelta(days=body[0], seconds=body[1], microseconds=body[2]),
    "$path": lambda body: Path(str(body)),
    "$value": _value,
}


# --- errors -------------------------------------------------------------------------------------


def error_details(exc: errors.AdhereError) -> dict[str, Any]:
    """What Glue's error shape leaves out and the client needs to raise ``exc`` again: its class,
    and a ValidationError's problems."""
    kind = type(exc)
    out: dict[str, Any] = {"Class": f"{kind.__module__}.{kind.__qualname__}"}
    if isinstance(exc, errors.ValidationError):
        out["Problems"] = [{"Where": p.where, "Message": p.message} for p in exc.problems]
        out["Source"] = exc.source
    if isinstance(exc, errors.EngineError):
        out["Retryable"] = exc.retryable
    return out


def error_from(body: Mapping[str, Any], status: int) -> errors.AdhereError:
    """The error a server's Glue-shaped error body describes, as the class it was raised as."""
    code = str(body.get("__type") or "InternalServiceException").rpartition("#")[2]
    message = str(body.get("Message") or body.get("message") or f"HTTP {status}")
    problems = body.get("Problems")
    if isinstance(problems, list):
        return errors.ValidationError([errors.Problem(str(p.get("Where", "")), str(p.get("Message", "")))
                                       for p in problems if isinstance(p, Mapping)], str(body.get("Source") or ""))
    cls = _error_class(body.get("Class"), code)
    try:
        exc = cls(message)
    except TypeError:  # a class with arguments of its own: the message is what is shown
        exc = cls.__new__(cls)
        Exception.__init__(exc, message)
    if exc.code != code:  # a code this client has no class for
        exc.code = code
    if isinstance(exc, errors.EngineError):
        exc.retryable = bool(body.get("Retryable"))
    if isinstance(exc, errors.GlueError):
        exc.status = status
    return exc


def _error_class(name: Any, code: str) -> type[errors.AdhereError]:
    """The error class named ``name`` (among those this process has loaded), else ``errors``'
    class for ``code``, else GlueError."""
    found: dict[str, type[errors.AdhereError]] = {}
    pending: list[type[errors.AdhereError]] = [errors.AdhereError]
    while pending:
        cls = pending.pop()
        found[f"{cls.__module__}.{cls.__qualname__}"] = cls
        pending += cls.__subclasses__()
    if isinstance(name, str) and name in found and found[name].code == code:
        return found[name]
    by_code = getattr(errors, code, None) if code.isidentifier() else None
    if isinstance(by_code, type) and issubclass(by_code, errors.AdhereError):
        return by_code
    return errors.GlueError


# --- the client ---------------------------------------------------------------------------------


class Endpoint:
    """A running `adhere serve` at ``url``, standing in for its store in service calls."""

    def __init__(self, url: str, *, credentials: tuple[str, str, str | None] | None = None,
                 region: str = "us-east-1", timeout: float = TIMEOUT) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise errors.InvalidInputException(f"bad endpoint {url[:80]!r}: expected http://HOST:PORT")
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"
        self._parts = parts
        self.credentials = credentials
        self.region = region
        self.timeout = timeout
        self._conn: Any = None

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> Endpoint:
        assert settings.endpoint
        return cls(settings.endpoint, credentials=credentials(settings, os.environ if environ is None else environ),
                   region=settings.region)

    @property
    def safe_url(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"Endpoint({self.url!r})"

    def call(self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        """Run the marked function ``name`` on the server; its result (an iterator when the server
        streams it), or its error raised again here."""
        entry = FUNCTIONS[name]
        args, kwargs = without_settings(entry, args, kwargs)
        body = json.dumps({"Function": name, "Args": encode(args), "Kwargs": encode(kwargs)},
                          separators=(",", ":")).encode()
        conn, response = self._send(body)
        if response.getheader("content-type", "").startswith(STREAM_TYPE):
            self._conn = None  # the stream holds this connection until it ends
            return _stream(conn, response)
        raw = response.read()
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise errors.InternalServiceException(
                f"{self.url} answered HTTP {response.status} with what is not JSON: is it `adhere serve`?") from None
        if response.status >= 300 or not isinstance(data, dict) or "Result" not in data:
            raise error_from(data if isinstance(data, dict) else {}, response.status)
        return decode(data["Result"])

    def _send(self, body: bytes) -> tuple[Any, Any]:
        import http.client

        headers = {"Content-Type": JSON_TYPE, "X-Amz-Target": TARGET}
        if self.credentials is not None:
            headers = _signed(self.url, body, headers, self.credentials, self.region)
        for attempt in (1, 2):
            reused = self._conn is not None
            conn = self._conn or self._connect()
            self._conn = conn
            try:
                conn.request("POST", self._parts.path or "/", body=body, headers=headers)
                return conn, conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                self._conn = None
                if not reused or attempt == 2:  # a kept-alive connection the server had closed: once more
                    raise self._unreachable(exc) from None
            except OSError as exc:
                conn.close()
                self._conn = None
                raise self._unreachable(exc) from None
        raise AssertionError("unreachable")

    def _connect(self) -> Any:
        import http.client

        kind = http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
        return kind(self._parts.hostname, self._parts.port, timeout=self.timeout)

    def _unreachable(self, exc: OSError) -> errors.StoreError:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return errors.StoreError(f"cannot reach adhere serve at {self.url}: {reason}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _stream(conn: Any, response: Any) -> Iterator[Any]:
    """The items of a streamed result, one JSON line each, then ``{"End": true}`` (or the error
    that ended it)."""
    try:
        while True:
            line = response.readline()
            if not line:
                raise errors.StoreError("adhere serve ended the stream early (the connection was lost)")
            item = json.loads(line)
            if "Item" in item:
                yield decode(item["Item"])
            elif "Error" in item:
                raise error_from(item["Error"], 500)
            else:
                return
    finally:
        conn.close()


def credentials(settings: Settings, environ: Mapping[str, str]) -> tuple[str, str, str | None] | None:
    """The keys to sign with: the first of ``ADHERE_ACCESS_KEYS`` (adhere's own, so it wins over
    AWS keys meant for AWS), else AWS's environment variables; None: send unsigned."""
    if settings.access_keys:
        key_id, secret = settings.access_keys[0]
        return key_id, secret, None
    key_id, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if key_id and secret:
        return key_id, secret, environ.get("AWS_SESSION_TOKEN") or None
    return None


def _signed(url: str, body: bytes, headers: dict[str, str], keys: tuple[str, str, str | None],
            region: str) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials(*keys), "glue", region).add_auth(request)
    return dict(request.headers.items())
