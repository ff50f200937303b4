"""Glue's NextToken/MaxResults pagination: opaque tokens that carry where the last page ended.

A token holds the sort key of the last item returned (keyset pagination), so a page neither
repeats nor skips an item when others are created or deleted between calls. Tokens are
base64url JSON: nothing secret is in them, and a token that does not decode is
InvalidInputException, as Glue answers one it did not issue.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from orchestrator import errors

T = TypeVar("T")


def encode(position: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position), separators=(",", ":")).encode()).decode()


def decode(token: str | None, size: int = 1) -> list[Any] | None:
    """The position a token carries (a list of ``size`` items), None for no token."""
    if not token:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error, UnicodeError):
        position = None
    if not isinstance(position, list) or len(position) != size:
        raise errors.InvalidInputException("Invalid NextToken: it was not returned by this server")
    return position


def page(items: list[T], limit: int | None, key: Callable[[T], Sequence[Any]]) -> tuple[list[T], str | None]:
    """``items`` fetched with one more than ``limit``: the page, and the token for the next."""
    if limit is None or len(items) <= limit:
        return items, None
    items = items[:limit]
    return items, encode(key(items[-1]))


def offset(token: str | None) -> int:
    """Where a page of runs starts. Runs, newest first, page by position: runs are only ever
    added at the front, so a later page may repeat a run that a new one pushed down, but never
    skips one."""
    position = (decode(token) or [0])[0]
    if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position < 2**62:
        raise errors.InvalidInputException("Invalid NextToken: it was not returned by this server")
    return position


def page_by_offset(items: list[T], limit: int | None, offset: int) -> tuple[list[T], str | None]:
    """``items`` fetched from ``offset`` with one more than ``limit``: the page, the next token."""
    if limit is None or len(items) <= limit:
        return items, None
    return items[:limit], encode([offset + limit])
