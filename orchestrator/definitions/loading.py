"""Loading definitions: entries of the files, pydantic errors as problems, the whole built and checked.

Places use the Glue spelling and the indexes of the original file (``Triggers[2].Predicate``).
Reading the files is ``reading``; the DependsOn shorthand is compiled by ``shorthand``; the
cross-reference checks are ``checks``. Nothing is written: the service applies the result.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import gc
import os
import re
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from orchestrator import errors
from orchestrator.definitions import checks, file, models, reading, shorthand, structure
from orchestrator.definitions.problems import (
    ALIASES,
    CRAWL_STATES_TEXT,
    JOB_STATES_TEXT,
    At,
    Known,
    Problems,
    key_text,
    place_of,
)
from orchestrator.definitions.text import clip, listing, quote

_MODELS: dict[str, type[pydantic.BaseModel]] = {
    "Jobs": file.JobEntry,
    "Crawlers": file.CrawlerEntry,
    "Triggers": models.Trigger,
    "Workflows": models.Workflow,
}
_TOP_KEYS = {k.lower(): k for k in _MODELS} | {k: k for k in _MODELS}
_SINGULAR = {"Jobs": "job", "Crawlers": "crawler", "Triggers": "trigger", "Workflows": "workflow"}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_ALIASES_LOWER = {a.lower(): a for a in ALIASES.values()}


@dataclass
class _Raw:
    """One entry of one file, before validation."""

    kind: str
    where: str
    base_dir: Path
    data: Any


# --- entry points ------------------------------------------------------------------------------


def load_files(
    paths: Sequence[Path], engines: Collection[str] | None = None
) -> models.Definitions:
    """Read, merge and validate definition files; raise ValidationError listing every problem.

    ``engines``: the known ``Command.Name`` values (the service passes its engine registry's);
    a job naming another is a problem. None skips that check.
    """
    paths = [Path(p) for p in paths]
    problems = Problems()
    raws: list[_Raw] = []
    with _collector_paused():
        for path in paths:
            prefix = f"{path}: " if len(paths) > 1 else ""
            data = reading.read(path, prefix, problems)
            if data is not None:
                raws += _entries(data, prefix, path.parent, problems)
        source = ", ".join(str(p) for p in paths)
        return _finish(raws, problems, source, engines)


def load_mapping(
    data: Mapping[str, Any],
    base_dir: Path,
    source: str = "",
    engines: Collection[str] | None = None,
) -> models.Definitions:
    """Validate one already-parsed definition mapping (tests, the HTTP API); see ``load_files``."""
    problems = Problems()
    with _collector_paused():
        raws = _entries(data, "", Path(base_dir), problems) if structure.check(data, problems) else []
        return _finish(raws, problems, source, engines)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading allocates millions of objects that live until it ends, and none of them forms a
    reference cycle; Python's cyclic collector would traverse them again and again (two thirds of
    the time of a 40,000-job file). It runs again as soon as loading returns or raises."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _finish(
    raws: list[_Raw], problems: Problems, source: str, engines: Collection[str] | None
) -> models.Definitions:
    result = _build(raws, problems, engines)
    if problems:
        raise errors.ValidationError(problems, source=source)
    return result


def _entries(data: Any, prefix: str, base_dir: Path, problems: Problems) -> list[_Raw]:
    if not isinstance(data, Mapping):
        problems.add(
            prefix.rstrip(": ") or structure.TOP,
            "must be a mapping with Jobs, Crawlers, Triggers, Workflows",
        )
        return []
    raws = []
    for key, items in data.items():
        kind = _TOP_KEYS.get(key)
        if kind is None:
            problems.add(
                f"{prefix}{key_text(key)}",
                "unknown top-level key; use Jobs, Crawlers, Triggers, Workflows",
            )
        elif items is None:
            continue
        elif not isinstance(items, list):
            problems.add(f"{prefix}{kind}", "must be a list")
        else:
            raws += [_Raw(kind, f"{prefix}{kind}[{i}]", base_dir, it) for i, it in enumerate(items)]
    return raws


# --- translating pydantic errors ---------------------------------------------------------------


def _message(err: Mapping[str, Any]) -> str:
    kind, loc = err["type"], err["loc"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        key = clip(str(loc[-1]), 40)  # difflib's time grows with the length of the key
        close = _ALIASES_LOWER.get(key.lower().replace("_", ""))
        close = close or next(
            iter(difflib.get_close_matches(key, _ALIASES_LOWER.values(), 1)), None
        )
        return "unknown field" + (f" (did you mean {close}?)" if close else "")
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


def _validate(raw: _Raw, problems: Problems) -> Any:
    if not isinstance(raw.data, Mapping):
        problems.add(raw.where, f"each {_SINGULAR[raw.kind]} must be a mapping")
        return None
    model = _MODELS[raw.kind]
    try:
        return model.model_validate(raw.data)
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            problems.add_schema(f"{raw.where}{place_of(err['loc'])}", _message(err))
        return _salvage(model, raw.data, exc)


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


def _raw_name(raw: _Raw) -> str | None:
    if not isinstance(raw.data, Mapping):
        return None
    name = raw.data.get("Name", raw.data.get("name"))
    return name if isinstance(name, str) else None


# --- building ----------------------------------------------------------------------------------


def _resolve(location: str, base_dir: Path) -> str:
    """A local relative script path is relative to its definition file's folder."""
    if _SCHEME.match(location) or os.path.isabs(location):
        return location
    return os.path.normpath(os.path.join(os.path.abspath(base_dir), location))


def _plain(entry: Any, model: type[models.Job] | type[models.Crawler], **update: Any) -> Any:
    """The entry without its shorthand keys. Its fields are valid already: re-validating a dump
    would cost as much as the first validation (and a duration's text may round)."""
    fields = {name: getattr(entry, name) for name in model.model_fields} | update
    return model.model_construct(entry.model_fields_set - file.SHORTHAND_FIELDS, **fields)


def _build(
    raws: list[_Raw], problems: Problems, engines: Collection[str] | None
) -> models.Definitions:
    names: dict[str, dict[str, str]] = defaultdict(dict)  # kind -> name -> first place
    for raw in raws:
        if (name := _raw_name(raw)) is None:
            continue
        first = names[raw.kind].setdefault(name, raw.where)
        if first != raw.where:
            problems.add(
                f"{raw.where}.Name",
                f"duplicate {_SINGULAR[raw.kind]} name {quote(name)} (first at {first})",
            )
    known = Known(set(names["Jobs"]), set(names["Crawlers"]), set(names["Workflows"]))

    jobs: list[models.Job] = []
    crawlers: list[models.Crawler] = []
    entries: list[tuple[str, Any, str]] = []
    explicit: list[tuple[models.Trigger, At]] = []
    workflows: list[models.Workflow] = []
    broken: set[str | None] = set()  # workflows with a trigger we could not read
    for raw in raws:
        model = _validate(raw, problems)
        if model is None:
            if raw.kind == "Triggers" and isinstance(raw.data, Mapping):
                workflow = raw.data.get("WorkflowName", raw.data.get("workflow_name"))
                broken.add(workflow if isinstance(workflow, str) else None)
            continue
        if raw.kind == "Jobs":
            if engines is not None and model.command.name not in engines:
                problems.add(
                    f"{raw.where}.Command.Name",
                    f"unknown engine {quote(model.command.name)}; "
                    f"known engines: {listing(sorted(engines), 10)}",
                )
            command = model.command.model_copy(
                update={"script_location": _resolve(model.command.script_location, raw.base_dir)}
            )
            jobs.append(_plain(model, models.Job, command=command))
            entries.append(("job", model, raw.where))
        elif raw.kind == "Crawlers":
            crawlers.append(_plain(model, models.Crawler))
            entries.append(("crawler", model, raw.where))
        elif raw.kind == "Triggers":
            explicit.append((model, At(raw.where)))
        else:
            workflows.append(model)

    generated = shorthand.compile_triggers(entries, explicit, names["Triggers"], known, problems)
    triggers = explicit + generated
    for trigger, at in triggers:
        checks.check_trigger(trigger, at, known, problems)
    checks.check_workflows(triggers, names["Workflows"], known, broken, problems)
    return models.Definitions(
        jobs=jobs, crawlers=crawlers, triggers=[t for t, _ in triggers], workflows=workflows
    )


