"""Live orchestrator processes and their heartbeats: runs owned by a dead one are adopted."""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa

from orchestrator.store import tables
from orchestrator.store.database import Tx, now

_t = tables.orchestrators


@dataclasses.dataclass(frozen=True, slots=True)
class Orchestrator:
    id: str
    host: str
    pid: int
    serving: bool  # an `adhere serve`, not a process hosting one `adhere run`
    started_on: dt.datetime
    heartbeat_on: dt.datetime


_HEARTBEAT = sa.update(_t).where(_t.c.id == sa.bindparam("_id"))


def register(tx: Tx, orchestrator_id: str, host: str, pid: int, serving: bool) -> None:
    stamp = now()
    tx.execute(sa.insert(_t).values(id=orchestrator_id, host=host, pid=pid, serving=serving,
                                    started_on=stamp, heartbeat_on=stamp))


def heartbeat(tx: Tx, orchestrator_id: str) -> None:
    tx.execute(_HEARTBEAT, {"_id": orchestrator_id, "heartbeat_on": now()})


def unregister(tx: Tx, orchestrator_id: str) -> None:
    tx.execute(sa.delete(_t).where(_t.c.id == orchestrator_id))


def find(tx: Tx) -> list[Orchestrator]:
    return [Orchestrator(*row) for row in tx.execute(sa.select(_t).order_by(_t.c.started_on))]
