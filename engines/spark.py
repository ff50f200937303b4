"""The ``glueetl`` engine: Glue's Spark jobs on the installed PySpark (or a remote Spark).

Submit mode (the default) runs each job as ``spark-submit --master <master>`` in its own
process group (engines/process.py). Warm mode runs the script as a Spark Connect client of one
shared server (engines/spark_connect.py) or of a ``sc://`` URL. Neither imports PySpark here:
we locate the package and run its scripts, so the orchestrator stays free of it.

Engine run ids: ``submit:<uuid>:<process run id>`` and ``connect:<uuid>:<process run id>``;
the uuid names the run's temp folder and, in warm mode, its Connect session.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from engines import base, process, spark_connect
from orchestrator import errors, scripts, states

NOT_INSTALLED = "Spark engine needs: pip install 'adhere[spark]'"
# Glue arguments that shape the JVM; warm mode cannot honour them, so such a job runs cold.
JVM_KEYS = ("--conf", "--extra-py-files", "--extra-files", "--extra-jars")
_CONF_KEY = re.compile(r"[A-Za-z0-9_.\-]+")
_CONF_SEP = re.compile(r"(?:^|\s+)--conf\s+")
_TAIL_BYTES = 262144


@dataclass(frozen=True)
class SubmitOptions:
    """What Glue's job arguments ask of spark-submit."""

    conf: tuple[tuple[str, str], ...] = ()
    py_files: str = ""
    files: str = ""
    jars: str = ""


def _key(name: str) -> str:
    return name if name.startswith("--") else f"--{name}"


def parse_conf(value: str) -> list[tuple[str, str]]:
    """Glue's single ``--conf`` value, which may chain ``k1=v1 --conf k2=v2``, as pairs.

    Values keep their spaces (``-Da=1 -Db=2``); nothing is ever handed to a shell.
    """
    pairs = []
    for part in _CONF_SEP.split(value.strip()):
        if not part.strip():
            continue
        key, sep, val = part.partition("=")
        key = key.strip()
        if not sep or not _CONF_KEY.fullmatch(key):
            raise errors.EngineError(f"bad --conf entry {part.strip()!r}: expected key=value")
        pairs.append((key, val.strip()))
    return pairs


def _comma_list(value: str) -> str:
    return ",".join(p.strip() for p in value.split(",") if p.strip())


def submit_options(arguments: Mapping[str, str]) -> SubmitOptions:
    args = {_key(k): v for k, v in arguments.items()}
    return SubmitOptions(
        conf=tuple(parse_conf(args.get("--conf", ""))),
        py_files=_comma_list(args.get("--extra-py-files", "")),
        files=_comma_list(args.get("--extra-files", "")),
        jars=_comma_list(args.get("--extra-jars", "")),
    )


def submit_argv(
    spark_submit: str,
    master: str,
    script: str,
    request: base.RunRequest,
    local_dir: Path,
) -> list[str]:
    """spark-submit argv for a run: our defaults < the job's --conf < what cleanup needs.

    Local dirs come from SPARK_LOCAL_DIRS (see _env), not spark.local.dir, which remote
    executors would take as theirs.
    """
    opts = submit_options(request.arguments)
    args = {_key(k): v for k, v in request.arguments.items()}
    conf = {"spark.ui.showConsoleProgress": "false", "spark.log.level": "WARN"}
    if args.get("--enable-spark-ui", "false").lower() != "true":
        conf["spark.ui.enabled"] = "false"  # no port 4040+ per run, and a faster start
    conf.update(opts.conf)
    # The job's own -Djava.io.tmpdir, if any, comes later and wins.
    java_opts = f"-Djava.io.tmpdir={local_dir} {conf.get('spark.driver.extraJavaOptions', '')}"
    conf["spark.driver.extraJavaOptions"] = java_opts.strip()
    argv = [spark_submit, "--master", master, "--deploy-mode", "client", "--name", request.job_name]
    for key, value in conf.items():
        argv += ["--conf", f"{key}={value}"]
    for flag, value in (
        ("--py-files", opts.py_files),
        ("--files", opts.files),
        ("--jars", opts.jars),
    ):
        if value:
            argv += [flag, value]
    # The driver runs through _boot.py, which records its exit status for an orchestrator that
    # is not spark-submit's parent. Glue hands the script every argument, ours included.
    return [*argv, str(process.BOOT_SCRIPT), script, *request.argv()]


