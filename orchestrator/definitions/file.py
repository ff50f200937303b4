"""The shape of one definition file: Jobs/Crawlers entries with adhere's shorthand keys, Triggers,
Workflows and the catalog's Databases.

``Workflow``, ``DependsOn`` and ``WaitFor`` on a job or crawler entry are adhere extensions that
the shorthand compiler turns into Glue triggers; ``json_schema()`` describes the file for editors.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from orchestrator.definitions.models import (
    Crawler,
    Database,
    GlueModel,
    GlueShape,
    Job,
    Name,
    Trigger,
    Workflow,
)


def _depends_on(value: Any) -> Any:
    """``DependsOn: a`` and ``DependsOn: [a, b]`` mean "after each SUCCEEDED"."""
    if isinstance(value, str):
        return {value: "SUCCEEDED"}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return dict.fromkeys(value, "SUCCEEDED")
    return value


class Shorthand(GlueModel):
    """adhere extension on a job or crawler entry: its workflow and what it runs after."""

    workflow: Name | None = Field(
        None,
        validation_alias=AliasChoices("Workflow", "WorkflowName", "workflow", "workflow_name"),
        serialization_alias="Workflow",
    )
    depends_on: Annotated[
        dict[Name, str],  # each key becomes a Condition's JobName or CrawlerName
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
    ] = Field(default_factory=dict)
    wait_for: Literal["AND", "ANY"] = "AND"

    @field_validator("wait_for", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


SHORTHAND_FIELDS = frozenset(Shorthand.model_fields)


class JobEntry(Job, Shorthand):
    """A ``Jobs`` item of a definition file."""

    model_config = ConfigDict(extra="allow")  # Glue's other members, as Job keeps them


class CrawlerEntry(Crawler, Shorthand):
    """A ``Crawlers`` item of a definition file."""

    model_config = ConfigDict(extra="allow")


class DefinitionFile(GlueModel):
    """The shape of one definition file (used for its JSON Schema)."""

    jobs: list[JobEntry] = Field(default_factory=list)
    crawlers: list[CrawlerEntry] = Field(default_factory=list)
    triggers: list[Trigger] = Field(default_factory=list)
    workflows: list[Workflow] = Field(default_factory=list)
    databases: list[Database] = Field(default_factory=list)


def json_schema() -> dict[str, Any]:
    """JSON Schema of a definition file, for editors (PascalCase spelling). Each Glue shape lists
    Glue's other members too (with their JSON type), and nothing else."""
    from orchestrator.definitions import glue

    schema = DefinitionFile.model_json_schema(by_alias=True)
    for name, model in _models(DefinitionFile).items():
        entry = schema["$defs"].get(name)
        if entry is None:
            continue
        entry["additionalProperties"] = False
        if issubclass(model, GlueShape):
            props = entry.setdefault("properties", {})
            for member, shape in glue.members(model.glue_shape).items():
                props.setdefault(member, glue.loose_schema(shape))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "adhere definitions"
    return schema


def _models(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every model reachable from ``root``'s fields, by class name (the schema's $defs keys)."""
    from orchestrator.definitions.members import shape_of

    found: dict[str, type[BaseModel]] = {}
    todo = [root]
    while todo:
        model = todo.pop()
        if model.__name__ not in found:
            found[model.__name__] = model
            todo += [held for held, _ in shape_of(model).nested.values()]
    return found
