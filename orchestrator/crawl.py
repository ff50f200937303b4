"""Crawls in Glue's terms: how one starts, is stopped and ends, and how each view names its state.

A crawl is started by StartCrawler, by a trigger's ``CrawlerName`` action or by a resumed
workflow run; it is RUNNING until its process ends it (``catalog.crawl_process``), a stop
CANCELS it, or recovery fails it. Whoever ends it writes its completion event in the same
transaction, so conditions on its ``CrawlState`` are evaluated and its workflow run goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator import errors, store
from orchestrator.store.crawls import Crawl

# One crawl seen through Glue's views (glue-semantics 5.2): CrawlState -> ...
CRAWLER_STATE = {"RUNNING": "RUNNING", "CANCELLING": "STOPPING"}  # Crawler.State; READY otherwise
HISTORY_STATE = {"RUNNING": "RUNNING", "CANCELLING": "RUNNING", "SUCCEEDED": "COMPLETED", "FAILED": "FAILED",
                 "CANCELLED": "STOPPED", "ERROR": "FAILED"}  # ListCrawls' CrawlerHistory.State
EVENT_STATE = {"SUCCEEDED": "Succeeded", "FAILED": "Failed"}  # "Glue Crawler State Change"; none on a stop


def already_started(crawler_name: str) -> str:
    return f"Crawler with name {crawler_name} has already started"


def start(tx: store.Tx, crawler_name: str, *, workflow_run_id: str | None = None,
          trigger_name: str | None = None, chain_id: str | None = None, direct: bool | None = None) -> Crawl:
    """A RUNNING crawl for an orchestrator to claim. Started directly, a crawler already crawling
    is refused (CrawlerRunningException); started in a workflow run, that node's crawl is
    recorded FAILED instead, with its completion event (Glue's rule), and so is a crawler that
    no longer exists. ``direct`` (by default: neither a run nor a trigger starts it) refuses instead."""
    if direct is None:
        direct = workflow_run_id is None and trigger_name is None
    if store.definitions.get(tx, "crawler", crawler_name) is None:
        if direct:
            raise errors.EntityNotFoundException(f"Crawler entry with name {crawler_name} does not exist")
        return _failed(tx, crawler_name, workflow_run_id, trigger_name, chain_id, f"Crawler {crawler_name} not found")
    if store.crawls.active(tx, [crawler_name]):
        if direct:
            raise errors.CrawlerRunningException(already_started(crawler_name))
        return _failed(tx, crawler_name, workflow_run_id, trigger_name, chain_id, already_started(crawler_name))
    crawl = Crawl(store.new_id("cr"), crawler_name, workflow_run_id, trigger_name, "RUNNING", None, store.now(), None,
                  chain_id=chain_id)
    if not store.crawls.insert_if_idle(tx, crawl):  # a rival's crawl committed meanwhile (PostgreSQL)
        if direct:
            raise errors.CrawlerRunningException(already_started(crawler_name)) from None
        return _failed(tx, crawler_name, workflow_run_id, trigger_name, chain_id, already_started(crawler_name))
    return crawl


def _failed(tx: store.Tx, crawler_name: str, workflow_run_id: str | None, trigger_name: str | None,
            chain_id: str | None, message: str) -> Crawl:
    stamp = store.now()
    crawl = Crawl(store.new_id("cr"), crawler_name, workflow_run_id, trigger_name, "FAILED", message, stamp, stamp,
                  chain_id=chain_id)
    store.crawls.insert(tx, crawl)
    completed(tx, crawl)
    return crawl


def stop(tx: store.Tx, crawler_name: str) -> Crawl:
    """StopCrawler: the crawl under way is CANCELLING until its process has stopped."""
    if store.definitions.get(tx, "crawler", crawler_name) is None:
        raise errors.EntityNotFoundException(f"Crawler entry with name {crawler_name} does not exist")
    crawl = store.crawls.active(tx, [crawler_name]).get(crawler_name)
    if crawl is None:
        raise errors.CrawlerNotRunningException(f"Crawler with name {crawler_name} is not running")
    if crawl.state == "CANCELLING" or not cancel(tx, crawl):
        raise errors.CrawlerStoppingException(f"Crawler with name {crawler_name} is stopping")
    return crawl


def cancel(tx: store.Tx, crawl: Crawl) -> bool:
    """RUNNING -> CANCELLING (its process stops, and the loop ends it CANCELLED), or straight
    to CANCELLED when no process runs it yet; False when it was not RUNNING."""
    if not store.crawls.request_stop(tx, crawl.id):
        return False
    if crawl.owner is None:
        end(tx, crawl.id, "CANCELLED")
    return True


def end(tx: store.Tx, crawl_id: str, state: str, error_message: str | None = None,
        summary: Mapping[str, Any] | None = None, expect: Iterable[str] = store.crawls.ACTIVE) -> Crawl | None:
    """End a crawl in one of the ``expect`` states with its completion event; None otherwise."""
    crawl = store.crawls.end(tx, crawl_id, state, error_message, summary, expect)
    if crawl is not None:
        completed(tx, crawl)
    return crawl


def completed(tx: store.Tx, crawl: Crawl) -> None:
    store.outbox.insert(tx, store.outbox.CRAWL_COMPLETED, workflow_run_id=crawl.workflow_run_id,
                        payload={"crawler_name": crawl.crawler_name, "state": crawl.state, "crawl_id": crawl.id,
                                 **({"chain_id": crawl.chain_id} if crawl.chain_id else {})})


def state_change(crawl: Crawl, *, account: str | None = None, region: str | None = None) -> dict[str, Any] | None:
    """The "Glue Crawler State Change" event of a crawl that started or ended (none for a stop)."""
    from orchestrator import events

    account, region = account or events.DEFAULT_ACCOUNT, region or events.DEFAULT_REGION
    if crawl.state == "RUNNING":
        return events.crawler_state_change(crawl.crawler_name, "Started", time=crawl.started_on,
                                           start_time=crawl.started_on, account=account, region=region)
    if crawl.state not in EVENT_STATE or crawl.completed_on is None:
        return None
    summary = crawl.summary or {}
    counts = {kind: {change: int(summary.get(f"{kind}_{change}", 0)) for change in ("created", "updated", "deleted")}
              for kind in ("tables", "partitions")}
    return events.crawler_state_change(
        crawl.crawler_name, EVENT_STATE[crawl.state], time=crawl.completed_on,
        message=crawl.error_message if crawl.state == "FAILED" else None, completion_date=crawl.completed_on,
        running_time_seconds=(crawl.completed_on - crawl.started_on).total_seconds(),
        tables=counts["tables"], partitions=counts["partitions"], account=account, region=region)
