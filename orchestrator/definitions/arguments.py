"""Glue's argument merge for a job run (pure: the loop computes it without loading the models)."""

from __future__ import annotations

from collections.abc import Mapping


def effective_arguments(
    default: Mapping[str, str], run: Mapping[str, str], non_overridable: Mapping[str, str]
) -> dict[str, str]:
    """Run arguments override defaults key by key; non-overridable ones always win."""
    merged: dict[str, str] = {}
    for layer in (default, run, non_overridable):
        for key, value in layer.items():
            merged[key if key.startswith("--") else f"--{key}"] = value
    return merged
