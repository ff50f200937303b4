"""Delivery of Glue's EventBridge events (``orchestrator.events``) to notification sinks.

Sinks: ``log`` (the default), ``webhook``, ``command``, ``eventbridge``, ``sns``. Publishing never
waits on I/O: each sink has its own queue and worker thread, so a dead webhook delays only itself.
Retries use tenacity's exponential backoff with jitter. Nothing here is durable: the store's
outbox is the truth, and ``on_result`` tells the caller how each delivery ended.
"""

from __future__ import annotations

import collections
import json
import logging
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pydantic
import tenacity

from orchestrator import errors

logger = logging.getLogger("adhere.notifications")

OnResult = Callable[[str, str, bool, str | None], None]
"""``on_result(event_id, sink_name, ok, error)``: from the sink's thread once retries are over,
or from ``publish`` itself for an event dropped because the sink's backlog is full."""


class DeliveryError(errors.AdhereError):
    """A sink refused or could not take an event; ``retryable`` says whether to try again."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Sink(pydantic.BaseModel):
    """What every sink accepts: a name, a filter, and how hard to retry; ``send`` delivers once."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    type: str
    name: str | None = pydantic.Field(default=None, min_length=1)
    # Filter: an event goes to this sink only if it matches both lists (when given).
    detail_types: list[str] | None = None
    states: list[str] | None = None  # compared case-insensitively (crawler states are Title case)
    attempts: int = pydantic.Field(default=3, ge=1, le=20)
    backoff: float = pydantic.Field(default=0.5, ge=0)  # first wait in seconds; doubles each time
    max_backoff: float = pydantic.Field(default=30.0, ge=0)

    def matches(self, event: Mapping[str, Any]) -> bool:
        if self.detail_types is not None and event.get("detail-type") not in self.detail_types:
            return False
        if self.states is not None:
            state = (event.get("detail") or {}).get("state")
            return isinstance(state, str) and state.upper() in {s.upper() for s in self.states}
        return True

    def send(self, event: Mapping[str, Any], body: str) -> None:
        """Deliver one event (``body`` is its JSON) or raise DeliveryError."""
        raise NotImplementedError


class LogSink(Sink):
    type: Literal["log"]
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    def send(self, event: Mapping[str, Any], body: str) -> None:
        logger.log(logging.getLevelName(self.level), "%s %s", event.get("detail-type"), body)


class WebhookSink(Sink):
    type: Literal["webhook"]
    url: str
    headers: dict[str, str] = pydantic.Field(default_factory=dict)
    timeout: float = pydantic.Field(default=10.0, gt=0)

    @pydantic.field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        # urllib would also open file:// and ftp:// URLs; a webhook is HTTP.
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http:// or https:// URL, not {url!r}")
        return url

    def send(self, event: Mapping[str, Any], body: str) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "adhere", **self.headers}
        request = urllib.request.Request(self.url, body.encode(), headers, method="POST")
        try:
            with _opener.open(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            # Server trouble and rate limits pass; a 3xx or another 4xx will not fix itself.
            retryable = exc.code >= 500 or exc.code in (408, 429)
            message = f"HTTP {exc.code} {exc.reason} from {self.url}"
            raise DeliveryError(message, retryable=retryable) from None
        except OSError as exc:  # URLError, refused connections, timeouts
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"cannot reach {self.url}: {reason}") from None


class CommandSink(Sink):
    type: Literal["command"]
    argv: list[str] = pydantic.Field(min_length=1)  # run as is, never through a shell
    timeout: float = pydantic.Field(default=30.0, gt=0)

    def send(self, event: Mapping[str, Any], body: str) -> None:
        program = self.argv[0]
        try:
            done = subprocess.run(
                self.argv, input=body.encode(), capture_output=True, timeout=self.timeout
            )
        except subprocess.TimeoutExpired:
            raise DeliveryError(f"{program} did not finish in {self.timeout:g}s") from None
        except OSError as exc:
            raise DeliveryError(f"cannot run {program}: {exc}", retryable=False) from None
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
            said = f": {' | '.join(tail)}" if tail else ""
            raise DeliveryError(f"{program} exited with status {done.returncode}{said}")


