"""A job's own SQL table as a bookmarked source (``Job.rows``): Glue's JDBC bookmark keys.

The only runtime module that speaks SQL, and only to the job's data, never to adhere's store.
The table is reflected (its columns, types and primary key) so that identifiers are quoted by
the dialect and the bookmark's values are bound with the columns' types. Rows beyond the last
bookmarked key are selected with a lexicographic predicate that every database runs alike:
``(k1 > v1) OR (k1 = v1 AND k2 > v2)`` (``<`` for ``desc``), ordered by the keys.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from orchestrator import errors

KeyFilter = tuple[str, Sequence[Any]]  # ("gt" | "lt", the last bookmarked values)


@dataclass(frozen=True)
class Source:
    """A reflected table on an open connection."""

    name: str  # as the job named it: "table" or "schema.table"
    table: sa.Table
    conn: sa.Connection
    keys: tuple[str, ...]  # the keys asked for, else the primary key

    def select(self, keys: Sequence[str], order: str, *, after: KeyFilter | None = None,
               upto: Sequence[Any] | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """The rows beyond ``after`` and (a rewind window's end) not beyond ``upto``, ordered
        by ``keys`` (``order`` "asc" or "desc"), as dicts of column name to value."""
        columns = [self.table.c[k] for k in keys]
        query = sa.select(self.table)
        if after is not None:
            way, values = after
            query = query.where(_beyond(columns, way, self._bound(columns, values)))
        if upto is not None:
            query = query.where(sa.not_(_beyond(columns, "gt" if order == "asc" else "lt",
                                                self._bound(columns, upto))))  # fmt: skip
        query = query.order_by(*(c.asc() if order == "asc" else c.desc() for c in columns))
        return [dict(row._mapping) for row in self.conn.execute(query)]

    @staticmethod
    def _bound(columns: Sequence[sa.Column[Any]], values: Sequence[Any]) -> list[Any]:
        """The state's values as the columns take them (its datetimes are ISO strings)."""
        if len(values) != len(columns):
            raise errors.InvalidInputException(
                f"the bookmark holds {len(values)} key values for {len(columns)} keys")
        return [_typed(c, v) for c, v in zip(columns, values, strict=True)]


def _typed(column: sa.Column[Any], value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return value
    for cls in (dt.datetime, dt.date, dt.time):
        if kind is cls:
            return cls.fromisoformat(value)
    return value


def _beyond(columns: Sequence[sa.Column[Any]], way: str, values: Sequence[Any]) -> Any:
    """(k1, k2, ...) > (v1, v2, ...) lexicographically ("gt"), or < ("lt"), spelt out."""
    terms = []
    for i, column in enumerate(columns):
        equal = [columns[j] == values[j] for j in range(i)]
        terms.append(sa.and_(*equal, column > values[i] if way == "gt" else column < values[i]))
    return sa.or_(*terms)


@contextlib.contextmanager
def source(engine_or_url: Any, table: str, keys: Sequence[str] | str | None) -> Iterator[Source]:
    """``table`` reflected on ``engine_or_url`` (a SQLAlchemy URL, Engine or Connection: a URL
    or an Engine is connected here and closed after; a Connection is the caller's)."""
    if not isinstance(table, str) or not table.strip():
        raise errors.InvalidInputException(f"a table source needs a table name, not {table!r}")
    if isinstance(engine_or_url, str | sa.URL):
        engine = sa.create_engine(engine_or_url)
        try:
            with engine.connect() as conn:
                yield _reflect(conn, table, keys)
        finally:
            engine.dispose()
    elif isinstance(engine_or_url, sa.Engine):
        with engine_or_url.connect() as conn:
            yield _reflect(conn, table, keys)
    elif isinstance(engine_or_url, sa.Connection):
        yield _reflect(engine_or_url, table, keys)
    else:
        raise errors.InvalidInputException(
            f"a table source reads a SQLAlchemy URL, Engine or Connection, not {type(engine_or_url).__name__}")


def _reflect(conn: sa.Connection, name: str, keys: Sequence[str] | str | None) -> Source:
    schema, _, bare = name.rpartition(".")
    try:
        table = sa.Table(bare, sa.MetaData(), autoload_with=conn, schema=schema or None)
    except sa.exc.NoSuchTableError:
        raise errors.InvalidInputException(f"table {name} does not exist") from None
    if keys is None:
        found = tuple(c.name for c in table.primary_key.columns)
        if not found:
            raise errors.InvalidInputException(
                f"table {name} has no primary key: give its bookmark keys (jobBookmarkKeys)")
        return Source(name, table, conn, found)
    wanted = tuple(k.strip() for k in keys.split(",")) if isinstance(keys, str) else tuple(keys)
    missing = [k for k in wanted if k not in table.c]
    if missing:
        raise errors.InvalidInputException(
            f"table {name} has no column {', '.join(map(str, missing))} (it has {', '.join(table.c.keys())})")
    return Source(name, table, conn, wanted)
