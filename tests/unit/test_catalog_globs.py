"""Glue's exclude globs: AWS's documented examples, Java glob corner cases, invalid patterns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog import globs
from orchestrator import errors

# The tree of AWS's "Example of Amazon S3 exclude patterns", below s3://mybucket/myfolder/.
TREE = [
    "departments/finance.json",
    "departments/market-us.json",
    "departments/market-emea.json",
    "departments/market-ap.json",
    "employees/hr.json",
    "employees/john.csv",
    "employees/jane.csv",
    "employees/juan.txt",
]


@pytest.mark.parametrize(
    ("pattern", "excluded"),
    [
        ("departments/**", TREE[:4]),
        ("departments/market*", TREE[1:4]),
        ("**.csv", ["employees/john.csv", "employees/jane.csv"]),
        ("employees/*.csv", ["employees/john.csv", "employees/jane.csv"]),
        ("*.csv", []),  # '*' does not cross '/'
        ("employees/*.{csv,txt}", ["employees/john.csv", "employees/jane.csv", "employees/juan.txt"]),
        ("*/j*", ["employees/john.csv", "employees/jane.csv", "employees/juan.txt"]),
        ("**/market-??.json", ["departments/market-us.json", "departments/market-ap.json"]),
        ("departments", []),  # a folder's name alone excludes none of its files
    ],
)
def test_the_documented_s3_example(pattern: str, excluded: list[str]) -> None:
    exclude = globs.compile([pattern])
    assert [key for key in TREE if exclude(key)] == excluded


# AWS's table of glob kinds, each (pattern, key, matches).
@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("*.csv", "data.csv", True),
        ("*.csv", "dir/data.csv", False),
        ("*.*", "a.b", True),
        ("*.*", "ab", False),
        ("*.{csv,avro}", "x.avro", True),
        ("*.{csv,avro}", "x.csv", True),
        ("*.{csv,avro}", "x.json", False),
        ("foo.?", "foo.a", True),
        ("foo.?", "foo.ab", False),
        ("foo.?", "foo./", False),  # '?' is one character of a name
        ("myfolder/*", "myfolder/mysource", True),
        ("myfolder/*", "myfolder/mysource/data", False),
        ("myfolder/*/*", "myfolder/mysource/data", True),
        ("myfolder/**", "myfolder/mysource/mydata", True),
        ("myfolder/**", "myfolder/mysource/data/deeper", True),
        ("myfolder/**", "myfolder", False),
        ("myfolder**", "myfolder", True),
        ("myfolder**", "myfolder/mydata.txt", True),
        ("myfolder**", "myfolder2/x", True),
        ("**", "anything/at/all", True),
        ("**", "", True),
        # A leading '.' is an ordinary character.
        ("*", ".hidden", True),
        ("?hidden", ".hidden", True),
        # Brackets: ranges, negation with '!', literal '-', '^', '*', '?', and never '/'.
        ("[a-z]", "q", True),
        ("[a-z]", "Q", False),
        ("[abce-g]", "f", True),
        ("[abce-g]", "d", False),
        ("[!a-c]", "d", True),
        ("[!a-c]", "b", False),
        ("[!a-c]", "/", False),
        ("x[!a]y", "x/y", False),
        ("[-a]", "-", True),
        ("[a-]", "-", True),
        ("[!-a]", "-", False),
        ("[!-a]", "b", True),
        ("[^a]", "^", True),  # '^' is not a negation in Glue's (Java's) globs
        ("[^a]", "b", False),
        ("[*?\\]", "*", True),
        ("[*?\\]", "?", True),
        ("[*?\\]", "\\", True),
        ("[*?\\]", "x", False),
        ("[.]", ".", True),
        ("[.]", "x", False),
        ("[&&~~||]", "&", True),
        # Escapes.
        ("\\*", "*", True),
        ("\\*", "x", False),
        ("\\\\", "\\", True),
        ("\\{a,b\\}", "{a,b}", True),
        ("\\{a,b\\}", "a", False),
        ("a\\?", "a?", True),
        ("a\\?", "ab", False),
        # Groups: alternatives may hold '/', wildcards; ',' and '}' are literal outside one.
        ("{a/b,c}", "a/b", True),
        ("{a/b,c}", "c", True),
        ("{a/**,*.csv}", "a/x/y", True),
        ("{a/**,*.csv}", "d/x.csv", False),
        ("{,x}y", "y", True),
        ("a,b", "a,b", True),
        ("a}b", "a}b", True),
        # Regex characters are literal.
        ("a.b", "axb", False),
        ("(a|b)+$", "(a|b)+$", True),
        ("x^y", "x^y", True),
        ("ünï/*", "ünï/cödé", True),
        ("", "", True),
        ("", "a", False),
    ],
)
def test_glob_kinds(pattern: str, key: str, matches: bool) -> None:
    assert globs.compile([pattern])(key) is matches


def test_excluding_a_subset_of_daily_partitions() -> None:
    """AWS's example: keep only the first week of January 2015."""
    exclude = globs.compile(["2015/01/{[!0],0[8-9]}**", "2015/0[2-9]/**", "2015/1[0-2]/**"])
    keys = [f"2015/{month:02}/{day:02}/data.json" for month in range(1, 13) for day in range(1, 32)]
    assert [key for key in keys if not exclude(key)] == [f"2015/01/0{day}/data.json" for day in range(1, 8)]


