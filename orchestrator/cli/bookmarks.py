"""``adhere bookmark JOB [--history]`` and ``adhere bookmark reset JOB [--run-id RUN]``: Glue's
GetJobBookmark and ResetJobBookmark, and every version a job's bookmark went through."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from orchestrator import errors
from orchestrator.cli import display

if TYPE_CHECKING:
    from orchestrator.cli.commands import App


def bookmark(app: App) -> int:
    words = app.args.words
    if len(words) == 2 and words[0] == "reset":
        return _reset(app, words[1])
    if len(words) != 1:
        raise errors.InvalidInputException("usage: adhere bookmark JOB [--history] | adhere bookmark reset JOB "
                                           "[--run-id JOB_RUN_ID]")
    if app.args.run_id:
        raise errors.InvalidInputException("--run-id goes with `adhere bookmark reset JOB`")
    return _history(app, words[0]) if app.args.history else _show(app, words[0])


def _show(app: App, job: str) -> int:
    from orchestrator.service import bookmarks

    found = bookmarks.get_job_bookmark(app.db, job)
    app.out(found, lambda: _render(app, found["JobBookmarkEntry"]))
    return 0


def _render(app: App, entry: dict[str, Any]) -> None:
    app.say(f"{entry['JobName']}: version {entry['Version']}, run {entry['Run']}, attempt {entry['Attempt']}"
            + (f", committed by {entry['RunId']}" if entry.get("RunId") else ""))
    states = json.loads(entry["JobBookmark"]) if entry.get("JobBookmark") else {}
    if not states:
        app.say("  (empty: the next run reads everything)")
    for context, state in sorted(states.items()):
        app.say(f"  {context}: {_describe(state)}")


def _describe(state: dict[str, Any]) -> str:
    kind = state.get("kind")
    if kind == "files":
        return f"files under {state.get('prefix')}, {len(state.get('in_band') or {})} in the safety band"
    if kind == "keys":
        return f"rows of keys {', '.join(state.get('keys') or [])} after {state.get('last')}"
    if kind == "partitions":
        return f"{len(state.get('seen') or [])} partitions of {state.get('table')} seen"
    return json.dumps(state)[:120]


def _history(app: App, job: str) -> int:
    from orchestrator.service import bookmarks

    found = bookmarks.job_bookmark_history(app.db, job)

    def render() -> None:
        rows = []
        for e in found["JobBookmarkEntries"]:
            listed = e.get("Listed") or {}
            what = "; ".join(f"{ctx}: {s.get('new', '?')} new of {s.get('listed', '?')}" for ctx, s in sorted(
                listed.items()) if isinstance(s, dict) and ctx != "rewound_to")
            if e["Reason"] == "REWIND":
                what = f"back to the state after {listed.get('rewound_to')}"
            elif e["Reason"] == "RESET":
                what = "reset: the next run reads everything"
            rows.append((e["Version"], e["Run"], e["Reason"], e.get("RunId", "-"), display.when(e["CommittedOn"]), what))
        app.console.print(display.table(["version", "run", "how", "job run", "when", "what it listed"], rows))

    app.out(found, render)
    return 0


def _reset(app: App, job: str) -> int:
    from orchestrator.service import bookmarks

    found = bookmarks.reset_job_bookmark(app.db, job, app.args.run_id)
    what = f"rewound to after {app.args.run_id}" if app.args.run_id else "reset: the next run reads everything"
    app.out(found, lambda: app.say(f"{job}: {what} (version {found['JobBookmarkEntry']['Version']}); "
                                   "output already written is not touched"))
    return 0
