"""Glue's request checks and response shapes, derived from botocore's Glue service model.

botocore's client checks types and required members and lets the rest through; Glue's server
also enforces the model's enums, lengths, ranges and patterns, and so do we, from the same model
(``service-2.json``; paging from ``paginators-1.json``). Each shape compiles once, on first use,
into a closure, so a request walks its data and never the model. Patterns are Java regexes
matched against the whole value; ``java_pattern`` gives them Java's meaning in Python's ``re``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import math
import re
import sys
import threading
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator import errors
from orchestrator.definitions import text

LISTED = 10  # problems a message lists; the count covers them all
MAX_DEPTH = 100  # containers inside containers; the model's own shapes nest far less
Reason = Callable[[Any], "str | None"]  # why a scalar breaks its shape, or None
Check = Callable[[Any, str, "_Problems", int], None]  # (value, path, problems, depth)
Shaper = Callable[[Any], Any]


@functools.cache
def _loader() -> Any:
    from botocore.loaders import Loader  # on first use: importing this module stays cheap

    return Loader()


@functools.cache
def _model() -> dict[str, Any]:
    return _loader().load_service_model("glue", "service-2")


@functools.cache
def operation_names() -> frozenset[str]:
    """Every Glue operation in the model; ``validate`` and ``output`` take only these."""
    return frozenset(_model()["operations"])


@functools.cache
def declared_errors(operation: str) -> frozenset[str]:
    """The exception shapes the operation declares (EntityNotFoundException, ...)."""
    return frozenset(e["shape"] for e in _model()["operations"][operation].get("errors", ()))


# -- requests ----------------------------------------------------------------------------------


def validate(operation: str, params: object) -> dict[str, Any]:
    """``params`` (the parsed JSON body) if it fits the operation's input shape.

    Raises InvalidInputException naming every bad member, AWS-style. Members the model does not
    declare are ignored: a newer botocore may send them. ``operation`` must be one of
    ``operation_names()`` (else KeyError).
    """
    check = _request_check(operation)
    if not isinstance(params, dict):
        raise errors.InvalidInputException(
            f"The request body must be a JSON object, not {_described(params)}"
        )
    problems = _Problems()
    check(params, "", problems, 0)
    if problems.count:
        raise problems.error()
    return params


class _Problems:
    """Every problem counted; the first LISTED kept as AWS words them."""

    __slots__ = ("count", "listed", "redacting")

    def __init__(self) -> None:
        self.count = 0
        self.listed: list[str] = []
        self.redacting = 0  # inside a sensitive container: no value is quoted

    def add(self, path: str, value: Any, constraint: str, sensitive: bool = False) -> None:
        self.count += 1
        if self.count <= LISTED:
            # AWS leaves a sensitive member's value out of the message, and so do we.
            shown = "" if sensitive or self.redacting else f" {_described(value)}"
            self.listed.append(
                f"Value{shown} at '{text.shown(path, 200)}' failed to satisfy constraint: {constraint}"
            )

    def error(self) -> errors.InvalidInputException:
        n = self.count
        more = f"; and {n - LISTED} more" if n > LISTED else ""
        plural = "s" if n != 1 else ""
        return errors.InvalidInputException(
            f"{n} validation error{plural} detected: {'; '.join(self.listed)}{more}"
        )


def _described(value: Any) -> str:
    """A value as JSON calls it, quoted and clipped (text.quote) when it is a scalar."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return text.quote(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_compile_lock = threading.RLock()  # compiling fills shared memos; a request only reads them


@functools.cache
def _request_check(operation: str) -> Check:
    with _compile_lock:
        return _check(_model()["operations"][operation]["input"]["shape"])


def _memoized(memo: dict[str, Any], name: str, build: Callable[[str], Any]) -> Any:
    """``build(name)`` once; a recursive shape meets a forwarder to itself while it is built."""
    if name in memo:
        return memo[name]
    done: list[Any] = []
    memo[name] = lambda *args: done[0](*args)  # only shapes in the same cycle ever hold this
    built = build(name)
    memo[name] = built
    done.append(built)
    return built


_checks: dict[str, Check] = {}
_reasons: dict[str, Reason | None] = {}


