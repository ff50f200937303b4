"""One crawl in a process of its own: ``python -m catalog.crawl_process CRAWL_ID``.

Started by the orchestrator that claimed the crawl (``orchestrator.crawls``), with the store's
URL in ``ADHERE_DB_URL``. It reads the crawler's definition, crawls, and ends the crawl
SUCCEEDED in the transaction that writes the Data Catalog; FAILED with the reason when the
crawl fails; CANCELLED when it was asked to stop (its row CANCELLING, or SIGTERM). A crawl that
somebody else ended meanwhile (recovery, a stop) writes nothing.

A crawler whose RecrawlPolicy is CRAWL_EVENT_MODE consumes the S3 events of the crawl's
workflow run, and of the runs it resumes (``previous_run_id``), oldest first. As Glue's first
crawl in that mode lists the whole target, so does one of a crawler with no crawl SUCCEEDED
since it was created or last updated (Glue: an update of its properties goes back to listing
mode); after that, a crawl without events (StartCrawler, a schedule, a run no event started)
crawls nothing, as Glue's finds its queue empty and stops.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any

from orchestrator import crawl, errors, store

CHECK_EVERY = 1.0  # seconds between looks at the crawl's row for a stop


class _Watch:
    """``cancelled()`` for the crawler: a SIGTERM, or the row no longer RUNNING (read at most
    once a CHECK_EVERY)."""

    def __init__(self, db: store.Store, crawl_id: str) -> None:
        self.db, self.crawl_id = db, crawl_id
        self.stop = False
        self._next = time.monotonic() + CHECK_EVERY
        signal.signal(signal.SIGTERM, self._term)

    def _term(self, *_: object) -> None:
        self.stop = True

    def __call__(self) -> bool:
        if not self.stop and time.monotonic() >= self._next:
            self._next = time.monotonic() + CHECK_EVERY
            with self.db.read() as tx:
                current = store.crawls.get(tx, self.crawl_id)
            self.stop = current is None or current.state != "RUNNING"
        return self.stop


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m catalog.crawl_process CRAWL_ID", file=sys.stderr)
        return 2
    crawl_id = args[0]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    db = store.Store.open_url(os.environ["ADHERE_DB_URL"], upgrade=False)
    try:
        return _run(db, crawl_id)
    finally:
        db.close()


def _run(db: store.Store, crawl_id: str) -> int:
    from catalog import crawler

    with db.read() as tx:
        current = store.crawls.get(tx, crawl_id)
        definition = store.definitions.get(tx, "crawler", current.crawler_name) if current else None
        events = _events(tx, current, definition) if current and definition else None
    if current is None or current.state != "RUNNING":
        return 0
    if definition is None:
        return _end(db, crawl_id, "FAILED", f"Crawler {current.crawler_name} not found")
    watch = _Watch(db, crawl_id)

    def commit(tx: store.Tx, summary: crawler.Summary) -> None:
        # Only a crawl still RUNNING succeeds (one UPDATE: a stop or recovery in between wins).
        # the counts, ListCrawls' Summary, and what it read
        kept = {**dataclasses.asdict(summary), "glue": summary.to_glue(),
                **({"read": summary.read} if summary.read else {})}  # fmt: skip
        if crawl.end(tx, crawl_id, "SUCCEEDED", None, kept, expect=["RUNNING"]) is None:
            raise crawler.CrawlCancelled(f"crawl {crawl_id} was stopped or ended meanwhile")

    print(f"crawl {crawl_id} of {current.crawler_name} started", flush=True)
    try:
        _pause(watch)
        summary = crawler.crawl(db, definition.glue, crawl_id=crawl_id, log=lambda line: print(line, flush=True),
                                commit=commit, cancelled=watch, events=events)
    except crawler.CrawlCancelled:
        return _end(db, crawl_id, "CANCELLED", None, expect="CANCELLING")
    except errors.AdhereError as exc:  # CrawlError and the store's errors: the reason as it is
        print(f"crawl failed: {exc.message}", file=sys.stderr, flush=True)
        return _end(db, crawl_id, "FAILED", exc.message)
    except Exception as exc:
        traceback.print_exc()
        return _end(db, crawl_id, "FAILED", f"internal error: {type(exc).__name__}: {exc}")
    print(f"crawl {crawl_id} succeeded: {dataclasses.asdict(summary)}", flush=True)
    return 0


def _events(tx: store.Tx, current: store.crawls.Crawl,
            definition: store.definitions.Definition) -> list[dict[str, Any]] | None:  # fmt: skip
    """The events a CRAWL_EVENT_MODE crawl consumes (see the module docstring): those of its
    workflow run and of the runs it resumes, oldest run first, each once; ``[]`` when it has
    none; None for any other crawler, and for one that must list its targets whole."""
    if (definition.glue.get("RecrawlPolicy") or {}).get("RecrawlBehavior") != "CRAWL_EVENT_MODE":
        return None
    since = [("STATE", "EQ", "SUCCEEDED"), ("START_TIME", "GE", definition.last_modified_on)]
    if not store.crawls.of_crawler(tx, current.crawler_name, where=since, limit=1):
        return None
    runs: list[str] = []
    run_id = current.workflow_run_id
    while run_id is not None and run_id not in runs:
        runs.append(run_id)
        run = store.workflow_runs.get(tx, run_id)
        run_id = run.previous_run_id if run is not None else None
    events: dict[str, dict[str, Any]] = {}
    for run_id in reversed(runs):
        for envelope in store.received_events.of_run(tx, run_id):
            events.setdefault(str(envelope.get("id")), envelope)
    return list(events.values())


def _pause(watch: _Watch) -> None:
    """ADHERE_CRAWL_START_DELAY seconds before crawling, cut short by a stop: a crawl that takes
    a while on demand (the tests of stopping one use it)."""
    from catalog import crawler

    until = time.monotonic() + float(os.environ.get("ADHERE_CRAWL_START_DELAY") or 0)
    while time.monotonic() < until:
        if watch():
            raise crawler.CrawlCancelled("stopped before it began")
        time.sleep(0.05)


def _end(db: store.Store, crawl_id: str, state: str, message: str | None, expect: str = "RUNNING") -> int:
    with db.transaction() as tx:
        crawl.end(tx, crawl_id, state, message, expect=[expect])
    return 0 if state != "FAILED" else 1


if __name__ == "__main__":
    sys.exit(main())
