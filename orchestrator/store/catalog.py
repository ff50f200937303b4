"""The Data Catalog's rows: databases, tables, archived table versions and partitions (Glue's
CreateDatabase ... BatchDeletePartition), as verbs over typed rows that take the caller's ``Tx``.

Rows keep Glue's input shapes whole (DatabaseInput, TableInput, PartitionInput); the service
checks them and shapes Glue's responses. Names arrive folded to lowercase. Nothing here commits,
so a crawler writes tables and partitions in its own transaction with these same verbs.

Deletes cascade here, in the caller's transaction (Glue does it later, asynchronously): a
database takes its tables, their versions and partitions; a table its versions and partitions.
The parent row goes first, so that a writer holding its lock (``lock=True`` below) finishes
before the children are deleted, and one that comes later finds no parent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from orchestrator.store import database, tables
from orchestrator.store.database import Tx

_d, _t, _v, _p = tables.catalog_databases, tables.catalog_tables, tables.catalog_table_versions, tables.catalog_partitions
_CHUNK = 5000  # SQLite takes at most 32,766 parameters


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


@functools.cache
def _insert_new(postgres: bool, table: sa.Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the dialect's words: a name taken meanwhile by another
    writer makes the insert a no-op (the caller reports AlreadyExists), not a key violation.
    Callers add RETURNING to learn what was inserted (psycopg's rowcount says -1 here)."""
    if postgres:
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()


def _locked(tx: Tx, query: Any, lock: bool) -> Any:
    """Hold the parent row until the transaction ends: FOR KEY SHARE lets other writers of
    children in (and updates of the row), and keeps its deletion out."""
    return query.with_for_update(read=True, key_share=True) if lock and tx.is_postgres else query


# --- databases ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Database:
    """A database: its DatabaseInput as stored (``Name`` folded)."""

    name: str
    definition: dict[str, Any]
    create_time: dt.datetime


def get_database(tx: Tx, name: str, *, lock: bool = False) -> Database | None:
    found = tx.execute(_locked(tx, sa.select(_d).where(_d.c.name == name), lock)).first()
    return Database(*found) if found else None


def get_databases(tx: Tx, names: Iterable[str]) -> dict[str, Database]:
    """Several databases by name; missing ones are absent."""
    found: dict[str, Database] = {}
    for chunk in _chunks(sorted(set(names))):
        for r in tx.execute(sa.select(_d).where(_d.c.name.in_(chunk))):
            found[r.name] = Database(*r)
    return found


def find_databases(tx: Tx, *, after: str | None = None, limit: int | None = None) -> list[Database]:
    """Databases in name order, named after ``after`` (a page's keyset), at most ``limit``."""
    query = sa.select(_d).order_by(_d.c.name)
    if after is not None:
        query = query.where(_d.c.name > after)
    return [Database(*r) for r in tx.execute(query if limit is None else query.limit(limit))]


def create_database(tx: Tx, name: str, definition: Mapping[str, Any], now: dt.datetime) -> bool:
    """False (nothing written) when the name is taken."""
    values = {"name": name, "definition": dict(definition), "create_time": now}
    return tx.execute(_insert_new(tx.is_postgres, _d).returning(_d.c.name), values).first() is not None


def update_database(tx: Tx, name: str, definition: Mapping[str, Any]) -> bool:
    """Replace a database's DatabaseInput; False when there is none."""
    query = sa.update(_d).where(_d.c.name == name).values(definition=dict(definition))
    return tx.execute(query).rowcount > 0


def delete_database(tx: Tx, name: str) -> bool:
    """Delete a database with its tables, their versions and partitions; False when there was none."""
    gone = tx.execute(sa.delete(_d).where(_d.c.name == name)).rowcount > 0
    for table in (_p, _v, _t):
        tx.execute(sa.delete(table).where(table.c.database_name == name))
    return gone


# --- tables ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Table:
    """A table's current state: its TableInput as stored (``Name`` folded) and its version."""

    database_name: str
    name: str
    definition: dict[str, Any]
    version_id: int
    create_time: dt.datetime
    update_time: dt.datetime

    @property
    def partition_keys(self) -> list[tuple[str, str]]:
        """(name, Hive type) of each partition key, in order (a key without a type is a string)."""
        return [(str(c.get("Name")), str(c.get("Type") or "string")) for c in self.definition.get("PartitionKeys") or []]


def get_table(tx: Tx, database_name: str, name: str, *, lock: bool = False) -> Table | None:
    query = sa.select(_t).where(_t.c.database_name == database_name, _t.c.name == name)
    found = tx.execute(_locked(tx, query, lock)).first()
    return Table(*found) if found else None


