"""Seeded mutation fuzzing of definition files: each loads, or raises ValidationError; nothing else.

A few valid files are mutated (keys deleted or renamed, values swapped for nasty ones, deep
nesting, huge strings, surrogates, NUL, YAML aliases, duplicates, DependsOn cycles, broken text)
and loaded from disk as YAML or JSON, and as a mapping. What loads must be storable as the store
keeps it (strict JSON in UTF-8, no NUL); what does not has bounded problems, each at a place.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator import errors
from orchestrator.definitions import loading, problems

ENGINES = ("pythonshell", "glueray", "glueetl")
SEEDS = range(8)
PER_SEED = 40


def _job(name: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Command": {"ScriptLocation": f"{name}.py"}, **extra}


VALID: list[dict[str, Any]] = [
    {
        "Workflows": [{"Name": "wf", "DefaultRunProperties": {"k": "v"}}],
        "Jobs": [_job("a", Role="r", Timeout="90s"), _job("b"), _job("c", MaxRetries=2)],
        "Crawlers": [{"Name": "cr", "Targets": {"S3Targets": [{"Path": "s3://x"}]}}],
        "Triggers": [
            {"Name": "start", "WorkflowName": "wf", "Type": "ON_DEMAND",
             "Actions": [{"JobName": "a"}, {"CrawlerName": "cr"}]},
            {"Name": "then", "WorkflowName": "wf", "Type": "CONDITIONAL", "StartOnCreation": True,
             "Predicate": {"Logical": "AND", "Conditions": [
                 {"LogicalOperator": "EQUALS", "JobName": "a", "State": "SUCCEEDED"},
                 {"CrawlerName": "cr", "CrawlState": "SUCCEEDED"}]},
             "Actions": [{"JobName": "b", "Arguments": {"--x": "1"}, "Timeout": 5}]},
            {"Name": "nightly", "Type": "SCHEDULED", "Schedule": "cron(0 3 * * ? *)",
             "Actions": [{"JobName": "c"}]},
        ],
    },
    {
        "Workflows": [{"Name": "etl"}],
        "Jobs": [
            _job("extract", Workflow="etl", DefaultArguments={"--rows": 10, "--dry": True}),
            _job("transform", Workflow="etl", DependsOn=["extract"], WaitFor="any"),
            _job("load", Workflow="etl", DependsOn={"transform": "SUCCEEDED", "extract": "FAILED"},
                 NotificationProperty={"NotifyDelayAfter": "10m"}, RetryPolicy={"InitialDelay": "30s"}),
        ],
        "Crawlers": [{"Name": "scan", "Workflow": "etl", "DependsOn": "load"}],
    },
]  # fmt: skip

NASTY: list[Any] = [
    None, True, 0, -1, 2**70, 1e308, float("inf"), float("nan"), "", " ", "x" * 100_000,
    "\ud800", "a\udc00b", "a\x00b", "\x07", "tab\t", "line\nbreak", "😀", [], {}, [[]], {"a": {}},
    "RUNNING", "SUCCEEDED", "cron(0 * * * ? *)", "cron(bad)", "90s", "-5m", "1" * 10_000 + "q",
    "0.0000001s", 10_079, "ON_DEMAND", "CONDITIONAL", "EVENT", "a" * 256, "glueray", "sparky",
    {"Name": "a"}, [{"JobName": "a"}], {"JobName": "zz", "State": "SUCCEEDED"}, "a.b.depends",
]  # fmt: skip


def _containers(node: Any, out: list[Any]) -> list[Any]:
    """Every dict and list in ``node`` (the valid files are small and acyclic)."""
    if isinstance(node, dict | list):
        out.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            _containers(child, out)
    return out


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


def _mutate(rng: random.Random, data: dict[str, Any]) -> None:
    """One random edit of ``data`` in place."""
    target = rng.choice(_containers(data, []))
    keys = list(target) if isinstance(target, dict) else list(range(len(target)))
    kind = rng.randrange(10)
    if not keys:
        target_key = "Name" if isinstance(target, dict) else None
        if target_key is not None:
            target[target_key] = rng.choice(NASTY)
        else:
            target.append(rng.choice(NASTY))
        return
    key = rng.choice(keys)
    if kind == 0:
        del target[key]
    elif kind in (1, 2, 3):
        target[key] = copy.deepcopy(rng.choice(NASTY))
    elif kind == 4 and isinstance(target, dict):
        new = rng.choice([key.lower(), key.upper(), key[:-1], f"{key}_", "\ud800", "x" * 300, 7])
        target[new] = target.pop(key)
    elif kind == 5 and isinstance(target, list):
        target.append(copy.deepcopy(target[key]))  # a duplicate entry, names included
    elif kind == 6:
        target[key] = _deep(rng.choice([20, 99, 101, 150]))
    elif kind == 7:
        entries = data.get("Jobs")
        jobs = [j for j in entries if isinstance(j, dict)] if isinstance(entries, list) else []
        if jobs:
            names = [j.get("Name") for j in jobs if isinstance(j.get("Name"), str)]
            rng.choice(jobs)["DependsOn"] = rng.sample(names, k=min(len(names), 2)) or "nope"
    elif kind == 8:
        value = target[key]
        target[key] = [value] if not isinstance(value, list) else {"x": value}
    else:
        target[key] = rng.choice(["x" * 70_000, "\ud83d\ude00" * 300, "\u2028", "\ufffe"])


def _yaml_text(data: Any) -> str:
    try:
        return yaml.safe_dump(data, allow_unicode=True, width=100_000)
    except (yaml.YAMLError, RecursionError):
        return json.dumps(data)  # JSON is YAML too


def _text_mutation(rng: random.Random, text: str) -> str:
    kind = rng.randrange(8)
    at = rng.randrange(len(text) + 1)
    if kind == 0:
        return text[:at]
    if kind == 1:
        return text[:at] + rng.choice(["\x00", "\t", "{", "[", "&x ", "*x", "!!bool ", "%", "\ud800"]) + text[at:]
    if kind == 2:
        laughs = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
            f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 8)}]\n" for i in range(1, 9)
        )
        return laughs + text
    if kind == 3:
        return "r: &r [*r]\n" + text
    if kind == 4:
        return text + "\nZ: " + "[" * rng.choice([99, 101, 1500, 60_000]) + "]" * 10
    if kind == 5:
        return text.replace("Command:", "Command: &cmd", 1).replace("Role: r", "Role: *cmd", 1)
    if kind == 6:
        return text + "\nJobs: [{Name: x, Timeout: 0x" + "f" * 5000 + "}]\n"
    return text.replace("SUCCEEDED", "!!timestamp 2024-13-45", 1)


def _assert_outcome(load: Any) -> str:
    try:
        defs = load()
    except errors.ValidationError as exc:
        assert exc.problems
        for p in exc.problems:
            assert p.where and p.message, p
            assert len(p.where) <= problems.MAX_PLACE + 1 and len(p.message) <= problems.MAX_MESSAGE + 1
            assert "\n" not in p.where + p.message, p
        return "refused"
    stored = [x.model_dump(mode="json") for x in (*defs.jobs, *defs.crawlers, *defs.triggers, *defs.workflows)]
    stored += [x.to_glue() for x in (*defs.jobs, *defs.crawlers, *defs.triggers, *defs.workflows)]
    text = json.dumps(stored, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogate
    assert "\\u0000" not in text
    names = [x.name for x in (*defs.jobs, *defs.crawlers, *defs.triggers, *defs.workflows)]
    assert all(1 <= len(n) <= 255 for n in names)
    return "loaded"


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_files_load_or_are_refused(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    outcomes: dict[str, int] = {"loaded": 0, "refused": 0}
    for i in range(PER_SEED):
        data = copy.deepcopy(rng.choice(VALID))
        for _ in range(rng.randint(1, 3)):
            _mutate(rng, data)
        outcomes[_assert_outcome(lambda d=data: loading.load_mapping(d, tmp_path, engines=ENGINES))] += 1
        if rng.random() < 0.5:
            path, text = tmp_path / f"{i}.json", json.dumps(data)
        else:
            path, text = tmp_path / f"{i}.yaml", _yaml_text(data)
            if rng.random() < 0.5:
                text = _text_mutation(rng, text)
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        outcomes[_assert_outcome(lambda p=path: loading.load_files([p], engines=ENGINES))] += 1
    assert outcomes["refused"] > 0


def test_the_valid_files_load(tmp_path: Path) -> None:
    for i, data in enumerate(VALID):
        path = tmp_path / f"{i}.yaml"
        path.write_text(_yaml_text(data))
        assert _assert_outcome(lambda p=path: loading.load_files([p], engines=ENGINES)) == "loaded"
