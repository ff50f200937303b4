"""Job bookmarks (Glue's ``--job-bookmark-option``): the pure part, with no I/O.

Callers list files, partitions or rows and hand them in; this module says which are new and what
state to commit. The states live in Glue's ``JobBookmark``, an opaque JSON string: one object per
``transformation_ctx``, each with a ``kind`` ("files", "keys" or "partitions") so that a ctx reused
for another kind of source is refused instead of misread.

File sources follow Glue's S3 rule: a file is tracked by key and last-modified time, and a file
modified since it was processed is new again. A safety band (Glue's ``maxBand``) keeps the files
of the last ``band_ms`` before the listing by name, because a file written just before or during
the listing may become visible only later: only older files are summarised by the watermark.
"""

from __future__ import annotations

import json
import math
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, ClassVar, TypeVar

from orchestrator.errors import InvalidInputException

DISABLE, ENABLE, PAUSE = "job-bookmark-disable", "job-bookmark-enable", "job-bookmark-pause"
MODES = (ENABLE, PAUSE, DISABLE)
MAX_BAND_MS = 900_000  # Glue's default maxBand: 15 minutes

OPTION, FROM, TO = "--job-bookmark-option", "--job-bookmark-from", "--job-bookmark-to"
CONTINUATION = "--continuation-option"
# aws-glue-libs' legacy spelling of the same three modes
LEGACY = {
    "continuation-enabled": ENABLE,
    "continuation-readonly": PAUSE,
    "continuation-ignore": DISABLE,
}

Listing = Iterable[tuple[str, int]]  # (key, mtime_ms) of every file under a prefix


# --- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """A run's bookmark options, validated so that an engine never guesses what a run meant."""

    mode: str
    from_run: str | None = None  # --job-bookmark-from: input up to this run is skipped
    to_run: str | None = None  # --job-bookmark-to: input after this run is excluded

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidInputException(f"{OPTION} {self.mode!r} is not one of {', '.join(MODES)}")
        for name, value in ((FROM, self.from_run), (TO, self.to_run)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise InvalidInputException(f"{name} must be a job run id, not {value!r}")
        if (self.from_run is None) != (self.to_run is None):
            given, missing = (FROM, TO) if self.to_run is None else (TO, FROM)
            raise InvalidInputException(
                f"{given} needs {missing}: the rewind window takes both run ids or neither"
            )
        if self.from_run is not None and self.mode != PAUSE:
            raise InvalidInputException(
                f"{FROM} and {TO} apply only with {OPTION} {PAUSE}, not {self.mode}: "
                "a rewind window never updates the bookmark"
            )

    @property
    def advances(self) -> bool:
        """Whether a successful run commits its state: only ``enable`` does."""
        return self.mode == ENABLE

    @property
    def windowed(self) -> bool:
        """Whether the run reads the window between two earlier runs (pause with from/to)."""
        return self.from_run is not None


def _argument(arguments: Mapping[str, str], name: str) -> str | None:
    value = arguments.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidInputException(f"{name} must be a string, not {type(value).__name__}")
    return value


def options(arguments: Mapping[str, str]) -> Options:
    """The bookmark options of a run's effective arguments (default: disabled, as in Glue).

    The legacy ``--continuation-option`` is accepted; given with ``--job-bookmark-option`` the two
    must agree, since silently preferring one could reprocess or skip data.
    """
    mode = _argument(arguments, OPTION)
    legacy = _argument(arguments, CONTINUATION)
    if legacy is not None:
        if legacy not in LEGACY:
            raise InvalidInputException(
                f"{CONTINUATION} {legacy!r} is not one of {', '.join(LEGACY)}"
            )
        if mode is not None and mode != LEGACY[legacy]:
            raise InvalidInputException(
                f"{OPTION} {mode!r} and {CONTINUATION} {legacy!r} disagree: give only one"
            )
        mode = LEGACY[legacy]
    return Options(
        mode=DISABLE if mode is None else mode,
        from_run=_argument(arguments, FROM),
        to_run=_argument(arguments, TO),
    )


# --- states ----------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _object(data: Any, kind: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"a {kind!r} bookmark state must be a JSON object, not {data!r:.80}")
    found = data.get("kind")
    if found != kind:
        raise ValueError(f"a bookmark state of kind {found!r} is not a {kind!r} state")
    return data


@dataclass(frozen=True)
class FileState:
    """One ctx's state for a file source (S3 objects or local files).

    ``watermark_ms`` summarises everything old enough to have been visible to a listing;
    ``in_band`` names the younger files, which a later listing may still reveal.
    """

    KIND: ClassVar[str] = "files"

    prefix: str  # the path or s3:// prefix tracked: a ctx re-pointed elsewhere starts over
    watermark_ms: int  # every file with mtime <= watermark was seen
    in_band: Mapping[str, int] = field(default_factory=dict)  # key -> mtime of younger files

    def __post_init__(self) -> None:
        # a read-only copy: a frozen state must not change under a caller who keeps the dict
        object.__setattr__(self, "in_band", types.MappingProxyType(dict(self.in_band)))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "prefix": self.prefix,
            "watermark_ms": self.watermark_ms,
            "in_band": dict(self.in_band),
        }

    @classmethod
    def from_json(cls, data: Any) -> FileState:
        data = _object(data, cls.KIND)
        prefix, watermark, in_band = (
            data.get("prefix"),
            data.get("watermark_ms"),
            data.get("in_band"),
        )
        if not isinstance(prefix, str):
            raise ValueError(f"a files bookmark state needs a string prefix, not {prefix!r:.80}")
        if not _is_int(watermark):
            raise ValueError(
                f"a files bookmark state needs an int watermark_ms, not {watermark!r:.80}"
            )
        if not isinstance(in_band, Mapping) or not all(
            isinstance(k, str) and _is_int(m) for k, m in in_band.items()
        ):
            raise ValueError(
                "a files bookmark state needs in_band as an object of key -> int mtime"
            )
        return cls(prefix, watermark, in_band)


