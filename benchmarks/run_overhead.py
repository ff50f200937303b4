"""Fixed cost of ``adhere run``: a 3-job chain (a -> b -> c) of jobs that exit at once.

Times the whole ``adhere run -q w`` command, from process start to exit, over ``--repeat``
runs of a workflow applied once, beside the floor: the same three jobs run one after the
other by ``subprocess.Popen([sys.executable, "job.py"]).wait()``. Prints min/p50/p95 of both
and the fixed cost, the difference of the p50s.

Each job appends the time of its first and last lines to a log (one log per run), which
splits a run into: launch to job a's first line (interpreter, imports, store, engine
start-up, dispatch), job a's first line to job c's last line (the jobs and the two hops
between them), and job c's last line to exit (the job's exit, noticing it, finishing the
run, shutting down). The floor is split the same way.

Floor and adhere alternate (the VM's speed drifts), after one untimed warm-up of each. The
project is a fresh temporary folder (``ADHERE_HOME`` in the subprocess's environment, other
``ADHERE_*`` variables dropped, ``cwd`` the folder); every run adds a workflow run to the store.

    python benchmarks/run_overhead.py [--repeat 30] [--db URL]
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
with open(os.environ["RUN_LOG"], "a") as f:
    f.write(f"{_t0!r} {time.time()!r}\\n")
"""

DEFINITION = """\
Workflows: [{Name: w}]
Jobs:
  - {Name: a, Workflow: w, Command: {ScriptLocation: job.py}}
  - {Name: b, Workflow: w, Command: {ScriptLocation: job.py}, DependsOn: [a]}
  - {Name: c, Workflow: w, Command: {ScriptLocation: job.py}, DependsOn: [b]}
"""


class Sample:
    """One timed run: wall time from launch to exit, and the three parts the job log splits it into."""

    def __init__(self, launched: float, exited: float, wall: float, log: Path) -> None:
        spans = [tuple(map(float, line.split())) for line in log.read_text().splitlines()]
        if len(spans) != 3:
            raise RuntimeError(f"{log}: expected 3 job lines, found {len(spans)}")
        self.wall = wall
        self.start_up = spans[0][0] - launched
        self.jobs = spans[-1][1] - spans[0][0]
        self.wind_down = exited - spans[-1][1]


def floor(work: Path, env: dict[str, str], log: Path) -> Sample:
    env = {**env, "RUN_LOG": str(log)}
    launched, t0 = time.time(), time.perf_counter()
    for _ in range(3):
        code = subprocess.Popen([sys.executable, "job.py"], cwd=work, env=env).wait()
        if code != 0:
            raise RuntimeError(f"floor job exited {code}")
    wall, exited = time.perf_counter() - t0, time.time()
    return Sample(launched, exited, wall, log)


def adhere(adhere_bin: str, work: Path, env: dict[str, str], log: Path) -> Sample:
    env = {**env, "RUN_LOG": str(log)}
    launched, t0 = time.time(), time.perf_counter()
    subprocess.run([adhere_bin, "run", "-q", "w"], cwd=work, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall, exited = time.perf_counter() - t0, time.time()
    return Sample(launched, exited, wall, log)


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def report(label: str, samples: list[Sample]) -> None:
    wall = [s.wall for s in samples]
    parts = [statistics.median(getattr(s, part) for s in samples) * 1000
             for part in ("start_up", "jobs", "wind_down")]
    print(f"  {label:32} min {min(wall):6.3f} s   p50 {statistics.median(wall):6.3f} s   p95 {pct(wall, 95):6.3f} s")
    print(f"  {'':32} p50 parts: launch -> a's first line {parts[0]:6.1f} ms,"
          f" a's first -> c's last line {parts[1]:6.1f} ms, c's last line -> exit {parts[2]:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--db", help="store URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    store = "SQLite" if not args.db else args.db.split(":")[0]
    adhere_bin = str(Path(sys.executable).with_name("adhere"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "job.py").write_text(JOB)
        (work / "w.yaml").write_text(DEFINITION)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADHERE_")}
        env["ADHERE_HOME"] = str(work / ".adhere")
        if args.db:
            env["ADHERE_DB_URL"] = args.db
        subprocess.run([adhere_bin, "apply", "w.yaml"], cwd=work, env=env, check=True, capture_output=True)
        logs = work / "logs"
        logs.mkdir()
        floor(work, env, logs / "floor-warm-up")
        adhere(adhere_bin, work, env, logs / "adhere-warm-up")
        base: list[Sample] = []
        ours: list[Sample] = []
        for i in range(args.repeat):
            base.append(floor(work, env, logs / f"floor-{i}"))
            ours.append(adhere(adhere_bin, work, env, logs / f"adhere-{i}"))
    print(f"adhere run of a 3-job chain, {args.repeat} runs ({store}, {os.cpu_count()} cores)")
    report("floor (3 sequential Popen jobs)", base)
    report(f"adhere run -q ({store})", ours)
    x, y = statistics.median(s.wall for s in ours), statistics.median(s.wall for s in base)
    print(f"adhere run: p50 {x:.3f} s; floor (3 sequential Popen jobs): p50 {y:.3f} s; fixed cost: {x - y:.3f} s")


if __name__ == "__main__":
    main()
