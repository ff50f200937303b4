"""Glue's GetPartitions ``Expression``: a SQL WHERE-like partition filter (glue-semantics §6.3).

``parse`` reads it with a real grammar (lark, LALR) into small frozen nodes, and the key types
here say how a key's stored strings compare; ``orchestrator.store.partition_filters`` compiles
the nodes to SQL, so that pruning runs in the database.
A bad expression only ever comes out as ``ExpressionError``, naming the token and its column.
"""

from __future__ import annotations

import datetime
import enum
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any, ClassVar

import lark

from orchestrator import errors

MAX_LENGTH = 2048  # Glue's PredicateString limit
MAX_DEPTH = 32  # nesting of AND/OR/NOT; keeps every recursion below (ours, SQLAlchemy's) shallow

# Glue's PredicateString pattern, inverted: NUL, other controls and lone surrogates cannot reach
# a driver (PostgreSQL refuses NUL in text; neither driver encodes a lone surrogate).
_BAD_CHARACTER = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class ExpressionError(errors.InvalidInputException):
    """The partition expression cannot be parsed, or does not fit the table's partition keys."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column  # 1-based offset in the expression of the offending token


# ---- the syntax tree; ``column`` is where a node starts (1-based), ignored by ==


@dataclass(frozen=True)
class Key:
    """A partition key as written, without its quotes."""

    name: str
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class String:
    value: str
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Number:
    """A number as written, sign included: typed only once compared with a key."""

    text: str
    column: int = field(default=0, compare=False)


Literal = String | Number


class _Leaf:
    depth: ClassVar[int] = 1  # nesting, kept under MAX_DEPTH


@dataclass(frozen=True)
class Comparison(_Leaf):
    """``key op literal``: ``2020 < year`` is read as ``year > 2020``, ``!=`` as ``<>``."""

    key: Key
    op: str
    literal: Literal
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class In(_Leaf):
    key: Key
    items: tuple[Literal, ...]
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Between(_Leaf):
    key: Key
    low: Literal
    high: Literal
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Like(_Leaf):
    key: Key
    pattern: String
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class IsNull(_Leaf):
    key: Key
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    """Prefix NOT, and the NOT of ``NOT IN``, ``NOT BETWEEN``, ``NOT LIKE``, ``IS NOT NULL``."""

    operand: Node
    column: int = field(default=0, compare=False)

    @cached_property
    def depth(self) -> int:
        return self.operand.depth + 1


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]
    column: int = field(default=0, compare=False)

    @cached_property
    def depth(self) -> int:
        return max(o.depth for o in self.operands) + 1


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]
    column: int = field(default=0, compare=False)

    @cached_property
    def depth(self) -> int:
        return max(o.depth for o in self.operands) + 1


Node = Comparison | In | Between | Like | IsNull | Not | And | Or

# ---- parsing

# Precedence NOT > AND > OR; keywords are case-insensitive and reserved (backquote a key named so).
_GRAMMAR = r"""
?start: disjunction
?disjunction: conjunction (_OR conjunction)*
?conjunction: negation (_AND negation)*
?negation: NOT negation -> not_
         | predicate
?predicate: comparison | in_list | between | like | is_null | "(" disjunction ")"
comparison: key COMPARATOR literal
          | literal COMPARATOR key -> reversed_comparison
in_list: key [NOT] _IN "(" literal ("," literal)* ")"
between: key [NOT] _BETWEEN literal _AND literal
like: key [NOT] _LIKE string
is_null: key _IS [NOT] _NULL
key: NAME | BACKQUOTED | DOUBLEQUOTED
?literal: string | number
string: STRING
number: [SIGN] NUMBER

