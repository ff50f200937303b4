"""Glue's service model (botocore's ``glue/<version>/service-2.json``): the contract for the
members a definition may hold, what Get* returns that Create* does not take, and their types.

Read on first need and kept for the process: a definition that uses only the members adhere
models never reads it. The file is botocore's own data, read directly (0.03 s) rather than
through ``botocore.loaders.Loader().load_service_model("glue", "service-2")``, which returns the
same data after importing botocore (0.2-0.3 s); the loader stays the fallback.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from orchestrator.definitions.text import clip, quote

# kind -> (the Create* request, the shape Get* returns): a member of the second that is not one
# of the first is output only (CreatedOn, State, Graph, ...).
SHAPES = {
    "job": ("CreateJobRequest", "Job"),
    "trigger": ("CreateTriggerRequest", "Trigger"),
    "workflow": ("CreateWorkflowRequest", "Workflow"),
    "crawler": ("CreateCrawlerRequest", "Crawler"),
    "database": ("DatabaseInput", "Database"),
}
# What get-jobs, batch-get-jobs, ... print beside their list: paging and missing names.
LISTINGS = (
    "GetJobsResponse", "BatchGetJobsResponse", "GetTriggersResponse", "BatchGetTriggersResponse",
    "GetCrawlersResponse", "BatchGetCrawlersResponse", "BatchGetWorkflowsResponse", "GetDatabasesResponse",
)  # fmt: skip
MAX_HINT_KEY = 40  # difflib's time grows with the length of the key


def _data_file() -> Path | None:
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "glue"
    versions = sorted(p for p in folder.glob("*") if p.is_dir()) if folder.is_dir() else []
    for version in reversed(versions):  # the newest API version, as the loader picks it
        for name in ("service-2.json.gz", "service-2.json"):
            if (path := version / name).is_file():
                return path
    return None


@functools.cache
def shapes() -> Mapping[str, Any]:
    """Every shape of Glue's service model by name."""
    path = _data_file()
    if path is None:
        import botocore.loaders

        return botocore.loaders.Loader().load_service_model("glue", "service-2")["shapes"]
    raw = path.read_bytes()
    if path.suffix == ".gz":
        import gzip

        raw = gzip.decompress(raw)
    return json.loads(raw)["shapes"]


@functools.cache
def members(shape: str) -> Mapping[str, str]:
    """A structure's members -> the name of each one's shape (its spelling in Glue's API)."""
    return {name: m["shape"] for name, m in shapes()[shape].get("members", {}).items()}


@functools.cache
def output_only(kind: str) -> frozenset[str]:
    """Members Get* returns for ``kind`` that its Create* request does not take."""
    request, output = SHAPES[kind]
    return frozenset(members(output)) - frozenset(members(request))


@functools.cache
def listing_keys() -> frozenset[str]:
    """What Get*/BatchGet* print beside their list: NextToken, JobsNotFound, MissingWorkflows..."""
    found = {name for shape in LISTINGS for name in members(shape)}
    return frozenset(found - {"Jobs", "Triggers", "Crawlers", "Workflows", "DatabaseList"})


@functools.cache
def commands() -> frozenset[str]:
    """Glue's job commands (``JobCommand.Name``: glueetl, pythonshell, gluestreaming, glueray),
    as Glue's model documents them (the member is a plain string there)."""
    doc = shapes()["JobCommand"]["members"]["Name"].get("documentation", "")
    return frozenset(re.findall(r"must be <code>(\w+)</code>", doc))


def hint(key: str, candidates: frozenset[str] | set[str]) -> str:
    """`` (did you mean X?)`` for a key close to one of ``candidates`` (never the key itself)."""
    key = clip(key, MAX_HINT_KEY)
    folded = {c.lower().replace("_", ""): c for c in candidates if c != key}
    close = folded.get(key.lower().replace("_", ""))
    if close is None:
        found = difflib.get_close_matches(key, [c for c in candidates if c != key], 1)
        close = found[0] if found else None
    return f" (did you mean {close}?)" if close else ""


