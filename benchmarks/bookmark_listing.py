"""Job bookmarks: how long a bookmarked source takes to find what is new under a prefix of
100,000 objects of which 1% are new (issue 19), locally and on an S3-speaking server.

    .venv/bin/python benchmarks/bookmark_listing.py                    # local folder and moto's S3, 100,000 objects
    .venv/bin/python benchmarks/bookmark_listing.py --objects 10000 --s3-objects 10000
    .venv/bin/python benchmarks/bookmark_listing.py --skip-s3

Each source is read as a job script reads it: ``Job().init(...)`` then ``job.files(ctx, prefix)``,
in this process, against a SQLite store (a real job run of a real job with
``--job-bookmark-option job-bookmark-enable``). Steps per source:

1. the objects are written (older than the 15-minute safety band, as a landing area is);
2. a first run lists them all and commits; its SUCCEEDED end promotes the bookmark;
3. 1% more objects land, and a second run lists what is new: the time of that ``files()`` call
   (listing, the comparison with the bookmark, and recording the listing) is the figure.

Target on 2 cores: under 2 s locally. The S3 server is moto's, on loopback, in this process.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OLD = time.time() - 3600  # an hour ago: below the safety band


def _write_local(root: Path, start: int, count: int, mtime: float | None) -> None:
    for i in range(start, start + count):
        folder = root / f"day={i // 1000:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{i:07d}.json"
        path.write_bytes(b"{}\n")
        if mtime is not None:
            os.utime(path, (mtime, mtime))


def _write_s3(client: Any, bucket: str, start: int, count: int) -> None:
    keys = [f"landing/day={i // 1000:04d}/part-{i:07d}.json" for i in range(start, start + count)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=b"{}\n"), keys))


class Runs:
    """Job runs of one bookmarked job, started and ended in the store as the loop would."""

    def __init__(self, folder: Path) -> None:
        from orchestrator import service
        from orchestrator.service import jobs
        from orchestrator.settings import Settings

        self.settings = Settings(home=folder / ".adhere")
        self.db = service.open_store(self.settings)
        os.environ["ADHERE_DB_URL"] = self.settings.database_url
        script = folder / "job.py"
        script.write_text("print('bench')\n")
        jobs.create_job(self.db, self.settings, {
            "Name": "bench", "Role": "r", "Command": {"Name": "pythonshell", "ScriptLocation": str(script)},
            "DefaultArguments": {"--job-bookmark-option": "job-bookmark-enable"}})

    def timed_files(self, prefix: str) -> tuple[float, int]:
        """One run: init, files() timed, commit, SUCCEEDED."""
        from orchestrator import job_run, runtime_bookmarks, store
        from orchestrator.states import JobRunState

        with self.db.transaction() as tx:
            [run] = job_run.create(tx, [job_run.Request("bench")], direct=True)
            store.job_runs.set_state(tx, run.id, JobRunState.RUNNING.value)
        job = runtime_bookmarks.Job().init("bench", {"JOB_NAME": "bench", "JOB_RUN_ID": run.id})
        started = time.perf_counter()
        found = job.files("landing", prefix)
        seconds = time.perf_counter() - started
        job.commit()
        with self.db.transaction() as tx:
            current = store.job_runs.get(tx, run.id)
            assert current is not None
            ended, _ = job_run.complete(tx, current, JobRunState.SUCCEEDED)
            assert ended is not None and ended.state == "SUCCEEDED", ended
        return seconds, len(found)


def _measure(name: str, runs: Runs, prefix: str, total: int, land: Any) -> dict[str, Any]:
    first, listed = runs.timed_files(prefix)
    assert listed == total, (listed, total)
    timings, new = [], max(1, total // 100)
    for round_ in range(3):
        land(total + round_ * new, new)
        seconds, found = runs.timed_files(prefix)
        assert found == new, (found, new)
        timings.append(seconds)
    return {"source": name, "objects": total, "new": new, "first_s": first,
            "new_s": statistics.median(timings), "new_runs_s": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--s3-objects", type=int, default=100_000)
    parser.add_argument("--skip-s3", action="store_true")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="adhere-bookmarks-") as tmp:
        folder = Path(tmp)
        data = folder / "landing"
        print(f"writing {args.objects:,} local files ...", flush=True)
        _write_local(data, 0, args.objects, OLD)
        results.append(_measure("local folder", Runs(folder / "local"), str(data), args.objects,
                                lambda start, count: _write_local(data, start, count, None)))
        if not args.skip_s3:
            import logging

            import boto3
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log

            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                              AWS_ENDPOINT_URL_S3=endpoint)
            try:
                client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
                client.create_bucket(Bucket="bench")
                print(f"writing {args.s3_objects:,} objects to moto's S3 ...", flush=True)
                _write_s3(client, "bench", 0, args.s3_objects)
                # moto stamps LastModified now: the first listing's files are all in the band,
                # which is the harder case (each is remembered by key).
                results.append(_measure("S3 (moto, loopback)", Runs(folder / "s3"), "s3://bench/landing/",
                                        args.s3_objects, lambda start, count: _write_s3(client, "bench", start, count)))
            finally:
                server.stop()
    print()
    print(f"{'source':<22}{'objects':>10}{'new':>7}{'first listing':>16}{'what is new (median of 3)':>28}")
    for r in results:
        print(f"{r['source']:<22}{r['objects']:>10,}{r['new']:>7,}{r['first_s']:>15.2f}s{r['new_s']:>27.3f}s")
    local = results[0]
    verdict = "met" if local["new_s"] < 2.0 else "NOT met"
    print(f"\ntarget: under 2 s locally on 2 cores for {local['objects']:,} objects, 1% new: {verdict} "
          f"({local['new_s']:.3f} s)")


if __name__ == "__main__":
    main()
