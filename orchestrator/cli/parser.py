"""The command line of ``adhere``: commands, their flags, and each flag's ``ADHERE_*`` twin."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

ENV = "ADHERE_"


def parser() -> argparse.ArgumentParser:
    def flags(top: bool) -> argparse.ArgumentParser:
        # The subcommands repeat these flags without defaults: a default there would overwrite
        # a value given before the command (`adhere --db URL jobs`).
        unset: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
        p = argparse.ArgumentParser(add_help=False)
        p.add_argument("--db", **({"default": None} | unset),
                       help=f"SQLAlchemy URL of the store (env {ENV}DB_URL; default: SQLite in .adhere/)")
        p.add_argument("--home", **({"default": None} | unset),
                       help=f"project folder for the store, logs and engines (env {ENV}HOME; default .adhere)")
        p.add_argument("--json", action="store_true", **unset, help="print Glue's response shape as JSON")
        p.add_argument("--debug", action="store_true", **unset, help="show tracebacks")
        return p

    common = flags(top=False)
    top = argparse.ArgumentParser(prog="adhere", description="Glue-shaped workflows on Python shell, Ray and Spark.",
                                  parents=[flags(top=True)])
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, handler: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, parents=[common], description=help_)
        p.set_defaults(handler=_handler(handler))
        return p

    cmd("validate", "validate", "check definition files; write nothing").add_argument("files", nargs="+")
    cmd("apply", "apply", "create or update definitions (one transaction)").add_argument("files", nargs="+")
    cmd("schema", "schema", "print the JSON Schema of definition files")
    cmd("db", "db_upgrade", "store maintenance").add_argument("action", choices=["upgrade"])
    p = cmd("run", "run", "start a workflow run and follow it (StartWorkflowRun)")
    p.add_argument("workflow")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="run property")
    p.add_argument("--no-wait", action="store_true", help="print the run id and return")
    p.add_argument("-q", "--quiet", action="store_true", help="no live view")
    p = cmd("start-job", "start_job", "start a job run and follow it (StartJobRun)")
    p.add_argument("job")
    p.add_argument("--arg", action="append", metavar="--KEY=VALUE", help="job argument")
    p.add_argument("--retry-of", metavar="JOB_RUN_ID", help="Glue's manual retry of a run")
    p.add_argument("--timeout", type=float, metavar="MINUTES")
    p.add_argument("--no-wait", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    cmd("jobs", "jobs", "list jobs (GetJobs)")
    cmd("triggers", "triggers", "list triggers (GetTriggers)").add_argument("--workflow")
    cmd("workflows", "workflows", "list workflows (ListWorkflows)")
    cmd("runs", "runs", "list workflow runs (GetWorkflowRuns)").add_argument("workflow", nargs="?")
    cmd("show", "show", "show a workflow run's graph or a job run (GetWorkflowRun)").add_argument("run_id")
    cmd("job-runs", "job_runs", "list a job's runs, newest first (GetJobRuns)").add_argument("job")
    cmd("logs", "logs", "print a job run's logs").add_argument("job_run_id")
    cmd("stop", "stop", "stop a workflow run (StopWorkflowRun)").add_argument("run_id")
    p = cmd("stop-job-run", "stop_job_run", "stop job runs (BatchStopJobRun)")
    p.add_argument("job")
    p.add_argument("run_ids", nargs="+")
    p = cmd("run-properties", "run_properties", "read or upsert workflow run properties")
    p.add_argument("run_id")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    cmd("notifications", "notifications", "list sent events, newest first").add_argument("--limit", type=int, default=50)
    cmd("serve", "serve", "run the scheduler, dispatcher and watchdog until stopped")
    return top


def _handler(name: str) -> Callable[[Any], int]:
    def call(app: Any) -> int:
        return int(getattr(app, name)())

    return call


def join_job_args(argv: Sequence[str]) -> list[str]:
    """``--arg --day=1`` -> ``--arg=--day=1``: argparse would read ``--day=1`` as an unknown flag."""
    out: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        value = next(tokens, None) if token == "--arg" else None
        out.append(token if value is None else f"--arg={value}")
    return out
