"""Crawls: one row per run of a crawler, in a workflow run or on its own (Glue's Crawl)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa

from orchestrator.store import tables
from orchestrator.store.database import Tx, values

_t = tables.crawls


@dataclasses.dataclass(frozen=True, slots=True)
class Crawl:
    id: str
    crawler_name: str
    workflow_run_id: str | None
    trigger_name: str | None
    state: str
    error_message: str | None
    started_on: dt.datetime
    completed_on: dt.datetime | None


_COLUMNS = tuple(c.name for c in _t.columns)
assert tuple(f.name for f in dataclasses.fields(Crawl)) == _COLUMNS, "Crawl must list the table's columns"
_BP = sa.bindparam
_OF_WORKFLOW_RUN = sa.select(_t).where(_t.c.workflow_run_id == _BP("_run")).order_by(_t.c.started_on)
_LATEST = (
    sa.select(_t.c.id, _t.c.crawler_name, _t.c.state)
    .where(_t.c.workflow_run_id == _BP("_run"), _t.c.crawler_name.in_(_BP("_names", expanding=True)))
    .order_by(_t.c.started_on)
)


def insert(tx: Tx, crawl: Crawl) -> None:
    tx.execute(sa.insert(_t), values(crawl))


def get_many(tx: Tx, ids: Iterable[str]) -> dict[str, Crawl]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {row[0]: Crawl(*row) for row in tx.execute(sa.select(_t).where(_t.c.id.in_(wanted)))}


def of_workflow_run(tx: Tx, workflow_run_id: str) -> list[Crawl]:
    return [Crawl(*row) for row in tx.execute(_OF_WORKFLOW_RUN, {"_run": workflow_run_id})]


def latest(tx: Tx, workflow_run_id: str, crawler_names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """The latest crawl of each crawler in a workflow run as (id, state)."""
    found: dict[str, tuple[str, str]] = {}
    names = sorted(set(crawler_names))
    if names:
        for crawl_id, name, state in tx.execute(_LATEST, {"_run": workflow_run_id, "_names": names}):
            found[name] = (crawl_id, state)
    return found
