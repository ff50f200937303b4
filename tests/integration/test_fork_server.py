"""The python-shell fork server (engines/_zygote.py): jobs forked from a warm interpreter behave
as jobs started with `python script.py`, and the engine falls back or recovers when it must."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engines import base, process, python_shell
from orchestrator import states

PROBE = """\
import json, os, sys
print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "path0": sys.path[0], "env": os.environ.get("PROBE"),
                  "main": __name__, "sid": os.getsid(0) == os.getpid()}))
"""


def _run(engine: python_shell.PythonShellEngine, script: Path, run_dir: Path, env: dict[str, str] | None = None,
         timeout: float = 20) -> tuple[str, base.EngineStatus]:
    ended: queue.SimpleQueue[str] = queue.SimpleQueue()
    engine.set_listener(ended.put)
    request = base.RunRequest(job_run_id="jr_x", job_name="probe", script=str(script),
                              arguments={"--JOB_NAME": "probe", "--day": "2024-01-01"},
                              env=env or {}, run_dir=run_dir)
    erid = engine.submit(request)
    engine.follow(request.job_run_id, erid)
    assert ended.get(timeout=timeout) == "jr_x"
    return erid, engine.poll(erid)


@pytest.fixture
def engine(tmp_path: Path) -> python_shell.PythonShellEngine:
    eng = python_shell.PythonShellEngine(tmp_path / "home", {"python_start": "fork"})
    yield eng
    eng.close()


def test_a_forked_job_runs_like_python_script(engine: python_shell.PythonShellEngine, tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    script = tmp_path / "jobs" / "probe.py"
    script.write_text(PROBE)
    _, status = _run(engine, script, tmp_path / "run1", env={"PROBE": "yes"})
    assert status.state is states.JobRunState.SUCCEEDED
    seen = json.loads((tmp_path / "run1" / "stdout.log").read_text())
    assert seen["argv"] == [str(script), "--JOB_NAME", "probe", "--day", "2024-01-01"]
    assert seen["cwd"] == str(script.parent) and seen["path0"] == str(script.parent)
    assert seen["env"] == "yes" and seen["main"] == "__main__" and seen["sid"] is True
    assert engine._forks is not None and engine._forks._proc is not None  # it went through the server


def test_a_python_variable_in_the_job_environment_falls_back_to_spawning(
    engine: python_shell.PythonShellEngine, tmp_path: Path
) -> None:
    script = tmp_path / "probe.py"
    script.write_text("import sys; print(sys.flags.dont_write_bytecode)\n")
    flag = "0" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "1"
    _, status = _run(engine, script, tmp_path / "run", env={"PYTHONDONTWRITEBYTECODE": "x"} if flag == "1" else {})
    assert status.state is states.JobRunState.SUCCEEDED
    if flag == "1":  # the variable took effect, so the job was a new interpreter
        assert (tmp_path / "run" / "stdout.log").read_text().strip() == "1"
        assert engine._forks is not None and engine._forks._proc is None


def test_a_job_killed_by_a_signal_says_so(engine: python_shell.PythonShellEngine, tmp_path: Path) -> None:
    script = tmp_path / "suicide.py"
    script.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    _, status = _run(engine, script, tmp_path / "run")
    assert status.state is states.JobRunState.FAILED
    assert status.error_message == "killed by SIGKILL"


def test_a_dead_fork_server_is_replaced(engine: python_shell.PythonShellEngine, tmp_path: Path) -> None:
    script = tmp_path / "ok.py"
    script.write_text("print('ok')\n")
    assert _run(engine, script, tmp_path / "a")[1].state is states.JobRunState.SUCCEEDED
    assert engine._forks is not None and engine._forks._proc is not None
    first = engine._forks._proc.pid
    os.kill(first, signal.SIGKILL)
    engine._forks._proc.wait(5)
    assert _run(engine, script, tmp_path / "b")[1].state is states.JobRunState.SUCCEEDED
    assert engine._forks._proc.pid != first


def test_jobs_outlive_their_fork_server(engine: python_shell.PythonShellEngine, tmp_path: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text("import time; time.sleep(1); print('done')\n")
    erid = engine.submit(base.RunRequest(job_run_id="jr_y", job_name="slow", script=str(script),
                                         run_dir=tmp_path / "run"))
    engine.close()  # the orchestrator goes away: the server ends, the job does not
    later = python_shell.PythonShellEngine(tmp_path / "home")
    try:
        deadline = time.monotonic() + 20
        while later.poll(erid).state is states.JobRunState.RUNNING and time.monotonic() < deadline:
            time.sleep(0.05)
        assert later.poll(erid).state is states.JobRunState.SUCCEEDED
        assert (tmp_path / "run" / "stdout.log").read_text().strip() == "done"
    finally:
        later.close()
    assert sys.executable  # the job ran with this interpreter's environment


class _HeldServer:
    """A fork server whose answers the test gives: the moments between a request and its
    answer (a stop asked meanwhile, the server dying first) cannot be caused on purpose."""

    def __init__(self) -> None:
        self.answers: list[Callable[[int | None, int], None]] = []

    def fork(self, request: dict, on_forked: Callable[[int | None, int], None]) -> None:
        self.answers.append(on_forked)


def test_a_run_stopped_before_its_fork_is_answered_is_stopped_once_it_exists(tmp_path: Path) -> None:
    ended: queue.SimpleQueue[str] = queue.SimpleQueue()
    processes = process.LocalProcesses(ended.put)
    server = _HeldServer()
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        run_id = processes.fork_python(server, "job.py", [], run_dir=tmp_path / "run", cwd=tmp_path,  # type: ignore[arg-type]
                                       env={})
        assert processes.poll(run_id).state is states.JobRunState.RUNNING  # asked, not yet answered
        processes.cancel(run_id, grace=5)
        assert job.poll() is None  # nothing to signal yet
        server.answers[0](job.pid, process.proc_stat(job.pid).start_ticks)  # type: ignore[union-attr]
        assert job.wait(10) == -signal.SIGTERM
        assert ended.get(timeout=10) == run_id
        assert processes.poll(run_id).state is states.JobRunState.STOPPED
    finally:
        job.kill()
        job.wait()
        processes.close()


def test_a_fork_server_that_dies_before_answering_fails_the_run_with_a_reason(tmp_path: Path) -> None:
    ended: queue.SimpleQueue[str] = queue.SimpleQueue()
    processes = process.LocalProcesses(ended.put)
    server = _HeldServer()
    try:
        run_id = processes.fork_python(server, "job.py", [], run_dir=tmp_path / "run", cwd=tmp_path,  # type: ignore[arg-type]
                                       env={})
        server.answers[0](None, 0)
        assert ended.get(timeout=10) == run_id
        status = processes.poll(run_id)
        assert status.state is states.JobRunState.FAILED
        assert status.error_message == "adhere: the python fork server ended before starting this job"
    finally:
        processes.close()
