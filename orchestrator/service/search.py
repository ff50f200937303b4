"""Finding tables: GetTables' ``Expression`` (a pattern on names) and SearchTables' text,
filters and sort, as pure functions over table rows.

GetTables' Expression is "a regular expression pattern" in Glue's words, read as Hive's
metastore reads table patterns (and Glue with it): ``*`` is any run of characters (``sales*``
is every name starting "sales"), ``|`` separates alternatives, and the rest is a regular
expression without groups: ``.``, ``[a-z]`` classes, ``\\d \\w \\s``, ``?`` and ``+``, ``^``/``$``
at the ends. It must match the whole name, in any case. It runs on a small automaton, in time
linear in the name and the pattern: no pattern can make it backtrack. Groups and counted
repetition (``( ) { }``) are refused (InvalidInputException).

SearchTables, the subset adhere implements (Glue documents little more):

- ``SearchText``: a table matches when the text is in its name, its database's name, its
  description, a column's or partition key's name or comment, or a parameter's key or value,
  in any case. In double quotes, it must equal one of those whole.
- ``Filters``: every predicate must hold. ``Name``, ``DatabaseName``, ``Description``,
  ``TableType``, ``Owner`` and ``Location`` (and any other key, read as a table parameter:
  ``classification``) match as Glue documents: the field is split into tokens at every
  character that is not a letter or digit, and one token (or the whole field) must equal the
  value, in any case. ``CreateTime``, ``UpdateTime``, ``LastAccessTime`` and ``LastAnalyzedTime``
  compare with the predicate's Comparator (EQUALS by default) to a value in epoch seconds or
  ISO 8601.
- ``SortCriteria``: one field of ``Name``, ``DatabaseName``, ``CreateTime``, ``UpdateTime``
  (ASC or DESC); by default database, then name.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orchestrator import errors
from orchestrator.store.catalog import Table

MAX_PATTERN = 2048  # characters: Glue's FilterString
_STAR, _ONE, _OPTIONAL = "*", "1", "?"
_ESCAPES: dict[str, Callable[[str], bool]] = {
    "d": str.isdigit, "w": lambda c: c.isalnum() or c == "_", "s": str.isspace,
    "D": lambda c: not c.isdigit(), "W": lambda c: not (c.isalnum() or c == "_"), "S": lambda c: not c.isspace(),
}  # fmt: skip
Token = tuple[Callable[[str], bool], str]  # (which characters it takes, how many: 1, * or ?)


# --- GetTables' Expression ---------------------------------------------------------------------


def name_matcher(expression: str) -> Callable[[str], bool]:
    """The test GetTables' ``expression`` makes of a table name (see the module docstring)."""
    if not isinstance(expression, str) or len(expression) > MAX_PATTERN:
        raise errors.InvalidInputException(f"Expression must be a string of at most {MAX_PATTERN} characters")
    alternatives = _alternatives(expression)
    return lambda name: any(_matches(tokens, name.lower()) for tokens in alternatives)


def _bad(expression: str, why: str) -> errors.InvalidInputException:
    return errors.InvalidInputException(f"Expression {expression[:80]!r}: {why}")


def _alternatives(expression: str) -> list[list[Token]]:
    out: list[list[Token]] = [[]]
    i = 0
    while i < len(expression):
        c, tokens = expression[i], out[-1]
        i += 1
        if c == "|":
            out.append([])
        elif c in "*+?":
            last = tokens[-1] if tokens and tokens[-1][1] == _ONE else None
            if c == "*":  # Hive's wildcard; `.*` is the same run of anything
                if last is not None and last[0] is _any:
                    tokens.pop()
                tokens.append((_any, _STAR))
            elif last is None:
                raise _bad(expression, f"{c!r} follows nothing it could repeat")
            elif c == "+":
                tokens.append((last[0], _STAR))
            else:
                tokens[-1] = (last[0], _OPTIONAL)
        elif c in "^$":
            at_end = i == len(expression) or expression[i] == "|"
            if not ((c == "^" and not tokens) or (c == "$" and at_end)):
                raise _bad(expression, f"{c!r} anchors only the start or the end")
        elif c in "(){}":
            raise _bad(expression, "groups and counted repetition are not supported; "
                                   "use a|b for alternatives and * for any characters")
        elif c == "[":
            test, i = _class(expression, i)
            tokens.append((test, _ONE))
        elif c == "\\":
            if i == len(expression):
                raise _bad(expression, "it ends with a lone backslash")
            e = expression[i]
            i += 1
            tokens.append((_ESCAPES.get(e) or _literal(e), _ONE))
        else:
            tokens.append((_any if c == "." else _literal(c), _ONE))
    return out


