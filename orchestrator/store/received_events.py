"""Events received from outside the loop, and what became of each for the EVENT triggers that count it.

An event is kept whole, once: its id is unique, so a second delivery inserts nothing. Its
``trigger_events`` rows say, per trigger, whether it waits in the open batch, was consumed by
a workflow run, or was dropped and why; an event no trigger counted is itself DROPPED.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
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


# How events are written. The envelope is bound as JSON text, serialized once by whoever has it
# (``envelope_json``: the intake has, from checking the event's size). On SQLite, rows go in a
# multi-row insert, ``received_on`` (the same for every row of a call) converted once by the
# column type's own processor. On PostgreSQL, each column goes as one array, unnested by the
# server: a short statement whatever the number of rows (a multi-row VALUES with thousands of
# placeholders costs the driver more to parse than the server to run).
@functools.cache
def _sqlite_insert() -> Any:
    from sqlalchemy.dialects.sqlite import insert

    values = {
        "envelope": _BP("_envelope", type_=sa.Text()),
        "received_on": _BP("_received_on", type_=sa.String()),
    }
    return (
        insert(_e)
        .values(values)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(_e.c.id, _e.c.seq)
    )


_COUNTED = ("trigger_name", "event_seq", "state", "workflow_run_id", "reason")
_SQLITE_COUNT = sa.insert(_te).values(
    {**{c: _BP(c) for c in _COUNTED}, "received_on": _BP("_received_on", type_=sa.String())}
)
# The envelopes go as one JSON array (their texts joined: nothing to escape, as a text[] would).
_PG_INSERT = sa.text("""
    INSERT INTO received_events (id, source, detail_type, envelope, received_on, state, reason)
    SELECT id, source, detail_type, envelope, received_on, state, reason
    FROM unnest(CAST(:ids AS TEXT[]), CAST(:sources AS TEXT[]), CAST(:types AS TEXT[]),
                ARRAY(SELECT e FROM jsonb_array_elements(CAST(:envelopes AS JSONB)) WITH ORDINALITY AS x (e, n)
                      ORDER BY n),
                CAST(:received AS TIMESTAMPTZ[]), CAST(:states AS TEXT[]), CAST(:reasons AS TEXT[]))
         AS given (id, source, detail_type, envelope, received_on, state, reason)
    ON CONFLICT (id) DO NOTHING
    RETURNING id, seq
""")
_PG_COUNT = sa.text("""
    INSERT INTO trigger_events (trigger_name, event_seq, state, received_on, workflow_run_id, reason)
    SELECT * FROM unnest(CAST(:names AS TEXT[]), CAST(:seqs AS INTEGER[]), CAST(:states AS TEXT[]),
                         CAST(:received AS TIMESTAMPTZ[]), CAST(:runs AS TEXT[]), CAST(:reasons AS TEXT[]))
""")


def _sqlite_time(tx: Tx) -> Any:
    """``received_on`` values converted as the column type converts them, each value once."""
    dialect = tx.conn.dialect
    process = _e.c.received_on.type.dialect_impl(dialect).bind_processor(dialect)
    memo: dict[dt.datetime, Any] = {}

    def convert(value: dt.datetime) -> Any:
        found = memo.get(value)
        if found is None:
            found = memo[value] = process(value)
        return found

    return convert


def insert(tx: Tx, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Insert events (id, source, detail_type, envelope, received_on, state, reason, and
    optionally envelope_json: the envelope as JSON text); returns id -> seq of those that were
    new (a known id is a duplicate delivery: nothing changes)."""
    if not rows:
        return {}
    texts = [r.get("envelope_json") or _json(r["envelope"]) for r in rows]
    if tx.is_postgres:
        return dict(
            tx.execute(
                _PG_INSERT,
                {
                    "ids": [r["id"] for r in rows],
                    "sources": [r["source"] for r in rows],
                    "types": [r["detail_type"] for r in rows],
                    "envelopes": f"[{','.join(texts)}]",
                    "received": [r["received_on"] for r in rows],
                    "states": [r["state"] for r in rows],
                    "reasons": [r["reason"] for r in rows],
                },
            ).all()
        )
    time = _sqlite_time(tx)
    params = [
        {
            "id": r["id"],
            "source": r["source"],
            "detail_type": r["detail_type"],
            "_envelope": text,
            "_received_on": time(r["received_on"]),
            "state": r["state"],
            "reason": r["reason"],
        }
        for r, text in zip(rows, texts, strict=True)
    ]
    return dict(tx.execute(_sqlite_insert(), params).all())


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def count(tx: Tx, rows: Sequence[Mapping[str, Any]]) -> None:
    """Record events as counted by triggers (trigger_name, event_seq, state, received_on, reason)."""
    if not rows:
        return
    if tx.is_postgres:
        tx.execute(
            _PG_COUNT,
            {
                "names": [r["trigger_name"] for r in rows],
                "seqs": [r["event_seq"] for r in rows],
                "states": [r["state"] for r in rows],
                "received": [r["received_on"] for r in rows],
                "runs": [r.get("workflow_run_id") for r in rows],
                "reasons": [r.get("reason") for r in rows],
            },
        )
        return
    time = _sqlite_time(tx)
    params = [
        {**{c: r.get(c) for c in _COUNTED}, "_received_on": time(r["received_on"])} for r in rows
    ]
    tx.execute(_SQLITE_COUNT, params)


