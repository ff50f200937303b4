"""Following a run: a rich Live table on a terminal; a line per state change otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.cli import display

if TYPE_CHECKING:
    from orchestrator.cli.commands import App


class LiveView:
    def __init__(self, app: App, view: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self.view = view
        self.interrupted = False
        self._live: Any = None
        self._seen: dict[str, str] = {}
        self.enabled = not app.args.json and not app.args.quiet
        if self.enabled and app.console.is_terminal:
            from rich.live import Live

            self._live = Live(console=app.console, refresh_per_second=5, transient=False)

    def __enter__(self) -> LiveView:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.refresh()
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def refresh(self) -> None:
        if not self.enabled:
            return
        data = self.view()
        if "WorkflowRunId" in data:
            if self._live is not None:
                self._live.update(display.run_table(data))
                return
            for kind, name, state, attempts, _took, message in display.run_nodes(data):
                key = f"{kind}:{name}"
                if state and self._seen.get(key) != f"{state}{attempts}":
                    self._seen[key] = f"{state}{attempts}"
                    extra = f" (attempt {attempts})" if attempts > 1 else ""
                    self.app.say(f"{name}: ", display.styled(state), extra, f"  {message}" if message else "")
        else:
            state = f"{data['JobRunState']}{data['Attempt']}"
            if self._seen.get("job") != state:
                self._seen["job"] = state
                self.app.say(f"{data['JobName']} {data['Id']} attempt {data['Attempt']}: ",
                             display.styled(data["JobRunState"]))
