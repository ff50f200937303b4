"""Definitions of jobs, crawlers, triggers and workflows: Glue's Create* request shapes as models.

Python attributes are snake_case; Glue's PascalCase names are the aliases, and files may use
either. Durations are seconds inside adhere and Glue minutes on the wire (``to_glue``).
Loading and whole-file validation live in ``orchestrator.validation``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_pascal

from orchestrator.states import CrawlState, JobRunState, TriggerType

MAX_TIMEOUT_SECONDS = 7 * 24 * 3600  # Glue: Timeout must be < 10080 minutes.

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "days": 86400.0,
}
_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|sec|min|s|m|h|d)\s*", re.IGNORECASE)


def parse_duration(value: Any, unit_if_number: str = "minutes") -> float:
    """Seconds from a Glue number (in ``unit_if_number``) or a string such as ``"90s"``, ``"1h30m"``.

    Numbers keep Glue's meaning (minutes for Timeout), so an exported Glue definition loads as is.
    """
    if unit_if_number not in _UNITS:
        raise ValueError(f"unknown duration unit {unit_if_number!r}")
    hint = "use a number of minutes or a string such as '90s', '10m', '2h'"
    if unit_if_number not in ("m", "min", "minutes"):
        hint = f"use a number of {unit_if_number} or a string such as '90s', '10m', '2h'"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a duration: {value!r}; {hint}")
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text) * _UNITS[unit_if_number]
        except ValueError:
            parts = _PART.findall(text)
            if not text or "".join(_PART.sub("", text)) or not parts:
                raise ValueError(f"not a duration: {value!r}; {hint}") from None
            seconds = sum(float(n) * _UNITS[u.lower()] for n, u in parts)
    else:
        seconds = float(value) * _UNITS[unit_if_number]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a duration: {value!r}; must be a finite, non-negative length")
    return seconds


def to_minutes(seconds: float) -> int:
    """Glue's whole minutes for a duration: rounded up, at least 1."""
    return max(1, math.ceil(seconds / 60 - 1e-9))


def effective_arguments(
    default: Mapping[str, str], run: Mapping[str, str], non_overridable: Mapping[str, str]
) -> dict[str, str]:
    """Glue's merge: run arguments override defaults key by key; non-overridable ones always win."""
    merged: dict[str, str] = {}
    for layer in (default, run, non_overridable):
        for key, value in layer.items():
            merged[key if key.startswith("--") else f"--{key}"] = value
    return merged


# --- field types -------------------------------------------------------------------------------


def _check_name(value: str) -> str:
    if not 1 <= len(value) <= 255:
        raise ValueError("must be 1-255 characters")
    if "\n" in value or "\r" in value:
        raise ValueError("must be a single line")
    return value


