"""Hive type strings: parsing, the widening table over every pair of primitives, merge and similarity."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog import schemas

# The widening of every pair of primitives, written out by hand once (STYLE 2): row ⊔ column.
CODES = {
    "v": "void", "b": "boolean", "ti": "tinyint", "si": "smallint", "i": "int", "bi": "bigint",
    "f": "float", "d": "double", "dec": "decimal(10,2)", "s": "string", "vc": "varchar(5)",
    "c": "char(3)", "bin": "binary", "dt": "date", "ts": "timestamp",
    "d12": "decimal(12,2)", "d21": "decimal(21,2)",
}  # fmt: skip
ORDER = ["v", "b", "ti", "si", "i", "bi", "f", "d", "dec", "s", "vc", "c", "bin", "dt", "ts"]
TABLE = {
    "v":   "v   b  ti  si  i   bi  f  d  dec s vc c  bin dt ts",
    "b":   "b   b  s   s   s   s   s  s  s   s s  s  s   s  s",
    "ti":  "ti  s  ti  si  i   bi  d  d  dec s s  s  s   s  s",
    "si":  "si  s  si  si  i   bi  d  d  dec s s  s  s   s  s",
    "i":   "i   s  i   i   i   bi  d  d  d12 s s  s  s   s  s",
    "bi":  "bi  s  bi  bi  bi  bi  d  d  d21 s s  s  s   s  s",
    "f":   "f   s  d   d   d   d   f  d  d   s s  s  s   s  s",
    "d":   "d   s  d   d   d   d   d  d  d   s s  s  s   s  s",
    "dec": "dec s  dec dec d12 d21 d  d  dec s s  s  s   s  s",
    "s":   "s   s  s   s   s   s   s  s  s   s s  s  s   s  s",
    "vc":  "vc  s  s   s   s   s   s  s  s   s vc vc s   s  s",
    "c":   "c   s  s   s   s   s   s  s  s   s vc c  s   s  s",
    "bin": "bin s  s   s   s   s   s  s  s   s s  s  bin s  s",
    "dt":  "dt  s  s   s   s   s   s  s  s   s s  s  s   dt ts",
    "ts":  "ts  s  s   s   s   s   s  s  s   s s  s  s   ts ts",
}  # fmt: skip


def test_the_table_is_symmetric_and_square() -> None:
    assert list(TABLE) == ORDER
    cells = {row: line.split() for row, line in TABLE.items()}
    for a, b in itertools.product(ORDER, ORDER):
        assert cells[a][ORDER.index(b)] == cells[b][ORDER.index(a)], (a, b)


@pytest.mark.parametrize(("a", "b"), list(itertools.product(ORDER, ORDER)))
def test_widen_every_pair_of_primitives(a: str, b: str) -> None:
    expected = CODES[TABLE[a].split()[ORDER.index(b)]]
    assert schemas.widen(CODES[a], CODES[b]) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # structs merge field by field, in first-seen order, case-insensitively
        ("struct<a:int,b:string>", "struct<b:string,c:double>", "struct<a:int,b:string,c:double>"),
        ("struct<a:int>", "struct<A:bigint>", "struct<a:bigint>"),
        ("struct<a:struct<x:int>>", "struct<a:struct<y:boolean>>", "struct<a:struct<x:int,y:boolean>>"),
        ("struct<a:void>", "struct<a:array<int>>", "struct<a:array<int>>"),
        ("struct<>", "struct<a:int>", "struct<a:int>"),
        ("struct<`a:b`:int>", "struct<`a:b`:bigint>", "struct<`a:b`:bigint>"),
        # arrays and maps widen their parts
        ("array<int>", "array<bigint>", "array<bigint>"),
        ("array<void>", "array<struct<a:int>>", "array<struct<a:int>>"),
        ("array<array<int>>", "array<array<double>>", "array<array<double>>"),
        ("map<string,int>", "map<string,double>", "map<string,double>"),
        ("map<int,int>", "map<bigint,boolean>", "map<bigint,string>"),
        # shapes that differ have only string in common
        ("struct<a:int>", "array<int>", "string"),
        ("array<int>", "map<int,int>", "string"),
        ("array<int>", "int", "string"),
        ("struct<a:int>", "string", "string"),
        ("uniontype<int,string>", "uniontype<int,string>", "uniontype<int,string>"),
        ("uniontype<int,string>", "uniontype<int,double>", "string"),
        ("void", "struct<a:int>", "struct<a:int>"),
        # decimals keep their integer digits; past 38 digits the fraction gives way
        ("decimal(38,10)", "decimal(38,0)", "decimal(38,0)"),
        ("decimal(38,30)", "bigint", "decimal(38,19)"),
        ("decimal(5,0)", "decimal(3,2)", "decimal(7,2)"),
        ("decimal(10,2)", "float", "double"),
        ("tinyint", "decimal(2,1)", "decimal(4,1)"),
        ("char(3)", "char(7)", "char(7)"),
        ("varchar(10)", "char(12)", "varchar(12)"),
        ("interval_day_time", "interval_day_time", "interval_day_time"),
        ("interval_day_time", "interval_year_month", "string"),
        # spelling does not matter
        ("INT", "BigInt", "bigint"),
        ("integer", "long", "bigint"),
    ],
)
def test_widen_complex_and_special_types(a: str, b: str, expected: str) -> None:
    assert schemas.widen(a, b) == expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("INT", "int"),
        ("Integer", "int"),
        ("null", "void"),
        ("decimal", "decimal(10,0)"),
        ("decimal(5)", "decimal(5,0)"),
        ("DECIMAL( 10 , 2 )", "decimal(10,2)"),
        ("varchar(10)", "varchar(10)"),
        ("array< int >", "array<int>"),
        ("map<string,array<struct<a:int>>>", "map<string,array<struct<a:int>>>"),
        ("struct<a:int, b:string>", "struct<a:int,b:string>"),
        ("struct<first name:string,Zip:int>", "struct<first name:string,Zip:int>"),
        ("struct<`a:b`:int,`x``y`:string,``:int>", "struct<`a:b`:int,`x``y`:string,``:int>"),
        ("struct<>", "struct<>"),
        ("uniontype<int,array<string>>", "uniontype<int,array<string>>"),
    ],
)
def test_parse_normalises_and_render_inverts(text: str, canonical: str) -> None:
    assert schemas.render(schemas.parse(text)) == canonical
    assert schemas.render(schemas.parse(canonical)) == canonical


@pytest.mark.parametrize(
    "text",
    ["", "int<", "array<int", "array<>", "array<int>>", "map<int>", "struct<a>", "struct<a:int,>",
     "struct<a,b:int>", "struct<`a:int>", "decimal(0,0)", "decimal(39,0)", "decimal(10,11)",
     "decimal(1,2,3)", "decimal(a)", "varchar", "varchar(0)", "char(1,2)", "foo", "int int",
     "uniontype<>", "struct<a:int"],
)  # fmt: skip
def test_parse_rejects_what_is_not_a_type(text: str) -> None:
    with pytest.raises(ValueError):
        schemas.parse(text)
    with pytest.raises(ValueError):
        schemas.widen(text, "int")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([], [], ()),
        ([("a", "int")], [], (("a", "int"),)),
        ([], [("a", "int")], (("a", "int"),)),
        ([("a", "int"), ("b", "string")], [("b", "bigint"), ("c", "double")],
         (("a", "int"), ("b", "string"), ("c", "double"))),
        ([("a", "int")], [("a", "bigint")], (("a", "bigint"),)),
        ([("Id", "int")], [("id", "double")], (("Id", "double"),)),
        ([("a", "int"), ("A", "double")], [], (("a", "double"),)),
        ([("a", "void")], [("a", "int")], (("a", "int"),)),
        ([("s", "struct<x:int>")], [("s", "struct<y:string>")], (("s", "struct<x:int,y:string>"),)),
        ([("c", "date"), ("a", "int")], [("b", "timestamp"), ("c", "timestamp")],
         (("c", "timestamp"), ("a", "int"), ("b", "timestamp"))),
    ],
)  # fmt: skip
def test_merge(a: list[tuple[str, str]], b: list[tuple[str, str]], expected: tuple) -> None:
    assert schemas.merge(a, b) == expected


def _columns(names: str) -> list[tuple[str, str]]:
    return [(name, "int") for name in names.split()]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("a b c", "a b c", 1.0),
        ("", "", 1.0),
        ("a", "", 0.0),
        ("a b c d e f g h i j", "a b c d e f g h i", 0.9),
        ("a b", "c d", 0.0),
        ("a b", "b c", 0.5),
        ("a b", "a b c d", 0.5),
        ("A B", "a b", 1.0),
    ],
)
def test_similarity(a: str, b: str, expected: float) -> None:
    assert schemas.similarity(_columns(a), _columns(b)) == pytest.approx(expected)
    assert schemas.similarity(_columns(b), _columns(a)) == pytest.approx(expected)


def test_similarity_ignores_types() -> None:
    assert schemas.similarity([("a", "int"), ("b", "string")], [("a", "string"), ("b", "double")]) == 1.0


# Any Hive type, parsed, for the properties below.
_PRIMITIVES = st.sampled_from(["void", "boolean", "tinyint", "smallint", "int", "bigint", "float",
                               "double", "decimal(5,0)", "decimal(10,2)", "decimal(38,30)", "string",
                               "varchar(5)", "char(3)", "binary", "date", "timestamp"])  # fmt: skip
_NAMES = st.sampled_from(["a", "b", "B", "c", "x:y", "first name"])
TYPES = st.recursive(
    _PRIMITIVES,
    lambda inner: st.one_of(
        inner.map(lambda t: ("array", t)),
        st.tuples(st.just("map"), _PRIMITIVES, inner),
        st.lists(st.tuples(_NAMES, inner), max_size=3, unique_by=lambda f: f[0].lower()).map(
            lambda fields: ("struct", tuple(fields))
        ),
    ),
    max_leaves=8,
)


def _canonical(t: schemas.HiveType) -> schemas.HiveType:
    """A type with struct fields sorted and names lowercased: equal up to field order and spelling."""
    if isinstance(t, str):
        return t
    if t[0] == "struct":
        return ("struct", tuple(sorted((n.lower(), _canonical(f)) for n, f in t[1])))
    return (t[0], *(_canonical(p) for p in t[1:]))


@given(TYPES)
def test_render_and_parse_round_trip(t: schemas.HiveType) -> None:
    assert schemas.parse(schemas.render(t)) == t


@settings(max_examples=300)
@given(TYPES, TYPES)
def test_widen_is_an_upper_bound_and_commutes(a: schemas.HiveType, b: schemas.HiveType) -> None:
    ab = schemas.widen_types(a, b)
    assert schemas.widen_types(ab, a) == ab
    assert schemas.widen_types(ab, b) == ab
    assert _canonical(ab) == _canonical(schemas.widen_types(b, a))
    assert schemas.widen(schemas.render(a), schemas.render(b)) == schemas.render(ab)


@given(TYPES)
def test_void_is_the_identity_and_string_absorbs(t: schemas.HiveType) -> None:
    assert schemas.widen_types(t, t) == t
    assert schemas.widen_types(t, schemas.VOID) == t
    assert schemas.widen_types(schemas.VOID, t) == t
    if t != schemas.VOID:
        assert schemas.widen_types(t, schemas.STRING) == schemas.STRING


@given(st.lists(st.tuples(_NAMES, TYPES), max_size=4), st.lists(st.tuples(_NAMES, TYPES), max_size=4))
def test_merge_keeps_every_name_once_and_similarity_stays_in_range(
    a: list[tuple[str, schemas.HiveType]], b: list[tuple[str, schemas.HiveType]]
) -> None:
    columns_a = [(n, schemas.render(t)) for n, t in a]
    columns_b = [(n, schemas.render(t)) for n, t in b]
    merged = schemas.merge(columns_a, columns_b)
    assert [n.lower() for n, _ in merged] == list(dict.fromkeys(n.lower() for n, _ in columns_a + columns_b))
    assert 0.0 <= schemas.similarity(columns_a, columns_b) <= 1.0
    assert schemas.similarity(merged, merged) == 1.0
