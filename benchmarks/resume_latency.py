"""Resume latency: from ``adhere resume RUN --failed`` to the first re-run job's first line.

A layered workflow of N trivial python-shell jobs (layers of ``--width``, each an AND trigger
over the layer before) fails in its middle layer: one job exits 1 while a marker file exists.
``adhere run`` runs it once (to that failure), the marker is removed, and ``adhere resume``
(process start to the failed job's first line, the command hosting the loop as ``adhere run``
does) is timed, ``--repeat`` times, each on a fresh failed run. The same is measured on a
1-job workflow, so that what the size of the graph adds stands apart from the command's start
and the hop (the target: under 100 ms for 1,000 nodes on SQLite).

    python benchmarks/resume_latency.py [--nodes 100 1000] [--repeat 5] [--db URL]
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

JOB = """\
import os, sys, time
_t0 = time.time()
here = os.path.dirname(os.path.abspath(__file__))
name = sys.argv[sys.argv.index("--JOB_NAME") + 1]
with open(os.path.join(here, "starts.log"), "a") as f:
    f.write(f"{name} {_t0!r}\\n")
if os.path.exists(os.path.join(here, "fail-" + name)):
    sys.exit(1)
"""


def definition(script: Path, nodes: int, width: int) -> dict:
    layers = [[f"j{i}" for i in range(start, min(start + width, nodes))] for start in range(0, nodes, width)]
    jobs = [{"Name": n, "Command": {"Name": "pythonshell", "ScriptLocation": str(script)}}
            for layer in layers for n in layer]
    triggers = [{"Name": "w.start", "WorkflowName": "w", "Type": "ON_DEMAND", "Actions": [{"JobName": n} for n in layers[0]]}]
    for k in range(1, len(layers)):
        triggers.append({
            "Name": f"w.layer{k}", "WorkflowName": "w", "Type": "CONDITIONAL", "StartOnCreation": True,
            "Predicate": {"Logical": "AND", "Conditions": [
                {"LogicalOperator": "EQUALS", "JobName": n, "State": "SUCCEEDED"} for n in layers[k - 1]]},
            "Actions": [{"JobName": n} for n in layers[k]],
        })  # fmt: skip
    return {"Workflows": [{"Name": "w"}], "Jobs": jobs, "Triggers": triggers}


def measure(nodes: int, width: int, repeat: int, db: str | None, folder: Path) -> list[float]:
    folder.mkdir()
    script = folder / "job.py"
    script.write_text(JOB)
    (folder / "w.json").write_text(json.dumps(definition(script, nodes, width)))
    layers = (nodes + width - 1) // width
    failing = f"j{(layers // 2) * width}" if layers > 1 else "j0"  # the middle layer's first job
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADHERE_")}
    env["ADHERE_HOME"] = str(folder / ".adhere")
    if db:
        env["ADHERE_DB_URL"] = db
    adhere = str(Path(sys.executable).with_name("adhere"))

    def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([adhere, *args], cwd=folder, env=env, capture_output=True, text=True)
        if check and done.returncode not in (0, 1):
            raise SystemExit(f"adhere {' '.join(args)} failed:\n{done.stderr}")
        return done

    cli("apply", "w.json")
    latencies = []
    for _ in range(repeat):
        (folder / f"fail-{failing}").touch()
        run_id = json.loads(cli("run", "w", "--json").stdout)["Run"]["WorkflowRunId"]
        (folder / f"fail-{failing}").unlink()
        (folder / "starts.log").unlink()
        started = time.time()
        cli("resume", run_id, "--failed", "-q")
        first = min(float(t) for name, t in (line.split() for line in (folder / "starts.log").read_text().splitlines())
                    if name == failing)
        latencies.append(first - started)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--width", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", help="store URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    store = "SQLite" if not args.db else args.db.split(":")[0]
    with tempfile.TemporaryDirectory() as tmp:
        base = statistics.median(measure(1, 1, args.repeat, args.db, Path(tmp) / "one"))
        print(f"adhere resume to the re-run job's first line ({store}, {os.cpu_count()} cores), p50 of {args.repeat}:")
        print(f"  1-job workflow: {base * 1000:6.1f} ms (the command's start and one hop)")
        for nodes in args.nodes:
            width = min(args.width, max(1, nodes // 10))
            p50 = statistics.median(measure(nodes, width, args.repeat, args.db, Path(tmp) / f"n{nodes}"))
            print(f"  {nodes}-job workflow: {p50 * 1000:6.1f} ms  (+{(p50 - base) * 1000:.1f} ms for the graph's size)",
                  flush=True)


if __name__ == "__main__":
    main()
