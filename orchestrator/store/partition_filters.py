"""Glue's partition ``Expression`` compiled to SQL: the WHERE clause of GetPartitions.

``catalog.expressions`` parses an expression into nodes (pure); this turns them into a
SQLAlchemy boolean over the stored partition values, typed by each key's declared Hive type,
so that pruning runs in the database, alike on SQLite and PostgreSQL.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from catalog.expressions import (
    INT64,
    STORED,
    And,
    Between,
    ExpressionError,
    In,
    IsNull,
    Key,
    Kind,
    Like,
    Literal,
    Node,
    Not,
    Or,
    String,
    canonical,
    kind_of,
    parse,
    unsupported,
)
from catalog.expressions import Comparison as Comparison


class _PerDialect(sa.ColumnElement[Any]):
    """One expression written for each dialect, where SQLite and PostgreSQL need different SQL."""

    inherit_cache = True
    _traverse_internals: ClassVar[Any] = [
        ("postgresql", InternalTraversal.dp_clauseelement),
        ("sqlite", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, postgresql: sa.ColumnElement[Any], sqlite: sa.ColumnElement[Any]) -> None:
        self.postgresql, self.sqlite = postgresql, sqlite
        self.type = postgresql.type

    @property
    def _from_objects(self) -> list[Any]:
        return [*self.postgresql._from_objects, *self.sqlite._from_objects]


@compiles(_PerDialect)
def _compile_per_dialect(element: _PerDialect, compiler: Any, **kw: Any) -> str:
    chosen = {"postgresql": element.postgresql, "sqlite": element.sqlite}.get(compiler.dialect.name)
    if chosen is None:
        name = compiler.dialect.name
        raise sa.exc.CompileError(f"partition expressions need sqlite or postgresql, not {name}")
    return f"({compiler.process(chosen, **kw)})"


def _bytewise(value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """Strings in code-point order on both: PostgreSQL's default collation may say 'a' < 'B'."""
    return _PerDialect(sa.collate(value, "C"), sa.collate(value, "BINARY"))


