"""The members of one entry, sorted before its model sees them (Glue's service model decides).

- A member of Glue's request shape that adhere does not model (``LogUri``, ``Connections``,
  ``Classifiers``, ...) is checked against Glue's model and kept as given, with a note.
- A member only Glue's Get* returns (``CreatedOn``, a trigger's ``Id`` and ``State``, ...) is
  dropped with a note, so an exported definition loads as it is.
- CloudFormation's crawler ``Schedule: {ScheduleExpression: ...}`` is read as Glue's string;
  its other forms (a list of ``Tags``, ``Ref``/``Fn::`` functions) are refused naming Glue's.
- Anything else is an unknown field, with a hint drawn from the members of that shape.

Entries that use only what adhere models pass through untouched, without reading Glue's model.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import AliasChoices, BaseModel
from pydantic.alias_generators import to_snake

from orchestrator.definitions import glue, models
from orchestrator.definitions.problems import Notes, Problems, join, key_text, place_of
from orchestrator.definitions.text import quote

_DROP = object()
KEPT = "kept; adhere does not use it"
_OPERATION = {"job": "GetJob", "trigger": "GetTrigger", "workflow": "GetWorkflow", "crawler": "GetCrawler",
              "database": "GetDatabase"}
_ACTIVE = ("ACTIVATED", "ACTIVATING")


@dataclass(frozen=True)
class Shape:
    """What a model accepts: every spelling of its fields, and a reader for those to look into
    (nested models, and members with a CloudFormation form)."""

    model: type[BaseModel]
    spellings: frozenset[str]
    readers: dict[str, Any]  # spelling -> reader(value, place, problems, notes) -> value or _DROP
    nested: dict[str, tuple[type[BaseModel], bool]] = field(default_factory=dict)  # -> (model, many)

    @functools.cached_property
    def hints(self) -> frozenset[str]:
        """The Glue spellings an unknown key may be a misspelling of."""
        glue_shape = getattr(self.model, "glue_shape", None)
        aliases = {info.serialization_alias or info.alias or n for n, info in self.model.model_fields.items()}
        return frozenset(aliases | set(glue.members(glue_shape) if glue_shape else ()))

    @functools.cached_property
    def snake(self) -> dict[str, str]:
        """``log_uri`` -> ``LogUri``: files may spell any member as Python does."""
        glue_shape = getattr(self.model, "glue_shape", None)
        return {to_snake(m): m for m in glue.members(glue_shape)} if glue_shape else {}


def _model_in(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """The model a field holds (``X``, ``X | None``, ``list[X]``), and whether it is a list."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        found = [m for a in typing.get_args(annotation) if (m := _model_in(a))]
        return found[0] if found else None
    if origin is list:
        inner = _model_in(typing.get_args(annotation)[0])
        return (inner[0], True) if inner and not inner[1] else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None


@functools.cache
def shape_of(model: type[BaseModel]) -> Shape:
    spellings: set[str] = set()
    readers: dict[str, Any] = {}
    nested: dict[str, tuple[type[BaseModel], bool]] = {}
    for name, info in model.model_fields.items():
        names = {name, info.alias or name}
        if isinstance(info.validation_alias, AliasChoices):
            names |= {c for c in info.validation_alias.choices if isinstance(c, str)}
        spellings |= names
        if (held := _model_in(info.annotation)) is not None:
            nested |= dict.fromkeys(names, held)
            readers |= dict.fromkeys(names, functools.partial(_nested, held))
        if name == "tags":
            readers |= dict.fromkeys(names, _tags)
        if name == "schedule" and issubclass(model, models.Crawler):
            readers |= dict.fromkeys(names, _crawler_schedule)
    return Shape(model, frozenset(spellings), readers, nested)


def sort(
    data: Mapping[Any, Any],
    model: type[BaseModel],
    where: str,
    problems: Problems,
    notes: Notes,
    kind: str | None = None,
) -> Mapping[Any, Any]:
    """``data`` as ``model`` should see it (rules in the module docstring): the same object when
    nothing changes. ``kind`` (job, trigger, workflow, crawler) marks a whole entry, whose
    members Glue only returns are dropped."""
    shape = shape_of(model)
    spellings, readers = shape.spellings, shape.readers
    out: dict[Any, Any] | None = None
    for key, value in data.items():
        if key in spellings:
            reader = readers.get(key)
            if reader is None:
                continue  # most members: one adhere models, with nothing below to sort
            new = reader(value, join(where, f".{key_text(key)}"), problems, notes)
            if new is not value:
                out = dict(data) if out is None else out
                if new is _DROP:
                    del out[key]
                else:
                    out[key] = new
            continue
        out = dict(data) if out is None else out
        del out[key]
        if (kept := _other(key, value, shape, where, problems, notes, kind, data)) is not None:
            out[kept[0]] = kept[1]
    return data if out is None else out


