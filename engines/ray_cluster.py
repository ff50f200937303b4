"""The local Ray cluster that the ``glueray`` engine starts on demand, owns and stops.

One head per engine home, recorded in ``<home>/cluster.json`` so that any adhere process
re-uses it (``fcntl.flock`` on ``<home>/cluster.lock`` keeps two processes from starting two).
It is started as ``<venv>/bin/ray start --head --block`` in a session of its own: the session
leader is ``ray start`` itself, so every Ray process (workers put themselves in process groups
of their own, not sessions) carries its pid as session id, and we stop exactly those, never
with ``ray stop``, which kills every Ray process on the host (engines.md pitfall 4). Idle
heads stop after ``idle_timeout`` s without use: the engine checks while it lives, and a small
reaper process (``python -m engines.ray_cluster``) started with the head checks after every
adhere process has exited, so a warm head never lingers.

Why these flags (engines.md, measured): ``--node-ip-address=127.0.0.1`` alone is replaced by
the machine's address; ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (head *and* drivers) keeps it
on 127.0.0.1. Token auth stays on with our own token file (0600, ``<home>/auth_token``,
passed as ``RAY_AUTH_TOKEN_PATH``), because loopback alone still lets any local user run code
as us; nothing reads or writes ``~/.ray``. Ports are chosen free, not 6379/8265/10001/52365.
This module never imports ``ray``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from engines.process import proc_stat
from orchestrator import errors

log = logging.getLogger(__name__)

CLUSTER_FILE = "cluster.json"
LOCK_FILE = "cluster.lock"
TOKEN_FILE = "auth_token"
HEAD_LOG = "head.log"
START_TIMEOUT = 90.0
# Ray puts unix sockets at <temp>/session_<date>_<usec>_<pid>/sockets/plasma_store (~65 chars
# below the temp dir); AF_UNIX paths end at 107 bytes. A longer temp dir goes to /tmp.
MAX_TEMP_DIR = 40
ACTIVE_JOB_STATES = ("PENDING", "RUNNING")


def _alive(pid: int, ticks: int) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat[2] == ticks and stat[0] not in ("Z", "X")


def session_members(sid: int) -> list[int]:
    """Pids of the live processes in session ``sid``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat is not None and stat[1] == sid and stat[0] not in ("Z", "X"):
                out.append(int(entry))
    return out


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclasses.dataclass(frozen=True)
class ClusterInfo:
    """What ``cluster.json`` records of a running head."""

    address: str  # host:gcs_port, the RAY_ADDRESS of drivers
    dashboard_url: str
    pid: int  # `ray start --block`: session leader, so sid == pgid == pid
    start_ticks: int
    pids: tuple[int, ...]
    temp_dir: str
    token_path: str
    num_cpus: int
    started_at: float
    last_used: float
    reaper_pid: int = 0  # our idle reaper (its own session), 0 when none
    reaper_ticks: int = 0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ClusterInfo:
        raw = json.loads(text)
        raw["pids"] = tuple(raw["pids"])
        return cls(**raw)

    def alive(self) -> bool:
        return _alive(self.pid, self.start_ticks)

    def token(self) -> str:
        return Path(self.token_path).read_text().strip()


def venv_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment with this interpreter's bin first on PATH (a job's ``python`` is ours)."""
    env = dict(os.environ if base is None else base)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(
        [bin_dir, *[p for p in env.get("PATH", "").split(os.pathsep) if p]]
    )
    return env


def ray_script() -> Path:
    """The ``ray`` CLI of this interpreter's environment (not whatever ``ray`` PATH finds)."""
    return Path(sys.executable).parent / "ray"


