"""A crawler's exclude patterns: Glue's globs, relative to the include path, as one regex.

Glue documents its globs in the words of Java's ``FileSystem.getPathMatcher("glob:...")``
(glue-semantics.md §5.4, [DG21 define-crawler] "Include and Exclude Patterns"), so the
translation follows ``sun.nio.fs.Globs.toRegexPattern``, errors included:

- ``*`` matches within one name (not ``/``); ``**`` matches across names (``.*``); ``?`` is one
  character of a name. A leading ``.`` is an ordinary character (``*`` matches ``.hidden``).
- ``[abce-g]`` and ``[!a-c]`` match one character of a name (never ``/``). Inside brackets
  ``*``, ``?`` and ``\\`` are literal; ``-`` is literal first (or first after ``!``) or last;
  ``[^a]`` means ``^`` or ``a`` (``!`` negates, not ``^``). ``/`` in brackets, a reversed
  range, an empty or unclosed class are errors.
- ``{a,b}`` matches either subpattern; groups do not nest. ``,`` and ``}`` outside a group are
  literal.
- ``\\`` escapes the next character; a trailing ``\\`` is an error.

A pattern excludes an object when it matches the object's whole key (the path below the include
path). It is matched against objects, never folders: ``departments/**`` excludes every file
below ``departments/``; ``2015/01/0[8-9]*`` excludes files named like that, not the files
inside folders named like that (the AWS page: "If "*" is used, lower folder levels are not
excluded"). Patterns are taken exactly as given (no trimming of spaces).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from orchestrator import errors


class Exclusions:
    """The compiled patterns: call it with a key; ``covers(folder)`` lets a lister skip a folder."""

    __slots__ = ("_covering", "_regex", "patterns")

    def __init__(self, patterns: tuple[str, ...], regex: re.Pattern[str] | None,
                 covering: re.Pattern[str] | None) -> None:  # fmt: skip
        self.patterns = patterns
        self._regex = regex
        self._covering = covering

    def __call__(self, key: str) -> bool:
        """Whether the object at ``key`` (relative, '/'-separated) is excluded."""
        return self._regex is not None and self._regex.fullmatch(key) is not None

    def covers(self, folder: str) -> bool:
        """Whether every key below ``folder`` is excluded, so listing it is wasted.

        Sound, not complete: only patterns ending in ``**`` (outside a group) are used. Such a
        pattern ``P**`` covers the folder when ``P`` matches a prefix of ``folder/``, because
        ``**`` then matches whatever follows.
        """
        return self._covering is not None and self._covering.match(f"{folder}/") is not None

    def __repr__(self) -> str:
        return f"Exclusions({list(self.patterns)!r})"


def compile(patterns: Sequence[str]) -> Exclusions:
    """One matcher for all ``patterns``; InvalidInputException naming the first bad one."""
    if isinstance(patterns, str):  # a lone string would be read as one pattern per character
        patterns = [patterns]
    whole: list[str] = []
    covering: list[str] = []
    for pattern in patterns:
        tokens = _translate(pattern)
        whole.append("".join(tokens))
        if tokens and tokens[-1] == _ANY:
            covering.append("".join(tokens[:-1]))
    return Exclusions(
        tuple(patterns),
        _join(whole),
        _join(covering),
    )


_ANY = ".*"  # the token of ``**``
_NAME = "[^/]"


def _join(parts: list[str]) -> re.Pattern[str] | None:
    if not parts:
        return None
    return re.compile("|".join(f"(?:{part})" for part in parts), re.DOTALL)


def _invalid(pattern: str, reason: str, at: int) -> errors.InvalidInputException:
    return errors.InvalidInputException(
        f"Exclusions: invalid glob pattern {pattern!r}: {reason} (at character {at + 1})"
    )


def _translate(pattern: str) -> list[str]:
    """The pattern as regex tokens (``**`` is the token ``_ANY``)."""
    tokens: list[str] = []
    in_group = False
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "\\":
            if i == n:
                raise _invalid(pattern, "no character to escape after '\\'", i - 1)
            tokens.append(re.escape(pattern[i]))
            i += 1
        elif c == "[":
            token, i = _bracket(pattern, i)
            tokens.append(token)
        elif c == "{":
            if in_group:
                raise _invalid(pattern, "groups '{...}' cannot be nested", i - 1)
            tokens.append("(?:(?:")
            in_group = True
        elif c == "}" and in_group:
            tokens.append("))")
            in_group = False
        elif c == "," and in_group:
            tokens.append(")|(?:")
        elif c == "*":
            if i < n and pattern[i] == "*":
                tokens.append(_ANY)  # inside a group it is never the last token
                i += 1
            else:
                tokens.append(f"{_NAME}*")
        elif c == "?":
            tokens.append(_NAME)
        else:
            tokens.append(re.escape(c))
    if in_group:
        raise _invalid(pattern, "missing '}'", n - 1)
    return tokens


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """The character class opening before ``i``, and the index after its ``]``."""
    start, n = i - 1, len(pattern)
    negate = False
    items: list[str] = []
    if i < n and pattern[i] == "!":
        negate, i = True, i + 1
    if i < n and pattern[i] == "-":
        items.append(r"\-")
        i += 1
    last: str | None = None  # the previous character, while it may start a range
    closed = False
    while i < n:
        c = pattern[i]
        i += 1
        if c == "]":
            closed = True
            break
        if c == "/":
            raise _invalid(pattern, "'/' inside brackets", i - 1)
        if c != "-":
            items.append(re.escape(c))
            last = c
            continue
        if last is None:
            raise _invalid(pattern, "a range '-' without a start", i - 1)
        if i < n and pattern[i] == "]":  # a trailing '-' is literal
            items.append(r"\-")
            continue
        if i == n:
            break
        end = pattern[i]
        i += 1
        if end == "/":
            raise _invalid(pattern, "'/' inside brackets", i - 1)
        if end < last:
            raise _invalid(pattern, f"reversed range '{last}-{end}'", i - 3)
        items.append(f"-{re.escape(end)}")
        last = None
    if not closed:
        raise _invalid(pattern, "missing ']'", start)
    if not items:
        raise _invalid(pattern, "empty brackets", start)
    body = "".join(items)
    # A class never matches '/': a negated one excludes it explicitly.
    return (f"[^/{body}]" if negate else f"[{body}]"), i
