"""Crawls: one row per run of a crawler, in a workflow run or on its own (Glue's Crawl).

A crawl is RUNNING from StartCrawler (or the trigger that starts it) until it ends SUCCEEDED,
FAILED or CANCELLED (CANCELLING while a stop is under way); the orchestrator that claims it
(``owner``) runs it as a process (``process``). The partial unique index ``ix_crawls_one_active``
keeps one crawl under way per crawler, whatever the number of writers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from orchestrator.store import tables
from orchestrator.store.database import Tx, now, values

_t = tables.crawls
ACTIVE = ("RUNNING", "CANCELLING")


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
    owner: str | None = None
    process: str | None = None
    summary: Mapping[str, Any] | None = None
    chain_id: str | None = None


_COLUMNS = tuple(c.name for c in _t.columns)
assert tuple(f.name for f in dataclasses.fields(Crawl)) == _COLUMNS, "Crawl must list the table's columns"
_BP = sa.bindparam
_OF_WORKFLOW_RUN = sa.select(_t).where(_t.c.workflow_run_id == _BP("_run")).order_by(_t.c.started_on)
_LATEST = (
    sa.select(_t.c.id, _t.c.crawler_name, _t.c.state)
    .where(_t.c.workflow_run_id == _BP("_run"), _t.c.crawler_name.in_(_BP("_names", expanding=True)))
    .order_by(_t.c.started_on)
)
_ACTIVE_OF = sa.select(_t).where(_t.c.crawler_name.in_(_BP("_names", expanding=True)), _t.c.state.in_(ACTIVE))


def insert(tx: Tx, crawl: Crawl) -> None:
    tx.execute(sa.insert(_t), values(crawl))


def insert_if_idle(tx: Tx, crawl: Crawl) -> bool:
    """Insert a RUNNING crawl unless another of its crawler's is under way (False then): the
    partial unique index decides between rivals that both found none."""
    try:
        with tx.conn.begin_nested():
            insert(tx, crawl)
    except sa.exc.IntegrityError:
        return False
    return True


def get(tx: Tx, crawl_id: str) -> Crawl | None:
    row = tx.execute(sa.select(_t).where(_t.c.id == crawl_id)).first()
    return Crawl(*row) if row else None


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


_LATEST_IN_CHAIN = (
    sa.select(_t.c.id, _t.c.crawler_name, _t.c.state)
    .where(_t.c.chain_id == _BP("_chain"), _t.c.crawler_name.in_(_BP("_names", expanding=True)))
    .order_by(_t.c.started_on)
)


def latest_in_chain(tx: Tx, chain_id: str, crawler_names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``latest`` among the crawls a chain of standalone triggers started."""
    names = sorted(set(crawler_names))
    rows = tx.execute(_LATEST_IN_CHAIN, {"_chain": chain_id, "_names": names}) if names else ()
    return {name: (crawl_id, state) for crawl_id, name, state in rows}


def active(tx: Tx, crawler_names: Iterable[str]) -> dict[str, Crawl]:
    """The crawl under way (RUNNING or CANCELLING) of each crawler that has one."""
    names = sorted(set(crawler_names))
    if not names:
        return {}
    return {row.crawler_name: Crawl(*row) for row in tx.execute(_ACTIVE_OF, {"_names": names})}


def any_active(tx: Tx, workflow_run_id: str) -> bool:
    query = sa.select(_t.c.id).where(_t.c.workflow_run_id == workflow_run_id, _t.c.state.in_(ACTIVE)).limit(1)
    return tx.execute(query).first() is not None


_COMPARE = {"LT": "__lt__", "LE": "__le__", "GT": "__gt__", "GE": "__ge__", "EQ": "__eq__", "NE": "__ne__"}
_BY = {"CRAWL_ID": _t.c.id, "STATE": _t.c.state, "START_TIME": _t.c.started_on, "END_TIME": _t.c.completed_on}


