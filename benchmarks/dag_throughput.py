"""Throughput: a DAG of 1,000 trivial python-shell jobs (default 20 rows of width 50), two shapes.

``layered``: each layer starts when every job of the layer before it has SUCCEEDED: one
conditional trigger per layer (Logical AND over the previous layer, an action per job), as
Glue models it. The floor is the same number of process spawns of the same script, spread
over the same number of slots by a bare ``subprocess.Popen`` pool (no dependencies at all).

``pairs``: each job waits for two specific upstream jobs rather than a whole layer: job
(k, j), k >= 1, starts when (k-1, j) and (k-1, (j+1) mod width) have SUCCEEDED: one
conditional trigger per job (Logical AND over those two, one action), plus one ON_DEMAND
trigger for row 0 (951 triggers at the default size). The floor is stricter: a small
in-memory scheduler that runs the same dependencies (a job starts once both its upstream
jobs have exited 0) on the same number of slots, each job a lean interpreter
(``python -S -I job.py``: no site packages), with ``subprocess.Popen`` and ``os.wait()``.
adhere's jobs are the same trivial script, started the way adhere starts them.

For each shape, floor and adhere alternate for ``--rounds`` rounds (each adhere round in a
fresh home) and the median ratio is the figure: a shared VM's speed drifts by more than the
difference being measured, so one pair of runs says little.

    python benchmarks/dag_throughput.py [--shape layered|pairs] [--nodes 1000] [--width 50]
        [--slots N] [--rounds 3] [--db URL]

Without ``--shape`` both shapes run, one after the other, each printing its own figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

JOB = "import sys\n"
SHAPES = ("layered", "pairs")


def rows(nodes: int, width: int, prefix: str = "j") -> list[list[str]]:
    """Job names by row (layer): ``<prefix><k>_<j>``, the last row short when width does not divide nodes."""
    return [[f"{prefix}{k}_{j}" for j in range(min(width, nodes - k * width))]
            for k in range((nodes + width - 1) // width)]


def upstream(k: int, j: int, width: int) -> list[tuple[int, int]]:
    """The pairs shape: what job (k, j) waits for (one job when width is 1)."""
    return list(dict.fromkeys([(k - 1, j), (k - 1, (j + 1) % width)])) if k else []


# --- floors ------------------------------------------------------------------------------------


def floor_layered(script: Path, nodes: int, width: int, slots: int) -> float:
    """``nodes`` spawns of ``script`` on ``slots`` slots, no dependencies (``width`` unused)."""
    t0 = time.perf_counter()
    running: list[subprocess.Popen[bytes]] = []
    started = 0
    while started < nodes or running:
        while started < nodes and len(running) < slots:
            running.append(subprocess.Popen([sys.executable, str(script)]))
            started += 1
        pid, _ = os.wait()
        for proc in running:
            if proc.pid == pid:
                proc.returncode = 0
                running.remove(proc)
                break
    return time.perf_counter() - t0


def floor_pairs(script: Path, nodes: int, width: int, slots: int) -> float:
    """The pairs DAG run by an in-memory scheduler: lean interpreters, started when both upstream jobs exit 0."""
    grid = rows(nodes, width)
    waiting = {(k, j): len(upstream(k, j, width)) for k, row in enumerate(grid) for j in range(len(row))}
    children: dict[tuple[int, int], list[tuple[int, int]]] = {node: [] for node in waiting}
    for k, j in waiting:
        for up in upstream(k, j, width):
            children[up].append((k, j))
    ready = deque(node for node, n in waiting.items() if n == 0)
    cmd = [sys.executable, "-S", "-I", str(script)]
    t0 = time.perf_counter()
    running: dict[int, tuple[subprocess.Popen[bytes], tuple[int, int]]] = {}
    done = 0
    while done < nodes:
        while ready and len(running) < slots:
            proc = subprocess.Popen(cmd)
            running[proc.pid] = (proc, ready.popleft())
        pid, status = os.wait()
        proc, node = running.pop(pid)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"floor job {node} exited {proc.returncode}")
        done += 1
        for child in children[node]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return time.perf_counter() - t0


# --- adhere ------------------------------------------------------------------------------------


def _job(name: str, script: Path) -> dict:
    return {"Name": name, "Command": {"Name": "pythonshell", "ScriptLocation": str(script)},
            "ExecutionProperty": {"MaxConcurrentRuns": 1}}


def _start(workflow: str, starts: list[str]) -> dict:
    return {"Name": f"{workflow}.start", "WorkflowName": workflow, "Type": "ON_DEMAND",
            "Actions": [{"JobName": n} for n in starts]}


def _conditional(workflow: str, name: str, waits_for: list[str], starts: list[str]) -> dict:
    return {
        "Name": name, "WorkflowName": workflow, "Type": "CONDITIONAL", "StartOnCreation": True,
        "Predicate": {"Logical": "AND", "Conditions": [
            {"LogicalOperator": "EQUALS", "JobName": n, "State": "SUCCEEDED"} for n in waits_for]},
        "Actions": [{"JobName": n} for n in starts],
    }


# Each shape has its own workflow and job names, so both can share one ``--db`` store
# (``apply`` never deletes a trigger that a later file leaves out).


def definition_layered(script: Path, nodes: int, width: int) -> dict:
    layers = rows(nodes, width, "j")
    jobs = [_job(name, script) for layer in layers for name in layer]
    triggers = [_start("layered", layers[0])]
    triggers += [_conditional("layered", f"layered.layer{k}", layers[k - 1], layers[k])
                 for k in range(1, len(layers))]
    return {"Workflows": [{"Name": "layered"}], "Jobs": jobs, "Triggers": triggers}


def definition_pairs(script: Path, nodes: int, width: int) -> dict:
    grid = rows(nodes, width, "p")
    jobs = [_job(name, script) for row in grid for name in row]
    triggers = [_start("pairs", grid[0])]
    triggers += [_conditional("pairs", f"pairs.{name}", [grid[uk][uj] for uk, uj in upstream(k, j, width)], [name])
                 for k in range(1, len(grid)) for j, name in enumerate(grid[k])]
    return {"Workflows": [{"Name": "pairs"}], "Jobs": jobs, "Triggers": triggers}


def adhere(dag: dict, slots: int, work: Path, home: Path, db: str | None) -> float:
    workflow = dag["Workflows"][0]["Name"]
    (work / f"{workflow}.json").write_text(json.dumps(dag))
    env = {**os.environ, "ADHERE_HOME": str(home), "ADHERE_MAX_PROCESSES": str(slots)}
    if db:
        env["ADHERE_DB_URL"] = db
    adhere_bin = str(Path(sys.executable).with_name("adhere"))
    subprocess.run([adhere_bin, "apply", f"{workflow}.json"], cwd=work, env=env, check=True, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run([adhere_bin, "run", "-q", workflow], cwd=work, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


FLOORS: dict[str, tuple[str, Callable[[Path, int, int, int], float]]] = {
    "layered": ("bare Popen pool", floor_layered),
    "pairs": ("Popen scheduler, python -S -I", floor_pairs),
}
DEFINITIONS: dict[str, Callable[[Path, int, int], dict]] = {
    "layered": definition_layered,
    "pairs": definition_pairs,
}


def bench(shape: str, args: argparse.Namespace, work: Path, script: Path) -> None:
    store = "SQLite" if not args.db else args.db.split(":")[0]
    dag = DEFINITIONS[shape](script, args.nodes, args.width)
    label, floor = FLOORS[shape]
    n_rows = (args.nodes + args.width - 1) // args.width
    print(f"{args.nodes}-node {shape} DAG ({n_rows} rows of width {args.width}, {len(dag['Triggers'])} triggers)"
          f" on {args.slots} slots ({os.cpu_count()} cores)", flush=True)
    ratios = []
    for round_ in range(1, args.rounds + 1):
        base = floor(script, args.nodes, args.width, args.slots)
        ours = adhere(dag, args.slots, work, work / f"home-{shape}{round_}", args.db)
        ratios.append(ours / base)
        print(f"  round {round_}: floor ({label}) {base:6.2f} s, adhere ({store}) {ours:6.2f} s"
              f"  = {ours / base:.2f}x", flush=True)
    print(f"  median: {statistics.median(ratios):.2f}x the floor", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=SHAPES, help="one shape (default: both, layered first)")
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--width", type=int, default=50)
    parser.add_argument("--slots", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", help="store URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        script = work / "job.py"
        script.write_text(JOB)
        for shape in [args.shape] if args.shape else SHAPES:
            bench(shape, args, work, script)


if __name__ == "__main__":
    main()
