"""End-to-end helpers: the ``adhere`` console script run as a real process in a tmp project.

Each CLI call gets a clean environment (no ``ADHERE_*`` but what the test sets; PATH kept) and
the project folder as its working directory. ``project`` runs each test on both stores: SQLite
(``<project>/.adhere/adhere.db``, the default) and PostgreSQL (a fresh database named in
``ADHERE_DB_URL``); ``sqlite_project`` is for what only the default store shows.
Long-lived processes (``adhere serve``) start in their own process group; a finalizer kills
every group a test started, and the job processes those groups spawned, so nothing leaks.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ADHERE = Path(sys.executable).with_name("adhere")
_PROCESS_ID = re.compile(r"(?:^|:)(\d+):\d+:/")
if not ADHERE.exists():  # pragma: no cover - an install without the venv layout
    ADHERE = Path(shutil.which("adhere") or "adhere")

# One generic job script: behaviour comes from its arguments, every execution is one ledger line.
JOB_SCRIPT = '''\
"""Test job: appends "<job> <pid>" to ledger.txt, prints its argv, sleeps, maybe fails."""
import os, sys, time

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
name = args.get("--JOB_NAME", "?")
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "ledger.txt"), "a") as ledger:  # O_APPEND: one write, one line
    ledger.write(f"{name} {os.getpid()}\\n")
print(f"hello from {name}", flush=True)
print("argv", sys.argv[1:], flush=True)
time.sleep(float(args.get("--sleep", "0")))
if args.get("--fail") == "true":
    raise ValueError(args.get("--message", "boom"))
'''


@dataclass
class Result:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"adhere {' '.join(self.args)} -> {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@dataclass
class Project:
    """A tmp project folder and the ways a test drives ``adhere`` in it."""

    dir: Path
    env: dict[str, str]
    db_url: str | None = None  # PostgreSQL, else the default SQLite file
    _procs: list[subprocess.Popen[str]] = field(default_factory=list)

    # --- files ------------------------------------------------------------------------------
    def write(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def job_script(self, name: str = "job.py") -> Path:
        return self.write(name, JOB_SCRIPT)

    def ledger(self) -> Counter[str]:
        """Executions per job name, from the lines the job script appends."""
        path = self.dir / "ledger.txt"
        if not path.exists():
            return Counter()
        return Counter(line.split()[0] for line in path.read_text().splitlines() if line.strip())

    # --- the CLI ----------------------------------------------------------------------------
    def cli(
        self,
        *args: str,
        expect: int | None = 0,
        timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> Result:
        """Run ``adhere ARGS`` to the end. ``expect`` is the exit code (None: any). A traceback
        on stderr always fails the test: the CLI never shows one without ``--debug``."""
        proc = subprocess.run(
            [str(ADHERE), *args],
            cwd=self.dir,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        result = Result(args, proc.returncode, proc.stdout, proc.stderr)
        assert "Traceback" not in result.err, str(result)
        if expect is not None:
            assert result.code == expect, str(result)
        return result

    def json(self, *args: str, expect: int | None = 0, env: dict[str, str] | None = None) -> Any:
        return self.cli(*args, "--json", expect=expect, env=env).json()

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``adhere ARGS`` in the background, in its own process group; output in <dir>/<cmd>-N.log."""
        log = self.dir / f"{args[0]}-{len(self._procs)}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [str(ADHERE), *args],
                cwd=self.dir,
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        proc.log = log  # type: ignore[attr-defined]
        self._procs.append(proc)
        return proc

    def serve(self, ready_timeout: float = 20) -> subprocess.Popen[str]:
        """``adhere serve``, returned once it has registered in the store as serving."""
        proc = self.spawn("serve")
        self.wait_for(
            lambda: self.serving(proc.pid) or proc.poll() is not None,
            ready_timeout,
            "serve to register",
        )
        assert proc.poll() is None, Path(proc.log).read_text()  # type: ignore[attr-defined]
        return proc

    def serving(self, pid: int) -> bool:
        with contextlib.suppress(sqlite3.Error):
            return bool(self.sql("SELECT 1 FROM orchestrators WHERE pid = ? AND serving", pid))
        return False

    def apply(self, text: str, name: str = "workflow.yaml") -> Result:
        return self.cli("apply", str(self.write(name, text)))

    def run_status(self, run_id: str) -> str:
        rows = self.sql("SELECT status FROM workflow_runs WHERE id = ?", run_id)
        return rows[0][0] if rows else ""

    # --- the store, read directly (cheap enough to poll every few milliseconds) ---------------
    @property
    def db_path(self) -> Path:
        return self.dir / ".adhere" / "adhere.db"

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the store directly, ``?`` placeholders on either backend (a store not yet
        created raises ``sqlite3.Error`` on both)."""
        if self.db_url is not None:
            import psycopg

            url = self.db_url.replace("postgresql+psycopg://", "postgresql://")
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    return conn.execute(query.replace("?", "%s"), params).fetchall()
            except psycopg.errors.UndefinedTable as exc:
                raise sqlite3.OperationalError(str(exc)) from exc
        if not self.db_path.exists():  # connecting would create an empty file
            raise sqlite3.OperationalError(f"no store yet at {self.db_path}")
        conn = sqlite3.connect(self.db_path, timeout=30)  # reads only: takes no write lock
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    def job_states(self, run_id: str) -> dict[str, list[str]]:
        """job name -> states of its runs in this workflow run, oldest first."""
        out: dict[str, list[str]] = {}
        for name, state in self.sql(
            "SELECT job_name, state FROM job_runs WHERE workflow_run_id = ? ORDER BY created_on",
            run_id,
        ):
            out.setdefault(name, []).append(state)
        return out

    # --- waiting and reading runs (methods, so test modules need not import this conftest) ---
    @staticmethod
    def wait_for(
        condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.02
    ) -> Any:
        """Poll ``condition`` until it is truthy; fail the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout}s waiting for {what}")
            time.sleep(interval)

    @staticmethod
    def terminate(proc: subprocess.Popen[str], timeout: float = 30) -> int:
        """SIGTERM a background ``adhere`` and return its exit code."""
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout)

    @staticmethod
    def job_nodes(run: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """job name -> its JobRuns, from a GetWorkflowRun ``Run``."""
        return {
            n["Name"]: n.get("JobDetails", {}).get("JobRuns", [])
            for n in run["Graph"]["Nodes"]
            if n["Type"] == "JOB"
        }

    @classmethod
    def final_states(cls, run: dict[str, Any]) -> dict[str, str]:
        """job name -> state of its latest run (jobs that never ran are left out)."""
        return {name: runs[-1]["JobRunState"] for name, runs in cls.job_nodes(run).items() if runs}

    # --- cleanup ----------------------------------------------------------------------------
    def job_pids(self) -> set[int]:
        """Pids of every local job process recorded in the store: the ``pid:ticks:dir`` part of
        an engine run id, after any engine prefix (``local:``, ``submit:<uuid>:``)."""
        with contextlib.suppress(sqlite3.Error):
            rows = self.sql("SELECT engine_run_id FROM job_runs WHERE engine_run_id IS NOT NULL")
            return {int(m.group(1)) for r in rows if (m := _PROCESS_ID.search(r[0]))}
        return set()

    def close(self) -> None:
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        # Job processes run in their own sessions (they outlive a killed orchestrator by design).
        for pid in self.job_pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if _cmdline(pid).find(str(self.dir)) >= 0:
                    os.killpg(pid, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


@contextlib.contextmanager
def _project(folder: Path, db_url: str | None) -> Iterator[Project]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADHERE_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["ADHERE_PORT"] = "0"  # each `adhere serve` of a test on a free port: none waits for another's
    if db_url is not None:
        env["ADHERE_DB_URL"] = db_url
    proj = Project(folder, env, db_url)
    proj.dir.mkdir()
    try:
        yield proj
    finally:
        proj.close()


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    """A project on each store (a fresh PostgreSQL database at head for ``postgres``)."""
    if request.param == "sqlite":
        with _project(tmp_path / "project", None) as proj:
            yield proj
        return
    fresh = request.getfixturevalue("fresh_db_url")
    with fresh("postgres", tmp_path) as url, _project(tmp_path / "project", url) as proj:
        yield proj


@pytest.fixture
def sqlite_project(tmp_path: Path) -> Iterator[Project]:
    """A project on the default store, a SQLite file in ``<project>/.adhere``."""
    with _project(tmp_path / "project", None) as proj:
        yield proj


@pytest.fixture
def postgres_project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    """A project on a fresh PostgreSQL database only (several serves sharing one store)."""
    fresh = request.getfixturevalue("fresh_db_url")
    with fresh("postgres", tmp_path) as url, _project(tmp_path / "project", url) as proj:
        yield proj
