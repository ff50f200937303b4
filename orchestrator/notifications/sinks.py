"""Notification sinks: where events go (``log``, ``webhook``, ``command``, ``eventbridge``, ``sns``),
each a pydantic model of its settings with a ``send`` that delivers one event or raises
``DeliveryError``. Loaded only when sinks are configured: the default log needs none of it.
"""

from __future__ import annotations

import json
import logging
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pydantic

from orchestrator import errors
from orchestrator.notifications.notifier import DeliveryError

logger = logging.getLogger("adhere.notifications")


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
