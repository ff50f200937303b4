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
    wake_address: str | None = None  # where a serve is woken at once (``store.wakeups``)


_HEARTBEAT = sa.update(_t).where(_t.c.id == sa.bindparam("_id"))


def register(
    tx: Tx,
    orchestrator_id: str,
    host: str,
    pid: int,
    serving: bool,
    wake_address: str | None = None,
) -> None:
    stamp = now()
    tx.execute(
        sa.insert(_t).values(
            id=orchestrator_id,
            host=host,
            pid=pid,
            serving=serving,
            started_on=stamp,
            heartbeat_on=stamp,
            wake_address=wake_address,
        )
    )


def set_wake_address(tx: Tx, orchestrator_id: str, wake_address: str | None) -> None:
    """Record where this orchestrator is woken (``wakeups.Listener.start``'s answer), or None."""
    tx.execute(sa.update(_t).where(_t.c.id == orchestrator_id).values(wake_address=wake_address))


def wake_addresses(tx: Tx, host: str, prefix: str) -> list[str]:
    """The wake addresses starting with ``prefix`` of the serves on ``host``."""
    query = sa.select(_t.c.wake_address).where(
        _t.c.serving.is_(True),
        _t.c.host == host,
        _t.c.wake_address.startswith(prefix, autoescape=True),
    )
    return list(tx.execute(query).scalars())


def heartbeat(tx: Tx, orchestrator_id: str) -> None:
    tx.execute(_HEARTBEAT, {"_id": orchestrator_id, "heartbeat_on": now()})


def unregister(tx: Tx, orchestrator_id: str) -> None:
    tx.execute(sa.delete(_t).where(_t.c.id == orchestrator_id))


def find(tx: Tx) -> list[Orchestrator]:
    return [Orchestrator(*row) for row in tx.execute(sa.select(_t).order_by(_t.c.started_on))]
