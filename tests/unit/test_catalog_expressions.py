"""GetPartitions expressions: the grammar, the tree, and every way an expression is refused.

Pure: SQL is only built and compiled for both dialects here, never run (that is
``tests/integration/test_catalog_expressions_sql.py``).
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import mysql, postgresql, sqlite

from catalog import expressions
from catalog.expressions import (
    And,
    Between,
    Comparison,
    ExpressionError,
    In,
    IsNull,
    Key,
    Like,
    Not,
    Number,
    Or,
    String,
    parse,
)
from orchestrator import errors
from orchestrator.store.partition_filters import compile_filter

YEAR, MONTH, NAME = Key("year"), Key("month"), Key("name")


def _eq(key: Key, number: str) -> Comparison:
    return Comparison(key, "=", Number(number))


A, B, C = _eq(Key("a"), "1"), _eq(Key("b"), "2"), _eq(Key("c"), "3")

PARSED = [
    # every comparison operator; != is <>
    ("year = 2020", Comparison(YEAR, "=", Number("2020"))),
    ("year <> 2020", Comparison(YEAR, "<>", Number("2020"))),
    ("year != 2020", Comparison(YEAR, "<>", Number("2020"))),
    ("year < 2020", Comparison(YEAR, "<", Number("2020"))),
    ("year > 2020", Comparison(YEAR, ">", Number("2020"))),
    ("year <= 2020", Comparison(YEAR, "<=", Number("2020"))),
    ("year >= 2020", Comparison(YEAR, ">=", Number("2020"))),
    ("year>=2020", Comparison(YEAR, ">=", Number("2020"))),
    # a literal on the left is mirrored
    ("2020 < year", Comparison(YEAR, ">", Number("2020"))),
    ("2020 > year", Comparison(YEAR, "<", Number("2020"))),
    ("2020 <= year", Comparison(YEAR, ">=", Number("2020"))),
    ("2020 >= year", Comparison(YEAR, "<=", Number("2020"))),
    ("2020 = year", Comparison(YEAR, "=", Number("2020"))),
    ("2020 != year", Comparison(YEAR, "<>", Number("2020"))),
    ("'x' <> name", Comparison(NAME, "<>", String("x"))),
    # literals
    ("name = 'a b'", Comparison(NAME, "=", String("a b"))),
    ("name = ''", Comparison(NAME, "=", String(""))),
    ("name = 'it''s'", Comparison(NAME, "=", String("it's"))),
    ("name = ''''", Comparison(NAME, "=", String("'"))),
    ("name = 'and or not'", Comparison(NAME, "=", String("and or not"))),
    ("name = '\"é\\%'", Comparison(NAME, "=", String('"é\\%'))),
    ("year = -1", Comparison(YEAR, "=", Number("-1"))),
    ("year = - 1", Comparison(YEAR, "=", Number("-1"))),
    ("year = +1", Comparison(YEAR, "=", Number("+1"))),
    ("year = 1.50", Comparison(YEAR, "=", Number("1.50"))),
    ("year = .5", Comparison(YEAR, "=", Number(".5"))),
    ("year = 5.", Comparison(YEAR, "=", Number("5."))),
    ("year = 007", Comparison(YEAR, "=", Number("007"))),
    ("year<-1", Comparison(YEAR, "<", Number("-1"))),
    ("-1 < year", Comparison(YEAR, ">", Number("-1"))),
    # names: quoted, case kept (matching is case-insensitive), keyword prefixes are names
    ("`my key` = 1", _eq(Key("my key"), "1")),
    ("`a``b` = 1", _eq(Key("a`b"), "1")),
    ("`and` = 1", _eq(Key("and"), "1")),
    ("`` = 1", _eq(Key(""), "1")),
    ('"year" = 1', _eq(YEAR, "1")),
    ('"a""b" = 1', _eq(Key('a"b'), "1")),
    ("YEAR = 1", _eq(Key("YEAR"), "1")),
    ("_x9 = 1", _eq(Key("_x9"), "1")),
    ("andy = 1", _eq(Key("andy"), "1")),
    ("nota = 1", _eq(Key("nota"), "1")),
    ("order_ = 1", _eq(Key("order_"), "1")),
    ("in_x = 1", _eq(Key("in_x"), "1")),
    ("isnull = 1", _eq(Key("isnull"), "1")),
    ("likes = 1", _eq(Key("likes"), "1")),
    ("between1 = 1", _eq(Key("between1"), "1")),
    ("nullable = 1", _eq(Key("nullable"), "1")),
    ("ORacle = 1", _eq(Key("ORacle"), "1")),
    # IN, BETWEEN, LIKE, IS NULL, and their NOT forms
    ("year IN (1)", In(YEAR, (Number("1"),))),
    ("year IN (1, '2', -3)", In(YEAR, (Number("1"), String("2"), Number("-3")))),
    ("year NOT IN (1,2)", Not(In(YEAR, (Number("1"), Number("2"))))),
    ("year BETWEEN 1 AND 2", Between(YEAR, Number("1"), Number("2"))),
    ("year BETWEEN '1' AND -2", Between(YEAR, String("1"), Number("-2"))),
    ("year NOT BETWEEN 1 AND 2", Not(Between(YEAR, Number("1"), Number("2")))),
    ("name LIKE 'a%_'", Like(NAME, String("a%_"))),
    ("name NOT LIKE 'a%'", Not(Like(NAME, String("a%")))),
    ("name IS NULL", IsNull(NAME)),
    ("name IS NOT NULL", Not(IsNull(NAME))),
    ("NOT name IS NULL", Not(IsNull(NAME))),
    ("NOT name IS NOT NULL", Not(Not(IsNull(NAME)))),
    ("NOT NOT a = 1", Not(Not(A))),
    ("NOT year IN (1)", Not(In(YEAR, (Number("1"),)))),
    # keywords in any case, any whitespace
    ("year between 1 and 2", Between(YEAR, Number("1"), Number("2"))),
    ("year BeTwEeN 1 AnD 2", Between(YEAR, Number("1"), Number("2"))),
    ("name Is NoT nUlL", Not(IsNull(NAME))),
    ("year not in (1)", Not(In(YEAR, (Number("1"),)))),
    ("name like 'x'", Like(NAME, String("x"))),
    ("a = 1 and b = 2 or c = 3", Or((And((A, B)), C))),
    ("not a = 1", Not(A)),
    ("\ta = 1\n\tAND\r\nb = 2 ", And((A, B))),
    # precedence NOT > AND > OR, chains are flat, parentheses group
    ("a = 1 AND b = 2 AND c = 3", And((A, B, C))),
    ("a = 1 OR b = 2 OR c = 3", Or((A, B, C))),
    ("a = 1 OR b = 2 AND c = 3", Or((A, And((B, C))))),
    ("a = 1 AND b = 2 OR c = 3", Or((And((A, B)), C))),
    ("(a = 1 OR b = 2) AND c = 3", And((Or((A, B)), C))),
    ("a = 1 AND (b = 2 OR c = 3)", And((A, Or((B, C))))),
    ("NOT a = 1 AND b = 2", And((Not(A), B))),
    ("NOT a = 1 OR b = 2", Or((Not(A), B))),
    ("NOT (a = 1 OR b = 2)", Not(Or((A, B)))),
    ("a = 1 OR NOT b = 2 AND c = 3", Or((A, And((Not(B), C))))),
    ("((a = 1))", A),
    ("(a = 1) AND ((b = 2))", And((A, B))),
    # BETWEEN's AND belongs to BETWEEN
    (
        "year BETWEEN 1 AND 2 AND month = 3",
        And((Between(YEAR, Number("1"), Number("2")), _eq(MONTH, "3"))),
    ),
    (
        "year NOT BETWEEN 1 AND 2 OR year BETWEEN 5 AND 6",
        Or((Not(Between(YEAR, Number("1"), Number("2"))), Between(YEAR, Number("5"), Number("6")))),
    ),
]


@pytest.mark.parametrize(("text", "tree"), PARSED, ids=[t for t, _ in PARSED])
def test_parse(text: str, tree: expressions.Node) -> None:
    assert parse(text) == tree


def test_nodes_know_their_columns() -> None:
    tree = parse("2020 < year AND NOT `m` IN (1, 'x')")
    assert isinstance(tree, And)
    first, second = tree.operands
    assert isinstance(first, Comparison) and isinstance(second, Not)
    assert (first.column, first.key.column, first.literal.column) == (1, 8, 1)
    inner = second.operand
    assert isinstance(inner, In)
    assert (second.column, inner.key.column, [i.column for i in inner.items]) == (17, 21, [29, 32])


def test_nodes_are_frozen() -> None:
    with pytest.raises(AttributeError):
        parse("a = 1").op = "<"  # type: ignore[misc]


def _error(text: str, keys: list[tuple[str, str]] | None = None) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        if keys is None:
            parse(text)
        else:
            compile_filter(text, keys, _value)
    return caught.value


SYNTAX_ERRORS = [
    ("year >> 1", "unexpected '>' at column 7", 7),
    ("year = ", "unexpected end of expression at column 8", 8),
    ("", "unexpected end of expression at column 1", 1),
    ("(year = 1", "unexpected end of expression at column 10", 10),
    ("year = 1 AND", "unexpected end of expression at column 13", 13),
    ("year BETWEEN 1", "unexpected end of expression at column 15", 15),
    ("year = 'abc", "unterminated string at column 8", 8),
    ("`year = 1", "unterminated name at column 1", 1),
    ('"year = 1', "unterminated name at column 1", 1),
    ("year = 1e5", "unexpected 'e5' at column 9", 9),
    ("year = month", "unexpected 'month' at column 8", 8),
    ("1 = 1", "unexpected '1' at column 5", 5),
    ("'a' = 'a'", "unexpected ''a'' at column 7", 7),
    ("year IN ()", "unexpected ')' at column 10", 10),
    ("year IN 1", "unexpected '1' at column 9", 9),
    ("year IN (1,)", "unexpected ')' at column 12", 12),
    ("year LIKE 5", "unexpected '5' at column 11", 11),
    ("year LIKE name", "unexpected 'name' at column 11", 11),
    ("year IS 5", "unexpected '5' at column 9", 9),
    ("year IS NOT", "unexpected end of expression at column 12", 12),
    ("and = 1", "unexpected 'and' at column 1", 1),
    ("year = 1)", "unexpected ')' at column 9", 9),
    ("year = 1 year = 2", "unexpected 'year' at column 10", 10),
    ("year # 1", "unexpected '#' at column 6", 6),
    ("year == 1", "unexpected '=' at column 7", 7),
    ("year = --1", "unexpected '-' at column 9", 9),
    ("year = TRUE", "unexpected 'TRUE' at column 8", 8),
    ("year = NULL", "unexpected 'NULL' at column 8", 8),
    ("NOT", "unexpected end of expression at column 4", 4),
    ("()", "unexpected ')' at column 2", 2),
    ("year BETWEEN 1 OR 2", "unexpected 'OR' at column 16", 16),
    ("name = 'x' ;", "unexpected ';' at column 12", 12),
    ("year = 1 -- comment", "unexpected '-' at column 10", 10),
    ("name = 'a\x00'", "character U+0000 at column 10", 10),
    ("name = '\x1b'", "character U+001B at column 9", 9),
    ("name = '\ud800'", "character U+D800 at column 9", 9),
    ("name = '\ufffe'", "character U+FFFE at column 9", 9),
]


@pytest.mark.parametrize(
    ("text", "detail", "column"), SYNTAX_ERRORS, ids=[t for t, _, _ in SYNTAX_ERRORS]
)
def test_syntax_errors_name_the_token_and_its_column(text: str, detail: str, column: int) -> None:
    error = _error(text)
    shown = expressions._BAD_CHARACTER.sub("\ufffd", text)
    assert error.message == f"Unsupported expression '{shown}': {detail}"
    assert error.column == column


def test_the_message_of_the_brief() -> None:
    assert (
        _error("year >> 1").message
        == "Unsupported expression 'year >> 1': unexpected '>' at column 7"
    )


def test_an_expression_error_is_glues_invalid_input() -> None:
    error = _error("year >> 1")
    assert isinstance(error, errors.InvalidInputException)
    assert (error.code, error.status) == ("InvalidInputException", 400)


def test_glue_length_limit() -> None:
    assert parse("(" * 1021 + "a = 1" + ")" * 1021 + " ") == A  # 2048 characters
    error = _error("a = 1 OR " * 228)
    assert error.message.endswith(": longer than 2048 characters")
    assert "..." in error.message and len(error.message) < 300


def test_nesting_is_bounded() -> None:
    assert parse("NOT " * 31 + "a = 1").depth == 32
    error = _error("NOT " * 32 + "a = 1")
    assert error.message.endswith("nested more than 32 levels deep at column 1")
    deep = "a = 1" + " AND (a = 1 OR (a = 1" * 20 + "))" * 20
    assert "nested more than 32 levels deep" in _error(deep).message
    # redundant parentheses and long flat chains do not nest
    assert parse("(" * 500 + "a = 1" + ")" * 500) == A
    assert parse(" OR ".join(["a = 1"] * 200)).depth == 2


# ---- compiling against a table's keys

KEYS = [
    ("year", "int"),
    ("name", "string"),
    ("day", "date"),
    ("ts", "timestamp"),
    ("price", "decimal(10,2)"),
    ("code", "varchar(8)"),
    ("flag", "boolean"),
    ("Region", "STRING"),
]
_COLUMNS = [sa.column(f"k{i}", sa.String()) for i in range(len(KEYS))]


def _value(i: int) -> sa.ColumnElement[Any]:
    return _COLUMNS[i]


def _sql(text: str, dialect: Any, keys: list[tuple[str, str]] = KEYS) -> str:
    clause = compile_filter(text, keys, _value)
    assert clause is not None
    return str(clause.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


@pytest.mark.parametrize("text", [None, "", " ", "\t\n "])
def test_no_expression_no_filter(text: str | None) -> None:
    assert compile_filter(text, KEYS, _value) is None


@pytest.mark.parametrize(
    ("type_", "accepted"),
    [
        ("string", True), ("STRING", True), (" string ", True), ("char(3)", True),
        ("varchar(255)", True), ("varchar", True), ("int", True), ("INT", True),
        ("integer", True), ("bigint", True), ("long", True), ("tinyint", True),
        ("smallint", True), ("decimal", True), ("decimal(10,2)", True),
        ("DECIMAL( 10 , 2 )", True), ("decimal(5)", True), ("date", True), ("timestamp", True),
        ("boolean", False), ("double", False), ("float", False), ("array<string>", False),
        ("struct<a:int>", False), ("map<string,int>", False), ("binary", False),
        ("decimal(x)", False), ("varchar(", False), ("", False), ("int2", False),
    ],
)  # fmt: skip
def test_key_types(type_: str, accepted: bool) -> None:
    keys = [("k", type_)]
    if accepted:
        assert compile_filter("k IS NULL", keys, _value) is not None
    else:
        error = _error("k IS NULL", keys)
        assert error.message == f"Unknown type : '{type_}' of partition key 'k' at column 1"
        assert error.column == 1


def test_an_unknown_type_is_refused_only_where_used() -> None:
    assert compile_filter("year = 1", KEYS, _value) is not None
    assert _error("year = 1 OR flag = 1", KEYS).message == (
        "Unknown type : 'boolean' of partition key 'flag' at column 13"
    )


def test_unknown_key_names_it_and_lists_the_keys() -> None:
    error = _error("year = 1 AND mnth = 2", KEYS)
    assert error.message == (
        "Unsupported expression 'year = 1 AND mnth = 2': unknown partition key 'mnth' at column 14"
        " (the table's keys: year, name, day, ts, price, code, flag, Region)"
    )
    assert error.column == 14
    assert _error("a = 1", []).message.endswith("(the table's keys: none)")


@pytest.mark.parametrize(
    "text", ["YEAR = 1", "`Year` = 1", '"yEAR" = 1', "region = 'x'", "REGION IS NULL"]
)
def test_key_names_match_in_any_case(text: str) -> None:
    assert compile_filter(text, KEYS, _value) is not None


BAD_LITERALS = [
    ("year = 'abc'", "'abc' at column 8 is not an integer for partition key 'year'"),
    ("year = 2.5", "2.5 at column 8 is not an integer for partition key 'year'"),
    ("year = ' 1'", "' 1' at column 8 is not an integer for partition key 'year'"),
    ("year IN (1, 'x')", "'x' at column 13 is not an integer for partition key 'year'"),
    ("year BETWEEN 1 AND 'z'", "'z' at column 20 is not an integer for partition key 'year'"),
    ("'\u0661' < year", "'\u0661' at column 1 is not an integer for partition key 'year'"),
    ("price = 'ten'", "'ten' at column 9 is not a decimal for partition key 'price'"),
    ("price = '1e3'", "'1e3' at column 9 is not a decimal for partition key 'price'"),
    ("price = ''", "'' at column 9 is not a decimal for partition key 'price'"),
    ("day = 'abc'", "'abc' at column 7 is not a date ('yyyy-mm-dd') for partition key 'day'"),
    (
        "day = '2021-02-29'",
        "'2021-02-29' at column 7 is not a date ('yyyy-mm-dd') for partition key 'day'",
    ),
    (
        "day = '2021-13-01'",
        "'2021-13-01' at column 7 is not a date ('yyyy-mm-dd') for partition key 'day'",
    ),
    (
        "day = '0000-01-01'",
        "'0000-01-01' at column 7 is not a date ('yyyy-mm-dd') for partition key 'day'",
    ),
    ("day = 20200101", "20200101 at column 7 is not a date ('yyyy-mm-dd') for partition key 'day'"),
    ("day = '2020-01-01 00:00:00'", "'2020-01-01 00:00:00' at column 7 is not a date"),
    (
        "ts = '2020-01-01'",
        "'2020-01-01' at column 6 is not a timestamp ('yyyy-mm-dd hh:mm:ss[.fffffffff]')",
    ),
    ("ts = '2020-01-01T00:00:00'", "'2020-01-01T00:00:00' at column 6 is not a timestamp"),
    ("ts = '2020-01-01 24:00:00'", "'2020-01-01 24:00:00' at column 6 is not a timestamp"),
    ("ts = '2020-01-01 00:00:00.1234567890'", "at column 6 is not a timestamp"),
    ("ts = 'it''s'", "'it''s' at column 6 is not a timestamp"),
]


@pytest.mark.parametrize(("text", "detail"), BAD_LITERALS, ids=[t for t, _ in BAD_LITERALS])
def test_a_literal_must_fit_the_keys_type(text: str, detail: str) -> None:
    error = _error(text, KEYS)
    assert error.message.startswith(f"Unsupported expression '{text}': ")
    assert detail in error.message


@pytest.mark.parametrize(
    "text", ["year LIKE '1%'", "day LIKE '2020%'", "price NOT LIKE '1'", "ts LIKE 'x'"]
)
def test_like_needs_a_string_key(text: str) -> None:
    error = _error(text, KEYS)
    key, type_ = text.split()[0], dict(KEYS)[text.split()[0]]
    assert f"LIKE needs a string key, and '{key}' at column 1 is {type_}" in error.message


GOOD_LITERALS = [
    "year = '2020'", "year = -0", "year = +7", "year = 007", "year = 99999999999999999999999999",
    "price = 1", "price = '-1.50'", "price = .5", "price = 5.", "price = 1234567890.0123456789",
    "day = '2020-1-5'", "day = '2020-02-29'", "ts = '2020-01-01 00:00:00'",
    "ts = '2020-1-1 1:2:3.000000001'", "name = 7", "name = -1.5", "code = 'x'",
]  # fmt: skip


@pytest.mark.parametrize("text", GOOD_LITERALS)
def test_literals_that_fit(text: str) -> None:
    assert compile_filter(text, KEYS, _value) is not None


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ("day = '2020-1-5'", "'2020-01-05'"),
        ("ts = '2020-1-1 1:2:3'", "'2020-01-01 01:02:03'"),
        ("ts = '2020-01-01 00:00:00.500'", "'2020-01-01 00:00:00.5'"),
        ("ts = '2020-01-01 00:00:00.000'", "'2020-01-01 00:00:00'"),
        ("name = 007", "'007'"),
        ("name = -1.50", "'-1.50'"),
        ("year = 007", "= 7"),
        ("price = 2.50", "= 2.50"),
    ],
)
def test_literals_are_written_canonically(text: str, bound: str) -> None:
    assert bound in _sql(text, postgresql.dialect())


def test_strings_compare_bytewise_on_both_dialects() -> None:
    assert 'COLLATE "C"' in _sql("name < 'b'", postgresql.dialect())
    assert 'COLLATE "BINARY"' in _sql("name < 'b'", sqlite.dialect())


def test_like_is_case_sensitive_on_sqlite_through_glob() -> None:
    text = "name LIKE 'a*%%_[?\\'"  # runs of % are one %; a backslash is itself
    pg, lite = _sql(text, postgresql.dialect()), _sql(text, sqlite.dialect())
    assert "LIKE 'a*%%_[?\\\\'" in pg  # psycopg's rendering doubles %; LIKE's escape doubles \
    assert "GLOB 'a[*]*?[[][?]\\'" in lite


def test_typed_keys_guard_their_casts() -> None:
    pg = _sql("year > 1", postgresql.dialect())
    assert "CASE WHEN (k0 ~ '\\A[+-]?[0-9]+\\Z') THEN CAST(k0 AS NUMERIC) END > 1" in pg


def test_other_dialects_are_refused_at_compile_time() -> None:
    with pytest.raises(sa.exc.CompileError, match="need sqlite or postgresql, not mysql"):
        _sql("name = 'x'", mysql.dialect())


def test_compiled_statements_are_cached_by_shape() -> None:
    """Two expressions of one shape share a cache key; different literals stay parameters."""
    one, two = (
        compile_filter(f"name = '{v}' AND year > {n}", KEYS, _value)
        for v, n in (("a", 1), ("b", 2))
    )
    assert one is not None and two is not None
    key_one, key_two = one._generate_cache_key(), two._generate_cache_key()
    assert key_one is not None and key_two is not None
    assert key_one.key == key_two.key
    assert [b.value for b in key_two.bindparams] != [b.value for b in key_one.bindparams]


# ---- nothing but ExpressionError, whatever the input

_TOKENS = st.sampled_from(
    [
        "year", "name", "day", "ts", "price", "code", "flag", "nokey", "`year`", '"name"', "`", '"',
        "=", "<>", "!=", "<", ">", "<=", ">=", "==", "AND", "OR", "NOT", "IN", "BETWEEN", "LIKE",
        "IS", "NULL", "(", ")", ",", "-", "+", "'", "''", "'2020'", "'2020-01-01'",
        "'2020-01-01 00:00:00.5'", "'a%'", "'%_'", "'abc'", "1", "-1", "2020", "1.5", ".5",
        "99999999999999999999999999", "'\x00'", "\ud800", ";", "*", "e5",
    ]
)  # fmt: skip


def _check(text: str) -> None:
    try:
        clause = compile_filter(text, KEYS, _value)
    except ExpressionError as error:
        assert error.message and (error.column is None or 1 <= error.column <= len(text) + 1)
        return
    if clause is not None:
        for dialect in (postgresql.dialect(), sqlite.dialect()):
            clause.compile(dialect=dialect)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_random_text_raises_only_expression_errors(text: str) -> None:
    _check(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(_TOKENS, max_size=14), st.sampled_from([" ", "", "\n"]))
def test_random_token_soup_raises_only_expression_errors(tokens: list[str], glue: str) -> None:
    _check(glue.join(tokens))
