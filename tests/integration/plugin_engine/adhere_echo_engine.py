"""A third-party engine in a few lines: ``echo`` prints its script text and Glue arguments.

It shows the ``adhere.engines`` entry point and a plug-in reusing engines.process for
supervision (push completion, cancel, logs, re-attach) of any local command.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

from engines import base, process


class EchoEngine(base.Engine):
    command = "echo"
    supports_push = True

    def __init__(self, home: Path, options: Mapping[str, str] | None = None) -> None:
        super().__init__(home, options)
        self._processes = process.LocalProcesses(self.notify)

    def submit(self, request: base.RunRequest) -> str:
        echo = shutil.which("echo") or "/bin/echo"
        return self._processes.spawn(
            [echo, request.script, *request.argv()], run_dir=request.run_dir
        )

    def poll(self, engine_run_id: str) -> base.EngineStatus:
        return self._processes.poll(engine_run_id)

    def cancel(self, engine_run_id: str, grace: float = 5.0) -> None:
        self._processes.cancel(engine_run_id, grace)

    def logs(self, engine_run_id: str) -> Iterator[str]:
        return self._processes.logs(engine_run_id)

    def close(self) -> None:
        self._processes.close()
