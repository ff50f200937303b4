"""Job bookmarks on the job side (``from orchestrator.runtime import Job``), on SQLite and
PostgreSQL, from python-shell job processes run by a real orchestrator loop: enable reads what
is new and advances on success only (a modified file again); disable reads everything and records
nothing; pause reads what is new without advancing, or the window between two runs; reset and
rewind; a run that commits and then fails, or times out, advances nothing and its retry reads the
same files; of two runs over one version only one advances; the safety band finds a late file
with an old mtime; S3 prefixes (moto); SQL tables by bookmark keys; catalog partitions; a re-run
pinned to an earlier run's input; and a job started by a serve (ADHERE_ENDPOINT).
The server side is in test_bookmarks.py."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from driving import apply, is_final, job, orchestrating, state, wait_for
from integration.api_fixtures import Served
from integration.api_fixtures import wait_for as served_wait_for
from integration.s3_fixtures import s3_client

from orchestrator import errors, store
from orchestrator.service import bookmarks, databases, job_runs, partitions, tables
from orchestrator.settings import Settings

pytestmark = pytest.mark.timeout(240)
ENABLE, PAUSE, DISABLE = "job-bookmark-enable", "job-bookmark-pause", "job-bookmark-disable"
OPTION = "--job-bookmark-option"

# Reads a folder (or s3:// prefix) bookmarked as "orders", and unbookmarked; writes what it got,
# as one JSON line per run into --out; commits; then does what --then says.
READ_FILES = """\
import json, os, sys, time
from orchestrator.runtime import Job, getResolvedOptions
args = getResolvedOptions(sys.argv, ["JOB_NAME", "JOB_RUN_ID", "source", "out", "then"])
job = Job()
job.init(args["JOB_NAME"], args)
new = job.files("orders", args["source"])
whole = job.files(None, args["source"])
name = lambda p: p.rstrip("/").rsplit("/", 1)[-1]
record = {"run": args["JOB_RUN_ID"], "mode": job.mode, "version": job.version,
          "files": [name(p) for p in new], "whole": [name(p) for p in whole], "paths": new}
then = args["then"]
if then.startswith("wait:"):  # both concurrent runs have read before either commits
    folder = then[5:]
    open(os.path.join(folder, args["JOB_RUN_ID"]), "w").close()
    while not os.path.exists(os.path.join(folder, "go")):
        time.sleep(0.02)
if then == "kill-before-commit":  # kill -9 between processing and commit
    os.kill(os.getpid(), 9)
try:
    job.commit()
except Exception as exc:
    record["commit"] = type(exc).__name__
if then == "kill-after-commit":  # staged, then killed before the run could end
    os.kill(os.getpid(), 9)
with open(args["out"], "a") as out:
    out.write(json.dumps(record) + "\\n")
if then == "fail-once" and not os.path.exists(args["out"] + ".failed"):
    open(args["out"] + ".failed", "w").close()
    raise SystemExit(1)
if then == "sleep":
    time.sleep(120)
if "commit" in record:
    raise SystemExit(record["commit"])
"""

READ_ROWS = """\
import json, sys
from orchestrator.runtime import Job, getResolvedOptions
args = getResolvedOptions(sys.argv, ["JOB_NAME", "JOB_RUN_ID", "sql", "out"])
job = Job()
job.init(args["JOB_NAME"], args)
got = {"run": args["JOB_RUN_ID"], "customers": [r["id"] for r in job.rows("customers", args["sql"], "customers")],
       "events": [[r["day"].isoformat(), r["seq"]] for r in
                  job.rows("events", args["sql"], "events", keys=["day", "seq"], order="asc")],
       "everything": len(job.rows(None, args["sql"], "customers"))}
job.commit()
with open(args["out"], "a") as out:
    out.write(json.dumps(got) + "\\n")