class _AwsSink(Sink):
    endpoint_url: str | None = None
    region: str | None = None  # default: from the ARN, else boto3's usual chain
    _client: Any = pydantic.PrivateAttr(default=None)

    def _call(self, what: str, service: str, arn: str, method: str, **kwargs: Any) -> Any:
        import boto3  # imported where used: the orchestrator starts without it loaded
        import botocore.config
        import botocore.exceptions as bex

        try:
            if self._client is None:
                region = self.region or (arn.split(":")[3] if arn.count(":") >= 5 else None)
                # Our retries are tenacity's; botocore's own would multiply them.
                config = botocore.config.Config(
                    retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10
                )
                # A session per client: boto3 sessions are not thread-safe, clients are.
                self._client = boto3.session.Session().client(
                    service, region_name=region, endpoint_url=self.endpoint_url, config=config
                )
            return getattr(self._client, method)(**kwargs)
        except bex.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            retryable = status >= 500 or "Throttl" in code or code == "TooManyRequestsException"
            raise DeliveryError(f"{what}: {exc}", retryable=retryable) from None
        except (bex.ConnectionError, bex.HTTPClientError) as exc:
            raise DeliveryError(f"{what}: {exc}") from None
        except bex.BotoCoreError as exc:  # no credentials, no region, bad parameters
            raise DeliveryError(f"{what}: {exc}", retryable=False) from None


class EventBridgeSink(_AwsSink):
    type: Literal["eventbridge"]
    event_bus_name: str = pydantic.Field(
        default="default", validation_alias=pydantic.AliasChoices("event_bus_name", "EventBusName")
    )
    # AWS reserves "aws.*" sources for itself; set e.g. "adhere.glue" against real EventBridge.
    source: str = "aws.glue"

    def send(self, event: Mapping[str, Any], body: str) -> None:
        entry: dict[str, Any] = {
            "Source": self.source,
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event.get("detail", {})),
            "Resources": list(event.get("resources", [])),
            "EventBusName": self.event_bus_name,
        }
        if event.get("time"):
            entry["Time"] = datetime.fromisoformat(event["time"])
        bus = self.event_bus_name
        reply = self._call("EventBridge PutEvents", "events", bus, "put_events", Entries=[entry])
        if reply.get("FailedEntryCount"):
            failed = reply["Entries"][0]
            code = failed.get("ErrorCode", "")
            raise DeliveryError(
                f"EventBridge refused the event: {code}: {failed.get('ErrorMessage', '')}",
                retryable=code in ("InternalFailure", "ThrottlingException"),
            )


class SnsSink(_AwsSink):
    type: Literal["sns"]
    topic_arn: str = pydantic.Field(validation_alias=pydantic.AliasChoices("topic_arn", "TopicArn"))

    def send(self, event: Mapping[str, Any], body: str) -> None:
        # Attributes let subscription filter policies pick events without parsing bodies.
        values = {"detail-type": event.get("detail-type"), "source": event.get("source")}
        values["state"] = (event.get("detail") or {}).get("state")
        attributes = {
            k: {"DataType": "String", "StringValue": v}
            for k, v in values.items()
            if isinstance(v, str) and v
        }
        subject = str(event.get("detail-type"))[:100]
        message = {"Message": body, "Subject": subject, "MessageAttributes": attributes}
        self._call(
            "SNS Publish", "sns", self.topic_arn, "publish", TopicArn=self.topic_arn, **message
        )


# No redirect handler: urllib would turn a redirected POST into a GET and drop the event.
_opener = urllib.request.OpenerDirector()
for _handler in (
    urllib.request.ProxyHandler(),
    urllib.request.HTTPHandler(),
    urllib.request.HTTPSHandler(),
    urllib.request.HTTPDefaultErrorHandler(),
    urllib.request.HTTPErrorProcessor(),
):
    _opener.add_handler(_handler)


SinkConfig = LogSink | WebhookSink | CommandSink | EventBridgeSink | SnsSink
SINK_TYPES: dict[str, type[Sink]] = {
    "log": LogSink,
    "webhook": WebhookSink,
    "command": CommandSink,
    "eventbridge": EventBridgeSink,
    "sns": SnsSink,
}


