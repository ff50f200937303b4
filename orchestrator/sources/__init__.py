"""Event sources for ``adhere serve``: the outside world turned into EventBridge envelopes.

Each source hands batches of envelopes to a :data:`Sink`, which stores them durably; EVENT
triggers then start workflows from the store. Sources deliver at least once: the sink drops
an id it already has, so a source re-delivers freely and gives the same id to the same
occurrence.

- :mod:`orchestrator.sources.s3_events`: pure builders and the SQS body converter.
- :mod:`orchestrator.sources.folder`: ``FolderSource``, a watched local folder (watchdog).
- :mod:`orchestrator.sources.sqs`: ``SqsSource``, an SQS queue of S3 event notifications.

The submodules are not imported here: watchdog and boto3 load only for the source in use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Stores the envelopes durably and returns only after its commit; raises on failure (then
# nothing from that call is stored). An id the sink already has is a duplicate and is dropped.
Sink = Callable[[list[dict[str, Any]]], None]

__all__ = ["Sink"]
