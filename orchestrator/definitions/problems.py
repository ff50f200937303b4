"""Problem bookkeeping: every problem of a definition, each at its place in the files.

Places use the Glue spelling and the indexes of the original file (``Triggers[2].Predicate``);
``At`` maps a path inside a trigger (explicit or generated) back to such a place.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

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
        models.EventBatchingCondition,
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
            return f"{self.where}.{path}" if path else self.where
        for prefix in _prefixes(path):  # a dict lookup per prefix: linear in the path, not the parts
            if (place := self.parts.get(prefix)) is not None:
                return place
        return self.where


@dataclass
class Known:
    """Names declared anywhere in the files, valid entries or not (so one typo gives one problem)."""

    jobs: set[str]
    crawlers: set[str]
    workflows: set[str]


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