def parse_sinks(raw: Any, *, where: str = "notification_sinks") -> list[SinkConfig]:
    """Validate sink configs and name them (``<type>-<n>`` unless given); all problems at once."""
    if raw is None:
        return []
    if isinstance(raw, str | bytes | Mapping) or not isinstance(raw, Sequence):
        raise errors.InvalidInputException(
            f"{where} must be a list of sink objects, not {type(raw).__name__}"
        )
    problems: list[errors.Problem] = []
    sinks: list[Any] = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if isinstance(item, Sink):
            sinks.append(item)
            continue
        if not isinstance(item, Mapping):
            problems.append(errors.Problem(at, "must be an object with a 'type' key"))
            continue
        model = SINK_TYPES.get(item.get("type"))  # type: ignore[arg-type]
        if model is None:
            got = f"unknown sink type {item['type']!r}" if "type" in item else "missing"
            problems.append(
                errors.Problem(f"{at}.type", f"{got}; use one of {', '.join(SINK_TYPES)}")
            )
            continue
        try:
            sinks.append(model.model_validate(dict(item)))
        except pydantic.ValidationError as exc:
            problems.extend(_problems(at, str(item["type"]), model, exc))
    counts: dict[str, int] = {}
    named: list[SinkConfig] = []
    for sink in sinks:
        counts[sink.type] = counts.get(sink.type, 0) + 1
        named.append(
            sink
            if sink.name
            else sink.model_copy(update={"name": f"{sink.type}-{counts[sink.type]}"})
        )
    seen: set[str] = set()
    for i, sink in enumerate(named):
        if sink.name in seen:
            problems.append(
                errors.Problem(f"{where}[{i}].name", f"duplicate sink name {sink.name!r}")
            )
        seen.add(sink.name or "")
    if problems:
        raise errors.ValidationError(problems, source="notification sinks")
    return named


def load_file(path: str | Path) -> list[SinkConfig]:
    """Sinks from a JSON or YAML file: a list, or a mapping with a ``notification_sinks`` list."""
    import yaml  # JSON is YAML too

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise errors.InvalidInputException(
            f"cannot read notification sinks from {path}: {exc}"
        ) from exc
    if isinstance(data, Mapping):
        data = data.get("notification_sinks")
    return parse_sinks(data, where=f"{path}: notification_sinks")


