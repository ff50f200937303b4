"""Settings, read once at the edge (CLI, API) from ``ADHERE_*`` variables, then flags.

Nothing here opens a connection or starts an engine; ``store.open(settings)`` does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic

ENV_PREFIX = "ADHERE_"


class Settings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)

    # Project folder: the SQLite file, logs and engine state live under it.
    home: Path = pydantic.Field(default=Path(".adhere"), validate_default=True)
    # SQLAlchemy URL; default is a SQLite file under ``home``.
    db_url: str | None = None
    # Most job processes running at once per engine (default: the number of cores).
    max_processes: int = pydantic.Field(default_factory=lambda: os.cpu_count() or 1)
    # How often the scheduler looks at the store for work written by other processes.
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
    notification_sinks: list[dict[str, Any]] = pydantic.Field(default_factory=list)
    # A YAML/JSON file with more sinks (a list, or {notification_sinks: [...]}).
    notifications_file: Path | None = None

    @pydantic.field_validator("home")
    @classmethod
    def _absolute(cls, home: Path) -> Path:
        # Engines start jobs in other folders: a relative home would move with them.
        return home.expanduser().absolute()

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


def load(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment, then ``overrides`` (flags), ignoring ``None`` values."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is None or raw == "":
            continue
        if field.annotation in (int, float, Path) or name in {"max_processes"}:
            values[name] = raw
        elif name == "notification_sinks":
            import json

            values[name] = json.loads(raw)
        else:
            values[name] = raw
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Settings(**values)
    except pydantic.ValidationError as exc:
        from orchestrator import errors

        first = exc.errors()[0]
        name = str(first["loc"][0])
        raise errors.InvalidInputException(
            f"bad setting {ENV_PREFIX}{name.upper()}: {first['msg']}"
        ) from None
