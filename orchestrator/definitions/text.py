"""Text in definitions: Glue's NameString rule, what the store can keep, and short quotes for messages.

botocore's Glue model is the contract: ``NameString`` is 1-255 characters matching
``[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*`` (tab and printable text; a
surrogate only as half of a pair). UTF-8 (SQLite) cannot encode a lone surrogate and PostgreSQL's
JSONB refuses NUL, so no string anywhere in a definition may hold either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

MAX_NAME = 255
QUOTED = 60  # characters of a user value that a message may quote
# NameString in Python's terms: a str holds code points, so a valid surrogate pair is one
# character above U+FFFF, and any surrogate left in a str is a lone one.
_NAME_CHARS = re.compile("[\t\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
_NOT_NAME_CHAR = re.compile("[^\t\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clip(text: str, limit: int = QUOTED) -> str:
    """The first ``limit`` characters, with an ellipsis when there were more."""
    return text if len(text) <= limit else f"{text[:limit]}…"


def shown(value: Any, limit: int = QUOTED) -> str:
    """A user value as a message shows it: at most ``limit`` characters, on one line."""
    if not isinstance(value, str):
        return clip(_short_repr(value), limit)
    text = value[:limit]
    if not text.isprintable():
        text = repr(text)[1:-1]
    return f"{text}…" if len(value) > limit else text


def quote(value: Any, limit: int = QUOTED) -> str:
    """``'name'``: a user string quoted in a message (see ``shown``); other values unquoted."""
    return f"'{shown(value, limit)}'" if isinstance(value, str) else shown(value, limit)


def _short_repr(value: Any) -> str:
    """repr of a scalar, a type name for anything else (a container's repr could be huge)."""
    if isinstance(value, int) and value.bit_length() > 200:
        return "a very large integer"  # repr could exceed int's digit limit and raise
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def listing(names: Sequence[str], limit: int = 5) -> str:
    """``a, b, c and 7 more``: a bounded list of names."""
    shown = ", ".join(clip(n) for n in names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown


def name_problem(value: str) -> str | None:
    """Why ``value`` is not a Glue name (NameString), or None."""
    if not 1 <= len(value) <= MAX_NAME:
        return f"must be 1-{MAX_NAME} characters"
    if (value.isascii() and value.isprintable()) or _NAME_CHARS.fullmatch(value):
        return None
    if "\n" in value or "\r" in value:
        return "must be a single line"
    if problem := storable_problem(value):
        return problem
    bad = _NOT_NAME_CHAR.search(value)
    assert bad is not None  # the full match failed, so some character is outside the set
    return (
        f"must not hold {bad.group()!a} (character {bad.start() + 1}): a Glue name is "
        "printable text and tabs"
    )


def storable_problem(value: str) -> str | None:
    """Why the store cannot keep ``value`` (a NUL or a lone surrogate), or None."""
    if "\x00" in value:
        return f"holds a NUL character (character {value.index(chr(0)) + 1}), which cannot be stored"
    if not value.isascii() and (bad := _SURROGATE.search(value)):
        return (
            f"holds a lone surrogate {bad.group()!a} (character {bad.start() + 1}), "
            "which is not valid Unicode text and cannot be stored"
        )
    return None
