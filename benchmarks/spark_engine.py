"""Spark engine latency: submit -> first script line -> SUCCEEDED, cold and warm, and chains.

Run: ``.venv/bin/python benchmarks/spark_engine.py [--chain 10]``. Prints one line per figure.
Measured on the 2-core dev machine under load from other work (see the report in the issue):
submit mode ~7-16 s per trivial job; warm (Connect) ~1-2 s per job after a ~10 s server start.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import tempfile
import time
from pathlib import Path

from engines import base, spark

FIRST = "adhere-bench-first-line"
SCRIPT = f"""print({FIRST!r}, flush=True)
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
assert spark.range(10).count() == 10
"""


def run_one(
    engine: spark.SparkEngine, ended: queue.Queue[str], tmp: Path, n: int
) -> tuple[float, float]:
    """(seconds to the script's first line, seconds to SUCCEEDED) for one trivial job."""
    request = base.RunRequest(
        job_run_id=f"jr_{n}",
        job_name="bench",
        script=str(tmp / "bench.py"),
        arguments={"--JOB_NAME": "bench"},
        run_dir=tmp / "runs" / str(n),
    )
    started = time.monotonic()
    run_id = engine.submit(request)
    first = None
    while True:
        if first is None and any(FIRST in line for line in engine.logs(run_id)):
            first = time.monotonic() - started
        try:
            if ended.get(timeout=0.01) == run_id:
                break
        except queue.Empty:
            continue
    done = time.monotonic() - started
    status = engine.poll(run_id)
    if status.state.value != "SUCCEEDED":
        raise SystemExit(f"run {n} ended {status}: {list(engine.logs(run_id))[-10:]}")
    if first is None:
        first = done
    return first, done


def measure(mode: str, chain: int, tmp: Path) -> None:
    home = tmp / mode
    engine = spark.SparkEngine(home, {"spark_mode": mode, "spark_connect_idle_timeout": "60"})
    ended: queue.Queue[str] = queue.Queue()
    engine.set_listener(ended.put)
    try:
        engine.check()
        first, done = run_one(engine, ended, tmp, 0)
        label = "cold (server start included)" if mode == "connect" else "cold"
        print(f"{mode:8} {label:30} first line {first:6.2f} s   SUCCEEDED {done:6.2f} s")
        if mode == "connect":
            first, done = run_one(engine, ended, tmp, 1)
            print(f"{mode:8} {'warm':30} first line {first:6.2f} s   SUCCEEDED {done:6.2f} s")
        started = time.monotonic()
        times = [run_one(engine, ended, tmp, 100 + i)[1] for i in range(chain)]
        total = time.monotonic() - started
        print(
            f"{mode:8} chain of {chain} trivial jobs{'':12} total {total:6.2f} s   "
            f"per job median {statistics.median(times):5.2f} s, max {max(times):5.2f} s"
        )
    finally:
        if mode == "connect":
            engine.stop_connect_server()
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chain", type=int, default=10)
    parser.add_argument("--modes", default="submit,connect")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="adhere-spark-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "bench.py").write_text(SCRIPT)
        for mode in args.modes.split(","):
            measure(mode, args.chain, tmp)


if __name__ == "__main__":
    main()
