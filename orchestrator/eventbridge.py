"""EventBridge's event pattern language: compile a pattern once, then match events in microseconds.

EVENT triggers say which events count for them with an Amazon EventBridge event pattern, so a
pattern written for an EventBridge rule means the same here. Pure: no I/O, no clock.

Semantics, per AWS's documentation ("Creating event patterns", "Content filtering", "Arrays",
"Null values and empty strings"), and where it is silent, per Event Ruler, the library
EventBridge matches with:

* A pattern is a JSON object. A field's value is an array of alternatives (OR) or an object of
  nested fields; every field named must match (AND). Fields the pattern does not name are
  ignored. ``"$or": [pattern, pattern, ...]`` at any level ORs whole sub-patterns.
* Matchers only look at *leaves*: a string, number, boolean or ``null``. An array in the event
  offers each of its elements (nested arrays flattened), so a field matches if any element does;
  an array of objects offers each object to a nested pattern, whose fields must then all come
  from the same element. An object where the pattern wants a leaf, an empty array, or a missing
  field is no leaf at all: only ``{"exists": false}`` matches it (the docs' ``c-count`` example).
* Exact values compare as JSON: a string never equals a number, ``true`` never equals ``1``,
  ``null`` is not ``""``. Numbers compare numerically (``300`` matches ``300.0``): Event Ruler
  compiles a number in a pattern to its numeric form as well as its text (an older revision of
  "Creating event patterns" said 300, 300.0 and 3.0e2 differ).
* ``numeric``, and numbers in exact values and ``anything-but``, compare as EventBridge
  documents numeric matching: "15 digits of precision, six digits to the right of the decimal
  point", within +-5.0e9 (Event Ruler's range; an older revision of the docs said +-1.0e9).
  Values are quantised to that grid as Event Ruler does, so 5.0000001 counts as 5; a numeric
  matcher never matches a value outside the range (an exact value there still matches itself),
  and a bound outside it is refused.
* ``anything-but`` matches a leaf unless it is one of the values (or has the prefix, suffix,
  case-folded value or wildcard shape named); like every matcher it needs a leaf, so it never
  matches a missing field.
* ``equals-ignore-case`` and the ignore-case prefix/suffix fold with ``str.lower``.
* ``wildcard``: ``*`` matches any run of characters (newlines included); ``\\*`` is a literal
  star and ``\\\\`` a literal backslash; a backslash before anything else, and consecutive
  wildcards, are refused, as AWS refuses them.

Limits: a pattern's JSON text is at most ``MAX_PATTERN_CHARS`` (2048, EventBridge's default
quota; its service quota can be raised to 4096, hence ``compile(..., max_chars=...)``). A
mapping is measured as compact JSON. AWS also refuses wildcard patterns it finds too complex,
but documents no measure of it, so no such limit is enforced here.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.errors import InvalidInputException

__all__ = ["MATCHERS", "MAX_PATTERN_CHARS", "NUMERIC_LIMIT", "Pattern", "compile", "matches"]

MAX_PATTERN_CHARS = 2048  # EventBridge quotas: "Event pattern: 2048 characters maximum" (default)
NUMERIC_LIMIT = 5.0e9  # numeric matching: values between -5.0e9 and +5.0e9 inclusive
MATCHERS = (
    "anything-but",
    "cidr",
    "equals-ignore-case",
    "exists",
    "numeric",
    "prefix",
    "suffix",
    "wildcard",
)
_ANYTHING_BUT_MATCHERS = ("equals-ignore-case", "prefix", "suffix", "wildcard")
_LOWER_BOUNDS = (">", ">=")
_UPPER_BOUNDS = ("<", "<=")

ValueTest = Callable[[Any], bool]  # one leaf value of the event
ObjectTest = Callable[[Mapping[str, Any]], bool]  # one object of the event

_MISSING: Any = object()
_EMPTY: Mapping[str, Any] = {}


# --- values ----------------------------------------------------------------------------------


def _number_key(value: float) -> int | None:
    """A number on EventBridge's grid (six decimals, +-5e9), or None outside it.

    Event Ruler's own formula, ``(long) ((f + 5e9) * 1e6)`` on doubles, so values round the
    same way there and here."""
    if -NUMERIC_LIMIT <= value <= NUMERIC_LIMIT:
        return int((value + NUMERIC_LIMIT) * 1e6)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers_in(numbers: list[float]) -> Callable[[float], bool]:
    """Numeric equality with any of ``numbers``: on the grid inside the range, plain outside."""
    keys = frozenset(k for k in map(_number_key, numbers) if k is not None)
    outside = frozenset(n for n in numbers if _number_key(n) is None)

    def contains(value: float) -> bool:
        key = _number_key(value)
        return key in keys if key is not None else value in outside

    return contains


def _plain(value: Any) -> Any:
    """A subclass of a JSON scalar (a StrEnum, an IntEnum) as its plain value, which the fast
    paths compare by exact type."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def _leaves(array: list[Any] | tuple[Any, ...]) -> list[Any]:
    """The leaves an event array offers: its scalars, nested arrays flattened, objects skipped."""
    out: list[Any] = []
    stack = [iter(array)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, (list, tuple)):
                stack.append(iter(item))
                break
            if not isinstance(item, Mapping):
                out.append(_plain(item))
        else:
            stack.pop()
    return out


