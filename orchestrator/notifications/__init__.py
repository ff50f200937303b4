"""Delivery of Glue's EventBridge events (``orchestrator.events``) to notification sinks.

    notifier   the Notifier: a queue and a thread per sink, retries, outcomes reported back
    sinks      the sinks' settings and senders (``log``, ``webhook``, ``command``, ``eventbridge``,
               ``sns``), parsed from ``ADHERE_NOTIFICATION_SINKS`` / ``ADHERE_NOTIFICATIONS_FILE``

The sinks (and pydantic) load only when sinks are configured or asked for by name.
"""

from __future__ import annotations

import importlib
from typing import Any

from orchestrator.notifications.notifier import DefaultLog, DeliveryError, Notifier, OnResult

__all__ = ["DefaultLog", "DeliveryError", "Notifier", "OnResult", "load_file", "parse_sinks"]


def __getattr__(name: str) -> Any:
    """The sinks' names (``parse_sinks``, ``WebhookSink``, ...), loading them on first use."""
    sinks = importlib.import_module("orchestrator.notifications.sinks")  # sets .sinks here too
    if name != "sinks" and hasattr(sinks, name):
        return getattr(sinks, name)
    if name == "sinks":
        return sinks
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