def _any(c: str) -> bool:
    return True


def _literal(expected: str) -> Callable[[str], bool]:
    folded = expected.lower()
    return lambda c: c == folded


def _class(expression: str, i: int) -> tuple[Callable[[str], bool], int]:
    """``[...]`` from after its ``[``: its test (case-insensitive) and where it ends."""
    negated = expression.startswith("^", i)
    i += negated
    singles: set[str] = set()
    ranges: list[tuple[str, str]] = []
    tests: list[Callable[[str], bool]] = []
    first = True
    while True:
        if i >= len(expression):
            raise _bad(expression, "a [ class is not closed")
        c = expression[i]
        i += 1
        if c == "]" and not first:
            break
        first = False
        if c == "\\" and i < len(expression):
            c = expression[i]
            i += 1
            if c in _ESCAPES:
                tests.append(_ESCAPES[c])
                continue
        if expression.startswith("-", i) and i + 1 < len(expression) and expression[i + 1] != "]":
            ranges.append((c, expression[i + 1]))
            i += 2
        else:
            singles.add(c)

    def inside(c: str) -> bool:
        return any(ch in singles or any(lo <= ch <= hi for lo, hi in ranges) or any(t(ch) for t in tests)
                   for ch in {c, c.upper()})

    return (lambda c: not inside(c)) if negated else inside, i


def _matches(tokens: Sequence[Token], name: str) -> bool:
    """Whether ``tokens`` take the whole of ``name``: the set of places the automaton may be in,
    moved one character at a time (no backtracking)."""
    end = len(tokens)

    def closure(states: set[int]) -> set[int]:
        todo, seen = list(states), set(states)
        while todo:
            state = todo.pop()
            if state < end and tokens[state][1] != _ONE and state + 1 not in seen:
                seen.add(state + 1)
                todo.append(state + 1)
        return seen

    states = closure({0})
    for c in name:
        moved = set()
        for state in states:
            if state < end and tokens[state][0](c):
                moved.add(state if tokens[state][1] == _STAR else state + 1)
        if not moved:
            return False
        states = closure(moved)
    return end in states


# --- SearchTables ------------------------------------------------------------------------------

_TIMES = {"CreateTime": "create_time", "UpdateTime": "update_time"}
_INPUT_TIMES = ("LastAccessTime", "LastAnalyzedTime")
_TEXT_FIELDS = ("Name", "DatabaseName", "Description", "TableType", "Owner", "Location")
_SORTS = ("Name", "DatabaseName", "CreateTime", "UpdateTime")
_COMPARATORS = {"EQUALS": lambda a, b: a == b, "GREATER_THAN": lambda a, b: a > b,
                "LESS_THAN": lambda a, b: a < b, "GREATER_THAN_EQUALS": lambda a, b: a >= b,
                "LESS_THAN_EQUALS": lambda a, b: a <= b}  # fmt: skip
_TOKENS = re.compile(r"[^0-9a-z]+")


def texts(table: Table) -> list[str]:
    """What SearchText looks in: names, description, columns' names and comments, parameters."""
    d = table.definition
    descriptor = d.get("StorageDescriptor") or {}
    columns = [*(descriptor.get("Columns") or []), *(d.get("PartitionKeys") or [])]
    out = [table.name, table.database_name, d.get("Description")]
    out += [c.get(k) for c in columns if isinstance(c, Mapping) for k in ("Name", "Comment")]
    for params in (d.get("Parameters") or {}, descriptor.get("Parameters") or {}):
        out += [*params.keys(), *params.values()]
    return [str(t).lower() for t in out if t]