def _objects(array: list[Any] | tuple[Any, ...]) -> list[Mapping[str, Any]]:
    """The objects an event array offers to a nested pattern, nested arrays flattened."""
    out: list[Mapping[str, Any]] = []
    stack = [iter(array)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, (list, tuple)):
                stack.append(iter(item))
                break
            if isinstance(item, Mapping):
                out.append(item)
        else:
            stack.pop()
    return out


# --- errors ----------------------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value as the user wrote it (JSON), cut short: error messages quote what they refuse."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)  # not JSON (a YAML date, a set): Python's spelling says what it is
    return text if len(text) <= 120 else text[:117] + "..."


def _refuse(where: str, message: str) -> InvalidInputException:
    return InvalidInputException(f"{where}: {message}")


# --- matchers --------------------------------------------------------------------------------


def _check_number(where: str, name: str, value: Any, *, in_range: bool) -> float:
    if not _is_number(value):
        raise _refuse(where, f"{name} needs a number, got {_show(value)}")
    if not math.isfinite(value):
        raise _refuse(where, f"{name} needs a finite number, got {_show(value)}")
    if in_range and _number_key(value) is None:
        raise _refuse(
            where,
            f"{name} takes numbers between -5.0e9 and 5.0e9 (EventBridge's range), "
            f"got {_show(value)}",
        )
    return value


def _check_string(where: str, name: str, value: Any) -> str:
    if not isinstance(value, str):
        hint = " (YAML read it as a date: quote it)" if isinstance(value, datetime.date) else ""
        raise _refuse(where, f"{name} needs a string, got {_show(value)}{hint}")
    return value


def _numeric(where: str, operand: Any) -> ValueTest:
    """``[op, n]`` or a range ``[lower-op, n, upper-op, m]`` (either order)."""
    shape = f"numeric needs an operator then a number, got {_show(operand)}"
    if not isinstance(operand, (list, tuple)) or len(operand) not in (2, 4):
        raise _refuse(where, shape)
    lower: tuple[str, int] | None = None
    upper: tuple[str, int] | None = None
    equal: int | None = None
    for op, number in zip(operand[::2], operand[1::2], strict=True):
        if not isinstance(op, str) or not _is_number(number):
            raise _refuse(where, shape)
        if op not in ("=", *_LOWER_BOUNDS, *_UPPER_BOUNDS):
            raise _refuse(where, f"numeric operators are =, <, <=, >, >=, got {_show(op)}")
        key = _number_key(_check_number(where, "numeric", number, in_range=True))
        assert key is not None
        if op == "=":
            if len(operand) != 2:
                raise _refuse(where, f"numeric = stands alone, got {_show(operand)}")
            equal = key
        elif op in _LOWER_BOUNDS:
            if lower is not None:
                raise _refuse(
                    where, f"numeric takes one lower bound (> or >=), got {_show(operand)}"
                )
            lower = (op, key)
        else:
            if upper is not None:
                raise _refuse(
                    where, f"numeric takes one upper bound (< or <=), got {_show(operand)}"
                )
            upper = (op, key)
    if lower is not None and upper is not None and not lower[1] < upper[1]:
        raise _refuse(
            where,
            f"numeric range is empty: the lower bound must be below the upper, "
            f"got {_show(operand)}",
        )

    low = -1 if lower is None else lower[1] + (lower[0] == ">")  # key >= low
    high = 1 << 62 if upper is None else upper[1] - (upper[0] == "<")  # key <= high
    if equal is not None:
        low = high = equal

    limit = NUMERIC_LIMIT

    def numeric(value: Any) -> bool:
        kind = type(value)
        if kind is not int and kind is not float and (kind is bool or not _is_number(value)):
            return False
        # _number_key inlined: this runs per event per numeric matcher
        return -limit <= value <= limit and low <= int((value + limit) * 1e6) <= high

    return numeric


