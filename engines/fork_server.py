"""The client of the python fork server (engines/_zygote.py): one server per engine, restarted
if it dies. LocalProcesses.fork_python() starts jobs through it."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Mapping

from orchestrator import errors


class ForkServer:
    """The client side of engines/_zygote.py: one server per engine, restarted if it dies.

    Jobs whose environment changes a ``PYTHON*`` variable cannot use it (a forked interpreter
    has read those already): ``compatible()`` says so and the caller spawns instead.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        self._python_vars = {k: v for k, v in self._env.items() if k.startswith("PYTHON")}
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def compatible(self, env: Mapping[str, str]) -> bool:
        return {k: v for k, v in env.items() if k.startswith("PYTHON")} == self._python_vars

    def fork(self, request: Mapping[str, object]) -> int:
        line = json.dumps(request).encode() + b"\n"
        with self._lock:
            for attempt in (1, 2):
                proc = self._running()
                assert proc.stdin is not None and proc.stdout is not None
                try:
                    proc.stdin.write(line)
                    proc.stdin.flush()
                    reply = proc.stdout.readline()
                    if reply:
                        return int(reply)
                except (BrokenPipeError, ValueError):
                    pass
                self._stop(proc)
                if attempt == 2:
                    raise errors.EngineError("the python fork server failed to start a job")
        raise AssertionError("unreachable")

    def _running(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is not None:
            self._stop(self._proc)  # died: close its pipes before starting another
        if self._proc is None:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", "from engines import _zygote; _zygote.serve()"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=self._env, cwd="/", start_new_session=True,
            )
        return self._proc

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()  # EOF: the server ends; its jobs live on in their own sessions
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if self._proc is proc:
            self._proc = None

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                self._stop(self._proc)
