"""``adhere resume`` and ``adhere history``: repairing workflow runs, one or a workflow's worth.

``resume RUN`` follows the new run as ``adhere run`` does. Bulk repair (``resume --workflow
NAME --failed``) resumes each failed run into a run of its own, one after another, and follows
each to its end as ``adhere run`` does (hosting the orchestrator unless an ``adhere serve`` runs
on the store), a line per run; ``--no-wait`` resumes them all at once and returns, leaving them
to a serve.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orchestrator import errors
from orchestrator.cli import display

if TYPE_CHECKING:
    from orchestrator.cli.commands import App

_FINAL_WORKFLOW = {"COMPLETED", "STOPPED", "ERROR"}
_FAILED = "FAILED, TIMEOUT, STOPPED or ERROR"


def resume(app: App) -> int:
    args = app.args
    if args.workflow:
        return _bulk(app)
    for flag, given in (("--since", args.since), ("--dry-run", args.dry_run)):
        if given:
            raise errors.InvalidInputException(f"{flag} goes with bulk repair: adhere resume --workflow NAME --failed")
    if not args.run_id:
        raise errors.InvalidInputException("say which run to resume (RUN), or --workflow NAME --failed")
    if args.reason is not None and not args.skip:
        raise errors.InvalidInputException("--reason says why nodes were skipped: it goes with --skip")
    if not (args.node or args.failed or args.skip):
        raise errors.InvalidInputException("say what to run again: --node NODE..., --failed, or --skip NODE...")
    from orchestrator.service import orchestration, workflow_runs

    orchestration.check(app.settings)  # refuse bad settings before anything starts
    run_id = app.workflow_run_id(args.run_id)
    result = workflow_runs.resume_workflow_run(
        app.db, None, run_id, args.node, failed=args.failed, only=args.only, skip=args.skip, reason=args.reason,
        arguments=overrides(args.arg), pin_input=args.pin_input,
    )  # fmt: skip
    new_id = result["RunId"]
    if new_id is None:
        app.out(result, lambda: app.say(f"nothing to resume: no node of workflow run {run_id} ended {_FAILED}"))
        return 0
    if args.no_wait:
        app.out(result, lambda: print(new_id))
        return 0
    if not (args.json or args.quiet):
        names = _node_names(workflow_runs.get_workflow_run(app.db, None, new_id), result["NodeIds"])
        app.say(f"resuming {run_id[: display.SHORT_ID]} as {new_id}",
                f": starting {', '.join(names)}" if names else "", f"; skipped {', '.join(args.skip)}" if args.skip else "")
    return app.follow_workflow(new_id, resumed=True)


def overrides(values: Sequence[str] | None) -> dict[str, dict[str, str]]:
    """``--arg JOB:--key=value`` (``JOB:key=value`` too), repeated: job -> its argument overrides."""
    out: dict[str, dict[str, str]] = {}
    for item in values or []:
        sep = ":--" if ":--" in item else ":"
        job, found, rest = item.partition(sep)
        key, eq, value = rest.partition("=")
        if not (found and job and eq and key.lstrip("-")):
            raise errors.InvalidInputException(f"--arg must look like JOB:--key=value, got {item[:80]!r}")
        out.setdefault(job, {})[f"--{key.lstrip('-')}"] = value
    return out


def _node_names(run: dict[str, Any], node_ids: Sequence[str]) -> list[str]:
    names = {n["UniqueId"]: n["Name"] for n in run.get("Graph", {}).get("Nodes", [])}
    return [names.get(node_id, node_id) for node_id in node_ids]


# --- bulk repair ---------------------------------------------------------------------------------


def _bulk(app: App) -> int:
    args = app.args
    if args.run_id:
        raise errors.InvalidInputException("give a RUN or --workflow NAME, not both")
    if not args.failed:
        raise errors.InvalidInputException("bulk repair runs again what failed: adhere resume --workflow NAME --failed")
    if args.node or args.skip or args.only or args.arg or args.reason is not None:
        raise errors.InvalidInputException("--workflow takes --failed, --since, --dry-run and --no-wait only")
    from orchestrator.service import orchestration, workflow_runs

    since = parse_since(args.since) if args.since else None
    if not args.dry_run:
        orchestration.check(app.settings)
    # Followed, the runs are resumed one after another (as the person repairing them would): all at
    # once, each failed job would run in every one of them together, and a job's MaxConcurrentRuns
    # (1 unless said otherwise) would fail all but one of them at once, as in Glue.
    one_by_one = not (args.dry_run or args.no_wait)
    results = workflow_runs.resume_failed_runs(app.db, args.workflow, since=since, dry_run=args.dry_run or one_by_one)

    def say_resumed(r: dict[str, Any]) -> None:
        failed = ", ".join(ref.partition(":")[2] for ref in r["Failed"])
        if args.dry_run:
            app.say(f"would resume {r['WorkflowRunId']} (failed: {failed})")
        elif r.get("RunId"):
            app.say(f"resumed {r['WorkflowRunId'][: display.SHORT_ID]} (failed: {failed}) as {r['RunId']}")
        elif r.get("Error"):
            app.say(f"could not resume {r['WorkflowRunId'][: display.SHORT_ID]}: {r['Error']['Message']}")

    def render() -> None:
        if not results:
            app.say(f"nothing to resume: no COMPLETED run of {args.workflow}"
                    + (f" started since {display.when(since)}" if since else "")
                    + f" has nodes that ended {_FAILED} and were not resumed already")
        for r in results:
            say_resumed(r)
        if args.no_wait and results:
            app.say(f"{len(results)} run{'s' if len(results) != 1 else ''} started, all at once; an `adhere serve`"
                    " on this store runs them")

    if not (one_by_one and results):
        app.out(results, render)
        return 0
    ok = True
    for r in results:
        r.update(workflow_runs.resume_workflow_run(app.db, args.workflow, r["WorkflowRunId"], failed=True, once=True,
                                                   pin_input=args.pin_input))
        if r["RunId"] is None:
            continue  # repaired meanwhile by someone else
        if not (args.json or args.quiet):
            say_resumed(r)
        progress = _follow(app, r["RunId"])
        run = workflow_runs.get_workflow_run(app.db, None, r["RunId"])
        r["Status"] = run["Status"]
        ok &= run["Status"] == "COMPLETED" and all(row.state == "SUCCEEDED" for row in display.run_nodes(run) if row.state)
        if progress.interrupted:
            break  # stopped by the person: the rest stays for another bulk repair
    if args.json:
        display.print_json(results)
    elif not ok:
        app.say("some resumed runs did not succeed: adhere show RUN lists their nodes and logs")
    return 0 if ok else 1


class _Progress:
    """What ``App.drive`` shows of a run in a bulk repair: one line when it ends."""

    def __init__(self, app: App, run_id: str) -> None:
        self.app = app
        self.run_id = run_id
        self.status = ""
        self.interrupted = False

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.done() and not (self.app.args.json or self.app.args.quiet):
            self.app.say(f"  {self.run_id[: display.SHORT_ID]}: ", display.styled(self.status))

    def refresh(self) -> None:
        pass

    def done(self) -> bool:
        from orchestrator.service import workflow_runs

        if not self.status:
            status = workflow_runs.workflow_run_status(self.app.db, self.run_id)
            self.status = status if status in _FINAL_WORKFLOW else ""
        return bool(self.status)


def _follow(app: App, run_id: str) -> _Progress:
    """Host the orchestrator for one run (unless an `adhere serve` runs) until it has ended."""
    from orchestrator.service import workflow_runs

    progress = _Progress(app, run_id)
    app.drive(scope=run_id, done=progress.done, view=dict, live=progress,
              on_interrupt=lambda: workflow_runs.stop_workflow_run(app.db, None, run_id))
    return progress


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """A UTC time from an ISO date or date/time (local time unless it gives its zone) or an age
    before ``now`` (``90m``, ``2h``, ``3d``, ``1h30m``)."""
    from orchestrator.definitions import durations

    value = text.strip()
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is not None:
        return (moment if moment.tzinfo else moment.astimezone()).astimezone(dt.UTC)
    if re.search(r"[a-zA-Z]", value):
        try:
            age = durations.parse_duration(value, "seconds")
        except ValueError:
            age = None
        if age is not None:
            return (now or dt.datetime.now(dt.UTC)) - dt.timedelta(seconds=age)
    raise errors.InvalidInputException(
        f"--since takes an ISO date or date/time (2024-06-01, 2024-06-01T08:00) or an age (2h, 3d), not {text[:40]!r}"
    )


# --- history -------------------------------------------------------------------------------------


def history(app: App) -> int:
    from orchestrator.service import workflow_runs

    run_id = app.workflow_run_id(app.args.run_id)
    found = workflow_runs.get_workflow_run_history(app.db, run_id)

    def render() -> None:
        rows = []
        for r in found["Runs"]:
            mark = "*" if r["WorkflowRunId"] == run_id else ""
            started = r.get("StartedOn")
            ended = r.get("CompletedOn")
            took = display.duration((ended - started).total_seconds()) if started and ended else ""
            rows.append((mark, r["WorkflowRunId"], (r.get("PreviousRunId") or "")[: display.SHORT_ID] or "-",
                         display.styled(r["Status"]), display.when(started), took))
        app.console.print(display.table(["", "run", "resumes", "status", "started", "took"], rows,
                                        display.text("runs, oldest first (* the run asked about)")))
        run = workflow_runs.get_workflow_run(app.db, None, run_id)
        order = {(row.kind, row.name): i for i, row in enumerate(display.run_nodes(run))}
        nodes = sorted(found["Nodes"], key=lambda n: (order.get((n["Type"], n["Name"]), len(order)), n["Name"]))
        node_rows = []
        for n in nodes:
            label = n["Name"] if n["Type"] == "JOB" else f"{n['Name']} (crawler)"
            if n.get("SkippedBy"):
                when = f" (on {display.when(n['SkippedOn'])})" if n.get("SkippedOn") else ""
                origin = display.skip_note(n.get("Reason")) + when
            else:
                origin = n["RunId"][: display.SHORT_ID] + (" (this run)" if n["RunId"] == run_id else " (carried)")
            node_rows.append((label, display.styled(n["State"]), origin,
                              ", ".join(rid[: display.SHORT_ID] for rid in n.get("Runs", [])) or "-"))
        title = display.text(f"nodes of {run_id[: display.SHORT_ID]}, and the run that produced each one's state")
        app.console.print(display.table(["node", "state", "produced by", "job runs"], node_rows, title))
        later = [r["WorkflowRunId"] for r in found["Runs"] if r.get("PreviousRunId") == run_id]
        if later:
            app.say(f"run {run_id[: display.SHORT_ID]} was resumed as {', '.join(later)}: adhere history {later[-1]}")

    app.out(found, render)
    return 0
