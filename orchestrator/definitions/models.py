"""Jobs, crawlers, triggers, workflows and catalog databases: Glue's Create* request shapes as frozen
pydantic models.

Python attributes are snake_case; Glue's PascalCase names are the aliases, and files may use
either. Durations are seconds inside adhere and Glue minutes on the wire (``to_glue``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_pascal

from orchestrator import errors
from orchestrator.definitions import crawler_rules, text, trigger_rules
from orchestrator.definitions.durations import (
    as_minutes,
    as_seconds,
    duration_text,
    positive,
    timeout_limit,
    to_minutes,
)
from orchestrator.states import CrawlState, JobRunState, TriggerType

# --- field types -------------------------------------------------------------------------------


# Dumped as "90s" so that model_validate(model_dump()) keeps the value (a bare number means minutes).
_AS_TEXT = PlainSerializer(duration_text, when_used="unless-none")
NUMBER_OR_TEXT = {"type": ["number", "string"]}
_SCHEMA = WithJsonSchema(
    {"anyOf": [NUMBER_OR_TEXT, {"type": "null"}], "description": "Glue minutes, or '90s', '10m', '2h'"}
)
Timeout = Annotated[
    float | None, BeforeValidator(as_minutes), AfterValidator(timeout_limit), _AS_TEXT, _SCHEMA
]
Delay = Annotated[float | None, BeforeValidator(as_minutes), AfterValidator(positive), _AS_TEXT, _SCHEMA]
Seconds = Annotated[float, BeforeValidator(as_seconds), Field(ge=0), WithJsonSchema(NUMBER_OR_TEXT)]


def _check_name(value: str) -> str:
    if problem := text.name_problem(value):
        raise ValueError(problem)
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


# Glue's NameString (Name, JobName, CrawlerName, WorkflowName): see orchestrator.definitions.text.
Name = Annotated[str, AfterValidator(_check_name)]
StrMap = Annotated[
    dict[str, str],
    BeforeValidator(_stringify_map),
    WithJsonSchema({"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}),
]
VersionStr = Annotated[str, BeforeValidator(_stringify), WithJsonSchema(NUMBER_OR_TEXT)]


class GlueModel(BaseModel):
    """Frozen, closed (unknown fields are errors), PascalCase aliases; both spellings load.

    Empty defaults are factories: pydantic deep-copies a default value on every validation.
    """

    model_config = ConfigDict(
        populate_by_name=True, extra="forbid", frozen=True, alias_generator=to_pascal
    )

    def _glue(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class GlueShape(GlueModel):
    """A model of one of Glue's shapes (``glue_shape``). Its other members are kept as given
    (``model_extra``, in ``to_glue`` too): loading checks them against Glue's model, drops what
    Glue only returns and refuses the rest (``members.sort``); built directly, only members of
    the shape pass."""

    model_config = ConfigDict(extra="allow")
    glue_shape: ClassVar[str]

    @model_validator(mode="after")
    def _glue_members_only(self) -> GlueShape:
        if self.__pydantic_extra__:
            from orchestrator.definitions import glue

            allowed = glue.members(self.glue_shape)
            if unknown := [k for k in self.__pydantic_extra__ if k not in allowed]:
                raise ValueError(f"unknown field {text.quote(unknown[0])} (not in Glue's {self.glue_shape})")
        return self


# --- jobs --------------------------------------------------------------------------------------


class JobCommand(GlueShape):
    """Which engine runs the job (``Name``) and the script it runs."""

    glue_shape = "JobCommand"

    name: str = "pythonshell"
    script_location: str
    python_version: VersionStr | None = None
    runtime: VersionStr | None = None


class ExecutionProperty(GlueShape):
    glue_shape = "ExecutionProperty"

    max_concurrent_runs: int = Field(1, ge=1)


class NotificationProperty(GlueShape):
    """``notify_delay_after`` is seconds here, whole minutes in ``to_glue``."""

    glue_shape = "NotificationProperty"

    notify_delay_after: Delay = None


class RetryPolicy(GlueModel):
    """adhere extension: the delay before automatic retry n is ``initial_delay * multiplier**(n-1)``."""

    initial_delay: Seconds = 0
    multiplier: float = Field(2, ge=1)
    max_delay: Seconds = 300
    jitter: Seconds = 0


class Job(GlueShape):
    """A job definition (Glue CreateJob). ``timeout`` is seconds."""

    glue_shape = "CreateJobRequest"

    name: Name
    description: str | None = None
    role: str | None = None
    command: JobCommand
    default_arguments: StrMap = Field(default_factory=dict)
    non_overridable_arguments: StrMap = Field(default_factory=dict)
    max_retries: int = Field(0, ge=0)
    timeout: Timeout = None
    notification_property: NotificationProperty | None = None
    execution_property: ExecutionProperty = Field(default_factory=ExecutionProperty)
    worker_type: str | None = None
    number_of_workers: int | None = Field(None, ge=1)
    max_capacity: float | None = Field(None, gt=0)
    glue_version: VersionStr | None = None
    job_run_queuing_enabled: bool = False
    retry_policy: RetryPolicy | None = None
    tags: StrMap = Field(default_factory=dict)

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


class Crawler(GlueShape):
    """A crawler definition (Glue CreateCrawler). Its S3 targets are crawled (local folders,
    ``file://`` and ``s3://``); the other kinds of target are kept and noted, not crawled."""

    glue_shape = "CreateCrawlerRequest"

    name: Name
    role: str | None = None
    database_name: str | None = None
    description: str | None = None
    targets: dict[str, Any] = Field(default_factory=dict)
    schedule: str | None = None
    table_prefix: str | None = None
    schema_change_policy: dict[str, Any] | None = None
    recrawl_policy: dict[str, Any] | None = None
    configuration: str | None = None
    tags: StrMap = Field(default_factory=dict)

    _targets = field_validator("targets")(lambda targets: crawler_rules.check_targets(targets))
    _configuration = field_validator("configuration")(lambda text: crawler_rules.check_configuration(text))
    _schedule = field_validator("schedule")(lambda text: crawler_rules.check_schedule(text))

    @model_validator(mode="after")
    def _recrawl(self) -> Crawler:
        crawler_rules.check_recrawl(self.targets, self.recrawl_policy)  # CRAWL_EVENT_MODE's rules
        return self

    def to_glue(self) -> dict[str, Any]:
        out = self._glue()
        out.pop("Tags", None)
        return out


# --- triggers ----------------------------------------------------------------------------------


class Condition(GlueShape):
    """One watched node: a job (``job_name``/``state``) or a crawler (``crawler_name``/``crawl_state``)."""

    glue_shape = "Condition"

    logical_operator: Literal["EQUALS"] = "EQUALS"
    job_name: Name | None = None
    state: JobRunState | None = None
    crawler_name: Name | None = None
    crawl_state: CrawlState | None = None


class Predicate(GlueShape):
    glue_shape = "Predicate"

    logical: Literal["AND", "ANY"] | None = None
    conditions: list[Condition] = Field(default_factory=list)


class Action(GlueShape):
    """Start one job or crawler; arguments, timeout (seconds) etc. override the job's for that run."""

    glue_shape = "Action"

    job_name: Name | None = None
    crawler_name: Name | None = None
    arguments: StrMap = Field(default_factory=dict)
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


class EventBatchingCondition(GlueShape):
    glue_shape = "EventBatchingCondition"

    batch_size: int = Field(ge=1, le=100)
    batch_window: int | None = Field(None, ge=1, le=900)


class Trigger(GlueShape):
    """A trigger definition (Glue CreateTrigger)."""

    glue_shape = "CreateTriggerRequest"

    name: Name
    workflow_name: Name | None = None
    type: TriggerType
    schedule: str | None = None
    predicate: Predicate | None = None
    actions: list[Action]
    description: str | None = None
    start_on_creation: bool = False
    event_batching_condition: EventBatchingCondition | None = None
    # adhere extensions for EVENT triggers: which events count (EventBridge's pattern language),
    # and whether a full batch waits for a run slot when the workflow is at MaxConcurrentRuns.
    event_pattern: trigger_rules.EventPattern | None = None
    wait_for_run_slot: bool = False
    tags: StrMap = Field(default_factory=dict)

    def to_glue(self) -> dict[str, Any]:
        """Glue's Trigger shape without ``State`` (the service owns it) and without create-only keys."""
        out = self._glue()
        for key in ("StartOnCreation", "Tags"):
            out.pop(key, None)
        if not self.wait_for_run_slot:
            out.pop("WaitForRunSlot", None)
        out["Actions"] = [a.to_glue() for a in self.actions]
        return out


# --- workflows ---------------------------------------------------------------------------------


class Workflow(GlueShape):
    """A workflow definition (Glue CreateWorkflow); its members come from its triggers."""

    glue_shape = "CreateWorkflowRequest"

    name: Name
    description: str | None = None
    default_run_properties: StrMap = Field(default_factory=dict)
    max_concurrent_runs: int | None = Field(None, ge=1)
    tags: StrMap = Field(default_factory=dict)

    def to_glue(self) -> dict[str, Any]:
        out = self._glue()
        out.pop("Tags", None)
        return out


# --- the Data Catalog --------------------------------------------------------------------------


class Database(GlueShape):
    """A catalog database (Glue's DatabaseInput, CreateDatabase's ``Tags`` beside it). Its name
    is folded to lowercase, as Glue stores it."""

    glue_shape = "DatabaseInput"

    name: Annotated[Name, AfterValidator(str.lower)]
    description: str | None = None
    location_uri: str | None = None
    parameters: StrMap = Field(default_factory=dict)
    tags: StrMap = Field(default_factory=dict)

    def to_glue(self) -> dict[str, Any]:
        """Glue's DatabaseInput (Tags are CreateDatabase's, not the database's)."""
        out = self._glue()
        out.pop("Tags", None)
        if "parameters" not in self.model_fields_set:
            out.pop("Parameters", None)
        return out


class Definitions(GlueModel):
    """Everything a set of definition files declares, with the DependsOn shorthand compiled.

    ``notes``: what loading remarked without refusing (members kept that adhere does not use,
    members Glue only returns that were dropped, an engine not installed here, names resolved
    from the store), each at its place. ``resolved``: (kind, name) of each job, crawler or
    workflow the definitions name that the store, not the files, holds. Neither is data: they
    are not dumped or stored.
    """

    jobs: list[Job] = Field(default_factory=list)
    crawlers: list[Crawler] = Field(default_factory=list)
    triggers: list[Trigger] = Field(default_factory=list)
    workflows: list[Workflow] = Field(default_factory=list)
    databases: list[Database] = Field(default_factory=list)
    _notes: tuple[errors.Problem, ...] = PrivateAttr(default=())
    _resolved: tuple[tuple[str, str], ...] = PrivateAttr(default=())

    @property
    def notes(self) -> tuple[errors.Problem, ...]:
        return self._notes

    @property
    def resolved(self) -> tuple[tuple[str, str], ...]:
        return self._resolved
