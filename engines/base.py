"""The engine interface: submit a run request, poll its state, cancel it, read its logs.

The orchestrator stores the engine's run id on the job run, so a restarted dispatcher
can call ``poll()`` again and finish a run that was RUNNING when the process died.
Optional abilities are flags (``supports_push``, ``supports_metrics``), not
``NotImplementedError``.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

from orchestrator import states

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class RunRequest:
    """Everything an engine needs to start one job run attempt."""

    job_run_id: str
    job_name: str
    # A local path: the dispatcher has fetched an s3:// ScriptLocation into the project's
    # cache, and checked the path against the script roots (orchestrator/scripts.py).
    script: str
    # Glue-style arguments, already merged (defaults < run < non-overridable) and with the
    # reserved keys (--JOB_NAME, --JOB_RUN_ID, --WORKFLOW_NAME, --WORKFLOW_RUN_ID) added; the
    # s3:// entries of --extra-py-files, --extra-files and --extra-jars are local copies too.
    arguments: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    # Extra environment for the job process (the runtime API reads ADHERE_* from it).
    env: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    # Folder for this run's logs (stdout.log, stderr.log) and engine bookkeeping.
    run_dir: Path = field(default_factory=Path)
    python_version: str | None = None
    worker_type: str | None = None
    number_of_workers: int | None = None
    max_capacity: float | None = None

    def argv(self) -> list[str]:
        """Glue's argv after the script: ``--key value`` pairs, in a stable order."""
        out: list[str] = []
        for key, value in self.arguments.items():
            out += [key if key.startswith("--") else f"--{key}", value]
        return out


@dataclass(frozen=True)
class EngineStatus:
    """What an engine knows of a run. ``state`` is RUNNING or a terminal Glue state."""

    state: states.JobRunState
    error_message: str | None = None
    exit_code: int | None = None


class Engine(abc.ABC):
    """One way of running a job (``Command.Name``). Instances are long-lived and thread-safe."""

    command: ClassVar[str]
    # The engine calls the listener as soon as a run may have ended, so completion is an
    # event, not a poll tick. Engines without it are polled by the dispatcher.
    supports_push: ClassVar[bool] = False
    supports_metrics: ClassVar[bool] = False

    def __init__(self, home: Path, options: Mapping[str, str] | None = None) -> None:
        self.home = home
        self.options = dict(options or {})
        self._listener: Callable[[str], None] | None = None
        self._lock = threading.Lock()
        self._followed: dict[str, str] = {}  # engine run id -> job run id
        self._ended_early: set[str] = set()  # ended before anyone followed them

    def set_listener(self, listener: Callable[[str], None]) -> None:
        """Register the callback that receives a job run id when that run may have ended."""
        self._listener = listener

    def follow(self, job_run_id: str, engine_run_id: str) -> None:
        """Report the end of ``engine_run_id`` to the listener as ``job_run_id`` (once; a run
        submitted here or adopted from an earlier process)."""
        with self._lock:
            self._followed[engine_run_id] = job_run_id
            ended = engine_run_id in self._ended_early
            self._ended_early.discard(engine_run_id)
        if ended:
            self.notify(engine_run_id)

    def notify(self, engine_run_id: str) -> None:
        """Called by the engine as soon as a run may have ended (on any thread)."""
        with self._lock:
            job_run_id = self._followed.pop(engine_run_id, None)
            if job_run_id is None:  # it ended before follow(): told then
                if len(self._ended_early) > 10_000:
                    self._ended_early.clear()
                self._ended_early.add(engine_run_id)
                return
        if self._listener is not None:
            self._listener(job_run_id)

    def check(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Raise EngineNotInstalled/EngineError when this engine cannot run here (called at apply)."""

    @abc.abstractmethod
    def submit(self, request: RunRequest) -> str:
        """Start the run; return the engine's run id (persisted by the caller)."""

    @abc.abstractmethod
    def poll(self, engine_run_id: str) -> EngineStatus:
        """The run's state now; works for runs submitted by an earlier process too."""

    @abc.abstractmethod
    def cancel(self, engine_run_id: str, grace: float = 5.0) -> None:
        """Ask the run to stop (TERM, then KILL after ``grace`` seconds). Returns at once."""

    @abc.abstractmethod
    def logs(self, engine_run_id: str) -> Iterator[str]:
        """The run's log lines so far (stdout, then stderr)."""

    def metrics(self, engine_run_id: str) -> Mapping[str, float]:
        return {}

    def close(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Release what the engine holds (clusters it owns stay until their idle timeout)."""
