"""The notifications adhere sent, with how each delivery ended (an adhere extension)."""

from __future__ import annotations

import dataclasses
from typing import Any

from orchestrator import store
from orchestrator.service import remote


@remote.callable
def get_notifications(db: store.Store, limit: int = 100) -> list[dict[str, Any]]:
    with db.read() as tx:
        return [dataclasses.asdict(n) for n in store.notifications.find(tx, limit)]
