"""The raw data of a definition, before the models see it: JSON values the store can keep.

A definition is stored as JSON (SQLite's JSON, PostgreSQL's JSONB), so its data must be a tree of
mappings, lists, strings, finite numbers, booleans and nulls, nested at most MAX_DEPTH levels.
Every string (keys too) must be valid Unicode without NUL: UTF-8 cannot encode a lone surrogate
(JSON's ``"\\ud800"``) and JSONB refuses ``\\u0000``. Checked once here, for files and for mappings
passed in (the HTTP API), so that what validates also applies.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from orchestrator.definitions.problems import Problems, key_text
from orchestrator.definitions.text import clip, storable_problem

MAX_DEPTH = 100  # levels of nesting; a real definition uses fewer than ten
# Python cannot print an int with more digits than this (json.dumps would fail at apply time).
_MAX_INT_BITS = int((sys.get_int_max_str_digits() or 4300) * 3.32)
_SCALARS = (str, int, float, type(None))  # bool is an int
_KEYS = "a mapping key must be a string, a number, a boolean or null"
_NOT_FINITE = "must be a finite number (a definition is stored as JSON); quote it to keep it as text"
TOP = "(top level)"


def check(data: Any, problems: Problems, prefix: str = "") -> bool:
    """Add a problem for each value the store cannot keep; False when ``data`` is unusable
    (a structure that contains itself, or nests more than MAX_DEPTH levels).

    Iterative, and each shared container (a YAML alias, a Python object used twice) is walked
    once, so the time is linear in the size of the data as written, whatever its expansion.
    """
    if not _is_container(data):
        _scalar(data, problems, prefix or TOP)
        return True
    seen: set[int] = set()  # containers walked already
    open_ids: set[int] = {id(data)}  # containers on the current path
    path: list[tuple[Any, Any]] = []  # (container, key) down to the container being walked
    stack: list[tuple[Any, bool, Iterator[tuple[Any, Any]]]] = [_frame(data)]
    while stack:
        container, is_mapping, items = stack[-1]
        for key, child in items:
            if is_mapping and (problem := _key_problem(key)):
                problems.add_schema(_place(prefix, path, container, key), problem)
            if _is_container(child):
                if id(child) in open_ids:
                    where = _place(prefix, path, container, key)
                    problems.add(where, "contains itself (a recursive YAML alias or object)")
                    return False
                if id(child) in seen:
                    continue
                if len(stack) >= MAX_DEPTH:
                    where = clip(_place(prefix, path, container, key), 80)
                    problems.add(where, f"nested more than {MAX_DEPTH} levels")
                    return False
                path.append((container, key))
                open_ids.add(id(child))
                stack.append(_frame(child))
                break
            plain = child.__class__ is str and child.isascii() and "\x00" not in child
            if not plain and (problem := _scalar_problem(child)):
                problems.add_schema(_place(prefix, path, container, key), problem)
        else:
            stack.pop()
            open_ids.discard(id(container))
            seen.add(id(container))
            if path:
                path.pop()
    return True


def _is_container(value: Any) -> bool:
    if isinstance(value, dict | list | tuple):
        return True
    return not isinstance(value, _SCALARS) and isinstance(value, Mapping)


def _frame(container: Any) -> tuple[Any, bool, Iterator[tuple[Any, Any]]]:
    if isinstance(container, dict | Mapping):
        return container, True, iter(container.items())
    return container, False, enumerate(container)


def _key_problem(key: Any) -> str | None:
    if key.__class__ is str:
        return None if key.isascii() and "\x00" not in key else _prefixed(storable_problem(key))
    return None if isinstance(key, _SCALARS) else _KEYS


def _prefixed(problem: str | None) -> str | None:
    return f"key {problem}" if problem else None


def _scalar(value: Any, problems: Problems, where: str) -> None:
    if problem := _scalar_problem(value):
        problems.add_schema(where, problem)


def _scalar_problem(value: Any) -> str | None:
    """Why JSON cannot hold ``value`` as it is (it is not a container), or None."""
    if isinstance(value, str):
        return storable_problem(value)
    if isinstance(value, float):
        return None if math.isfinite(value) else _NOT_FINITE
    if isinstance(value, int):
        return "is a number too large to store" if value.bit_length() > _MAX_INT_BITS else None
    if value is None:
        return None
    return (
        f"a value of type {type(value).__name__} cannot be stored in a definition; "
        "use a string, a number, a boolean, a list or a mapping"
    )


def _place(prefix: str, path: list[tuple[Any, Any]], container: Any, key: Any) -> str:
    """``Jobs[3].DefaultArguments.--x``: the place of ``container[key]`` below ``path``."""
    parts = [prefix]
    for parent, step in [*path, (container, key)]:
        if isinstance(parent, list | tuple):
            parts.append(f"[{step}]")
        else:
            parts.append(f".{key_text(step)}" if len(parts) > 1 else key_text(step))
    return "".join(parts)