def of_crawler(tx: Tx, crawler_name: str, *, where: Iterable[tuple[str, str, Any]] = (),
               limit: int | None = None, offset: int = 0) -> list[Crawl]:
    """A crawler's crawls, newest first (ListCrawls), filtered by ``where``: (field, operator,
    value) with a field of ``_BY`` and an operator of ``_COMPARE`` (a list value: IN / NOT IN)."""
    clauses = []
    for field, op, value in where:
        column = _BY[field]
        if isinstance(value, list):
            clauses.append(column.in_(value) if op == "EQ" else column.not_in(value))
        else:
            clauses.append(getattr(column, _COMPARE[op])(value))
    query = (sa.select(_t).where(_t.c.crawler_name == crawler_name, *clauses)
             .order_by(_t.c.started_on.desc(), _t.c.id.desc()).offset(offset))
    return [Crawl(*row) for row in tx.execute(query.limit(limit) if limit else query)]


def ended_of(tx: Tx, crawler_names: Iterable[str], *, per_crawler: int = 20) -> dict[str, list[Crawl]]:
    """The latest ``per_crawler`` ended crawls of each crawler, newest first (GetCrawlerMetrics)."""
    names = sorted(set(crawler_names))
    found: dict[str, list[Crawl]] = {n: [] for n in names}
    if not names:
        return found
    ranked = sa.select(_t, sa.func.row_number().over(
        partition_by=_t.c.crawler_name, order_by=(_t.c.started_on.desc(), _t.c.id.desc())).label("_rank")
    ).where(_t.c.crawler_name.in_(names), _t.c.state.not_in(ACTIVE)).subquery()
    query = (sa.select(*(ranked.c[name] for name in _COLUMNS)).where(ranked.c._rank <= per_crawler)
             .order_by(ranked.c.crawler_name, ranked.c.started_on.desc()))
    for row in tx.execute(query):
        found[row.crawler_name].append(Crawl(*row))
    return found


def claim_unowned(tx: Tx, owner: str, limit: int, scope: str | None = None) -> list[Crawl]:
    """RUNNING crawls no orchestrator runs yet (of the workflow run ``scope``), now ``owner``'s
    (at most ``limit``)."""
    if limit <= 0:
        return []
    query = sa.select(_t.c.id).where(_t.c.state == "RUNNING", _t.c.owner.is_(None)).order_by(_t.c.started_on)
    if scope is not None:
        query = query.where(_t.c.workflow_run_id == scope)
    if tx.is_postgres:
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for (crawl_id,) in tx.execute(query.limit(limit)).all():
        done = tx.execute(sa.update(_t).where(_t.c.id == crawl_id, _t.c.owner.is_(None)).values(owner=owner))
        if done.rowcount:
            claimed.append(crawl_id)
    return list(get_many(tx, claimed).values())


def owned(tx: Tx, owner: str) -> list[Crawl]:
    """Crawls under way that ``owner`` runs."""
    return [Crawl(*row) for row in tx.execute(sa.select(_t).where(_t.c.owner == owner, _t.c.state.in_(ACTIVE)))]


def orphans(tx: Tx, live_owners: Iterable[str]) -> list[Crawl]:
    """Crawls under way whose orchestrator is gone."""
    query = sa.select(_t).where(_t.c.state.in_(ACTIVE), _t.c.owner.is_not(None),
                                _t.c.owner.not_in(list(live_owners)))
    return [Crawl(*row) for row in tx.execute(query)]


def set_process(tx: Tx, crawl_id: str, process: str) -> None:
    tx.execute(sa.update(_t).where(_t.c.id == crawl_id).values(process=process))


def request_stop(tx: Tx, crawl_id: str) -> bool:
    """RUNNING -> CANCELLING; False when it was not RUNNING any more."""
    done = tx.execute(sa.update(_t).where(_t.c.id == crawl_id, _t.c.state == "RUNNING").values(state="CANCELLING"))
    return bool(done.rowcount)


def end(tx: Tx, crawl_id: str, state: str, error_message: str | None = None,
        summary: Mapping[str, Any] | None = None, expect: Iterable[str] = ACTIVE) -> Crawl | None:
    """End a crawl in one of the ``expect`` states; None (nothing written) otherwise: whoever
    ends a crawl first wins (its process, a stop, recovery), in a transaction of theirs."""
    done = tx.execute(sa.update(_t).where(_t.c.id == crawl_id, _t.c.state.in_(list(expect))).values(
        state=state, error_message=error_message, summary=summary, completed_on=now()))
    return get(tx, crawl_id) if done.rowcount else None
