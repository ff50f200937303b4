"""EVENT triggers under load: events ingested per second, and from the event that completes a
batch to the first line of the started run's first job.

    .venv/bin/python benchmarks/event_throughput.py [--db URL] [--events 50000] [--clients 8]
        [--seconds 5] [--batches 200] [--cli-batches 200]
    .venv/bin/python benchmarks/event_throughput.py --db postgresql+psycopg://postgres@127.0.0.1:5432/adhere_bench

Every event is an S3 "Object Created" entry that an EVENT trigger's EventPattern matches (so
the routing is paid), among four EVENT triggers of four workflows, each with a python-shell job:

a. bulk: ``--events`` events in one file through one ``adhere events put --file`` process (its
   wall time, interpreter included), first with no serve running (ingest only), then with an
   ``adhere serve`` running, which fires the batches (BatchSize 100) as the put commits; also
   how long until the jobs of all those batches' runs have run.
b. PutEvents: ``--clients`` processes, each with its own boto3 events client, sending 10 entries
   per call for ``--seconds`` against the serve (which fires batches of 100 meanwhile).
c. latency: one event at a time, each completing a batch of size 1; from just before the put to
   the first line of the started run's job (the script appends ``time.time()`` first thing),
   then the run is left to complete before the next event. Through the API (boto3 PutEvents),
   and through ``adhere events put`` in a subprocess per event: measured from the subprocess's
   start, and from its call of ``put_events`` (after its interpreter started and its imports).

Targets (2 cores, SQLite): at least 5,000 events/s ingested in bulk; event to first line p50
under 25 ms and p99 under 100 ms through the API.

On PostgreSQL the database is created when missing; the benchmark's definitions (``evbench-*``)
are deleted at the start and the end, its events stay.

Measured (2 shared cores, two runs each; SQLite / PostgreSQL 15 on the same machine): bulk
17,600-18,600 / 12,900-13,700 events/s without a serve, 15,900 / 13,000-13,800 with one, whose
500 batches' jobs had all run 7.2-7.7 / 12.6-13.0 s after the put started; PutEvents
2,300-2,700 / 2,700-3,000 events/s (call p50 27-35 / 25-28 ms, p99 80-83 / 67-68 ms); event
to first line through the API p50 8.3-8.8 / 22.5-22.8 ms, p99 14-16 / 33-34 ms; through
`adhere events put` p50 320-360 / 405-415 ms from the process's start (its imports: about
300 ms), 12-13 / 26-28 ms from its call of put_events.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ADHERE = str(Path(sys.executable).with_name("adhere"))
PREFIX = "evbench"
RUN = secrets.token_hex(4)  # in the latency events' ids: a kept store has seen the last run's
BATCH = 100  # the bulk triggers' BatchSize (Glue's largest)
# (trigger suffix, event source, BatchSize): bulk without a serve, bulk with one, PutEvents, latency.
TRIGGERS = (
    ("bulk", "bench.bulk", BATCH),
    ("served", "bench.served", BATCH),
    ("api", "bench.api", BATCH),
    ("latency", "bench.latency", 1),
)
FIRST_LINE = """\
import time
_t0 = time.time()
import sys
with open(sys.argv[sys.argv.index("--out") + 1], "a") as f:
    f.write(f"{_t0!r}\\n")
"""
# A child that runs `adhere events put` and notes when it calls put_events (after its imports).
CLI_PUT = """\
import sys, time
from orchestrator.cli import main
from orchestrator.service import events
_put = events.put_events
def put(*args, **kwargs):
    with open(sys.argv[1], "w") as f:
        f.write(repr(time.time()))
    return _put(*args, **kwargs)