def _check(name: str) -> Check:
    reason = _reason(name)
    if reason is not None:
        sensitive = bool(_model()["shapes"][name].get("sensitive"))

        def scalar(value: Any, path: str, problems: _Problems, depth: int) -> None:
            if (why := reason(value)) is not None:
                problems.add(path, value, why, sensitive)

        return scalar
    return _memoized(_checks, name, _build_check)


def _member(name: str) -> tuple[Reason | None, Check, bool]:
    """A container's view of a member shape: a scalar is checked in place, with no path built."""
    return _reason(name), _check(name), bool(_model()["shapes"][name].get("sensitive"))


def _build_check(name: str) -> Check:
    shape = _model()["shapes"][name]
    if shape.get("document"):
        return lambda value, path, problems, depth: None  # any JSON value
    build = {"list": _list_check, "map": _map_check}.get(shape["type"], _structure_check)
    check = build(shape)
    if not shape.get("sensitive"):
        return check

    def redacted(value: Any, path: str, problems: _Problems, depth: int) -> None:
        problems.redacting += 1
        try:
            check(value, path, problems, depth)
        finally:
            problems.redacting -= 1

    return redacted


def _structure_check(shape: dict[str, Any]) -> Check:
    members = {key: _member(spec["shape"]) for key, spec in shape["members"].items()}
    required = tuple(shape.get("required", ()))
    union = tuple(members) if shape.get("union") else ()

    def check(value: Any, path: str, problems: _Problems, depth: int) -> None:
        if not isinstance(value, dict):
            problems.add(path, value, "Member must be an object")
            return
        if depth >= MAX_DEPTH:
            problems.add(path, value, f"Member is nested too deep (more than {MAX_DEPTH} levels)")
            return
        for key, item in value.items():
            if item is None or (member := members.get(key)) is None:
                continue  # null is absent; an unknown member may be a newer model's
            reason, inner, sensitive = member
            if reason is None:
                inner(item, _join(path, key), problems, depth + 1)
            elif (why := reason(item)) is not None:
                problems.add(_join(path, key), item, why, sensitive)
        for key in required:
            if value.get(key) is None:
                problems.add(_join(path, key), None, "Member must not be null")
        if union and sum(value.get(key) is not None for key in union) != 1:
            problems.add(path, value, f"Member must have exactly one of: {text.listing(union, 20)}")

    return check


def _out_of(low: float, high: float, unit: str) -> Callable[[float], str]:
    """The reason a size or value outside [low, high] gives (checks compare inline, for speed)."""

    def reason(size: float) -> str:
        if size < low:
            return f"Member must have {unit} greater than or equal to {low}"
        return f"Member must have {unit} less than or equal to {high}"

    return reason


def _list_check(shape: dict[str, Any]) -> Check:
    reason, inner, sensitive = _member(shape["member"]["shape"])
    low, high = shape.get("min", 0), shape.get("max", math.inf)
    out_of = _out_of(low, high, "length")

    def check(value: Any, path: str, problems: _Problems, depth: int) -> None:
        if not isinstance(value, list):
            problems.add(path, value, "Member must be an array")
            return
        if depth >= MAX_DEPTH:
            problems.add(path, value, f"Member is nested too deep (more than {MAX_DEPTH} levels)")
            return
        if not low <= len(value) <= high:
            problems.add(path, value, out_of(len(value)))
        for i, item in enumerate(value):
            if item is None:
                problems.add(f"{path}[{i}]", None, "Member must not be null")
            elif reason is None:
                inner(item, f"{path}[{i}]", problems, depth + 1)
            elif (why := reason(item)) is not None:
                problems.add(f"{path}[{i}]", item, why, sensitive)

    return check


