"""Terminal output: Glue-shaped JSON for ``--json``, rich tables and the live run view otherwise.

Text that a definition or a run supplies is never read as rich markup (a job named ``[/x]``
prints as itself): tables get ``Text`` cells and messages are assembled from ``Text`` parts.
Rich is imported only by commands that draw.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
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


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: Text | None = None,
          caption: str | None = None) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, title_justify="left", caption_justify="left")
    for column in columns:
        t.add_column(column)
    for row in rows:
        t.add_row(*(v if isinstance(v, Text) else Text("-" if v is None else str(v)) for v in row))
    return t


SHORT_ID = 15  # "wr_" and 12 hex digits: how runs are named in tables and hints (a unique prefix)
_ORDER: dict[str, tuple[list[tuple[str, str]], dict[tuple[str, str], list[str]]]] = {}  # per run: its graph


@dataclasses.dataclass(frozen=True)
class NodeRow:
    """A job or crawler node of a workflow run as the CLI shows it (its latest run's view)."""

    kind: str  # JOB or CRAWLER
    name: str
    state: str  # "" while it has not run
    attempts: int
    trigger: str  # the trigger that started its latest run, or those that would start it
    started: dt.datetime | None
    seconds: float | None
    message: str  # the first line of its latest run's error
    job_run_id: str | None
    origin: str = ""  # "carried" (its state comes from an earlier run) or "skipped" (by the operator)
    source: str = ""  # the run it was carried from, or why the operator skipped it

    @property
    def note(self) -> str:
        if self.origin == "skipped":
            return skip_note(self.source)
        if self.origin == "carried":
            return f"carried from {self.source[:SHORT_ID]}" + (f": {self.message}" if self.message else "")
        return self.message

    @property
    def ended_badly(self) -> bool:
        return bool(self.state) and self.state not in _RUNNING and self.state != "SUCCEEDED"


_RUNNING = {"STARTING", "RUNNING", "STOPPING", "WAITING", "CANCELLING"}
_SKIPPED = "skipped by the operator"


def skip_note(reason: str | None) -> str:
    """``skipped by the operator: REASON`` (the service records the bare phrase when none is given)."""
    return f"{_SKIPPED}: {reason}" if reason and reason != _SKIPPED else _SKIPPED


def origins(history: Mapping[str, Any], run_id: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(TYPE, name) -> ("carried", source run) or ("skipped", reason), from a run's history."""
    out = {}
    for node in history.get("Nodes", []):
        key = (node["Type"], node["Name"])
        if node.get("SkippedBy"):
            out[key] = ("skipped", node.get("Reason") or "")
        elif node.get("RunId") and node["RunId"] != run_id:
            out[key] = ("carried", node["RunId"])
    return out


def _graph_of(run: Mapping[str, Any]) -> tuple[list[tuple[str, str]], dict[tuple[str, str], list[str]]]:
    """The run's job and crawler nodes upstream first, and the triggers that start each (the
    graph a run started with never changes: kept per run for the live view's refreshes)."""
    from orchestrator import graph

    key = run.get("WorkflowRunId", "")
    if key not in _ORDER:
        triggers = [n["TriggerDetails"]["Trigger"] for n in run.get("Graph", {}).get("Nodes", [])
                    if n["Type"] == "TRIGGER"]
        starters: dict[tuple[str, str], list[str]] = {}
        for trig in triggers:
            for action in trig.get("Actions") or []:
                name = action.get("JobName") or action.get("CrawlerName")
                starters.setdefault(("JOB" if action.get("JobName") else "CRAWLER", name), []).append(trig["Name"])
        order = [(kind.upper(), name) for kind, name in graph.upstream_first(triggers) if kind != "trigger"]
        _ORDER[key] = (order, starters)
    return _ORDER[key]


def run_nodes(run: Mapping[str, Any], origin_of: Mapping[tuple[str, str], tuple[str, str]] | None = None,
              now: dt.datetime | None = None) -> list[NodeRow]:
    """The job and crawler nodes of a run graph, upstream first (``origin_of`` from ``origins``)."""
    now = now or dt.datetime.now(dt.UTC)
    order, starters = _graph_of(run)
    by_key = {(n["Type"], n["Name"]): n for n in run.get("Graph", {}).get("Nodes", []) if n["Type"] != "TRIGGER"}
    rows = []
    for key in order + sorted(set(by_key) - set(order)):
        node = by_key.get(key)
        if node is None:
            continue
        if node["Type"] == "CRAWLER":
            runs = [{"JobRunState": c["State"], **c} for c in node.get("CrawlerDetails", {}).get("Crawls", [])]
        else:
            runs = node.get("JobDetails", {}).get("JobRuns", [])
        last = runs[-1] if runs else {}
        origin, source = (origin_of or {}).get(key, ("", ""))
        state = last.get("JobRunState", "") or ("SUCCEEDED" if origin == "skipped" else "")
        started = _datetime(last["StartedOn"]) if last.get("StartedOn") else None
        seconds = job_run_seconds(last)
        if seconds is None and started and state in ("RUNNING", "STOPPING"):
            seconds = max(0.0, (now - started).total_seconds())  # so far
        message = (last.get("ErrorMessage") or "").strip().splitlines()
        rows.append(NodeRow(
            node["Type"], node["Name"], state, len(runs),
            last.get("TriggerName") or ", ".join(starters.get(key, [])), started, seconds,
            message[0][:80] if message else "", last.get("Id"), origin, source,
        ))  # fmt: skip
    return rows


def job_run_seconds(run: Mapping[str, Any]) -> float | None:
    """A JobRun's time to the millisecond (Glue's ExecutionTime is whole seconds), once it has ended."""
    if run.get("StartedOn") and run.get("CompletedOn"):
        return max(0.0, (_datetime(run["CompletedOn"]) - _datetime(run["StartedOn"])).total_seconds())
    return None


def _datetime(value: dt.datetime | str) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def duration(seconds: float | None) -> str:
    """``0.043s`` below a second, ``12.5s`` below a minute, then ``3m04s``, ``1h02m03s``, ``2d03h04m``."""
    if seconds is None:
        return ""
    if seconds < 0.9995:
        return f"{seconds:.3f}s"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes}m{secs:02d}s"
    days, hours = divmod(hours, 24)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if not days else f"{days}d{hours:02d}h{minutes:02d}m"


def clock(value: dt.datetime | None, day_of: dt.datetime | None = None) -> str:
    """A local time; with the date unless it falls on the day of ``day_of``."""
    if value is None:
        return "-"
    local = value.astimezone()
    if day_of is not None and local.date() == day_of.astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def run_table(run: Mapping[str, Any], origin_of: Mapping[tuple[str, str], tuple[str, str]] | None = None) -> Table:
    from rich.text import Text

    stats = run.get("Statistics", {})
    started = _datetime(run["StartedOn"]) if run.get("StartedOn") else None
    ended = _datetime(run["CompletedOn"]) if run.get("CompletedOn") else None
    took = duration((ended - started).total_seconds()) if started and ended else ""
    title = text(
        "workflow ", Text(run["Name"], style="bold"), f" run {run['WorkflowRunId'][:SHORT_ID]} ", styled(run["Status"]),
        f"  started {clock(started)}" + (f", took {took}" if took else ""),
        f"  succeeded {stats.get('SucceededActions', 0)}/{stats.get('TotalActions', 0)}",
        f", failed {stats.get('FailedActions', 0) + stats.get('TimeoutActions', 0)}",
    )  # fmt: skip
    caption = None
    if run.get("PreviousRunId"):
        caption = f"resumes {run['PreviousRunId'][:SHORT_ID]} (adhere history {run['WorkflowRunId'][:SHORT_ID]})"
    rows = []
    for row in run_nodes(run, origin_of):
        label = row.name if row.kind == "JOB" else f"{row.name} (crawler)"
        state = styled(row.state) if row.state else Text("not run", style="dim")
        dim = "dim" if row.origin == "carried" else ""
        rows.append((Text(label, style=dim), Text(row.trigger, style="dim"), state, clock(row.started, started),
                     duration(row.seconds), row.attempts or "", Text(row.note, style=dim)))
    return table(["node", "started by", "state", "started", "time", "attempts", "message"], rows, title, caption)


def log_hints(run: Mapping[str, Any], rows: Sequence[NodeRow]) -> list[str]:
    """``adhere logs RUN NODE`` for each node whose latest run ended badly."""
    short = run["WorkflowRunId"][:SHORT_ID]
    return [f"{row.name}: adhere logs {short} {row.name}" for row in rows
            if row.ended_badly and row.kind == "JOB" and row.job_run_id]


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
        if trig.get("Schedule"):
            conds = trig["Schedule"]
        elif trig["Type"] == "EVENT":
            batch = trig.get("EventBatchingCondition") or {}
            conds = f"{batch.get('BatchSize', 1)} events or {batch.get('BatchWindow', 900)}s" + (
                " matching its EventPattern" if trig.get("EventPattern") else "")
        actions = ", ".join(a.get("JobName") or a.get("CrawlerName") or "?" for a in trig.get("Actions", []))
        rows.append((trig["Name"], trig.get("WorkflowName"), trig["Type"], styled(trig.get("State")), conds, actions))
    return table(["trigger", "workflow", "type", "state", "when", "starts"], rows)


_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLines(logging.Formatter):
    """A log record as one JSON object: time, level, logger, message, and the record's extras
    (``log.info("event batch fired", extra={"trigger": ...})``), for a long-lived `adhere serve`."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }  # fmt: skip
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def log_json_lines(level: int = logging.INFO) -> None:
    """adhere's own log records as JSON lines on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    root = logging.getLogger("orchestrator")
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
