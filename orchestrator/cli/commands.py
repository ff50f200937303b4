"""The commands of ``adhere``: each parses what it was given, calls the service and shows the result."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from orchestrator import errors, settings
from orchestrator.cli import display

if TYPE_CHECKING:
    from rich.console import Console

    from orchestrator.service import Store

_FINAL_WORKFLOW = {"COMPLETED", "STOPPED", "ERROR"}
_FINAL_JOB = {"SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR", "EXPIRED"}
SUMMARY_OVER = 200  # apply lists each definition up to this many changes, then counts them


def _pairs(values: Sequence[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise errors.InvalidInputException(f"{what} must look like key=value, got {item[:80]!r}")
        out[key] = value
    return out


def _job_args(values: Sequence[str] | None) -> dict[str, str]:
    return {(k if k.startswith("--") else f"--{k}"): v for k, v in _pairs(values, "--arg").items()}


class App:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = settings.load({"db_url": args.db, "home": args.home, "endpoint": args.endpoint,
                                       **{k: getattr(args, k, None) for k in _SERVE_FLAGS}})
        self._db: Store | None = None

    @property
    def db(self) -> Store:
        """The store; or, with an endpoint, the `adhere serve` that stands in for it (service
        calls are sent there) for every command but those that work on a store itself."""
        if self._db is None:
            if self.settings.endpoint and self.args.command not in _ON_THE_STORE:
                from orchestrator.service import remote

                self._db = cast("Store", remote.Endpoint.from_settings(self.settings))
            else:
                from orchestrator import service

                self._db = service.open_store(self.settings)
        return self._db

    @cached_property
    def console(self) -> Console:
        return display.console()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def out(self, data: Any, render: Callable[[], None]) -> None:
        if self.args.json:
            display.print_json(data)
        else:
            render()

    def say(self, *parts: Any) -> None:
        self.console.print(display.text(*parts), soft_wrap=True)

    # --- definitions -------------------------------------------------------------------------------
    def validate(self) -> int:
        from orchestrator.service import definitions

        # Names the files do not declare may be the store's: read it when the project has one.
        has_store = bool(self.settings.endpoint or self.settings.db_url) or (self.settings.home / "adhere.db").exists()
        defs = definitions.validate([Path(p) for p in self.args.files], self.settings, self.db if has_store else None)
        summary = {"Jobs": len(defs.jobs), "Crawlers": len(defs.crawlers), "Triggers": len(defs.triggers),
                   "Workflows": len(defs.workflows), "Databases": len(defs.databases)}

        def render() -> None:  # catalog databases are counted when a file has some
            self.say("valid: " + ", ".join(f"{n} {k.lower()}" for k, n in summary.items() if n or k != "Databases"))
            for line in definitions.note_lines(defs.notes):
                self.say(line)

        self.out({"Valid": True, **summary, "Notes": [{"Where": n.where, "Message": n.message} for n in defs.notes]},
                 render)
        return 0

    def apply(self) -> int:
        from orchestrator.service import definitions

        defs = definitions.validate([Path(p) for p in self.args.files], self.settings, self.db)
        prune = definitions.pruned(self.db, defs) if self.args.prune else []
        if prune and not self._confirm_prune(prune):
            return 1
        outcomes = definitions.apply(self.db, defs, prune=prune)
        grouped: dict[str, list[str]] = {"created": [], "updated": [], "deleted": [], "unchanged": []}
        for o in outcomes:
            grouped[o.change].append(f"{o.kind} {o.name}" + (f" ({o.note})" if o.note else ""))

        def render() -> None:
            changes()
            for line in definitions.note_lines(defs.notes):
                self.say(line)

        def changes() -> None:
            changed = len(grouped["created"]) + len(grouped["updated"]) + len(grouped["deleted"])
            if not changed:
                self.say(f"unchanged: nothing to do ({len(outcomes)} definitions)")
                return
            if changed > SUMMARY_OVER:
                counts = {kind: sum(1 for o in outcomes if o.kind == kind and o.change != "unchanged")
                          for kind in ("database", "workflow", "job", "crawler", "trigger")}
                self.say(f"created {len(grouped['created'])}, updated {len(grouped['updated'])}, "
                         f"deleted {len(grouped['deleted'])}, unchanged {len(grouped['unchanged'])} definitions (changed: "
                         + ", ".join(f"{n} {k}s" for k, n in counts.items() if n) + ")")
                for o in outcomes:
                    if o.note:  # moves are worth a line each
                        self.say(f"{o.change}: {o.kind} {o.name} ({o.note})")
                return
            for change in ("created", "updated", "deleted"):
                for item in grouped[change]:
                    self.say(f"{change}: {item}")
            if grouped["unchanged"]:
                self.say(f"unchanged: {len(grouped['unchanged'])} definitions")

        self.out({**{k.capitalize(): v for k, v in grouped.items()},
                  "Notes": [{"Where": n.where, "Message": n.message} for n in defs.notes]}, render)
        return 0

    def _confirm_prune(self, gone: Sequence[tuple[str, str]]) -> bool:
        """Show what --prune deletes; go on with --yes, or when the operator says so."""
        listed = [f"{kind} {name}" for kind, name in gone]
        shown = listed if len(listed) <= SUMMARY_OVER else [*listed[:SUMMARY_OVER], f"... and {len(listed) - SUMMARY_OVER} more"]
        for line in shown:
            display.console(stderr=True).print(display.text("will delete: ", line), soft_wrap=True)
        if self.args.yes:
            return True
        if not sys.stdin.isatty():
            raise errors.InvalidInputException(
                f"--prune would delete {len(gone)} definitions the files do not define; pass --yes to delete them")
        answer = input(f"delete these {len(gone)}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            self.say("nothing was changed")
            return False
        return True

    def schema(self) -> int:
        from orchestrator.definitions import file

        display.print_json(file.json_schema())
        return 0

    def db_upgrade(self) -> int:
        from orchestrator import service

        db = self._db = service.open_store(self.settings, upgrade=False)
        changed = db.upgrade(only_if_needed=True)
        revision = db.revision()
        self.out({"Revision": revision},
                 lambda: self.say(f"store at revision {revision}" + (" (upgraded)" if changed else "")))
        return 0

    # --- listing -----------------------------------------------------------------------------------
    def jobs(self) -> int:
        from orchestrator.service import jobs

        found = jobs.get_jobs(self.db)["Jobs"]
        self.out({"Jobs": found}, lambda: self.console.print(display.table(
            ["job", "engine", "script", "retries", "timeout"],
            [(j["Name"], j["Command"]["Name"], j["Command"].get("ScriptLocation"), j.get("MaxRetries", 0),
              f"{j['Timeout']}m" if j.get("Timeout") else None) for j in found])))
        return 0

    def triggers(self) -> int:
        from orchestrator.service import triggers

        found = triggers.get_triggers(self.db, workflow_name=self.args.workflow)["Triggers"]
        self.out({"Triggers": found}, lambda: self.console.print(display.triggers_table(found)))
        return 0

    def workflows(self) -> int:
        from orchestrator.service import workflows

        names = workflows.list_workflows(self.db)["Workflows"]
        self.out({"Workflows": names}, lambda: self.console.print(display.table(["workflow"], [(n,) for n in names])))
        return 0

    def runs(self) -> int:
        from orchestrator.service import workflow_runs

        runs = workflow_runs.get_workflow_runs(self.db, self.args.workflow)["Runs"]
        self.out({"Runs": runs}, lambda: self.console.print(display.table(
            ["run", "workflow", "status", "started", "completed", "succeeded/total"],
            [(r["WorkflowRunId"], r["Name"], display.styled(r["Status"]), display.when(r["StartedOn"]),
              display.when(r.get("CompletedOn")),
              f"{r['Statistics']['SucceededActions']}/{r['Statistics']['TotalActions']}") for r in runs])))
        return 0

    def show(self) -> int:
        from orchestrator.service import job_runs, lookup, workflow_runs

        kind, run_id = lookup.resolve_run(self.db, self.args.run_id)
        if kind == "job":
            job = job_runs.get_job_run(self.db, None, run_id)
            self.out({"JobRun": job}, lambda: self._print_job_runs([job]))
            return 0
        run = workflow_runs.get_workflow_run(self.db, None, run_id)

        def render() -> None:
            origins = self.origins(run_id) if run.get("PreviousRunId") else {}
            self.console.print(display.run_table(run, origins))
            for hint in display.log_hints(run, display.run_nodes(run, origins)):
                self.say(f"  {hint}")

        self.out({"Run": run}, render)
        return 0

    def origins(self, run_id: str) -> dict[tuple[str, str], tuple[str, str]]:
        """A resumed run's carried and skipped nodes, from its history."""
        from orchestrator.service import workflow_runs

        return display.origins(workflow_runs.get_workflow_run_history(self.db, run_id), run_id)

    def workflow_run_id(self, text: str) -> str:
        """The run a RUN argument names: an id, a unique prefix, or a workflow (its latest run)."""
        from orchestrator.service import lookup

        return lookup.resolve_workflow_run(self.db, text)

    def job_runs(self) -> int:
        from orchestrator.service import job_runs

        runs = job_runs.get_job_runs(self.db, self.args.job)["JobRuns"]
        self.out({"JobRuns": runs}, lambda: self._print_job_runs(runs))
        return 0

    def _print_job_runs(self, runs: Sequence[dict[str, Any]]) -> None:
        self.console.print(display.table(["job run", "job", "attempt", "state", "started", "time", "error"], [
            (r["Id"], r["JobName"], r["Attempt"], display.styled(r["JobRunState"]), display.when(r.get("StartedOn")),
             display.duration(display.job_run_seconds(r)), (r.get("ErrorMessage") or "")[:80]) for r in runs]))

    def logs(self) -> int:
        from orchestrator.cli import follow
        from orchestrator.service import job_runs, lookup

        args = self.args
        if args.node is None and args.attempt is not None:
            raise errors.InvalidInputException("--attempt goes with a node: adhere logs RUN NODE --attempt N")
        if args.node is None:
            job_run_id = args.run_id if args.run_id.startswith("cr_") else self._job_run_id(args.run_id)
        elif args.follow:  # the node may not have started yet: wait for it
            run_id = lookup.resolve_workflow_run(self.db, args.run_id)
            job_run_id = follow.node_job_run(self, run_id, args.node, args.attempt)
        else:
            job_run_id = lookup.node_job_run(self.db, args.run_id, args.node, args.attempt)
        if job_run_id.startswith("cr_"):  # a crawler node's crawl (or a crawl id): its log as it is now
            from orchestrator.service import crawlers

            _write_lines(crawlers.get_crawl_logs(self.db, self.settings, job_run_id))
        elif args.follow:
            follow.job_run_logs(self, job_run_id)
        else:
            _write_lines(job_runs.get_job_run_logs(self.db, self.settings, job_run_id))
        return 0

    def _job_run_id(self, text: str) -> str:
        """The job run ``adhere logs TEXT`` names; a workflow run there is a mistake to explain."""
        from orchestrator.service import lookup, workflow_runs

        try:
            return lookup.resolve_job_run(self.db, text)
        except errors.EntityNotFoundException as not_a_job_run:
            try:
                run_id = lookup.resolve_workflow_run(self.db, text)
            except errors.EntityNotFoundException:
                raise not_a_job_run from None
        run = workflow_runs.get_workflow_run(self.db, None, run_id)
        jobs = [row.name for row in display.run_nodes(run) if row.kind == "JOB"]
        raise errors.InvalidInputException(
            f"{text} is workflow run {run_id}: say which node, adhere logs {text} NODE (its jobs: {', '.join(jobs)})"
        )

    def notifications(self) -> int:
        from orchestrator.service import notifications

        rows = notifications.get_notifications(self.db, self.args.limit)
        self.out({"Notifications": rows}, lambda: self.console.print(display.table(
            ["time", "detail-type", "job", "run", "state", "deliveries"],
            [(display.when(r["time"]), r["detail_type"], r["job_name"], r["job_run_id"], r["state"],
              ", ".join(f"{k}:{'ok' if v.get('ok') else 'FAILED'}" for k, v in (r["deliveries"] or {}).items())
              or "pending") for r in rows])))
        return 0

    # --- runs --------------------------------------------------------------------------------------
    def run(self) -> int:
        from orchestrator.service import orchestration, workflow_runs

        orchestration.check(self.settings)
        run_id = workflow_runs.start_workflow_run(self.db, self.args.workflow, _pairs(self.args.param, "-p"))
        if self.args.no_wait:
            self.out({"RunId": run_id}, lambda: print(run_id))
            return 0
        return self.follow_workflow(run_id)

    def follow_workflow(self, run_id: str, *, resumed: bool = False) -> int:
        from orchestrator.service import workflow_runs

        origins = self.origins(run_id) if resumed else {}  # carried and skipped nodes do not change
        run = self.drive(
            scope=run_id,
            done=lambda: workflow_runs.workflow_run_status(self.db, run_id) in _FINAL_WORKFLOW,
            view=lambda: workflow_runs.get_workflow_run(self.db, None, run_id),
            on_interrupt=lambda: workflow_runs.stop_workflow_run(self.db, None, run_id),
            origins=origins,
        )
        rows = display.run_nodes(run, origins)
        if self.args.json:
            display.print_json({"Run": run})
        else:
            self._summary(run, rows)
        ok = run["Status"] == "COMPLETED" and all(row.state == "SUCCEEDED" for row in rows if row.state)
        return 0 if ok else 1

    def _summary(self, run: dict[str, Any], rows: Sequence[display.NodeRow]) -> None:
        """The run's end: status, where failed jobs' logs are, and the properties jobs published."""
        self.say(f"run {run['WorkflowRunId']} ", display.styled(run["Status"]))
        short = run["WorkflowRunId"][: display.SHORT_ID]
        for row in rows:
            if row.state and row.state != "SUCCEEDED":
                hint = (f"  (adhere logs {short} {row.name})" if row.job_run_id and row.kind == "JOB"
                        else f"  {row.note}" if row.note else "")
                self.say(f"  {row.name}: ", display.styled(row.state), hint)
        props = run.get("WorkflowRunProperties") or {}
        if props:
            self.say("run properties:")
            for key, value in sorted(props.items()):
                self.say(f"  {key} = {value}")

    def start_job(self) -> int:
        from orchestrator.service import job_runs, lookup, orchestration

        orchestration.check(self.settings)
        retry_of = lookup.resolve_job_runs(self.db, [self.args.retry_of], self.args.job)[0] if self.args.retry_of else None
        job_run_id = job_runs.start_job_run(
            self.db, self.args.job, _job_args(self.args.arg), job_run_id=retry_of,
            timeout=self.args.timeout * 60 if self.args.timeout else None,
        )
        if self.args.no_wait:
            self.out({"JobRunId": job_run_id}, lambda: print(job_run_id))
            return 0
        parents: dict[str, str | None] = {}

        def current() -> dict[str, Any]:
            """The run and its automatic retries, followed to the last attempt."""
            runs = [r for r in job_runs.get_job_runs(self.db, self.args.job)["JobRuns"] if _chain(r, job_run_id, parents)]
            return runs[0] if runs else job_runs.get_job_run(self.db, None, job_run_id)

        run = self.drive(scope=None, done=lambda: current()["JobRunState"] in _FINAL_JOB, view=current,
                         on_interrupt=lambda: job_runs.batch_stop_job_run(self.db, self.args.job, [current()["Id"]]))
        self.out({"JobRun": run}, lambda: self._print_job_runs([run]))
        return 0 if run["JobRunState"] == "SUCCEEDED" else 1

    def drive(self, scope: str | None, done: Callable[[], bool], view: Callable[[], dict[str, Any]],
              on_interrupt: Callable[[], Any],
              origins: dict[tuple[str, str], tuple[str, str]] | None = None, live: Any = None) -> dict[str, Any]:
        """Host the orchestrator here unless `adhere serve` runs on this store; follow until done
        (showing it with ``live``, by default a LiveView of ``view``)."""
        from orchestrator.cli.live import LiveView
        from orchestrator.service import orchestration

        live = live or LiveView(self, view, origins)
        with orchestration.host(self.db, self.settings, scope=scope) as wait, live:
            while True:
                try:
                    wait(done, live.refresh)
                    break
                except KeyboardInterrupt:
                    if live.interrupted:
                        raise
                    live.interrupted = True
                    self.say("stopping… (Ctrl-C again to leave the runs to the store)")
                    on_interrupt()
        return view()

    def delete(self) -> int:
        """Glue's deletes: a job or trigger that is not there is no error (they are idempotent);
        a workflow goes with its triggers, and not while a run of it is under way."""
        import importlib

        module = importlib.import_module(f"orchestrator.service.{self.args.kind}s")
        delete = getattr(module, f"delete_{self.args.kind}")
        for name in self.args.names:
            delete(self.db, name)
        self.out({"Deleted": self.args.names},
                 lambda: [self.say(f"deleted {self.args.kind} ", name) for name in self.args.names])
        return 0

    def stop(self) -> int:
        from orchestrator.service import workflow_runs

        run_id = self.workflow_run_id(self.args.run_id)
        workflow_runs.stop_workflow_run(self.db, None, run_id)
        self.out({}, lambda: self.say(f"stopping workflow run {run_id}"))
        return 0

    def stop_job_run(self) -> int:
        from orchestrator.service import job_runs, lookup

        run_ids = lookup.resolve_job_runs(self.db, self.args.run_ids, self.args.job)
        result = job_runs.batch_stop_job_run(self.db, self.args.job, run_ids)

        def render() -> None:
            for ok in result["SuccessfulSubmissions"]:
                self.say(f"stopping {ok['JobRunId']}")
            for err in result["Errors"]:
                detail = err["ErrorDetail"]
                self.say(display.text(f"{err['JobRunId']}: {detail['ErrorCode']}: {detail['ErrorMessage']}"))

        self.out(result, render)
        return 1 if result["Errors"] else 0

    def run_properties(self) -> int:
        from orchestrator.service import workflow_runs

        updates = _pairs(self.args.set, "--set")
        run_id = self.workflow_run_id(self.args.run_id)
        if updates:
            workflow_runs.put_workflow_run_properties(self.db, None, run_id, updates)
        props = workflow_runs.get_workflow_run_properties(self.db, None, run_id)
        self.out({"RunProperties": props},
                 lambda: self.console.print(display.table(["property", "value"], sorted(props.items()))))
        return 0

    def serve(self) -> int:
        import signal
        import threading

        from orchestrator.service import orchestration

        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        from orchestrator.api import server

        if warning := server.check_binding(self.settings):
            self.say(warning)
        display.log_json_lines()
        with orchestration.host(self.db, self.settings, serving=True) as wait:
            self.say(f"adhere serving {self.db.safe_url} with Glue's API on "
                     f"http://{self.settings.host}:{wait.port} (Ctrl-C to stop)")
            wait(stop.is_set, None)
        return 0


_SERVE_FLAGS = ("host", "port", "access_keys_file", "insecure", "schedule_catch_up", "watch_folders", "sqs_queues")
_ON_THE_STORE = ("serve", "db")  # with an endpoint too: `serve` hands it to its jobs


def _write_lines(lines: Iterable[str]) -> None:
    for line in lines:
        sys.stdout.write(line if line.endswith("\n") else line + "\n")
    sys.stdout.flush()


def _chain(run: dict[str, Any], root: str, parents: dict[str, str | None]) -> bool:
    """True when ``run`` is ``root`` or an automatic retry descending from it."""
    parents[run["Id"]] = run.get("PreviousRunId")
    seen, current = 0, run["Id"]
    while current and seen < 100:
        if current == root:
            return True
        current, seen = parents.get(current), seen + 1
    return False