"""

READ_PARTITIONS = """\
import json, sys
from orchestrator.runtime import Job, getResolvedOptions
args = getResolvedOptions(sys.argv, ["JOB_NAME", "JOB_RUN_ID", "out"])
job = Job()
job.init(args["JOB_NAME"], args)
got = {"run": args["JOB_RUN_ID"], "new": [[p.values, p.location] for p in job.partitions("sales", "raw", "sales")],
       "pruned": [p.values for p in job.partitions("eu", "raw", "sales", "region = 'eu'")]}
job.commit()
with open(args["out"], "a") as out:
    out.write(json.dumps(got) + "\\n")
"""


# --- helpers -------------------------------------------------------------------------------------


class Jobs:
    """A folder of data, a job reading it, runs driven to their end, and what each run read."""

    def __init__(self, db: store.Store, tmp_path: Path, name: str = "load", script: str = READ_FILES,
                 source: str | None = None, **definition: Any) -> None:  # fmt: skip
        self.db, self.name = db, name
        self.data = tmp_path / "data"
        self.data.mkdir(exist_ok=True)
        self.out = tmp_path / f"{name}.jsonl"
        (tmp_path / f"{name}.py").write_text(script)
        arguments = {OPTION: ENABLE, "--source": source or str(self.data), "--out": str(self.out), "--then": "-",
                     **definition.pop("DefaultArguments", {})}  # fmt: skip
        apply(db, tmp_path, Jobs=[job(name, f"{name}.py", DefaultArguments=arguments, **definition)])

    def start(self, **arguments: Any) -> str:
        timeout = arguments.pop("timeout", None)
        return job_runs.start_job_run(self.db, self.name, arguments={f"--{k}": v for k, v in arguments.items()},
                                      timeout=timeout)  # fmt: skip

    def wait(self, orch: Any, *run_ids: str, timeout: float = 60) -> list[str]:
        for run_id in run_ids:
            wait_for(lambda run_id=run_id: is_final(self.db, run_id), timeout, orch, f"run {run_id} ended")
        return [state(self.db, r) for r in run_ids]

    def run(self, orch: Any, expect: str = "SUCCEEDED", **arguments: Any) -> dict[str, Any]:
        """One run to its end; what it read."""
        run_id = self.start(**arguments)
        assert self.wait(orch, run_id) == [expect], job_runs.get_job_run(self.db, None, run_id)
        return self.read(run_id)[-1]

    def read(self, run_id: str | None = None) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.out.read_text().splitlines()] if self.out.exists() else []
        return [r for r in lines if run_id is None or r.get("run") == run_id]

    def write(self, name: str, mtime: float | None = None, text: str = "x") -> Path:
        path = self.data / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    def version(self) -> int:
        try:
            return bookmarks.get_job_bookmark(self.db, self.name)["JobBookmarkEntry"]["Version"]
        except errors.EntityNotFoundException:
            return 0

    def entry(self, run_id: str | None = None) -> dict[str, Any]:
        return bookmarks.get_job_bookmark(self.db, self.name, run_id)["JobBookmarkEntry"]


def _history(db: store.Store, name: str) -> list[dict[str, Any]]:
    return bookmarks.job_bookmark_history(db, name)["JobBookmarkEntries"]


def _listings(db: store.Store, run_id: str) -> tuple[int | None, dict[str, int]]:
    with db.read() as tx:
        return store.bookmarks.listings(tx, run_id)


# --- the core semantics --------------------------------------------------------------------------


def test_enable_reads_only_what_is_new_and_a_modified_file_again(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    jobs = Jobs(db, tmp_path)
    jobs.write("a.csv"), jobs.write("b.csv"), jobs.write("_SUCCESS"), jobs.write(".a.csv.crc")
    with orchestrating(db, settings) as orch:
        first = jobs.run(orch)
        assert (first["mode"], first["version"], first["files"]) == (ENABLE, 0, ["a.csv", "b.csv"])
        assert first["paths"] == [str(jobs.data / "a.csv"), str(jobs.data / "b.csv")]
        again = jobs.run(orch)
        assert (again["version"], again["files"], again["whole"]) == (1, [], ["a.csv", "b.csv"])
        jobs.write("sub/c.csv")
        assert jobs.run(orch)["files"] == ["c.csv"]
        a = jobs.data / "a.csv"
        later = a.stat().st_mtime + 5
        jobs.write("a.csv", mtime=later, text="changed")
        assert jobs.run(orch)["files"] == ["a.csv"]
        assert jobs.run(orch)["files"] == []
    entry = jobs.entry()
    assert (entry["Version"], entry["Run"]) == (5, 5)
    state_ = json.loads(entry["JobBookmark"])["orders"]
    assert (state_["kind"], state_["prefix"]) == ("files", str(jobs.data))
    assert state_["in_band"]["a.csv"] == int(later * 1000)
    # What each commit listed: a summary per source, never the whole file list.
    oldest = _history(db, "load")[-1]
    assert oldest["Listed"] == {"orders": {"source": str(jobs.data), "listed": 2, "new": 2,
                                           "first": str(jobs.data / "a.csv"), "last": str(jobs.data / "b.csv")}}
    base, listed_at = _listings(db, first["run"])
    assert base == 0 and set(listed_at) == {"orders"}  # the unbookmarked read is not recorded


def test_disable_reads_everything_and_records_nothing(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    jobs = Jobs(db, tmp_path, DefaultArguments={OPTION: DISABLE})
    jobs.write("a.csv")
    with orchestrating(db, settings) as orch:
        first = jobs.run(orch)
        jobs.write("b.csv")
        second = jobs.run(orch)
        third = jobs.run(orch, **{"job-bookmark-option": "job-bookmark-disable"})
    assert (first["mode"], first["files"]) == (DISABLE, ["a.csv"])
    assert second["files"] == third["files"] == ["a.csv", "b.csv"]
    assert jobs.version() == 0 and _listings(db, second["run"]) == (None, {})


def test_pause_reads_what_is_new_without_advancing(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    jobs = Jobs(db, tmp_path)
    jobs.write("a.csv")
    paused = {"job-bookmark-option": PAUSE}
    with orchestrating(db, settings) as orch:
        assert jobs.run(orch)["files"] == ["a.csv"]
        jobs.write("b.csv")
        assert jobs.run(orch, **paused)["files"] == ["b.csv"]
        assert jobs.run(orch, **paused)["files"] == ["b.csv"]
        assert jobs.version() == 1
        pause_run = jobs.read()[-1]["run"]
        assert set(_listings(db, pause_run)[1]) == {"orders"}  # recorded, though never committed
        assert jobs.run(orch)["files"] == ["b.csv"]
    assert jobs.version() == 2


def test_a_window_from_one_run_to_another_reads_what_the_runs_between_read(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    jobs = Jobs(db, tmp_path)
    runs = []
    with orchestrating(db, settings) as orch:
        for name in ("a.csv", "b.csv", "c.csv"):
            jobs.write(name)
            got = jobs.run(orch)
            assert got["files"] == [name]
            runs.append(got["run"])
        jobs.write("d.csv")  # after the window: excluded
        window = jobs.run(orch, **{"job-bookmark-option": PAUSE, "job-bookmark-from": runs[0],
                                   "job-bookmark-to": runs[2]})  # fmt: skip
        assert window["files"] == ["b.csv", "c.csv"]
        one = jobs.run(orch, **{"job-bookmark-option": PAUSE, "job-bookmark-from": runs[1],
                                "job-bookmark-to": runs[1]})  # fmt: skip
        assert one["files"] == []
        assert jobs.version() == 3
        assert jobs.run(orch)["files"] == ["d.csv"]


def test_reset_reads_everything_again_and_a_rewind_what_came_after_that_run(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    jobs = Jobs(db, tmp_path)
    jobs.write("a.csv")
    with orchestrating(db, settings) as orch:
        first = jobs.run(orch)
        jobs.write("b.csv")
        assert jobs.run(orch)["files"] == ["b.csv"]
        bookmarks.reset_job_bookmark(db, "load")
        assert jobs.run(orch)["files"] == ["a.csv", "b.csv"]
        bookmarks.reset_job_bookmark(db, "load", first["run"])
        assert jobs.run(orch)["files"] == ["b.csv"]
        assert jobs.run(orch)["files"] == []
    assert [e["Reason"] for e in _history(db, "load")] == ["COMMIT", "COMMIT", "REWIND", "COMMIT", "RESET",
                                                           "COMMIT", "COMMIT"]


def test_a_run_that_commits_then_fails_advances_nothing_and_its_retry_reads_the_same_files(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    jobs = Jobs(db, tmp_path, MaxRetries=1, DefaultArguments={"--then": "fail-once"})
    jobs.write("a.csv"), jobs.write("b.csv")
    with orchestrating(db, settings) as orch:
        first = jobs.start()
        assert jobs.wait(orch, first) == ["FAILED"]
        assert jobs.version() == 0
        retry = wait_for(lambda: [r["Id"] for r in job_runs.get_job_runs(db, "load")["JobRuns"]
                                  if r.get("PreviousRunId") == first], 30, orch, "the retry")[0]  # fmt: skip
        assert jobs.wait(orch, retry) == ["SUCCEEDED"]
    failed, retried = jobs.read(first)[0], jobs.read(retry)[0]
    assert failed["files"] == retried["files"] == ["a.csv", "b.csv"]
    assert "commit" not in failed  # its commit was staged, then dropped by its failure
    entry = jobs.entry()
    assert (entry["Version"], entry["RunId"], entry["Attempt"]) == (1, retry, 1)


@pytest.mark.parametrize("then", ["kill-before-commit", "kill-after-commit"])
def test_a_run_killed_before_or_after_its_commit_advances_nothing(
    db: store.Store, settings: Settings, tmp_path: Path, then: str
) -> None:
    jobs = Jobs(db, tmp_path, DefaultArguments={"--then": then})
    jobs.write("a.csv")
    with orchestrating(db, settings) as orch:
        run_id = jobs.start()
        assert jobs.wait(orch, run_id) == ["FAILED"]
        assert jobs.version() == 0
        assert jobs.run(orch, then="-")["files"] == ["a.csv"]  # the next run reads it again
    assert jobs.version() == 1


def test_a_run_that_times_out_after_its_commit_advances_nothing(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    jobs = Jobs(db, tmp_path, DefaultArguments={"--then": "sleep"})
    jobs.write("a.csv")
    with orchestrating(db, settings) as orch:
        run_id = jobs.start(timeout=3)
        wait_for(lambda: jobs.read(run_id), 30, orch, "the commit")
        assert jobs.wait(orch, run_id) == ["TIMEOUT"]
        assert jobs.version() == 0
        assert jobs.run(orch, then="-")["files"] == ["a.csv"]
    assert jobs.version() == 1


def test_of_two_concurrent_runs_over_one_version_only_one_advances(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    jobs = Jobs(db, tmp_path, ExecutionProperty={"MaxConcurrentRuns": 2},
                DefaultArguments={"--then": f"wait:{gate}"})  # fmt: skip
    jobs.write("a.csv")
    with orchestrating(db, settings) as orch:
        one, two = jobs.start(), jobs.start()
        wait_for(lambda: (gate / one).exists() and (gate / two).exists(), 30, orch, "both runs read")
        (gate / "go").touch()
        states = sorted(jobs.wait(orch, one, two))
    assert states == ["FAILED", "SUCCEEDED"]
    assert [r["files"] for r in jobs.read()] == [["a.csv"], ["a.csv"]]
    assert [r["version"] for r in jobs.read()] == [0, 0]
    loser = one if state(db, one) == "FAILED" else two
    message = job_runs.get_job_run(db, None, loser).get("ErrorMessage", "")
    refused = [r for r in jobs.read() if r.get("commit")]
    # Refused at commit() when the winner had already ended, else failed at its own end.
    assert (refused == [] and "moved from version 0 to 1" in message) or (
        [r["commit"] for r in refused] == ["ConcurrentModificationException"])
    assert jobs.version() == 1 and jobs.entry()["RunId"] != loser


def test_the_safety_band_finds_a_file_that_appears_late_with_an_older_mtime(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    jobs = Jobs(db, tmp_path)
    jobs.write("a.csv", mtime=time.time() - 3600)  # older than the band: under the watermark
    with orchestrating(db, settings) as orch:
        first = jobs.run(orch)
        _, listed_at = _listings(db, first["run"])
        # Written before that listing started but visible only after it (a slow upload).
        jobs.write("late.csv", mtime=(listed_at["orders"] - 1000) / 1000)
        assert jobs.run(orch)["files"] == ["late.csv"]
        assert jobs.run(orch)["files"] == []
    bookmark = json.loads(jobs.entry()["JobBookmark"])["orders"]
    assert "a.csv" not in bookmark["in_band"] and "late.csv" in bookmark["in_band"]


def test_a_rerun_pinned_to_an_earlier_run_reads_what_that_run_listed(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    jobs = Jobs(db, tmp_path, DefaultArguments={"--then": "fail-once"})
    jobs.write("a.csv")
    with orchestrating(db, settings) as orch:
        first = jobs.start()
        assert jobs.wait(orch, first) == ["FAILED"]
        _, listed_at = _listings(db, first)
        jobs.write("b.csv", mtime=listed_at["orders"] / 1000 + 60)  # arrived after that listing
        pinned = jobs.run(orch, **{"job-bookmark-pin": first})
        assert pinned["files"] == ["a.csv"]
        assert jobs.run(orch)["files"] == ["b.csv"]


def test_job_init_outside_an_adhere_run_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.runtime import Job

    monkeypatch.delenv("ADHERE_DB_URL", raising=False)
    monkeypatch.delenv("ADHERE_ENDPOINT", raising=False)
    with pytest.raises(RuntimeError, match="only available to a job run started by adhere"):
        Job().init("load", {"JOB_NAME": "load"})
    with pytest.raises(RuntimeError, match=r"job\.init"):
        Job().files("orders", "/tmp")


# --- S3 ------------------------------------------------------------------------------------------


def test_an_s3_prefix_is_read_by_last_modified(
    db: store.Store, settings: Settings, tmp_path: Path, s3_server: str, s3_bucket: str
) -> None:
    s3 = s3_client(s3_server)
    jobs = Jobs(db, tmp_path, source=f"s3://{s3_bucket}/landing/")
    s3.put_object(Bucket=s3_bucket, Key="landing/a.json", Body=b"{}")
    s3.put_object(Bucket=s3_bucket, Key="landing/day=1/b.json", Body=b"{}")
    s3.put_object(Bucket=s3_bucket, Key="other/c.json", Body=b"{}")
    with orchestrating(db, settings) as orch:
        first = jobs.run(orch)
        assert first["paths"] == [f"s3://{s3_bucket}/landing/a.json", f"s3://{s3_bucket}/landing/day=1/b.json"]
        assert jobs.run(orch)["files"] == []
        s3.put_object(Bucket=s3_bucket, Key="landing/day=2/c.json", Body=b"{}")
        assert jobs.run(orch)["files"] == ["c.json"]
        time.sleep(1.1)  # S3's LastModified has whole seconds: a rewrite must land in a later one
        s3.put_object(Bucket=s3_bucket, Key="landing/a.json", Body=b"{\"v\": 2}")
        assert jobs.run(orch)["files"] == ["a.json"]
    bookmark = json.loads(jobs.entry()["JobBookmark"])["orders"]
    assert bookmark["prefix"] == f"s3://{s3_bucket}/landing"


# --- SQL -----------------------------------------------------------------------------------------


@pytest.fixture
def source_url(db: store.Store, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of the job's own, on the store's backend: a SQLite file or a PostgreSQL
    database, created for the test (and dropped after)."""
    if db.url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'source.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = server.unique_name("src")
    url = server.create(name)
    try:
        yield url
    finally:
        server.drop(name)


