"""Local process supervision shared by the local engines (python shell, a Ray driver, spark-submit).

A job is one process group whose run id (``pid:start_ticks:run_dir``) is enough for any later
process to poll, cancel or read it; the end of a run is pushed from a pidfd, never polled. A job
forked by the fork server is named before it exists (``0:0:run_dir``): its pid and start ticks
are in the run folder's ``pid`` file once it does.
Linux only: it relies on ``/proc`` and ``os.pidfd_open`` (kernel >= 5.3).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import logging
import os
import py_compile
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from engines import base, fork_server
from orchestrator import errors, states

log = logging.getLogger(__name__)

# The run-dir protocol, shared with engines/_boot.py (which must not import this module).
STDOUT = "stdout.log"
STDERR = "stderr.log"
EXIT_STATUS = "exit_status"  # the exit code as text; negative = killed by that signal
CANCELLED = "cancelled"  # present when a stop was asked: the run ends STOPPED, whatever its code
PID = "pid"  # "pid start_ticks" of a forked job, written by engines/_zygote.py
RUN_DIR_ENV = "ADHERE_RUN_DIR"
BOOT_SCRIPT = Path(__file__).resolve().with_name("_boot.py")

LOST_MESSAGE = "the job process ended without reporting its exit status (the orchestrator lost it)"
MAX_ERROR_CHARS = 2000
_TAIL_BYTES = 16384


@dataclasses.dataclass(frozen=True)
class ProcessRunId:
    """A persisted handle: the start time tells our process from a later one that got its pid."""

    pid: int
    start_ticks: int
    run_dir: Path

    def __str__(self) -> str:
        return f"{self.pid}:{self.start_ticks}:{self.run_dir}"

    def resolved(self) -> ProcessRunId | None:
        """This id with its pid: a forked job's from its run folder, None while it has none."""
        if self.pid:
            return self
        try:
            pid, ticks = (self.run_dir / PID).read_text().split()
        except (FileNotFoundError, ValueError):
            return None
        return ProcessRunId(int(pid), int(ticks), self.run_dir)

    @classmethod
    def parse(cls, engine_run_id: str) -> ProcessRunId:
        try:
            pid, ticks, run_dir = engine_run_id.split(":", 2)
            return cls(int(pid), int(ticks), Path(run_dir))
        except ValueError:
            raise errors.EngineError(
                f"not a local process run id (pid:start_ticks:run_dir): {engine_run_id!r}"
            ) from None


def python_argv(script: str | os.PathLike[str], args: Sequence[str], python: str | None = None) -> list[str]:
    """argv that runs ``script`` like ``python script args...`` and records its exit status."""
    boot = boot_code() if python in (None, sys.executable) else str(BOOT_SCRIPT)
    return [python or sys.executable, boot, os.fspath(script), *args]


def boot_code() -> str:
    """_boot.py compiled once for this interpreter: Python runs a ``.pyc`` given as the script
    without compiling it, which saves each job ~0.6 ms (a main script is never cached)."""
    target = _boot_pyc()
    if not target.exists():  # first use, or a cache cleaner removed it
        try:
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}")
            py_compile.compile(str(BOOT_SCRIPT), cfile=str(tmp), doraise=True)
            os.replace(tmp, target)
        except (OSError, py_compile.PyCompileError):
            return str(BOOT_SCRIPT)
    return str(target)


@functools.cache
def _boot_pyc() -> Path:
    digest = hashlib.sha256(BOOT_SCRIPT.read_bytes() + sys.version.encode()).hexdigest()[:16]
    # The user's own cache, not a shared temp folder: nobody else can put code there.
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "adhere"
    return cache / f"boot-{digest}.pyc"


class ProcStat(NamedTuple):
    state: str  # R, S, D, Z, X...
    session: int
    start_ticks: int  # since boot: tells a process from a later one with the same pid
    ppid: int