NOT: "not"i
_AND: "and"i
_OR: "or"i
_IN: "in"i
_BETWEEN: "between"i
_LIKE: "like"i
_IS: "is"i
_NULL: "null"i
COMPARATOR: "=" | "<>" | "!=" | "<=" | ">=" | "<" | ">"
NAME: /[a-z_][a-z0-9_]*/i
BACKQUOTED: /`(?:[^`]|``)*`/
DOUBLEQUOTED: /"(?:[^"]|"")*"/
STRING: /'(?:[^']|'')*'/
NUMBER: /[0-9]+(?:\.[0-9]*)?|\.[0-9]+/
SIGN: "+" | "-"
%import common.WS
%ignore WS
"""

_SAME = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", ">": ">", "<=": "<=", ">=": ">="}
_MIRRORED = {"=": "=", "<>": "<>", "!=": "<>", "<": ">", ">": "<", "<=": ">=", ">=": "<="}


class _Problem(Exception):
    """Raised while building the tree; ``parse`` adds the expression to the message."""

    def __init__(self, detail: str, column: int) -> None:
        super().__init__(detail)
        self.detail, self.column = detail, column


def _at(token: lark.Token) -> int:
    return (token.start_pos or 0) + 1


def _checked(node: Node) -> Node:
    if node.depth > MAX_DEPTH:
        detail = f"nested more than {MAX_DEPTH} levels deep at column {node.column}"
        raise _Problem(detail, node.column)
    return node


def _negated(node: Node, not_token: lark.Token | None) -> Node:
    return node if not_token is None else _checked(Not(node, node.column))


class _Build(lark.Transformer[lark.Token, Any]):
    """Builds the nodes as the LALR parser reduces (no tree, no recursion); stateless, shared."""

    def disjunction(self, items: list[Node]) -> Node:
        return _checked(Or(tuple(items), items[0].column))

    def conjunction(self, items: list[Node]) -> Node:
        return _checked(And(tuple(items), items[0].column))

    def not_(self, items: tuple[lark.Token, Node]) -> Node:
        token, operand = items
        return _checked(Not(operand, _at(token)))

    def comparison(self, items: tuple[Key, lark.Token, Literal]) -> Node:
        key, op, literal = items
        return Comparison(key, _SAME[op], literal, key.column)

    def reversed_comparison(self, items: tuple[Literal, lark.Token, Key]) -> Node:
        literal, op, key = items
        return Comparison(key, _MIRRORED[op], literal, literal.column)

    def in_list(self, items: list[Any]) -> Node:
        key, negated, *literals = items
        return _negated(In(key, tuple(literals), key.column), negated)

    def between(self, items: tuple[Key, lark.Token | None, Literal, Literal]) -> Node:
        key, negated, low, high = items
        return _negated(Between(key, low, high, key.column), negated)

    def like(self, items: tuple[Key, lark.Token | None, String]) -> Node:
        key, negated, pattern = items
        return _negated(Like(key, pattern, key.column), negated)

    def is_null(self, items: tuple[Key, lark.Token | None]) -> Node:
        key, negated = items
        return _negated(IsNull(key, key.column), negated)

    def key(self, items: tuple[lark.Token]) -> Key:
        (token,) = items
        if token.type == "NAME":
            return Key(str(token), _at(token))
        quote = token[0]
        return Key(token[1:-1].replace(quote * 2, quote), _at(token))

    def string(self, items: tuple[lark.Token]) -> String:
        (token,) = items
        return String(token[1:-1].replace("''", "'"), _at(token))

    def number(self, items: tuple[lark.Token | None, lark.Token]) -> Number:
        sign, digits = items
        return Number(f"{sign or ''}{digits}", _at(sign or digits))


# The basic lexer makes keywords reserved everywhere (lark's contextual one would read a
# keyword where it cannot appear, as in ``and = 1``, as a key).
_PARSER = lark.Lark(_GRAMMAR, parser="lalr", lexer="basic", transformer=_Build())


def _shown(text: str) -> str:
    """The expression as echoed in a message: bounded, and nothing a terminal or log chokes on."""
    text = _BAD_CHARACTER.sub("\ufffd", text)
    return text if len(text) <= 200 else f"{text[:200]}..."


def unsupported(text: str, detail: str, column: int | None) -> ExpressionError:
    return ExpressionError(f"Unsupported expression '{_shown(text)}': {detail}", column)


def parse(text: str) -> Node:
    """The syntax tree of a GetPartitions expression; ``ExpressionError`` if it is not one."""
    if len(text) > MAX_LENGTH:
        raise unsupported(text, f"longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    if bad := _BAD_CHARACTER.search(text):
        column = bad.start() + 1
        raise unsupported(text, f"character U+{ord(bad[0]):04X} at column {column}", column)
    try:
        return _PARSER.parse(text)  # type: ignore[no-any-return]
    except _Problem as problem:
        raise unsupported(text, problem.detail, problem.column) from None
    except lark.exceptions.UnexpectedInput as exc:
        detail, column = _syntax_problem(text, exc)
        raise unsupported(text, f"{detail} at column {column}", column) from None


_UNTERMINATED = {"'": "unterminated string", "`": "unterminated name", '"': "unterminated name"}


