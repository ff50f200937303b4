"""The engine contract: one suite, run on every engine (STYLE practice 12).

An engine joins by adding a param to ``ENGINES`` (and options/time to the tables beside it).
Then come the parts only local processes have (the lost run, _boot.py's fidelity) and the
registry, with a third-party engine registered through the ``adhere.engines`` entry point.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engines import base, process, registry
from orchestrator import errors, states

J = states.JobRunState
REQUIRE_SERVICES = os.environ.get("ADHERE_REQUIRE_SERVICES") == "1"

ENGINES = [
    pytest.param("pythonshell"),
    pytest.param("glueray", marks=pytest.mark.ray),
    pytest.param("glueetl", marks=pytest.mark.spark),
]
OPTIONS: dict[str, dict[str, str]] = {"pythonshell": {}, "glueray": {}, "glueetl": {}}
# Seconds a trivial job may take from submit to its end.
TIMEOUT = {"pythonshell": 10.0, "glueray": 90.0, "glueetl": 120.0}

MakeEngine = Callable[[], base.Engine]


@pytest.fixture(scope="session")
def ray_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One home, so one warm Ray head, for the session (test_ray_engine.py shares the path)."""
    home = tmp_path_factory.getbasetemp() / "glueray"
    yield home
    from engines import ray_cluster

    ray_cluster.LocalCluster(home).stop()  # by its recorded pids; a no-op when none runs


@pytest.fixture(params=ENGINES)
def make_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeEngine]:
    """Builds instances sharing one home, as an orchestrator and its restarted self would."""
    command: str = request.param
    module = registry.BUILTIN[command].partition(":")[0]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not written yet")
    try:
        cls = registry.engine_class(command)
        probe = cls(tmp_path / "probe", OPTIONS[command])
        try:
            probe.check()
        finally:
            probe.close()
    except errors.EngineError as exc:
        if REQUIRE_SERVICES:
            raise
        pytest.skip(f"{command}: {exc}")
    made: list[base.Engine] = []
    home = (
        request.getfixturevalue("ray_home") if command == "glueray" else tmp_path / "home" / command
    )

    def make() -> base.Engine:
        engine = cls(home, OPTIONS[command])
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


@pytest.fixture
def engine(make_engine: MakeEngine) -> base.Engine:
    return make_engine()


@pytest.fixture
def timeout(engine: base.Engine) -> float:
    return TIMEOUT[engine.command]


class Job:
    """A script on disk plus the run request for it."""

    def __init__(self, tmp_path: Path, body: str, **request: object) -> None:
        self.tmp_path = tmp_path
        self.release_file = tmp_path / "release"
        self.script = tmp_path / "job.py"
        self.script.write_text(textwrap.dedent(body).replace("RELEASE", repr(str(self.release_file))))
        self.request = base.RunRequest(
            job_run_id="jr_1",
            job_name="job",
            script=str(self.script),
            run_dir=tmp_path / "run",
            **request,  # type: ignore[arg-type]
        )

    def release(self) -> None:
        self.release_file.touch()


WAIT_FOR_RELEASE = """
    import os, sys, time
    print("started", flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(RELEASE) and time.monotonic() < deadline:
        time.sleep(0.01)
    print("finished")
    print("a warning", file=sys.stderr)
"""


def wait_terminal(engine: base.Engine, run_id: str, timeout: float) -> base.EngineStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = engine.poll(run_id)
        if status.state in states.JOB_RUN_TERMINAL:
            return status
        assert status.state is J.RUNNING, status
        assert time.monotonic() < deadline, f"still {status.state} after {timeout}s"
        time.sleep(0.02)


def wait_log(engine: base.Engine, run_id: str, text: str, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = list(engine.logs(run_id))
        if any(text in line for line in lines):
            return lines
        assert time.monotonic() < deadline, f"{text!r} not in logs after {timeout}s: {lines}"
        time.sleep(0.02)


def pid_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] in ("Z", "X"):
                    return True  # ended; only its reaping is left
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


# -- the contract ---------------------------------------------------------------------------


def test_success_is_pushed_and_logged(engine: base.Engine, tmp_path: Path, timeout: float) -> None:
    ended: queue.Queue[str] = queue.Queue()
    engine.set_listener(ended.put)
    job = Job(tmp_path, 'print("hello from the job")')
    run_id = engine.submit(job.request)
    engine.follow(job.request.job_run_id, run_id)  # whether it has ended by now or not
    status = wait_terminal(engine, run_id, timeout)
    assert status.state is J.SUCCEEDED
    assert status.error_message is None
    assert status.exit_code in (0, None)
    assert "hello from the job" in list(engine.logs(run_id))
    if engine.supports_push:
        assert ended.get(timeout=timeout) == job.request.job_run_id  # told by the id it was given


