"""Glue's API under load: GetJobRun requests per second and latency, and StartJobRun to the
job's first line, through boto3 against a real `adhere serve` (its own process).

GetJobRun is timed with 1 client and with ``--clients`` concurrent clients (processes, each
with its own boto3 client and connection) for ``--seconds`` each; latency is per request, as
the client sees it. The clients share the machine's cores with the server, and a boto3 call
costs about 2 ms of CPU on the client's side, so the same is also timed with clients that cost
little (the standard library's ``http.client``, same request, one keep-alive connection each):
what the server itself sustains. StartJobRun is timed ``--starts`` times, one at a time: from the call to
the trivial python-shell job's first line (the script records ``time.time()`` first thing).

    python benchmarks/api_throughput.py [--db URL] [--clients 8] [--seconds 5] [--starts 50]

Targets (issue 16): GetJobRun at least 1,000 requests/s with 8 clients on 2 cores; StartJobRun
to first line p50 under 30 ms.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_LINE = """\
import time
_t0 = time.time()
import sys
with open(sys.argv[sys.argv.index("--out") + 1], "a") as f:
    f.write(f"{_t0!r}\\n")
"""


def client(url: str):
    import boto3
    from botocore.config import Config

    return boto3.client("glue", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                        aws_secret_access_key="bench", config=Config(retries={"max_attempts": 1},
                                                                     max_pool_connections=4))


def _raw_caller(url: str, run_id: str):
    """GetJobRun over one keep-alive connection with the standard library: what the server
    sustains when its clients cost little (a boto3 call costs about 2 ms of CPU here)."""
    import http.client
    import json
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    body = json.dumps({"JobName": "bench", "RunId": run_id})
    headers = {"X-Amz-Target": "AWSGlue.GetJobRun", "Content-Type": "application/x-amz-json-1.1"}

    def call() -> None:
        conn.request("POST", "/", body, headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 200

    return call


def _hammer(url: str, run_id: str, seconds: float, start_at: float, raw: bool, out: multiprocessing.Queue) -> None:
    if raw:
        call = _raw_caller(url, run_id)
    else:
        glue = client(url)

        def call() -> None:
            glue.get_job_run(JobName="bench", RunId=run_id)
    call()  # connect and load the model before the clock
    while time.time() < start_at:
        time.sleep(0.001)
    latencies = []
    end = start_at + seconds
    while (now := time.perf_counter()) and time.time() < end:
        call()
        latencies.append(time.perf_counter() - now)
    out.put(latencies)


def get_job_run(url: str, run_id: str, clients: int, seconds: float, raw: bool = False) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of ``clients`` processes calling GetJobRun for ``seconds``."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    start_at = time.time() + 2.0
    procs = [multiprocessing.Process(target=_hammer, args=(url, run_id, seconds, start_at, raw, queue))
             for _ in range(clients)]
    for p in procs:
        p.start()
    latencies = [x for _ in procs for x in queue.get()]
    for p in procs:
        p.join()
    latencies.sort()
    return (len(latencies) / seconds, statistics.median(latencies) * 1000,
            latencies[int(len(latencies) * 0.99)] * 1000)


def start_job_run(url: str, folder: Path, starts: int) -> tuple[float, float]:
    """(p50 ms, p90 ms) from StartJobRun to the job's first line, one run at a time."""
    glue = client(url)
    out = folder / "first-lines.log"
    gaps = []
    for _ in range(starts):
        before = len(out.read_text().splitlines()) if out.exists() else 0
        t0 = time.time()
        run_id = glue.start_job_run(JobName="bench", Arguments={"--out": str(out)})["JobRunId"]
        while not out.exists() or len(lines := out.read_text().splitlines()) == before:
            time.sleep(0.001)
        gaps.append(float(lines[-1]) - t0)
        while glue.get_job_run(JobName="bench", RunId=run_id)["JobRun"]["JobRunState"] not in ("SUCCEEDED", "FAILED"):
            time.sleep(0.005)
    gaps.sort()
    return statistics.median(gaps) * 1000, gaps[int(len(gaps) * 0.9)] * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="store URL (default: SQLite in a temporary folder)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--starts", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        script = folder / "first_line.py"
        script.write_text(FIRST_LINE)
        port = free_port()
        env = {**os.environ, "ADHERE_HOME": str(folder / ".adhere"), "ADHERE_PORT": str(port)}
        if args.db:
            env["ADHERE_DB_URL"] = args.db
        server = subprocess.Popen([str(Path(sys.executable).with_name("adhere")), "serve"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            glue = client(url)
            deadline = time.time() + 60
            while True:
                try:
                    glue.list_jobs()
                    break
                except Exception:
                    if server.poll() is not None or time.time() > deadline:
                        raise SystemExit(f"adhere serve did not start: {server.stderr.read().decode()[-2000:]}") from None
                    time.sleep(0.1)
            try:
                glue.delete_job(JobName="bench")
                glue.create_job(Name="bench", Role="r", Command={"Name": "pythonshell", "ScriptLocation": str(script)},
                                ExecutionProperty={"MaxConcurrentRuns": 1})
            except Exception as exc:
                raise SystemExit(f"could not create the job: {exc}") from None
            time.sleep(1.0)  # the server compiles its request checks at start
            p50, p90 = start_job_run(url, folder, args.starts)
            run_id = glue.get_job_runs(JobName="bench", MaxResults=1)["JobRuns"][0]["Id"]
            store = args.db.split(":")[0] if args.db else "sqlite"
            print(f"store {store}, {os.cpu_count()} cores")
            print(f"StartJobRun -> first line: p50 {p50:.1f} ms, p90 {p90:.1f} ms over {args.starts} runs")
            for raw in (False, True):
                for n in sorted({1, args.clients}):
                    rps, lat50, lat99 = get_job_run(url, run_id, n, args.seconds, raw)
                    print(f"GetJobRun, {n} {'http.client' if raw else 'boto3'} client{'s' if n > 1 else ''}: "
                          f"{rps:,.0f} requests/s, p50 {lat50:.2f} ms, p99 {lat99:.2f} ms")
        finally:
            server.terminate()
            server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