def _syntax_problem(text: str, exc: lark.exceptions.UnexpectedInput) -> tuple[str, int]:
    if isinstance(exc, lark.exceptions.UnexpectedCharacters) and exc.pos_in_stream is not None:
        char = text[exc.pos_in_stream]
        detail = _UNTERMINATED.get(char, f"unexpected '{char}'")
        return detail, exc.pos_in_stream + 1
    token = getattr(exc, "token", None)
    if isinstance(token, lark.Token) and token.type != "$END" and token.start_pos is not None:
        return f"unexpected '{token}'", token.start_pos + 1
    return "unexpected end of expression", len(text) + 1


# ---- types: how a key's stored strings compare


class Kind(enum.Enum):
    STRING = "a string"
    INTEGER = "an integer"
    DECIMAL = "a decimal"
    DATE = "a date ('yyyy-mm-dd')"
    TIMESTAMP = "a timestamp ('yyyy-mm-dd hh:mm:ss[.fffffffff]')"


KINDS = [
    (re.compile(r"string|(?:var)?char(?:\(\s*[0-9]+\s*\))?"), Kind.STRING),
    (re.compile(r"int|integer|bigint|long|tinyint|smallint"), Kind.INTEGER),
    (re.compile(r"decimal(?:\(\s*[0-9]+\s*(?:,\s*[0-9]+\s*)?\))?"), Kind.DECIMAL),
    (re.compile(r"date"), Kind.DATE),
    (re.compile(r"timestamp"), Kind.TIMESTAMP),
]

# What a stored value must look like to have the key's type; the same \A..\Z regex runs as
# PostgreSQL's ``~`` and as SQLite's REGEXP (Python's re.search, registered by SQLAlchemy).
# A value that does not conform is NULL once typed, so it matches no comparison.
STORED = {
    Kind.INTEGER: r"\A[+-]?[0-9]+\Z",
    Kind.DECIMAL: r"\A[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\Z",
    Kind.DATE: r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z",
    Kind.TIMESTAMP: r"\A[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?\Z",
}
# Literals are numbers as stored, but dates and timestamps are read a little more leniently
# (moto's strptime accepts '2020-1-5'), then written canonically: canonical dates and timestamps
# order as strings, so they need no cast.
_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2}) "
    r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.([0-9]{1,9}))?"
)
INT64 = range(-(2**63), 2**63)


def kind_of(type_: str) -> Kind | None:
    type_ = type_.strip().lower()
    return next((kind for pattern, kind in KINDS if pattern.fullmatch(type_)), None)


def canonical(kind: Kind, text: str) -> str | Decimal | None:
    """The literal as the key's type, or None if it is not one."""
    try:
        if kind is Kind.STRING:
            return text
        if kind in (Kind.INTEGER, Kind.DECIMAL):
            return Decimal(text) if re.search(STORED[kind], text) else None
        if kind is Kind.DATE and (match := _DATE.fullmatch(text)):
            return datetime.date(*map(int, match.groups())).isoformat()
        if kind is Kind.TIMESTAMP and (match := _TIMESTAMP.fullmatch(text)):
            *whole, fraction = match.groups()
            moment = datetime.datetime(*map(int, whole)).isoformat(sep=" ")
            # '.50' equals '.5' (the stored side is trimmed the same way)
            fraction = (fraction or "").rstrip("0")
            return f"{moment}.{fraction}" if fraction else moment
    except ValueError:  # a date that does not exist, such as 2021-02-29
        return None
    return None