def _map_check(shape: dict[str, Any]) -> Check:
    key_reason = _reason(shape["key"]["shape"]) or (lambda key: None)
    key_sensitive = bool(_model()["shapes"][shape["key"]["shape"]].get("sensitive"))
    reason, inner, sensitive = _member(shape["value"]["shape"])
    low, high = shape.get("min", 0), shape.get("max", math.inf)
    out_of = _out_of(low, high, "number of entries")

    def check(value: Any, path: str, problems: _Problems, depth: int) -> None:
        if not isinstance(value, dict):
            problems.add(path, value, "Member must be an object")
            return
        if depth >= MAX_DEPTH:
            problems.add(path, value, f"Member is nested too deep (more than {MAX_DEPTH} levels)")
            return
        if not low <= len(value) <= high:
            problems.add(path, value, out_of(len(value)))
        for key, item in value.items():
            if (why := key_reason(key)) is not None:
                problems.add(path, key, f"Map keys must satisfy constraint: [{why}]", key_sensitive)
            if item is None:
                problems.add(_join(path, key), None, "Member must not be null")
            elif reason is None:
                inner(item, _join(path, key), problems, depth + 1)
            elif (why := reason(item)) is not None:
                problems.add(_join(path, key), item, why, sensitive)

    return check


def _reason(name: str) -> Reason | None:
    """The check of a scalar shape, as a function of the value alone; None for a container."""
    if name not in _reasons:
        shape = _model()["shapes"][name]
        build = _SCALARS.get(shape["type"])
        _reasons[name] = build(shape) if build is not None else None
    return _reasons[name]


def _string_reason(shape: dict[str, Any]) -> Reason:
    enum = frozenset(shape.get("enum", ()))
    enum_reason = f"Member must satisfy enum value set: [{text.listing(shape.get('enum', ()), 20)}]"
    low, high = shape.get("min", 0), shape.get("max", math.inf)
    out_of = _out_of(low, high, "length")
    matches = _matcher(shape["pattern"]) if "pattern" in shape else None
    pattern_reason = f"Member must satisfy regular expression pattern: {shape.get('pattern')}"

    def reason(value: Any) -> str | None:
        if not isinstance(value, str):
            return "Member must be a string"
        if enum and value not in enum:
            return enum_reason
        if not low <= len(value) <= high:
            return out_of(len(value))  # and the pattern is not tried on a value of any length
        if matches is not None and matches(value) is None:
            return pattern_reason
        return None

    return reason


_INTEGERS = {"integer": 2**31, "long": 2**63}  # Java's int and long, whatever the model says


