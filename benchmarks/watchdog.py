"""The watchdog with 10,000 pending deadlines: idle CPU, and how late 1,000 simultaneous ones fire.

    .venv/bin/python benchmarks/watchdog.py                 # SQLite in a temporary folder
    .venv/bin/python benchmarks/watchdog.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/adhere_bench

No job processes: the runs belong to a do-nothing engine (``benchnull``, registered under a
test-only command name) whose runs stay RUNNING. The rows are written through the store as
RUNNING runs of an orchestrator that is gone, so a real ``runner.Orchestrator`` adopts them the
way it adopts runs after a crash: every deadline goes into its watchdog heap.

1. Idle: 10,000 RUNNING runs, each with a timeout and a delay notification a day away; the
   orchestrator's process CPU time over ``--idle-seconds`` (its loop, heartbeat, reconcile and
   safety-net sweeps; nothing is due).
2. Burst: the orchestrator is stopped, 1,000 of the runs get ``notify_at = T`` (the rest keep
   theirs), a new orchestrator adopts all 10,000, and at T the 1,000 delay notifications fall
   due together. Lateness = the notification's recorded time - T (p50, p99, max).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines import base, registry
from orchestrator import runner, store
from orchestrator.settings import Settings
from orchestrator.states import JobRunState
from orchestrator.store.job_runs import RunOptions

COMMAND = "benchnull"
JOB = "bench"
GONE = "bench-orchestrator-that-died"


class NullEngine(base.Engine):
    """Runs nothing; every run stays RUNNING until cancelled (then STOPPED)."""

    command = COMMAND

    def __init__(self, home: Path, options: Mapping[str, str] | None = None) -> None:
        super().__init__(home, options)
        self._cancelled: set[str] = set()

    def submit(self, request: base.RunRequest) -> str:
        return request.job_run_id

    def poll(self, engine_run_id: str) -> base.EngineStatus:
        if engine_run_id in self._cancelled:
            return base.EngineStatus(JobRunState.STOPPED)
        return base.EngineStatus(JobRunState.RUNNING)

    def cancel(self, engine_run_id: str, grace: float = 5.0) -> None:
        self._cancelled.add(engine_run_id)
        self.notify(engine_run_id)

    def logs(self, engine_run_id: str) -> Iterator[str]:
        return iter(())


registry.BUILTIN[COMMAND] = f"{__name__}:NullEngine"  # test-only command name


def _insert(db: store.Store, n: int, far: dt.datetime) -> list[str]:
    spec = {
        "name": JOB,
        "command": {"name": COMMAND, "script_location": "none"},
        "execution_property": {"max_concurrent_runs": n + 1},
    }
    options = RunOptions(timeout=86400.0, notify_delay_after=86400.0)
    stamp = store.now()
    runs = [
        store.job_runs.new(
            id=store.new_id("jr"), job_name=JOB, state=JobRunState.RUNNING.value, command=COMMAND,
            options=options, timeout=86400.0, created_on=stamp, started_on=stamp, timeout_at=far,
            notify_at=far, owner=GONE, engine_run_id=None,
        )
        for _ in range(n)
    ]  # fmt: skip
    runs = [run.replace(engine_run_id=run.id) for run in runs]  # NullEngine's run ids
    with db.transaction() as tx:
        store.definitions.save_many(
            tx, "job", [store.definitions.Body(JOB, {"Name": JOB}, spec)], {}
        )
        store.job_runs.insert(tx, runs)
    return [run.id for run in runs]


def _adopted(db: store.Store, orch: runner.Orchestrator, n: int, timeout: float = 300) -> float:
    """Seconds until ``orch`` owns all ``n`` runs (and watches their deadlines)."""
    began = time.monotonic()
    while True:
        if orch.error is not None:
            raise SystemExit(f"orchestrator failed: {orch.error!r}")
        # The heap is filled after the adopting transaction commits: count the rows only then.
        if len(orch.watchdog) >= 2 * n:
            with db.read() as tx:
                owned = len(store.job_runs.owned_in_state(tx, orch.id, JobRunState.RUNNING.value))
            if owned == n:
                return time.monotonic() - began
        if time.monotonic() - began > timeout:
            raise SystemExit(f"{len(orch.watchdog)} of {2 * n} deadlines watched after {timeout}s")
        time.sleep(0.1)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--poll-interval", type=float, default=Settings().poll_interval)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="adhere-watchdog-") as tmp:
        home = Path(tmp) / ".adhere"
        url = args.db_url or f"sqlite:///{home / 'adhere.db'}"
        home.mkdir(parents=True)
        settings = Settings(
            home=home, db_url=url, max_processes=args.runs + 1, poll_interval=args.poll_interval
        )
        db = store.Store.open_url(url)
        try:
            return _bench(db, settings, args)
        finally:
            db.close()


def _bench(db: store.Store, settings: Settings, args: argparse.Namespace) -> int:
    far = store.now() + dt.timedelta(days=1)
    began = time.perf_counter()
    ids = _insert(db, args.runs, far)
    print(f"store: {db.safe_url}; poll_interval {settings.poll_interval}s")
    print(f"inserted {args.runs} RUNNING runs in {time.perf_counter() - began:.2f}s")

    # 1. Idle CPU with every deadline a day away.
    orch = runner.Orchestrator(settings, db).start()
    try:
        adoption = _adopted(db, orch, args.runs)
        print(
            f"adopted {args.runs} runs ({len(orch.watchdog)} deadlines in the heap) in {adoption:.2f}s"
        )
        time.sleep(1.0)  # let the adoption's own polls drain
        cpu0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(args.idle_seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        orch.stop()
    print(
        f"idle: {cpu:.3f} s CPU over {wall:.1f} s = {1000 * cpu / wall:.1f} ms CPU per second "
        f"({100 * cpu / wall:.2f}% of a core), {args.runs} deadlines pending"
    )

    # 2. A burst: args.due delay notifications due in the same instant, 10,000 pending.
    due_at = store.now() + dt.timedelta(seconds=adoption * 2 + 3)
    burst = ids[: args.due]
    with db.transaction() as tx:
        for run_id in burst:
            store.job_runs.update(tx, run_id, notify_at=due_at, notified_states=[])
    orch = runner.Orchestrator(settings, db).start()
    try:
        _adopted(db, orch, args.runs)
        if store.now() >= due_at:
            raise SystemExit("adoption took longer than planned; T already passed")
        wait = (due_at - store.now()).total_seconds()
        deadline = time.monotonic() + wait + 60
        while True:
            with db.read() as tx:
                times = [n.time for n in store.notifications.find(tx, limit=2 * args.due)
                         if n.detail_type == "Glue Job Run Status"]  # fmt: skip
            if len(times) >= args.due or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        orch.stop()
    late = [(t - due_at).total_seconds() * 1000 for t in times]
    if len(late) != args.due:
        print(f"burst: only {len(late)} of {args.due} notifications recorded")
        return 1
    print(
        f"burst: {args.due} delay notifications due at T with {args.runs} pending: lateness "
        f"p50 {_percentile(late, 0.5):.1f} ms, p99 {_percentile(late, 0.99):.1f} ms, "
        f"max {max(late):.1f} ms, min {min(late):.1f} ms (mean {statistics.fmean(late):.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