def get_tables(tx: Tx, database_name: str, names: Iterable[str]) -> dict[str, Table]:
    """Several tables of a database by name; missing ones are absent."""
    found: dict[str, Table] = {}
    for chunk in _chunks(sorted(set(names))):
        query = sa.select(_t).where(_t.c.database_name == database_name, _t.c.name.in_(chunk))
        found |= {r.name: Table(*r) for r in tx.execute(query)}
    return found


def find_tables(tx: Tx, database_name: str | None, *, after: str | None = None,
                limit: int | None = None) -> list[Table]:
    """Tables of a database (every database's with None) in (database, name) order, named after
    ``after`` (a page's keyset within one database), at most ``limit``."""
    query = sa.select(_t).order_by(_t.c.database_name, _t.c.name)
    if database_name is not None:
        query = query.where(_t.c.database_name == database_name)
    if after is not None:
        query = query.where(_t.c.name > after)
    return [Table(*r) for r in tx.execute(query if limit is None else query.limit(limit))]


def table_names(tx: Tx, database_name: str, *, after: str | None = None) -> list[str]:
    """The names of a database's tables in order, after ``after``."""
    query = sa.select(_t.c.name).where(_t.c.database_name == database_name).order_by(_t.c.name)
    if after is not None:
        query = query.where(_t.c.name > after)
    return list(tx.execute(query).scalars())


def create_table(tx: Tx, database_name: str, name: str, definition: Mapping[str, Any],
                 now: dt.datetime) -> Table | None:
    """A new table at version 0; None (nothing written) when the name is taken."""
    row = Table(database_name, name, dict(definition), 0, now, now)
    statement = _insert_new(tx.is_postgres, _t).returning(_t.c.name)
    created = tx.execute(statement, database.values(row)).first() is not None
    return row if created else None


def update_table(tx: Tx, current: Table, definition: Mapping[str, Any], now: dt.datetime,
                 *, archive: bool) -> Table | None:
    """Replace a table's TableInput as its next version, archiving ``current`` first unless not
    ``archive``. None (nothing written) when the table is no longer at ``current``'s version:
    the update is conditional on it, so two writers of one version cannot both win."""
    query = (
        sa.update(_t)
        .where(_t.c.database_name == current.database_name, _t.c.name == current.name,
               _t.c.version_id == current.version_id)
        .values(definition=dict(definition), version_id=current.version_id + 1, update_time=now)
    )  # fmt: skip
    if tx.execute(query).rowcount != 1:
        return None
    if archive:
        tx.execute(sa.insert(_v), {"database_name": current.database_name, "table_name": current.name,
                                   "version_id": current.version_id, "definition": current.definition,
                                   "create_time": current.create_time, "update_time": current.update_time})
    return dataclasses.replace(current, definition=dict(definition), version_id=current.version_id + 1,
                               update_time=now)


def delete_table(tx: Tx, database_name: str, name: str) -> bool:
    """Delete a table with its versions and partitions; False when there was none."""
    gone = tx.execute(sa.delete(_t).where(_t.c.database_name == database_name, _t.c.name == name)).rowcount > 0
    for table in (_p, _v):
        tx.execute(sa.delete(table).where(table.c.database_name == database_name, table.c.table_name == name))
    return gone


# --- table versions ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class TableVersion:
    """An archived state of a table: the TableInput it had at ``version_id``, with its times."""

    database_name: str
    table_name: str
    version_id: int
    definition: dict[str, Any]
    create_time: dt.datetime
    update_time: dt.datetime

    @classmethod
    def of(cls, table: Table) -> TableVersion:
        """A table's current state, as a version."""
        return cls(table.database_name, table.name, table.version_id, table.definition, table.create_time,
                   table.update_time)


def _of_table(database_name: str, table_name: str) -> sa.ColumnElement[bool]:
    return (_v.c.database_name == database_name) & (_v.c.table_name == table_name)


def get_version(tx: Tx, database_name: str, table_name: str, version_id: int) -> TableVersion | None:
    query = sa.select(_v).where(_of_table(database_name, table_name), _v.c.version_id == version_id)
    found = tx.execute(query).first()
    return TableVersion(*found) if found else None


def find_versions(tx: Tx, database_name: str, table_name: str, *, before: int | None = None,
                  limit: int | None = None) -> list[TableVersion]:
    """A table's archived versions, newest first, older than ``before``, at most ``limit``."""
    query = sa.select(_v).where(_of_table(database_name, table_name)).order_by(_v.c.version_id.desc())
    if before is not None:
        query = query.where(_v.c.version_id < before)
    return [TableVersion(*r) for r in tx.execute(query if limit is None else query.limit(limit))]


def delete_versions(tx: Tx, database_name: str, table_name: str, version_ids: Iterable[int]) -> set[int]:
    """Delete archived versions; returns those that were there."""
    gone: set[int] = set()
    for chunk in _chunks(sorted(set(version_ids))):
        query = sa.delete(_v).where(_of_table(database_name, table_name), _v.c.version_id.in_(chunk))
        gone |= set(tx.execute(query.returning(_v.c.version_id)).scalars())
    return gone