def _wildcard_parts(where: str, operand: Any) -> list[str]:
    """The literal runs between unescaped stars, after checking AWS's rules on escapes."""
    text = _check_string(where, "wildcard", operand)
    parts: list[str] = []
    run: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text) or text[i + 1] not in "*\\":
                raise _refuse(
                    where,
                    f"wildcard {_show(text)}: a backslash escapes only * or \\ "
                    "(in the string, \\* is a literal star and \\\\ a literal backslash)",
                )
            run.append(text[i + 1])
            i += 2
            continue
        if char == "*":
            if i + 1 < len(text) and text[i + 1] == "*":
                raise _refuse(
                    where, f"wildcard {_show(text)}: consecutive wildcards are not allowed"
                )
            parts.append("".join(run))
            run = []
        else:
            run.append(char)
        i += 1
    parts.append("".join(run))
    return parts


def _wildcard(where: str, operand: Any) -> ValueTest:
    """A glob of literal runs: leftmost placement of each inner run is optimal for ``*``-only
    globs, so this is linear per run and cannot backtrack the way ``.*a.*b`` regexes do."""
    parts = _wildcard_parts(where, operand)
    if len(parts) == 1:
        literal = parts[0]
        return lambda value: isinstance(value, str) and value == literal
    first, inner, last = parts[0], tuple(p for p in parts[1:-1] if p), parts[-1]
    shortest = len(first) + len(last) + sum(map(len, inner))

    def wildcard(value: Any) -> bool:
        if not isinstance(value, str) or len(value) < shortest:
            return False
        if not (value.startswith(first) and value.endswith(last)):
            return False
        at, end = len(first), len(value) - len(last)
        for run in inner:
            found = value.find(run, at, end)
            if found < 0:
                return False
            at = found + len(run)
        return True

    return wildcard


def _affix(where: str, name: str, operand: Any) -> tuple[str, bool]:
    """``prefix``/``suffix``: a string, or ``{"equals-ignore-case": string}``."""
    if isinstance(operand, Mapping):
        if len(operand) != 1 or "equals-ignore-case" not in operand:
            raise _refuse(
                where,
                f'{name} takes a string or {{"equals-ignore-case": string}}, got {_show(operand)}',
            )
        text = _check_string(where, f"{name} equals-ignore-case", operand["equals-ignore-case"])
        return text.lower(), True
    return _check_string(where, name, operand), False


def _strings(where: str, name: str, operand: Any) -> list[str]:
    """A string or a non-empty array of strings."""
    if isinstance(operand, (list, tuple)):
        if not operand:
            raise _refuse(where, f"{name} needs at least one string, got []")
        return [_check_string(where, name, item) for item in operand]
    return [_check_string(where, name, operand)]


