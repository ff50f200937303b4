"""The ``glueray`` engine: Glue's Ray jobs, on a local Ray cluster or through the Ray Jobs API.

Local (no ``ray_address``): one head per engine home, started on demand and kept warm
(engines/ray_cluster.py); each job is a driver process (``python _boot.py script argv``, via
engines/process.py) whose environment points a bare ``ray.init()`` at that head. Stopping the
run kills the driver's process group, and Ray then drops the driver's tasks and actors.
Remote (``ray_address`` = ``http://host:8265``): jobs go through ``JobSubmissionClient``.

Engine run ids: ``local:<process run id>`` and ``jobs:<submission id>:<dashboard url>``
(the submission id is ``adhere-<job run id>``, so a resubmission after a crash re-attaches).

Options (strings; the Settings fields of the same names): ``ray_address``,
``ray_idle_timeout`` (seconds without runs before the local head is stopped), and
``ray_auth_token`` (bearer token for a remote dashboard; otherwise Ray's own RAY_AUTH_* vars).

Glue capacity on Ray: a Glue Ray worker (``Z.2X``) is 8 vCPU / 64 GB; ``G.1X``/``G.2X``/
``G.4X``/``G.8X`` are read as 4/8/16/32 vCPU. A job asks for vCPU x NumberOfWorkers CPUs; we
pass that to the script as ``ADHERE_RAY_NUM_CPUS`` (locally capped at the head's CPUs, which
are the machine's cores) with ``ADHERE_RAY_WORKER_TYPE`` and ``ADHERE_RAY_NUMBER_OF_WORKERS``.
Not honoured: Ray has no per-job CPU or memory quota, so one job's tasks may use the whole
cluster; memory per worker is not enforced; workers are not provisioned (adding nodes is the
cluster's autoscaler's business). We do not set ``entrypoint_num_cpus``: it reserves CPUs for
the driver alone, and reserving the job's total there would leave none for its tasks.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shlex
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from engines import base, process, ray_cluster
from orchestrator import errors, scripts, states

log = logging.getLogger(__name__)

NOT_INSTALLED = "Ray engine needs: pip install 'adhere[ray]'"
LOCAL = "local:"
JOBS = "jobs:"
WORKER_VCPUS = {"Z.2X": 8, "G.1X": 4, "G.2X": 8, "G.4X": 16, "G.8X": 32}
# Ray Jobs API status -> Glue; PENDING (runtime env being built, driver not started) is not
# terminal, and the interface only knows RUNNING for "not ended yet".
_JOB_STATES = {
    "PENDING": states.JobRunState.RUNNING,
    "RUNNING": states.JobRunState.RUNNING,
    "SUCCEEDED": states.JobRunState.SUCCEEDED,
    "FAILED": states.JobRunState.FAILED,
    "STOPPED": states.JobRunState.STOPPED,
}
WATCH_INTERVAL = 0.25


def requested_cpus(request: base.RunRequest) -> int | None:
    """vCPU x workers asked for by WorkerType/NumberOfWorkers, None when not said."""
    vcpus = WORKER_VCPUS.get(request.worker_type or "")
    if vcpus is None or not request.number_of_workers:
        return None
    return vcpus * request.number_of_workers


def _modules(arguments: Mapping[str, str]) -> list[str]:
    raw = arguments.get("--additional-python-modules") or arguments.get("additional-python-modules")
    return [m.strip() for m in (raw or "").split(",") if m.strip()]


def _script_path(request: base.RunRequest) -> Path:
    script = scripts.local_path(request.script).resolve()  # s3://: the dispatcher fetched it
    if not script.is_file():
        raise errors.EngineError(f"script not found: {script}")
    return script


class RayEngine(base.Engine):
    """Local drivers on an owned, warm head; or jobs on a remote cluster's Jobs API.

    Both kinds push their end: local runs from the process watcher, remote runs from a
    thread that polls the Jobs API every 0.25 s while any is active.
    """

    command = "glueray"
    supports_push = True

    def __init__(self, home: Path, options: Mapping[str, str] | None = None) -> None:
        super().__init__(home, options)
        self.address = (self.options.get("ray_address") or "").rstrip("/") or None
        self.idle_timeout = float(self.options.get("ray_idle_timeout") or 300.0)
        self.cluster = ray_cluster.LocalCluster(home, idle_timeout=self.idle_timeout)
        self._processes = process.LocalProcesses(self._local_ended)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._active_local: set[str] = set()
        self._active_remote: set[str] = set()
        self._clients: dict[str, Any] = {}
        self._idle_thread: threading.Thread | None = None
        self._watch_thread: threading.Thread | None = None

    def check(self) -> None:
        """Ray importable here (no import: that costs ~1 s); locally, its CLI beside us."""
        if importlib.util.find_spec("ray") is None:
            raise errors.EngineNotInstalled(NOT_INSTALLED)
        if self.address is None and not ray_cluster.ray_script().exists():
            raise errors.EngineNotInstalled(
                f"{NOT_INSTALLED} (no {ray_cluster.ray_script()} beside this Python)"
            )

    # -- the interface ------------------------------------------------------------------------

    def submit(self, request: base.RunRequest) -> str:
        self.check()
        script = _script_path(request)
        if self.address is not None:
            return self._submit_remote(self.address, request, script)
        return self._submit_local(request, script)

    def poll(self, engine_run_id: str) -> base.EngineStatus:
        kind, rest = _split(engine_run_id)
        if kind == LOCAL:
            status = self._processes.poll(rest)
            with self._lock:
                if status.state is states.JobRunState.RUNNING:
                    self._active_local.add(engine_run_id)  # adopted: keeps the head warm
                else:
                    self._active_local.discard(engine_run_id)
            return status
        status = self._remote_status(rest)
        if status.state is states.JobRunState.RUNNING:
            self._watch_remote(engine_run_id)
        return status

    def cancel(self, engine_run_id: str, grace: float = 5.0) -> None:
        kind, rest = _split(engine_run_id)
        if kind == LOCAL:
            self._processes.cancel(rest, grace)
            return
        # Ray's job supervisor sends TERM, then KILL after RAY_JOB_STOP_WAIT_TIME_S (3 s):
        # our grace cannot be passed through the API.
        submission_id, address = _parse_jobs(rest)
        try:
            self._client(address).stop_job(submission_id)
        except Exception as exc:
            raise errors.EngineError(
                f"cannot stop Ray job {submission_id}: {exc}", retryable=True
            ) from exc

    def logs(self, engine_run_id: str) -> Iterator[str]:
        kind, rest = _split(engine_run_id)
        if kind == LOCAL:
            return self._processes.logs(rest)
        submission_id, address = _parse_jobs(rest)
        try:
            text = self._client(address).get_job_logs(submission_id)
        except Exception as exc:
            raise errors.EngineError(
                f"cannot read the logs of Ray job {submission_id}: {exc}", retryable=True
            ) from exc
        return iter(text.splitlines())

    def close(self) -> None:
        """Stop watching; the head stays up for the next process unless it is idle already."""
        self._closed.set()
        self._processes.close()
        for thread in (self._idle_thread, self._watch_thread):
            if thread is not None:
                thread.join(timeout=5)
        if self.address is None and self.cluster.read() is not None:
            try:
                with self._lock:
                    busy = bool(self._active_local)
                self.cluster.stop_if_idle(self.idle_timeout, busy_here=busy)
            except Exception:
                log.exception("checking the Ray head for idleness failed")

    # -- local --------------------------------------------------------------------------------

    def _submit_local(self, request: base.RunRequest, script: Path) -> str:
        modules = _modules(request.arguments)
        if modules:
            log.warning(
                "job run %s: --additional-python-modules (%s) is not installed for a local Ray "
                "driver; it runs in adhere's environment (use ray_address for the Jobs API)",
                request.job_run_id, ", ".join(modules),
            )  # fmt: skip
        info = self.cluster.ensure()
        self._start_idle_timer()
        env = ray_cluster.driver_env(info, {**os.environ, **request.env})
        env.update(self._capacity_env(request, info.num_cpus))
        rid = self._processes.spawn(
            process.python_argv(script, request.argv()),
            run_dir=request.run_dir,
            cwd=script.parent,
            env=env,
        )
        engine_run_id = LOCAL + rid
        with self._lock:
            self._active_local.add(engine_run_id)
        return engine_run_id

    def _local_ended(self, rid: str) -> None:
        engine_run_id = LOCAL + rid
        with self._lock:
            self._active_local.discard(engine_run_id)
        self.notify(engine_run_id)

    def _start_idle_timer(self) -> None:
        with self._lock:
            if self._idle_thread is not None or self._closed.is_set():
                return
            self._idle_thread = threading.Thread(
                target=self._idle_loop, name="adhere-ray-idle", daemon=True
            )
            self._idle_thread.start()

    def _idle_loop(self) -> None:
        """Stops the head after ``idle_timeout`` s without runs; busy runs keep it warm."""
        every = min(max(self.idle_timeout / 4, 0.25), 15.0)
        while not self._closed.wait(every):
            with self._lock:
                busy = bool(self._active_local)
            try:
                if self.cluster.stop_if_idle(self.idle_timeout, busy_here=busy):
                    with self._lock:
                        self._idle_thread = None
                    return
            except Exception:
                log.exception("the Ray idle check failed")

    @staticmethod
    def _capacity_env(request: base.RunRequest, cap: int | None) -> dict[str, str]:
        env: dict[str, str] = {}
        cpus = requested_cpus(request)
        if cpus is not None:
            env["ADHERE_RAY_NUM_CPUS"] = str(min(cpus, cap) if cap else cpus)
        if request.worker_type:
            env["ADHERE_RAY_WORKER_TYPE"] = request.worker_type
        if request.number_of_workers:
            env["ADHERE_RAY_NUMBER_OF_WORKERS"] = str(request.number_of_workers)
        return env

    # -- remote (Jobs API) --------------------------------------------------------------------

    def _client(self, address: str) -> Any:
        with self._lock:
            client = self._clients.get(address)
        if client is not None:
            return client
        try:
            from ray.job_submission import JobSubmissionClient
        except ImportError as exc:
            raise errors.EngineNotInstalled(NOT_INSTALLED) from exc
        token = self.options.get("ray_auth_token")
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            client = JobSubmissionClient(address, headers=headers)
        except Exception as exc:  # ConnectionError, RuntimeError (401/403), ...
            raise errors.EngineError(
                f"cannot reach the Ray Jobs API at {address}: {exc}", retryable=True
            ) from exc
        with self._lock:
            return self._clients.setdefault(address, client)

    def _submit_remote(self, address: str, request: base.RunRequest, script: Path) -> str:
        submission_id = f"adhere-{request.job_run_id}".replace(":", "_")
        runtime_env: dict[str, Any] = {
            "working_dir": str(script.parent),
            "env_vars": {**request.env, **self._capacity_env(request, None)},
        }
        modules = _modules(request.arguments)
        if modules:
            runtime_env["pip"] = modules
        # The Jobs API takes a shell string: every word is quoted, nothing is interpolated.
        entrypoint = shlex.join(["python", script.name, *request.argv()])
        client = self._client(address)
        try:
            client.submit_job(
                entrypoint=entrypoint,
                submission_id=submission_id,
                runtime_env=runtime_env,
                metadata={
                    "adhere_job_name": request.job_name,
                    "adhere_job_run_id": request.job_run_id,
                },
            )
        except Exception as exc:
            # A resubmission after a crash: the first one stands (Ray rejects a reused id).
            if "already exists" not in str(exc):
                raise errors.EngineError(
                    f"Ray Jobs API refused {submission_id}: {exc}", retryable=True
                ) from exc
        engine_run_id = f"{JOBS}{submission_id}:{address}"
        self._watch_remote(engine_run_id)
        return engine_run_id

    def _remote_status(self, rest: str) -> base.EngineStatus:
        submission_id, address = _parse_jobs(rest)
        client = self._client(address)
        try:
            info = client.get_job_info(submission_id)
        except Exception as exc:
            raise errors.EngineError(
                f"cannot poll Ray job {submission_id}: {exc}", retryable=True
            ) from exc
        state = _JOB_STATES.get(
            str(getattr(info.status, "value", info.status)), states.JobRunState.RUNNING
        )
        if state is not states.JobRunState.FAILED:
            return base.EngineStatus(state, exit_code=info.driver_exit_code)
        return base.EngineStatus(
            state,
            error_message=self._failure(client, submission_id, info),
            exit_code=info.driver_exit_code,
        )

    @staticmethod
    def _failure(client: Any, submission_id: str, info: Any) -> str:
        """The driver's last log line (a traceback's ``ValueError: boom``), else Ray's message."""
        try:
            lines = [
                x.strip() for x in client.get_job_logs(submission_id).splitlines() if x.strip()
            ]
        except Exception:
            lines = []
        if info.driver_exit_code is not None and lines:
            message = lines[-1]
        elif info.driver_exit_code is not None:
            message = f"exit code {info.driver_exit_code}"
        else:
            message = info.message or f"Ray job failed ({info.error_type})"
        return message[: process.MAX_ERROR_CHARS]

    def _watch_remote(self, engine_run_id: str) -> None:
        with self._lock:
            self._active_remote.add(engine_run_id)
            if self._watch_thread is not None or self._closed.is_set():
                return
            self._watch_thread = threading.Thread(
                target=self._watch_loop, name="adhere-ray-jobs-watcher", daemon=True
            )
            self._watch_thread.start()

    def _watch_loop(self) -> None:
        """Turns Jobs API polling into pushes, so the dispatcher treats both modes alike."""
        while not self._closed.wait(WATCH_INTERVAL):
            with self._lock:
                active = list(self._active_remote)
            for engine_run_id in active:
                try:
                    ended = (
                        self._remote_status(engine_run_id[len(JOBS) :]).state
                        in states.JOB_RUN_TERMINAL
                    )
                except errors.EngineError:
                    continue  # transient: try again next tick
                except Exception:
                    log.exception("watching %s failed", engine_run_id)
                    continue
                if ended:
                    with self._lock:
                        self._active_remote.discard(engine_run_id)
                    self.notify(engine_run_id)


def _split(engine_run_id: str) -> tuple[str, str]:
    for kind in (LOCAL, JOBS):
        if engine_run_id.startswith(kind):
            return kind, engine_run_id[len(kind) :]
    raise errors.EngineError(f"not a Ray engine run id (local:... or jobs:...): {engine_run_id!r}")


def _parse_jobs(rest: str) -> tuple[str, str]:
    submission_id, sep, address = rest.partition(":")
    if not sep or not address.startswith(("http://", "https://")):
        raise errors.EngineError(f"not a Ray Jobs run id: jobs:{rest!r}")
    return submission_id, address
