"""Tags on Glue resources: one row per key, by the kind and name of the resource they label
(Glue's TagResource, UntagResource, GetTags, and the ``Tags`` filter of ListJobs).

``kind`` is a kind of ``store.definitions`` ("job", "trigger", "workflow", "crawler"; later
"database", "table"). The rows are not tied to the resources' tables by a foreign key (they
span several): whoever deletes a resource calls ``delete_all`` in the same transaction.
Nothing here checks Glue's limits (50 tags, key and value lengths): the service does.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from orchestrator.store import tables
from orchestrator.store.database import Tx

_t = tables.tags
_BP = sa.bindparam
_CHUNK = 5000  # SQLite takes at most 32,766 parameters

_OF = (_t.c.kind == _BP("_kind")) & (_t.c.name == _BP("_name"))
_GET = sa.select(_t.c.key, _t.c.value).where(_OF).order_by(_t.c.key)
_GET_MANY = (
    sa.select(_t.c.name, _t.c.key, _t.c.value)
    .where(_t.c.kind == _BP("_kind"), _t.c.name.in_(_BP("_names", expanding=True)))
    .order_by(_t.c.name, _t.c.key)
)
_REMOVE = sa.delete(_t).where(_OF, _t.c.key.in_(_BP("_keys", expanding=True)))
_DELETE_ALL = sa.delete(_t).where(_OF)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def get(tx: Tx, kind: str, name: str) -> dict[str, str]:
    """A resource's tags, by key ({} when it has none, or does not exist)."""
    return {key: value for key, value in tx.execute(_GET, {"_kind": kind, "_name": name})}


def get_many(tx: Tx, kind: str, names: Iterable[str]) -> dict[str, dict[str, str]]:
    """The tags of several resources of one kind in one query (one per 5,000 names), by name;
    names without tags are absent."""
    found: dict[str, dict[str, str]] = {}
    for chunk in _chunks(sorted(set(names))):
        for name, key, value in tx.execute(_GET_MANY, {"_kind": kind, "_names": chunk}):
            found.setdefault(name, {})[key] = value
    return found


@functools.cache
def _upsert(postgres: bool) -> Any:
    """INSERT ... ON CONFLICT (kind, name, key) DO UPDATE, in the dialect's own words (imported
    on use): a concurrent writer of the same key makes this an update, not a key violation."""
    if postgres:
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(_t)
    return statement.on_conflict_do_update(
        index_elements=[_t.c.kind, _t.c.name, _t.c.key], set_={"value": statement.excluded.value}
    )


def put(tx: Tx, kind: str, name: str, tags: Mapping[str, str]) -> None:
    """Add these tags, overwriting the values of keys the resource has (TagResource)."""
    if tags:
        rows = [{"kind": kind, "name": name, "key": key, "value": value} for key, value in tags.items()]
        tx.execute(_upsert(tx.is_postgres), rows)


def remove(tx: Tx, kind: str, name: str, keys: Iterable[str]) -> None:
    """Remove the tags with these keys (UntagResource); keys the resource lacks are ignored."""
    for chunk in _chunks(sorted(set(keys))):
        tx.execute(_REMOVE, {"_kind": kind, "_name": name, "_keys": chunk})


def replace(tx: Tx, kind: str, name: str, tags: Mapping[str, str]) -> None:
    """Make the resource's tags exactly these (a declarative apply); unchanged ones are not written."""
    current = get(tx, kind, name)
    remove(tx, kind, name, current.keys() - tags.keys())
    put(tx, kind, name, {key: value for key, value in tags.items() if current.get(key) != value})


def delete_all(tx: Tx, kind: str, name: str) -> None:
    """Remove every tag of a resource (it was deleted)."""
    tx.execute(_DELETE_ALL, {"_kind": kind, "_name": name})


def names_with(tx: Tx, kind: str, tags: Mapping[str, str]) -> set[str]:
    """The names of the resources of a kind carrying every given tag, key and value alike (the
    ``Tags`` filter of ListJobs: "only resources with the tag are retrieved"). A value of ""
    matches only a tag whose value is "" (Glue documents no wildcard). An empty filter is no
    filter, which this table cannot answer (untagged resources are not in it): ValueError."""
    if not tags:
        raise ValueError("names_with needs at least one tag: list without a filter instead")
    pairs = sa.or_(*((_t.c.key == key) & (_t.c.value == value) for key, value in tags.items()))
    # (kind, name, key) is the primary key, so a name matching len(tags) pairs matches each once.
    query = (
        sa.select(_t.c.name)
        .where(_t.c.kind == kind, pairs)
        .group_by(_t.c.name)
        .having(sa.func.count() == len(tags))
    )
    return set(tx.execute(query).scalars())