def test_star_does_not_exclude_lower_folder_levels() -> None:
    """"If "*" is used, lower folder levels are not excluded" (the same AWS example)."""
    exclude = globs.compile(["2015/01/0[8-9]*"])
    assert exclude("2015/01/08")
    assert not exclude("2015/01/08/data.json")


def test_several_patterns_exclude_what_any_excludes() -> None:
    exclude = globs.compile(["*.tmp", "logs/**"])
    assert exclude("a.tmp") and exclude("logs/x/y") and not exclude("data/a.csv")
    assert globs.compile(["a.csv"])("a.csv") and globs.compile("a.csv")("a.csv")  # one string is one pattern


def test_no_patterns_exclude_nothing() -> None:
    exclude = globs.compile([])
    assert not exclude("a") and not exclude("") and not exclude.covers("a")


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("data\\", "no character to escape"),
        ("[abc", "missing ']'"),
        ("x/[a-", "missing ']'"),
        ("[]", "empty brackets"),
        ("[!]", "empty brackets"),
        ("[a/b]", "'/' inside brackets"),
        ("[a-/]", "'/' inside brackets"),
        ("[z-a]", "reversed range 'z-a'"),
        ("[a-c-e]", "a range '-' without a start"),
        ("{a,{b,c}}", "cannot be nested"),
        ("{a,b", "missing '}'"),
    ],
)
def test_invalid_patterns_name_the_pattern(pattern: str, reason: str) -> None:
    with pytest.raises(errors.InvalidInputException) as caught:
        globs.compile(["fine/**", pattern])
    assert repr(pattern) in caught.value.message and reason in caught.value.message


@pytest.mark.parametrize(
    ("patterns", "folder", "covered"),
    [
        (["departments/**"], "departments", True),
        (["departments/**"], "departments/deeper", True),
        (["departments/**"], "employees", False),
        (["departments/**"], "departments2", False),
        (["myfolder**"], "myfolder2", True),
        (["incremental_**/**"], "incremental_2024", True),
        (["2015/0[2-9]/**"], "2015/03", True),
        (["2015/0[2-9]/**"], "2015", False),
        (["**"], "anything", True),
        (["**.csv"], "csvs", False),  # could still hold a .json file
        (["{a,b}/**"], "a", True),
        (["{a/**,b/**}"], "a", False),  # sound, not complete: a trailing group is not used
        (["a/*"], "a", False),
    ],
)
def test_covers(patterns: list[str], folder: str, covered: bool) -> None:
    assert globs.compile(patterns).covers(folder) is covered


_PIECES = st.sampled_from(["a", "b", "/", "*", "**", "?", "[ab]", "[!a]", "{a,b/}", "\\*", "."])
_NAMES = st.text(alphabet="ab.*", min_size=1, max_size=3)


@given(
    pattern=st.lists(_PIECES, min_size=1, max_size=6).map("".join),
    folder=st.lists(_NAMES, min_size=1, max_size=3).map("/".join),
    rest=st.lists(_NAMES, min_size=1, max_size=3).map("/".join),
)
def test_a_covered_folder_has_every_key_excluded(pattern: str, folder: str, rest: str) -> None:
    """``covers`` is what lets a lister skip a folder: it must never skip a kept file."""
    exclude = globs.compile([pattern])
    if exclude.covers(folder):
        assert exclude(f"{folder}/{rest}")
