"""Loading definition files and validating them whole: every problem, each at its place.

Places use the Glue spelling and the indexes of the original file (``Triggers[2].Predicate``).
The DependsOn shorthand is compiled by orchestrator.shorthand.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import os
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml

from orchestrator import definitions as d
from orchestrator import errors, graph
from orchestrator import shorthand as sh
from orchestrator.states import CRAWL_CONDITION_STATES, JOB_CONDITION_STATES, TriggerType

_MODELS: dict[str, type[pydantic.BaseModel]] = {
    "Jobs": d.JobEntry,
    "Crawlers": d.CrawlerEntry,
    "Triggers": d.Trigger,
    "Workflows": d.Workflow,
}
_TOP_KEYS = {k.lower(): k for k in _MODELS} | {k: k for k in _MODELS}
_SINGULAR = {"Jobs": "job", "Crawlers": "crawler", "Triggers": "trigger", "Workflows": "workflow"}
_SHORTHAND = frozenset(d._Shorthand.model_fields)
JOB_STATES_TEXT = sh.JOB_STATES_TEXT
CRAWL_STATES_TEXT = sh.CRAWL_STATES_TEXT
_START_TYPES = "ON_DEMAND, SCHEDULED or EVENT"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CRON = re.compile(r"^cron\((.*)\)$")


def _aliases() -> dict[str, str]:
    """Python and file spellings of every field -> the Glue spelling used in problem places."""
    out: dict[str, str] = {}
    models = [
        d.JobEntry, d.CrawlerEntry, d.Trigger, d.Workflow, d.JobCommand, d.ExecutionProperty,
        d.NotificationProperty, d.RetryPolicy, d.Condition, d.Predicate, d.Action,
        d.EventBatchingCondition,
    ]  # fmt: skip
    for model in models:
        for name, info in model.model_fields.items():
            alias = info.serialization_alias or info.alias or name
            out.setdefault(name, alias)
            out.setdefault(alias, alias)
    return out


_ALIASES = _aliases()
_ALIASES_LOWER = {a.lower(): a for a in _ALIASES.values()}


@dataclass
class _Raw:
    """One entry of one file, before validation."""

    kind: str
    where: str
    base_dir: Path
    data: Any


# --- entry points ------------------------------------------------------------------------------


def load_files(paths: Sequence[Path]) -> d.Definitions:
    """Read, merge and validate definition files; raise ValidationError listing every problem."""
    paths = [Path(p) for p in paths]
    problems = sh.Problems()
    raws: list[_Raw] = []
    for path in paths:
        prefix = f"{path}: " if len(paths) > 1 else ""
        data = _read(path, prefix, problems)
        if data is not None:
            raws += _entries(data, prefix, path.parent, problems)
    source = ", ".join(str(p) for p in paths)
    return _finish(raws, problems, source)


def load_mapping(data: Mapping[str, Any], base_dir: Path, source: str = "") -> d.Definitions:
    """Validate one already-parsed definition mapping (tests, the HTTP API)."""
    problems = sh.Problems()
    raws = _entries(data, "", Path(base_dir), problems)
    return _finish(raws, problems, source)


def _finish(raws: list[_Raw], problems: sh.Problems, source: str) -> d.Definitions:
    result = _build(raws, problems)
    if problems:
        raise errors.ValidationError(problems, source=source)
    return result


# --- reading -----------------------------------------------------------------------------------


def _read(path: Path, prefix: str, problems: sh.Problems) -> Any:
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        problems.add(
            prefix.rstrip(": "), f"unsupported file type '{suffix}'; use .yaml, .yml or .json"
        )
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(prefix.rstrip(": "), f"cannot read {path}: {exc}")
        return None
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            problems.add(
                f"{prefix}line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}"
            )
            return None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.add(f"{prefix}{where}", f"not valid YAML: {getattr(exc, 'problem', None) or exc}")
        return None


def _entries(data: Any, prefix: str, base_dir: Path, problems: sh.Problems) -> list[_Raw]:
    if not isinstance(data, Mapping):
        problems.add(
            prefix.rstrip(": "), "must be a mapping with Jobs, Crawlers, Triggers, Workflows"
        )
        return []
    raws = []
    for key, items in data.items():
        kind = _TOP_KEYS.get(key)
        if kind is None:
            problems.add(
                f"{prefix}{key}", "unknown top-level key; use Jobs, Crawlers, Triggers, Workflows"
            )
        elif items is None:
            continue
        elif not isinstance(items, list):
            problems.add(f"{prefix}{kind}", "must be a list")
        else:
            raws += [_Raw(kind, f"{prefix}{kind}[{i}]", base_dir, it) for i, it in enumerate(items)]
    return raws


# --- translating pydantic errors ---------------------------------------------------------------


def _path(loc: Sequence[int | str]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{_ALIASES.get(p, p)}" for p in loc)


def _message(err: Mapping[str, Any]) -> str:
    kind, loc = err["type"], err["loc"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        key = str(loc[-1])
        close = _ALIASES_LOWER.get(key.lower().replace("_", ""))
        close = close or next(
            iter(difflib.get_close_matches(key, _ALIASES_LOWER.values(), 1)), None
        )
        return "unknown field" + (f" (did you mean {close}?)" if close else "")
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind == "enum":
        if "Conditions" in [_ALIASES.get(str(p), p) for p in loc]:
            allowed = (
                JOB_STATES_TEXT if _ALIASES.get(str(loc[-1])) == "State" else CRAWL_STATES_TEXT
            )
            return (
                f"{err['input']!r} is not a state a trigger can wait for; choose one of {allowed}"
            )
        return f"must be one of {err['ctx']['expected']}"
    return str(err["msg"])


def _validate(raw: _Raw, problems: sh.Problems) -> Any:
    if not isinstance(raw.data, Mapping):
        problems.add(raw.where, f"each {_SINGULAR[raw.kind]} must be a mapping")
        return None
    model = _MODELS[raw.kind]
    try:
        return model.model_validate(raw.data)
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            problems.add_schema(f"{raw.where}{_path(err['loc'])}", _message(err))
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
    data = copy.deepcopy(data)
    for _ in range(3):
        for err in exc.errors():
            *parents, leaf = err["loc"] or ("",)
            if isinstance(leaf, int):  # removing a list item would shift the places after it
                return None
            try:
                target = functools.reduce(lambda node, key: node[key], parents, data)
                alias = _ALIASES.get(str(leaf), leaf)
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


def _plain(entry: Any, model: type[d.Job] | type[d.Crawler]) -> Any:
    return model.model_validate(entry.model_dump(exclude=_SHORTHAND))


def _build(raws: list[_Raw], problems: sh.Problems) -> d.Definitions:
    names: dict[str, dict[str, str]] = defaultdict(dict)  # kind -> name -> first place
    for raw in raws:
        if (name := _raw_name(raw)) is None:
            continue
        first = names[raw.kind].setdefault(name, raw.where)
        if first != raw.where:
            problems.add(
                f"{raw.where}.Name",
                f"duplicate {_SINGULAR[raw.kind]} name '{name}' (first at {first})",
            )
    known = sh.Known(set(names["Jobs"]), set(names["Crawlers"]), set(names["Workflows"]))

    jobs: list[d.Job] = []
    crawlers: list[d.Crawler] = []
    shorthand: list[tuple[str, Any, str]] = []
    explicit: list[tuple[d.Trigger, sh.At]] = []
    workflows: list[d.Workflow] = []
    broken: set[str | None] = set()  # workflows with a trigger we could not read
    for raw in raws:
        model = _validate(raw, problems)
        if model is None:
            if raw.kind == "Triggers" and isinstance(raw.data, Mapping):
                broken.add(raw.data.get("WorkflowName", raw.data.get("workflow_name")))
            continue
        if raw.kind == "Jobs":
            command = model.command.model_copy(
                update={"script_location": _resolve(model.command.script_location, raw.base_dir)}
            )
            jobs.append(_plain(model, d.Job).model_copy(update={"command": command}))
            shorthand.append(("job", model, raw.where))
        elif raw.kind == "Crawlers":
            crawlers.append(_plain(model, d.Crawler))
            shorthand.append(("crawler", model, raw.where))
        elif raw.kind == "Triggers":
            explicit.append((model, sh.At(raw.where)))
        else:
            workflows.append(model)

    generated = sh.compile_triggers(shorthand, explicit, names["Triggers"], known, problems)
    triggers = explicit + generated
    for trigger, at in triggers:
        _check_trigger(trigger, at, known, problems)
    _check_workflows(triggers, names["Workflows"], known, broken, problems)
    return d.Definitions(
        jobs=jobs, crawlers=crawlers, triggers=[t for t, _ in triggers], workflows=workflows
    )


# --- checks ------------------------------------------------------------------------------------


def _schedule_problem(schedule: str) -> str | None:
    match = _CRON.match(schedule.strip())
    if match is None or len(match.group(1).split()) != 6:
        return "must be cron(Minutes Hours Day-of-month Month Day-of-week Year): six fields, UTC"
    return None


def _check_trigger(t: d.Trigger, at: sh.At, known: sh.Known, problems: sh.Problems) -> None:
    add = problems.add
    if t.workflow_name and t.workflow_name not in known.workflows:
        add(at("WorkflowName"), f"unknown workflow '{t.workflow_name}'")
    if t.type == TriggerType.CONDITIONAL and t.predicate is None:
        add(at("Predicate"), "is required for a CONDITIONAL trigger")
    if t.type == TriggerType.SCHEDULED:
        if not t.schedule:
            add(at("Schedule"), "is required for a SCHEDULED trigger")
        elif problem := _schedule_problem(t.schedule):
            add(at("Schedule"), problem)
    if t.type == TriggerType.ON_DEMAND and t.start_on_creation:
        add(at("StartOnCreation"), "an ON_DEMAND trigger cannot start on creation")
    if t.type == TriggerType.EVENT and not t.workflow_name:
        add(at("WorkflowName"), "an EVENT trigger must belong to a workflow")

    if not t.actions:
        add(at("Actions"), "must list at least one action")
    if len(t.actions) > 50:
        add(at("Actions"), f"a trigger can have at most 50 actions; this one has {len(t.actions)}")
    if (n := sum(1 for a in t.actions if a.crawler_name and not a.job_name)) > 2:
        add(at("Actions"), f"a trigger can start at most 2 crawlers; this one starts {n}")
    for i, action in enumerate(t.actions):
        if action.job_name and action.crawler_name:
            add(at(f"Actions[{i}]"), "give JobName or CrawlerName, not both")
        elif not (action.job_name or action.crawler_name):
            add(at(f"Actions[{i}]"), "JobName or CrawlerName is required")
        elif action.job_name and action.job_name not in known.jobs:
            add(at(f"Actions[{i}].JobName"), f"unknown job '{action.job_name}'")
        elif action.crawler_name and action.crawler_name not in known.crawlers:
            add(at(f"Actions[{i}].CrawlerName"), f"unknown crawler '{action.crawler_name}'")
    if t.predicate is not None:
        _check_predicate(t, t.predicate, at, known, problems)


def _check_predicate(
    t: d.Trigger, pred: d.Predicate, at: sh.At, known: sh.Known, problems: sh.Problems
) -> None:
    add = problems.add
    started = {sh.node_of(a) for a in t.actions}
    if not pred.conditions:
        add(at("Predicate.Conditions"), "must list at least one condition")
    if len(pred.conditions) > 1 and pred.logical is None:
        add(at("Predicate.Logical"), "is required with several conditions: AND or ANY")
    if len(pred.conditions) > 500:
        add(at("Predicate.Conditions"), "a predicate can have at most 500 conditions")
    for i, c in enumerate(pred.conditions):
        here = f"Predicate.Conditions[{i}]"
        if c.job_name and c.crawler_name:
            add(at(here), "give JobName or CrawlerName, not both")
            continue
        if not (c.job_name or c.crawler_name):
            add(at(here), "JobName or CrawlerName is required")
            continue
        is_job = bool(c.job_name)
        kind, name = ("job", c.job_name) if is_job else ("crawler", c.crawler_name)
        name_key, state_key, other_key = (
            ("JobName", "State", "CrawlState") if is_job else ("CrawlerName", "CrawlState", "State")
        )
        state = c.state if is_job else c.crawl_state
        allowed, text = (
            (JOB_CONDITION_STATES, JOB_STATES_TEXT)
            if is_job
            else (CRAWL_CONDITION_STATES, CRAWL_STATES_TEXT)
        )
        if name not in (known.jobs if is_job else known.crawlers):
            add(at(f"{here}.{name_key}"), f"unknown {kind} '{name}'")
        if (c.crawl_state if is_job else c.state) is not None:
            add(at(f"{here}.{other_key}"), f"does not apply to a {kind} condition; use {state_key}")
        if state is None:
            add(at(f"{here}.{state_key}"), f"is required; choose one of {text}")
        elif state not in allowed:
            add(
                at(f"{here}.{state_key}"),
                f"a trigger cannot wait for {state}; choose one of {text}",
            )
        if t.type == TriggerType.CONDITIONAL and (kind, name) in started:
            add(
                at(f"{here}.{name_key}"),
                f"this trigger also starts {kind} '{name}'; a conditional trigger cannot watch and start the same {kind}",
            )


def _check_workflows(
    triggers: list[tuple[d.Trigger, sh.At]],
    workflow_places: Mapping[str, str],
    known: sh.Known,
    broken: set[str | None],
    problems: sh.Problems,
) -> None:
    """One start trigger per workflow, conditions that can be met, no cycles.

    The first two are skipped for a workflow with a trigger or action already reported as
    unreadable: they would only echo that problem.
    """
    groups: dict[str | None, list[tuple[d.Trigger, sh.At]]] = defaultdict(list)
    for trigger, at in triggers:
        groups[trigger.workflow_name].append((trigger, at))
    for wf, items in groups.items():
        if wf is not None and wf not in known.workflows:
            continue
        by_name = {t.name: at for t, at in items}
        if wf is not None:
            starts = [(t, at) for t, at in items if t.type != TriggerType.CONDITIONAL]
            if len(starts) > 1:
                listed = ", ".join(t.name for t, _ in starts)
                for _, at in starts[1:]:
                    problems.add(
                        at(),
                        f"workflow '{wf}' can have only one start trigger ({_START_TYPES}); it has {listed}",
                    )
            if wf not in broken and not starts:
                problems.add(workflow_places[wf], f"has no start trigger ({_START_TYPES})")
            if wf not in broken and all(_readable(a, known) for t, _ in items for a in t.actions):
                _check_reachable(wf, items, known, problems)
        for cycle in graph.find_cycles(graph.workflow_graph([t for t, _ in items])):
            place = workflow_places[wf] if wf is not None else by_name[cycle[1]]()
            problems.add(place, "cycle: " + " -> ".join(cycle))


def _readable(action: d.Action, known: sh.Known) -> bool:
    if action.job_name and action.crawler_name:
        return False
    if action.job_name:
        return action.job_name in known.jobs
    return action.crawler_name in known.crawlers


def _check_reachable(
    wf: str, items: list[tuple[d.Trigger, sh.At]], known: sh.Known, problems: sh.Problems
) -> None:
    """Glue only counts runs started inside the workflow run, so a watched node must be started there."""
    started = {sh.node_of(a) for t, _ in items for a in t.actions}
    for t, at in items:
        if t.type != TriggerType.CONDITIONAL or t.predicate is None:
            continue
        for i, c in enumerate(t.predicate.conditions):
            node = sh.node_of(c)
            if node is None or (c.job_name and c.crawler_name) or node in started:
                continue
            kind, name = node
            if name not in (known.jobs if kind == "job" else known.crawlers):
                continue
            key = "JobName" if kind == "job" else "CrawlerName"
            problems.add(
                at(f"Predicate.Conditions[{i}].{key}"),
                f"{kind} '{name}' is not started by any trigger of workflow '{wf}', so this "
                f"condition can never be met (give it Workflow: {wf}?)",
            )
