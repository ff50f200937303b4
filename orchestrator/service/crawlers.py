"""Crawlers (CreateCrawler, UpdateCrawler, DeleteCrawler, GetCrawler, GetCrawlers, ListCrawlers,
BatchGetCrawlers, StartCrawler, StopCrawler, ListCrawls, GetCrawlerMetrics).

A crawler's State, LastCrawl and CrawlElapsedTime are read from its crawls, not stored: they
cannot disagree with the crawls ListCrawls shows.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import statistics
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from orchestrator import crawl, errors, store
from orchestrator.service import paging, remote, resources
from orchestrator.settings import Settings
from orchestrator.store.crawls import Crawl

# What GetCrawler shows for members a definition leaves out (Glue's defaults).
_DEFAULTS = {
    "SchemaChangePolicy": {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DEPRECATE_IN_DATABASE"},
    "RecrawlPolicy": {"RecrawlBehavior": "CRAWL_EVERYTHING"},
    "LineageConfiguration": {"CrawlerLineageSettings": "DISABLE"},
}
_LOG_GROUP = "/adhere/crawlers"


def create_crawler(db: store.Store, settings: Settings, crawler: Mapping[str, Any]) -> dict[str, Any]:
    """CreateCrawler: a crawler named as no other (AlreadyExistsException), with its tags."""
    model = resources.load("crawler", crawler, settings)
    with db.transaction() as tx:
        resources.save(tx, "crawler", model, create=True)
    return {}


def update_crawler(db: store.Store, settings: Settings, crawler: Mapping[str, Any]) -> dict[str, Any]:
    """UpdateCrawler: the members given replace the crawler's; refused while it crawls (Glue:
    stop it first)."""
    name = crawler["Name"]
    with db.transaction() as tx:
        current = resources.stored(tx, "crawler", name, lock=True)
        if store.crawls.active(tx, [name]):
            raise errors.CrawlerRunningException(f"Crawler with name {name} is running; stop it first")
        merged = {**current.glue, **{k: v for k, v in crawler.items() if v is not None}}
        resources.save(tx, "crawler", resources.load("crawler", merged, settings), create=False)
    return {}


@remote.callable(wakes=True)
def start_crawler_schedule(db: store.Store, name: str) -> dict[str, Any]:
    """StartCrawlerSchedule: SCHEDULED, counting ticks from now (NoScheduleException without one)."""
    with db.transaction() as tx:
        row = resources.stored(tx, "crawler", name, lock=True)
        if not row.glue.get("Schedule"):
            raise errors.NoScheduleException(f"Crawler {name} has no schedule")
        if _schedule_state(tx, name) == store.schedules.SCHEDULED:
            raise errors.SchedulerRunningException(f"Schedule of crawler {name} is already SCHEDULED")
        store.schedules.reset(tx, "crawler", name, store.now(), state=store.schedules.SCHEDULED)
    return {}


@remote.callable(wakes=True)
def stop_crawler_schedule(db: store.Store, name: str) -> dict[str, Any]:
    """StopCrawlerSchedule: NOT_SCHEDULED (a crawl under way goes on)."""
    with db.transaction() as tx:
        row = resources.stored(tx, "crawler", name, lock=True)
        if not row.glue.get("Schedule") or _schedule_state(tx, name) != store.schedules.SCHEDULED:
            raise errors.SchedulerNotRunningException(f"Schedule of crawler {name} is not SCHEDULED")
        store.schedules.set_state(tx, "crawler", name, store.schedules.NOT_SCHEDULED)
    return {}


def update_crawler_schedule(db: store.Store, settings: Settings, name: str, schedule: str | None) -> dict[str, Any]:
    """UpdateCrawlerSchedule: a new cron expression (checked as CreateCrawler checks one), its
    state kept."""
    with db.transaction() as tx:
        current = resources.stored(tx, "crawler", name, lock=True)
        merged = {k: v for k, v in current.glue.items() if k != "Schedule"}
        if schedule:
            merged["Schedule"] = schedule
        resources.save(tx, "crawler", resources.load("crawler", merged, settings), create=False)
    return {}


def _schedule_state(tx: store.Tx, name: str) -> str:
    found = store.schedules.get(tx, "crawler", name)
    return (found.state if found else None) or store.schedules.SCHEDULED


@remote.callable
def delete_crawler(db: store.Store, name: str) -> dict[str, Any]:
    """DeleteCrawler: EntityNotFoundException when there is none, CrawlerRunningException while it
    crawls. Its crawls stay in the history and the tables it wrote in the catalog."""
    with db.transaction() as tx:
        resources.stored(tx, "crawler", name, lock=True)
        if store.crawls.active(tx, [name]):
            raise errors.CrawlerRunningException(f"Crawler with name {name} is running; stop it before deleting it")
        resources.remove(tx, "crawler", name)
    return {}


@remote.callable
def get_crawler(db: store.Store, name: str) -> dict[str, Any]:
    with db.read() as tx:
        row = resources.stored(tx, "crawler", name)
        return {"Crawler": _crawlers(tx, [row])[0]}


@remote.callable
def get_crawlers(db: store.Store, next_token: str | None = None, max_results: int | None = None) -> dict[str, Any]:
    """GetCrawlers, in name order, a page at a time."""
    after = paging.decode(next_token)
    with db.read() as tx:
        rows = store.definitions.find(tx, "crawler", after=after[0] if after else None,
                                      limit=max_results + 1 if max_results else None)
        rows, token = paging.page(rows, max_results, lambda r: [r.name])
        return {"Crawlers": _crawlers(tx, rows), **({"NextToken": token} if token else {})}


@remote.callable
def list_crawlers(db: store.Store, next_token: str | None = None, max_results: int | None = None,
                  tags: Mapping[str, str] | None = None) -> dict[str, Any]:
    return resources.list_names(db, "crawler", "CrawlerNames", next_token, max_results, tags)


def batch_get_crawlers(db: store.Store, crawler_names: Sequence[str]) -> dict[str, Any]:
    wanted = list(dict.fromkeys(crawler_names))
    with db.read() as tx:
        found = store.definitions.get_many(tx, "crawler", wanted)
        return {"Crawlers": _crawlers(tx, [found[n] for n in wanted if n in found]),
                "CrawlersNotFound": [n for n in wanted if n not in found]}


@remote.callable(wakes=True)
def start_crawler(db: store.Store, name: str) -> dict[str, Any]:
    """StartCrawler: a crawl for the loop to run (CrawlerRunningException if one is under way)."""
    with db.transaction() as tx:
        crawl.start(tx, name)
    return {}


@remote.callable(wakes=True)
def stop_crawler(db: store.Store, name: str) -> dict[str, Any]:
    """StopCrawler: CrawlerNotRunningException when it does not crawl, CrawlerStoppingException
    when a stop is under way already."""
    with db.transaction() as tx:
        crawl.stop(tx, name)
    return {}


@remote.callable
def list_crawls(db: store.Store, crawler_name: str, filters: Sequence[Mapping[str, Any]] = (),
                next_token: str | None = None, max_results: int | None = 20) -> dict[str, Any]:
    """ListCrawls: a crawler's crawls, newest first, with Glue's Filters (CRAWL_ID, STATE,
    START_TIME, END_TIME, DPU_HOUR with LT, LE, GT, GE, EQ, NE)."""
    where = [w for f in filters if (w := _filter(f)) is not None]
    offset = paging.offset(next_token)
    with db.read() as tx:
        resources.stored(tx, "crawler", crawler_name)
        crawls = store.crawls.of_crawler(tx, crawler_name, where=where,
                                         limit=max_results + 1 if max_results else None, offset=offset)
    crawls, token = paging.page_by_offset(crawls, max_results, offset)
    return {"Crawls": [history(c) for c in crawls], **({"NextToken": token} if token else {})}


@remote.callable
def get_crawler_metrics(db: store.Store, crawler_names: Sequence[str] | None = None,
                        next_token: str | None = None, max_results: int | None = None) -> dict[str, Any]:
    """GetCrawlerMetrics: runtimes (last, median of the last 20) and what the last crawl changed;
    TimeLeftSeconds of a crawl under way is the median less its elapsed time."""
    after = paging.decode(next_token)
    with db.read() as tx:
        if crawler_names:
            names = sorted(store.definitions.get_many(tx, "crawler", crawler_names))
        else:
            names = store.definitions.list_names(tx, "crawler", after=after[0] if after else None,
                                                 limit=max_results + 1 if max_results else None)
        names, token = paging.page(names, None if crawler_names else max_results, lambda n: [n])
        ended = store.crawls.ended_of(tx, names)
        running = store.crawls.active(tx, names)
    now = store.now()
    metrics = []
    for name in names:
        past = [(c.completed_on - c.started_on).total_seconds() for c in ended[name] if c.completed_on]
        median = statistics.median(past) if past else 0.0
        last = ended[name][0] if ended[name] else None
        summary = (last.summary or {}) if last else {}
        entry: dict[str, Any] = {"CrawlerName": name, "LastRuntimeSeconds": past[0] if past else 0.0,
                                 "MedianRuntimeSeconds": median, "StillEstimating": False, "TimeLeftSeconds": 0.0,
                                 "TablesCreated": summary.get("tables_created", 0),
                                 "TablesUpdated": summary.get("tables_updated", 0),
                                 "TablesDeleted": summary.get("tables_deleted", 0)}
        if name in running:
            elapsed = (now - running[name].started_on).total_seconds()
            entry["StillEstimating"] = not past
            entry["TimeLeftSeconds"] = max(0.0, median - elapsed)
        metrics.append(entry)
    return {"CrawlerMetricsList": metrics, **({"NextToken": token} if token else {})}


@remote.callable
def get_crawl_logs(db: store.Store, settings: Settings, crawl_id: str) -> Iterator[str]:
    """A crawl's log lines (stdout, then stderr: what it read, skipped and wrote); an adhere
    extension, as job run logs are."""
    with db.read() as tx:
        found = store.crawls.get(tx, crawl_id)
    if found is None:
        raise errors.EntityNotFoundException(f"Crawl {crawl_id} not found")
    from engines.process import read_logs

    folder = settings.logs_dir / crawl_id
    return read_logs(folder) if folder.is_dir() else iter(())


# --- shapes ------------------------------------------------------------------------------------------


def _crawlers(tx: store.Tx, rows: Sequence[store.definitions.Definition]) -> list[dict[str, Any]]:
    names = [r.name for r in rows]
    running = store.crawls.active(tx, names)
    ended = store.crawls.ended_of(tx, names, per_crawler=1)
    scheduled = {name: s.state for (kind, name), s in store.schedules.all_of(tx).items() if kind == "crawler"}
    return [shape(r, running.get(r.name), (ended[r.name] or [None])[0], scheduled.get(r.name)) for r in rows]


def shape(row: store.definitions.Definition, running: Crawl | None, last: Crawl | None,
          schedule_state: str | None = None) -> dict[str, Any]:
    """Glue's Crawler: the definition with Glue's defaults, its State from the crawl under way,
    its LastCrawl, and its Schedule as Glue shows one (SCHEDULED unless stopped)."""
    out: dict[str, Any] = {**_DEFAULTS, **{k: v for k, v in row.glue.items() if k != "Schedule"}}
    out.update(State=crawl.CRAWLER_STATE.get(running.state, "READY") if running else "READY",
               CreationTime=row.created_on, LastUpdated=row.last_modified_on, Version=1)
    if schedule := row.glue.get("Schedule"):
        out["Schedule"] = {"ScheduleExpression": schedule, "State": schedule_state or store.schedules.SCHEDULED}
    if running is not None:
        out["CrawlElapsedTime"] = int((store.now() - running.started_on).total_seconds() * 1000)
    if last is not None:
        status = {"SUCCEEDED": "SUCCEEDED", "CANCELLED": "CANCELLED"}.get(last.state, "FAILED")
        out["LastCrawl"] = {k: v for k, v in {
            "Status": status, "ErrorMessage": last.error_message, "LogGroup": _LOG_GROUP,
            "LogStream": last.id, "MessagePrefix": last.id, "StartTime": last.started_on}.items() if v is not None}
    return out


def history(c: Crawl) -> dict[str, Any]:
    """ListCrawls' CrawlerHistory; its Summary as Glue writes one: ``{"TABLE"|"PARTITION":
    {"ADD"|"UPDATE"|"DELETE": "{\"Details\": ..., \"Count\": n}"}}`` (JSON in JSON)."""
    out: dict[str, Any] = {"CrawlId": c.id, "State": crawl.HISTORY_STATE[c.state], "StartTime": c.started_on,
                           "EndTime": c.completed_on, "ErrorMessage": c.error_message,
                           "Summary": json.dumps(c.summary.get("glue", {})) if c.summary is not None else None,
                           "LogGroup": _LOG_GROUP, "LogStream": c.id, "MessagePrefix": c.id, "DPUHour": 0.0}
    return {k: v for k, v in out.items() if v is not None}


# --- ListCrawls' filters -----------------------------------------------------------------------------

_OPERATORS = ("LT", "LE", "GT", "GE", "EQ", "NE")
_HISTORY_TO_CRAWL = {"RUNNING": ["RUNNING", "CANCELLING"], "COMPLETED": ["SUCCEEDED"], "FAILED": ["FAILED", "ERROR"],
                     "STOPPED": ["CANCELLED"]}


def _filter(f: Mapping[str, Any]) -> tuple[str, str, Any] | None:
    """One of Glue's CrawlsFilters as the store's (field, operator, value); None when it holds
    for every crawl here (DPU_HOUR: crawls use none)."""
    field, op, value = f.get("FieldName"), f.get("FilterOperator"), f.get("FieldValue")
    if op not in _OPERATORS or value is None:
        raise errors.InvalidInputException("a ListCrawls filter needs FieldName, FilterOperator "
                                           "(LT, LE, GT, GE, EQ, NE) and FieldValue")
    if field == "CRAWL_ID":
        return field, op, value
    if field == "STATE":
        states = _HISTORY_TO_CRAWL.get(str(value).upper())
        if states is None or op not in ("EQ", "NE"):
            raise errors.InvalidInputException(f"STATE filters take EQ or NE and one of {', '.join(_HISTORY_TO_CRAWL)}")
        return field, op, states
    if field in ("START_TIME", "END_TIME"):
        return field, op, _moment(value)
    if field == "DPU_HOUR":
        try:
            holds = getattr(operator, op.lower())(0.0, float(value))  # every crawl's DPUHour is 0
        except ValueError:
            raise errors.InvalidInputException(f"FieldValue {value!r} is not a number") from None
        return None if holds else ("CRAWL_ID", "EQ", [])  # every crawl or none
    raise errors.InvalidInputException(f"unknown FieldName {field!r}: CRAWL_ID, STATE, START_TIME, END_TIME or DPU_HOUR")


def _moment(value: Any) -> dt.datetime:
    try:
        if isinstance(value, (int, float)) or str(value).replace(".", "", 1).isdigit():
            seconds = float(value)
            return dt.datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, dt.UTC)
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    except ValueError:
        raise errors.InvalidInputException(f"FieldValue {value!r} is not a time (epoch seconds or ISO 8601)") from None
