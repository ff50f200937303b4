"""The dispatcher: starts job runs on their engines within a per-engine process limit.

It holds no state the store does not: slots are counted from the runs this process owns,
and the engine's run id is written to the job run as soon as the engine accepts it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from engines import base, registry
from orchestrator import errors
from orchestrator.settings import Settings

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, settings: Settings, db_url: str, on_exit: Callable[[str, str], None]) -> None:
        self.settings = settings
        self.db_url = db_url
        self.registry = registry.Registry(settings.home, settings.engine_options())
        self._on_exit = on_exit
        self._lock = threading.Lock()
        self._used: dict[str, int] = {}
        self._listening: set[str] = set()
        self._logs = settings.logs_dir.resolve()

    def engine(self, command: str) -> base.Engine:
        engine = self.registry.get(command)
        if command not in self._listening:
            engine.set_listener(lambda engine_run_id, c=command: self._on_exit(c, engine_run_id))
            self._listening.add(command)
        return engine

    # --- slots: at most settings.max_processes runs per engine in this process ---------------
    def reserve(self, command: str) -> bool:
        with self._lock:
            used = self._used.get(command, 0)
            if used >= self.settings.max_processes:
                return False
            self._used[command] = used + 1
            return True

    def release(self, command: str) -> None:
        with self._lock:
            self._used[command] = max(0, self._used.get(command, 0) - 1)

    def free_total(self) -> int:
        """Slots free on the busiest engine's terms: an upper bound on runs worth claiming now."""
        with self._lock:
            return self.settings.max_processes * max(1, len(self._used)) - sum(self._used.values())

    def submit(self, run: Mapping[str, Any]) -> str:
        """Start ``run`` (its slot already reserved); returns the engine run id or raises EngineError."""
        options = run.get("options") or {}
        args = dict(options.get("effective_arguments") or {})
        args["--JOB_NAME"] = run["job_name"]
        args["--JOB_RUN_ID"] = run["id"]
        env = {
            "ADHERE_DB_URL": self.db_url,
            "ADHERE_JOB_NAME": run["job_name"],
            "ADHERE_JOB_RUN_ID": run["id"],
            "ADHERE_HOME": str(self.settings.home.resolve()),
        }
        if run.get("workflow_run_id"):
            args["--WORKFLOW_NAME"] = run["workflow_name"]
            args["--WORKFLOW_RUN_ID"] = run["workflow_run_id"]
            env["ADHERE_WORKFLOW_NAME"] = run["workflow_name"]
            env["ADHERE_WORKFLOW_RUN_ID"] = run["workflow_run_id"]
        run_dir = self.run_dir(run["id"])
        run_dir.mkdir(parents=True, exist_ok=True)  # before the engine call: see runner._reconcile
        request = base.RunRequest(
            job_run_id=run["id"],
            job_name=run["job_name"],
            script=str(options.get("script") or ""),
            arguments=args,
            env=env,
            run_dir=run_dir,
            python_version=options.get("python_version"),
            worker_type=options.get("worker_type"),
            number_of_workers=options.get("number_of_workers"),
            max_capacity=options.get("max_capacity"),
        )
        try:
            return self.engine(run["command"]).submit(request)
        except errors.EngineError:
            raise
        except Exception as exc:  # an engine bug must fail the run, not the orchestrator
            log.exception("engine %s failed to submit %s", run["command"], run["id"])
            raise errors.EngineError(f"{type(exc).__name__}: {exc}") from exc

    def run_dir(self, job_run_id: str) -> Path:
        """The run's folder (logs, exit status, engine bookkeeping); made by the engine that starts it."""
        return self._logs / job_run_id

    def poll(self, command: str, engine_run_id: str) -> base.EngineStatus:
        return self.engine(command).poll(engine_run_id)

    def cancel(self, command: str, engine_run_id: str) -> None:
        self.engine(command).cancel(engine_run_id, self.settings.kill_grace)

    def close(self) -> None:
        self.registry.close()