def _base(state: FileState | None, prefix: str) -> FileState | None:
    return state if state is not None and state.prefix == prefix else None


def _new(state: FileState | None, listing: Listing, prefix: str) -> dict[str, int]:
    state = _base(state, prefix)
    if state is None:
        return dict(listing)
    watermark, seen = state.watermark_ms, state.in_band.get
    return {key: mtime for key, mtime in listing if mtime > watermark and seen(key) != mtime}


def _ordered(files: Mapping[str, int]) -> list[str]:
    return [key for mtime, key in sorted((mtime, key) for key, mtime in files.items())]


def new_files(state: FileState | None, listing: Listing, *, prefix: str) -> list[str]:
    """Keys of the listing (key, mtime_ms) new since ``state``, by mtime then key.

    New: mtime > watermark and not in ``in_band`` with that same mtime, so that a file modified
    since it was processed is read again. No state, or a state of another prefix: all are new.
    """
    return _ordered(_new(state, listing, prefix))


def advance(
    state: FileState | None,
    listing: Listing,
    *,
    prefix: str,
    listed_at_ms: int,
    band_ms: int = MAX_BAND_MS,
) -> FileState:
    """The state to commit once this listing's new files are processed.

    ``listed_at_ms`` is when the listing STARTED: anything older than ``listed_at_ms - band_ms``
    is assumed visible to it and goes under the watermark; younger files (including those written
    while the listing ran) are kept by name, so one that shows up late is still new.
    """
    if not _is_int(listed_at_ms):
        raise InvalidInputException(f"listed_at_ms must be an int, not {listed_at_ms!r}")
    if not _is_int(band_ms) or band_ms < 0:
        raise InvalidInputException(f"maxBand must be a non-negative int of ms, not {band_ms!r}")
    base = _base(state, prefix)
    watermark = listed_at_ms - band_ms
    in_band: dict[str, int] = {}
    if base is not None:
        watermark = max(watermark, base.watermark_ms)
        in_band = {key: mtime for key, mtime in base.in_band.items() if mtime > watermark}
    # the listing wins over the old band: it holds the version that was just processed
    in_band.update({key: mtime for key, mtime in listing if mtime > watermark})
    return FileState(prefix, watermark, in_band)


def window(start: FileState | None, end: FileState, listing: Listing, *, prefix: str) -> list[str]:
    """The files that the runs after ``start`` up to and including ``end`` processed.

    For pause with ``--job-bookmark-from``/``--job-bookmark-to``: new relative to ``start`` and
    not new relative to ``end``, so anything that arrived after ``end`` is excluded.
    """
    if start is not None and start.prefix == end.prefix and start.watermark_ms > end.watermark_ms:
        raise InvalidInputException(
            f"{FROM} is a later run than {TO}: the rewind window would run backwards"
        )
    listing = list(listing)
    later = _new(end, listing, prefix)
    return _ordered({k: m for k, m in _new(start, listing, prefix).items() if k not in later})


def pinned(
    state: FileState | None, listing: Listing, *, prefix: str, listed_at_ms: int
) -> list[str]:
    """A re-run pinned to the input of an earlier attempt that listed at ``listed_at_ms``.

    New relative to ``state`` with mtime <= ``listed_at_ms``: what arrived since is left for the
    next run. To commit after it, ``advance`` over the same filtered listing (mtime <=
    ``listed_at_ms``), or the files left out would be recorded as seen.
    """
    new = _new(state, listing, prefix)
    return _ordered({k: m for k, m in new.items() if m <= listed_at_ms})


