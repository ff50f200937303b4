"""Validating large definition files: wall time of ``loading.load_files`` on generated files.

    .venv/bin/python benchmarks/definitions_scale.py             # every case, best of 3
    .venv/bin/python benchmarks/definitions_scale.py --repeat 1 chain-json problems

Cases (each file is written once to a temporary folder, then loaded ``--repeat`` times):

- ``jobs-10k``: 10,000 jobs in one workflow, in 20 DependsOn chains of 500 (each job after the
  previous two), so 9,980 generated conditional triggers and one start trigger; JSON.
- ``chain-json`` / ``chain-yaml``: one DependsOn chain of 40,000 jobs outside any workflow.
- ``problems``: 5,000 jobs with two problems each (a bad MaxRetries, an unknown DependsOn).
- ``bomb``: the 700-byte YAML "billion laughs" (refused before it expands).

Then ``jobs-10k`` through the CLI, as a user runs it (process start to exit, in a fresh
project on SQLite): ``adhere validate``, ``adhere apply``, and ``adhere apply`` again (nothing
to change).

Targets on a 2-core machine: jobs-10k under 2 s to validate and 5 s to apply, a 40,000-job
chain in a few seconds, and the problems in linear time (run ``problems`` with ``--scale 2``:
twice the time, not four times).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator import errors
from orchestrator.definitions import loading


def _job(i: int, **extra: Any) -> dict[str, Any]:
    return {"Name": f"j{i}", "Command": {"ScriptLocation": f"s{i}.py"}, **extra}


def jobs_10k(scale: int) -> dict[str, Any]:
    jobs = []
    for i in range(10_000 * scale):
        step = i % 500
        after = [f"j{i - 1}", f"j{i - 2}"][: min(step, 2)]
        jobs.append(_job(i, Workflow="wf", **({"DependsOn": after} if after else {})))
    return {"Workflows": [{"Name": "wf"}], "Jobs": jobs}


def chain(scale: int) -> dict[str, Any]:
    n = 40_000 * scale
    return {"Jobs": [_job(i, **({"DependsOn": f"j{i - 1}"} if i else {})) for i in range(n)]}


def problems(scale: int) -> dict[str, Any]:
    n = 5_000 * scale
    return {"Jobs": [_job(i, MaxRetries="many", DependsOn="nope") for i in range(n)]}


def bomb(scale: int) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join([*lines, "Jobs: [{Name: x, Command: {ScriptLocation: x.py}, Description: *i}]"])


CASES: dict[str, tuple[str, Callable[[int], Any]]] = {
    "jobs-10k": (".json", jobs_10k),
    "chain-json": (".json", chain),
    "chain-yaml": (".yaml", chain),
    "problems": (".json", problems),
    "bomb": (".yaml", bomb),
}


def write(folder: Path, name: str, scale: int) -> Path:
    suffix, make = CASES[name]
    data = make(scale)
    path = folder / f"{name}{suffix}"
    if isinstance(data, str):
        path.write_text(data)
    elif suffix == ".json":
        path.write_text(json.dumps(data))
    else:
        path.write_text(yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))
    return path


def measure(path: Path, repeat: int) -> tuple[float, str]:
    best, outcome = float("inf"), ""
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            defs = loading.load_files([path])
            outcome = f"{len(defs.jobs):,} jobs, {len(defs.triggers):,} triggers"
        except errors.ValidationError as exc:
            outcome = f"{len(exc.problems):,} problems, {len(str(exc)):,} characters"
        best = min(best, time.perf_counter() - start)
    return best, outcome


def cli(folder: Path, path: Path) -> None:
    """jobs-10k through the ``adhere`` command beside this interpreter, in a fresh project."""
    adhere = str(Path(sys.executable).with_name("adhere"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADHERE_")}
    env["ADHERE_HOME"] = str(folder / "project")
    for label, args in (("validate", ["validate"]), ("apply", ["apply"]), ("apply again", ["apply"])):
        start = time.perf_counter()
        done = subprocess.run([adhere, *args, str(path)], env=env, cwd=folder, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        said = (done.stdout or done.stderr).strip().splitlines()
        print(f"adhere {label:11s} {seconds:7.2f} s   {said[0] if said else ''} (exit {done.returncode})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help=f"some of: {', '.join(CASES)} (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best is shown")
    parser.add_argument("--scale", type=int, default=1, help="multiply every file's size")
    args = parser.parse_args()
    if unknown := set(args.cases) - set(CASES):
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.cases or CASES:
            path = write(Path(folder), name, args.scale)
            seconds, outcome = measure(path, args.repeat)
            size = path.stat().st_size / 1e6
            print(f"{name:11s} {size:6.1f} MB {seconds:7.2f} s   {outcome}", flush=True)
        if not args.cases or "jobs-10k" in args.cases:
            cli(Path(folder), write(Path(folder), "jobs-10k", args.scale))


if __name__ == "__main__":
    main()
