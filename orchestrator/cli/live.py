"""Following a run: a rich Live table on a terminal; a line per state change otherwise."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.cli import display

if TYPE_CHECKING:
    from orchestrator.cli.commands import App


class LiveView:
    def __init__(self, app: App, view: Callable[[], dict[str, Any]],
                 origins: Mapping[tuple[str, str], tuple[str, str]] | None = None) -> None:
        self.app = app
        self.view = view
        self.origins = origins  # a resumed run's carried and skipped nodes (display.origins)
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
                self._live.update(display.run_table(data, self.origins))
                return
            for row in display.run_nodes(data, self.origins):
                key = f"{row.kind}:{row.name}"
                if row.state and self._seen.get(key) != f"{row.state}{row.attempts}":
                    self._seen[key] = f"{row.state}{row.attempts}"
                    extra = f" (attempt {row.attempts})" if row.attempts > 1 else ""
                    self.app.say(f"{row.name}: ", display.styled(row.state), extra, f"  {row.note}" if row.note else "")
        else:
            state = f"{data['JobRunState']}{data['Attempt']}"
            if self._seen.get("job") != state:
                self._seen["job"] = state
                self.app.say(f"{data['JobName']} {data['Id']} attempt {data['Attempt']}: ",
                             display.styled(data["JobRunState"]))