def runs_warm(mode: str, connect_url: str | None, arguments: Mapping[str, str]) -> bool:
    """Whether a run goes to Connect: to a remote URL always; to our own server unless the
    job shapes the JVM (its --conf / --extra-* need a spark-submit of their own)."""
    if connect_url:
        return True
    return mode == "connect" and not {_key(k) for k in arguments} & set(JVM_KEYS)


def java_command(environ: Mapping[str, str]) -> str | None:
    """The java that spark-submit will run: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    java_home = environ.get("JAVA_HOME")
    if java_home:
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java", path=environ.get("PATH"))


def java_major(version_output: str) -> int | None:
    """8 for ``version "1.8.0_392"``, 17 for ``version "17.0.15"``; None when unparsable."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def java_problem(spark_version: str, major: int | None) -> str | None:
    """Why this Java cannot run this Spark, or None (Spark 4 needs 17+, 3.x needs 8/11/17)."""
    spark_major = int(spark_version.split(".")[0])
    if spark_major >= 4:
        ok, need = major is not None and major >= 17, "Java 17 or newer"
    else:
        ok, need = major in (8, 11, 17), "Java 8, 11 or 17"
    if ok:
        return None
    found = f"Java {major}" if major is not None else "a Java whose version we cannot read"
    return f"Spark {spark_version} needs {need}, found {found}"


def python_error_line(stderr_text: str) -> str | None:
    """The exception line of the last Python traceback (``ValueError: boom``), past Spark's logs."""
    lines = stderr_text.splitlines()
    starts = [
        i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")
    ]
    if starts:
        for line in lines[starts[-1] + 1 :]:
            if line.strip() and not line[0].isspace():
                return line.strip()
    for line in reversed(lines):
        if line.startswith(("Exception in thread", "Error: ")):
            return line.strip()
    return None


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _TAIL_BYTES))
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def describe_client_failure(run_dir: Path, code: int) -> str:
    """A Connect client's failure: the Python error line (past Spark's JVM stack trace)."""
    line = python_error_line(_tail(run_dir / process.STDERR)) if code >= 0 else None
    return line[: process.MAX_ERROR_CHARS] if line else process.failure_message(run_dir, code)


def describe_submit_failure(run_dir: Path, code: int) -> str:
    """A spark-submit run's failure. Its PythonRunner merges the driver's stderr into stdout,
    so the traceback is in stdout.log; stderr.log holds JVM logs, whose last line says nothing.
    """
    if code < 0:
        return process.failure_message(run_dir, code)
    for name in (process.STDOUT, process.STDERR):
        line = python_error_line(_tail(run_dir / name))
        if line:
            return line[: process.MAX_ERROR_CHARS]
    return f"exit code {code}"


