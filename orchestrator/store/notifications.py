"""Notifications: every EventBridge event adhere sent, with how each sink's delivery ended."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import sqlalchemy as sa

from orchestrator.store import tables
from orchestrator.store.database import Tx, values

_t = tables.notifications


@dataclasses.dataclass(frozen=True, slots=True)
class Notification:
    id: str
    detail_type: str
    job_name: str | None
    job_run_id: str | None
    state: str | None
    time: dt.datetime
    event: dict[str, Any]
    deliveries: dict[str, Any]  # sink name -> {"ok": bool, "error": str | None}


_INSERT = sa.insert(_t)
_SET_DELIVERIES = sa.update(_t).where(_t.c.id == sa.bindparam("_id")).values(deliveries=sa.bindparam("deliveries"))


def insert(tx: Tx, notification: Notification) -> None:
    tx.execute(_INSERT, values(notification))


def record_deliveries(tx: Tx, results: Iterable[tuple[str, str, Mapping[str, Any]]],
                      known: MutableMapping[str, dict[str, Any]] | None = None) -> None:
    """Merge (notification id, sink, result) outcomes into their notifications' ``deliveries``.

    ``known`` holds the deliveries of notifications the caller recorded itself (it is their only
    writer): those are not read back, and it is kept up to date.
    """
    by_id: dict[str, dict[str, Any]] = {}
    for notification_id, sink, result in results:
        by_id.setdefault(notification_id, {})[sink] = dict(result)
    if not by_id:
        return
    known = {} if known is None else known
    current = {nid: known[nid] for nid in by_id if nid in known}
    if missing := [nid for nid in by_id if nid not in known]:
        current.update(tx.execute(sa.select(_t.c.id, _t.c.deliveries).where(_t.c.id.in_(missing))).all())
    params = []
    for notification_id, outcomes in by_id.items():
        if notification_id not in current:
            continue  # not (or no longer) in the store
        merged = {**(current[notification_id] or {}), **outcomes}
        if notification_id in known:
            known[notification_id] = merged
        params.append({"_id": notification_id, "deliveries": merged})
    if params:
        tx.execute(_SET_DELIVERIES, params)


def find(tx: Tx, limit: int = 100) -> list[Notification]:
    """The latest notifications, newest first."""
    return [Notification(*row) for row in tx.execute(sa.select(_t).order_by(_t.c.time.desc()).limit(limit))]