_WAITING = (
    sa.select(_te.c.trigger_name, sa.func.count(), sa.func.min(_te.c.received_on))
    .where(_te.c.state == WAITING).group_by(_te.c.trigger_name)
)  # fmt: skip


_WAITING_OF = (
    sa.select(_te.c.trigger_name, sa.func.count(), sa.func.min(_te.c.received_on))
    .where(_te.c.state == WAITING, _te.c.trigger_name == _BP("_name")).group_by(_te.c.trigger_name)
)  # fmt: skip


def _waiting(name: str, n: int, oldest: dt.datetime) -> Waiting:
    # SQLite's min() is naive
    return Waiting(name, n, oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.UTC))


def waiting_all(tx: Tx) -> list[Waiting]:
    """Every open batch."""
    return [_waiting(*row) for row in tx.execute(_WAITING)]


def waiting(tx: Tx, trigger_name: str) -> Waiting | None:
    """A trigger's open batch, if it has one."""
    row = tx.execute(_WAITING_OF, {"_name": trigger_name}).first()
    return _waiting(*row) if row else None


@dataclasses.dataclass(frozen=True, slots=True)
class Pending:
    """An event waiting for a trigger."""

    seq: int
    id: str
    received_on: dt.datetime


def _oldest(postgres: bool) -> Any:
    # The waiting rows are ordered and cut before their ids are joined (on SQLite a join first
    # would look up the event of every waiting row before sorting them).
    query = (
        sa.select(_te.c.event_seq, _te.c.received_on)
        .where(_te.c.trigger_name == _BP("_name"), _te.c.state == WAITING)
        .order_by(_te.c.received_on, _te.c.event_seq)
        .limit(_BP("_limit"))
    )
    if postgres:
        query = query.with_for_update(of=_te)
    first = query.subquery("oldest")
    return (
        sa.select(first.c.event_seq, _e.c.id, first.c.received_on)
        .join(_e, _e.c.seq == first.c.event_seq)
        .order_by(first.c.received_on, first.c.event_seq)
    )


_OLDEST = {postgres: _oldest(postgres) for postgres in (False, True)}


def oldest(tx: Tx, trigger_name: str, limit: int) -> list[Pending]:
    """The oldest events waiting for a trigger, in the order they arrived, up to ``limit``,
    locked on PostgreSQL: one pass over a long backlog."""
    found = tx.execute(_OLDEST[tx.is_postgres], {"_name": trigger_name, "_limit": limit})
    return [
        Pending(seq, event_id, on if on.tzinfo else on.replace(tzinfo=dt.UTC))
        for seq, event_id, on in found
    ]


def batch(tx: Tx, trigger_name: str, limit: int) -> list[tuple[int, str]]:
    """(seq, id) of the oldest events waiting for a trigger, up to ``limit``, locked on PostgreSQL."""
    return [(p.seq, p.id) for p in oldest(tx, trigger_name, limit)]


def settle(
    tx: Tx,
    trigger_name: str,
    seqs: Iterable[int],
    state: str,
    *,
    workflow_run_id: str | None = None,
    reason: str | None = None,
) -> int:
    """Move waiting events of a trigger to CONSUMED or DROPPED; returns how many moved."""
    found = {
        "_name": trigger_name,
        "_seqs": list(seqs),
        "_state": state,
        "_run": workflow_run_id,
        "_reason": reason,
    }
    return tx.execute(_SETTLE, found).rowcount


# Rows found by the primary key (trigger, seq): ``state || ''`` keeps the planners off the state
# index, which would visit every event that waits for the trigger (both SQLite and PostgreSQL
# chose it, with a backlog of thousands: 30 ms a batch on PostgreSQL with 50,000 waiting).
_SETTLE = (
    sa.update(_te)
    .where(
        _te.c.trigger_name == _BP("_name"),
        _te.c.event_seq.in_(_BP("_seqs", expanding=True)),
        _te.c.state.concat("") == WAITING,
    )
    .values(state=_BP("_state"), workflow_run_id=_BP("_run"), reason=_BP("_reason"))
)


def drop_waiting(tx: Tx, trigger_name: str, reason: str) -> int:
    query = (
        sa.update(_te)
        .where(_te.c.trigger_name == trigger_name, _te.c.state == WAITING)
        .values(state=DROPPED, reason=reason)
    )
    return tx.execute(query).rowcount


def of_run(tx: Tx, workflow_run_id: str) -> list[dict[str, Any]]:
    """The envelopes of the events a workflow run consumed, in the order they arrived."""
    query = (
        sa.select(_e.c.envelope)
        .join(_te, _te.c.event_seq == _e.c.seq)
        .where(_te.c.workflow_run_id == workflow_run_id, _te.c.state == CONSUMED)
        .order_by(_te.c.received_on, _e.c.seq)
    )
    return [envelope for (envelope,) in tx.execute(query)]


def find(
    tx: Tx,
    *,
    state: str | None = None,
    trigger_name: str | None = None,
    event_id: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[Received]:
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