# --- partitions --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Partition:
    """A partition: its values (in the order of the table's keys) and its PartitionInput."""

    id: int
    database_name: str
    table_name: str
    values: list[str]
    values_key: str
    definition: dict[str, Any]
    create_time: dt.datetime
    update_time: dt.datetime


def values_key(values: Sequence[str]) -> str:
    """The key that makes a partition unique in its table: a digest of its values, as JSON."""
    return hashlib.sha256(json.dumps(list(values), separators=(",", ":")).encode()).hexdigest()


def partition_value(i: int) -> sa.ColumnElement[str]:
    """The SQL expression for a partition's value ``i`` as a string (what expressions compare)."""
    return _p.c["values"][i].as_string()


def _in_table(database_name: str, table_name: str) -> sa.ColumnElement[bool]:
    return (_p.c.database_name == database_name) & (_p.c.table_name == table_name)


def get_partitions(tx: Tx, database_name: str, table_name: str,
                   values: Iterable[Sequence[str]]) -> dict[str, Partition]:
    """Partitions by their values, keyed by ``values_key``; missing ones are absent."""
    found: dict[str, Partition] = {}
    for chunk in _chunks(sorted({values_key(v) for v in values})):
        query = sa.select(_p).where(_in_table(database_name, table_name), _p.c.values_key.in_(chunk))
        found |= {r.values_key: Partition(*r) for r in tx.execute(query)}
    return found


def get_partition(tx: Tx, database_name: str, table_name: str, values: Sequence[str]) -> Partition | None:
    return get_partitions(tx, database_name, table_name, [values]).get(values_key(values))


def find_partitions(tx: Tx, table: Table, *, expression: str | None = None,
                    segment: tuple[int, int] | None = None, after: int | None = None,
                    limit: int | None = None) -> list[Partition]:
    """A table's partitions in creation order, pruned in SQL: only those ``expression`` (Glue's
    GetPartitions filter, compiled by ``partition_filters``) selects, only segment ``(number,
    total)`` of the table's (by ``id`` modulo ``total``: disjoint segments that cover it), after
    the partition with id ``after`` (a page's keyset), at most ``limit``. A bad expression raises
    ``catalog.expressions.ExpressionError`` (InvalidInputException)."""
    query = sa.select(_p).where(_in_table(table.database_name, table.name)).order_by(_p.c.id)
    if expression is not None and expression.strip():
        from orchestrator.store import (
            partition_filters,  # the parser loads only when a filter is given
        )

        condition = partition_filters.compile_filter(expression, table.partition_keys, partition_value)
        if condition is not None:
            query = query.where(condition)
    if segment is not None:
        number, total = segment
        query = query.where(_p.c.id % total == number)
    if after is not None:
        query = query.where(_p.c.id > after)
    return [Partition(*r) for r in tx.execute(query if limit is None else query.limit(limit))]


def create_partitions(tx: Tx, database_name: str, table_name: str,
                      inputs: Sequence[tuple[Sequence[str], Mapping[str, Any]]], now: dt.datetime) -> set[str]:
    """Insert partitions given as (values, PartitionInput); returns the ``values_key`` of those
    created. One whose values the table has already (or that is twice in ``inputs``) is skipped."""
    rows = [{"database_name": database_name, "table_name": table_name, "values": list(values),
             "values_key": values_key(values), "definition": dict(definition), "create_time": now,
             "update_time": now} for values, definition in inputs]  # fmt: skip
    created: set[str] = set()
    statement = _insert_new(tx.is_postgres, _p).returning(_p.c.values_key)
    for chunk in _chunks(rows):
        created |= set(tx.execute(statement, list(chunk)).scalars())
    return created


def update_partition(tx: Tx, database_name: str, table_name: str, values: Sequence[str],
                     definition: Mapping[str, Any], now: dt.datetime) -> bool:
    """Replace a partition's PartitionInput (its values stay); False when there is none."""
    query = (
        sa.update(_p)
        .where(_in_table(database_name, table_name), _p.c.values_key == values_key(values))
        .values(definition=dict(definition), update_time=now)
    )
    return tx.execute(query).rowcount > 0


def delete_partitions(tx: Tx, database_name: str, table_name: str, values: Iterable[Sequence[str]]) -> set[str]:
    """Delete partitions by their values; returns the ``values_key`` of those that were there."""
    gone: set[str] = set()
    for chunk in _chunks(sorted({values_key(v) for v in values})):
        query = sa.delete(_p).where(_in_table(database_name, table_name), _p.c.values_key.in_(chunk))
        gone |= set(tx.execute(query.returning(_p.c.values_key)).scalars())
    return gone