_GLOB = {"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}


def _like(value: sa.ColumnElement[Any], pattern: str) -> sa.ColumnElement[bool]:
    """Case-sensitive LIKE with ``%`` and ``_`` only (a backslash is itself) on both dialects.

    SQLite's LIKE ignores ASCII case, so there the pattern becomes a GLOB.
    """
    pattern = re.sub("%+", "%", pattern)
    postgresql = value.like(pattern.replace("\\", "\\\\"))  # PostgreSQL's LIKE escapes with \
    glob = "".join(_GLOB.get(char, char) for char in pattern)
    sqlite = value.op("GLOB", is_comparison=True)(sa.literal(glob, sa.String()))
    return _PerDialect(postgresql, sqlite)


def _typed(kind: Kind, value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The stored string as the key's type: NULL when it is not one (the guard keeps PostgreSQL's
    CAST from raising on a value such as 'abc' in an int key)."""
    if kind is Kind.STRING:
        return _bytewise(value)
    conforms = value.regexp_match(STORED[kind])
    if kind in (Kind.INTEGER, Kind.DECIMAL):
        return sa.case((conforms, sa.cast(value, sa.Numeric())))
    if kind is Kind.DATE:
        return _bytewise(sa.case((conforms, value)))
    trimmed = sa.func.rtrim(sa.func.rtrim(value, "0", type_=sa.String()), ".", type_=sa.String())
    return _bytewise(sa.case((conforms, sa.case((value.like("%.%"), trimmed), else_=value))))


def _bind(value: str | Decimal) -> sa.ColumnElement[Any]:
    if isinstance(value, str):
        return sa.literal(value, sa.String())
    if value == value.to_integral_value() and int(value) in INT64:
        return sa.literal(int(value), sa.BigInteger())  # exact on SQLite, whose NUMERIC is a float
    return sa.literal(value, sa.Numeric())


_OPERATORS: dict[str, Callable[[Any, Any], sa.ColumnElement[bool]]] = {
    "=": operator.eq, "<>": operator.ne, "<": operator.lt,
    ">": operator.gt, "<=": operator.le, ">=": operator.ge,
}  # fmt: skip


_Value = Callable[[int], sa.ColumnElement[Any]]  # stored partition value number i, as text


@dataclass(frozen=True)
class _Column:
    """A key of the expression resolved against the table."""

    name: str
    type: str
    kind: Kind
    value: sa.ColumnElement[Any]


class _Compiler:
    """Turns nodes into SQL for one expression and one table's keys."""

    def __init__(self, text: str, keys: Sequence[tuple[str, str]], value: _Value) -> None:
        self.text, self.keys, self.value = text, list(keys), value

    def clause(self, node: Node) -> sa.ColumnElement[bool]:
        match node:
            case Or(operands):
                return sa.or_(*map(self.clause, operands))
            case And(operands):
                return sa.and_(*map(self.clause, operands))
            case Not(operand):
                return sa.not_(self.clause(operand))
            case IsNull(key):
                return self.resolve(key).value.is_(None)
            case Comparison(key, op, literal):
                column = self.resolve(key)
                return _OPERATORS[op](_typed(column.kind, column.value), self.bind(column, literal))
            case In(key, items):
                column = self.resolve(key)
                bound = [self.bind(column, item) for item in items]
                return _typed(column.kind, column.value).in_(bound)
            case Between(key, low, high):
                column = self.resolve(key)
                bounds = self.bind(column, low), self.bind(column, high)
                return _typed(column.kind, column.value).between(*bounds)
            case Like(key, pattern):
                column = self.resolve(key)
                if column.kind is not Kind.STRING:
                    where = f"'{column.name}' at column {key.column}"
                    detail = f"LIKE needs a string key, and {where} is {column.type}"
                    raise unsupported(self.text, detail, key.column)
                return _like(column.value, pattern.value)
        raise AssertionError(f"not a node: {node!r}")

    def resolve(self, key: Key) -> _Column:
        wanted = key.name.lower()  # Glue folds names to lower case
        found = [(i, n, t) for i, (n, t) in enumerate(self.keys) if n.lower() == wanted]
        if not found:
            names = ", ".join(name for name, _ in self.keys) or "none"
            where = f"'{key.name}' at column {key.column}"
            detail = f"unknown partition key {where} (the table's keys: {names})"
            raise unsupported(self.text, detail, key.column)
        index, name, type_ = found[0]
        kind = kind_of(type_)
        if kind is None:
            where = f"'{name}' at column {key.column}"
            raise ExpressionError(f"Unknown type : '{type_}' of partition key {where}", key.column)
        return _Column(name, type_, kind, self.value(index))

    def bind(self, column: _Column, literal: Literal) -> sa.ColumnElement[Any]:
        text = literal.value if isinstance(literal, String) else literal.text
        value = canonical(column.kind, text)
        if value is None:
            shown = "'" + text.replace("'", "''") + "'" if isinstance(literal, String) else text
            where = f"{shown} at column {literal.column}"
            detail = f"{where} is not {column.kind.value} for partition key '{column.name}'"
            raise unsupported(self.text, detail, literal.column)
        return _bind(value)


def compile_filter(
    text: str | None,
    keys: Sequence[tuple[str, str]],
    value: Callable[[int], sa.ColumnElement[Any]],
) -> sa.ColumnElement[bool] | None:
    """The WHERE clause for a GetPartitions ``Expression``; None when there is no filter.

    ``keys`` are the table's partition keys, (name, Hive type) in order; ``value(i)`` is the SQL
    text of stored value ``i``. Raises ``ExpressionError`` for any expression that is not valid.
    """
    if text is None or not text.strip():
        return None
    return _Compiler(text, keys, value).clause(parse(text))
