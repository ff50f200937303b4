"""The warm Spark engine: one Spark Connect server on loopback, owned by adhere, shared by runs.

The server is a spark-submit of ``SparkConnectServer`` in the foreground under a small Python
supervisor (``python -m engines.spark_connect serve``), both in one process group that
engines/process.py started, so we own its PIDs. ``<home>/connect.json`` records it for other
processes; ``connect.lock`` (flock) keeps it to one server. Job clients hold a shared flock on
``connect.lease`` while they live; the supervisor stops the server once no client has held it
and no submit has touched connect.json for the idle timeout. Clients run as plain Python with
``SPARK_REMOTE``; a run is cancelled by interrupting its Connect session (its id is ours).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from engines import process
from orchestrator import errors, states

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_TIMEOUT = 180.0

# Run by every warm client before _boot.py: hold the lease for the life of the process (the
# flock survives exec; the kernel drops it when the last holder dies, however it dies).
LEASE_EXEC = (
    "import fcntl,os,sys;f=os.open(sys.argv[1],os.O_RDWR|os.O_CREAT,0o600);"
    "fcntl.flock(f,fcntl.LOCK_SH);os.set_inheritable(f,True);os.execv(sys.argv[2],sys.argv[2:])"
)


def with_session(url: str, session_id: str) -> str:
    """``url`` with the Connect session id set, so a second client can interrupt the run."""
    if ";" in url:
        return f"{url};session_id={session_id}"
    return f"{url.rstrip('/')}/;session_id={session_id}"


def server_argv(spark_submit: str, master: str, port: int, local_dir: Path) -> list[str]:
    """spark-submit argv of a Connect server bound to 127.0.0.1:port (no auth: loopback only)."""
    conf = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.ui.enabled": "false",
        "spark.log.level": "WARN",
        "spark.driver.extraJavaOptions": f"-Djava.io.tmpdir={local_dir}",
    }
    argv = [spark_submit, "--master", master, "--class", SERVER_CLASS, "--name", "adhere-connect"]
    for key, value in conf.items():
        argv += ["--conf", f"{key}={value}"]
    return argv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return None


@contextlib.contextmanager
def _flock(path: Path, how: int = fcntl.LOCK_EX) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, how)
        yield
    finally:
        os.close(fd)  # closing drops the lock


class ConnectServer:
    """The local Connect server's files under the engine home, and starting/stopping it."""

    def __init__(self, home: Path, processes: process.LocalProcesses) -> None:
        self.home = home
        self.state_file = home / "connect.json"
        self.lock_file = home / "connect.lock"
        self.lease_file = home / "connect.lease"
        self.run_dir = home / "connect"
        self._processes = processes

    def _reap_orphan(self) -> None:
        """Kill a server JVM whose supervisor died (it would hold memory and a port forever)."""
        state = _read_json(self.state_file) or {}
        jvm_pid = state.get("jvm_pid")
        if not jvm_pid:
            return
        try:
            cmdline = Path(f"/proc/{jvm_pid}/cmdline").read_bytes()
        except OSError:
            return
        if SERVER_CLASS.encode() in cmdline and str(self.home).encode() in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(jvm_pid, signal.SIGKILL)

    def state(self) -> dict[str, Any] | None:
        """connect.json when its supervisor is alive, else None."""
        state = _read_json(self.state_file)
        if state is None:
            return None
        if self._processes.poll(state["run_id"]).state is not states.JobRunState.RUNNING:
            return None
        return state

    def url(self) -> str | None:
        """The running server's URL (for cancelling), without starting one."""
        state = self.state()
        return f"sc://127.0.0.1:{state['port']}" if state else None

    def ensure(
        self, spark_submit: str, master: str, env: Mapping[str, str], idle_timeout: float
    ) -> str:
        """The URL of a ready server, starting one (under the lock) when none is healthy."""
        self.home.mkdir(parents=True, exist_ok=True)
        with _flock(self.lock_file):
            state = self.state()
            if state and state.get("status") == "ready" and _port_open(state["port"]):
                # Touched under the lock: the supervisor re-reads it under the same lock.
                _write_json(self.state_file, {**state, "last_used": time.time()})
                return f"sc://127.0.0.1:{state['port']}"
            if state:  # alive but not serving: a stuck start or a hung server
                self._processes.cancel(state["run_id"], grace=2.0)
            else:
                self._reap_orphan()
            return self._start(spark_submit, master, env, idle_timeout)

    def _start(
        self, spark_submit: str, master: str, env: Mapping[str, str], idle_timeout: float
    ) -> str:
        port = _free_port()
        local_dir = self.home / "tmp" / "connect"
        local_dir.mkdir(parents=True, exist_ok=True)
        root = str(Path(__file__).resolve().parents[1])
        child_env = {
            **env,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")])),
        }
        argv = [
            sys.executable,
            "-m",
            "engines.spark_connect",
            "serve",
            "--home",
            str(self.home),
            "--port",
            str(port),
            "--idle",
            str(idle_timeout),
            "--",
            *server_argv(spark_submit, master, port, local_dir),
        ]
        run_id = self._processes.spawn(argv, run_dir=self.run_dir, cwd=self.home, env=child_env)
        pid = process.ProcessRunId.parse(run_id).pid
        started = time.time()
        state = {
            "run_id": run_id,
            "pid": pid,
            "pgid": pid,
            "port": port,
            "started_at": started,
            "last_used": started,
            "status": "starting",
        }
        _write_json(self.state_file, state)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            current = _read_json(self.state_file) or {}
            if current.get("run_id") == run_id and current.get("status") == "ready":
                return f"sc://127.0.0.1:{port}"
            if self._processes.poll(run_id).state is not states.JobRunState.RUNNING:
                break
            time.sleep(0.1)
        self._processes.cancel(run_id, grace=2.0)
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()
        tail = list(self._processes.logs(run_id))[-5:]
        raise errors.EngineError(
            "the Spark Connect server did not start; last log lines:\n" + "\n".join(tail),
            retryable=True,
        )

    def stop(self, grace: float = 10.0) -> None:
        """Stop the server now (TERM to its group, KILL after ``grace``) and wait for it."""
        with _flock(self.lock_file):
            state = self.state()
            with contextlib.suppress(FileNotFoundError):
                self.state_file.unlink()
        if state is None:
            return
        self._processes.cancel(state["run_id"], grace)
        deadline = time.monotonic() + grace + 5
        while time.monotonic() < deadline:
            if self._processes.poll(state["run_id"]).state is not states.JobRunState.RUNNING:
                break
            time.sleep(0.1)