def test_sql_rows_are_read_by_their_bookmark_keys(
    db: store.Store, settings: Settings, tmp_path: Path, source_url: str
) -> None:
    import datetime as dt

    engine = sa.create_engine(source_url)
    meta = sa.MetaData()
    customers = sa.Table("customers", meta, sa.Column("id", sa.Integer, primary_key=True),
                         sa.Column("name", sa.String(20)))
    events = sa.Table("events", meta, sa.Column("day", sa.Date, nullable=False),
                      sa.Column("seq", sa.Integer, nullable=False), sa.Column("kind", sa.String(10)))
    meta.create_all(engine)

    def insert(table: sa.Table, *rows: dict[str, Any]) -> None:
        with engine.begin() as conn:
            conn.execute(sa.insert(table), list(rows))

    d1, d2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)
    insert(customers, *({"id": i, "name": f"c{i}"} for i in (3, 1, 2)))
    insert(events, {"day": d1, "seq": 1}, {"day": d1, "seq": 2}, {"day": d2, "seq": 1})
    jobs = Jobs(db, tmp_path, script=READ_ROWS, DefaultArguments={"--sql": source_url})
    try:
        with orchestrating(db, settings) as orch:
            first = jobs.run(orch)
            assert (first["customers"], first["everything"]) == ([1, 2, 3], 3)
            assert first["events"] == [["2024-01-01", 1], ["2024-01-01", 2], ["2024-01-02", 1]]
            # (d1, 3) is behind the bookmark (d2, 1): composite keys compare lexicographically.
            insert(customers, {"id": 5}, {"id": 4})
            insert(events, {"day": d1, "seq": 3}, {"day": d2, "seq": 2}, {"day": dt.date(2024, 1, 3), "seq": 1})
            second = jobs.run(orch)
            assert (second["customers"], second["everything"]) == ([4, 5], 5)
            assert second["events"] == [["2024-01-02", 2], ["2024-01-03", 1]]
            third = jobs.run(orch)
            assert (third["customers"], third["events"]) == ([], [])
    finally:
        engine.dispose()
    bookmark = json.loads(jobs.entry()["JobBookmark"])
    assert bookmark["customers"] == {"kind": "keys", "keys": ["id"], "order": "asc", "last": [5]}
    assert bookmark["events"]["last"] == ["2024-01-03", 1]


