"""Terminal output: Glue-shaped JSON for ``--json``, rich tables and the live run view otherwise."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

_STYLE = {
    "SUCCEEDED": "green", "COMPLETED": "green", "RUNNING": "cyan", "STARTING": "cyan", "WAITING": "yellow",
    "STOPPING": "yellow", "STOPPED": "yellow", "FAILED": "red", "TIMEOUT": "red", "ERROR": "red",
}


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def print_json(data: Any, out: TextIO | None = None) -> None:
    (out or sys.stdout).write(json.dumps(data, indent=2, default=_default) + "\n")


def console() -> Console:
    # Piped output (CI logs, tests) gets wide lines instead of 80-column wrapping.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def styled(state: str | None) -> str:
    if not state:
        return "-"
    style = _STYLE.get(state)
    return f"[{style}]{state}[/{style}]" if style else state


def when(value: dt.datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for column in columns:
        t.add_column(column)
    for row in rows:
        t.add_row(*("-" if v is None else str(v) for v in row))
    return t


def run_nodes(run: Mapping[str, Any]) -> list[tuple[str, str, str, int, str, str]]:
    """(type, name, state, attempts, duration, message) for each job/crawler node of a run graph."""
    rows = []
    for node in run.get("Graph", {}).get("Nodes", []):
        if node["Type"] == "TRIGGER":
            continue
        runs = node.get("JobDetails", {}).get("JobRuns", [])
        last = runs[-1] if runs else {}
        seconds = last.get("ExecutionTime")
        message = (last.get("ErrorMessage") or "").splitlines()[0][:80] if last.get("ErrorMessage") else ""
        rows.append((node["Type"], node["Name"], last.get("JobRunState", ""), len(runs),
                     f"{seconds}s" if runs else "", message))
    return sorted(rows, key=lambda r: (r[2] == "", r[1]))


def run_table(run: Mapping[str, Any]) -> Table:
    stats = run.get("Statistics", {})
    title = (f"workflow [bold]{run['Name']}[/bold] run {run['WorkflowRunId'][:15]}… "
             f"{styled(run['Status'])}  succeeded {stats.get('SucceededActions', 0)}/{stats.get('TotalActions', 0)}"
             f", failed {stats.get('FailedActions', 0) + stats.get('TimeoutActions', 0)}")
    t = table(title, ["node", "state", "attempts", "time", "message"], [])
    for kind, name, state, attempts, took, message in run_nodes(run):
        label = name if kind == "JOB" else f"{name} ({kind.lower()})"
        t.add_row(label, styled(state) if state else "[dim]not run[/dim]", str(attempts or ""), took, message)
    return t


def triggers_table(triggers: Sequence[Mapping[str, Any]]) -> Table:
    rows = []
    for trig in triggers:
        pred = trig.get("Predicate") or {}
        conds = ", ".join(
            f"{c.get('JobName') or c.get('CrawlerName')}={c.get('State') or c.get('CrawlState')}"
            for c in pred.get("Conditions", [])
        )
        if conds and len(pred.get("Conditions", [])) > 1:
            conds = f"{pred.get('Logical')}({conds})"
        actions = ", ".join(a.get("JobName") or a.get("CrawlerName") or "?" for a in trig.get("Actions", []))
        rows.append((trig["Name"], trig.get("WorkflowName"), trig["Type"], trig.get("State"), conds, actions))
    return table(None, ["trigger", "workflow", "type", "state", "when", "starts"], rows)