def proc_stat(pid: int) -> ProcStat | None:
    """Fields of /proc/<pid>/stat, or None when no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ")".
    rest = raw[raw.rindex(b")") + 2 :].split()
    return ProcStat(rest[0].decode(), int(rest[3]), int(rest[19]), int(rest[1]))  # fields 3, 6, 22, 4


def _is_ours_and_alive(rid: ProcessRunId) -> bool:
    stat = proc_stat(rid.pid)
    return stat is not None and stat.start_ticks == rid.start_ticks and stat.state not in ("Z", "X")


def _signal_group(rid: ProcessRunId, sig: int) -> None:
    """Signal the run's process group, unless its pid now belongs to another process.

    Linux does not reuse a pid while a process group of that number has members, so when
    ``/proc/<pid>`` is absent the group is either still ours (orphans of the leader) or empty.
    """
    if rid.pid <= 0:
        return  # not a process (killpg(0) would signal our own group)
    stat = proc_stat(rid.pid)
    if stat is not None and stat.start_ticks != rid.start_ticks:
        return  # recycled: our group is empty
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(rid.pid, sig)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_exit_status(run_dir: Path) -> int | None:
    try:
        return int((run_dir / EXIT_STATUS).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def last_stderr_line(run_dir: Path) -> str | None:
    """The last non-blank line of stderr: for a traceback, ``ValueError: bad input``."""
    try:
        with open(run_dir / STDERR, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _TAIL_BYTES))
            tail = f.read()
    except FileNotFoundError:
        return None
    for line in reversed(tail.decode(errors="replace").splitlines()):
        if line.strip():
            return line.strip()
    return None


def failure_message(run_dir: Path, code: int) -> str:
    """Why a run with a non-zero exit ``code`` failed, in one line (the default describer)."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        message = f"killed by {name}"
    else:
        message = last_stderr_line(run_dir) or f"exit code {code}"
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 3] + "..."
    return message


def status_of(
    run_dir: Path, code: int | None, describe: Callable[[Path, int], str] = failure_message
) -> base.EngineStatus:
    """The terminal status of an ended run from its exit code (None = never reported)."""
    J = states.JobRunState
    if (run_dir / CANCELLED).exists():
        return base.EngineStatus(J.STOPPED, exit_code=code)
    if code is None:
        return base.EngineStatus(J.FAILED, error_message=LOST_MESSAGE)
    if code == 0:
        return base.EngineStatus(J.SUCCEEDED, exit_code=0)
    return base.EngineStatus(J.FAILED, error_message=describe(run_dir, code), exit_code=code)


def read_logs(run_dir: Path) -> Iterator[str]:
    """Lines of stdout.log then stderr.log, as far as they are written now."""
    for name in (STDOUT, STDERR):
        try:
            f = open(run_dir / name, encoding="utf-8", errors="replace", newline="")  # noqa: SIM115
        except FileNotFoundError:
            continue
        with f:
            for line in f:
                yield line.rstrip("\r\n")


@dataclasses.dataclass
class _Watched:
    key: str  # the run id the caller knows (0:0:run_dir for a forked job)
    rid: ProcessRunId
    pidfd: int
    proc: subprocess.Popen[bytes] | None  # None for a run adopted from an earlier orchestrator