# --- rows (JDBC bookmark keys) ---------------------------------------------------------------

ORDERS = ("asc", "desc")
KeyValue = int | float | str


@dataclass(frozen=True)
class KeyState:
    """One ctx's state for a table read with ``jobBookmarkKeys``: the keys of the last row."""

    KIND: ClassVar[str] = "keys"

    keys: tuple[str, ...]
    order: str  # "asc" | "desc" (jobBookmarkKeysSortOrder)
    last: tuple[KeyValue, ...] | None  # None: nothing processed yet

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "keys": list(self.keys),
            "order": self.order,
            "last": None if self.last is None else list(self.last),
        }

    @classmethod
    def from_json(cls, data: Any) -> KeyState:
        data = _object(data, cls.KIND)
        keys, order, last = data.get("keys"), data.get("order"), data.get("last")
        if (
            not isinstance(keys, list)
            or not keys
            or not all(isinstance(k, str) and k for k in keys)
            or len(set(keys)) != len(keys)
        ):
            raise ValueError(
                f"a keys bookmark state needs a list of distinct keys, not {keys!r:.80}"
            )
        if order not in ORDERS:
            raise ValueError(
                f"a keys bookmark state needs order 'asc' or 'desc', not {order!r:.80}"
            )
        if last is not None and (
            not isinstance(last, list)
            or len(last) != len(keys)
            or not all(_is_key_value(v) for v in last)
        ):
            raise ValueError(
                f"a keys bookmark state needs last as {len(keys)} int, float or string values"
            )
        return cls(tuple(keys), order, None if last is None else tuple(last))


def _is_key_value(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) or _is_int(value)


def key_options(keys: Sequence[str] | str, order: str = "asc") -> tuple[tuple[str, ...], str]:
    """Validated ``jobBookmarkKeys`` and ``jobBookmarkKeysSortOrder``.

    A string is a comma-separated list; the order is case-insensitive and comes back lowercase.
    """
    names = keys.split(",") if isinstance(keys, str) else list(keys)
    if not all(isinstance(k, str) for k in names):
        raise InvalidInputException(f"jobBookmarkKeys must be column names, not {keys!r}")
    names = [k.strip() for k in names]
    if not names or not all(names):
        raise InvalidInputException(f"jobBookmarkKeys must name one or more columns, not {keys!r}")
    duplicates = sorted({k for k in names if names.count(k) > 1})
    if duplicates:
        raise InvalidInputException(f"jobBookmarkKeys repeats {', '.join(duplicates)}")
    normal = order.lower() if isinstance(order, str) else order
    if normal not in ORDERS:
        raise InvalidInputException(
            f"jobBookmarkKeysSortOrder must be 'asc' or 'desc', not {order!r}"
        )
    return tuple(names), normal


def key_filter(
    state: KeyState | None,
    keys: Sequence[str] | str | None = None,
    order: str | None = None,
) -> tuple[str, tuple[KeyValue, ...]] | None:
    """What the query must add: None (read everything) or ("gt" | "lt", last values).

    ("gt", (v1, v2)) means (k1, k2) > (v1, v2) lexicographically. Given the keys and order now
    configured, a state of other keys starts over (as a re-pointed prefix does).
    """
    if state is None or state.last is None:
        return None
    if keys is not None and key_options(keys, order or "asc") != (state.keys, state.order):
        return None
    return ("gt" if state.order == "asc" else "lt", state.last)


def _normal(value: Any) -> Any:
    # datetimes are stored as ISO strings, which sort like the datetimes of one time zone
    return value.isoformat() if isinstance(value, datetime | date | time) else value


def advance_keys(
    state: KeyState | None,
    keys: Sequence[str] | str,
    order: str,
    rows_keys: Iterable[Sequence[Any]],
) -> KeyState:
    """The state after processing rows (their key tuples): the max key (asc) or the min (desc).

    A row whose key is not beyond the last bookmarked one is refused: such keys are not strictly
    monotonic, and committing would skip rows for good.
    """
    names, order = key_options(keys, order)
    last = state.last if state is not None and (state.keys, state.order) == (names, order) else None
    asc = order == "asc"
    best = None
    for raw in rows_keys:
        row = tuple(_normal(v) for v in raw)
        if len(row) != len(names):
            raise InvalidInputException(
                f"a row has {len(row)} bookmark key values for the keys {', '.join(names)}"
            )
        for name, value in zip(names, row, strict=True):
            if not _is_key_value(value):
                raise InvalidInputException(
                    f"bookmark key {name} has the value {value!r}: keys must be non-null "
                    "ints, finite floats, strings or datetimes"
                )
        try:
            if last is not None and not (row > last if asc else row < last):
                raise InvalidInputException(_not_monotonic(names, order, row, last))
            if best is None or (row > best if asc else row < best):
                best = row
        except TypeError:
            other = best if last is None else last
            raise InvalidInputException(
                f"bookmark keys {', '.join(names)}: {row!r} cannot be compared with {other!r}"
            ) from None
    return KeyState(names, order, last if best is None else best)