# -- the processes run with ``python -m engines.spark_connect`` -------------------------------


def _serve(home: Path, port: int, idle: float, argv: Sequence[str]) -> int:
    """Supervise the server JVM: mark it ready when healthy, stop it when idle or told to."""
    state_file, lock_file, lease_file = (
        home / "connect.json",
        home / "connect.lock",
        home / "connect.lease",
    )
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    jvm = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL)  # our group; logs are ours
    deadline = time.monotonic() + START_TIMEOUT
    while not _port_open(port) and jvm.poll() is None and not stop:
        if time.monotonic() > deadline:
            stop = True
        time.sleep(0.1)
    url = f"sc://127.0.0.1:{port}"
    if jvm.poll() is None and not stop:
        # Health means a client session answers a query (it also warms the server up).
        check = _run_quietly(
            [sys.executable, "-m", "engines.spark_connect", "health", url],
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
        if check.returncode == 0:
            state = _read_json(state_file) or {}
            _write_json(state_file, {**state, "status": "ready", "jvm_pid": jvm.pid})
            print(f"adhere: Spark Connect server ready at {url}", flush=True)
        else:
            stop = True
    last_active = time.time()
    while jvm.poll() is None and not stop:
        time.sleep(1.0)
        if _lease_held(lease_file):
            last_active = time.time()
            continue
        state = _read_json(state_file) or {}
        if time.time() - max(last_active, float(state.get("last_used", 0))) < idle:
            continue
        with _flock(lock_file):  # a submit in progress holds it: re-check under it
            state = _read_json(state_file) or {}
            if _lease_held(lease_file) or time.time() - float(state.get("last_used", 0)) < idle:
                continue
            print(f"adhere: idle for {idle:g} s, stopping the Spark Connect server", flush=True)
            if state.get("pid") == os.getpid():
                state_file.unlink()
            stop = True
    if jvm.poll() is None:
        jvm.terminate()
        try:
            jvm.wait(15)
        except subprocess.TimeoutExpired:
            jvm.kill()
    with _flock(lock_file):
        state = _read_json(state_file) or {}
        if state.get("pid") == os.getpid():
            state_file.unlink()
    return 0


def _run_quietly(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    """subprocess.run, with a timeout as a failed run rather than an exception."""
    try:
        return subprocess.run(argv, **kwargs)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 1)


def _lease_held(lease_file: Path) -> bool:
    """True while some client holds the shared lease (we cannot get it exclusively)."""
    fd = os.open(lease_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _health(url: str) -> int:
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(url).create()
    spark.range(1).collect()
    spark.stop()
    return 0


def _interrupt(url: str) -> int:
    """Interrupt every operation of the session named in ``url`` (a cancelled run's)."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(url).create()
    print("interrupted:", spark.interruptAll(), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engines.spark_connect")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--home", type=Path, required=True)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--idle", type=float, required=True)
    serve.add_argument("argv", nargs=argparse.REMAINDER)
    sub.add_parser("health").add_argument("url")
    sub.add_parser("interrupt").add_argument("url")
    args = parser.parse_args(argv)
    if args.command == "serve":
        rest = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        return _serve(args.home, args.port, args.idle, rest)
    if args.command == "health":
        return _health(args.url)
    return _interrupt(args.url)


if __name__ == "__main__":
    sys.exit(main())