class LocalProcesses:
    """Spawns, watches, stops and reads local job processes.

    One daemon thread waits on the pidfds of every watched process (children and adopted
    runs alike) with epoll and calls ``on_exit(engine_run_id)`` the moment one ends; the call
    runs on that thread, so it must be quick (e.g. put on a queue).
    """

    def __init__(
        self,
        on_exit: Callable[[str], None],
        describe_failure: Callable[[Path, int], str] = failure_message,
    ) -> None:
        self._on_exit = on_exit
        self._describe = describe_failure
        self._lock = threading.Lock()
        self._by_fd: dict[int, _Watched] = {}
        self._by_id: dict[str, _Watched] = {}
        # Exit codes we reaped but could not write to the run dir (kept so poll() still knows).
        self._unwritten: dict[str, int] = {}
        # Forked jobs the fork server has not answered for yet -> the grace of a stop asked meanwhile.
        self._forking: dict[str, float | None] = {}
        # Runs seen to end and not polled since: their poll reads the exit status straight away.
        self._gone: set[str] = set()
        self._epoll: select.epoll | None = None
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        self._closed = False
        self._null: int | None = None

    # -- starting -------------------------------------------------------------------------

    def spawn(
        self,
        argv: Sequence[str],
        *,
        run_dir: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> str:
        """Start ``argv`` (never through a shell) in its own process group; return its run id."""
        if self._closed:
            raise errors.EngineError("the engine is closed")
        run_dir = Path(os.path.abspath(run_dir))  # not resolve(): a stat per path component per job
        # File operations are most of a spawn's cost: skip those a fresh folder cannot need.
        if run_dir.is_dir():
            for stale in (EXIT_STATUS, CANCELLED):  # from an earlier attempt in the same folder
                with contextlib.suppress(FileNotFoundError):
                    (run_dir / stale).unlink()
        else:
            run_dir.mkdir(parents=True)
        child_env = dict(os.environ if env is None else env)
        child_env[RUN_DIR_ENV] = str(run_dir)
        with open(run_dir / STDOUT, "wb") as out, open(run_dir / STDERR, "wb") as err:
            try:
                proc = subprocess.Popen(
                    list(argv),
                    cwd=cwd,
                    env=child_env,
                    stdin=self._devnull(),
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            except OSError as exc:
                raise errors.EngineError(f"cannot start {argv[0]}: {exc}") from exc
        # The child is not reaped until we wait for it, so its /proc entry and pid are ours.
        stat = proc_stat(proc.pid)
        rid = ProcessRunId(proc.pid, stat.start_ticks if stat else 0, run_dir)
        self._watch(rid, os.pidfd_open(proc.pid), proc)
        return str(rid)

    def fork_python(
        self,
        server: fork_server.ForkServer,
        script: str | os.PathLike[str],
        args: Sequence[str],
        *,
        run_dir: Path,
        cwd: Path,
        env: Mapping[str, str],
    ) -> str:
        """Start a python job through the fork server (see engines/_zygote.py); same contract
        as spawn() with python_argv(). The child is the server's, so it is watched as adopted."""
        if self._closed:
            raise errors.EngineError("the engine is closed")
        run_dir = Path(os.path.abspath(run_dir))
        if run_dir.is_dir():
            for stale in (EXIT_STATUS, CANCELLED):
                with contextlib.suppress(FileNotFoundError):
                    (run_dir / stale).unlink()
        else:
            run_dir.mkdir(parents=True)
        child_env = {**env, RUN_DIR_ENV: str(run_dir)}
        key = str(ProcessRunId(0, 0, run_dir))
        with self._lock:
            self._forking[key] = None
        try:
            server.fork({
                "argv": [os.fspath(script), *args], "cwd": str(cwd), "env": child_env,
                "stdout": str(run_dir / STDOUT), "stderr": str(run_dir / STDERR), "run_dir": str(run_dir),
            }, functools.partial(self._forked, key, run_dir))
        except errors.EngineError:
            with self._lock:
                self._forking.pop(key, None)
            raise
        return key

    def _forked(self, key: str, run_dir: Path, pid: int | None, ticks: int) -> None:
        """The fork server's answer (on its reader thread): watch the job, or end it as lost."""
        with self._lock:
            grace = self._forking.pop(key, None)
        # No answer: the server died, after forking the job (its pid file says so) or before.
        rid = ProcessRunId(pid, ticks, run_dir) if pid is not None else ProcessRunId(0, 0, run_dir).resolved()
        if rid is None:
            with contextlib.suppress(OSError):
                with open(run_dir / STDERR, "a") as err:
                    err.write("adhere: the python fork server ended before starting this job\n")
                _write_atomic(run_dir / EXIT_STATUS, "127\n")
            self._notify(key)
            return
        try:
            if not self._adopt(rid, key):
                self._notify(key)  # ended (and reaped by the server) already
                return
        except errors.EngineError:
            return  # closed meanwhile: a later instance adopts it
        if grace is not None:  # stopped while it was being forked
            self.cancel(key, grace)

    def _notify(self, key: str) -> None:
        try:
            self._on_exit(key)
        except Exception:
            log.exception("the exit listener failed for %s", key)

    def _devnull(self) -> int:
        """One /dev/null descriptor for every child's stdin (subprocess.DEVNULL opens one per spawn)."""
        if self._null is None:
            self._null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        return self._null

    # -- the engine operations ------------------------------------------------------------

    def poll(self, engine_run_id: str) -> base.EngineStatus:
        """RUNNING or the terminal status; adopts (and watches) a live run we did not start."""
        rid = ProcessRunId.parse(engine_run_id)
        key = str(rid)
        with self._lock:
            watched = self._by_id.get(key)
            unwritten = self._unwritten.get(key)
            if key in self._forking:
                return base.EngineStatus(states.JobRunState.RUNNING)
            gone = key in self._gone
            self._gone.discard(key)
        if unwritten is not None:
            return status_of(rid.run_dir, unwritten, self._describe)
        if watched is not None:
            if watched.proc is not None:
                if watched.proc.poll() is None:
                    return base.EngineStatus(states.JobRunState.RUNNING)
                return status_of(rid.run_dir, watched.proc.returncode, self._describe)
            if _is_ours_and_alive(watched.rid):
                return base.EngineStatus(states.JobRunState.RUNNING)
        elif not gone and (known := rid.resolved()) is not None and self._adopt(known, key):
            return base.EngineStatus(states.JobRunState.RUNNING)
        code = read_exit_status(rid.run_dir)
        deadline = time.monotonic() + 0.5
        while code is None and time.monotonic() < deadline and not (rid.run_dir / CANCELLED).exists():
            # A job killed by a signal has its status written by its parent (a fork server),
            # which may reap it a moment after we learn of its end.
            time.sleep(0.01)
            code = read_exit_status(rid.run_dir)
        return status_of(rid.run_dir, code, self._describe)

    def cancel(self, engine_run_id: str, grace: float = 5.0) -> None:
        """TERM the process group now and KILL it after ``grace`` seconds; returns at once."""
        rid = ProcessRunId.parse(engine_run_id)
        if self.poll(engine_run_id).state is not states.JobRunState.RUNNING:
            return
        # Written before the signal, so whoever sees the process end also sees the marker.
        _write_atomic(rid.run_dir / CANCELLED, f"{os.getpid()}\n")
        with self._lock:
            if engine_run_id in self._forking:  # no pid yet: _forked() stops it
                self._forking[engine_run_id] = grace
                return
            watched = self._by_id.get(engine_run_id)
        known = watched.rid if watched is not None else rid.resolved()
        if known is None:
            return  # never started: the marker makes it STOPPED
        _signal_group(known, signal.SIGTERM)
        timer = threading.Timer(max(0.0, grace), _signal_group, (known, signal.SIGKILL))
        timer.daemon = True
        timer.start()

    def logs(self, engine_run_id: str) -> Iterator[str]:
        return read_logs(ProcessRunId.parse(engine_run_id).run_dir)

    def close(self) -> None:
        """Stop watching. Running jobs keep running; a new instance can adopt them."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            os.write(self._wake_w, b"x")
            thread.join()
        with self._lock:
            for watched in self._by_fd.values():
                os.close(watched.pidfd)
                if watched.proc is not None:
                    # Still our child: reap it quietly when it ends, so it neither lingers as a
                    # zombie nor warns when collected. Its exit status comes from _boot.py.
                    threading.Thread(target=watched.proc.wait, daemon=True).start()
            self._by_fd.clear()
            self._by_id.clear()
            if self._epoll is not None:
                self._epoll.close()
                os.close(self._wake_r)
                os.close(self._wake_w)
                self._epoll = None
            if self._null is not None:
                os.close(self._null)
                self._null = None

    # -- watching -------------------------------------------------------------------------

    def _adopt(self, rid: ProcessRunId, key: str) -> bool:
        """Watch a live run started elsewhere (another process, the fork server) under ``key``;
        False when it is gone."""
        try:
            pidfd = os.pidfd_open(rid.pid)
        except ProcessLookupError:
            return False
        # Checked after opening: the pidfd now pins this exact process, not a later one.
        if not _is_ours_and_alive(rid):
            os.close(pidfd)
            return False
        self._watch(rid, pidfd, None, key)
        return True

    def _watch(self, rid: ProcessRunId, pidfd: int, proc: subprocess.Popen[bytes] | None,
               key: str | None = None) -> None:
        watched = _Watched(key or str(rid), rid, pidfd, proc)
        with self._lock:
            if self._closed:
                os.close(pidfd)
                raise errors.EngineError("the engine is closed")
            if watched.key in self._by_id:  # adopted twice by concurrent polls
                os.close(pidfd)
                return
            if self._thread is None:
                self._start_thread()
            assert self._epoll is not None
            self._by_fd[pidfd] = watched
            self._by_id[watched.key] = watched
            # epoll_ctl is safe while the watcher thread sits in epoll_wait: no wake-up needed.
            self._epoll.register(pidfd, select.EPOLLIN)

    def _start_thread(self) -> None:
        if self._epoll is None:
            self._epoll = select.epoll()
            self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
            self._epoll.register(self._wake_r, select.EPOLLIN)
        self._thread = threading.Thread(
            target=self._run, args=(self._epoll,), name="adhere-process-watcher", daemon=True
        )
        self._thread.start()

    def _run(self, epoll: select.epoll) -> None:
        while True:
            try:
                events = epoll.poll()
            except InterruptedError:
                continue
            for fd, _ in events:
                if fd == self._wake_r:
                    return
                try:
                    self._ended(fd)
                except Exception:  # the watcher must outlive any one run's trouble
                    log.exception("watching process fd %d failed", fd)

    def _ended(self, pidfd: int) -> None:
        with self._lock:
            watched = self._by_fd.pop(pidfd, None)
            if watched is None or self._epoll is None:
                return
            self._epoll.unregister(pidfd)
        os.close(pidfd)
        key = watched.key
        if watched.proc is None:
            with self._lock:
                self._gone.add(key)
        else:
            code = watched.proc.poll()
            if code is None:  # a readable pidfd means it exited: this wait is immediate
                code = watched.proc.wait()
        # The listener first (latency is the point); poll() answers from the Popen until
        # the exit status is on disk, since the entry leaves _by_id only after that.
        self._notify(key)
        status_file = watched.rid.run_dir / EXIT_STATUS
        if watched.proc is not None and (code != 0 or not status_file.exists()):
            # The parent's word is final (a signal death leaves no file from _boot.py), and
            # written down it serves pollers in other processes and after a restart. A clean
            # exit that _boot.py already recorded needs no second write.
            try:
                _write_atomic(status_file, f"{code}\n")
            except OSError:
                log.exception("cannot record the exit status of %s", key)
                with self._lock:
                    self._unwritten[key] = code
        with self._lock:
            self._by_id.pop(key, None)