def _stringify(value: Any) -> Any:
    """YAML turns ``--flag: true`` into a bool; Glue arguments and tags are strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _stringify_map(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_stringify(k): _stringify(v) for k, v in value.items()}
    return value


def _minutes(value: Any) -> Any:
    return None if value is None else parse_duration(value, "minutes")


def _seconds(value: Any) -> Any:
    return None if value is None else parse_duration(value, "seconds")


def _timeout_limit(value: float | None) -> float | None:
    if value is not None and not 0 < value < MAX_TIMEOUT_SECONDS:
        raise ValueError("must be more than 0 and less than 7 days (10080 minutes)")
    return value


def _positive(value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise ValueError("must be more than 0")
    return value


def _duration_text(seconds: float) -> str:
    return f"{seconds:.6f}".rstrip("0").rstrip(".") + "s"


# Dumped as "90s" so that model_validate(model_dump()) keeps the value (a bare number means minutes).
_AsText = PlainSerializer(_duration_text, when_used="unless-none")
_NUMBER_OR_TEXT = {"type": ["number", "string"]}
_DURATION_SCHEMA = WithJsonSchema(
    {"anyOf": [_NUMBER_OR_TEXT, {"type": "null"}], "description": "Glue minutes, or '90s', '10m', '2h'"}
)
Name = Annotated[str, AfterValidator(_check_name)]
StrMap = Annotated[
    dict[str, str],
    BeforeValidator(_stringify_map),
    WithJsonSchema({"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}),
]
VersionStr = Annotated[str, BeforeValidator(_stringify), WithJsonSchema(_NUMBER_OR_TEXT)]
Timeout = Annotated[
    float | None, BeforeValidator(_minutes), AfterValidator(_timeout_limit), _AsText, _DURATION_SCHEMA
]
Delay = Annotated[
    float | None, BeforeValidator(_minutes), AfterValidator(_positive), _AsText, _DURATION_SCHEMA
]
Seconds = Annotated[float, BeforeValidator(_seconds), Field(ge=0), WithJsonSchema(_NUMBER_OR_TEXT)]


class _Model(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True, extra="forbid", frozen=True, alias_generator=to_pascal
    )

    def _glue(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# --- jobs --------------------------------------------------------------------------------------


class JobCommand(_Model):
    """Which engine runs the job (``Name``) and the script it runs."""

    name: str = "pythonshell"
    script_location: str
    python_version: VersionStr | None = None
    runtime: VersionStr | None = None


class ExecutionProperty(_Model):
    max_concurrent_runs: int = Field(1, ge=1)


class NotificationProperty(_Model):
    """``notify_delay_after`` is seconds here, whole minutes in ``to_glue``."""

    notify_delay_after: Delay = None


class RetryPolicy(_Model):
    """adhere extension: the delay before automatic retry n is ``initial_delay * multiplier**(n-1)``."""

    initial_delay: Seconds = 0
    multiplier: float = Field(2, ge=1)
    max_delay: Seconds = 300
    jitter: Seconds = 0


class Job(_Model):
    """A job definition (Glue CreateJob). ``timeout`` is seconds."""

    name: Name
    description: str | None = None
    role: str | None = None
    command: JobCommand
    default_arguments: StrMap = {}
    non_overridable_arguments: StrMap = {}
    max_retries: int = Field(0, ge=0)
    timeout: Timeout = None
    notification_property: NotificationProperty | None = None
    execution_property: ExecutionProperty = ExecutionProperty()
    worker_type: str | None = None
    number_of_workers: int | None = Field(None, ge=1)
    max_capacity: float | None = Field(None, gt=0)
    glue_version: VersionStr | None = None
    job_run_queuing_enabled: bool = False
    retry_policy: RetryPolicy | None = None
    tags: StrMap = {}

    def to_glue(self) -> dict[str, Any]:
        """Glue's Job shape; ``RetryPolicy`` stays as an extension key."""
        out = self._glue()
        out.pop("Tags", None)  # not part of Glue's Job shape (GetTags serves them)
        if self.timeout is not None:
            out["Timeout"] = to_minutes(self.timeout)
        _notify_minutes(out, self.notification_property)
        return out


def _notify_minutes(out: dict[str, Any], prop: NotificationProperty | None) -> None:
    if prop is not None and prop.notify_delay_after is not None:
        out["NotificationProperty"]["NotifyDelayAfter"] = to_minutes(prop.notify_delay_after)


# --- crawlers ----------------------------------------------------------------------------------


class Crawler(_Model):
    """A crawler definition (Glue CreateCrawler); what it does comes later."""

    name: Name
    role: str | None = None
    database_name: str | None = None
    description: str | None = None
    targets: dict[str, Any] = {}
    schedule: str | None = None
    table_prefix: str | None = None
    schema_change_policy: dict[str, Any] | None = None
    recrawl_policy: dict[str, Any] | None = None
    configuration: str | None = None
    tags: StrMap = {}

    def to_glue(self) -> dict[str, Any]:
        out = self._glue()
        out.pop("Tags", None)
        return out


# --- triggers ----------------------------------------------------------------------------------


class Condition(_Model):
    """One watched node: a job (``job_name``/``state``) or a crawler (``crawler_name``/``crawl_state``)."""

    logical_operator: Literal["EQUALS"] = "EQUALS"
    job_name: Name | None = None
    state: JobRunState | None = None
    crawler_name: Name | None = None
    crawl_state: CrawlState | None = None


class Predicate(_Model):
    logical: Literal["AND", "ANY"] | None = None
    conditions: list[Condition] = []


