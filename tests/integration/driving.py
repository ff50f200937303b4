"""Helpers for tests that drive job runs through a real orchestrator loop (not a test module).

Definitions are built as Glue-shaped mappings and applied through the service; an orchestrator
runs in a thread of the test (``orchestrating``) or in its own OS process, so that a test can
kill it like a crash would (``orchestrator_process``). Waits are for a definite condition
(``wait_for``), and "nothing more happened" is checked once the loop has stopped and left no
outbox event unprocessed (``settled``). ``TinyEngine`` (``register_tiny``) runs nothing: its
runs end when the test says so.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from engines import base, process, registry
from orchestrator import errors, runner, store
from orchestrator.definitions import loading
from orchestrator.service import definitions as service_definitions
from orchestrator.service import job_runs, notifications, workflow_runs
from orchestrator.settings import Settings
from orchestrator.states import JobRunState

REPO = Path(__file__).resolve().parents[2]
TINY = "tiny"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR", "EXPIRED"})
STATE_CHANGE = "Glue Job State Change"
RUN_STATUS = "Glue Job Run Status"


# --- definitions -------------------------------------------------------------------------------


def apply(db: store.Store, folder: Path, **data: Any) -> None:
    """Apply a Glue-shaped definition mapping; script paths resolve in ``folder``."""
    service_definitions.apply(db, loading.load_mapping(data, base_dir=folder))


def job(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Command": {"Name": "pythonshell", "ScriptLocation": script}, **extra}


def _actions(actions: tuple[str | dict[str, Any], ...]) -> list[dict[str, Any]]:
    return [a if isinstance(a, dict) else {"JobName": a} for a in actions]


def on(
    name: str, workflow: str, conditions: Mapping[str, str], *actions: str | dict[str, Any]
) -> dict[str, Any]:
    """A conditional trigger: AND over ``{job: state}``."""
    return {
        "Name": name, "WorkflowName": workflow, "Type": "CONDITIONAL", "StartOnCreation": True,
        "Predicate": {"Logical": "AND", "Conditions": [
            {"LogicalOperator": "EQUALS", "JobName": j, "State": s} for j, s in conditions.items()]},
        "Actions": _actions(actions),
    }  # fmt: skip


def start(name: str, workflow: str, *actions: str | dict[str, Any]) -> dict[str, Any]:
    """An on-demand trigger: what a workflow run starts with."""
    return {
        "Name": name,
        "WorkflowName": workflow,
        "Type": "ON_DEMAND",
        "Actions": _actions(actions),
    }


# --- the loop ----------------------------------------------------------------------------------


@contextlib.contextmanager
def orchestrating(
    db: store.Store, settings: Settings, scope: str | None = None
) -> Iterator[runner.Orchestrator]:
    orch = runner.Orchestrator(settings, db, scope=scope).start()
    try:
        yield orch
    finally:
        orch.stop()
    assert orch.error is None, f"orchestrator failed: {orch.error!r}"


def wait_for(
    check: Callable[[], Any],
    timeout: float = 20.0,
    orch: runner.Orchestrator | None = None,
    what: str = "condition",
) -> Any:
    """Poll ``check`` until it returns something true (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if orch is not None and orch.error is not None:
            raise AssertionError(f"orchestrator failed: {orch.error!r}")
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached after {timeout}s")
        time.sleep(0.05)


def drive_workflow(
    db: store.Store, settings: Settings, run_id: str, timeout: float = 30
) -> dict[str, Any]:
    """Run a workflow run to its end with an orchestrator scoped to it; GetWorkflowRun after."""
    terminal = {"COMPLETED", "STOPPED", "ERROR"}
    with orchestrating(db, settings, scope=run_id) as orch:
        wait_for(
            lambda: workflow_runs.workflow_run_status(db, run_id) in terminal and not orch.busy,
            timeout,
            orch,
            f"workflow run {run_id} terminal",
        )
    return workflow_runs.get_workflow_run(db, None, run_id)


def settled(db: store.Store) -> bool:
    """No outbox event is left unprocessed: every completion was consumed (and announced)."""
    with db.read() as tx:
        return not store.outbox.has_unprocessed(tx)


# --- reading runs ------------------------------------------------------------------------------


def state(db: store.Store, run_id: str) -> str:
    return job_runs.get_job_run(db, None, run_id)["JobRunState"]


def row(db: store.Store, run_id: str) -> store.job_runs.JobRun:
    with db.read() as tx:
        found = store.job_runs.get(tx, run_id)
    assert found is not None, run_id
    return found


def runs(db: store.Store, job_name: str) -> list[dict[str, Any]]:
    """GetJobRuns: newest first."""
    return job_runs.get_job_runs(db, job_name)["JobRuns"]


def is_final(db: store.Store, run_id: str) -> bool:
    return state(db, run_id) in TERMINAL


def notified(db: store.Store, run_id: str) -> list[tuple[str, str]]:
    """(detail type, state) of every notification recorded for a job run, sorted."""
    return sorted(
        (n["detail_type"], n["state"])
        for n in notifications.get_notifications(db, limit=10_000)
        if n["job_run_id"] == run_id
    )


def firings(db: store.Store, scope: str) -> list[str]:
    with db.read() as tx:
        return sorted(store.firings.fired(tx, scope))


# --- a tiny engine ------------------------------------------------------------------------------


class TinyEngine(base.Engine):
    """Runs nothing: a run stays RUNNING until the test calls ``end()``; cancels are only
    recorded. Register it for a test with ``register_tiny``."""

    command = TINY
    supports_push = True

    def __init__(self, home: Path, options: Mapping[str, str] | None = None) -> None:
        super().__init__(home, options)
        self.submitted: list[base.RunRequest] = []
        self.cancelled: list[tuple[str, float]] = []
        self.status: dict[str, base.EngineStatus] = {}
        self.refuse: str | None = None  # the EngineError message of the next submissions

    def submit(self, request: base.RunRequest) -> str:
        if self.refuse:
            raise errors.EngineError(self.refuse)
        self.submitted.append(request)
        engine_run_id = f"tiny-{len(self.submitted)}"
        self.status[engine_run_id] = base.EngineStatus(JobRunState.RUNNING)
        return engine_run_id

    def poll(self, engine_run_id: str) -> base.EngineStatus:
        return self.status.get(engine_run_id, base.EngineStatus(JobRunState.RUNNING))

    def cancel(self, engine_run_id: str, grace: float = 5.0) -> None:
        self.cancelled.append((engine_run_id, grace))

    def logs(self, engine_run_id: str) -> Iterator[str]:
        return iter(())

    def end(self, engine_run_id: str, state: JobRunState, message: str | None = None) -> None:
        """The run ends: report it as an engine does (on its own thread)."""
        self.status[engine_run_id] = base.EngineStatus(state, message)
        thread = threading.Thread(target=self.notify, args=(engine_run_id,))
        thread.start()
        thread.join()


def register_tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``tiny`` a built-in engine name for the current test (undone after it)."""
    monkeypatch.setitem(registry.BUILTIN, TINY, f"{TinyEngine.__module__}:TinyEngine")


# --- processes ---------------------------------------------------------------------------------


def alive(pid: int) -> bool:
    """True while ``pid`` is a live (not zombie) process."""
    stat = process.proc_stat(pid)
    return stat is not None and stat.state not in ("Z", "X")


def fork_server_gone(pid: int) -> bool:
    """True once ``pid`` (a job) no longer has the python fork server as its parent, which
    would record its exit status: the server ends a moment after its orchestrator."""
    stat = process.proc_stat(pid)
    try:
        return stat is None or b"_zygote" not in Path(f"/proc/{stat.ppid}/cmdline").read_bytes()
    except FileNotFoundError:
        return True


# A whole orchestrator in another OS process, so that a test can kill it like a crash would.
_ORCHESTRATOR = """\
import sys, time
from orchestrator import runner, store
from orchestrator.settings import Settings
from orchestrator.states import JobRunState
url, home = sys.argv[1], sys.argv[2]
db = store.Store.open_url(url)
orch = runner.Orchestrator(Settings(home=home, db_url=url, poll_interval=0.05, kill_grace=1.0), db).start()
while orch.error is None:
    time.sleep(0.1)
raise SystemExit(f"orchestrator failed: {orch.error!r}")
"""


@contextlib.contextmanager
def orchestrator_process(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """An orchestrator in its own process; the test SIGKILLs it (always killed and reaped after)."""
    log = open(settings.home.parent / f"orchestrator-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-c", _ORCHESTRATOR, settings.database_url, str(settings.home)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        log.close()


def crash(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the orchestrator process and reap it (a zombie would still look alive)."""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
