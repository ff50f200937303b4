"""Where a crawler puts tables and partitions in a folder tree: Glue's grouping rules, pure.

Mirrors [DG21 crawler-s3-folder-table-partition, crawler-configuration] and the grouping and
table-level pages (glue-semantics.md §5.3, §5.4, Appendix B.1). What the classifiers found per
leaf folder comes in; table plans come out. Merging schemas and writing the catalog are the
caller's. The rules, walking down from the include path:

- A folder is a table root when every leaf below it is **compatible** (one format, one
  compression, all at the same depth below the folder) and **similar**: at most five distinct
  schemas, each scoring above 0.7 against the most common one (``similar`` is the measure).
  Glue publishes the two numbers, not what they apply to; "each against the most common" is
  our reading of "when the majority of schemas at a folder level are similar".
- Otherwise the folder's own files (if any) become an unpartitioned table rooted at the folder,
  and each subfolder is decided the same way. So files beside folders split a tree into one
  table per folder: the "table explosion" AWS blames on files written next to partition folders
  (crawler-maximum-number-of-tables.html). Such a table's location holds the others' folders.
- ``combine_compatible`` (CombineCompatibleSchemas) skips the similarity test only.
- ``table_level`` (TableLevelConfiguration) is absolute, level 1 being the bucket (for a local
  path, its first segment; see ``storage.include_level``). Folders above it are never roots
  (their own files still make tables, as nothing else could hold them); a folder at it is a
  root when compatible, schemas ignored; an incompatible one falls back to the rules above. A
  level at or above the include path puts the root at the include path.

Partition keys are ``key`` for a level of ``key=value`` folders sharing one key (lowercased;
the value is URL-unescaped as Hive writes it) and ``partition_<i>`` otherwise, ``i`` counting
levels below the table root; all are strings. Table names are lowercase ``[a-z0-9_]`` (anything
else becomes ``_``) with the prefix, at most 128 characters; a name already taken gets ``_``
and 8 hex digits of a hash of the table's location.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

Columns = tuple[tuple[str, str], ...]
Similarity = Callable[[Columns, Columns], float]

THRESHOLD = 0.7  # schemas are similar when they score higher than this (B.1)
MAX_SCHEMAS = 5  # "the maximum number of different schemas ('clusters') doesn't exceed five"
MAX_NAME = 128
_INVALID = re.compile(r"[^a-z0-9_]")
_MIXED = -1  # a node's depth when its leaves sit at different depths


@dataclass(frozen=True)
class Leaf:
    """One leaf folder (a folder that holds files) with what the classifiers found there."""

    parts: tuple[str, ...]  # folder names below the include path; () for files directly in it
    format: str
    compression: str
    columns: Columns


@dataclass(frozen=True)
class TablePlan:
    """One table to create or update: its root folder, partition keys and partitions."""

    name: str
    root: tuple[str, ...]  # folder names of the table's location below the include path
    partition_keys: tuple[str, ...]
    partitions: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # (values, leaf parts)
    leaves: tuple[Leaf, ...]  # the leaves whose schemas the caller merges into the table's


def plan(
    include_name: str,
    leaves: Sequence[Leaf],
    *,
    table_prefix: str = "",
    combine_compatible: bool = False,
    table_level: int | None = None,
    include_level: int = 1,
    taken: Collection[str] = (),
    similar: Similarity,
) -> list[TablePlan]:
    """The tables of one include path, ordered by location.

    ``include_name`` names a table rooted at the include path (its last path segment);
    ``include_level`` is the include path's own level for ``table_level`` (the bucket is 1);
    ``taken`` holds names already used in this crawl (other include paths), which get a hash
    suffix like any collision. Runs in time linear in the leaves times their depth.
    """
    tree = _tree(leaves)
    if tree is None:
        return []
    _summarize(tree)
    level = None if table_level is None else max(table_level - include_level, 0)
    found: list[tuple[tuple[str, ...], list[Leaf]]] = []
    _Planner(similar, combine_compatible, level, found).decide(tree, (), 0)
    used = set(taken)
    tables = []
    for root, members in sorted(found, key=lambda item: item[0]):
        name = _unique(table_name(table_prefix, root[-1] if root else include_name), root, used)
        used.add(name)
        keys, partitions = _partitions(root, members)
        tables.append(TablePlan(name, root, keys, partitions, tuple(members)))
    return tables


def table_name(prefix: str, folder: str) -> str:
    """Glue's table name for ``folder``: lowercase, ``[a-z0-9_]`` only, at most 128 characters."""
    return _INVALID.sub("_", f"{prefix}{folder}".lower())[:MAX_NAME] or "table"


def partition_value(folder: str) -> tuple[str | None, str]:
    """``(key, value)`` of a Hive-style ``key=value`` folder (unescaped), else ``(None, folder)``."""
    key, eq, value = folder.partition("=")
    if not eq or not key:
        return None, folder
    return key.lower(), unquote(value)


# --- the tree ------------------------------------------------------------------------------------


