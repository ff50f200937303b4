"""Durations in definition files: Glue's numbers (minutes for Timeout) or strings such as ``"90s"``.

adhere keeps seconds inside; Glue's API fields stay whole minutes (``to_minutes``). Pure and
free of pydantic: the loop and job scripts parse stored durations without loading the models
(their field types are in ``models``).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from orchestrator.definitions.text import quote

MAX_TIMEOUT_SECONDS = 7 * 24 * 3600  # Glue: Timeout must be < 10080 minutes.

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "days": 86400.0,
}
_MAX_TEXT = 64
_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|sec|min|s|m|h|d)\s*", re.IGNORECASE)


def parse_duration(value: Any, unit_if_number: str = "minutes") -> float:
    """Seconds from a Glue number (in ``unit_if_number``) or a string such as ``"90s"``, ``"1h30m"``.

    Numbers keep Glue's meaning (minutes for Timeout), so an exported Glue definition loads as is.
    """
    if unit_if_number not in _UNITS:
        raise ValueError(f"unknown duration unit {unit_if_number!r}")
    hint = "use a number of minutes or a string such as '90s', '10m', '2h'"
    if unit_if_number not in ("m", "min", "minutes"):
        hint = f"use a number of {unit_if_number} or a string such as '90s', '10m', '2h'"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a duration: {quote(value)}; {hint}")
    if isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_TEXT:  # _PART backtracks: quadratic on a long run of digits
            raise ValueError(f"not a duration: {quote(value)}; {hint}")
        try:
            seconds = float(text) * _UNITS[unit_if_number]
        except ValueError:
            parts = _PART.findall(text)
            if not text or "".join(_PART.sub("", text)) or not parts:
                raise ValueError(f"not a duration: {quote(value)}; {hint}") from None
            seconds = sum(float(n) * _UNITS[u.lower()] for n, u in parts)
    else:
        try:
            seconds = float(value) * _UNITS[unit_if_number]
        except OverflowError:  # an int beyond float's range
            seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a duration: {quote(value)}; must be a finite, non-negative length")
    return seconds


def to_minutes(seconds: float) -> int:
    """Glue's whole minutes for a duration: rounded up, at least 1."""
    return max(1, math.ceil(seconds / 60 - 1e-9))


def duration_text(seconds: float) -> str:
    """``"90s"``: what the models dump, since a bare number would mean minutes. Exact (no
    rounding, no exponent), so that parsing it back gives the same duration."""
    digits = format(Decimal(repr(seconds)), "f")
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    return f"{digits}s"


# Pydantic validators of duration fields (definitions.models).


def as_minutes(value: Any) -> Any:
    return None if value is None else parse_duration(value, "minutes")


def as_seconds(value: Any) -> Any:
    return None if value is None else parse_duration(value, "seconds")


def timeout_limit(value: float | None) -> float | None:
    if value is not None and not 0 < value < MAX_TIMEOUT_SECONDS:
        raise ValueError("must be more than 0 and less than 7 days (10080 minutes)")
    return value


def positive(value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise ValueError("must be more than 0")
    return value
