"""Scripts on ``s3://`` (and ``--extra-*`` files there) run on every engine, through a moto
server; script roots are enforced when a run starts (orchestrator/scripts.py, the dispatcher).

A fetched object is cached under the project home and revalidated by ETag on each start: a
second run downloads nothing, a changed object is picked up, and an unreachable one fails the
run with its URL and the reason.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest
from driving import apply, is_final, job, orchestrating, wait_for
from integration.s3_fixtures import s3_client
from integration.store_fixtures import skip_or_fail

from orchestrator import errors, runner, scripts, store
from orchestrator.service import job_runs
from orchestrator.settings import Settings

HELLO = """\
import sys
print("hello from", __file__.rsplit("/", 1)[-1], "version 1")
"""


class Bucket:
    """A moto bucket and what tests put in it."""

    def __init__(self, endpoint: str, name: str) -> None:
        self.name = name
        self.client = s3_client(endpoint)

    def put(self, key: str, body: str) -> str:
        self.client.put_object(Bucket=self.name, Key=key, Body=textwrap.dedent(body).encode())
        return f"s3://{self.name}/{key}"


@pytest.fixture
def bucket(s3_server: str, s3_bucket: str) -> Bucket:
    return Bucket(s3_server, s3_bucket)


def run_job(db: store.Store, orch: runner.Orchestrator, name: str, timeout: float = 20) -> dict[str, Any]:
    """Start ``name`` and wait for its end: GetJobRun."""
    run_id = job_runs.start_job_run(db, name)
    orch.wake()
    wait_for(lambda: is_final(db, run_id), timeout, orch, f"{name} run {run_id} final")
    return job_runs.get_job_run(db, name, run_id)


def output(db: store.Store, settings: Settings, run: dict[str, Any]) -> str:
    return "\n".join(job_runs.get_job_run_logs(db, settings, run["Id"]))


def cached(settings: Settings, url: str) -> Path:
    """Where the cache keeps ``url`` (found, not computed: the layout is the cache's business)."""
    name = url.rpartition("/")[2]
    bucket = url.removeprefix("s3://").partition("/")[0]
    found = list((settings.home / "scripts" / "s3" / bucket).glob(f"*/{name}"))
    assert len(found) == 1, found
    return found[0]


# --- python shell --------------------------------------------------------------------------------


def test_a_python_shell_job_from_s3_runs_and_prints(
    db: store.Store, settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    url = bucket.put("jobs/hello.py", HELLO)
    apply(db, tmp_path, Jobs=[job("hello", url)])
    with orchestrating(db, settings) as orch:
        run = run_job(db, orch, "hello")
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    assert "hello from hello.py version 1" in output(db, settings, run)
    assert cached(settings, url).is_relative_to(settings.home / "scripts")


def test_an_unchanged_object_is_not_downloaded_again_and_a_changed_one_is_picked_up(
    db: store.Store, settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    url = bucket.put("jobs/hello.py", HELLO)
    apply(db, tmp_path, Jobs=[job("hello", url)])
    with orchestrating(db, settings) as orch:
        first = run_job(db, orch, "hello")
        assert orch.dispatcher.scripts.downloads == 1
    copy = cached(settings, url)
    stamp = copy.stat().st_mtime_ns

    # A new orchestrator (a restart): the cache and its ETag survive; S3 answers 304.
    with orchestrating(db, settings) as orch:
        second = run_job(db, orch, "hello")
        assert orch.dispatcher.scripts.downloads == 0
        assert copy.stat().st_mtime_ns == stamp

        bucket.put("jobs/hello.py", HELLO.replace("version 1", "version 2"))
        third = run_job(db, orch, "hello")
        assert orch.dispatcher.scripts.downloads == 1
    assert [r["JobRunState"] for r in (first, second, third)] == ["SUCCEEDED"] * 3
    assert "version 1" in output(db, settings, second)
    assert "version 2" in output(db, settings, third)
    assert copy.stat().st_mtime_ns != stamp


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("key", "NoSuchKey: The specified key does not exist."),
        ("bucket", "NoSuchBucket: The specified bucket does not exist"),
    ],
)
def test_a_missing_object_fails_the_run_with_its_url_and_the_reason(
    db: store.Store, settings: Settings, bucket: Bucket, tmp_path: Path, where: str, reason: str
) -> None:
    url = f"s3://{bucket.name}/jobs/nope.py" if where == "key" else "s3://adhere-no-such-bucket/jobs/x.py"
    apply(db, tmp_path, Jobs=[job("missing", url)])
    with orchestrating(db, settings) as orch:
        run = run_job(db, orch, "missing")
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == f"cannot fetch {url}: {reason}"


def test_an_unreachable_endpoint_fails_the_run_with_the_url(
    db: store.Store, settings: Settings, s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    apply(db, tmp_path, Jobs=[job("down", "s3://adhere-bucket/jobs/x.py")])
    with orchestrating(db, settings) as orch:
        run = run_job(db, orch, "down", timeout=60)
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"].startswith("cannot fetch s3://adhere-bucket/jobs/x.py: Could not connect")
    assert f"127.0.0.1:{port}" in run["ErrorMessage"]


def test_runs_being_fetched_hold_their_process_slots(
    db: store.Store, settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    """With one process per engine, two S3 jobs started together both run (one after the other)."""
    url = bucket.put("jobs/hello.py", HELLO)
    apply(db, tmp_path, Jobs=[job("one", url), job("two", url)])
    with orchestrating(db, settings.replace(max_processes=1)) as orch:
        run_ids = [job_runs.start_job_run(db, name) for name in ("one", "two")]
        orch.wake()
        for run_id in run_ids:
            wait_for(lambda run_id=run_id: is_final(db, run_id), 20, orch, f"{run_id} final")
    assert [job_runs.get_job_run(db, None, r)["JobRunState"] for r in run_ids] == ["SUCCEEDED"] * 2


def test_a_fetch_that_hangs_does_not_hold_up_other_runs(
    db: store.Store, settings: Settings, s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop never waits for S3: a local job starts and ends while a fetch gets no answer."""
    with socket.socket() as silent:  # accepts connections (in its backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{silent.getsockname()[1]}")
        (tmp_path / "local.py").write_text("print('local')\n")
        apply(db, tmp_path, Jobs=[job("stuck", "s3://adhere-bucket/jobs/x.py"), job("local", "local.py")])
        with orchestrating(db, settings) as orch:
            stuck = job_runs.start_job_run(db, "stuck")
            orch.wake()
            wait_for(lambda: stuck in orch.dispatcher._fetching, 10, orch, "the fetch under way")
            local = run_job(db, orch, "local")
            assert local["JobRunState"] == "SUCCEEDED"
            assert job_runs.get_job_run(db, None, stuck)["JobRunState"] == "STARTING"


def test_extra_files_from_s3_are_local_to_the_job(
    db: store.Store, settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    """--extra-py-files are importable; an --extra-files entry is a local path in the job's argv."""
    bucket.put("libs/helper.py", "def greet():\n    return 'hi from helper'\n")
    bucket.put("conf/app.json", '{"colour": "green"}')
    url = bucket.put("jobs/main.py", """\
        import json, sys
        import helper
        args = sys.argv[1:]
        conf = args[args.index("--extra-files") + 1]
        print(helper.greet(), json.load(open(conf))["colour"])
    """)
    apply(db, tmp_path, Jobs=[job("main", url, DefaultArguments={
        "--extra-py-files": f"s3://{bucket.name}/libs/helper.py",
        "--extra-files": f"s3://{bucket.name}/conf/app.json"})])  # fmt: skip
    with orchestrating(db, settings) as orch:
        run = run_job(db, orch, "main")
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    assert "hi from helper green" in output(db, settings, run)


def test_a_cached_fetch_asks_s3_once_and_writes_nothing(bucket: Bucket, tmp_path: Path) -> None:
    url = bucket.put("jobs/a.py", "print(1)\n")
    cache = scripts.Cache(tmp_path / "scripts")
    path = cache.fetch(url)
    stamp = path.stat().st_mtime_ns
    for _ in range(3):
        assert scripts.materialise(url, cache) == path
    assert cache.downloads == 1
    assert path.stat().st_mtime_ns == stamp
    assert path.read_text() == "print(1)\n"
    # A copy removed behind the cache's back is fetched again, whatever the ETag file says.
    path.unlink()
    assert cache.fetch(url).read_text() == "print(1)\n"
    assert cache.downloads == 2


def test_objects_with_the_same_file_name_do_not_share_a_copy(bucket: Bucket, tmp_path: Path) -> None:
    cache = scripts.Cache(tmp_path / "scripts")
    a = cache.fetch(bucket.put("a/job.py", "print('a')\n"))
    b = cache.fetch(bucket.put("b/job.py", "print('b')\n"))
    assert a != b and a.name == b.name == "job.py"
    assert (a.read_text(), b.read_text()) == ("print('a')\n", "print('b')\n")


# --- script roots at run start -------------------------------------------------------------------


def test_script_roots_are_enforced_when_a_run_starts(
    db: store.Store, settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    """Jobs stored before the roots were set: runs outside them fail; inside and s3:// run."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    for folder in (root, outside):
        (folder / "job.py").write_text("print('ran', __file__)\n")
    (root / "escape.py").symlink_to(outside / "job.py")
    apply(db, tmp_path, Jobs=[
        job("inside", "root/job.py"),
        job("dotdot", f"{root}/../outside/job.py"),  # absolute: the loader keeps it as written
        job("symlink", "root/escape.py"),
        job("extra", "root/job.py", DefaultArguments={"--extra-py-files": "../outside/job.py"}),
        job("remote", bucket.put("jobs/hello.py", HELLO)),
    ])  # fmt: skip
    with orchestrating(db, settings.replace(script_roots=(root,))) as orch:
        ended = {name: run_job(db, orch, name) for name in ("inside", "dotdot", "symlink", "extra", "remote")}
    states = {name: run["JobRunState"] for name, run in ended.items()}
    assert states == {"inside": "SUCCEEDED", "dotdot": "FAILED", "symlink": "FAILED", "extra": "FAILED",
                      "remote": "SUCCEEDED"}, {n: r.get("ErrorMessage") for n, r in ended.items()}  # fmt: skip
    real = root.resolve()
    assert ended["dotdot"]["ErrorMessage"] == (
        f"ScriptLocation {root}/../outside/job.py is outside the script roots ({real})"
        f" (it resolves to {(outside / 'job.py').resolve()})"
    )
    assert ended["symlink"]["ErrorMessage"].startswith(f"ScriptLocation {root / 'escape.py'} is outside")
    assert ended["extra"]["ErrorMessage"].startswith("--extra-py-files ../outside/job.py is outside the script roots")


def test_materialise_names_what_is_wrong(tmp_path: Path) -> None:
    cache = scripts.Cache(tmp_path / "scripts")
    with pytest.raises(errors.EngineError, match="not an S3 object URL"):
        scripts.materialise("s3://bucket/folder/", cache)
    (tmp_path / "root").mkdir()
    with pytest.raises(errors.EngineError, match="is outside the script roots"):
        scripts.materialise(str(tmp_path / "x.py"), cache, roots=(tmp_path / "root",))
    assert scripts.materialise(f"file://{tmp_path}/root/../x.py", cache) == tmp_path / "x.py"


# --- another engine ------------------------------------------------------------------------------


@pytest.mark.spark
@pytest.mark.slow
def test_a_spark_job_from_s3_runs_with_its_extra_py_files(
    db: store.Store, settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    if importlib.util.find_spec("pyspark") is None or shutil.which("java") is None:
        skip_or_fail("the Spark engine needs pyspark and Java")
    bucket.put("libs/helper.py", "def greet():\n    return 'hi from helper'\n")
    url = bucket.put("jobs/etl.py", """\
        import helper
        print("spark script from s3:", helper.greet())
    """)
    apply(db, tmp_path, Jobs=[{"Name": "etl", "Command": {"Name": "glueetl", "ScriptLocation": url},
                               "DefaultArguments": {"--extra-py-files": f"s3://{bucket.name}/libs/helper.py"}}])  # fmt: skip
    with orchestrating(db, settings) as orch:
        run = run_job(db, orch, "etl", timeout=120)
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    assert "spark script from s3: hi from helper" in output(db, settings, run)