def _integer_reason(shape: dict[str, Any]) -> Reason:
    bound = _INTEGERS[shape["type"]]
    low, high = max(shape.get("min", -bound), -bound), min(shape.get("max", bound - 1), bound - 1)
    out_of = _out_of(low, high, "value")

    def reason(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "Member must be an integer"  # JSON's true is no number, though bool is an int
        return None if low <= value <= high else out_of(value)

    return reason


def _number_reason(shape: dict[str, Any]) -> Reason:
    low, high = shape.get("min", -math.inf), shape.get("max", math.inf)
    out_of = _out_of(low, high, "value")

    def reason(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "Member must be a number"
        if not (math.isfinite(value) if isinstance(value, float) else value.bit_length() < 1024):
            return "Member must be a finite number"
        return None if low <= value <= high else out_of(value)

    return reason


def _boolean_reason(shape: dict[str, Any]) -> Reason:
    return lambda value: None if isinstance(value, bool) else "Member must be a boolean"


def _timestamp_reason(shape: dict[str, Any]) -> Reason:
    why = "Member must be a timestamp: epoch seconds or an ISO-8601 string"
    return lambda value: None if _is_timestamp(value) else why


def _is_timestamp(value: Any) -> bool:
    if isinstance(value, str):
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def _blob_reason(shape: dict[str, Any]) -> Reason:
    return lambda value: None if _is_base64(value) else "Member must be a base64-encoded string"


def _is_base64(value: Any) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return False
    return isinstance(value, str)


_SCALARS: dict[str, Callable[[dict[str, Any]], Reason]] = {
    "string": _string_reason, "integer": _integer_reason, "long": _integer_reason,
    "double": _number_reason, "float": _number_reason, "boolean": _boolean_reason,
    "timestamp": _timestamp_reason, "blob": _blob_reason,
}  # fmt: skip


# -- patterns ----------------------------------------------------------------------------------

_JAVA_DOT = r"[^\n\r\x85\u2028\u2029]"  # Java's `.`: anything but a line terminator
# Patterns whose literal translation backtracks quadratically or worse on a value that almost
# matches, each with a linear equivalent (a test checks that both agree).
_LINEAR = {
    # `.*C.*`, C a class: all characters are Java dots but at most one, which is C; with none
    # left over, one of the dots is C.
    r".*\S.*": rf"(?={_JAVA_DOT}*+\Z)\s*+\S{_JAVA_DOT}*+|{_JAVA_DOT}*+\S{_JAVA_DOT}*+",
    r""".*[^<>&'"].*""": (
        rf"""(?={_JAVA_DOT}*+\Z)[<>&'"]*+[^<>&'"]{_JAVA_DOT}*+|{_JAVA_DOT}*+[^<>&'"]{_JAVA_DOT}*+"""
    ),
    # `(\.C+)*` with `.` in C: any split of the dots is the same string, one group says it.
    r"\$(\.[a-zA-Z0-9_.@\[\]\(\)-]+)*": r"\$(?:\.[a-zA-Z0-9_.@\[\]\(\)-]++)?+",
}
_SAME_ESCAPES = frozenset("sSwWdDbBtnrfaAx")  # letters Java and re agree on (no backreferences)
_CATEGORIES = frozenset({
    "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No",
    "P", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp",
})  # fmt: skip


def java_pattern(java: str, *, linear: bool = True) -> re.Pattern[str]:
    """A model pattern (a Java regex) compiled for Python's ``re``, to be used with fullmatch.

    Java's ``\\w \\d \\s`` are ASCII (``re.ASCII``); its ``.`` also stops at ``\\r``, U+0085,
    U+2028 and U+2029. A surrogate pair in a class (``\\uD800\\uDC00-\\uDBFF\\uDFFF``) is one
    code point, as a Python str holds it (``\\U00010000-\\U0010FFFF``), so a lone surrogate stays
    outside it. ``\\p{L}``-style categories become code point ranges. ``linear=False`` skips the
    rewrites of backtracking patterns. Raises ValueError for a construct with no translation.
    """
    python = _LINEAR.get(java) if linear else None
    return re.compile(python or _translate(java), re.ASCII)


@functools.cache
def _matcher(java: str) -> Callable[[str], re.Match[str] | None] | None:
    try:
        return java_pattern(java).fullmatch
    except (ValueError, re.error):
        return None  # a Java construct Python cannot say: the value goes unchecked, not refused


def _translate(java: str) -> str:
    out: list[str] = []
    i, in_class = 0, False
    while i < len(java):
        c = java[i]
        if c == "\\":
            e = java[i + 1 : i + 2]
            if e == "u":
                code = int(java[i + 2 : i + 6], 16)
                i += 6
                if 0xD800 <= code < 0xDC00 and re.match(r"\\u[dD][c-fC-F]", java[i : i + 4]):
                    code = 0x10000 + ((code - 0xD800) << 10) + int(java[i + 2 : i + 6], 16) - 0xDC00
                    i += 6  # a surrogate pair: one code point above U+FFFF
                out.append(f"\\U{code:08x}")
                continue
            if e in ("p", "P"):
                m = re.match(r"\{(?:Is)?(\w+)\}|(\w)", java[i + 2 :])
                name = m and (m.group(1) or m.group(2))
                if not m or name not in _CATEGORIES or (e == "P" and in_class):
                    raise ValueError(f"unsupported Java class \\{e}{java[i + 2 : i + 12]}")
                ranges = _category_ranges(name)
                out.append(ranges if in_class else f"[{'^' if e == 'P' else ''}{ranges}]")
                i += 2 + len(m.group(0))
                continue
            if e.isalnum() and e not in _SAME_ESCAPES:
                raise ValueError(f"unsupported Java escape \\{e}")
            out.append(java[i : i + 2])
            i += 2
            continue
        if in_class and (c == "[" or java.startswith("&&", i)):
            raise ValueError("unsupported Java class union or intersection")
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        elif c == "." and not in_class:
            c = _JAVA_DOT
        elif c == "(" and not in_class and not java.startswith("(?", i):
            c = "(?:"  # nothing reads the groups, and re repeats a capturing group 25 times slower
        elif c in "|~" and in_class:
            c = "\\" + c  # literal in both, but re warns about `||` and `~~` in a class
        out.append(c)
        i += 1
    return "".join(out)


@functools.cache
def _category_ranges(category: str) -> str:
    """The code points of a Unicode general category, as the inside of an re class."""
    ranges = [(start, end) for name, start, end in _category_runs() if name.startswith(category)]
    merged: list[list[int]] = []
    for start, end in ranges:
        if merged and merged[-1][1] + 1 == start:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return "".join(f"\\U{start:08x}-\\U{end:08x}" for start, end in merged)


@functools.cache
def _category_runs() -> list[tuple[str, int, int]]:
    """(category, first, last) for every run of code points in one category (a few thousand)."""
    names = [unicodedata.category(chr(code)) for code in range(sys.maxunicode + 1)]
    runs, start = [], 0
    for code in range(1, len(names) + 1):
        if code == len(names) or names[code] != names[start]:
            runs.append((names[start], start, code - 1))
            start = code
    return runs


# -- responses ---------------------------------------------------------------------------------


def output(operation: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as the operation's output shape on the wire.

    Only declared members, at any depth (so no adhere-internal key leaks), None dropped,
    timestamps as epoch seconds (naive datetimes are UTC) or, for Iso8601DateTime, ISO-8601.
    """
    return _output_shaper(operation)(data)


@functools.cache
def _output_shaper(operation: str) -> Shaper:
    with _compile_lock:
        return _shaper(_model()["operations"][operation]["output"]["shape"])  # type: ignore[return-value]


_shapers: dict[str, Shaper | None] = {}


def _shaper(name: str) -> Shaper | None:
    """How a shape's value goes on the wire; None when it is its own wire form."""
    shape = _model()["shapes"][name]
    if shape["type"] == "timestamp":
        return _iso8601 if shape.get("timestampFormat") == "iso8601" else _epoch
    if shape["type"] in ("structure", "list", "map") and not shape.get("document"):
        return _memoized(_shapers, name, _build_shaper)
    return None


def _build_shaper(name: str) -> Shaper:
    shape = _model()["shapes"][name]
    if shape["type"] == "list":
        inner = _shaper(shape["member"]["shape"])
        if inner is None:
            return lambda data: [item for item in data if item is not None]
        return lambda data: [inner(item) for item in data if item is not None]
    if shape["type"] == "map":
        inner = _shaper(shape["value"]["shape"])
        if inner is None:
            return lambda data: {k: v for k, v in data.items() if v is not None}
        return lambda data: {k: inner(v) for k, v in data.items() if v is not None}
    members = {key: _shaper(spec["shape"]) for key, spec in shape["members"].items()}

    def structure(data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise TypeError(f"{name} must be a mapping, not {type(data).__name__}")
        out = {}
        for key, value in data.items():
            if value is not None and key in members:
                inner = members[key]
                out[key] = value if inner is None else inner(value)
        return out

    return structure


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if not isinstance(value, dt.datetime):
        raise TypeError(f"a timestamp must be a datetime, not {type(value).__name__}")
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _epoch(value: Any) -> float:
    """awsJson1_1's timestamp: epoch seconds, to the millisecond."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(float(value), 3)
    return round(_utc(value).timestamp(), 3)


def _iso8601(value: Any) -> str:
    return _utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- paging ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paging:
    """How an operation pages (its paginators-1.json entry) and the largest page the model allows."""

    input_token: str
    output_token: str
    limit_key: str | None
    result_keys: tuple[str, ...]
    max_limit: int | None


@functools.cache
def paging(operation: str) -> Paging | None:
    """The operation's paging, or None when Glue does not page it."""
    entry = _loader().load_service_model("glue", "paginators-1")["pagination"].get(operation)
    if entry is None:
        return None
    limit_key = entry.get("limit_key")
    max_limit = None
    if limit_key:
        model = _model()
        request = model["shapes"][model["operations"][operation]["input"]["shape"]]
        max_limit = model["shapes"][request["members"][limit_key]["shape"]].get("max")
    result = entry.get("result_key", ())
    return Paging(
        input_token=entry["input_token"],
        output_token=entry["output_token"],
        limit_key=limit_key,
        result_keys=(result,) if isinstance(result, str) else tuple(result),
        max_limit=max_limit,
    )
