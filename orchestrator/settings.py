"""Settings, read once at the edge (CLI, API) from ``ADHERE_*`` variables, then flags.

Nothing here opens a connection or starts an engine; ``store.open(settings)`` does. A plain
frozen dataclass: every command of the CLI reads settings, and a model library costs more to
import than the whole of this file takes to run.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "ADHERE_"


@dataclasses.dataclass(frozen=True)
class Settings:
    # Project folder: the SQLite file, logs and engine state live under it.
    home: Path = Path(".adhere")
    # SQLAlchemy URL; default is a SQLite file under ``home``.
    db_url: str | None = None
    # Most job processes running at once per engine (default: the number of cores).
    max_processes: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    # How often the loop looks at the store for work written by other processes (seconds).
    poll_interval: float = 0.25
    # How python-shell jobs start: "fork" from a warm interpreter (fast), or "spawn" a new one.
    python_start: str = "fork"
    # Seconds between TERM and KILL when a run is stopped or times out.
    kill_grace: float = 5.0
    # Ray: a dashboard address (http://host:8265) selects the Jobs API; empty = local cluster.
    ray_address: str | None = None
    ray_idle_timeout: float = 300.0
    # Spark: master URL for spark-submit (default local[N]); a sc:// URL selects Spark Connect;
    # spark_mode "connect" runs jobs against a warm local Spark Connect server.
    spark_master: str | None = None
    spark_connect_url: str | None = None
    spark_mode: str = "submit"
    # Notification sinks (orchestrator.notifications), e.g. [{"type": "webhook", "url": ...}].
    notification_sinks: tuple[dict[str, Any], ...] = ()
    # A YAML/JSON file with more sinks (a list, or {notification_sinks: [...]}).
    notifications_file: Path | None = None
    # `adhere serve`: where Glue's API listens. A non-loopback host needs access keys or ``insecure``.
    host: str = "127.0.0.1"
    port: int = 8639
    insecure: bool = False
    # SigV4 access keys "ID:SECRET,ID:SECRET", and/or a file of such lines; none = no checking.
    access_keys: tuple[tuple[str, str], ...] = ()
    access_keys_file: Path | None = None
    # The account and region in ARNs and CatalogId (AWS's documentation examples use these).
    account_id: str = "123456789012"
    region: str = "us-east-1"
    # Folders that script locations and --extra-* files must lie in (empty = anywhere).
    script_roots: tuple[Path, ...] = ()
    # A running `adhere serve` to talk to instead of the store (CLI and job scripts).
    endpoint: str | None = None
    # Requests with larger bodies are refused with 413 before they are read whole.
    max_request_bytes: int = 10 * 1024 * 1024
    # Seconds two fire times of a cron schedule may be apart at least: Glue's 5 minutes
    # (schedules.MIN_INTERVAL); less for local use, 0 allows every minute.
    min_schedule_interval: float = 300.0
    # A schedule tick missed while no serve ran: "none" (Glue) or "latest" (fires it once).
    schedule_catch_up: str = "none"
    # Event sources of `adhere serve`: folders whose new files are "Object Created" events
    # (os.pathsep-separated), and SQS queue URLs of S3 event notifications (comma-separated;
    # boto3 finds the endpoint, e.g. AWS_ENDPOINT_URL_SQS, and credentials as usual).
    watch_folders: tuple[Path, ...] = ()
    sqs_queues: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None or field.name not in _CHECKS:
                continue
            try:
                checked = _CHECKS[field.name](value)
            except (TypeError, ValueError) as exc:
                raise _bad(field.name, str(exc)) from None
            object.__setattr__(self, field.name, checked)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.home / 'adhere.db').resolve()}"

    def engine_options(self) -> dict[str, dict[str, str]]:
        """What each built-in engine is configured with (strings, as entry-point engines get them)."""
        ray = {"ray_address": self.ray_address, "ray_idle_timeout": self.ray_idle_timeout}
        spark = {"spark_master": self.spark_master, "spark_connect_url": self.spark_connect_url,
                 "spark_mode": self.spark_mode}
        shell = {"python_start": self.python_start}
        return {
            command: {k: str(v) for k, v in values.items() if v is not None}
            for command, values in (("glueray", ray), ("glueetl", spark), ("pythonshell", shell))
        }

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"


def _number(kind: type[int] | type[float], low: float, what: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise TypeError(f"must be {what}, not {value!r}")
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be {what}, not {str(value)[:40]!r}") from None
        if not number >= low:  # also refuses nan
            raise ValueError(f"must be {what}, not {value!r}")
        return number

    return check


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"must be {' or '.join(allowed)}, not {str(value)[:40]!r}")
        return str(value)

    return check


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, not {str(value)[:40]!r}")


def _access_keys(value: Any) -> tuple[tuple[str, str], ...]:
    """"ID:SECRET,ID:SECRET" (or pairs already split) into ((id, secret), ...)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    pairs: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, tuple | list) and len(item) == 2:
            key_id, secret = (str(x) for x in item)
        elif isinstance(item, str) and item.strip():
            key_id, sep, secret = item.strip().partition(":")
            if not sep:
                raise ValueError("each access key must be ACCESS_KEY_ID:SECRET")
        else:
            continue
        if not key_id or not secret:
            raise ValueError("each access key must be ACCESS_KEY_ID:SECRET, both non-empty")
        pairs.append((key_id, secret))
    return tuple(pairs)


