"""``adhere crawl``, ``crawls``, ``crawlers`` and ``stop-crawler``: Glue's crawler operations.

``crawl NAME`` starts a crawl (StartCrawler) and follows it as ``start-job`` follows a job run,
hosting the orchestrator unless an ``adhere serve`` runs on the store; it exits 0 only when the
crawl SUCCEEDED.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from orchestrator.cli import display

if TYPE_CHECKING:
    from orchestrator.cli.commands import App

_ENDED = {"COMPLETED", "FAILED", "STOPPED"}


def crawl(app: App) -> int:
    from orchestrator.service import crawlers, orchestration

    orchestration.check(app.settings)
    name = app.args.crawler
    before = {c["CrawlId"] for c in crawlers.list_crawls(app.db, name, max_results=5)["Crawls"]}
    crawlers.start_crawler(app.db, name)

    def current() -> dict[str, Any]:
        """This crawl: the newest one that was not there before the start."""
        crawls = [c for c in crawlers.list_crawls(app.db, name, max_results=5)["Crawls"] if c["CrawlId"] not in before]
        return crawls[0] if crawls else {"CrawlId": "?", "State": "RUNNING"}

    if app.args.no_wait:
        found = current()
        app.out({"CrawlId": found["CrawlId"]}, lambda: print(found["CrawlId"]))
        return 0
    view = _Follow(app, name, current)
    found = app.drive(scope=None, done=lambda: current()["State"] in _ENDED, view=current,
                      on_interrupt=lambda: crawlers.stop_crawler(app.db, name), live=view)
    app.out({"Crawl": found}, lambda: _summary(app, name, found))
    return 0 if found["State"] == "COMPLETED" else 1


class _Follow:
    """A line per state of the crawl (crawls run for seconds, not a table's worth)."""

    def __init__(self, app: App, name: str, view: Any) -> None:
        self.app, self.name, self.view = app, name, view
        self.interrupted = False
        self._seen: str | None = None
        self.enabled = not app.args.json and not app.args.quiet

    def __enter__(self) -> _Follow:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def refresh(self) -> None:
        if self.enabled and (state := self.view()["State"]) != self._seen and state not in _ENDED:
            self._seen = state
            self.app.say(f"crawler {self.name}: ", display.styled(state))


def _summary(app: App, name: str, found: dict[str, Any]) -> None:
    state = {"COMPLETED": "SUCCEEDED", "STOPPED": "CANCELLED"}.get(found["State"], found["State"])
    seconds = (found["EndTime"] - found["StartTime"]).total_seconds() if found.get("EndTime") else None
    app.say(f"crawler {name} {found['CrawlId']}: ", display.styled(state),
            f" in {display.duration(seconds)}" if seconds is not None else "")
    if found.get("Summary"):
        counts = changes(found["Summary"])
        app.say("  tables: {} created, {} updated, {} deleted; partitions: {} created, {} updated, {} deleted".format(
            *(counts[f"{kind}_{change}"] for kind in ("tables", "partitions") for change in _CHANGES.values())))
    if found.get("ErrorMessage"):
        app.say(f"  {found['ErrorMessage']}")


_CHANGES = {"ADD": "created", "UPDATE": "updated", "DELETE": "deleted"}


def changes(summary: str) -> dict[str, int]:
    """The counts of ListCrawls' Summary (Glue's JSON, with JSON strings inside):
    ``tables_created``, ..., ``partitions_deleted``."""
    data = json.loads(summary)
    return {f"{kind.lower()}s_{change}": json.loads(data.get(kind, {}).get(action, "{}")).get("Count", 0)
            for kind in ("TABLE", "PARTITION") for action, change in _CHANGES.items()}


def crawls(app: App) -> int:
    from orchestrator.service import crawlers

    found = crawlers.list_crawls(app.db, app.args.crawler, max_results=app.args.limit)["Crawls"]

    def render() -> None:
        rows = []
        for c in found:
            counts = changes(c["Summary"]) if c.get("Summary") else {}
            changed = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n)
            seconds = (c["EndTime"] - c["StartTime"]).total_seconds() if c.get("EndTime") else None
            rows.append((c["CrawlId"], display.styled(c["State"]), display.when(c["StartTime"]),
                         display.duration(seconds) if seconds is not None else "-", changed or c.get("ErrorMessage")))
        app.console.print(display.table(["crawl", "state", "started", "took", "changes"], rows))

    app.out({"Crawls": found}, render)
    return 0


def crawlers(app: App) -> int:
    from orchestrator.service import crawlers as service

    found = service.get_crawlers(app.db)["Crawlers"]

    def render() -> None:
        rows = []
        for c in found:
            targets = [t["Path"] for t in (c.get("Targets") or {}).get("S3Targets", [])]
            last = c.get("LastCrawl") or {}
            rows.append((c["Name"], display.styled(c["State"]), c.get("DatabaseName") or "default", ", ".join(targets),
                         display.styled(last.get("Status")) if last else "-"))
        app.console.print(display.table(["crawler", "state", "database", "targets", "last crawl"], rows))

    app.out({"Crawlers": found}, render)
    return 0


def stop_crawler(app: App) -> int:
    from orchestrator.service import crawlers

    crawlers.stop_crawler(app.db, app.args.crawler)
    app.out({}, lambda: app.say(f"stopping crawler {app.args.crawler}"))
    return 0