def test_failure_reports_the_scripts_error(engine: base.Engine, tmp_path: Path, timeout: float) -> None:
    job = Job(tmp_path, 'print("working")\nraise ValueError("boom")')
    status = wait_terminal(engine, engine.submit(job.request), timeout)
    assert status.state is J.FAILED
    assert status.error_message == "ValueError: boom"


def test_exit_code_without_stderr(engine: base.Engine, tmp_path: Path, timeout: float) -> None:
    job = Job(tmp_path, "import sys\nsys.exit(3)")
    status = wait_terminal(engine, engine.submit(job.request), timeout)
    assert status.state is J.FAILED
    assert status.error_message == "exit code 3"
    assert status.exit_code in (3, None)


def test_arguments_arrive_glue_style_and_never_through_a_shell(
    engine: base.Engine, tmp_path: Path, timeout: float
) -> None:
    note = "it's $HOME; `touch pwned` | cat > x"
    job = Job(
        tmp_path,
        'import json, os, sys\nprint(json.dumps([sys.argv[1:], os.environ.get("ADHERE_MARK")]))',
        arguments={"--JOB_NAME": "x", "--day": "2024-01-01", "note": note},
        env={"ADHERE_MARK": "from the request"},
    )
    run_id = engine.submit(job.request)
    assert wait_terminal(engine, run_id, timeout).state is J.SUCCEEDED
    argv, mark = json.loads([line for line in engine.logs(run_id) if line.startswith("[")][-1])
    assert dict(zip(argv[::2], argv[1::2], strict=True)) == {
        "--JOB_NAME": "x",
        "--day": "2024-01-01",
        "--note": note,
    }
    assert mark == "from the request"
    assert not (tmp_path / "pwned").exists()


def test_logs_are_readable_during_the_run(engine: base.Engine, tmp_path: Path, timeout: float) -> None:
    job = Job(tmp_path, WAIT_FOR_RELEASE)
    run_id = engine.submit(job.request)
    wait_log(engine, run_id, "started", timeout)
    assert engine.poll(run_id).state is J.RUNNING
    job.release()
    assert wait_terminal(engine, run_id, timeout).state is J.SUCCEEDED
    lines = list(engine.logs(run_id))
    # stdout, then stderr
    assert lines.index("started") < lines.index("finished") < lines.index("a warning")


def test_cancel_stops_the_whole_process_group(engine: base.Engine, tmp_path: Path, timeout: float) -> None:
    job = Job(
        tmp_path,
        """
        import subprocess, time
        child = subprocess.Popen(["sleep", "60"])
        print("child", child.pid, flush=True)
        time.sleep(60)
        """,
    )
    run_id = engine.submit(job.request)
    line = next(x for x in wait_log(engine, run_id, "child ", timeout) if x.startswith("child "))
    child_pid = int(line.split()[1])
    started = time.monotonic()
    engine.cancel(run_id, grace=2.0)
    assert time.monotonic() - started < 0.5, "cancel() must return at once"
    status = wait_terminal(engine, run_id, timeout)
    assert status.state is J.STOPPED
    assert pid_gone(child_pid), "the job's child process outlived the cancel"