def matcher(search_text: str | None, filters: Sequence[Mapping[str, Any]] | None) -> Callable[[Table], bool]:
    """The test of SearchText and Filters (see the module docstring)."""
    tests: list[Callable[[Table], bool]] = []
    if search_text:
        text = search_text.strip().lower()
        if len(text) > 1 and text.startswith('"') and text.endswith('"'):
            exact = text[1:-1]
            tests.append(lambda t: exact in texts(t))
        else:
            tests.append(lambda t: any(text in field for field in texts(t)))
    for predicate in filters or ():
        tests.append(_filter(predicate))
    return lambda t: all(test(t) for test in tests)


def _filter(predicate: Mapping[str, Any]) -> Callable[[Table], bool]:
    if not isinstance(predicate, Mapping):
        raise errors.InvalidInputException("each of Filters must be a PropertyPredicate (Key, Value, Comparator)")
    key, value = predicate.get("Key"), predicate.get("Value")
    comparator = predicate.get("Comparator") or "EQUALS"
    if not isinstance(key, str) or not key or not isinstance(value, str):
        raise errors.InvalidInputException("a PropertyPredicate of Filters needs a Key and a Value")
    if comparator not in _COMPARATORS:
        raise errors.InvalidInputException(f"Comparator {str(comparator)[:40]!r} is not one of {', '.join(_COMPARATORS)}")
    if key in _TIMES or key in _INPUT_TIMES:
        bound, compare = _timestamp(value, key), _COMPARATORS[comparator]
        return lambda t: (when := _time_of(t, key)) is not None and compare(when, bound)
    wanted = value.lower()

    def test(t: Table) -> bool:
        field = _field(t, key)
        return field is not None and (field.lower() == wanted or wanted in _TOKENS.split(field.lower()))

    return test


def _field(t: Table, key: str) -> str | None:
    d = t.definition
    fields = {"Name": t.name, "DatabaseName": t.database_name, "Description": d.get("Description"),
              "TableType": d.get("TableType"), "Owner": d.get("Owner"),
              "Location": (d.get("StorageDescriptor") or {}).get("Location")}  # fmt: skip
    found = fields[key] if key in _TEXT_FIELDS else (d.get("Parameters") or {}).get(key)
    return str(found) if found is not None else None


def _timestamp(value: Any, key: str) -> float:
    """Epoch seconds of a predicate's or a TableInput's time (epoch seconds or ISO 8601)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise errors.InvalidInputException(f"{key}: {str(value)[:40]!r} is not epoch seconds or an ISO 8601 time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()


def _time_of(t: Table, key: str) -> float | None:
    if key in _TIMES:
        return float(getattr(t, _TIMES[key]).timestamp())
    value = t.definition.get(key)
    try:
        return None if value is None else _timestamp(value, key)
    except errors.InvalidInputException:
        return None


def sort_key(criteria: Sequence[Mapping[str, Any]] | None) -> tuple[Callable[[Table], list[Any]], bool]:
    """(the key tables sort by, whether it is descending), from SortCriteria (at most one)."""
    if not criteria:
        return (lambda t: ["", t.database_name, t.name]), False
    if len(criteria) > 1:
        raise errors.InvalidInputException("SortCriteria takes at most one criterion")
    field, order = criteria[0].get("FieldName"), criteria[0].get("Sort") or "ASC"
    if field not in _SORTS or order not in ("ASC", "DESC"):
        raise errors.InvalidInputException(
            f"SortCriteria: FieldName must be one of {', '.join(_SORTS)} and Sort ASC or DESC"
        )
    if field in _TIMES:
        return (lambda t: [getattr(t, _TIMES[field]).timestamp(), t.database_name, t.name]), order == "DESC"
    return (lambda t: [_field(t, field) or "", t.database_name, t.name]), order == "DESC"