def _nested(
    held: tuple[type[BaseModel], bool], value: Any, where: str, problems: Problems, notes: Notes
) -> Any:
    model, many = held
    if not many:
        if value.__class__ is dict or isinstance(value, Mapping):
            return sort(value, model, where, problems, notes)
        return value
    if value.__class__ is not list:
        return value
    items = None
    for i, item in enumerate(value):
        if (item.__class__ is dict or isinstance(item, Mapping)) and (
            new := sort(item, model, f"{where}[{i}]", problems, notes)
        ) is not item:
            items = list(value) if items is None else items
            items[i] = new
    return value if items is None else items


def _other(
    key: Any, value: Any, shape: Shape, where: str, problems: Problems, notes: Notes,
    kind: str | None, entry: Mapping[Any, Any],
) -> tuple[str, Any] | None:  # fmt: skip
    """A key the model does not have: the member and value to keep, or None (dropped, or a problem)."""
    place = join(where, place_of([key]))
    if glue.intrinsic({key: value}) is not None and len(entry) == 1:  # {Ref: x} where a mapping goes
        problems.add_schema(where, glue.intrinsic_problem(key))
        return None
    glue_shape = getattr(shape.model, "glue_shape", None)
    if not isinstance(key, str) or glue_shape is None:
        problems.add_schema(place, "unknown field" + (glue.hint(key, shape.hints) if isinstance(key, str) else ""))
        return None
    members = glue.members(glue_shape)
    member = key if key in members else shape.snake.get(key)
    if member is not None:
        found = list(glue.check(value, members[member]))
        place = join(where, f".{member}")
        for below, problem in found:
            problems.add_schema(place + below, problem)
        if not found:
            notes.add(place, KEPT, key=(glue_shape, member))
        return None if found else (member, value)
    output = key if kind and key in glue.output_only(kind) else None
    if output is None and kind:
        output = next((m for m in glue.output_only(kind) if to_snake(m) == key), None)
    if output is not None:
        started = kind == "trigger" and output == "State" and _restart(value, entry)
        said = f"dropped; only Glue's {_OPERATION.get(kind or '', 'Get*')} returns it"
        if started:
            said = f"{said}; read {quote(value)} as StartOnCreation: true"
        notes.add(join(where, f".{output}"), said, key=(kind, output, started))
        return ("StartOnCreation", True) if started else None
    problems.add_schema(place, "unknown field" + glue.hint(key, shape.hints))
    return None


def _restart(state: Any, entry: Mapping[Any, Any]) -> bool:
    """An exported trigger that was active starts active again (CreateTrigger's StartOnCreation),
    unless the entry says otherwise; an ON_DEMAND trigger is never active."""
    given = {"StartOnCreation", "start_on_creation"} & set(entry)
    kind = entry.get("Type", entry.get("type"))
    return state in _ACTIVE and not given and kind != "ON_DEMAND"


def _tags(value: Any, where: str, problems: Problems, notes: Notes) -> Any:
    if isinstance(value, list):
        problems.add_schema(
            where,
            "must be a mapping of tag keys to values, as Glue takes it "
            "(not CloudFormation's list of Key/Value pairs)",
        )
        return _DROP
    return value


def _crawler_schedule(value: Any, where: str, problems: Problems, notes: Notes) -> Any:
    """CloudFormation's ``{ScheduleExpression: cron(...)}`` (and GetCrawler's, with ``State``)."""
    if not isinstance(value, Mapping):
        return value
    expression = value.get("ScheduleExpression")
    if set(value) - {"ScheduleExpression", "State"} or not isinstance(expression, str):
        problems.add_schema(
            where,
            "must be Glue's schedule string, such as 'cron(15 12 * * ? *)' "
            "(or CloudFormation's {ScheduleExpression: 'cron(...)'})",
        )
        return _DROP
    if "State" in value:
        notes.add(join(where, ".State"), "dropped; only Glue's GetCrawler returns it", key=("crawler", "Schedule.State"))
    notes.add(where, f"read {{ScheduleExpression: {quote(expression)}}} as Glue's string form",
              key=("crawler", "Schedule"))  # fmt: skip
    return expression
