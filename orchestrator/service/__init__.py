"""The service layer: one function per Glue operation, in one module per Glue resource.

The CLI, the HTTP API, job scripts (``orchestrator.runtime``) and the tests call only these.
Each operation is one transaction; store verbs never commit. Functions are named after Glue's
operations in snake case (``start_workflow_run``, ``batch_stop_job_run``), so that the HTTP API
is a table from ``X-Amz-Target`` to them. Modules are imported where used: a command loads
only what it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.store.database import Store

if TYPE_CHECKING:
    from orchestrator.settings import Settings

__all__ = ["Store", "connect", "open_store"]


def open_store(settings: Settings, *, upgrade: bool = True) -> Store:
    """The store the settings name, its schema brought to head unless ``upgrade`` is False."""
    return Store.open(settings, upgrade=upgrade)


def connect(url: str) -> Store:
    """The store at ``url`` as it is (a job's, whose orchestrator already brought it to head)."""
    return Store.open_url(url, upgrade=False)