def test_cancel_kills_after_the_grace(engine: base.Engine, tmp_path: Path, timeout: float) -> None:
    job = Job(
        tmp_path,
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("deaf", flush=True)
        time.sleep(60)
        """,
    )
    run_id = engine.submit(job.request)
    wait_log(engine, run_id, "deaf", timeout)
    engine.cancel(run_id, grace=0.3)
    assert wait_terminal(engine, run_id, timeout).state is J.STOPPED


def test_a_cancelled_run_is_stopped_whatever_its_exit_code(
    engine: base.Engine, tmp_path: Path, timeout: float
) -> None:
    job = Job(
        tmp_path,
        """
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        print("polite", flush=True)
        time.sleep(60)
        """,
    )
    run_id = engine.submit(job.request)
    wait_log(engine, run_id, "polite", timeout)
    engine.cancel(run_id, grace=5.0)
    assert wait_terminal(engine, run_id, timeout).state is J.STOPPED


def test_a_missing_script_fails_clearly(engine: base.Engine, tmp_path: Path, timeout: float) -> None:
    missing = tmp_path / "nowhere" / "job.py"
    request = base.RunRequest("jr_1", "job", str(missing), run_dir=tmp_path / "run")
    try:
        run_id = engine.submit(request)
    except errors.EngineError as exc:
        assert str(missing) in exc.message
        return
    status = wait_terminal(engine, run_id, timeout)
    assert status.state is J.FAILED
    assert status.error_message is not None and str(missing) in status.error_message


def test_a_restarted_orchestrator_reattaches_and_is_told_of_the_end(
    make_engine: MakeEngine, tmp_path: Path
) -> None:
    before = make_engine()
    timeout = TIMEOUT[before.command]
    job = Job(tmp_path, WAIT_FOR_RELEASE)
    run_id = before.submit(job.request)
    wait_log(before, run_id, "started", timeout)
    before.close()  # the orchestrator goes away; the job does not

    after = make_engine()
    ended: queue.Queue[str] = queue.Queue()
    after.set_listener(ended.put)
    assert after.poll(run_id).state is J.RUNNING
    after.follow("jr_adopted", run_id)
    job.release()
    if after.supports_push:
        assert ended.get(timeout=timeout) == "jr_adopted"
    assert wait_terminal(after, run_id, timeout).state is J.SUCCEEDED
    assert "finished" in list(after.logs(run_id))


def test_a_restarted_orchestrator_learns_how_an_ended_run_ended(
    make_engine: MakeEngine, tmp_path: Path
) -> None:
    before = make_engine()
    timeout = TIMEOUT[before.command]
    run_id = before.submit(Job(tmp_path, 'raise ValueError("boom")').request)
    wait_terminal(before, run_id, timeout)
    before.close()
    status = make_engine().poll(run_id)
    assert (status.state, status.error_message) == (J.FAILED, "ValueError: boom")


def test_a_restarted_orchestrator_can_cancel(make_engine: MakeEngine, tmp_path: Path) -> None:
    before = make_engine()
    timeout = TIMEOUT[before.command]
    job = Job(tmp_path, WAIT_FOR_RELEASE)
    run_id = before.submit(job.request)
    wait_log(before, run_id, "started", timeout)
    before.close()
    after = make_engine()
    after.cancel(run_id, grace=1.0)
    assert wait_terminal(after, run_id, timeout).state is J.STOPPED


# -- local processes ------------------------------------------------------------------------


def test_a_run_lost_with_its_exit_status_fails_with_the_lost_message(
    make_engine: MakeEngine, tmp_path: Path
) -> None:
    """Every built-in engine runs a local process (a python shell job, a Ray driver, a
    spark-submit or Spark Connect client) that records its exit status in the run folder."""
    before = make_engine()
    timeout = TIMEOUT[before.command]
    job = Job(tmp_path, "pass")
    run_id = before.submit(job.request)
    assert wait_terminal(before, run_id, timeout).state is J.SUCCEEDED
    before.close()
    # As if the process died (kill -9, OOM) with no parent left to see its exit status.
    (job.request.run_dir / process.EXIT_STATUS).unlink()
    status = make_engine().poll(run_id)
    assert (status.state, status.error_message) == (J.FAILED, process.LOST_MESSAGE)


def test_a_recycled_pid_is_not_mistaken_for_the_run(tmp_path: Path) -> None:
    """A live process with the run's pid but another start time is someone else."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / process.EXIT_STATUS).write_text("0\n")
    start_ticks = process.proc_stat(os.getpid()).start_ticks  # type: ignore[union-attr]
    ended: list[str] = []
    processes = process.LocalProcesses(ended.append)
    try:
        run_id = str(process.ProcessRunId(os.getpid(), start_ticks + 1, run_dir))
        assert processes.poll(run_id).state is J.SUCCEEDED
        processes.cancel(run_id, grace=0)  # must not signal this (live, unrelated) process
    finally:
        processes.close()


def test_killed_by_a_signal(tmp_path: Path) -> None:
    ended = threading.Event()
    processes = process.LocalProcesses(lambda _: ended.set())
    try:
        run_id = processes.spawn(
            [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
            run_dir=tmp_path / "run",
        )
        assert ended.wait(10)
        status = processes.poll(run_id)
        assert (status.state, status.error_message, status.exit_code) == (
            J.FAILED,
            "killed by SIGKILL",
            -9,
        )
    finally:
        processes.close()


BOOT_CASES = {
    "chained exception": """
        def parse(x):
            return int(x)
        try:
            parse("x")
        except ValueError as e:
            raise KeyError("k") from e
    """,
    "syntax error": "def broken(:\n    pass\n",
    "exit with a message": "import sys\nsys.exit('custom message')\n",
    "exit code past 255": "import sys\nsys.exit(259)\n",
    "main module": """
        import pickle, sys
        class Point:
            pass
        assert sys.modules["__main__"].Point is Point
        pickle.dumps(Point())
        print(__name__, __file__, sys.argv, sys.path[0], __spec__, __package__)
        def f(x: not_defined): pass  # NameError: no `from __future__ import annotations` leaks in
    """,
    "success": "print('ok')\n",
}


@pytest.mark.parametrize("body", BOOT_CASES.values(), ids=BOOT_CASES.keys())
def test_boot_runs_a_script_as_python_does(tmp_path: Path, body: str) -> None:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(body))
    args = [str(script), "--JOB_NAME", "x"]
    bare = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=tmp_path)
    env = {**os.environ, process.RUN_DIR_ENV: str(tmp_path)}
    booted = subprocess.run(
        [sys.executable, str(process.BOOT_SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert (booted.returncode, booted.stdout, booted.stderr) == (
        bare.returncode,
        bare.stdout,
        bare.stderr,
    )
    assert process.read_exit_status(tmp_path) == bare.returncode


def test_boot_imports_nothing_that_python_does_not(tmp_path: Path) -> None:
    """_boot.py is on every job's start path: its imports are start latency."""
    script = tmp_path / "job.py"
    script.write_text("")

    def imported(*argv: str) -> set[str]:
        out = subprocess.run(
            [sys.executable, "-X", "importtime", *argv],
            capture_output=True,
            text=True,
            env={**os.environ, process.RUN_DIR_ENV: str(tmp_path)},
            check=True,
        )
        return {line.rpartition("|")[2].strip() for line in out.stderr.splitlines()[1:]}

    assert imported(str(process.BOOT_SCRIPT), str(script)) - imported(str(script)) == set()


# -- the registry ---------------------------------------------------------------------------


def test_registry_knows_the_built_ins_and_rejects_unknown_names() -> None:
    assert {"pythonshell", "glueray", "glueetl"} <= set(registry.names())
    assert registry.engine_class("pythonshell").command == "pythonshell"
    with pytest.raises(errors.InvalidInputException, match=r"known engines: .*pythonshell"):
        registry.engine_class("gluestreaming-nope")


def test_a_missing_extra_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fake_ray_engine.py").write_text("import ray_is_not_installed_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.BUILTIN, "glueray", "fake_ray_engine:RayEngine")
    with pytest.raises(errors.EngineNotInstalled, match=r"Ray engine needs: pip install 'adhere\[ray\]'"):
        registry.engine_class("glueray")
    # A broken import inside adhere itself is not disguised as a missing extra.
    monkeypatch.setitem(registry.BUILTIN, "glueray", "engines.no_such_module:RayEngine")
    with pytest.raises(errors.EngineNotInstalled, match=r"cannot import engines\.no_such_module"):
        registry.engine_class("glueray")


def test_registry_creates_each_engine_once(tmp_path: Path) -> None:
    reg = registry.Registry(tmp_path, {"pythonshell": {"python": sys.executable}})
    got: list[base.Engine] = []
    threads = [threading.Thread(target=lambda: got.append(reg.get("pythonshell"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len({id(e) for e in got}) == 1
        assert got[0].home == tmp_path / "engines" / "pythonshell"
        assert got[0].options == {"python": sys.executable}
    finally:
        reg.close()


@pytest.fixture
def echo_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Registers tests/integration/plugin_engine as if pip-installed: its dist-info, on sys.path."""
    project = Path(__file__).with_name("plugin_engine")
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    dist_info = tmp_path / "site" / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n"
    )
    groups = meta["entry-points"]
    (dist_info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
            for group, eps in groups.items()
        )
    )
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


@pytest.mark.usefixtures("echo_plugin")
def test_a_third_party_engine_comes_from_its_entry_point(tmp_path: Path) -> None:
    assert "echo" in registry.names()
    assert registry.engine_class("echo").__module__ == "adhere_echo_engine"
    reg = registry.Registry(tmp_path / "home")
    try:
        engine = reg.get("echo")
        ended = threading.Event()
        engine.set_listener(lambda _: ended.set())
        request = base.RunRequest(
            "jr_1", "job", "hello", arguments={"--JOB_NAME": "x"}, run_dir=tmp_path / "run"
        )
        run_id = engine.submit(request)
        engine.follow("jr_1", run_id)
        assert ended.wait(10)
        assert engine.poll(run_id).state is J.SUCCEEDED
        assert list(engine.logs(run_id)) == ["hello --JOB_NAME x"]
    finally:
        reg.close()
