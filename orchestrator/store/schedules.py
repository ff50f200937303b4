"""Schedules: the last tick each one handled, and a crawler schedule's state.

``advance`` is a compare-and-set on the last tick: of several serves that find a tick due, the
one whose UPDATE moves it fires it, the others find it moved (PostgreSQL re-reads the row
after the first commits) and do nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa

from orchestrator.store import tables
from orchestrator.store.database import Tx

_t = tables.schedules
_BP = sa.bindparam
SCHEDULED, NOT_SCHEDULED = "SCHEDULED", "NOT_SCHEDULED"


@dataclasses.dataclass(frozen=True, slots=True)
class Schedule:
    kind: str  # "trigger" or "crawler"
    name: str
    last_due_on: dt.datetime | None
    state: str | None


_ADVANCE = sa.update(_t).where(
    _t.c.kind == _BP("_kind"), _t.c.name == _BP("_name"),
    sa.or_(_t.c.last_due_on.is_(None), _t.c.last_due_on < _BP("_due")),
).values(last_due_on=_BP("_due"))  # fmt: skip


def all_of(tx: Tx) -> dict[tuple[str, str], Schedule]:
    return {(r.kind, r.name): Schedule(*r) for r in tx.execute(sa.select(_t))}


def get(tx: Tx, kind: str, name: str) -> Schedule | None:
    row = tx.execute(sa.select(_t).where(_t.c.kind == kind, _t.c.name == name)).first()
    return Schedule(*row) if row else None


def advance(tx: Tx, kind: str, name: str, due: dt.datetime) -> bool:
    """Record tick ``due`` handled; False when it (or a later one) already was, by anyone."""
    return tx.execute(_ADVANCE, {"_kind": kind, "_name": name, "_due": due}).rowcount > 0


def reset(tx: Tx, kind: str, name: str, baseline: dt.datetime, *, state: str | None = None) -> None:
    """Ticks up to ``baseline`` count as handled (a schedule just created, changed or started
    catches up on nothing before it); ``state`` set when given."""
    values = {"last_due_on": baseline, **({"state": state} if state else {})}
    if tx.execute(sa.update(_t).where(_t.c.kind == kind, _t.c.name == name).values(**values)).rowcount == 0:
        tx.execute(sa.insert(_t).values(kind=kind, name=name, **{"state": None, **values}))


def set_state(tx: Tx, kind: str, name: str, state: str) -> None:
    if tx.execute(sa.update(_t).where(_t.c.kind == kind, _t.c.name == name).values(state=state)).rowcount == 0:
        tx.execute(sa.insert(_t).values(kind=kind, name=name, last_due_on=None, state=state))


def delete(tx: Tx, kind: str, name: str) -> None:
    tx.execute(sa.delete(_t).where(_t.c.kind == kind, _t.c.name == name))