def _paths(value: Any) -> tuple[Path, ...]:
    items = value.split(os.pathsep) if isinstance(value, str) else list(value)
    return tuple(Path(str(v)).expanduser().resolve() for v in items if str(v).strip())


def _urls(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    urls = tuple(str(v).strip() for v in items if str(v).strip())
    if bad := [u for u in urls if not u.startswith(("http://", "https://"))]:
        raise ValueError(f"{bad[0]!r} is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)")
    return urls


def _account(value: Any) -> str:
    text = str(value)
    if not (len(text) == 12 and text.isdigit()):
        raise ValueError(f"must be 12 digits, not {text[:40]!r}")
    return text


def _sinks(value: Any) -> tuple[dict[str, Any], ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple):
        raise ValueError("must be a JSON list of sink objects")
    return tuple(value)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    # Engines start jobs in other folders: a relative home would move with them.
    "home": lambda value: Path(value).expanduser().absolute(),
    "notifications_file": lambda value: Path(value).expanduser(),
    "max_processes": _number(int, 1, "a whole number of 1 or more"),
    "poll_interval": _number(float, 0.001, "a number of seconds above 0"),
    "kill_grace": _number(float, 0, "a number of seconds"),
    "ray_idle_timeout": _number(float, 0, "a number of seconds"),
    "python_start": _choice("fork", "spawn"),
    "spark_mode": _choice("submit", "connect"),
    "notification_sinks": _sinks,
    "port": _number(int, 0, "a port number"),
    "insecure": _flag,
    "access_keys": _access_keys,
    "access_keys_file": lambda value: Path(value).expanduser(),
    "account_id": _account,
    "script_roots": _paths,
    "max_request_bytes": _number(int, 1, "a number of bytes"),
    "min_schedule_interval": _number(float, 0, "a number of seconds"),
    "schedule_catch_up": _choice("none", "latest"),
    "watch_folders": _paths,
    "sqs_queues": _urls,
}


def load(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment, then ``overrides`` (flags), ignoring ``None`` values."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Settings):
        raw = env.get(ENV_PREFIX + field.name.upper())
        if raw is None or raw == "":
            continue
        if field.name == "notification_sinks":
            import json

            try:
                values[field.name] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise _bad(field.name, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
        else:
            values[field.name] = raw
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return Settings(**values)


def min_schedule_interval(environ: Mapping[str, str] | None = None) -> float:
    """``ADHERE_MIN_SCHEDULE_INTERVAL`` alone, checked as ``load`` checks it: definition checks
    need only this, and building the whole Settings would check (and fail on) all the others."""
    env = os.environ if environ is None else environ
    raw = env.get(ENV_PREFIX + "MIN_SCHEDULE_INTERVAL")
    if raw is None or raw == "":
        return Settings.min_schedule_interval
    try:
        return float(_CHECKS["min_schedule_interval"](raw))
    except (TypeError, ValueError) as exc:
        raise _bad("min_schedule_interval", str(exc)) from None


def _bad(name: str, problem: str) -> Exception:
    from orchestrator import errors

    return errors.InvalidInputException(f"bad setting {ENV_PREFIX}{name.upper()}: {problem}")
