"""Stored definitions of jobs, crawlers, workflows and triggers, kept whole as Glue-shaped JSON.

Each is stored twice in one JSON value: ``glue`` (what Get* returns) and ``spec`` (the model
dump adhere runs from). UpdateJob replaces the whole definition, as in Glue.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from orchestrator.store import tables
from orchestrator.store.database import Tx, now

_TABLES = {"job": tables.jobs, "crawler": tables.crawlers, "workflow": tables.workflows, "trigger": tables.triggers}
KINDS = tuple(_TABLES)
_CHUNK = 5000


@dataclasses.dataclass(frozen=True, slots=True)
class Definition:
    """One stored definition. ``workflow_name``/``type``/``state`` are a trigger's (``state`` is
    also a crawler's); they are None for the other kinds."""

    kind: str
    name: str
    glue: dict[str, Any]
    spec: dict[str, Any]
    created_on: dt.datetime
    last_modified_on: dt.datetime
    workflow_name: str | None = None
    type: str | None = None
    state: str | None = None


def row(kind: str, found: Any) -> Definition:
    """A definition from a row of its table (other verbs join definitions too)."""
    m = found._mapping
    body = m["definition"]
    return Definition(
        kind, m["name"], body["glue"], body["spec"], m["created_on"], m["last_modified_on"],
        m.get("workflow_name"), m.get("type"), m.get("state"),
    )  # fmt: skip


_BP = sa.bindparam
_GET = {k: sa.select(t).where(t.c.name == _BP("_name")) for k, t in _TABLES.items()}
_GET_MANY = {
    k: sa.select(t).where(t.c.name.in_(_BP("_names", expanding=True))).order_by(t.c.name) for k, t in _TABLES.items()
}
_GET_LOCKED = {k: q.with_for_update() for k, q in _GET.items()}
_GET_MANY_LOCKED = {k: q.with_for_update() for k, q in _GET_MANY.items()}


def get(tx: Tx, kind: str, name: str, *, lock: bool = False) -> Definition | None:
    """One definition; ``lock`` holds its row to the end of the transaction (see ``get_many``)."""
    query = _GET_LOCKED[kind] if lock and tx.is_postgres else _GET[kind]
    found = tx.execute(query, {"_name": name}).first()
    return row(kind, found) if found else None


def get_many(tx: Tx, kind: str, names: Iterable[str], *, lock: bool = False) -> dict[str, Definition]:
    """Several definitions in one query, by name; missing ones are absent.

    ``lock`` serialises admission decisions on jobs across processes: PostgreSQL row locks,
    taken in name order so that two lockers cannot deadlock (SQLite's writer lock already
    serialises).
    """
    wanted = sorted(set(names))
    query = _GET_MANY_LOCKED[kind] if lock and tx.is_postgres else _GET_MANY[kind]
    found: dict[str, Definition] = {}
    for i in range(0, len(wanted), _CHUNK):  # SQLite takes at most 32,766 parameters
        for r in tx.execute(query, {"_names": wanted[i : i + _CHUNK]}):
            found[r.name] = row(kind, r)
    return found


def find(tx: Tx, kind: str, *, workflow_name: str | None = None, after: str | None = None,
         limit: int | None = None, among: Collection[str] | None = None) -> list[Definition]:
    """Definitions of a kind in name order: of one workflow (triggers, ``workflow_name``), named
    after ``after`` (a page's keyset), at most ``limit``, only those ``among`` some names."""
    table = _TABLES[kind]
    return [row(kind, r) for r in tx.execute(_filtered(sa.select(table), table, workflow_name, after, limit, among))]


_t = tables.triggers
_OF_TYPE = sa.select(_t).where(_t.c.type == _BP("_type")).order_by(_t.c.name)
_STANDALONE_OF_TYPE = _OF_TYPE.where(_t.c.workflow_name.is_(None))


def triggers_of_type(tx: Tx, trigger_type: str, *, standalone: bool = False) -> list[Definition]:
    """Triggers of one Type (all of them, or only those outside workflows), whatever their state."""
    query = _STANDALONE_OF_TYPE if standalone else _OF_TYPE
    return [row("trigger", r) for r in tx.execute(query, {"_type": trigger_type})]


def list_names(tx: Tx, kind: str, *, after: str | None = None, limit: int | None = None,
               among: Collection[str] | None = None) -> list[str]:
    """Names only (ListJobs, ListTriggers, ListWorkflows), as ``find`` selects them."""
    table = _TABLES[kind]
    return list(tx.execute(_filtered(sa.select(table.c.name), table, None, after, limit, among)).scalars())


def _filtered(query: Any, table: sa.Table, workflow_name: str | None, after: str | None, limit: int | None,
              among: Collection[str] | None) -> Any:
    query = query.order_by(table.c.name)
    if workflow_name is not None:
        query = query.where(table.c.workflow_name == workflow_name)
    if after is not None:
        query = query.where(table.c.name > after)
    if among is not None:
        query = query.where(table.c.name.in_(sorted(among)))
    return query if limit is None else query.limit(limit)


@dataclasses.dataclass(frozen=True, slots=True)
class Body:
    """A definition to save: its Glue shape, adhere's spec, and a trigger's columns."""

    name: str
    glue: dict[str, Any]
    spec: dict[str, Any]
    workflow_name: str | None = None
    type: str | None = None
    state: str | None = None


def save_many(tx: Tx, kind: str, bodies: Sequence[Body], current: Mapping[str, Definition]) -> dict[str, str]:
    """Create or replace definitions of one kind, a statement for all new ones and one for all
    changed ones; returns name -> "created", "updated" or "unchanged". ``current`` is what is
    stored now (``get_many``). An unchanged definition is not written at all, so a trigger
    keeps the state it was put in (StartTrigger, StopTrigger)."""
    table = _TABLES[kind]
    stamp = now()
    outcomes: dict[str, str] = {}
    created, updated = [], []
    for body in bodies:
        values = {"name": body.name, "definition": {"glue": body.glue, "spec": body.spec},
                  "last_modified_on": stamp, **_columns(kind, body)}
        old = current.get(body.name)
        if old is None:
            created.append({**values, "created_on": stamp})
            outcomes[body.name] = "created"
        elif old.glue == body.glue and old.spec == body.spec and old.workflow_name == body.workflow_name \
                and old.type == body.type:
            outcomes[body.name] = "unchanged"
        else:
            updated.append({**values, "_name": body.name})
            outcomes[body.name] = "updated"
    if created:
        tx.execute(sa.insert(table), created)
    if updated:
        tx.execute(_UPDATE[kind], updated)
    return outcomes


def _columns(kind: str, body: Body) -> dict[str, Any]:
    if kind == "trigger":
        return {"workflow_name": body.workflow_name, "type": body.type, "state": body.state}
    return {}


_UPDATE = {
    k: sa.update(t).where(t.c.name == _BP("_name")).values(
        definition=_BP("definition"), last_modified_on=_BP("last_modified_on"),
        **({"workflow_name": _BP("workflow_name"), "type": _BP("type"), "state": _BP("state")} if k == "trigger" else {}),
    )
    for k, t in _TABLES.items()
}


def set_state(tx: Tx, kind: str, name: str, state: str) -> bool:
    table = _TABLES[kind]
    return tx.execute(sa.update(table).where(table.c.name == name).values(state=state)).rowcount > 0


def delete(tx: Tx, kind: str, name: str) -> bool:
    table = _TABLES[kind]
    return tx.execute(sa.delete(table).where(table.c.name == name)).rowcount > 0