class LocalCluster:
    """The head recorded under ``home``: ensure it is up, touch it, stop it."""

    def __init__(
        self, home: Path, num_cpus: int | None = None, idle_timeout: float = 300.0
    ) -> None:
        self.home = Path(home).resolve()
        self.num_cpus = num_cpus or os.cpu_count() or 1
        self.idle_timeout = idle_timeout
        self._mutex = threading.Lock()
        self._info: ClusterInfo | None = None

    # -- files ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive across threads (mutex) and processes (flock on its own open file)."""
        self.home.mkdir(parents=True, exist_ok=True)
        with self._mutex, open(self.home / LOCK_FILE, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def read(self) -> ClusterInfo | None:
        try:
            return ClusterInfo.from_json((self.home / CLUSTER_FILE).read_text())
        except (FileNotFoundError, ValueError, TypeError, KeyError):
            return None

    def _write(self, info: ClusterInfo) -> None:
        path = self.home / CLUSTER_FILE
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(info.to_json())
        os.replace(tmp, path)
        self._info = info

    def _temp_dir(self) -> Path:
        preferred = self.home / "ray"
        if len(str(preferred)) <= MAX_TEMP_DIR:
            return preferred
        digest = hashlib.sha1(str(self.home).encode()).hexdigest()[:12]
        return Path("/tmp") / f"adhere-ray-{digest}"

    # -- health ---------------------------------------------------------------------------

    def _get(self, info: ClusterInfo, path: str, timeout: float = 2.0) -> object:
        req = urllib.request.Request(
            info.dashboard_url + path, headers={"Authorization": f"Bearer {info.token()}"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.load(resp)

    def healthy(self, info: ClusterInfo) -> bool:
        """The dashboard answers ``/api/version`` and the head's raylet is ALIVE (pitfall 5)."""
        if not info.alive():
            return False
        try:
            self._get(info, "/api/version")
            nodes = self._get(info, "/nodes?view=summary")
        except (OSError, ValueError):
            return False
        summary = nodes.get("data", {}).get("summary", []) if isinstance(nodes, dict) else []
        return any((n.get("raylet") or {}).get("state") == "ALIVE" for n in summary)

    def active_jobs(self, info: ClusterInfo) -> int | None:
        """Drivers and submitted jobs still PENDING/RUNNING (any process's), None if unknown."""
        try:
            jobs = self._get(info, "/api/jobs/", timeout=5.0)
        except (OSError, ValueError):
            return None
        return sum(1 for j in jobs if isinstance(j, dict) and j.get("status") in ACTIVE_JOB_STATES)

    # -- life cycle -----------------------------------------------------------------------

    def ensure(self) -> ClusterInfo:
        """The running head, started if there is none (or only a broken one); marks it used.

        Always under the lock, so a use is recorded before any idle stop can decide (the
        idle check reads ``last_used`` under the same lock): a submit never gets a head that
        is being stopped. Health is checked over HTTP only when the head is new to us.
        """
        with self._locked():
            info = self.read()
            known = self._info is not None and info is not None and self._info.pid == info.pid
            if info is None or not (info.alive() if known else self.healthy(info)):
                if info is not None:
                    log.warning("the Ray head of %s is not healthy; restarting it", self.home)
                    self._stop(info, grace=2.0)
                    self._forget(info)
                info = self._start()
            info = dataclasses.replace(info, last_used=time.time())
            self._write(info)
            return info

    def _start(self) -> ClusterInfo:
        script = ray_script()
        if not script.exists():
            raise errors.EngineNotInstalled("Ray engine needs: pip install 'adhere[ray]'")
        token_path = self.home / TOKEN_FILE
        if not token_path.exists():
            fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        temp_dir = self._temp_dir()
        temp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        gcs, dashboard, client, agent = _free_ports(4)
        argv = [
            str(script), "start", "--head", "--block",
            "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
            f"--port={gcs}", f"--dashboard-port={dashboard}",
            f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent}",
            f"--num-cpus={self.num_cpus}", f"--temp-dir={temp_dir}",
            "--disable-usage-stats", "--log-style=record", "--log-color=false",
        ]  # fmt: skip
        env = head_env(str(token_path))
        started_at = time.time()
        with open(self.home / HEAD_LOG, "wb") as out:
            proc = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.home, start_new_session=True,
            )  # fmt: skip
        # Reaped by a thread: the head outlives this process when it exits first.
        threading.Thread(target=proc.wait, daemon=True, name="adhere-ray-head-reaper").start()
        stat = proc_stat(proc.pid)
        info = ClusterInfo(
            address=f"127.0.0.1:{gcs}",
            dashboard_url=f"http://127.0.0.1:{dashboard}",
            pid=proc.pid,
            start_ticks=stat[2] if stat else 0,
            pids=(proc.pid,),
            temp_dir=str(temp_dir),
            token_path=str(token_path),
            num_cpus=self.num_cpus,
            started_at=started_at,
            last_used=started_at,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.healthy(info):
            if proc.poll() is not None or time.monotonic() > deadline:
                self._stop(info, grace=1.0)
                tail = (self.home / HEAD_LOG).read_text(errors="replace").strip().splitlines()[-5:]
                raise errors.EngineError(
                    "the local Ray head did not come up: " + (" | ".join(tail) or "no output"),
                    retryable=True,
                )
            time.sleep(0.2)
        info = dataclasses.replace(info, pids=tuple(sorted(session_members(proc.pid))))
        info = self._start_reaper(info)
        self._write(info)
        log.info("Ray head up at %s (%s) in %.1fs", info.address, info.dashboard_url,
                 time.time() - started_at)  # fmt: skip
        return info

    def _start_reaper(self, info: ClusterInfo) -> ClusterInfo:
        """A small process that stops the head once idle, even after every adhere exits."""
        package_root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        argv = [sys.executable, "-m", "engines.ray_cluster", str(self.home)]
        argv += [str(self.idle_timeout), str(info.pid)]
        with open(self.home / "reaper.log", "ab") as out:
            reaper = subprocess.Popen(
                argv, env=env, cwd=self.home, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        threading.Thread(target=reaper.wait, daemon=True, name="adhere-ray-reaper-wait").start()
        stat = proc_stat(reaper.pid)
        return dataclasses.replace(info, reaper_pid=reaper.pid, reaper_ticks=stat[2] if stat else 0)

    def stop(self, grace: float = 5.0) -> bool:
        """Stop the recorded head by its pids (TERM, KILL after ``grace``); False if none ran."""
        with self._locked():
            info = self.read()
            if info is None:
                return False
            self._stop(info, grace)
            self._forget(info)
            return True

    def _forget(self, info: ClusterInfo) -> None:
        """Drop cluster.json, and the temp dir when it is the short one outside home."""
        with contextlib.suppress(FileNotFoundError):
            (self.home / CLUSTER_FILE).unlink()
        if not Path(info.temp_dir).is_relative_to(self.home):
            shutil.rmtree(info.temp_dir, ignore_errors=True)

    def stop_if_idle(self, idle_timeout: float, busy_here: bool) -> bool:
        """Stop the head when nobody used it for ``idle_timeout`` s and no job runs on it."""
        with self._locked():
            info = self.read()
            if info is None:
                self._info = None
                return False
            if busy_here:
                self._write(dataclasses.replace(info, last_used=time.time()))
                return False
            if time.time() - info.last_used < idle_timeout:
                return False
            if info.alive() and self.active_jobs(info) != 0:  # unknown counts as busy
                self._write(dataclasses.replace(info, last_used=time.time()))
                return False
            log.info("stopping the idle Ray head %s", info.address)
            self._stop(info, grace=5.0)
            self._forget(info)
            return True

    def _stop(self, info: ClusterInfo, grace: float) -> None:
        """TERM ``ray start`` (it shuts its children down), then KILL the whole session."""
        self._info = None
        if (
            info.reaper_pid
            and info.reaper_pid != os.getpid()
            and _alive(info.reaper_pid, info.reaper_ticks)
        ):
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.reaper_pid, signal.SIGTERM)
        stat = proc_stat(info.pid)
        if stat is not None and stat[2] != info.start_ticks:
            # The pid is someone else's now, so our session is empty (Linux keeps a pid
            # unused while a session of that id has members): only the recorded pids remain.
            members = [p for p in info.pids if p != info.pid]
        else:
            members = session_members(info.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and session_members(info.pid):
            time.sleep(0.1)
        for pid in set(members) | set(session_members(info.pid)):
            member = proc_stat(pid)
            if member is not None and member[1] == info.pid:  # still in our session
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and session_members(info.pid):
            time.sleep(0.1)


def head_env(token_path: str) -> dict[str, str]:
    """Environment of the head: venv first on PATH, loopback only, our token, no user state."""
    env = venv_env()
    for key in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_API_SERVER_ADDRESS"):
        env.pop(key, None)
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=token_path,
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_USAGE_STATS_ENABLED="0",
    )
    return env


def driver_env(info: ClusterInfo, base: dict[str, str]) -> dict[str, str]:
    """Environment of a job's driver: a bare ``ray.init()`` connects to our head, at once."""
    env = venv_env(base)
    for key in ("RAY_AUTH_TOKEN", "RAY_API_SERVER_ADDRESS"):
        env.pop(key, None)
    env.update(
        RAY_ADDRESS=info.address,
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=info.token_path,
        # Without it the driver rewrites 127.0.0.1 to the machine's address and retries forever.
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_USAGE_STATS_ENABLED="0",
    )
    return env


def wait_gone(pids: list[int], timeout: float) -> bool:
    """True when none of ``pids`` is alive within ``timeout`` seconds (for tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any((s := proc_stat(p)) is not None and s[0] not in ("Z", "X") for p in pids):
            return True
        time.sleep(0.1)
    return False


def reap(home: Path, idle_timeout: float, pid: int) -> None:
    """The reaper's loop: stop the head ``pid`` once idle; end when it is gone or replaced."""
    cluster = LocalCluster(home, idle_timeout=idle_timeout)
    every = min(max(idle_timeout / 4, 0.25), 15.0)
    while True:
        time.sleep(every)
        info = cluster.read()
        if info is None or info.pid != pid or not info.alive():
            return
        try:
            if cluster.stop_if_idle(idle_timeout, busy_here=False):
                return
        except Exception:  # keep watching: a failed check must not leave the head forever
            log.exception("the idle check of %s failed", home)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    reap(Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]))
