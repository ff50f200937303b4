"""The ``pythonshell`` engine: a job is a local Python process (Glue's Python shell jobs).

The script runs as ``python script --KEY value ...`` in its own folder, through ``_boot.py``
so that its exit status survives an orchestrator restart; see engines/process.py. Glue's
``--extra-py-files`` (``.py`` files, or ``.zip``/``.egg``/``.whl`` archives; local by now, the
dispatcher fetched any on S3) are put on the script's ``sys.path`` by ``_boot.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from engines import base, fork_server, process
from orchestrator import errors, scripts

EXTRA_PY_PATH = "ADHERE_EXTRA_PY_PATH"  # read by _boot.py


class PythonShellEngine(base.Engine):
    """Runs scripts with this interpreter, or with the ``python`` option's interpreter."""

    command = "pythonshell"
    supports_push = True

    def __init__(self, home: Path, options: Mapping[str, str] | None = None) -> None:
        super().__init__(home, options)
        self._python = self.options.get("python") or None
        self._processes = process.LocalProcesses(self.notify)
        self._scripts: dict[str, Path] = {}
        # os.environ decodes every variable on each read: copy it once per engine.
        self._environ = dict(os.environ)
        # Jobs fork from a warm interpreter unless another interpreter or "spawn" is asked for.
        start = self.options.get("python_start", "fork")
        fork = start == "fork" and self._python is None
        self._forks = fork_server.ForkServer(self._environ) if fork else None

    def submit(self, request: base.RunRequest) -> str:
        """Start the script; a missing script raises EngineError (not retryable), starting nothing."""
        script = self._scripts.get(request.script)
        if script is None:
            script = scripts.local_path(request.script).resolve()
            self._scripts[request.script] = script
        if not script.is_file():
            raise errors.EngineError(f"script not found: {script}")
        env = {**self._environ, **request.env}
        env.pop(EXTRA_PY_PATH, None)
        extra = extra_py_path(request.arguments, script.parent)
        if extra:
            env[EXTRA_PY_PATH] = os.pathsep.join(extra)
        if self._forks is not None and self._forks.compatible(env):
            return self._processes.fork_python(
                self._forks, script, request.argv(), run_dir=request.run_dir, cwd=script.parent, env=env
            )
        return self._processes.spawn(
            process.python_argv(script, request.argv(), self._python),
            run_dir=request.run_dir,
            cwd=script.parent,
            env=env,
        )

    def poll(self, engine_run_id: str) -> base.EngineStatus:
        return self._processes.poll(engine_run_id)

    def cancel(self, engine_run_id: str, grace: float = 5.0) -> None:
        self._processes.cancel(engine_run_id, grace)

    def logs(self, engine_run_id: str) -> Iterator[str]:
        return self._processes.logs(engine_run_id)

    def close(self) -> None:
        self._processes.close()
        if self._forks is not None:
            self._forks.close()


def extra_py_path(arguments: Mapping[str, str], folder: Path) -> list[str]:
    """The ``sys.path`` entries of ``--extra-py-files``: a ``.py`` file's folder, an archive or
    a folder itself; relative entries are in the script's ``folder``. A missing one is an
    EngineError, as in Glue, rather than an ImportError later."""
    entries: list[str] = []
    for key, values in scripts.extra_entries(arguments).items():
        if key.lstrip("-") != "extra-py-files":
            continue
        for value in values:
            path = scripts.local_path(value, folder)
            if not path.exists():
                raise errors.EngineError(f"{key}: no such file: {path}")
            entry = str(path.parent if path.suffix == ".py" else path)
            if entry not in entries:
                entries.append(entry)
    return entries
