"""The ``glueray`` engine on a real local Ray head, and the Jobs API mode against its dashboard.

One head serves the session (it takes ~10 s to start); the contract suite shares it through
the same home. The last tests stop it by its pids and check that nothing of it remains.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import queue
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engines import base, process, ray_cluster
from engines import ray as ray_engine
from orchestrator import errors, states

J = states.JobRunState
REQUIRE_SERVICES = os.environ.get("ADHERE_REQUIRE_SERVICES") == "1"
TIMEOUT = 60.0

pytestmark = pytest.mark.ray


def _needs_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        if REQUIRE_SERVICES:
            pytest.fail("ray is not installed and ADHERE_REQUIRE_SERVICES=1")
        pytest.skip("ray is not installed: pip install 'adhere[ray]'")


@pytest.fixture(scope="session")
def ray_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The home of the session's head (the contract suite uses the same path)."""
    _needs_ray()
    home = tmp_path_factory.getbasetemp() / "glueray"
    ray_cluster.LocalCluster(home).ensure()
    yield home
    cluster = ray_cluster.LocalCluster(home)
    info = cluster.read()
    cluster.stop()
    if info is not None:
        assert ray_cluster.wait_gone([*info.pids, info.reaper_pid], 10.0)
        assert ray_cluster.session_members(info.pid) == []


@pytest.fixture
def engine(ray_home: Path) -> Iterator[ray_engine.RayEngine]:
    eng = ray_engine.RayEngine(ray_home)
    yield eng
    eng.close()


@pytest.fixture
def info(ray_home: Path) -> ray_cluster.ClusterInfo:
    return ray_cluster.LocalCluster(ray_home).ensure()


@pytest.fixture
def jobs_engine(ray_home: Path, info: ray_cluster.ClusterInfo) -> Iterator[ray_engine.RayEngine]:
    """The remote mode, pointed at the local head's dashboard: a real Jobs API server."""
    eng = ray_engine.RayEngine(
        ray_home / "remote-client",
        {"ray_address": info.dashboard_url, "ray_auth_token": info.token()},
    )
    yield eng
    eng.close()


def request(tmp_path: Path, body: str, job_run_id: str = "jr_1", **kw: object) -> base.RunRequest:
    script = tmp_path / "job" / "job.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text(textwrap.dedent(body))
    return base.RunRequest(job_run_id, "job", str(script), run_dir=tmp_path / "run", **kw)  # type: ignore[arg-type]


def wait_terminal(engine: base.Engine, run_id: str, timeout: float = TIMEOUT) -> base.EngineStatus:
    deadline = time.monotonic() + timeout
    while (status := engine.poll(run_id)).state not in states.JOB_RUN_TERMINAL:
        assert status.state is J.RUNNING
        assert time.monotonic() < deadline, f"still running after {timeout}s"
        time.sleep(0.05)
    return status


