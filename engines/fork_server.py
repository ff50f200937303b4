"""The client of the python fork server (engines/_zygote.py): one server per engine, restarted
if it dies. LocalProcesses.fork_python() starts jobs through it."""

from __future__ import annotations

import collections
import contextlib
import logging
import marshal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping

from orchestrator import errors

log = logging.getLogger(__name__)
# Called with (pid, start ticks) once the server has forked the job, or (None, 0) if it died first.
OnForked = Callable[[int | None, int], None]


class ForkServer:
    """The client side of engines/_zygote.py: one server per engine, restarted if it dies.

    ``fork()`` only writes the request: the server's answer is read by a thread of its own, so
    the caller (the orchestrator's loop) never waits for a fork. Jobs whose environment changes
    a ``PYTHON*`` variable cannot use it (a forked interpreter has read those already):
    ``compatible()`` says so and the caller spawns instead.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        self._python_vars = {k: v for k, v in self._env.items() if k.startswith("PYTHON")}
        self._proc: subprocess.Popen[bytes] | None = None
        # Callbacks of the running server's requests, answered in order.
        self._waiting: collections.deque[OnForked] = collections.deque()
        self._lock = threading.Lock()

    def compatible(self, env: Mapping[str, str]) -> bool:
        return {k: v for k, v in env.items() if k.startswith("PYTHON")} == self._python_vars

    def fork(self, request: Mapping[str, object], on_forked: OnForked) -> None:
        body = marshal.dumps(dict(request))
        line = len(body).to_bytes(4, "big") + body
        with self._lock:
            for _attempt in (1, 2):
                proc, waiting = self._running()
                assert proc.stdin is not None
                waiting.append(on_forked)
                try:
                    proc.stdin.write(line)
                    proc.stdin.flush()
                    return
                except (BrokenPipeError, ValueError):
                    pass
                if on_forked not in waiting:
                    return  # the reader saw the server end and has answered (None, 0)
                waiting.remove(on_forked)
                self._stop(proc)
        raise errors.EngineError("the python fork server failed to start a job")

    def _running(self) -> tuple[subprocess.Popen[bytes], collections.deque[OnForked]]:
        if self._proc is not None and self._proc.poll() is not None:
            self._stop(self._proc)  # died: its reader answers what it had not
        if self._proc is None:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", "from engines import _zygote; _zygote.serve()"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=self._env, cwd="/", start_new_session=True,
            )
            self._waiting = collections.deque()
            threading.Thread(target=self._read, args=(self._proc, self._waiting),
                             name="adhere-fork-server", daemon=True).start()
        return self._proc, self._waiting

    def _read(self, proc: subprocess.Popen[bytes], waiting: collections.deque[OnForked]) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                with self._lock:
                    on_forked = waiting.popleft() if waiting else None
                if on_forked is not None:
                    pid, ticks = (int(x) for x in line.split())
                    _call(on_forked, pid, ticks)
        with self._lock:
            lost = list(waiting)
            waiting.clear()
        for on_forked in lost:
            _call(on_forked, None, 0)

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()  # EOF: the server ends; its jobs live on in their own sessions
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._proc is proc:
            self._proc = None

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                self._stop(self._proc)


def _call(on_forked: OnForked, pid: int | None, ticks: int) -> None:
    try:
        on_forked(pid, ticks)
    except Exception:  # the reader must answer every request
        log.exception("the fork callback failed for pid %s", pid)
