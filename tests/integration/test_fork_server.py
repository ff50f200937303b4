"""The python-shell fork server (engines/_zygote.py): jobs forked from a warm interpreter behave
as jobs started with `python script.py`, and the engine falls back or recovers when it must."""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import time
from pathlib import Path

import pytest

from engines import base, python_shell
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
    ended.get(timeout=timeout)
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
    ended: queue.SimpleQueue[str] = queue.SimpleQueue()
    engine.set_listener(ended.put)
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
