"""Problem bookkeeping: every problem of a definition, each at its place in the files.

Places use the Glue spelling and the indexes of the original file (``Triggers[2].Predicate``);
``At`` maps a path inside a trigger (explicit or generated) back to such a place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from orchestrator import errors, states
from orchestrator.definitions import file, models
from orchestrator.definitions.text import clip, shown


def _states_text(allowed: frozenset[states.S], order: type[states.S]) -> str:
    """Success first, then the enum's order: the same text on every run."""
    ranked = sorted(allowed, key=lambda s: (s != "SUCCEEDED", list(order).index(s)))
    return ", ".join(s.value for s in ranked)


JOB_STATES_TEXT = _states_text(states.JOB_CONDITION_STATES, states.JobRunState)
CRAWL_STATES_TEXT = _states_text(states.CRAWL_CONDITION_STATES, states.CrawlState)


def _aliases() -> dict[str, str]:
    """Python and file spellings of every field -> the Glue spelling used in problem places."""
    out: dict[str, str] = {}
    shapes: list[type[BaseModel]] = [
        file.DefinitionFile, file.JobEntry, file.CrawlerEntry, models.Trigger, models.Workflow,
        models.JobCommand, models.ExecutionProperty, models.NotificationProperty,
        models.RetryPolicy, models.Condition, models.Predicate, models.Action,
        models.EventBatchingCondition, models.Database,
    ]  # fmt: skip
    for model in shapes:
        for name, info in model.model_fields.items():
            alias = info.serialization_alias or info.alias or name
            out.setdefault(name, alias)
            out.setdefault(alias, alias)
    return out


ALIASES = _aliases()
MAX_PLACE = 300
MAX_MESSAGE = 600


def key_text(key: object) -> str:
    """A key in a place: the Glue spelling of a field, else the user's key, short and on one line."""
    return ALIASES[key] if isinstance(key, str) and key in ALIASES else shown(key)


def place_of(loc: Sequence[int | str]) -> str:
    """``.Command.ScriptLocation``, ``[2]``: a pydantic error location in Glue spelling.

    pydantic ends the location of a bad dict key with ``[key]``: the key itself is the place.
    """
    return "".join(
        f"[{p}]" if isinstance(p, int) else f".{key_text(p)}" for p in loc if p != "[key]"
    )


def join(where: str, tail: str) -> str:
    """``where`` followed by ``tail`` (``.Command``, ``[0]``): at the top of a request, or of a
    file named in a prefix (``defs.json: ``), without the leading dot."""
    if not where or where.endswith(" "):
        return where + tail.removeprefix(".")
    return where + tail


@dataclass
class At:
    """Maps a path inside a trigger to its place in the files.

    An explicit trigger's paths sit below its entry; a generated trigger's map back to the
    DependsOn or Workflow key that produced it (``parts``: path prefix -> place).
    """

    where: str
    parts: dict[str, str] | None = None

    def __call__(self, path: str = "") -> str:
        if self.parts is None:
            return join(self.where, f".{path}") if path else self.where
        for prefix in _prefixes(path):  # a dict lookup per prefix: linear in the path, not the parts
            if (place := self.parts.get(prefix)) is not None:
                return place
        return self.where


@dataclass
class Known:
    """Names of jobs, crawlers and workflows. Loading builds one from the names declared anywhere
    in the files, valid entries or not (so one typo gives one problem), each a ``Names`` that
    falls back on the store's; callers pass the store's as ``existing``."""

    jobs: Container[str] = field(default_factory=set)
    crawlers: Container[str] = field(default_factory=set)
    workflows: Container[str] = field(default_factory=set)


class Stored:
    """The names in the store (``existing``: a Known, or a function that reads one), read on the
    first name the files do not declare; records each name it resolved, in order."""

    def __init__(self, existing: Known | Callable[[], Known]) -> None:
        self._existing = existing
        self._known: Known | None = existing if isinstance(existing, Known) else None
        self.resolved: dict[tuple[str, str], None] = {}  # (kind, name), in the order resolved

    def has(self, kind: str, name: str) -> bool:
        if self._known is None:
            self._known = self._existing()  # type: ignore[operator]
        if name in getattr(self._known, f"{kind}s"):
            self.resolved[(kind, name)] = None
            return True
        return False


class Names:
    """The names of one kind the files declare (``local``), then the store's (``stored``)."""

    __slots__ = ("kind", "local", "stored")

    def __init__(self, kind: str, local: set[str], stored: Stored | None) -> None:
        self.kind, self.local, self.stored = kind, local, stored

    def __contains__(self, name: object) -> bool:
        if name in self.local:
            return True
        return self.stored is not None and isinstance(name, str) and self.stored.has(self.kind, name)


def declared(names: Container[str], name: str) -> bool:
    """``name`` is declared in the files (not only in the store)."""
    return name in names.local if isinstance(names, Names) else name in names


class Notes:
    """Remarks that refuse nothing, each at its place. A remark made again about the same member
    (``key``) is counted, not repeated: ``Jobs[0].LogUri: kept; adhere does not use it (and 9,999
    more like it)``."""

    def __init__(self) -> None:
        self._seen: dict[object, list[Any]] = {}  # key -> [where, message, count]

    def add(self, where: str, message: str, key: object = None) -> None:
        key = (where, message) if key is None else key
        if (seen := self._seen.get(key)) is not None:
            seen[2] += 1
        else:
            self._seen[key] = [clip(where, MAX_PLACE), clip(message, MAX_MESSAGE), 0]

    def __len__(self) -> int:
        return len(self._seen)

    def as_list(self) -> list[errors.Problem]:
        return [
            errors.Problem(where, f"{message} (and {more:,} more like it)" if more else message)
            for where, message, more in self._seen.values()
        ]


class Problems(list[errors.Problem]):
    """Problems in the order found, one per place that failed schema validation: the later
    checks see the entry with that part removed (see ``loading._salvage``) and say nothing there.

    Every place and message is bounded (``MAX_PLACE``, ``MAX_MESSAGE``): messages quote user values
    through ``text.quote`` already, and this is the last guard, so that a file of any size gives
    a readable report.
    """

    def __init__(self) -> None:
        super().__init__()
        self.schema_places: set[str] = set()

    def add(self, where: str, message: str) -> None:
        if not self._covered(where):
            self.append(errors.Problem(clip(where, MAX_PLACE), clip(message, MAX_MESSAGE)))

    def add_schema(self, where: str, message: str) -> None:
        self.add(where, message)
        self.schema_places.add(where)

    def _covered(self, where: str) -> bool:
        """At or below a place already reported by the schema: a lookup per prefix of ``where``."""
        places = self.schema_places
        return bool(places) and any(prefix in places for prefix in _prefixes(where))


_BOUNDARY = re.compile(r"[.\[]")


def _prefixes(path: str) -> Iterator[str]:
    """``a.b[0]`` -> ``a``, ``a.b``, ``a.b[0]``: the places that contain ``path``."""
    for match in _BOUNDARY.finditer(path):
        if match.start():
            yield path[: match.start()]
    yield path