class Notifier:
    """Fans events out to sinks on background threads; see the module docstring."""

    def __init__(
        self,
        sinks: Sequence[Mapping[str, Any] | Sink],
        on_result: OnResult | None = None,
        *,
        max_backlog: int = 10_000,
    ) -> None:
        parsed = parse_sinks(sinks) or parse_sinks([{"type": "log"}])
        self._on_result = on_result
        self._max_backlog = max_backlog
        self._cond = threading.Condition()
        self._backlog: dict[str, int] = {}
        self._closed = False
        # Set on close once the grace period is over: backoff waits end, queued events are dropped.
        self._abort = threading.Event()
        self._workers = [_Worker(sink, self) for sink in parsed]
        for worker in self._workers:
            self._backlog[worker.name] = 0
            worker.thread.start()

    @property
    def sinks(self) -> list[SinkConfig]:
        return [w.sink for w in self._workers]  # type: ignore[misc]

    def publish(self, event: Mapping[str, Any]) -> list[str]:
        """Queue ``event`` for every sink whose filter matches; return their names. No I/O."""
        body = json.dumps(event, separators=(",", ":"))  # a bad event fails here, in the caller
        queued: list[str] = []
        dropped: list[str] = []
        with self._cond:
            if self._closed:
                logger.warning("notifier closed; event %s not published", event.get("id"))
                return []
            for worker in self._workers:
                if not worker.sink.matches(event):
                    continue
                if self._backlog[worker.name] >= self._max_backlog:
                    dropped.append(worker.name)
                    continue
                self._backlog[worker.name] += 1
                worker.queue.append((dict(event), body))
                queued.append(worker.name)
            self._cond.notify_all()
        for name in dropped:
            logger.warning(
                "sink %s has %d events waiting; dropped %s",
                name,
                self._max_backlog,
                event.get("id"),
            )
            self._report(
                str(event.get("id")), name, False, "not delivered: the sink's backlog is full"
            )
        return queued

    def flush(self, timeout: float) -> bool:
        """Wait until every queued delivery has ended; False if ``timeout`` seconds ran out first."""
        with self._cond:
            return self._cond.wait_for(lambda: not any(self._backlog.values()), timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking events, let queued ones go out for up to ``timeout`` seconds, then give up.

        Events still queued after that are reported to ``on_result`` as not delivered.
        """
        with self._cond:
            if self._closed:
                return
            self._closed = True
        self.flush(timeout)
        self._abort.set()
        with self._cond:
            self._cond.notify_all()
        for worker in self._workers:
            # A request already on the wire cannot be interrupted; the thread is a daemon.
            worker.thread.join(timeout=1.0)

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next(self, worker: _Worker) -> tuple[dict[str, Any], str] | None:
        with self._cond:
            self._cond.wait_for(lambda: worker.queue or self._closed)
            return worker.queue.popleft() if worker.queue else None

    def _done(self, worker: _Worker, event_id: str, ok: bool, error: str | None) -> None:
        self._report(event_id, worker.name, ok, error)
        with self._cond:
            self._backlog[worker.name] -= 1
            self._cond.notify_all()

    def _report(self, event_id: str, sink: str, ok: bool, error: str | None) -> None:
        if ok:
            logger.debug("event %s delivered to %s", event_id, sink)
        else:
            logger.warning("event %s not delivered to %s: %s", event_id, sink, error)
        if self._on_result is None:
            return
        try:
            self._on_result(event_id, sink, ok, error)
        except Exception:  # the callback's failure must not stop deliveries
            logger.exception("on_result failed for event %s, sink %s", event_id, sink)


class _Aborted(Exception):
    """The notifier closed while a delivery was waiting to retry."""


class _Worker:
    """One sink's queue and thread; its sender (and boto3 client) is used by that thread only."""

    def __init__(self, sink: Sink, notifier: Notifier) -> None:
        self.sink = sink
        self.name = sink.name or sink.type
        self.queue: collections.deque[tuple[dict[str, Any], str]] = collections.deque()
        self.notifier = notifier
        self.errors: list[BaseException | None] = []  # errors of the delivery in progress
        self.retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(sink.attempts),
            # Exponential backoff plus jitter, so many runs failing at once do not retry in step.
            wait=tenacity.wait_exponential(multiplier=sink.backoff, max=sink.max_backoff)
            + tenacity.wait_random(0, sink.backoff),
            retry=tenacity.retry_if_exception(
                lambda e: isinstance(e, DeliveryError) and e.retryable
            ),
            before_sleep=lambda state: self.errors.append(
                state.outcome and state.outcome.exception()
            ),
            sleep=self._sleep,
            reraise=True,
        )
        self.thread = threading.Thread(
            target=self._run, name=f"adhere-notify-{self.name}", daemon=True
        )

    def _run(self) -> None:
        while (item := self.notifier._next(self)) is not None:
            event, body = item
            event_id = str(event.get("id"))
            if self.notifier._abort.is_set():
                self.notifier._done(
                    self, event_id, False, "not delivered: the notifier closed first"
                )
                continue
            ok, error = self._deliver(event, body)
            self.notifier._done(self, event_id, ok, error)

    def _deliver(self, event: dict[str, Any], body: str) -> tuple[bool, str | None]:
        self.errors.clear()
        try:
            self.retrying(self.sink.send, event, body)
            return True, None
        except _Aborted:
            return False, f"gave up when the notifier closed; last error: {self.errors[-1]}"
        except DeliveryError as exc:
            tries = self.retrying.statistics.get("attempt_number", 1)
            return False, f"{exc} (attempt {tries} of {self.sink.attempts})"
        except Exception as exc:  # a bug or an unexpected library error: report, keep the thread
            logger.exception("sink %s failed on event %s", self.name, event.get("id"))
            return False, f"{type(exc).__name__}: {exc}"

    def _sleep(self, seconds: float) -> None:
        if self.notifier._abort.wait(seconds):
            raise _Aborted


def _problems(
    at: str, kind: str, model: type[Sink], exc: pydantic.ValidationError
) -> list[errors.Problem]:
    allowed = ", ".join(sorted(model.model_fields))
    out = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            message = f"unknown key for a {kind} sink (allowed: {allowed})"
        elif err["type"] == "value_error":
            message = str(err.get("ctx", {}).get("error", err["msg"]))
        else:
            message = err["msg"]
        out.append(errors.Problem(f"{at}.{key}" if key else at, message))
    return out