def _cidr(where: str, operand: Any) -> ValueTest:
    text = _check_string(where, "cidr", operand)
    if "/" not in text:
        raise _refuse(
            where, f"cidr needs an address and a mask such as 10.0.0.0/24, got {_show(text)}"
        )
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise _refuse(where, f"cidr {_show(text)} is not an IPv4 or IPv6 range: {exc}") from None
    if network.network_address != ipaddress.ip_address(text.partition("/")[0]):
        # Event Ruler takes such a range from the address given up to the top of the block,
        # so "10.0.0.7/24" is 10.0.0.7-10.0.0.255 there, a plain CIDR reading 10.0.0.0/24:
        # refused rather than matching either way silently.
        raise _refuse(
            where, f"cidr {_show(text)} has host bits set; the range is {_show(str(network))}"
        )
    version, low = network.version, int(network.network_address)
    high = int(network.broadcast_address)

    def cidr(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return address.version == version and low <= int(address) <= high

    return cidr


def _anything_but(where: str, operand: Any) -> ValueTest:
    """Any leaf except the values, or except what the nested matcher matches."""
    if isinstance(operand, Mapping):
        if len(operand) != 1 or next(iter(operand)) not in _ANYTHING_BUT_MATCHERS:
            raise _refuse(
                where,
                "anything-but takes a value, an array of values, or one of "
                f"{', '.join(_ANYTHING_BUT_MATCHERS)} as an object, got {_show(operand)}",
            )
        name, inner = next(iter(operand.items()))
        if name in ("prefix", "suffix"):
            text = _check_string(where, f"anything-but {name}", inner)
            if not text:
                raise _refuse(where, f"anything-but {name} needs a non-empty string")
            if name == "prefix":
                return lambda value: not (isinstance(value, str) and value.startswith(text))
            return lambda value: not (isinstance(value, str) and value.endswith(text))
        if name == "equals-ignore-case":
            folded = frozenset(
                s.lower() for s in _strings(where, "anything-but equals-ignore-case", inner)
            )
            return lambda value: not (isinstance(value, str) and value.lower() in folded)
        globs = [_wildcard(where, item) for item in _strings(where, "anything-but wildcard", inner)]
        return lambda value: not any(glob(value) for glob in globs)
    items = list(operand) if isinstance(operand, (list, tuple)) else [operand]
    if not items:
        raise _refuse(where, "anything-but needs at least one value, got []")
    if all(isinstance(item, str) for item in items):
        strings = frozenset(items)
        return lambda value: not (isinstance(value, str) and value in strings)
    if all(_is_number(item) for item in items):
        contains = _numbers_in(
            [_check_number(where, "anything-but", item, in_range=True) for item in items]
        )
        return lambda value: not (_is_number(value) and contains(value))
    raise _refuse(
        where,
        f"anything-but takes strings or numbers (all of one kind), got {_show(operand)}",
    )


# --- leaf arrays -----------------------------------------------------------------------------


class _Leaf:
    """What one field's array of alternatives accepts, gathered by kind so the common cases
    (exact strings, a prefix or a suffix) become one set lookup or one ``startswith`` call."""

    def __init__(self) -> None:
        self.strings: set[str] = set()
        self.numbers: list[float] = []
        self.null = self.true = self.false = False
        self.exists_true = self.exists_false = False
        self.prefixes: list[str] = []
        self.suffixes: list[str] = []
        self.folded_prefixes: list[str] = []
        self.folded_suffixes: list[str] = []
        self.folded: set[str] = set()
        self.tests: list[ValueTest] = []

    def add(self, where: str, item: Any) -> None:
        if isinstance(item, Mapping):
            self.add_matcher(where, item)
        elif item is None:
            self.null = True
        elif isinstance(item, bool):
            if item:
                self.true = True
            else:
                self.false = True
        elif isinstance(item, str):
            self.strings.add(str.__str__(item))
        elif _is_number(item):
            self.numbers.append(_check_number(where, "an exact value", item, in_range=False))
        elif isinstance(item, (list, tuple)):
            raise _refuse(
                where, f"arrays inside a field's array are not allowed, got {_show(item)}"
            )
        else:
            raise _refuse(
                where,
                f"values are JSON strings, numbers, true, false, null or matcher objects, "
                f"got {_show(item)}",
            )

    def add_matcher(self, where: str, item: Mapping[str, Any]) -> None:
        if len(item) != 1:
            raise _refuse(where, f"a matcher is an object with exactly one key, got {_show(item)}")
        name, operand = next(iter(item.items()))
        if name not in MATCHERS:
            raise _refuse(
                where, f"unknown matcher {_show(name)}; the matchers are {', '.join(MATCHERS)}"
            )
        if name == "exists":
            if not isinstance(operand, bool):
                raise _refuse(where, f"exists takes true or false, got {_show(operand)}")
            if operand:
                self.exists_true = True
            else:
                self.exists_false = True
        elif name in ("prefix", "suffix"):
            text, ignore_case = _affix(where, name, operand)
            if name == "prefix":
                (self.folded_prefixes if ignore_case else self.prefixes).append(text)
            else:
                (self.folded_suffixes if ignore_case else self.suffixes).append(text)
        elif name == "equals-ignore-case":
            self.folded.add(_check_string(where, name, operand).lower())
        elif name == "numeric":
            self.tests.append(_numeric(where, operand))
        elif name == "anything-but":
            self.tests.append(_anything_but(where, operand))
        elif name == "cidr":
            self.tests.append(_cidr(where, operand))
        else:
            self.tests.append(_wildcard(where, operand))

    def string_test(self) -> Callable[[str], bool] | None:
        """Every string alternative (exact, prefix, suffix, ignoring case) as one test of a
        ``str``, folding it at most once; None when there are none."""
        strings = frozenset(self.strings)
        prefixes, suffixes = tuple(self.prefixes), tuple(self.suffixes)
        folded = frozenset(self.folded)
        starts, ends = tuple(self.folded_prefixes), tuple(self.folded_suffixes)
        if not (prefixes or suffixes or folded or starts or ends):
            return strings.__contains__ if strings else None
        folding = bool(folded or starts or ends)

        def string_test(value: str) -> bool:
            if value in strings:
                return True
            if prefixes and value.startswith(prefixes):
                return True
            if suffixes and value.endswith(suffixes):
                return True
            if folding:
                lower = value.lower()
                return (
                    lower in folded
                    or (bool(starts) and lower.startswith(starts))
                    or (bool(ends) and lower.endswith(ends))
                )
            return False

        return string_test

    def only_strings(self) -> bool:
        """Whether only strings can match: no number, boolean, null or other matcher."""
        return not (self.numbers or self.null or self.true or self.false or self.tests)

    def compile(self) -> ValueTest:
        """One test for one leaf value (a plain ``str``, ``int``, ``float``, ``bool`` or None,
        or another type): exact values by kind first, then the matchers."""
        string_test = self.string_test()
        tests = tuple(self.tests)
        numbers = _numbers_in(self.numbers) if self.numbers else None
        null, true, false = self.null, self.true, self.false
        if self.only_strings():
            if string_test is None:
                return lambda value: False
            return lambda value: type(value) is str and string_test(value)
        if string_test is None and not (numbers or null or true or false) and len(tests) == 1:
            return tests[0]  # one matcher (numeric, cidr, ...): it checks the kind itself

        def test(value: Any) -> bool:
            kind = type(value)
            if kind is str:
                if string_test is not None and string_test(value):
                    return True
            elif kind is bool:
                if true if value else false:
                    return True
            elif value is None:
                if null:
                    return True
            elif (kind is int or kind is float) and numbers is not None and numbers(value):
                return True
            for each in tests:  # noqa: SIM110 (a loop is cheaper than any() over a generator)
                if each(value):
                    return True
            return False

        return test


def _leaf_field(key: str, leaf: _Leaf) -> ObjectTest:
    """A field whose pattern is an array: the event's value must offer a leaf that passes.

    A scalar of a JSON type is tested in place; anything else (an array, an object, a missing
    field, a subclass of a scalar) goes the slow way round."""
    test = leaf.compile()
    exists_true, exists_false = leaf.exists_true, leaf.exists_false

    def slow(value: Any) -> bool:
        if value is _MISSING or isinstance(value, Mapping):
            return exists_false
        if isinstance(value, (list, tuple)):
            leaves = _leaves(value)
            if not leaves:
                return exists_false
            return exists_true or any(map(test, leaves))
        return exists_true or test(_plain(value))

    if exists_true:

        def field(obj: Mapping[str, Any]) -> bool:
            value = obj.get(key, _MISSING)
            kind = type(value)
            if kind is str or kind is int or kind is float or kind is bool or value is None:
                return True
            return slow(value)

        return field

    string_test = leaf.string_test()
    if leaf.only_strings() and string_test is not None:
        # the common case (exact names, a prefix, a suffix): the string is tested in place

        def strings_field(obj: Mapping[str, Any]) -> bool:
            value = obj.get(key, _MISSING)
            if type(value) is str:
                return string_test(value)
            return slow(value)

        return strings_field

    def field(obj: Mapping[str, Any]) -> bool:
        value = obj.get(key, _MISSING)
        kind = type(value)
        if kind is str or kind is int or kind is float or kind is bool or value is None:
            return test(value)
        return slow(value)

    return field


def _nested_field(key: str, sub: ObjectTest) -> ObjectTest:
    """A field whose pattern is an object: the event's object (or any object of its array) must
    match it; anything else is matched as an empty object, where only ``exists: false`` holds."""
    on_empty = sub(_EMPTY)

    def field(obj: Mapping[str, Any]) -> bool:
        value = obj.get(key, _MISSING)
        if type(value) is dict:
            return sub(value)
        if isinstance(value, Mapping):
            return sub(value)
        if isinstance(value, (list, tuple)):
            objects = _objects(value)
            if objects:
                return any(map(sub, objects))
        return on_empty

    return field


# --- objects ---------------------------------------------------------------------------------


def _all(tests: list[ObjectTest]) -> ObjectTest:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda obj: first(obj) and second(obj)
    every = tuple(tests)

    def all_of(obj: Mapping[str, Any]) -> bool:
        for test in every:  # noqa: SIM110 (a loop is cheaper than all() over a generator)
            if not test(obj):
                return False
        return True

    return all_of


def _any(tests: list[ObjectTest]) -> ObjectTest:
    some = tuple(tests)

    def any_of(obj: Mapping[str, Any]) -> bool:
        for test in some:  # noqa: SIM110 (a loop is cheaper than any() over a generator)
            if test(obj):
                return True
        return False

    return any_of


def _object(node: Any, where: str, in_or: bool) -> ObjectTest:
    """An object of the pattern as one test: leaf fields first (cheapest), then nested objects,
    then ``$or`` groups; AND is commutative and every test is pure, so order is free."""
    if not isinstance(node, Mapping):
        raise _refuse(where, f"must be a JSON object, got {_show(node)}")
    if not node:
        raise _refuse(where, "must not be an empty object (a pattern names the fields it matches)")
    leaves: list[ObjectTest] = []
    nested: list[ObjectTest] = []
    ors: list[ObjectTest] = []
    for key, value in node.items():
        if not isinstance(key, str):
            raise _refuse(where, f"field names are strings, got {_show(key)}")
        path = f"{where}.{key}"
        if key == "$or":
            if not isinstance(value, (list, tuple)) or len(value) < 2:
                raise _refuse(path, f"must be an array of at least 2 objects, got {_show(value)}")
            ors.append(_any([_object(alt, f"{path}[{i}]", True) for i, alt in enumerate(value)]))
        elif in_or and key in MATCHERS:
            # Event Ruler refuses matcher names as field names inside $or: almost always a
            # matcher written one level too high.
            raise _refuse(
                path,
                f"{_show(key)} is a matcher, not a field; write "
                f'{{"field": [{{{_show(key)}: ...}}]}}',
            )
        elif isinstance(value, Mapping):
            nested.append(_nested_field(key, _object(value, path, in_or)))
        elif isinstance(value, (list, tuple)):
            if not value:
                raise _refuse(path, "must not be an empty array (it would match nothing)")
            leaf = _Leaf()
            for item in value:
                leaf.add(path, item)
            leaves.append(_leaf_field(key, leaf))
        else:
            hint = ""
            if key in MATCHERS:
                hint = f'; a matcher goes inside the field\'s array: "field": [{{"{key}": ...}}]'
            raise _refuse(path, f"must be an array of values or matchers, got {_show(value)}{hint}")
    return _all(leaves + nested + ors)


# --- the public surface ----------------------------------------------------------------------


class Pattern:
    """A compiled event pattern: immutable, hashable, equal to the same pattern however its
    keys were ordered or its JSON spaced."""

    __slots__ = ("_canonical", "_test", "_text")

    _test: ObjectTest
    _text: str
    _canonical: str

    def __init__(self, test: ObjectTest, text: str, canonical: str) -> None:
        object.__setattr__(self, "_test", test)
        object.__setattr__(self, "_text", text)
        object.__setattr__(self, "_canonical", canonical)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Pattern is immutable")

    @property
    def source(self) -> dict[str, Any]:
        """The pattern as given, as JSON data (a fresh copy: changing it changes nothing here)."""
        source: dict[str, Any] = json.loads(self._text)
        return source

    @property
    def text(self) -> str:
        """The pattern as compact JSON text, keys in the order given."""
        return self._text

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether the event (an EventBridge envelope, or any JSON object) matches."""
        if type(event) is not dict and not isinstance(event, Mapping):
            raise TypeError(f"an event is a mapping, got {type(event).__name__}")
        return self._test(event)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and other._canonical == self._canonical

    def __hash__(self) -> int:
        return hash(self._canonical)

    def __repr__(self) -> str:
        return f"Pattern({self._text})"


def _as_dict(value: Any) -> dict[str, Any]:
    """``json.dumps``'s fallback: a pattern checked by ``_object`` holds no other non-JSON type
    than a mapping that is not a dict (a MappingProxyType, a YAML loader's own mapping)."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def compile(
    pattern: Mapping[str, Any] | str | Pattern,
    *,
    where: str = "EventPattern",
    max_chars: int = MAX_PATTERN_CHARS,
) -> Pattern:
    """Check an event pattern (a mapping, or its JSON text) and compile it into a ``Pattern``.

    Refuses what EventBridge refuses with ``InvalidInputException``, its message naming the
    place (``EventPattern.detail.size: ...``; ``where`` is the root's name)."""
    if isinstance(pattern, Pattern):
        return pattern
    if isinstance(pattern, str):
        if len(pattern) > max_chars:
            raise _refuse(where, f"is {len(pattern)} characters; EventBridge allows {max_chars}")
        try:
            data = json.loads(pattern, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            raise _refuse(
                where, f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        except (ValueError, RecursionError) as exc:
            raise _refuse(where, f"is not valid JSON: {exc}") from None
    elif isinstance(pattern, Mapping):
        data = pattern
    else:
        raise _refuse(
            where,
            f"must be a JSON object (a mapping or its JSON text), got {type(pattern).__name__}",
        )
    try:
        test = _object(data, where, False)
        text = json.dumps(
            data, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_as_dict
        )
        canonical = json.dumps(
            data,
            ensure_ascii=False,
            separators=(",", ":"),
            allow_nan=False,
            sort_keys=True,
            default=_as_dict,
        )
    except RecursionError:
        raise _refuse(where, "is nested too deeply") from None
    if not isinstance(pattern, str) and len(text) > max_chars:
        raise _refuse(where, f"is {len(text)} characters as JSON; EventBridge allows {max_chars}")
    return Pattern(test, text, canonical)


_CACHE_SIZE = 256
_cache: OrderedDict[str, Pattern] = OrderedDict()
_cache_lock = threading.Lock()


def matches(pattern: Mapping[str, Any] | str | Pattern, event: Mapping[str, Any]) -> bool:
    """Whether ``event`` matches ``pattern``, compiling through a small LRU cache keyed by the
    pattern's text (a dict's repr). A hot loop should hold the ``Pattern`` from ``compile`` instead: keying
    a dict costs a ``repr`` per call."""
    if isinstance(pattern, Pattern):
        return pattern.matches(event)
    if isinstance(pattern, str):
        key = pattern
    elif type(pattern) is dict:
        # repr, not JSON: JSON would give {1: ...} and {"1": ...} one key, and one is refused
        key = "\0" + repr(pattern)
    else:
        return compile(pattern).matches(event)
    with _cache_lock:
        compiled = _cache.get(key)
        if compiled is not None:
            _cache.move_to_end(key)
    if compiled is None:
        compiled = compile(pattern)
        with _cache_lock:
            _cache[key] = compiled
            if len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return compiled.matches(event)