class SparkEngine(base.Engine):
    """Options (strings; the Settings fields of the same names): spark_master, spark_connect_url,
    spark_mode (submit|connect), spark_connect_idle_timeout (s), spark_local_cores."""

    command = "glueetl"
    supports_push = True

    def __init__(self, home: Path, options: Mapping[str, str] | None = None) -> None:
        super().__init__(Path(home), options)
        opts = self.options
        cores = opts.get("spark_local_cores") or str(os.cpu_count() or 1)
        self.master = opts.get("spark_master") or f"local[{cores}]"
        self.connect_url = opts.get("spark_connect_url") or None
        self.mode = "connect" if self.connect_url else (opts.get("spark_mode") or "submit")
        self.idle_timeout = float(opts.get("spark_connect_idle_timeout") or 300)
        self._lock = threading.Lock()
        self._ids: dict[str, str] = {}  # process run id -> our run id, for pushed exits
        self._early: set[str] = set()  # exits seen before submit() recorded the id
        self._checked = False
        # One per mode, for the failure describers; the server and helpers go with clients.
        self._submits = process.LocalProcesses(self._on_exit, describe_submit_failure)
        self._clients = process.LocalProcesses(self._on_exit, describe_client_failure)
        self.server = spark_connect.ConnectServer(self.home, self._clients)

    # -- setup ----------------------------------------------------------------------------

    def _spark_home(self) -> str:
        spec = importlib.util.find_spec("pyspark")  # located, not imported
        if spec is None or spec.origin is None:
            raise errors.EngineNotInstalled(NOT_INSTALLED)
        return str(Path(spec.origin).parent)

    def _spark_submit(self) -> str:
        return str(Path(self._spark_home()) / "bin" / "spark-submit")

    def check(self) -> None:
        """PySpark installed, and (unless all runs go to a remote Connect URL) a fitting Java."""
        if self.mode not in ("submit", "connect"):
            raise errors.EngineError(f"spark_mode must be submit or connect, not {self.mode!r}")
        self._spark_home()
        if self.mode == "connect":
            for module in ("grpc", "pandas", "pyarrow", "google.protobuf"):
                if importlib.util.find_spec(module) is None:
                    raise errors.EngineNotInstalled(f"{NOT_INSTALLED} (no module {module!r})")
        if self.connect_url:
            self._checked = True
            return
        version = importlib.metadata.version("pyspark")
        java = java_command(os.environ)
        if java is None:
            raise errors.EngineError(
                f"Spark {version} needs Java: no java on PATH and JAVA_HOME is not set"
            )
        try:
            out = subprocess.run(
                [java, "-version"], capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise errors.EngineError(
                f"Spark {version} needs Java: cannot run {java}: {exc}"
            ) from None
        text = out.stderr + out.stdout
        problem = java_problem(version, java_major(text))
        if problem:
            first = next((line for line in text.splitlines() if line.strip()), "")
            raise errors.EngineError(f"{problem} ({java}: {first.strip()})")
        self._checked = True

    def _env(self, tmp: Path, extra: Mapping[str, str]) -> dict[str, str]:
        """spark-submit's environment (pitfall 1: its find-spark-home runs ``python3``)."""
        python_bin = str(Path(sys.executable).parent)
        env = {
            **os.environ,
            "SPARK_HOME": self._spark_home(),
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "PATH": os.pathsep.join(filter(None, [python_bin, os.environ.get("PATH")])),
            "SPARK_LOCAL_DIRS": str(tmp),
            "TMPDIR": str(tmp),
            # Unbuffered: the driver's stdout and stderr share one pipe (see describe_submit_failure),
            # and lines should reach the log as they are printed, in order.
            "PYTHONUNBUFFERED": "1",
        }
        if self.master.startswith("local"):
            env["PYSPARK_PYTHON"] = sys.executable  # remote workers use their own Python
            env["SPARK_LOCAL_IP"] = "127.0.0.1"
        env.update(extra)
        return env

    # -- the engine operations ------------------------------------------------------------

    def submit(self, request: base.RunRequest) -> str:
        """Start the run; a missing script or a bad --conf raises EngineError, starting nothing."""
        if not self._checked:
            self.check()
        script = scripts.local_path(request.script).resolve()  # s3://: the dispatcher fetched it
        if not script.is_file():
            raise errors.EngineError(f"script not found: {script}")
        key = str(uuid.uuid4())
        warm = runs_warm(self.mode, self.connect_url, request.arguments)
        tmp = self.home / "tmp" / key
        if warm:
            url = self.connect_url or self.start_connect_server()
            env = self._env(
                tmp, {**request.env, "SPARK_REMOTE": spark_connect.with_session(url, key)}
            )
            argv = process.python_argv(script, request.argv())
            if not self.connect_url:  # the lease keeps our local server from idling out
                argv = [
                    sys.executable,
                    "-c",
                    spark_connect.LEASE_EXEC,
                    str(self.server.lease_file),
                    *argv,
                ]
        else:
            argv = submit_argv(self._spark_submit(), self.master, str(script), request, tmp)
            env = self._env(tmp, request.env)
        tmp.mkdir(parents=True, exist_ok=True)
        try:
            processes = self._clients if warm else self._submits
            proc_id = processes.spawn(argv, run_dir=request.run_dir, cwd=script.parent, env=env)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        run_id = f"{'connect' if warm else 'submit'}:{key}:{proc_id}"
        self._remember(proc_id, run_id)
        return run_id

    def poll(self, engine_run_id: str) -> base.EngineStatus:
        mode, key, proc_id = _parse(engine_run_id)
        status = self._processes(mode).poll(proc_id)  # adopts a live run started elsewhere
        if status.state in states.JOB_RUN_TERMINAL:
            shutil.rmtree(self.home / "tmp" / key, ignore_errors=True)
        else:
            self._remember(proc_id, engine_run_id)  # so its end is pushed to our listener
        return status

    def cancel(self, engine_run_id: str, grace: float = 5.0) -> None:
        """TERM the run's group (KILL after ``grace``); in warm mode also interrupt its session."""
        mode, key, proc_id = _parse(engine_run_id)
        if mode == "connect" and self._clients.poll(proc_id).state is states.JobRunState.RUNNING:
            url = self.connect_url or self.server.url()
            if url:  # a helper process: the orchestrator never loads grpc (fork safety, memory)
                run_dir = process.ProcessRunId.parse(proc_id).run_dir / "interrupt"
                root = str(Path(__file__).resolve().parents[1])
                env = self._env(self.home / "tmp" / key, {"PYTHONPATH": root})
                argv = [
                    sys.executable,
                    "-m",
                    "engines.spark_connect",
                    "interrupt",
                    spark_connect.with_session(url, key),
                ]
                with contextlib.suppress(errors.EngineError):
                    self._clients.spawn(argv, run_dir=run_dir, env=env)
        self._processes(mode).cancel(proc_id, grace)

    def logs(self, engine_run_id: str) -> Iterator[str]:
        mode, _, proc_id = _parse(engine_run_id)
        return self._processes(mode).logs(proc_id)

    def start_connect_server(self) -> str:
        """The local Connect server's URL, starting it when none is up (e.g. to warm it early)."""
        env = self._env(self.home / "tmp" / "connect", {})
        return self.server.ensure(self._spark_submit(), self.master, env, self.idle_timeout)

    def stop_connect_server(self, grace: float = 10.0) -> None:
        """Stop the local Connect server now, instead of at its idle timeout."""
        self.server.stop(grace)

    def close(self) -> None:
        self._submits.close()
        self._clients.close()

    def _processes(self, mode: str) -> process.LocalProcesses:
        return self._clients if mode == "connect" else self._submits

    # -- pushed exits ---------------------------------------------------------------------

    def _remember(self, proc_id: str, run_id: str) -> None:
        with self._lock:
            self._ids[proc_id] = run_id
            ended_already = proc_id in self._early
            self._early.discard(proc_id)
        if ended_already:
            self.notify(run_id)

    def _on_exit(self, proc_id: str) -> None:
        with self._lock:
            run_id = self._ids.pop(proc_id, None)
            if run_id is None:  # a run not recorded yet, or our server / interrupt helper
                if len(self._early) > 1000:
                    self._early.clear()
                self._early.add(proc_id)
                return
        self.notify(run_id)


def _parse(engine_run_id: str) -> tuple[str, str, str]:
    mode, _, rest = engine_run_id.partition(":")
    key, _, proc_id = rest.partition(":")
    if mode not in ("submit", "connect") or not key or not proc_id:
        raise errors.EngineError(f"not a Spark engine run id: {engine_run_id!r}")
    return mode, key, proc_id