events.put_events = put
sys.exit(main(["events", "put", "--file", sys.argv[2]]))
"""


def entry(source: str, key: str) -> dict[str, Any]:
    return {
        "Source": source,
        "DetailType": "Object Created",
        "Detail": json.dumps({"bucket": {"name": "landing"}, "object": {"key": key, "size": 1024}}),
    }


def definitions(folder: Path) -> dict[str, Any]:
    workflows, jobs, triggers = [], [], []
    for name, source, size in TRIGGERS:
        workflows.append({"Name": f"{PREFIX}-{name}"})
        jobs.append(
            {
                "Name": f"{PREFIX}-{name}",
                "Command": {"Name": "pythonshell", "ScriptLocation": str(folder / "job.py")},
                "DefaultArguments": {"--out": str(folder / f"{name}.out")},
                "ExecutionProperty": {"MaxConcurrentRuns": 1000},
            }
        )
        triggers.append(
            {
                "Name": f"{PREFIX}-{name}",
                "WorkflowName": f"{PREFIX}-{name}",
                "Type": "EVENT",
                "StartOnCreation": True,
                "EventBatchingCondition": {"BatchSize": size, "BatchWindow": 900},
                "EventPattern": {
                    "source": [source],
                    "detail-type": ["Object Created"],
                    "detail": {"object": {"key": [{"suffix": ".json"}]}},
                },
                "Actions": [{"JobName": f"{PREFIX}-{name}"}],
            }
        )
    return {"Workflows": workflows, "Jobs": jobs, "Triggers": triggers}


def adhere(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([ADHERE, *args], env=env, capture_output=True, text=True)
    if check and done.returncode:
        raise SystemExit(f"adhere {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done


def delete_definitions(env: dict[str, str]) -> None:
    names = [f"{PREFIX}-{name}" for name, _, _ in TRIGGERS]
    for kind in ("trigger", "workflow", "job"):
        for name in names:
            adhere(env, "delete", kind, name, check=False)


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of ``url`` when it does not exist (the store speaks SQL)."""
    from orchestrator.store import database

    database.ensure_database(url)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_lines(path: Path, n: int, timeout: float, what: str) -> float:
    """Wait until ``path`` has ``n`` lines; returns when it had them."""
    deadline = time.time() + timeout
    while len(lines(path)) < n:
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {what} ({len(lines(path))} of {n})")
        time.sleep(0.01)
    return time.time()


# --- a. bulk ------------------------------------------------------------------------------------


