"""GetPartitions expressions run as SQL: the same rows match on SQLite and on PostgreSQL.

A throwaway table (its own ``MetaData``) holds partition values twice: one text column per key,
and a JSON array as the catalog store keeps them. Every case runs against both.
One database per backend for the module, from ``fresh_db_url`` (the wide twin of ``db_url``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.expressions import ExpressionError
from orchestrator.store.partition_filters import compile_filter

KEYS = [
    ("year", "int"),
    ("name", "string"),
    ("day", "date"),
    ("ts", "timestamp"),
    ("price", "decimal(10,2)"),
    ("code", "varchar(8)"),
]

# id: year, name, day, ts, price, code; each value a string, as Glue stores them.
ROWS: dict[int, tuple[str | None, ...]] = {
    1: ("2019", "2019", "2019-12-31", "2019-12-31 23:59:59", "9.99", "a"),
    2: ("2020", "2020", "2020-01-01", "2020-01-01 00:00:00", "10.00", "B"),
    3: ("9", "9", "2020-02-29", "2020-01-01 00:00:00.5", "10.5", "b"),
    4: ("10", "10", "2021-06-15", "2020-01-01 00:00:00.50", "-1", "a%b"),
    5: ("abc", "abc", "not a date", "2020-01-01T00:00:00", "x1", "A_c"),
    6: (None, None, None, None, None, None),
    7: ("007", "007", "2020-1-5", "2020-01-01 00:00:00.000", ".5", "a\\b"),
    8: ("-3", "é", "2020-01-02", "2020-01-01 00:00:00.123456789", "1e3", "a*[?"),
}

metadata = sa.MetaData()
cases = sa.Table(
    "expression_cases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    *[sa.Column(f"k{i}", sa.Text) for i in range(len(KEYS))],
    sa.Column("vals", sa.JSON),
)

SOURCES: dict[str, Callable[[int], sa.ColumnElement[Any]]] = {
    "columns": lambda i: cases.c[f"k{i}"],
    "json": lambda i: cases.c.vals[i].as_string(),
}


@pytest.fixture(
    scope="module",
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)],
)
def engine(
    request: pytest.FixtureRequest, fresh_db_url: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.Engine]:
    folder: Path = tmp_path_factory.mktemp(f"expressions-{request.param}")
    with fresh_db_url(request.param, folder) as url:
        engine = sa.create_engine(url)
        try:
            metadata.create_all(engine)
            with engine.begin() as conn:
                conn.execute(
                    cases.insert(),
                    [
                        {
                            "id": id_,
                            "vals": list(values),
                            **{f"k{i}": v for i, v in enumerate(values)},
                        }
                        for id_, values in ROWS.items()
                    ],
                )
            yield engine
        finally:
            engine.dispose()


def _matching(engine: sa.Engine, text: str, source: str = "columns") -> list[int]:
    clause = compile_filter(text, KEYS, SOURCES[source])
    query = sa.select(cases.c.id).order_by(cases.c.id)
    with engine.connect() as conn:
        return list(conn.execute(query if clause is None else query.where(clause)).scalars())


EVERY = sorted(ROWS)
MATCHES = [
    # int: compared as numbers; '007' is 7; 'abc' and NULL match nothing
    ("year > 2019", [2]),
    ("year > 9", [1, 2, 4]),
    ("year >= '10'", [1, 2, 4]),
    ("2019 < year", [2]),
    ("year = 7", [7]),
    ("year = '7'", [7]),
    ("year < 0", [8]),
    ("year <> 2020", [1, 3, 4, 7, 8]),
    ("year != 2020", [1, 3, 4, 7, 8]),
    ("NOT year = 2020", [1, 3, 4, 7, 8]),
    ("year <= 9", [3, 7, 8]),
    ("NOT year > 9", [3, 7, 8]),
    ("year IN (9, 10)", [3, 4]),
    ("year NOT IN (9, 10)", [1, 2, 7, 8]),
    ("year BETWEEN 9 AND 2019", [1, 3, 4]),
    ("year NOT BETWEEN 9 AND 2019", [2, 7, 8]),
    ("year BETWEEN 2019 AND 9", []),
    ("year > 0", [1, 2, 3, 4, 7]),
    ("year = 99999999999999999999999", []),
    ("year > -99999999999999999999999", [1, 2, 3, 4, 7, 8]),
    ("year IS NULL", [6]),
    ("year IS NOT NULL", [1, 2, 3, 4, 5, 7, 8]),
    ("year = 2020 OR year IS NULL", [2, 6]),
    # string: compared as strings, so '10' < '9'; a number literal is its text
    ("name > '2019'", [2, 3, 5, 8]),
    ("name > 2019", [2, 3, 5, 8]),
    ("name < '9'", [1, 2, 4, 7]),
    ("name = '007'", [7]),
    ("name = 7", []),
    ("name = 007", [7]),
    ("name IN ('9', '10', 'x')", [3, 4]),
    ("name BETWEEN '10' AND '9'", [1, 2, 3, 4]),
    ("name LIKE 'a%'", [5]),
    ("name LIKE '%0%'", [1, 2, 4, 7]),
    ("name NOT LIKE '%0%'", [3, 5, 8]),
    ("name LIKE '__'", [4]),
    ("name LIKE '_'", [3, 8]),
    ("name LIKE '%%'", [1, 2, 3, 4, 5, 7, 8]),
    ("name = 'é'", [8]),
    # strings are exact: case-sensitive, code-point order ('B' < 'a'), LIKE special characters
    ("code = 'b'", [3]),
    ("code < 'a'", [2, 5]),
    ("code < 'b'", [1, 2, 4, 5, 7, 8]),
    ("code IN ('a', 'B')", [1, 2]),
    ("code LIKE 'a%'", [1, 4, 7, 8]),
    ("code LIKE 'A%'", [5]),
    ("code LIKE 'a_b'", [4, 7]),
    ("code LIKE 'a\\%'", [7]),
    ("code LIKE 'a\\b'", [7]),
    ("code LIKE 'a*%'", [8]),
    ("code LIKE '%[%'", [8]),
    ("code LIKE '%?'", [8]),
    ("code LIKE 'a[*]%'", []),
    ("code LIKE 'A_c'", [5]),
    ("code NOT LIKE 'a%'", [2, 3, 5]),
    # dates: 'yyyy-mm-dd' values; others ('2020-1-5', 'not a date') match nothing
    ("day > '2020-01-01'", [3, 4, 8]),
    ("day = '2020-1-1'", [2]),
    ("day < '2020-01-01'", [1]),
    ("day BETWEEN '2020-01-01' AND '2020-12-31'", [2, 3, 8]),
    ("day IN ('2019-12-31', '2021-06-15', '2020-01-05')", [1, 4]),
    ("day <> '2020-02-29'", [1, 2, 4, 8]),
    ("day IS NULL", [6]),
    # timestamps: fractions compare by value ('.5' = '.50', '.000' = none)
    ("ts = '2020-01-01 00:00:00'", [2, 7]),
    ("ts = '2020-01-01 00:00:00.5'", [3, 4]),
    ("ts = '2020-01-01 00:00:00.500000000'", [3, 4]),
    ("ts > '2020-01-01 00:00:00'", [3, 4, 8]),
    ("ts > '2020-01-01 00:00:00.2'", [3, 4]),
    ("ts < '2020-01-01 00:00:00.2'", [1, 2, 7, 8]),
    ("ts >= '1970-01-01 00:00:00'", [1, 2, 3, 4, 7, 8]),
    ("ts BETWEEN '2020-01-01 00:00:00.1' AND '2020-01-01 00:00:00.5'", [3, 4, 8]),
    # decimals: '10.00' = 10, '.5' = 0.5; 'x1' and '1e3' match nothing
    ("price > 10", [3]),
    ("price = 10", [2]),
    ("price = '10.0'", [2]),
    ("price >= 9.99", [1, 2, 3]),
    ("price < 1", [4, 7]),
    ("price BETWEEN -1 AND 0.5", [4, 7]),
    ("price IN (10, 0.5)", [2, 7]),
    ("price > -1000000000000000000000000.5", [1, 2, 3, 4, 7]),
    # logic and precedence
    ("year > 2019 OR name = '9' AND code = 'b'", [2, 3]),
    ("(year > 2019 OR name = '9') AND code = 'B'", [2]),
    ("NOT (year = 2020 OR year = 9)", [1, 4, 7, 8]),
    ("NOT year IS NULL AND year < 100", [3, 4, 7, 8]),
    ("year < 100 AND price < 1 OR day = '2019-12-31'", [1, 4, 7]),
    ("NOT NOT year = 9", [3]),
    ("YEAR = 2020 and `Name` = '2020'", [2]),
    # no filter
    ("", EVERY),
    ("   ", EVERY),
]


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize(("text", "expected"), MATCHES, ids=[t or "blank" for t, _ in MATCHES])
def test_matching_rows(engine: sa.Engine, source: str, text: str, expected: list[int]) -> None:
    assert _matching(engine, text, source) == expected


def test_a_non_numeric_value_in_an_int_key_does_not_break_postgresql(engine: sa.Engine) -> None:
    """'abc' (row 5) and 'x1', '1e3' in a decimal key are skipped, not cast."""
    assert _matching(engine, "year >= 0 AND price >= -100") == [1, 2, 3, 4, 7]
    assert _matching(engine, "NOT (year < 0 OR price < 0)") == [1, 2, 3, 7]


def test_a_deep_expression_runs(engine: sa.Engine) -> None:
    deep = "NOT " * 31 + "year = 9"
    assert _matching(engine, deep) == [1, 2, 4, 7, 8]
    nested = "year = 9" + " OR (year = 10 AND (year = 9" * 15 + "))" * 15
    assert _matching(engine, nested) == [3]


@pytest.mark.parametrize(
    "engine", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_strings_are_exact_under_any_postgresql_collation(engine: sa.Engine) -> None:
    """Values in an ICU collation (where 'B' > 'a') still compare by code point."""
    with engine.connect() as conn:
        if not conn.execute(
            sa.text("SELECT 1 FROM pg_collation WHERE collname = 'en-US-x-icu'")
        ).first():
            pytest.skip("PostgreSQL without ICU")
        collated = sa.collate(cases.c.k5, "en-US-x-icu")
        control = sa.select(cases.c.id).where(collated < "a").order_by(cases.c.id)
        assert list(conn.execute(control).scalars()) == []  # in ICU's order nothing is below 'a'
        clause = compile_filter(
            "code < 'a'", KEYS, lambda i: sa.collate(cases.c[f"k{i}"], "en-US-x-icu")
        )
        assert clause is not None
        query = sa.select(cases.c.id).where(clause).order_by(cases.c.id)
        assert list(conn.execute(query).scalars()) == [2, 5]


# ---- whatever the expression: rows or ExpressionError, never a database error


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_STRINGS = st.text(st.characters(exclude_categories=("Cc", "Cs", "Cn")), max_size=12).map(_quoted)
_ANY_LITERAL = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.text(max_size=12).map(_quoted),
    st.sampled_from(
        ["'2020-01-01'", "'2020-02-30'", "'2020-01-01 00:00:00.5'", "'10.5'", "'-1'", "'abc'",
         "'a%'", "'%\\_'", "'[*?'", "'é'", "007", ".5", "-0"]
    ),
)  # fmt: skip
# Mostly literals that fit the key, so that most expressions reach the database.
_FITTING = {
    "year": st.integers(-(10**30), 10**30).map(str),
    "price": st.decimals(min_value=-(10**12), max_value=10**12, places=3).map(str),
    "day": st.dates().map(lambda d: f"'{d.isoformat()}'"),
    "ts": st.datetimes().map(lambda d: f"'{d.isoformat(sep=' ')}'"),
    "name": _STRINGS,
    "code": _STRINGS,
}
_SPELLINGS = {
    "year": ["year", "YEAR", "`Year`"],
    "code": ["code", "`code`"],
    "name": ["name", "Name"],
}


@st.composite
def _predicate(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(sorted(_FITTING)))
    literal = _ANY_LITERAL if draw(st.integers(0, 9)) == 0 else _FITTING[key]
    name = draw(st.sampled_from(_SPELLINGS.get(key, [key])))
    negated = draw(st.sampled_from(["", "NOT "]))
    form = draw(st.sampled_from(["compare", "mirror", "in", "between", "like", "null"]))
    op = draw(st.sampled_from(["=", "<>", "!=", "<", ">", "<=", ">="]))
    if form == "compare":
        return f"{name} {op} {draw(literal)}"
    if form == "mirror":
        return f"{draw(literal)} {op} {name}"
    if form == "in":
        return f"{name} {negated}IN ({', '.join(draw(st.lists(literal, min_size=1, max_size=4)))})"
    if form == "between":
        return f"{name} {negated}BETWEEN {draw(literal)} AND {draw(literal)}"
    if form == "like" and key in ("name", "code"):
        return f"{name} {negated}LIKE {draw(_STRINGS)}"
    return f"{name} IS {negated}NULL"


_EXPRESSIONS = st.recursive(
    _predicate(),
    lambda inner: st.one_of(
        st.builds("({}) AND ({})".format, inner, inner),
        st.builds("{} OR {}".format, inner, inner),
        st.builds("NOT ({})".format, inner),
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(text=_EXPRESSIONS, source=st.sampled_from(sorted(SOURCES)))
def test_any_expression_gives_rows_or_an_expression_error(
    engine: sa.Engine, text: str, source: str
) -> None:
    try:
        rows = _matching(engine, text, source)
    except ExpressionError:
        return
    assert set(rows) <= set(ROWS)
