"""The command line of ``adhere``: commands, their flags, and each flag's ``ADHERE_*`` twin."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from typing import Any

ENV = "ADHERE_"
RUN = "RUN"
RUN_HELP = "a workflow run id, a unique prefix of one, or a workflow's name (its latest run)"


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
        p.add_argument("--endpoint", **({"default": None} | unset), metavar="URL",
                       help=f"send commands to the `adhere serve` at URL instead of using the store (env {ENV}ENDPOINT;"
                            f" requests are signed with the first of {ENV}ACCESS_KEYS, or AWS_ACCESS_KEY_ID/SECRET)")
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
    p = cmd("apply", "apply", "create or update definitions (one transaction)")
    p.add_argument("files", nargs="+")
    p.add_argument("--prune", action="store_true", help="also delete the jobs, triggers, workflows and crawlers "
                   "of the store that the files do not define (listed first; catalog databases are never pruned)")
    p.add_argument("-y", "--yes", action="store_true", help="with --prune: delete without asking")
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
    p.add_argument("--retry-of", metavar="JOB_RUN_ID", help="Glue's manual retry of a run (an id or a unique prefix)")
    p.add_argument("--timeout", type=float, metavar="MINUTES")
    p.add_argument("--no-wait", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    cmd("jobs", "jobs", "list jobs (GetJobs)")
    cmd("triggers", "triggers", "list triggers with their state and when they fire (GetTriggers)").add_argument(
        "--workflow")
    p = cmd("bookmark", "bookmarks:bookmark", "show a job's bookmark (GetJobBookmark), its versions (--history), or"
            " reset it: `adhere bookmark reset JOB [--run-id RUN]` (ResetJobBookmark)")
    p.add_argument("words", nargs="+", metavar="JOB", help="a job, or `reset JOB`")
    p.add_argument("--history", action="store_true", help="every version: the run that committed it, what it listed")
    p.add_argument("--run-id", metavar="JOB_RUN_ID", help="with reset: rewind to the state after that run")
    p = cmd("trigger", "eventing:trigger", "start or stop a trigger (StartTrigger, StopTrigger): only ACTIVATED"
            " triggers fire; an ON_DEMAND one fires when started")
    p.add_argument("action", choices=["start", "stop"])
    p.add_argument("trigger")
    p = cmd("next", "eventing:next_times", "print the next fire times of a SCHEDULED trigger or a crawler's schedule")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-n", type=int, default=5, metavar="N", help="how many (default 5)")
    p = cmd("crawler-schedule", "eventing:crawler_schedule", "start, stop or change a crawler's schedule"
            " (StartCrawlerSchedule, StopCrawlerSchedule, UpdateCrawlerSchedule)")
    p.add_argument("action", choices=["start", "stop", "update"])
    p.add_argument("crawler")
    p.add_argument("expression", nargs="?", metavar="SCHEDULE", help="with update: cron(...)")
    events = sub.add_parser("events", help="send events to EVENT triggers and see what became of each",
                            description="send events to EVENT triggers and see what became of each")
    events_sub = events.add_subparsers(dest="events_command", required=True, metavar="ACTION")

    def events_cmd(name: str, handler: str, help_: str) -> argparse.ArgumentParser:
        q = events_sub.add_parser(name, help=help_, parents=[common], description=help_)
        q.set_defaults(handler=_handler(handler))
        return q

    q = events_cmd("put", "eventing:events_put", "store events (EventBridge PutEvents entries or whole events, a"
                   " list, {Entries: [...]} or JSON lines) from --file or stdin")
    q.add_argument("--file", "-f", metavar="FILE", help="JSON file (default: stdin)")
    q.add_argument("--workflow", metavar="NAME", help="address the events to a workflow (its ARN in Resources), for"
                   " EVENT triggers without an EventPattern")
    q = events_cmd("list", "eventing:events_list", "events newest first: WAITING in a batch, CONSUMED by a run, or"
                   " DROPPED and why")
    q.add_argument("--state", choices=["WAITING", "CONSUMED", "DROPPED"])
    q.add_argument("--trigger", metavar="NAME")
    q.add_argument("--limit", type=int, default=100)
    events_cmd("show", "eventing:events_show", "an event as received, and what became of it").add_argument("event_id")
    cmd("workflows", "workflows", "list workflows (ListWorkflows)")
    cmd("runs", "runs", "list workflow runs (GetWorkflowRuns)").add_argument("workflow", nargs="?")
    p = cmd("show", "show", "show a workflow run's graph or a job run (GetWorkflowRun)")
    p.add_argument("run_id", metavar=RUN, help=f"{RUN_HELP}; or a job run id (or prefix)")
    cmd("job-runs", "job_runs", "list a job's runs, newest first (GetJobRuns)").add_argument("job")
    p = cmd("logs", "logs", "print a job run's or a crawl's logs: `logs JOB_RUN_ID`, `logs CRAWL_ID`, or a node's"
            " in a workflow run: `logs RUN NODE`")
    p.add_argument("run_id", metavar="RUN", help="a job run id, a crawl id (cr_...), or a workflow run (with NODE);"
                   " job run prefixes work")
    p.add_argument("node", metavar="NODE", nargs="?", help="a job or crawler of the workflow run (its latest attempt)")
    p.add_argument("--attempt", type=int, metavar="N", help="the node's N-th attempt in the run (1 is the first)")
    p.add_argument("-f", "--follow", action="store_true", help="print new lines until the job run ends")
    p = cmd("delete", "delete", "delete a job, trigger, workflow or crawler (DeleteJob, DeleteTrigger, DeleteWorkflow,"
            " DeleteCrawler)")
    p.add_argument("kind", choices=["job", "trigger", "workflow", "crawler"])
    p.add_argument("names", nargs="+", metavar="NAME")
    cmd("stop", "stop", "stop a workflow run (StopWorkflowRun)").add_argument("run_id", metavar=RUN, help=RUN_HELP)
    p = cmd("stop-job-run", "stop_job_run", "stop job runs (BatchStopJobRun)")
    p.add_argument("job")
    p.add_argument("run_ids", nargs="+", metavar="JOB_RUN_ID", help="job run ids or unique prefixes")
    p = cmd("run-properties", "run_properties", "read or upsert workflow run properties")
    p.add_argument("run_id", metavar=RUN, help=RUN_HELP)
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p = cmd("resume", "repair:resume", "resume a COMPLETED workflow run: its chosen nodes and what is downstream"
            " run again in a new run, the others keep their state (ResumeWorkflowRun); or, with --workflow,"
            " resume every run of a workflow that has failed nodes")
    p.add_argument("run_id", metavar=RUN, nargs="?", help=RUN_HELP)
    p.add_argument("--node", action="extend", nargs="+", default=[], metavar="NODE",
                   help="a node to run again: a job or crawler name (job:NAME or crawler:NAME when both"
                        " have it) or Glue's wnode_ id")
    p.add_argument("--failed", action="store_true", help="run again every node that ended FAILED, TIMEOUT,"
                   " STOPPED or ERROR, and what never ran because of them (nothing that SUCCEEDED)")
    p.add_argument("--only", action="store_true", help="run the chosen nodes alone, not what is downstream")
    p.add_argument("--skip", action="extend", nargs="+", default=[], metavar="NODE",
                   help="a node repaired by hand: recorded SUCCEEDED (skipped), and what is downstream runs")
    p.add_argument("--reason", metavar="TEXT", help="why the --skip nodes were skipped (kept in the history)")
    p.add_argument("--arg", action="append", metavar="JOB:--KEY=VALUE", help="a job argument for its re-run only")
    p.add_argument("--pin-input", action="store_true", help="each re-run job reads exactly the input of its attempt"
                   " in the original run (its bookmarked sources), not what arrived since")
    p.add_argument("--workflow", metavar="NAME", help="bulk repair: every COMPLETED run of NAME with failed nodes"
                   " (with --failed), each resumed once into a run of its own")
    p.add_argument("--since", metavar="TIME", help="with --workflow: runs started since TIME (ISO date/time, local"
                   " unless it says its zone, or an age: 2h, 3d)")
    p.add_argument("--dry-run", action="store_true", help="with --workflow: say what would be resumed")
    p.add_argument("--no-wait", action="store_true", help="print the new run's id and return (with --workflow:"
                   " resume the runs all at once and return)")
    p.add_argument("-q", "--quiet", action="store_true", help="no live view")
    cmd("history", "repair:history", "a run's chain of original and resumed runs, and which run produced each"
        " node's final state").add_argument("run_id", metavar=RUN, help=RUN_HELP)
    p = cmd("crawl", "crawling:crawl", "start a crawl and follow it; exit 0 only when it SUCCEEDED (StartCrawler)")
    p.add_argument("crawler")
    p.add_argument("--no-wait", action="store_true", help="print the crawl id and return")
    p.add_argument("-q", "--quiet", action="store_true")
    p = cmd("crawls", "crawling:crawls", "list a crawler's crawls, newest first, with what each changed (ListCrawls)")
    p.add_argument("crawler")
    p.add_argument("--limit", type=int, default=20)
    cmd("crawlers", "crawling:crawlers", "list crawlers with their state and last crawl (GetCrawlers)")
    cmd("stop-crawler", "crawling:stop_crawler", "stop a crawler's crawl (StopCrawler)").add_argument("crawler")
    cmd("notifications", "notifications", "list sent events, newest first").add_argument("--limit", type=int, default=50)
    catalog = sub.add_parser("catalog", help="read the Data Catalog: databases, tables, partitions, table versions",
                             parents=[common], description="read the Data Catalog (Glue's Get* operations)")
    what = catalog.add_subparsers(dest="catalog_command", required=True, metavar="WHAT")

    def catalog_cmd(name: str, help_: str, *positional: str) -> argparse.ArgumentParser:
        p = what.add_parser(name, help=help_, parents=[common], description=help_)
        p.set_defaults(handler=_handler(f"catalog:{name}"))
        for arg in positional:
            p.add_argument(arg)
        return p

    catalog_cmd("databases", "list the databases (GetDatabases)")
    catalog_cmd("tables", "list a database's tables (GetTables)", "database").add_argument(
        "--expression", metavar="PATTERN", help="only tables whose names match, such as 'sales_*' or 'a|b'")
    catalog_cmd("table", "show a table: its columns, partition keys and storage (GetTable)", "database", "table")
    catalog_cmd("partitions", "list a table's partitions (GetPartitions)", "database", "table").add_argument(
        "--expression", metavar="EXPR", help="Glue's partition filter, such as \"year > '2023' AND region = 'eu'\"")
    catalog_cmd("versions", "list a table's versions, newest first (GetTableVersions)", "database", "table")
    p = cmd("serve", "serve", "run the orchestrator loop and Glue's API (boto3, the AWS CLI) until stopped")
    p.add_argument("--host", help=f"address to listen on (env {ENV}HOST; default 127.0.0.1)")
    p.add_argument("--port", type=int, help=f"port to listen on (env {ENV}PORT; default 8639)")
    p.add_argument("--access-keys-file", metavar="FILE",
                   help=f"file of ACCESS_KEY_ID:SECRET lines; requests must be SigV4-signed (env {ENV}ACCESS_KEYS_FILE)")
    p.add_argument("--insecure", action="store_true", default=None,
                   help="allow a non-loopback --host without access keys")
    p.add_argument("--catch-up", dest="schedule_catch_up", choices=["none", "latest"],
                   help=f"a schedule tick missed while no serve ran: none fires nothing (Glue's way, the default),"
                        f" latest fires the latest one once (env {ENV}SCHEDULE_CATCH_UP)")
    p.add_argument("--watch", dest="watch_folders", action="append", metavar="FOLDER",
                   help=f"files landing in FOLDER are 'Object Created' events (repeatable; env {ENV}WATCH_FOLDERS)")
    p.add_argument("--sqs", dest="sqs_queues", action="append", metavar="QUEUE_URL",
                   help=f"an SQS queue of S3 event notifications to take events from (repeatable; env {ENV}SQS_QUEUES)")
    return top


def _handler(name: str) -> Callable[[Any], int]:
    """``method`` of the App, or ``module:function`` of ``orchestrator.cli.module`` (given the App)."""

    def call(app: Any) -> int:
        module, _, function = name.rpartition(":")
        if module:
            return int(getattr(importlib.import_module(f"orchestrator.cli.{module}"), function)(app))
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
