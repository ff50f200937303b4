"""Ray engine overhead: submit -> first line of the script, and -> SUCCEEDED; cold and warm.

Run: ``.venv/bin/python benchmarks/ray_engine.py [--repeat N]``. It starts its own head in a
temp home and stops it (by pid) at the end. "trivial" prints a line and exits (no Ray import);
"ray task" does ``import ray; ray.init(); ray.get(f.remote())`` (~0.9 s of it is importing
ray, which is the script's cost, not ours). The chain submits each job from the end
notification of the one before, as the dispatcher does, and reports the hop: previous end ->
next first line. Target from the issue: warm overhead under 1.5 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines import base, ray_cluster
from engines import ray as ray_engine
from orchestrator import states

TRIVIAL = "import time\nprint('first', time.time(), flush=True)\n"
RAY_TASK = """import time
print('first', time.time(), flush=True)
import ray
ray.init()
@ray.remote
def f():
    return 1
ray.get(f.remote())
"""


class Bench:
    def __init__(self, root: Path, engine: ray_engine.RayEngine) -> None:
        self.root = root
        self.engine = engine
        self.ended: queue.Queue[tuple[str, float]] = queue.Queue()
        engine.set_listener(lambda run_id: self.ended.put((run_id, time.time())))
        self.n = 0

    def request(self, body: str) -> base.RunRequest:
        self.n += 1
        folder = self.root / f"job{self.n}"
        folder.mkdir()
        (folder / "job.py").write_text(body)
        return base.RunRequest(
            f"jr_{self.n}", "bench", str(folder / "job.py"), run_dir=folder / "run"
        )

    def first_line(self, run_id: str) -> float:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for line in self.engine.logs(run_id):
                if line.startswith("first "):
                    return float(line.split()[1])
            time.sleep(0.01)
        raise RuntimeError(f"no first line from {run_id}")

    def one(self, body: str) -> tuple[float, float]:
        """(submit -> first line, submit -> SUCCEEDED as pushed), seconds."""
        t0 = time.time()
        run_id = self.engine.submit(self.request(body))
        got, t_end = self.ended.get(timeout=180)
        assert got == run_id
        status = self.engine.poll(run_id)
        assert status.state is states.JobRunState.SUCCEEDED, (
            status,
            list(self.engine.logs(run_id)),
        )
        return self.first_line(run_id) - t0, t_end - t0

    def chain(self, n: int) -> list[float]:
        """Hops: a job's end notification -> the next job's first line."""
        hops, previous_end = [], None
        for _ in range(n):
            run_id = self.engine.submit(self.request(TRIVIAL))
            got, t_end = self.ended.get(timeout=60)
            assert got == run_id
            if previous_end is not None:
                hops.append(self.first_line(run_id) - previous_end)
            previous_end = t_end
        return hops


def fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}s"
    return f"median {statistics.median(values):.3f}s (min {min(values):.3f}, max {max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="adhere-bench-") as tmp:
        root = Path(tmp)
        engine = ray_engine.RayEngine(root / "glueray")
        bench = Bench(root, engine)
        try:
            first, end = bench.one(TRIVIAL)
            print(f"cold  trivial : submit -> first line {first:.3f}s, -> SUCCEEDED {end:.3f}s")
            warm = [bench.one(TRIVIAL) for _ in range(args.repeat)]
            print(f"warm  trivial : submit -> first line {fmt([w[0] for w in warm])}")
            print(f"                submit -> SUCCEEDED  {fmt([w[1] for w in warm])}")
            ray_runs = [bench.one(RAY_TASK) for _ in range(args.repeat)]
            print(f"warm  ray task: submit -> first line {fmt([r[0] for r in ray_runs])}")
            print(f"                submit -> SUCCEEDED  {fmt([r[1] for r in ray_runs])}")
            hops = bench.chain(10)
            print(f"chain of 10 trivial jobs: hop (end -> next first line) {fmt(hops)}")

            info = engine.cluster.ensure()
            remote = ray_engine.RayEngine(
                root / "remote", {"ray_address": info.dashboard_url, "ray_auth_token": info.token()}
            )
            rbench = Bench(root, remote)
            rbench.n = 1000
            jobs = [rbench.one(TRIVIAL) for _ in range(args.repeat)]
            print(f"jobs API trivial: submit -> first line {fmt([j[0] for j in jobs])}")
            print(f"                  submit -> SUCCEEDED  {fmt([j[1] for j in jobs])}")
            remote.close()
        finally:
            engine.close()
            info = engine.cluster.read()
            started = time.monotonic()
            engine.cluster.stop()
            if info is not None:
                left = ray_cluster.session_members(info.pid)
                print(f"head stopped by pid in {time.monotonic() - started:.1f}s; left: {left}")


if __name__ == "__main__":
    main()