def intrinsic(value: Any) -> str | None:
    """The name of a CloudFormation function (``Ref``, ``Fn::Sub``, ...) that ``value`` is, or None."""
    if isinstance(value, Mapping) and len(value) == 1:
        (key,) = value
        if isinstance(key, str) and (key == "Ref" or key.startswith("Fn::")):
            return key
    return None


def intrinsic_problem(function: str) -> str:
    return (
        f"a CloudFormation function ({function}) cannot be read here; write the value it gives "
        "(a definition is Glue's request, as the API takes it)"
    )


_NUMBERS = {"integer": int, "long": int, "double": (int, float), "float": (int, float)}
_NAMES = {"integer": "an integer", "long": "an integer", "double": "a number", "float": "a number",
          "boolean": "true or false", "string": "a string", "blob": "a string", "timestamp": "a time",
          "list": "a list", "map": "a mapping", "structure": "a mapping"}  # fmt: skip


def check(value: Any, shape: str, path: str = "") -> Iterator[tuple[str, str]]:
    """(place below ``path``, problem) for each way ``value`` is not Glue's ``shape``, in the
    order of the value: types, enums, required and unknown members. Lengths and ranges are
    Glue's to enforce, not ours. Iterative: a value is at most MAX_DEPTH deep, but no recursion."""
    stack: list[tuple[Any, str | None, str]] = [(value, shape, path)]  # shape None: a problem
    while stack:
        value, shape, path = stack.pop()
        if shape is None:
            yield path, value
            continue
        spec = shapes()[shape]
        kind = spec["type"]
        todo: list[tuple[Any, str | None, str]] = []
        if (function := intrinsic(value)) is not None and kind != "map":
            todo.append((intrinsic_problem(function), None, path))
        elif kind == "structure":
            if not isinstance(value, Mapping):
                todo.append((f"must be {_NAMES[kind]} (Glue's {shape})", None, path))
            else:
                known = members(shape)
                todo += [("is required", None, f"{path}.{name}") for name in spec.get("required", ()) if name not in value]
                for key, item in value.items():
                    if key in known:
                        todo.append((item, known[key], f"{path}.{key}"))
                    else:
                        todo.append(("unknown field" + hint(str(key), frozenset(known)), None, f"{path}.{key}"))
        elif kind == "list":
            if not isinstance(value, list | tuple):
                todo.append((f"must be {_NAMES[kind]}", None, path))
            else:
                todo += [(item, spec["member"]["shape"], f"{path}[{i}]") for i, item in enumerate(value)]
        elif kind == "map":
            if not isinstance(value, Mapping):
                todo.append((f"must be {_NAMES[kind]}", None, path))
            else:
                todo += [(item, spec["value"]["shape"], f"{path}.{key}") for key, item in value.items()]
        elif problem := _scalar_problem(value, kind, spec):
            todo.append((problem, None, path))
        stack += reversed(todo)


def _scalar_problem(value: Any, kind: str, spec: Mapping[str, Any]) -> str | None:
    if kind in _NUMBERS:
        ok = isinstance(value, _NUMBERS[kind]) and not isinstance(value, bool)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "timestamp":
        ok = isinstance(value, str | int | float) and not isinstance(value, bool)
    else:  # string, blob
        ok = isinstance(value, str)
        if ok and (allowed := spec.get("enum")) and value not in allowed:
            return f"{quote(value)} is not one of {', '.join(allowed)}"
    return None if ok else f"must be {_NAMES.get(kind, 'a ' + kind)}"


def loose_schema(shape: str) -> dict[str, Any]:
    """A JSON Schema type for editors: the shape's JSON type, not its members."""
    kind = shapes()[shape]["type"]
    types = {"structure": "object", "map": "object", "list": "array", "boolean": "boolean",
             "integer": "integer", "long": "integer", "double": "number", "float": "number"}  # fmt: skip
    out: dict[str, Any] = {"type": types.get(kind, "string")}
    if enum := shapes()[shape].get("enum"):
        out["enum"] = list(enum)
    return out
