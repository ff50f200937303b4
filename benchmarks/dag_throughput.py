"""Throughput: a layered DAG of trivial python-shell jobs (default 1,000 nodes, width 50).

Each layer starts when every job of the layer before it has SUCCEEDED: one conditional
trigger per layer (Logical AND over the previous layer, an action per job), as Glue models
it. Prints adhere's wall time beside the floor: the same number of process spawns of the
same script, spread over the same number of slots by a bare ``subprocess.Popen`` pool.

Floor and adhere alternate for ``--rounds`` rounds (each adhere round in a fresh home) and
the median ratio is the figure: a shared VM's speed drifts by more than the difference
being measured, so one pair of runs says little.

    python benchmarks/dag_throughput.py [--nodes 1000] [--width 50] [--slots N] [--rounds 3] [--db URL]
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
from pathlib import Path

JOB = "import sys\n"


def floor(script: Path, nodes: int, slots: int) -> float:
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


def definition(script: Path, nodes: int, width: int) -> dict:
    layers = [[f"j{i}" for i in range(start, min(start + width, nodes))] for start in range(0, nodes, width)]
    jobs = [{"Name": name, "Command": {"Name": "pythonshell", "ScriptLocation": str(script)},
             "ExecutionProperty": {"MaxConcurrentRuns": 1}} for layer in layers for name in layer]
    triggers = [{"Name": "start", "WorkflowName": "dag", "Type": "ON_DEMAND",
                 "Actions": [{"JobName": n} for n in layers[0]]}]
    for k in range(1, len(layers)):
        triggers.append({
            "Name": f"layer{k}", "WorkflowName": "dag", "Type": "CONDITIONAL", "StartOnCreation": True,
            "Predicate": {"Logical": "AND", "Conditions": [
                {"LogicalOperator": "EQUALS", "JobName": n, "State": "SUCCEEDED"} for n in layers[k - 1]]},
            "Actions": [{"JobName": n} for n in layers[k]],
        })
    return {"Workflows": [{"Name": "dag"}], "Jobs": jobs, "Triggers": triggers}


def adhere(script: Path, nodes: int, width: int, slots: int, work: Path, home: Path, db: str | None) -> float:
    (work / "dag.json").write_text(json.dumps(definition(script, nodes, width)))
    env = {**os.environ, "ADHERE_HOME": str(home), "ADHERE_MAX_PROCESSES": str(slots)}
    if db:
        env["ADHERE_DB_URL"] = db
    adhere_bin = str(Path(sys.executable).with_name("adhere"))
    subprocess.run([adhere_bin, "apply", "dag.json"], cwd=work, env=env, check=True, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run([adhere_bin, "run", "-q", "dag"], cwd=work, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--width", type=int, default=50)
    parser.add_argument("--slots", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", help="store URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    store = "SQLite" if not args.db else args.db.split(":")[0]
    print(f"{args.nodes}-node layered DAG (width {args.width}) on {args.slots} slots ({os.cpu_count()} cores)")
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        script = work / "job.py"
        script.write_text(JOB)
        for round_ in range(1, args.rounds + 1):
            base = floor(script, args.nodes, args.slots)
            ours = adhere(script, args.nodes, args.width, args.slots, work, work / f"home{round_}", args.db)
            ratios.append(ours / base)
            print(f"  round {round_}: floor (bare Popen pool) {base:6.2f} s, adhere ({store}) {ours:6.2f} s"
                  f"  = {ours / base:.2f}x", flush=True)
    print(f"  median: {statistics.median(ratios):.2f}x the floor")


if __name__ == "__main__":
    main()
