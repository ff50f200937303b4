"""Crawls in Glue's terms. Until crawlers run (the catalog issue), a crawler a trigger starts is
recorded as a FAILED crawl with its completion event, so that its workflow run completes and
conditions on its CrawlState are evaluated."""

from __future__ import annotations

from orchestrator import store

NO_CRAWLS = "crawlers do not run in this version of adhere; the crawl was recorded FAILED"


def record_failed(tx: store.Tx, crawler_name: str, workflow_run_id: str, trigger_name: str | None) -> None:
    """A crawler action, recorded as a FAILED crawl with its completion event (until crawlers run)."""
    stamp = store.now()
    crawl = store.crawls.Crawl(store.new_id("cr"), crawler_name, workflow_run_id, trigger_name, "FAILED",
                               NO_CRAWLS, stamp, stamp)
    store.crawls.insert(tx, crawl)
    store.outbox.insert(tx, store.outbox.CRAWL_COMPLETED, workflow_run_id=workflow_run_id,
                        payload={"crawler_name": crawler_name, "state": "FAILED", "crawl_id": crawl.id})
