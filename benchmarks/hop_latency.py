"""Hop latency: the time from one job's exit to the next job's first line, in a chain of python-shell jobs.

Prints p50/p95 for adhere (a workflow of N chained jobs, run by ``adhere run``'s in-process
orchestrator on the chosen store) beside the floor: the same script spawned N times in a row
by a bare ``subprocess.Popen`` loop.

    python benchmarks/hop_latency.py [--jobs 50] [--db URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOB = """\
import time; _t0 = time.time()
import os
with open(os.environ["HOP_LOG"], "a") as f:
    f.write(f"start {_t0!r}\\n")
    f.write(f"end {time.time()!r}\\n")
"""


def hops(log: Path) -> list[float]:
    lines = [line.split() for line in log.read_text().splitlines()]
    out, last_end = [], None
    for kind, value in lines:
        if kind == "start" and last_end is not None:
            out.append((float(value) - last_end) * 1000)
        elif kind == "end":
            last_end = float(value)
    return out


def floor(script: Path, n: int, log: Path) -> list[float]:
    env = {**os.environ, "HOP_LOG": str(log)}
    for _ in range(n):
        subprocess.Popen([sys.executable, str(script)], env=env).wait()
    return hops(log)


def adhere(script: Path, n: int, log: Path, workdir: Path, db: str | None) -> tuple[list[float], float]:
    lines = ["Workflows:", "  - Name: chain", "Jobs:"]
    for i in range(n):
        dep = f", DependsOn: {{j{i - 1}: SUCCEEDED}}" if i else ""
        lines.append(f"  - {{Name: j{i}, Command: {{Name: pythonshell, ScriptLocation: {script}}}, Workflow: chain{dep}}}")
    (workdir / "chain.yaml").write_text("\n".join(lines) + "\n")
    env = {**os.environ, "HOP_LOG": str(log), "ADHERE_HOME": str(workdir / ".adhere")}
    if db:
        env["ADHERE_DB_URL"] = db
    adhere_bin = str(Path(sys.executable).with_name("adhere"))
    subprocess.run([adhere_bin, "apply", "chain.yaml"], cwd=workdir, env=env, check=True, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run([adhere_bin, "run", "-q", "chain"], cwd=workdir, env=env, check=True)
    return hops(log), time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--db", help="store URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        script = work / "job.py"
        script.write_text(JOB)
        base = floor(script, args.jobs, work / "floor.log")
        ours, total = adhere(script, args.jobs, work / "adhere.log", work, args.db)
    print(f"hop latency over {args.jobs} chained python-shell jobs ({os.cpu_count()} cores)")
    print(f"  floor  (bare Popen loop): p50 {statistics.median(base):6.1f} ms   p95 {pct(base, 95):6.1f} ms")
    print(f"  adhere ({'SQLite' if not args.db else args.db.split(':')[0]}):"
          f"{' ' * max(0, 12 - len(args.db.split(':')[0]) if args.db else 6)}p50 {statistics.median(ours):6.1f} ms   "
          f"p95 {pct(ours, 95):6.1f} ms   (workflow wall time {total:.2f} s)")
    print(f"  p50 over the floor: {statistics.median(ours) - statistics.median(base):+.1f} ms")


if __name__ == "__main__":
    main()