def wait_for(predicate: object, timeout: float = TIMEOUT, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def gone(pid: int) -> bool:
    stat = process.proc_stat(pid)
    return stat is None or stat[0] in ("Z", "X")


RAY_TASK = """
    import sys
    import ray
    ray.init()
    @ray.remote
    def double(x):
        return 2 * x
    print("answer", ray.get(double.remote(21)), sys.argv[1:], flush=True)
"""


# -- local drivers --------------------------------------------------------------------------


def test_a_driver_runs_tasks_on_the_head(engine: ray_engine.RayEngine, tmp_path: Path) -> None:
    ended: queue.Queue[str] = queue.Queue()
    engine.set_listener(ended.put)
    run_id = engine.submit(request(tmp_path, RAY_TASK, arguments={"--day": "it's $HOME"}))
    engine.follow("jr_1", run_id)
    assert run_id.startswith("local:")
    assert ended.get(timeout=TIMEOUT) == "jr_1"
    assert engine.poll(run_id) == base.EngineStatus(J.SUCCEEDED, exit_code=0)
    assert "answer 42 ['--day', \"it's $HOME\"]" in list(engine.logs(run_id))


def test_a_failing_remote_task_fails_the_run_with_its_error(
    engine: ray_engine.RayEngine, tmp_path: Path
) -> None:
    body = """
        import ray
        ray.init()
        @ray.remote(max_retries=0)
        def parse(row):
            raise ValueError(f"bad row {row!r}")
        ray.get(parse.remote("x"))
    """
    status = wait_terminal(engine, engine.submit(request(tmp_path, body)))
    assert status.state is J.FAILED
    assert status.error_message is not None and "bad row 'x'" in status.error_message


def test_cancel_stops_the_driver_and_ray_drops_its_tasks(
    engine: ray_engine.RayEngine, tmp_path: Path
) -> None:
    pid_file = tmp_path / "worker.pid"
    body = f"""
        import os, time, ray
        ray.init()
        @ray.remote
        def hold():
            with open({str(pid_file)!r}, "w") as f:
                f.write(str(os.getpid()))
            time.sleep(120)
        ray.get(hold.remote())
    """
    run_id = engine.submit(request(tmp_path, body))
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the task to start")
    worker = int(pid_file.read_text())
    engine.cancel(run_id, grace=2.0)
    assert wait_terminal(engine, run_id).state is J.STOPPED
    wait_for(lambda: gone(worker), 10.0, "Ray to kill the task's worker")


def test_a_new_engine_instance_reattaches_to_a_running_driver(
    ray_home: Path, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    body = f"""
        import os, time, ray
        ray.init()
        print("connected", flush=True)
        while not os.path.exists({str(release)!r}):
            time.sleep(0.02)
        print("released")
    """
    before = ray_engine.RayEngine(ray_home)
    run_id = before.submit(request(tmp_path, body))
    wait_for(lambda: "connected" in list(before.logs(run_id)), what="the driver")
    before.close()

    after = ray_engine.RayEngine(ray_home)
    try:
        ended: queue.Queue[str] = queue.Queue()
        after.set_listener(ended.put)
        assert after.poll(run_id).state is J.RUNNING
        after.follow("jr_adopted", run_id)
        release.touch()
        assert ended.get(timeout=TIMEOUT) == "jr_adopted"
        assert after.poll(run_id).state is J.SUCCEEDED
        assert "released" in list(after.logs(run_id))
    finally:
        after.close()


def test_a_second_engine_reuses_the_head_from_cluster_json(
    ray_home: Path, info: ray_cluster.ClusterInfo
) -> None:
    started = time.monotonic()
    again = ray_cluster.LocalCluster(ray_home).ensure()
    assert time.monotonic() - started < 1.0
    assert (again.pid, again.address) == (info.pid, info.address)


def listening_sockets(pids: list[int]) -> set[tuple[str, int]]:
    """(address, port) of the TCP sockets in LISTEN state held by ``pids``, from /proc."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:["):
                        inodes.add(link[8:-1])
        except OSError:
            continue
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.readlines()[1:]:
                cols = row.split()
                if cols[3] != "0A" or cols[9] not in inodes:  # 0A = LISTEN
                    continue
                hex_ip, hex_port = cols[1].split(":")
                raw = bytes.fromhex(hex_ip)
                if len(raw) == 4:
                    ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
                else:  # IPv6: four little-endian 32-bit words
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    ip = socket.inet_ntop(socket.AF_INET6, words)
                found.add((ip, int(hex_port, 16)))
    return found


def test_the_head_listens_on_loopback_only(info: ray_cluster.ClusterInfo) -> None:
    listening = listening_sockets(ray_cluster.session_members(info.pid))
    assert listening, "found no listening socket of the head"
    # An IPv6 socket bound to ::ffff:127.0.0.1 is IPv4 loopback too.
    assert all(ipaddress.ip_address(ip.removeprefix("::ffff:")).is_loopback for ip, _ in listening)
    assert not [ip for ip, _ in listening if ip in ("0.0.0.0", "::")], listening
    ports = {port for _, port in listening}
    assert int(info.address.rpartition(":")[2]) in ports
    assert not ports & {6379, 8265, 10001, 52365}, "a default port: two heads would collide"


def test_the_heads_files_stay_in_its_home(info: ray_cluster.ClusterInfo) -> None:
    assert Path(info.temp_dir, "session_latest").exists()
    assert Path(info.token_path).stat().st_mode & 0o077 == 0


# -- the Jobs API ---------------------------------------------------------------------------


def test_jobs_api_runs_a_job_once_even_when_resubmitted(
    jobs_engine: ray_engine.RayEngine, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    body = f"""
        import os, sys
        import helper
        with open({str(marker)!r}, "a") as f:
            f.write("ran\\n")
        print(helper.NAME, sys.argv[1:], os.environ["ADHERE_MARK"], os.environ["ADHERE_RAY_NUM_CPUS"])
    """
    req = request(
        tmp_path,
        body,
        arguments={"--note": "a b; $(touch pwned)"},
        env={"ADHERE_MARK": "marked"},
        worker_type="Z.2X",
        number_of_workers=2,
    )
    (tmp_path / "job" / "helper.py").write_text("NAME = 'from the working dir'\n")
    ended: queue.Queue[str] = queue.Queue()
    jobs_engine.set_listener(ended.put)
    run_id = jobs_engine.submit(req)
    assert run_id.startswith(f"jobs:adhere-jr_1:{jobs_engine.address}")
    assert jobs_engine.submit(req) == run_id  # a crash-and-resubmit re-attaches
    jobs_engine.follow("jr_1", run_id)
    assert ended.get(timeout=TIMEOUT) == "jr_1"
    assert jobs_engine.poll(run_id) == base.EngineStatus(J.SUCCEEDED, exit_code=0)
    lines = list(jobs_engine.logs(run_id))
    assert "from the working dir ['--note', 'a b; $(touch pwned)'] marked 16" in lines
    assert jobs_engine.submit(req) == run_id
    time.sleep(0.5)
    assert marker.read_text() == "ran\n"
    assert not list(tmp_path.rglob("pwned"))


def test_jobs_api_failure_and_stop(jobs_engine: ray_engine.RayEngine, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    failing = jobs_engine.submit(
        request(tmp_path / "a", 'print("working")\nraise ValueError("boom")', "jr_fail")
    )
    body = 'import time\nprint("started", flush=True)\ntime.sleep(120)'
    sleeping = jobs_engine.submit(request(tmp_path / "b", body, "jr_sleep"))
    status = wait_terminal(jobs_engine, failing)
    assert (status.state, status.error_message, status.exit_code) == (
        J.FAILED,
        "ValueError: boom",
        1,
    )
    wait_for(lambda: "started" in list(jobs_engine.logs(sleeping)), what="the job to start")
    # A new instance (a restarted orchestrator) stops it from the id alone.
    other = ray_engine.RayEngine(jobs_engine.home, jobs_engine.options)
    try:
        other.cancel(sleeping)
        assert wait_terminal(other, sleeping).state is J.STOPPED
    finally:
        other.close()


def test_run_ids_of_another_engine_are_refused(engine: ray_engine.RayEngine) -> None:
    with pytest.raises(errors.EngineError, match="not a Ray engine run id"):
        engine.poll("123:456:/tmp/run")


# -- stopping the head (these run last: they stop or start heads) ---------------------------


def test_the_idle_head_is_stopped_by_its_pids(ray_home: Path, tmp_path: Path) -> None:
    eng = ray_engine.RayEngine(ray_home, {"ray_idle_timeout": "1"})
    try:
        ended: queue.Queue[str] = queue.Queue()
        eng.set_listener(ended.put)
        info = eng.cluster.ensure()
        eng.follow("jr_1", eng.submit(request(tmp_path, 'print("last job")')))
        assert ended.get(timeout=TIMEOUT) == "jr_1"
        wait_for(lambda: eng.cluster.read() is None, 30.0, "the idle stop")
        assert ray_cluster.wait_gone(list(info.pids), 10.0)
        assert ray_cluster.session_members(info.pid) == []
    finally:
        eng.close()


def test_two_processes_starting_at_once_start_one_head_that_reaps_itself(tmp_path: Path) -> None:
    """Both adhere processes exit at once; the head's reaper stops it when idle."""
    _needs_ray()
    home = tmp_path / "two-processes"  # too long for Ray's socket paths: a short temp dir
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]);"
        "from pathlib import Path; from engines import ray_cluster;"
        "print(ray_cluster.LocalCluster(Path(sys.argv[1]), idle_timeout=1).ensure().pid)"
    )
    root = str(Path(ray_engine.__file__).parents[1])
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(home), root], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    pids = {int(p.communicate(timeout=120)[0].split()[-1]) for p in procs}
    cluster = ray_cluster.LocalCluster(home)
    info = cluster.read()
    assert info is not None and pids == {info.pid}
    assert info.temp_dir.startswith("/tmp/adhere-ray-")
    wait_for(lambda: cluster.read() is None, 30.0, "the reaper to stop the idle head")
    assert ray_cluster.wait_gone([*info.pids, info.reaper_pid], 10.0)
    assert ray_cluster.session_members(info.pid) == []
    assert not Path(info.temp_dir).exists()
