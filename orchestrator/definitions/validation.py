"""One entry against its model: its members sorted (``members``), pydantic's errors as problems
at their places, and what is left of an invalid entry for the cross-reference checks."""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any

import pydantic

from orchestrator.definitions import glue, members
from orchestrator.definitions.problems import (
    ALIASES,
    CRAWL_STATES_TEXT,
    JOB_STATES_TEXT,
    Notes,
    Problems,
    join,
    place_of,
)
from orchestrator.definitions.text import quote


def message(err: Mapping[str, Any]) -> str:
    """A pydantic error in a sentence that fits after its place."""
    kind, loc = err["type"], err["loc"]
    if (function := glue.intrinsic(err.get("input"))) is not None:
        return glue.intrinsic_problem(function)
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":  # members.sort reports unknown fields first, with a hint
        return "unknown field"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind == "enum":
        if "Conditions" in [ALIASES.get(str(p), p) for p in loc]:
            allowed = (
                JOB_STATES_TEXT if ALIASES.get(str(loc[-1])) == "State" else CRAWL_STATES_TEXT
            )
            return (
                f"{quote(err['input'])} is not a state a trigger can wait for; "
                f"choose one of {allowed}"
            )
        return f"must be one of {err['ctx']['expected']}"
    return str(err["msg"])


def validate(
    data: Any, model: type[pydantic.BaseModel], where: str, what: str, kind: str,
    problems: Problems, notes: Notes,
) -> Any:  # fmt: skip
    """``data`` as a ``model`` (``what``: "job" in messages; ``kind``: the Glue resource), or
    what can be salvaged of it after adding its problems, or None."""
    if not isinstance(data, Mapping):
        problems.add(where or "(top level)", f"each {what} must be a mapping")
        return None
    data = members.sort(data, model, where, problems, notes, kind)
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            problems.add_schema(join(where, place_of(err["loc"])), message(err))
        return _salvage(model, data, exc)


# Stand-ins for required fields that no cross-reference check reads.
_PLACEHOLDERS: dict[str, Any] = {
    "ScriptLocation": "",
    "Command": {"ScriptLocation": ""},
    "Actions": [],
}


def _salvage(model: type[pydantic.BaseModel], data: Any, exc: pydantic.ValidationError) -> Any:
    """The entry without its invalid parts, so the cross-reference checks still see the rest.

    Its problems are already reported; ``None`` when a part we cannot stand in for is missing.
    """
    try:
        data = copy.deepcopy(data)
    except (TypeError, ValueError, copy.Error):  # a mapping type that cannot be copied
        return None
    for _ in range(3):
        for err in exc.errors():
            loc = [p for p in err["loc"] if p != "[key]"]  # a bad dict key: remove the key
            *parents, leaf = loc or ("",)
            if isinstance(leaf, int):  # removing a list item would shift the places after it
                return None
            try:
                target = functools.reduce(lambda node, key: node[key], parents, data)
                alias = ALIASES.get(str(leaf), leaf)
                if err["type"] == "missing" and alias in _PLACEHOLDERS:
                    target[leaf] = copy.deepcopy(_PLACEHOLDERS[alias])
                elif err["type"] == "missing":  # drop the optional part that lacks it
                    *grand, parent = parents
                    del functools.reduce(lambda node, key: node[key], grand, data)[parent]
                else:
                    del target[leaf]
            except (KeyError, IndexError, TypeError, ValueError):
                return None
        try:
            return model.model_validate(data)
        except pydantic.ValidationError as again:
            exc = again
    return None