def _not_monotonic(
    names: tuple[str, ...], order: str, row: tuple[Any, ...], last: tuple[Any, ...]
) -> str:
    way = "increasing" if order == "asc" else "decreasing"
    where = next((i for i, (a, b) in enumerate(zip(row, last, strict=True)) if a != b), None)
    if where is None:
        what = f"bookmark keys {', '.join(names)} repeat the last bookmarked value {last!r}"
    else:
        what = (
            f"bookmark key {names[where]} goes from {last[where]!r} back to {row[where]!r} "
            f"(row {row!r}, last bookmarked {last!r})"
        )
    return f"{what}: jobBookmarkKeys must be strictly monotonically {way}"


# --- catalog partitions ----------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionState:
    """One ctx's state for a Data Catalog table source: the partitions already processed."""

    KIND: ClassVar[str] = "partitions"

    table: str  # "database.table": a ctx re-pointed at another table starts over
    seen: frozenset[tuple[str, ...]] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "table": self.table,
            "seen": [list(p) for p in sorted(self.seen)],
        }

    @classmethod
    def from_json(cls, data: Any) -> PartitionState:
        data = _object(data, cls.KIND)
        table, seen = data.get("table"), data.get("seen")
        if not isinstance(table, str) or not table:
            raise ValueError(f"a partitions bookmark state needs a table name, not {table!r:.80}")
        if not isinstance(seen, list) or not all(
            isinstance(p, list) and all(isinstance(v, str) for v in p) for p in seen
        ):
            raise ValueError("a partitions bookmark state needs seen as lists of string values")
        return cls(table, frozenset(tuple(p) for p in seen))


def _seen(state: PartitionState | None, table: str) -> frozenset[tuple[str, ...]]:
    return state.seen if state is not None and state.table == table else frozenset()


def new_partitions(
    state: PartitionState | None, partitions: Iterable[Sequence[str]], *, table: str
) -> list[tuple[str, ...]]:
    """The partitions (their values) not processed yet, sorted and without repeats."""
    seen = _seen(state, table)
    return sorted({p for p in map(tuple, partitions) if p not in seen})


def advance_partitions(
    state: PartitionState | None, partitions: Iterable[Sequence[str]], *, table: str
) -> PartitionState:
    """The state once the listed partitions are processed.

    Partitions since dropped stay seen: a listing narrowed by a pushdown predicate must not make
    the partitions outside it new again.
    """
    return PartitionState(table, _seen(state, table) | frozenset(map(tuple, partitions)))


# --- the whole bookmark ----------------------------------------------------------------------

State = FileState | KeyState | PartitionState
S = TypeVar("S", FileState, KeyState, PartitionState)


def load(text: str | None) -> dict[str, dict[str, Any]]:
    """Glue's ``JobBookmark`` string as ctx -> state object; None or blank: no state yet."""
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ValueError(f"the job bookmark is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"the job bookmark must be a JSON object, not {text!r:.80}")
    for ctx, state in data.items():
        if not isinstance(state, dict):
            raise ValueError(f"the job bookmark's state of {ctx!r} is not a JSON object")
    return data


def dump(states: Mapping[str, Mapping[str, Any] | State]) -> str:
    """The ``JobBookmark`` string: compact, keys sorted, so one state gives one string."""
    plain: dict[str, Any] = {}
    for ctx, state in states.items():
        if not isinstance(ctx, str):
            raise ValueError(f"a transformation_ctx must be a string, not {ctx!r}")
        plain[ctx] = state.to_json() if isinstance(state, State) else dict(state)
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), allow_nan=False)


def state_for(states: Mapping[str, Mapping[str, Any]], ctx: str, kind: type[S]) -> S | None:
    """The state of ``ctx`` as ``kind`` (None if it has none yet).

    A ctx that holds another kind of state is refused: one transformation_ctx per source.
    """
    data = states.get(ctx)
    if data is None:
        return None
    found = data.get("kind") if isinstance(data, Mapping) else None
    if found in _KINDS and found != kind.KIND:
        raise InvalidInputException(
            f"transformation_ctx {ctx!r} holds a {found!r} bookmark, not a {kind.KIND!r} one: "
            "give each source its own transformation_ctx"
        )
    try:
        return kind.from_json(data)
    except ValueError as error:
        raise ValueError(f"transformation_ctx {ctx!r}: {error}") from None


_KINDS = frozenset(cls.KIND for cls in (FileState, KeyState, PartitionState))