def bulk(env: dict[str, str], folder: Path, name: str, source: str, n: int) -> float:
    """Seconds that one `adhere events put --file` of ``n`` events takes (process start to exit)."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps([entry(source, f"{name}/{i:07d}.json") for i in range(n)]))
    t0 = time.perf_counter()
    done = adhere(env, "--json", "events", "put", "--file", str(path))
    seconds = time.perf_counter() - t0
    if json.loads(done.stdout)["FailedEntryCount"]:
        raise SystemExit(f"events refused: {done.stdout[:2000]}")
    return seconds


# --- b. PutEvents -------------------------------------------------------------------------------


def events_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "events",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )


def glue_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "glue",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )


def _sender(
    url: str, index: int, seconds: float, start_at: float, out: multiprocessing.Queue
) -> None:
    client = events_client(url)
    sent = 0

    def call() -> None:
        nonlocal sent
        entries = [entry("bench.api", f"api/{index}/{sent + i:07d}.json") for i in range(10)]
        answer = client.put_events(Entries=entries)
        assert answer["FailedEntryCount"] == 0, answer
        sent += 10

    call()  # connect and load the model before the clock
    while time.time() < start_at:
        time.sleep(0.001)
    latencies = []
    end = start_at + seconds
    while (t0 := time.perf_counter()) and time.time() < end:
        call()
        latencies.append(time.perf_counter() - t0)
    out.put(latencies)


def put_events(url: str, clients: int, seconds: float) -> tuple[float, float, float, int]:
    """(events/s, p50 ms, p99 ms per call, events sent) of ``clients`` processes for ``seconds``."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    start_at = time.time() + 2.0
    procs = [
        multiprocessing.Process(target=_sender, args=(url, i, seconds, start_at, queue))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    latencies = sorted(x for _ in procs for x in queue.get())
    for p in procs:
        p.join()
    calls = len(latencies)
    return (
        calls * 10 / seconds,
        statistics.median(latencies) * 1000,
        pct(latencies, 99) * 1000,
        (calls + clients) * 10,
    )


# --- c. latency ---------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(len(ordered) * q / 100) - 1)]


def _wait_completed(glue: Any, event_id: str) -> None:
    """Until the run the event started is over (the next event then finds the serve idle)."""
    deadline = time.time() + 30
    while time.time() < deadline:
        found = glue.get_workflow_runs(Name=f"{PREFIX}-latency", MaxResults=1)["Runs"]
        if (
            found
            and found[0]["WorkflowRunProperties"].get("aws:eventIds") == f"[{event_id}]"
            and found[0]["Status"] in ("COMPLETED", "STOPPED", "ERROR")
        ):
            return
        time.sleep(0.005)
    raise SystemExit(f"the run of event {event_id} did not complete")


def latency_api(url: str, folder: Path, batches: int) -> list[float]:
    client, glue = events_client(url), glue_client(url)
    out = folder / "latency.out"
    gaps = []
    for i in range(batches):
        before = len(lines(out))
        entries = [entry("bench.latency", f"api/{i:05d}.json")]
        t0 = time.time()
        answer = client.put_events(Entries=entries)
        wait_lines(out, before + 1, 30, "the job's first line")
        gaps.append(float(lines(out)[before]) - t0)
        _wait_completed(glue, answer["Entries"][0]["EventId"])
    return gaps


def latency_cli(
    url: str, env: dict[str, str], folder: Path, batches: int
) -> tuple[list[float], list[float]]:
    """(from the subprocess's start, from its put_events call) to the job's first line."""
    glue = glue_client(url)
    out, stamp, child = folder / "latency.out", folder / "put.stamp", folder / "cli_put.py"
    child.write_text(CLI_PUT)
    from_spawn, from_put = [], []
    for i in range(batches):
        path = folder / "one.json"
        event_id = f"cli-{RUN}-{i:05d}"
        path.write_text(
            json.dumps([{**entry("bench.latency", f"cli/{i:05d}.json"), "Id": event_id}])
        )
        before = len(lines(out))
        t0 = time.time()
        proc = subprocess.Popen(
            [sys.executable, str(child), str(stamp), str(path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_lines(out, before + 1, 30, "the job's first line")
        first = float(lines(out)[before])
        if proc.wait(30):
            raise SystemExit(f"adhere events put failed: {proc.stderr.read().decode()[-2000:]}")
        from_spawn.append(first - t0)
        from_put.append(first - float(stamp.read_text()))
        _wait_completed(glue, event_id)
    return from_spawn, from_put


# --- main ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(env: dict[str, str], url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # a file, not a pipe: the serve logs a line per batch fired
        server = subprocess.Popen([ADHERE, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    glue = glue_client(url)
    deadline = time.time() + 60
    while True:
        try:
            glue.list_jobs()
            return server
        except Exception:
            if server.poll() is not None or time.time() > deadline:
                raise SystemExit(f"adhere serve did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)


def ms(values: list[float]) -> str:
    return f"p50 {statistics.median(values) * 1000:6.1f} ms, p99 {pct(values, 99) * 1000:6.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="store URL (default: SQLite in a temporary folder)")
    parser.add_argument("--events", type=int, default=50_000, help="events in the bulk file")
    parser.add_argument("--clients", type=int, default=8, help="PutEvents client processes")
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="how long the PutEvents clients send"
    )
    parser.add_argument("--batches", type=int, default=200, help="batches timed through the API")
    parser.add_argument(
        "--cli-batches", type=int, default=200, help="batches timed through `adhere events put`"
    )
    args = parser.parse_args()
    if args.events % BATCH:
        parser.error(f"--events must be a multiple of {BATCH}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "job.py").write_text(FIRST_LINE)
        port = free_port()
        env = {**os.environ, "ADHERE_HOME": str(folder / ".adhere"), "ADHERE_PORT": str(port)}
        env.pop("ADHERE_ENDPOINT", None)
        if args.db:
            ensure_database(args.db)
            env["ADHERE_DB_URL"] = args.db
        url = f"http://127.0.0.1:{port}"
        delete_definitions(env)  # a previous run's, on a kept store
        (folder / "defs.yaml").write_text(json.dumps(definitions(folder), indent=1))
        adhere(env, "apply", str(folder / "defs.yaml"))
        figures: list[tuple[str, str]] = []
        store = args.db.split(":")[0] if args.db else "sqlite"
        print(
            f"store {store}, {os.cpu_count()} cores, {args.events:,} events per bulk file",
            flush=True,
        )

        # a. bulk, no serve: the trigger is ACTIVATED by StartOnCreation, its events wait.
        seconds = bulk(env, folder, "bulk", "bench.bulk", args.events)
        bulk_rate = args.events / seconds
        figures.append(
            ("bulk `events put`, no serve", f"{bulk_rate:8,.0f} events/s ({seconds:.2f} s)")
        )
        print(f"  {figures[-1][0]}: {figures[-1][1]}", flush=True)
        adhere(
            env, "delete", "trigger", f"{PREFIX}-bulk"
        )  # its waiting events are dropped, not fired

        server = start_serve(env, url, folder / "serve.log")
        try:
            time.sleep(1.0)  # the serve settles (triggers ACTIVATED, the API warmed)
            t0 = time.time()
            seconds = bulk(env, folder, "served", "bench.served", args.events)
            runs = args.events // BATCH
            fired = wait_lines(folder / "served.out", runs, 300, "the bulk batches' jobs") - t0
            served_rate = args.events / seconds
            figures.append(
                (
                    "bulk `events put`, serve running",
                    f"{served_rate:8,.0f} events/s ({seconds:.2f} s)",
                )
            )
            print(f"  {figures[-1][0]}: {figures[-1][1]}", flush=True)
            figures.append(
                (f"  then all {runs} batches' jobs run", f"{fired:8.2f} s after the put started")
            )
            print(f"  {figures[-1][0]}: {figures[-1][1]}", flush=True)

            # b. PutEvents
            rate, p50, p99, sent = put_events(url, args.clients, args.seconds)
            figures.append(
                (
                    f"PutEvents, {args.clients} boto3 clients x 10 entries",
                    f"{rate:8,.0f} events/s (call p50 {p50:.1f} ms, p99 {p99:.1f} ms)",
                )
            )
            print(f"  {figures[-1][0]}: {figures[-1][1]}", flush=True)
            full, stopped = sent // BATCH, time.time()
            drained = (
                wait_lines(folder / "api.out", full, 300, "the PutEvents batches' jobs") - stopped
            )
            figures.append(
                (
                    f"  then all {full} batches' jobs run",
                    f"{drained:8.2f} s after the clients stopped",
                )
            )
            print(f"  {figures[-1][0]}: {figures[-1][1]}", flush=True)

            # c. latency
            api = latency_api(url, folder, args.batches)
            figures.append((f"event -> first line, API ({args.batches} batches)", ms(api)))
            print(f"  {figures[-1][0]}: {figures[-1][1]}", flush=True)
            if args.cli_batches:
                from_spawn, from_put = latency_cli(url, env, folder, args.cli_batches)
                figures.append(
                    (f"event -> first line, CLI from spawn ({args.cli_batches})", ms(from_spawn))
                )
                print(f"  {figures[-1][0]}: {figures[-1][1]}", flush=True)
                figures.append(
                    (f"event -> first line, CLI from put_events ({args.cli_batches})", ms(from_put))
                )
                print(f"  {figures[-1][0]}: {figures[-1][1]}", flush=True)
        finally:
            server.terminate()
            server.wait(60)
            delete_definitions(env)

    width = max(len(k) for k, _ in figures)
    print()
    print(f"{'figure'.ljust(width)}  value  ({store}, {os.cpu_count()} cores)")
    for k, v in figures:
        print(f"{k.ljust(width)}  {v.strip()}")
    print()
    checks = [
        ("bulk ingest >= 5,000 events/s (no serve)", bulk_rate >= 5000),
        ("bulk ingest >= 5,000 events/s (serve running)", served_rate >= 5000),
        ("API event -> first line p50 < 25 ms", statistics.median(api) < 0.025),
        ("API event -> first line p99 < 100 ms", pct(api, 99) < 0.100),
    ]
    for name, met in checks:
        print(f"target {name}: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
