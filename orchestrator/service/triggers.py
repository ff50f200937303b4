"""Triggers (GetTrigger, GetTriggers)."""

from __future__ import annotations

from typing import Any

from orchestrator import errors, store
from orchestrator.service import shapes


def get_trigger(db: store.Store, name: str) -> dict[str, Any]:
    with db.read() as tx:
        row = store.definitions.get(tx, "trigger", name)
    if row is None:
        raise errors.EntityNotFoundException(f"Trigger {name} not found")
    return shapes.trigger(row)


def get_triggers(db: store.Store, workflow_name: str | None = None) -> list[dict[str, Any]]:
    """GetTriggers, optionally of one workflow (Glue's DependentJobName filter is not supported)."""
    with db.read() as tx:
        return [shapes.trigger(row) for row in store.definitions.find(tx, "trigger", workflow_name=workflow_name)]