@pytest.fixture
def in_process(db: store.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``Job`` in the test's own process, for runs started without a loop and ended by hand
    (as an engine would report them): ``start(**arguments)``, ``end(run_id)``."""
    from orchestrator import job_run, runtime_bookmarks
    from orchestrator.states import JobRunState

    (tmp_path / "noop.py").write_text("pass\n")
    apply(db, tmp_path, Jobs=[job("inline", "noop.py", DefaultArguments={OPTION: ENABLE},
                                  ExecutionProperty={"MaxConcurrentRuns": 5})])  # fmt: skip
    monkeypatch.setenv("ADHERE_DB_URL", db.url)

    class Runs:
        @staticmethod
        def start(**arguments: str) -> str:
            return job_runs.start_job_run(db, "inline", arguments={f"--{k}": v for k, v in arguments.items()})

        @staticmethod
        def end(run_id: str) -> None:
            with db.transaction() as tx:
                store.job_runs.set_state(tx, run_id, JobRunState.RUNNING.value, expect=[JobRunState.STARTING.value])
                run = store.job_runs.get(tx, run_id)
                assert run is not None
                ended, _ = job_run.complete(tx, run, JobRunState.SUCCEEDED)
            assert ended is not None and ended.state == "SUCCEEDED", ended

    yield Runs
    for key in [k for k in runtime_bookmarks._connections if k[1] == f"store:{db.url}"]:
        runtime_bookmarks._connections.pop(key).close()


def test_rows_in_descending_order_windows_and_refusals(
    db: store.Store, in_process: Any, source_url: str, tmp_path: Path
) -> None:
    from orchestrator.runtime import Job

    engine = sa.create_engine(source_url)
    meta = sa.MetaData()
    ticks = sa.Table("Ticks", meta, sa.Column("seq", sa.Integer, primary_key=True), sa.Column("v", sa.String(5)))
    meta.create_all(engine)

    def insert(*seqs: int) -> None:
        with engine.begin() as conn:
            conn.execute(sa.insert(ticks), [{"seq": s, "v": str(s)} for s in seqs])

    def read(run_id: str, ctx: str | None = "ticks") -> list[int]:
        job = Job().init("inline", {"JOB_RUN_ID": run_id})
        with engine.connect() as conn:  # a Connection of the job's: used as it is
            got = [r["seq"] for r in job.rows(ctx, conn, "Ticks", keys="seq", order="DESC")]
        job.commit()
        return got

    try:
        insert(3, 5, 4)
        first = in_process.start()
        assert read(first) == [5, 4, 3]
        in_process.end(first)
        insert(2, 6, 1)  # 6 is behind a descending bookmark at 3: never read
        second = in_process.start()
        assert read(second) == [2, 1]
        in_process.end(second)
        assert read(in_process.start()) == []
        assert read(in_process.start(), ctx=None) == [6, 5, 4, 3, 2, 1]
        window = {"job-bookmark-option": PAUSE, "job-bookmark-from": first, "job-bookmark-to": second}
        assert read(in_process.start(**window)) == [2, 1]
        window["job-bookmark-from"] = second
        assert read(in_process.start(**window)) == []
        assert bookmarks.get_job_bookmark(db, "inline")["JobBookmarkEntry"]["Version"] == 2

        job = Job().init("inline", {"JOB_RUN_ID": in_process.start()})
        assert (job.mode, job.version) == (ENABLE, 2)
        with pytest.raises(errors.InvalidInputException, match="does not exist"):
            job.rows("t", source_url, "nope")
        with pytest.raises(errors.InvalidInputException, match="has no column id"):
            job.rows("t", source_url, "Ticks", keys=["id"])
        with pytest.raises(errors.InvalidInputException, match="jobBookmarkKeysSortOrder"):
            job.rows("t", source_url, "Ticks", order="sideways")
        # A new ctx reads everything, by the primary key when no keys are given.
        assert [r["seq"] for r in job.rows("t", source_url, "Ticks")] == [1, 2, 3, 4, 5, 6]
    finally:
        engine.dispose()


def test_one_transformation_ctx_names_one_source(db: store.Store, in_process: Any, tmp_path: Path) -> None:
    from orchestrator.runtime import Job

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("x")
    run_id = in_process.start()
    job = Job().init("inline", {"JOB_RUN_ID": run_id})
    assert [Path(p).name for p in job.files("orders", f"file://{tmp_path / 'data'}/")] == ["a.csv"]
    with pytest.raises(errors.InvalidInputException, match="already names a 'files' source"):
        job.partitions("orders", "raw", "sales")
    job.commit()
    in_process.end(run_id)
    later = Job().init("inline", {"JOB_RUN_ID": in_process.start()})
    with pytest.raises(errors.InvalidInputException, match="holds a 'files' bookmark, not a 'partitions' one"):
        later.partitions("orders", "raw", "sales")
    assert later.files("orders", str(tmp_path / "data")) == []  # file://.../ and the path are one source
    with pytest.raises(errors.EntityNotFoundException):
        Job().init("load", {"JOB_RUN_ID": run_id})  # not a run of that job
    paused = Job().init("inline", {"JOB_RUN_ID": in_process.start(**{"job-bookmark-option": PAUSE})})
    assert paused.files("orders", str(tmp_path / "data")) == []
    paused.commit()  # records nothing
    assert bookmarks.get_job_bookmark(db, "inline")["JobBookmarkEntry"]["Version"] == 1


# --- Data Catalog partitions ---------------------------------------------------------------------


def test_catalog_partitions_are_read_once_each(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    root = (tmp_path / "data").as_uri()

    def add(*values: tuple[str, str]) -> None:
        partitions.batch_create_partition(db, settings, "raw", "sales", [
            {"Values": list(v), "StorageDescriptor": {"Location": f"{root}/sales/region={v[0]}/day={v[1]}/"}}
            for v in values])  # fmt: skip

    databases.create_database(db, settings, {"Name": "raw"})
    tables.create_table(db, settings, "raw", {
        "Name": "sales", "PartitionKeys": [{"Name": "region", "Type": "string"}, {"Name": "day", "Type": "string"}],
        "Parameters": {"classification": "json"},
        "StorageDescriptor": {"Columns": [{"Name": "amount", "Type": "double"}], "Location": f"{root}/sales/"}})
    add(("us", "1"), ("eu", "1"))
    jobs = Jobs(db, tmp_path, script=READ_PARTITIONS)
    with orchestrating(db, settings) as orch:
        first = jobs.run(orch)
        assert first["new"] == [[["eu", "1"], f"{root}/sales/region=eu/day=1/"],
                                [["us", "1"], f"{root}/sales/region=us/day=1/"]]
        assert first["pruned"] == [["eu", "1"]]
        add(("us", "2"))
        second = jobs.run(orch)
        assert (second["new"], second["pruned"]) == ([[["us", "2"], f"{root}/sales/region=us/day=2/"]], [])
        add(("eu", "2"))
        third = jobs.run(orch)
        assert ([v for v, _ in third["new"]], third["pruned"]) == ([["eu", "2"]], [["eu", "2"]])
        assert jobs.run(orch)["new"] == []
    bookmark = json.loads(jobs.entry()["JobBookmark"])
    assert bookmark["eu"] == {"kind": "partitions", "table": "raw.sales", "seen": [["eu", "1"], ["eu", "2"]]}


# --- through a serve -----------------------------------------------------------------------------

THROUGH_SERVE = """\
import json, os, sys
from orchestrator.runtime import Job, getResolvedOptions
args = getResolvedOptions(sys.argv, ["JOB_NAME", "JOB_RUN_ID", "source", "out"])
job = Job()
job.init(args["JOB_NAME"], args)
got = {"run": args["JOB_RUN_ID"], "files": [os.path.basename(p) for p in job.files("orders", args["source"])],
       "endpoint": bool(os.environ.get("ADHERE_ENDPOINT")), "db_url": bool(os.environ.get("ADHERE_DB_URL"))}
job.commit()
with open(args["out"], "a") as out:
    out.write(json.dumps(got) + "\\n")
"""


def test_a_job_started_by_a_serve_keeps_its_bookmark_through_the_endpoint(served: Served) -> None:
    folder = served.folder / "through-serve"
    data = folder / "data"
    data.mkdir(parents=True)
    (data / "a.csv").write_text("x")
    out = folder / "out.jsonl"
    (folder / "read.py").write_text(THROUGH_SERVE)
    apply(served.db, folder, Jobs=[job("through_serve", "read.py", DefaultArguments={
        OPTION: ENABLE, "--source": str(data), "--out": str(out)})])  # fmt: skip
    glue = served.client()

    def run() -> dict[str, Any]:
        run_id = glue.start_job_run(JobName="through_serve")["JobRunId"]
        ended = served_wait_for(lambda: (r := glue.get_job_run(JobName="through_serve", RunId=run_id)["JobRun"])
                                ["JobRunState"] in ("SUCCEEDED", "FAILED", "ERROR", "TIMEOUT") and r)  # fmt: skip
        assert ended["JobRunState"] == "SUCCEEDED", ended
        return next(r for r in map(json.loads, out.read_text().splitlines()) if r["run"] == run_id)

    first = run()
    assert (first["files"], first["endpoint"], first["db_url"]) == (["a.csv"], True, False)
    (data / "b.csv").write_text("x")
    assert run()["files"] == ["b.csv"]
    assert run()["files"] == []
    entry = glue.get_job_bookmark(JobName="through_serve")["JobBookmarkEntry"]
    assert entry["Version"] == 3 and json.loads(entry["JobBookmark"])["orders"]["prefix"] == str(data)
