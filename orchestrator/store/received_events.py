"""Events received from outside the loop, and what became of each for the EVENT triggers that count it.

An event is kept whole, once: its id is unique, so a second delivery inserts nothing. Its
``trigger_events`` rows say, per trigger, whether it waits in the open batch, was consumed by
a workflow run, or was dropped and why; an event no trigger counted is itself DROPPED.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from orchestrator.store import tables
from orchestrator.store.database import Tx

_e = tables.received_events
_te = tables.trigger_events
_BP = sa.bindparam
ROUTED, DROPPED = "ROUTED", "DROPPED"  # received_events.state
WAITING, CONSUMED = "WAITING", "CONSUMED"  # trigger_events.state (or DROPPED)


@dataclasses.dataclass(frozen=True, slots=True)
class Received:
    """One event as `adhere events list` shows it: per trigger that counted it, or alone."""

    seq: int
    id: str
    source: str
    detail_type: str
    received_on: dt.datetime
    state: str  # WAITING, CONSUMED or DROPPED
    reason: str | None
    trigger_name: str | None
    workflow_run_id: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Waiting:
    """An open batch: how many events wait for the trigger, since when."""

    trigger_name: str
    count: int
    oldest: dt.datetime


@functools.cache
def _insert(postgres: bool) -> Any:
    if postgres:
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(_e).on_conflict_do_nothing(index_elements=["id"]).returning(_e.c.id, _e.c.seq)


def insert(tx: Tx, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Insert events (id, source, detail_type, envelope, received_on, state, reason); returns
    id -> seq of those that were new (a known id is a duplicate delivery: nothing changes)."""
    if not rows:
        return {}
    result = tx.execute(_insert(tx.is_postgres), list(rows))
    return {row.id: row.seq for row in result}


def count(tx: Tx, rows: Sequence[Mapping[str, Any]]) -> None:
    """Record events as counted by triggers (trigger_name, event_seq, state, received_on, reason)."""
    if rows:
        tx.execute(sa.insert(_te), list(rows))


_WAITING = (
    sa.select(_te.c.trigger_name, sa.func.count(), sa.func.min(_te.c.received_on))
    .where(_te.c.state == WAITING).group_by(_te.c.trigger_name)
)  # fmt: skip


_WAITING_OF = (
    sa.select(_te.c.trigger_name, sa.func.count(), sa.func.min(_te.c.received_on))
    .where(_te.c.state == WAITING, _te.c.trigger_name == _BP("_name")).group_by(_te.c.trigger_name)
)  # fmt: skip


def _waiting(name: str, n: int, oldest: dt.datetime) -> Waiting:
    return Waiting(name, n, oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.UTC))  # SQLite's min() is naive


def waiting_all(tx: Tx) -> list[Waiting]:
    """Every open batch."""
    return [_waiting(*row) for row in tx.execute(_WAITING)]


def waiting(tx: Tx, trigger_name: str) -> Waiting | None:
    """A trigger's open batch, if it has one."""
    row = tx.execute(_WAITING_OF, {"_name": trigger_name}).first()
    return _waiting(*row) if row else None


def batch(tx: Tx, trigger_name: str, limit: int) -> list[tuple[int, str]]:
    """(seq, id) of the oldest events waiting for a trigger, up to ``limit``, locked on PostgreSQL."""
    query = (sa.select(_te.c.event_seq, _e.c.id).join(_e, _e.c.seq == _te.c.event_seq)
             .where(_te.c.trigger_name == trigger_name, _te.c.state == WAITING)
             .order_by(_te.c.received_on, _te.c.event_seq).limit(limit))
    if tx.is_postgres:
        query = query.with_for_update(of=_te)
    return [(seq, event_id) for seq, event_id in tx.execute(query)]


def settle(tx: Tx, trigger_name: str, seqs: Iterable[int], state: str, *, workflow_run_id: str | None = None,
           reason: str | None = None) -> int:
    """Move waiting events of a trigger to CONSUMED or DROPPED; returns how many moved."""
    query = (sa.update(_te).where(_te.c.trigger_name == trigger_name, _te.c.state == WAITING,
                                  _te.c.event_seq.in_(list(seqs)))
             .values(state=state, workflow_run_id=workflow_run_id, reason=reason))
    return tx.execute(query).rowcount


def drop_waiting(tx: Tx, trigger_name: str, reason: str) -> int:
    query = (sa.update(_te).where(_te.c.trigger_name == trigger_name, _te.c.state == WAITING)
             .values(state=DROPPED, reason=reason))
    return tx.execute(query).rowcount


def of_run(tx: Tx, workflow_run_id: str) -> list[dict[str, Any]]:
    """The envelopes of the events a workflow run consumed, in the order they arrived."""
    query = (sa.select(_e.c.envelope).join(_te, _te.c.event_seq == _e.c.seq)
             .where(_te.c.workflow_run_id == workflow_run_id, _te.c.state == CONSUMED)
             .order_by(_te.c.received_on, _e.c.seq))
    return [envelope for (envelope,) in tx.execute(query)]


def find(tx: Tx, *, state: str | None = None, trigger_name: str | None = None, event_id: str | None = None,
         before: int | None = None, limit: int = 100) -> list[Received]:
    """Events newest first (by ``seq``, below ``before``), one line per trigger that counted one."""
    shown_state = sa.case((_te.c.state.is_(None), _e.c.state), else_=_te.c.state)
    query = (
        sa.select(_e.c.seq, _e.c.id, _e.c.source, _e.c.detail_type, _e.c.received_on, shown_state,
                  sa.func.coalesce(_te.c.reason, _e.c.reason), _te.c.trigger_name, _te.c.workflow_run_id)
        .select_from(_e.outerjoin(_te, _te.c.event_seq == _e.c.seq))
        .order_by(_e.c.seq.desc(), _te.c.trigger_name).limit(limit)
    )  # fmt: skip
    if state is not None:
        query = query.where(shown_state == state)
    if trigger_name is not None:
        query = query.where(_te.c.trigger_name == trigger_name)
    if event_id is not None:
        query = query.where(_e.c.id == event_id)
    if before is not None:
        query = query.where(_e.c.seq < before)
    return [Received(*row) for row in tx.execute(query)]


def get(tx: Tx, event_id: str) -> dict[str, Any] | None:
    return tx.execute(sa.select(_e.c.envelope).where(_e.c.id == event_id)).scalar()
