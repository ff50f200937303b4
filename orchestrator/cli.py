"""The ``adhere`` command. Every command calls orchestrator.service; ``--json`` prints Glue's
response shape. A user mistake prints one clear line and exits non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from orchestrator import display, errors, service, settings, store
from orchestrator.states import WORKFLOW_RUN_TERMINAL, WorkflowRunStatus

log = logging.getLogger("adhere")
_FINAL = {s.value for s in WORKFLOW_RUN_TERMINAL}


def _pairs(values: Sequence[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise errors.InvalidInputException(f"{what} must look like key=value, got {item!r}")
        out[key] = value
    return out


def _job_args(values: Sequence[str] | None) -> dict[str, str]:
    return {(k if k.startswith("--") else f"--{k}"): v for k, v in _pairs(values, "--arg").items()}


class App:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = settings.load({"db_url": args.db, "home": args.home})
        self._db: store.Store | None = None
        self.console = display.console()

    @property
    def db(self) -> store.Store:
        if self._db is None:
            self._db = store.Store.open(self.settings)
        return self._db

    def out(self, data: Any, render: Callable[[], None]) -> None:
        if self.args.json:
            display.print_json(data)
        else:
            render()

    # --- definitions -----------------------------------------------------------------------
    def validate(self) -> int:
        defs = service.validate([Path(p) for p in self.args.files])
        summary = {"Jobs": len(defs.jobs), "Crawlers": len(defs.crawlers), "Triggers": len(defs.triggers),
                   "Workflows": len(defs.workflows)}
        self.out({"Valid": True, **summary}, lambda: self.console.print(
            "valid: " + ", ".join(f"{n} {k.lower()}" for k, n in summary.items())))
        return 0

    def apply(self) -> int:
        defs = service.validate([Path(p) for p in self.args.files])
        outcomes = service.apply(self.db, defs, self.settings)
        grouped: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
        for kind, name, outcome in outcomes:
            grouped[outcome].append(f"{kind} {name}")

        def render() -> None:
            if not grouped["created"] and not grouped["updated"]:
                self.console.print(f"unchanged: nothing to do ({len(outcomes)} definitions)")
                return
            for outcome in ("created", "updated"):
                for item in grouped[outcome]:
                    self.console.print(f"{outcome}: {item}")
            if grouped["unchanged"]:
                self.console.print(f"unchanged: {len(grouped['unchanged'])} definitions")

        self.out({k.capitalize(): v for k, v in grouped.items()}, render)
        return 0

    def schema(self) -> int:
        from orchestrator import definitions

        display.print_json(definitions.json_schema())
        return 0

    def db_upgrade(self) -> int:
        self._db = store.Store.open(self.settings, upgrade=False)
        changed = self.db.upgrade(only_if_needed=True)
        self.out({"Revision": self.db.revision()}, lambda: self.console.print(
            f"store at revision {self.db.revision()}" + (" (upgraded)" if changed else "")))
        return 0

    # --- listing ---------------------------------------------------------------------------
    def jobs(self) -> int:
        jobs = service.get_jobs(self.db)
        self.out({"Jobs": jobs}, lambda: self.console.print(display.table(None, ["job", "engine", "script", "retries", "timeout"], [
            (j["Name"], j["Command"]["Name"], j["Command"].get("ScriptLocation"), j.get("MaxRetries", 0),
             f"{j['Timeout']}m" if j.get("Timeout") else None) for j in jobs])))
        return 0

    def triggers(self) -> int:
        trigs = service.get_triggers(self.db, self.args.workflow)
        for t in trigs:
            t.pop("AdhereActions", None)
        self.out({"Triggers": trigs}, lambda: self.console.print(display.triggers_table(trigs)))
        return 0

    def workflows(self) -> int:
        names = service.list_workflows(self.db)
        self.out({"Workflows": names}, lambda: self.console.print(display.table(None, ["workflow"], [(n,) for n in names])))
        return 0

    def runs(self) -> int:
        runs = service.get_workflow_runs(self.db, self.args.workflow)
        self.out({"Runs": runs}, lambda: self.console.print(display.table(
            None, ["run", "workflow", "status", "started", "completed", "succeeded/total"],
            [(r["WorkflowRunId"], r["Name"], display.styled(r["Status"]), display.when(r["StartedOn"]),
              display.when(r.get("CompletedOn")),
              f"{r['Statistics']['SucceededActions']}/{r['Statistics']['TotalActions']}") for r in runs])))
        return 0

    def show(self) -> int:
        kind, run = service.find_run(self.db, self.args.run_id)
        if kind == "workflow":
            self.out({"Run": run}, lambda: self.console.print(display.run_table(run)))
        else:
            self.out({"JobRun": run}, lambda: self._print_job_runs([run]))
        return 0

    def job_runs(self) -> int:
        runs = service.get_job_runs(self.db, self.args.job)
        self.out({"JobRuns": runs}, lambda: self._print_job_runs(runs))
        return 0

    def _print_job_runs(self, runs: Sequence[dict[str, Any]]) -> None:
        self.console.print(display.table(None, ["job run", "job", "attempt", "state", "started", "time", "error"], [
            (r["Id"], r["JobName"], r["Attempt"], display.styled(r["JobRunState"]), display.when(r.get("StartedOn")),
             f"{r.get('ExecutionTime', 0)}s", (r.get("ErrorMessage") or "")[:80]) for r in runs]))

    def logs(self) -> int:
        for line in service.job_run_logs(self.db, self.settings, self.args.job_run_id):
            sys.stdout.write(line if line.endswith("\n") else line + "\n")
        return 0

    def notifications(self) -> int:
        rows = service.get_notifications(self.db, self.args.limit)
        self.out({"Notifications": rows}, lambda: self.console.print(display.table(
            None, ["time", "detail-type", "job", "run", "state", "deliveries"],
            [(display.when(r["time"]), r["detail_type"], r["job_name"], r["job_run_id"], r["state"],
              ", ".join(f"{k}:{'ok' if v.get('ok') else 'FAILED'}" for k, v in (r["deliveries"] or {}).items())
              or "pending") for r in rows])))
        return 0

    # --- runs --------------------------------------------------------------------------------
    def run(self) -> int:
        run_id = service.start_workflow_run(self.db, self.args.workflow, _pairs(self.args.param, "-p"))
        if self.args.no_wait:
            self.out({"RunId": run_id}, lambda: print(run_id))
            return 0
        return self._follow_workflow(run_id)

    def _follow_workflow(self, run_id: str) -> int:
        def current() -> dict[str, Any]:
            return service.get_workflow_run(self.db, None, run_id)

        run = self._drive(scope=run_id, done=lambda: service.workflow_run_status(self.db, run_id) in _FINAL,
                          view=current,
                          on_interrupt=lambda: service.stop_workflow_run(self.db, None, run_id))
        self.out({"Run": run}, lambda: None)
        if not self.args.json:
            self._summary(run)
        latest = [n[2] for n in display.run_nodes(run) if n[2]]
        ok = run["Status"] == WorkflowRunStatus.COMPLETED.value and all(s == "SUCCEEDED" for s in latest)
        return 0 if ok else 1

    def _summary(self, run: dict[str, Any]) -> None:
        """The run's end: status, where failed jobs' logs are, and the properties jobs published."""
        self.console.print(f"run {run['WorkflowRunId']} {display.styled(run['Status'])}")
        for node in run.get("Graph", {}).get("Nodes", []):
            runs = node.get("JobDetails", {}).get("JobRuns", [])
            if runs and runs[-1]["JobRunState"] != "SUCCEEDED":
                self.console.print(f"  {node['Name']}: {display.styled(runs[-1]['JobRunState'])}"
                                   f"  (adhere logs {runs[-1]['Id']})")
        props = run.get("WorkflowRunProperties") or {}
        if props:
            self.console.print("run properties:")
            for key, value in sorted(props.items()):
                self.console.print(f"  {key} = {value}", soft_wrap=True)

    def start_job(self) -> int:
        job_run_id = service.start_job_run(
            self.db, self.args.job, _job_args(self.args.arg), job_run_id=self.args.retry_of,
            timeout=self.args.timeout * 60 if self.args.timeout else None,
        )
        if self.args.no_wait:
            self.out({"JobRunId": job_run_id}, lambda: print(job_run_id))
            return 0

        def current() -> dict[str, Any]:
            """The run and its automatic retries, followed to the last attempt."""
            runs = [r for r in service.get_job_runs(self.db, self.args.job) if _chain(r, job_run_id, runs_by_id)]
            return runs[0] if runs else service.get_job_run(self.db, None, job_run_id)

        runs_by_id: dict[str, str | None] = {}
        final = {"SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR", "EXPIRED"}
        run = self._drive(scope=None, done=lambda: current()["JobRunState"] in final, view=current,
                          on_interrupt=lambda: service.batch_stop_job_run(self.db, self.args.job, [current()["Id"]]))
        self.out({"JobRun": run}, lambda: self._print_job_runs([run]))
        return 0 if run["JobRunState"] == "SUCCEEDED" else 1

    def _drive(self, scope: str | None, done: Callable[[], bool], view: Callable[[], dict[str, Any]],
               on_interrupt: Callable[[], Any]) -> dict[str, Any]:
        """Run an orchestrator here unless ``adhere serve`` runs on this store; follow until done."""
        from orchestrator import runner

        orch = None
        if not service.serving_orchestrators(self.db):
            orch = runner.Orchestrator(self.settings, self.db, scope=scope).start()
        live = _LiveView(self, view)
        try:
            with live:
                while True:
                    try:
                        if orch is not None:
                            runner.run_until(orch, done, tick=live.refresh, interval=0.2)
                        else:
                            while not done():
                                live.refresh()
                                time.sleep(0.2)
                        break
                    except KeyboardInterrupt:
                        if live.interrupted:
                            raise
                        live.interrupted = True
                        self.console.print("[yellow]stopping… (Ctrl-C again to leave the runs to the store)[/yellow]")
                        on_interrupt()
        finally:
            if orch is not None:
                orch.stop()
        return view()

    def stop(self) -> int:
        service.stop_workflow_run(self.db, None, self.args.run_id)
        self.out({}, lambda: self.console.print(f"stopping workflow run {self.args.run_id}"))
        return 0

    def stop_job_run(self) -> int:
        result = service.batch_stop_job_run(self.db, self.args.job, self.args.run_ids)

        def render() -> None:
            for ok in result["SuccessfulSubmissions"]:
                self.console.print(f"stopping {ok['JobRunId']}")
            for err in result["Errors"]:
                self.console.print(f"[red]{err['JobRunId']}: {err['ErrorDetail']['ErrorCode']}: "
                                   f"{err['ErrorDetail']['ErrorMessage']}[/red]")

        self.out(result, render)
        return 1 if result["Errors"] else 0

    def run_properties(self) -> int:
        kind, _ = service.find_run(self.db, self.args.run_id)
        if kind != "workflow":
            raise errors.InvalidInputException(f"{self.args.run_id} is not a workflow run")
        updates = _pairs(self.args.set, "--set")
        if updates:
            service.put_workflow_run_properties(self.db, None, self.args.run_id, updates)
        props = service.get_workflow_run_properties(self.db, None, self.args.run_id)
        self.out({"RunProperties": props}, lambda: self.console.print(display.table(
            None, ["property", "value"], sorted(props.items()))))
        return 0

    def serve(self) -> int:
        from orchestrator import runner

        orch = runner.Orchestrator(self.settings, self.db, serving=True).start()
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.console.print(f"adhere serving on {store._safe(self.db.url)} as {orch.id} (Ctrl-C to stop)")
        while not stop.wait(0.5):
            if orch.error is not None:
                orch.stop()
                raise errors.InternalServiceException(f"orchestrator failed: {orch.error}")
        orch.stop()
        return 0


def _chain(run: dict[str, Any], root: str, parents: dict[str, str | None]) -> bool:
    """True when ``run`` is ``root`` or an automatic retry descending from it."""
    parents[run["Id"]] = run.get("PreviousRunId")
    seen, current = 0, run["Id"]
    while current and seen < 100:
        if current == root:
            return True
        current, seen = parents.get(current), seen + 1
    return False


class _LiveView:
    """A rich Live table on a terminal; plain lines (state changes only) otherwise."""

    def __init__(self, app: App, view: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self.view = view
        self.interrupted = False
        self._live = None
        self._seen: dict[str, str] = {}
        self.enabled = not app.args.json and not app.args.quiet
        if self.enabled and app.console.is_terminal:
            from rich.live import Live

            self._live = Live(console=app.console, refresh_per_second=5, transient=False)

    def __enter__(self) -> _LiveView:
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
                    self.app.console.print(f"{name}: {display.styled(state)}{extra}" + (f"  {message}" if message else ""))
        else:
            state = f"{data['JobRunState']}{data['Attempt']}"
            if self._seen.get("job") != state:
                self._seen["job"] = state
                self.app.console.print(f"{data['JobName']} {data['Id']} attempt {data['Attempt']}: "
                                       f"{display.styled(data['JobRunState'])}")


def _parser() -> argparse.ArgumentParser:
    env = settings.ENV_PREFIX

    def flags(top: bool) -> argparse.ArgumentParser:
        # The subcommands repeat these flags without defaults: a default there would overwrite
        # a value given before the command (`adhere --db URL jobs`).
        unset: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
        p = argparse.ArgumentParser(add_help=False)
        p.add_argument("--db", **({"default": None} | unset), help=f"SQLAlchemy URL of the store (env {env}DB_URL; default: SQLite in .adhere/)")
        p.add_argument("--home", **({"default": None} | unset), help=f"project folder for the store, logs and engines (env {env}HOME; default .adhere)")
        p.add_argument("--json", action="store_true", **unset, help="print Glue's response shape as JSON")
        p.add_argument("--debug", action="store_true", **unset, help="show tracebacks")
        return p

    common = flags(top=False)
    parser = argparse.ArgumentParser(prog="adhere", description="Glue-shaped workflows on Python shell, Ray and Spark.",
                                     parents=[flags(top=True)])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, handler: Callable[[App], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, parents=[common], description=help_)
        p.set_defaults(handler=handler)
        return p

    cmd("validate", App.validate, "check definition files; write nothing").add_argument("files", nargs="+")
    cmd("apply", App.apply, "create or update definitions (one transaction)").add_argument("files", nargs="+")
    cmd("schema", App.schema, "print the JSON Schema of definition files")
    db = cmd("db", App.db_upgrade, "store maintenance")
    db.add_argument("action", choices=["upgrade"])
    p = cmd("run", App.run, "start a workflow run and follow it (StartWorkflowRun)")
    p.add_argument("workflow")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="run property")
    p.add_argument("--no-wait", action="store_true", help="print the run id and return")
    p.add_argument("-q", "--quiet", action="store_true", help="no live view")
    p = cmd("start-job", App.start_job, "start a job run and follow it (StartJobRun)")
    p.add_argument("job")
    p.add_argument("--arg", action="append", metavar="--KEY=VALUE", help="job argument")
    p.add_argument("--retry-of", metavar="JOB_RUN_ID", help="Glue's manual retry of a run")
    p.add_argument("--timeout", type=float, metavar="MINUTES")
    p.add_argument("--no-wait", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    cmd("jobs", App.jobs, "list jobs (GetJobs)")
    cmd("triggers", App.triggers, "list triggers (GetTriggers)").add_argument("--workflow")
    cmd("workflows", App.workflows, "list workflows (ListWorkflows)")
    cmd("runs", App.runs, "list workflow runs (GetWorkflowRuns)").add_argument("workflow", nargs="?")
    cmd("show", App.show, "show a workflow run's graph or a job run (GetWorkflowRun)").add_argument("run_id")
    cmd("job-runs", App.job_runs, "list a job's runs, newest first (GetJobRuns)").add_argument("job")
    cmd("logs", App.logs, "print a job run's logs").add_argument("job_run_id")
    cmd("stop", App.stop, "stop a workflow run (StopWorkflowRun)").add_argument("run_id")
    p = cmd("stop-job-run", App.stop_job_run, "stop job runs (BatchStopJobRun)")
    p.add_argument("job")
    p.add_argument("run_ids", nargs="+")
    p = cmd("run-properties", App.run_properties, "read or upsert workflow run properties")
    p.add_argument("run_id")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    cmd("notifications", App.notifications, "list sent events, newest first").add_argument("--limit", type=int, default=50)
    cmd("serve", App.serve, "run the scheduler, dispatcher and watchdog until stopped")
    return parser


def _join_job_args(argv: Sequence[str]) -> list[str]:
    """``--arg --day=1`` -> ``--arg=--day=1``: argparse would read ``--day=1`` as an unknown flag."""
    out: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        value = next(tokens, None) if token == "--arg" else None
        out.append(token if value is None else f"--arg={value}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(_join_job_args(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app: App | None = None
    try:
        app = App(args)
        return args.handler(app)
    except errors.AdhereError as exc:
        if args.debug:
            log.exception("failed")
        print(f"error: {exc.message}", file=sys.stderr)
        cause = exc.__cause__
        if cause is not None and args.debug:
            print(f"  caused by: {cause}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os._exit(0)
    finally:
        if app is not None and app._db is not None:
            app._db.close()


if __name__ == "__main__":
    sys.exit(main())
