"""Terminal output: Glue-shaped JSON for ``--json``, rich tables and the live run view otherwise.

Text that a definition or a run supplies is never read as rich markup (a job named ``[/x]``
prints as itself): tables get ``Text`` cells and messages are assembled from ``Text`` parts.
Rich is imported only by commands that draw.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

_STYLE = {
    "SUCCEEDED": "green", "COMPLETED": "green", "RUNNING": "cyan", "STARTING": "cyan", "WAITING": "yellow",
    "STOPPING": "yellow", "STOPPED": "yellow", "FAILED": "red", "TIMEOUT": "red", "ERROR": "red",
}  # fmt: skip


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def print_json(data: Any, out: TextIO | None = None) -> None:
    (out or sys.stdout).write(json.dumps(data, indent=2, default=_default) + "\n")


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    # Piped output (CI logs, tests) gets wide lines instead of 80-column wrapping.
    stream = sys.stderr if stderr else sys.stdout
    return Console(highlight=False, markup=False, width=None if stream.isatty() else 160, stderr=stderr)


def text(*parts: Any) -> Text:
    """Plain text from parts (str, or Text for styled ones); nothing is read as markup."""
    from rich.text import Text

    return Text.assemble(*(p if isinstance(p, Text) else str(p) for p in parts))


def styled(state: str | None) -> Text:
    from rich.text import Text

    if not state:
        return Text("-")
    return Text(state, style=_STYLE.get(state, ""))


def when(value: dt.datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: Text | None = None) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for column in columns:
        t.add_column(column)
    for row in rows:
        t.add_row(*(v if isinstance(v, Text) else Text("-" if v is None else str(v)) for v in row))
    return t


def run_nodes(run: Mapping[str, Any]) -> list[tuple[str, str, str, int, str, str]]:
    """(type, name, state, attempts, duration, message) for each job/crawler node of a run graph."""
    rows = []
    for node in run.get("Graph", {}).get("Nodes", []):
        if node["Type"] == "TRIGGER":
            continue
        if node["Type"] == "CRAWLER":
            runs = node.get("CrawlerDetails", {}).get("Crawls", [])
            last = {"JobRunState": runs[-1]["State"], "ErrorMessage": runs[-1].get("ErrorMessage")} if runs else {}
        else:
            runs = node.get("JobDetails", {}).get("JobRuns", [])
            last = runs[-1] if runs else {}
        seconds = last.get("ExecutionTime")
        message = (last.get("ErrorMessage") or "").splitlines()[0][:80] if last.get("ErrorMessage") else ""
        rows.append((node["Type"], node["Name"], last.get("JobRunState", ""), len(runs),
                     f"{seconds}s" if seconds is not None else "", message))
    return sorted(rows, key=lambda r: (r[2] == "", r[1]))


def run_table(run: Mapping[str, Any]) -> Table:
    from rich.text import Text

    stats = run.get("Statistics", {})
    title = text(
        "workflow ", Text(run["Name"], style="bold"), f" run {run['WorkflowRunId'][:15]}… ", styled(run["Status"]),
        f"  succeeded {stats.get('SucceededActions', 0)}/{stats.get('TotalActions', 0)}",
        f", failed {stats.get('FailedActions', 0) + stats.get('TimeoutActions', 0)}",
    )  # fmt: skip
    rows = []
    for kind, name, state, attempts, took, message in run_nodes(run):
        label = name if kind == "JOB" else f"{name} ({kind.lower()})"
        rows.append((label, styled(state) if state else Text("not run", style="dim"), attempts or "", took, message))
    return table(["node", "state", "attempts", "time", "message"], rows, title)


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
    return table(["trigger", "workflow", "type", "state", "when", "starts"], rows)