class Action(_Model):
    """Start one job or crawler; arguments, timeout (seconds) etc. override the job's for that run."""

    job_name: Name | None = None
    crawler_name: Name | None = None
    arguments: StrMap = {}
    timeout: Timeout = None
    notification_property: NotificationProperty | None = None
    security_configuration: str | None = None

    def to_glue(self) -> dict[str, Any]:
        out = self._glue()
        if not self.arguments:
            out.pop("Arguments")
        if self.timeout is not None:
            out["Timeout"] = to_minutes(self.timeout)
        _notify_minutes(out, self.notification_property)
        return out


class EventBatchingCondition(_Model):
    batch_size: int = Field(ge=1, le=100)
    batch_window: int | None = Field(None, ge=1, le=900)


class Trigger(_Model):
    """A trigger definition (Glue CreateTrigger)."""

    name: Name
    workflow_name: Name | None = None
    type: TriggerType
    schedule: str | None = None
    predicate: Predicate | None = None
    actions: list[Action]
    description: str | None = None
    start_on_creation: bool = False
    event_batching_condition: EventBatchingCondition | None = None
    tags: StrMap = {}

    def to_glue(self) -> dict[str, Any]:
        """Glue's Trigger shape without ``State`` (the service owns it) and without create-only keys."""
        out = self._glue()
        for key in ("StartOnCreation", "Tags"):
            out.pop(key, None)
        out["Actions"] = [a.to_glue() for a in self.actions]
        return out


# --- workflows ---------------------------------------------------------------------------------


class Workflow(_Model):
    """A workflow definition (Glue CreateWorkflow); its members come from its triggers."""

    name: Name
    description: str | None = None
    default_run_properties: StrMap = {}
    max_concurrent_runs: int | None = Field(None, ge=1)
    tags: StrMap = {}

    def to_glue(self) -> dict[str, Any]:
        out = self._glue()
        out.pop("Tags", None)
        return out


class Definitions(_Model):
    """Everything a set of definition files declares, with the DependsOn shorthand compiled."""

    jobs: list[Job] = []
    crawlers: list[Crawler] = []
    triggers: list[Trigger] = []
    workflows: list[Workflow] = []


# --- file-level shape (shorthand keys) ---------------------------------------------------------


def _depends_on(value: Any) -> Any:
    """``DependsOn: a`` and ``DependsOn: [a, b]`` mean "after each SUCCEEDED"."""
    if isinstance(value, str):
        return {value: "SUCCEEDED"}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return dict.fromkeys(value, "SUCCEEDED")
    return value


class _Shorthand(_Model):
    """adhere extension on a job or crawler entry: its workflow and what it runs after."""

    workflow: Name | None = Field(
        None,
        validation_alias=AliasChoices("Workflow", "WorkflowName", "workflow", "workflow_name"),
        serialization_alias="Workflow",
    )
    depends_on: Annotated[
        dict[str, str],
        BeforeValidator(_depends_on),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "object", "additionalProperties": {"type": "string"}},
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "string"},
                ],
                "description": "job or crawler -> state to wait for (a name alone: SUCCEEDED)",
            }
        ),
    ] = {}
    wait_for: Literal["AND", "ANY"] = "AND"

    @field_validator("wait_for", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class JobEntry(Job, _Shorthand):
    """A ``Jobs`` item of a definition file."""


class CrawlerEntry(Crawler, _Shorthand):
    """A ``Crawlers`` item of a definition file."""


class DefinitionFile(_Model):
    """The shape of one definition file (used for its JSON Schema)."""

    jobs: list[JobEntry] = []
    crawlers: list[CrawlerEntry] = []
    triggers: list[Trigger] = []
    workflows: list[Workflow] = []


def json_schema() -> dict[str, Any]:
    """JSON Schema of a definition file, for editors (PascalCase spelling)."""
    schema = DefinitionFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "adhere definitions"
    return schema


def load_files(paths: Sequence[Path]) -> Definitions:
    """Read YAML/JSON definition files, merge and validate them whole (see ``validation``)."""
    from orchestrator import validation  # validation imports this module's models

    return validation.load_files(paths)


def load_mapping(data: Mapping[str, Any], base_dir: Path, source: str = "") -> Definitions:
    """Validate an already-parsed definition mapping; relative script paths resolve in base_dir."""
    from orchestrator import validation

    return validation.load_mapping(data, base_dir, source)
