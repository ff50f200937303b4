"""The Spark engine: argv building (pure), the Java check, and real runs in submit and warm mode.

Real runs need PySpark and Java 17; they are skipped with a reason when either is missing,
unless ADHERE_REQUIRE_SERVICES=1 (CI), where a missing one fails.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engines import base, process, spark, spark_connect
from orchestrator import errors, states

pytestmark = pytest.mark.spark
J = states.JobRunState


def _spark_problem() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed"
    try:
        spark.SparkEngine(Path("/nonexistent")).check()
    except errors.EngineError as exc:
        return exc.message
    return None


@pytest.fixture(scope="session")
def needs_spark() -> None:
    problem = _spark_problem()
    if problem:
        if os.environ.get("ADHERE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Spark is required (ADHERE_REQUIRE_SERVICES=1): {problem}")
        pytest.skip(f"Spark unavailable: {problem}")


def _request(tmp: Path, name: str, body: str, **arguments: str) -> base.RunRequest:
    script = tmp / f"{name}.py"
    script.write_text(body)
    return base.RunRequest(
        job_run_id=f"jr_{name}",
        job_name=name,
        script=str(script),
        arguments={"--JOB_NAME": name, **arguments},
        run_dir=tmp / "runs" / name,
    )


def _wait(engine: spark.SparkEngine, run_id: str, timeout: float = 120) -> base.EngineStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = engine.poll(run_id)
        if status.state in states.JOB_RUN_TERMINAL:
            return status
        time.sleep(0.1)
    raise AssertionError(f"{run_id} still running after {timeout} s")


def _wait_for_line(engine: spark.SparkEngine, run_id: str, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in engine.logs(run_id)):
        assert time.monotonic() < deadline, list(engine.logs(run_id))[-20:]
        assert engine.poll(run_id).state is J.RUNNING, list(engine.logs(run_id))[-20:]
        time.sleep(0.1)


def _processes_with(marker: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


def _gone(marker: str, timeout: float = 20) -> list[str]:
    """Processes whose command line holds ``marker``, after waiting up to ``timeout`` for none."""
    deadline = time.monotonic() + timeout
    while (left := _processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


# -- pure: argv building, version parsing, error lines -------------------------------------------


def test_parse_conf_chains_are_split_as_data() -> None:
    value = "spark.a=1 --conf spark.b=x y --conf spark.driver.extraJavaOptions=-Da=1 -Db=$(id)"
    assert spark.parse_conf(value) == [
        ("spark.a", "1"),
        ("spark.b", "x y"),
        ("spark.driver.extraJavaOptions", "-Da=1 -Db=$(id)"),
    ]
    assert spark.parse_conf("--conf spark.a=b=c") == [("spark.a", "b=c")]
    assert spark.parse_conf("") == []
    for bad in ("spark.a", "spark a=1", "=1", "spark.a=1 --conf ;rm=1"):
        with pytest.raises(errors.EngineError, match="bad --conf entry"):
            spark.parse_conf(bad)


def test_submit_argv_maps_glue_arguments(tmp_path: Path) -> None:
    request = base.RunRequest(
        job_run_id="jr_1",
        job_name="etl",
        script="/jobs/etl.py",
        arguments={
            "--JOB_NAME": "etl",
            "--conf": "spark.sql.shuffle.partitions=4 --conf spark.driver.extraJavaOptions=-Dx=1",
            "--extra-py-files": "/lib/a.py, /lib/b.zip",
            "--extra-files": "/conf/app.json",
            "--extra-jars": "/jars/x.jar",
            "day": "2024-01-01",
        },
    )
    argv = spark.submit_argv(
        "/spark/bin/spark-submit", "local[2]", "/jobs/etl.py", request, tmp_path
    )
    script_at = argv.index("/jobs/etl.py")
    head, tail = argv[: script_at - 1], argv[script_at + 1 :]
    assert argv[script_at - 1] == str(process.BOOT_SCRIPT)  # records the exit status
    assert head[:3] == ["/spark/bin/spark-submit", "--master", "local[2]"]
    assert head[3:7] == ["--deploy-mode", "client", "--name", "etl"]
    confs = [head[i + 1] for i, a in enumerate(head) if a == "--conf"]
    assert "spark.sql.shuffle.partitions=4" in confs
    assert f"spark.driver.extraJavaOptions=-Djava.io.tmpdir={tmp_path} -Dx=1" in confs
    assert "spark.ui.enabled=false" in confs
    assert head[head.index("--py-files") + 1] == "/lib/a.py,/lib/b.zip"
    assert head[head.index("--files") + 1] == "/conf/app.json"
    assert head[head.index("--jars") + 1] == "/jars/x.jar"
    # The script sees every Glue argument, as on Glue.
    assert tail == request.argv()
    assert tail[tail.index("--day") + 1] == "2024-01-01"

    remote = spark.submit_argv("spark-submit", "spark://h:7077", "/j.py", request, tmp_path)
    assert remote[1:3] == ["--master", "spark://h:7077"]
    ui = base.RunRequest("jr", "j", "/j.py", arguments={"--enable-spark-ui": "true"})
    assert "spark.ui.enabled=false" not in spark.submit_argv("s", "yarn", "/j.py", ui, tmp_path)


def test_runs_warm_only_without_jvm_arguments() -> None:
    assert not spark.runs_warm("submit", None, {})
    assert spark.runs_warm("connect", None, {"--JOB_NAME": "j"})
    assert not spark.runs_warm("connect", None, {"--conf": "spark.a=1"})
    assert not spark.runs_warm("connect", None, {"extra-jars": "/x.jar"})
    assert spark.runs_warm("submit", "sc://h:15002", {"--conf": "spark.a=1"})
    assert spark_connect.with_session("sc://h:1", "S") == "sc://h:1/;session_id=S"
    assert spark_connect.with_session("sc://h:1/;token=t", "S") == "sc://h:1/;token=t;session_id=S"


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "11.0.2" 2019-01-15', 11),
        ('openjdk version "21" 2023-09-19', 21),
        ("garbage", None),
    ],
)
def test_java_major(output: str, major: int | None) -> None:
    assert spark.java_major(output) == major


def test_java_problem() -> None:
    assert spark.java_problem("4.3.0", 17) is None
    assert spark.java_problem("4.3.0", 21) is None
    assert spark.java_problem("4.3.0", 11) == "Spark 4.3.0 needs Java 17 or newer, found Java 11"
    assert spark.java_problem("3.5.1", 11) is None
    assert spark.java_problem("3.5.1", 21) == "Spark 3.5.1 needs Java 8, 11 or 17, found Java 21"


def test_check_reports_old_or_missing_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is not installed")
    fake = tmp_path / "jdk" / "bin" / "java"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    with pytest.raises(errors.EngineError, match=r"needs Java 17 or newer, found Java 11 \("):
        spark.SparkEngine(tmp_path / "home").check()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nojdk"))
    with pytest.raises(errors.EngineError, match=r"needs Java: cannot run .*nojdk/bin/java"):
        spark.SparkEngine(tmp_path / "home").check()
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(errors.EngineError, match="no java on PATH and JAVA_HOME is not set"):
        spark.SparkEngine(tmp_path / "home").check()


def test_missing_pyspark_is_engine_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a)
    )
    with pytest.raises(errors.EngineNotInstalled, match=r"pip install 'adhere\[spark\]'"):
        spark.SparkEngine(tmp_path).check()


def test_python_error_line_skips_spark_logs() -> None:
    text = "\n".join(
        [
            "26/01/01 INFO SparkContext: Running Spark",
            "Traceback (most recent call last):",
            '  File "job.py", line 3, in <module>',
            "    raise ValueError('boom')",
            "ValueError: boom",
            "26/01/01 INFO SparkContext: Successfully stopped SparkContext",
        ]
    )
    assert spark.python_error_line(text) == "ValueError: boom"
    assert spark.python_error_line("Error: Unrecognized option: --bad\nUsage: x") == (
        "Error: Unrecognized option: --bad"
    )
    assert spark.python_error_line("INFO only") is None


def test_bad_run_id(tmp_path: Path) -> None:
    with pytest.raises(errors.EngineError, match="not a Spark engine run id"):
        spark.SparkEngine(tmp_path).poll("123:456:/x")


# -- submit mode: one spark-submit per run (~8-17 s each) ----------------------------------------


@pytest.fixture
def submit_engine(
    needs_spark: None, tmp_path: Path
) -> Iterator[tuple[spark.SparkEngine, queue.Queue[str]]]:
    engine = spark.SparkEngine(tmp_path / "home", {"spark_local_cores": "2"})
    pushed: queue.Queue[str] = queue.Queue()
    engine.set_listener(pushed.put)
    yield engine, pushed
    engine.close()


DATAFRAME_JOB = """
import sys
from pyspark.sql import SparkSession
print("args", sys.argv[1:], flush=True)
spark = SparkSession.builder.getOrCreate()
print("total", spark.range(10).groupBy().sum("id").first()[0], flush=True)
"""


def test_submit_success_logs_and_pushes(submit_engine, tmp_path: Path) -> None:
    engine, pushed = submit_engine
    request = _request(tmp_path, "ok", DATAFRAME_JOB, **{"--day": "mon", "--conf": "spark.a.b=1"})
    run_id = engine.submit(request)
    engine.follow(request.job_run_id, run_id)
    assert run_id.startswith("submit:")
    assert pushed.get(timeout=120) == request.job_run_id  # the end is pushed, not found by polling
    assert engine.poll(run_id) == base.EngineStatus(J.SUCCEEDED, exit_code=0)
    out = list(engine.logs(run_id))
    assert "total 45" in out
    assert any("'--day', 'mon'" in line and "'--conf', 'spark.a.b=1'" in line for line in out)
    key = run_id.split(":")[1]
    assert not (engine.home / "tmp" / key).exists()  # the run's temp folder is removed


def test_submit_failure_reports_the_python_error(submit_engine, tmp_path: Path) -> None:
    body = DATAFRAME_JOB + "raise ValueError('no rows for ' + sys.argv[2])\n"
    run_id = submit_engine[0].submit(_request(tmp_path, "bad", body))
    status = _wait(submit_engine[0], run_id)
    assert status.state is J.FAILED
    assert status.error_message == "ValueError: no rows for bad"
    assert status.exit_code not in (None, 0)


def test_submit_cancel_leaves_no_jvm(submit_engine, tmp_path: Path) -> None:
    engine, pushed = submit_engine
    body = DATAFRAME_JOB + "print('working', flush=True)\nimport time\ntime.sleep(300)\n"
    before = set(Path("/tmp").glob("spark-*")) | set(Path("/tmp").glob("blockmgr-*"))
    run_id = engine.submit(_request(tmp_path, "slow", body))
    engine.follow("jr_slow", run_id)
    key = run_id.split(":")[1]
    _wait_for_line(engine, run_id, "working")
    assert any("java" in line for line in _processes_with(key))  # our JVM carries the marker
    engine.cancel(run_id, grace=1.0)
    assert pushed.get(timeout=30) == "jr_slow"
    assert engine.poll(run_id).state is J.STOPPED
    assert _gone(key, timeout=5) == []
    after = set(Path("/tmp").glob("spark-*")) | set(Path("/tmp").glob("blockmgr-*"))
    assert after <= before


# -- warm mode: one Connect server for the session ------------------------------------------------


@pytest.fixture(scope="session")
def warm_home(needs_spark: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("spark_warm")
    engine = spark.SparkEngine(home, {"spark_mode": "connect", "spark_connect_idle_timeout": "12"})
    engine.start_connect_server()
    state = engine.server.state()
    assert state is not None
    yield home
    engine.stop_connect_server(grace=5)
    engine.close()
    assert _gone(str(home)) == []  # supervisor and JVM are gone


@pytest.fixture
def warm_engine(warm_home: Path) -> Iterator[tuple[spark.SparkEngine, queue.Queue[str]]]:
    engine = spark.SparkEngine(warm_home, {"spark_mode": "connect"})
    pushed: queue.Queue[str] = queue.Queue()
    engine.set_listener(pushed.put)
    yield engine, pushed
    engine.close()


def test_warm_jobs_run_fast_and_fail_clearly(warm_engine, tmp_path: Path) -> None:
    engine, pushed = warm_engine
    for i in range(2):
        started = time.monotonic()
        run_id = engine.submit(_request(tmp_path, f"warm{i}", DATAFRAME_JOB))
        engine.follow(f"jr_warm{i}", run_id)
        assert run_id.startswith("connect:")
        assert pushed.get(timeout=60) == f"jr_warm{i}"
        elapsed = time.monotonic() - started
        assert engine.poll(run_id).state is J.SUCCEEDED, list(engine.logs(run_id))[-20:]
        assert "total 45" in list(engine.logs(run_id))
        assert elapsed < 10, elapsed  # ~1.5 s here; a cold spark-submit takes 8-17 s
    body = DATAFRAME_JOB + "spark.sql('select * from no_such_table').show()\n"
    status = _wait(engine, engine.submit(_request(tmp_path, "warmbad", body)))
    assert status.state is J.FAILED
    assert status.error_message is not None
    assert status.error_message.startswith("pyspark.errors.exceptions.connect.AnalysisException:")
    assert "no_such_table" in status.error_message


def test_warm_cancel_interrupts_the_session(warm_engine, tmp_path: Path) -> None:
    engine, pushed = warm_engine
    body = DATAFRAME_JOB + (
        "print('working', flush=True)\nspark.range(10**13).selectExpr('sum(id % 7)').collect()\n"
    )
    run_id = engine.submit(_request(tmp_path, "warmslow", body))
    engine.follow("jr_warmslow", run_id)
    _wait_for_line(engine, run_id, "working")
    time.sleep(1.0)  # let the query reach the server
    engine.cancel(run_id, grace=2.0)
    assert pushed.get(timeout=30) == "jr_warmslow"
    assert engine.poll(run_id).state is J.STOPPED
    # The helper interrupted the run's server-side operation (its id is printed).
    log = Path(run_id.split(":", 4)[4]) / "interrupt" / process.STDOUT
    deadline = time.monotonic() + 30
    while "interrupted: ['" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log"
        time.sleep(0.2)


def test_warm_run_is_adopted_by_a_new_engine(warm_home: Path, tmp_path: Path) -> None:
    first = spark.SparkEngine(warm_home, {"spark_mode": "connect"})
    server_before = first.server.state()
    body = DATAFRAME_JOB + "import time\ntime.sleep(3)\n"
    run_id = first.submit(_request(tmp_path, "adopt", body))
    first.close()  # the "restart": the run keeps going
    second = spark.SparkEngine(warm_home, {"spark_mode": "connect"})
    pushed: queue.Queue[str] = queue.Queue()
    second.set_listener(pushed.put)
    try:
        assert second.poll(run_id).state is J.RUNNING
        second.follow("jr_adopt", run_id)
        assert pushed.get(timeout=60) == "jr_adopt"
        assert second.poll(run_id).state is J.SUCCEEDED
        after = second.server.state()
        assert server_before is not None and after is not None
        assert after["run_id"] == server_before["run_id"]  # the same server, not a second one
    finally:
        second.close()


def test_idle_server_stops_itself(warm_home: Path) -> None:
    """Last warm test: with no client and no submit for 12 s, the supervisor stops the server."""
    engine = spark.SparkEngine(warm_home, {"spark_mode": "connect"})
    state = engine.server.state()
    assert state is not None
    deadline = time.monotonic() + 60
    while engine.server.state() is not None:
        assert time.monotonic() < deadline, "the idle server is still up"
        time.sleep(0.5)
    assert not (warm_home / "connect.json").exists()
    assert _gone(str(warm_home)) == []
    engine.close()