class _Node:
    """A folder: its subfolders, its own files' leaf, and a summary of every leaf below it."""

    __slots__ = ("children", "depth", "kind", "leaf", "schemas")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.leaf: Leaf | None = None
        self.depth = 0  # of every leaf below, or _MIXED
        self.kind: tuple[str, str] | None = None  # (format, compression), None when mixed
        self.schemas: dict[Columns, int] | None = None  # leaves per schema; None past MAX_SCHEMAS


def _tree(leaves: Sequence[Leaf]) -> _Node | None:
    if not leaves:
        return None
    root = _Node()
    for leaf in leaves:
        node = root
        for part in leaf.parts:
            node = node.children.setdefault(part, _Node())
        if node.leaf is not None:
            raise ValueError(f"two leaves at {'/'.join(leaf.parts) or '(the include path)'}")
        node.leaf = leaf
    return root


def _summarize(node: _Node) -> None:
    """Fill depth, kind and schemas bottom-up (each node merges at most five schemas per child)."""
    depth: int | None = None
    kind: tuple[str, str] | None = None
    schemas: dict[Columns, int] | None = {}
    first = True
    if node.leaf is not None:
        depth, kind, first = 0, (node.leaf.format, node.leaf.compression), False
        schemas[node.leaf.columns] = 1
    for child in node.children.values():
        _summarize(child)
        below = _MIXED if child.depth == _MIXED else child.depth + 1
        if first:
            depth, kind, first = below, child.kind, False
        else:
            depth = depth if depth == below else _MIXED
            kind = kind if kind == child.kind else None
        if schemas is not None and child.schemas is not None:
            for columns, count in child.schemas.items():
                schemas[columns] = schemas.get(columns, 0) + count
            if len(schemas) > MAX_SCHEMAS:
                schemas = None
        else:
            schemas = None
    node.depth = _MIXED if depth is None else depth
    node.kind, node.schemas = kind, schemas


class _Planner:
    """The top-down decision; table roots are appended to ``found`` with their leaves."""

    def __init__(self, similar: Similarity, combine: bool, level: int | None,
                 found: list[tuple[tuple[str, ...], list[Leaf]]]) -> None:  # fmt: skip
        self.similar = similar
        self.combine = combine
        self.level = level
        self.found = found
        self.scores: dict[tuple[Columns, Columns], float] = {}

    def decide(self, node: _Node, parts: tuple[str, ...], level: int) -> None:
        compatible = node.depth != _MIXED and node.kind is not None
        if self.level is None or level >= self.level:
            forced = self.level == level
            if compatible and (forced or self.combine or self._alike(node.schemas)):
                self.found.append((parts, list(_leaves(node))))
                return
        if node.leaf is not None:
            self.found.append((parts, [node.leaf]))
        for name in sorted(node.children):
            self.decide(node.children[name], (*parts, name), level + 1)

    def _alike(self, schemas: dict[Columns, int] | None) -> bool:
        if schemas is None:
            return False
        if len(schemas) == 1:
            return True
        common = min(schemas, key=lambda columns: (-schemas[columns], columns))
        return all(columns == common or self._score(columns, common) > THRESHOLD
                   for columns in schemas)  # fmt: skip

    def _score(self, a: Columns, b: Columns) -> float:
        score = self.scores.get((a, b))
        if score is None:
            score = self.scores[(a, b)] = self.similar(a, b)
        return score


def _leaves(node: _Node) -> Iterator[Leaf]:
    """Every leaf below ``node`` in key order (a folder's own files before its subfolders)."""
    if node.leaf is not None:
        yield node.leaf
    for name in sorted(node.children):
        yield from _leaves(node.children[name])


# --- partitions and names ------------------------------------------------------------------------


def _partitions(root: tuple[str, ...], members: list[Leaf]
                ) -> tuple[tuple[str, ...], tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]]:  # fmt: skip
    start = len(root)
    depth = len(members[0].parts) - start
    if depth == 0:
        return (), ()
    keys: list[str] = []
    named: list[bool] = []
    for i in range(depth):
        level = {partition_value(leaf.parts[start + i])[0] for leaf in members}
        key = next(iter(level)) if len(level) == 1 else None
        if key is None or key in keys:
            named.append(False)
            key = f"partition_{i}"
            while key in keys:
                key += "_"
        else:
            named.append(True)
        keys.append(key)
    def values(folders: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(partition_value(f)[1] if named[i] else f for i, f in enumerate(folders))

    return tuple(keys), tuple((values(leaf.parts[start:]), leaf.parts) for leaf in members)


def _unique(name: str, root: tuple[str, ...], used: set[str]) -> str:
    """``name``, or ``name`` (cut to fit) + ``_`` + 8 hex digits of the location's hash."""
    salt = 0
    while name in used:
        digest = hashlib.sha256(f"{'/'.join(root)}\x00{salt}".encode()).hexdigest()[:8]
        candidate = f"{name[: MAX_NAME - 9]}_{digest}"
        if candidate not in used:
            return candidate
        salt += 1
    return name
