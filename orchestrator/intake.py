"""Receiving events: each one is stored whole, once, with what became of it, in the transaction
that acknowledges it.

Events come as EventBridge ``PutEvents`` entries (``Source``, ``DetailType``, ``Detail``,
``Resources``, ``Time``) or as whole envelopes (``detail-type``, ``source``, ``detail``, and an
``id`` that makes a second delivery a duplicate). Routing happens on receipt: every EVENT
trigger whose ``EventPattern`` matches counts the event; a trigger without a pattern counts
the events addressed to its workflow (its ARN in ``resources``), as Glue's EventBridge target
does. An activated trigger's count is WAITING in its open batch (``event_batches`` fires it); a
trigger that is not activated drops it; an event no trigger counts is dropped, with why.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import eventbridge, events, store
from orchestrator.store.received_events import DROPPED, ROUTED, WAITING

MAX_ENTRY_BYTES = 256 * 1024  # EventBridge's limit on one entry
MAX_ID = 128
_ACTIVE = ("ACTIVATED", "ACTIVATING")
NO_MATCH = "no EVENT trigger counts it (no EventPattern matched, no workflow ARN in its resources)"


class EntryError(ValueError):
    """One entry refused, with EventBridge's ErrorCode; the other entries of the call go on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True)
class EventTrigger:
    name: str
    workflow_name: str | None
    state: str
    pattern: eventbridge.Pattern | None

    def counts(self, event: Mapping[str, Any]) -> bool:
        if self.pattern is not None:
            return self.pattern.matches(event)
        suffix = f":workflow/{self.workflow_name}"
        return any(
            isinstance(r, str) and r.startswith("arn:") and r.endswith(suffix)
            for r in event.get("resources") or ()
        )


def not_activated(name: str, state: str) -> str:
    """Why a trigger does not count an event (or drops its open batch)."""
    return f"trigger {name} is {state}, not ACTIVATED"


_compiled: dict[str, eventbridge.Pattern] = {}


def event_triggers(tx: store.Tx) -> list[EventTrigger]:
    found = []
    for row in store.definitions.triggers_of_type(tx, "EVENT"):
        pattern = row.spec.get("event_pattern")
        compiled = None
        if pattern is not None:
            key = json.dumps(pattern, sort_keys=True)
            compiled = _compiled.get(key)
            if compiled is None:
                compiled = _compiled[key] = eventbridge.compile(pattern)
        found.append(EventTrigger(row.name, row.workflow_name, row.state or "CREATED", compiled))
    return found


def envelope_of(
    entry: Any,
    *,
    account: str = events.DEFAULT_ACCOUNT,
    region: str = events.DEFAULT_REGION,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The EventBridge envelope of a PutEvents entry, or of an envelope given whole (checked)."""
    return checked(entry, account=account, region=region, now=now)[0]


def checked(
    entry: Any,
    *,
    account: str = events.DEFAULT_ACCOUNT,
    region: str = events.DEFAULT_REGION,
    now: dt.datetime | None = None,
) -> tuple[dict[str, Any], str]:
    """``envelope_of``, with the envelope's JSON text (measured against the size limit, and
    stored as it is by ``receive``: an event is serialized once)."""
    if not isinstance(entry, Mapping):
        raise EntryError("InvalidArgument", "an event must be a JSON object")
    moment = now or store.now()
    if "detail-type" in entry or "detail" in entry:
        source, detail_type, detail = (
            entry.get("source"),
            entry.get("detail-type"),
            entry.get("detail"),
        )
        resources, time, event_id = entry.get("resources", []), entry.get("time"), entry.get("id")
        account, region = entry.get("account", account), entry.get("region", region)
    else:
        source, detail_type, detail = (
            entry.get("Source"),
            entry.get("DetailType"),
            entry.get("Detail"),
        )
        resources, time, event_id = entry.get("Resources", []), entry.get("Time"), entry.get("Id")
    for name, value in (("Source", source), ("DetailType", detail_type)):
        if not isinstance(value, str) or not value.strip():
            raise EntryError(
                "InvalidArgument", f"Parameter {name} is not valid: a non-empty string is required"
            )
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            raise EntryError("MalformedDetail", "Detail is malformed: not valid JSON") from None
    if not isinstance(detail, Mapping):
        raise EntryError("MalformedDetail", "Detail is malformed: it must be a JSON object")
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise EntryError(
            "InvalidArgument", "Parameter Resources is not valid: a list of strings is required"
        )
    if event_id is not None and (not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_ID):
        raise EntryError(
            "InvalidArgument", f"Parameter Id is not valid: a string of 1 to {MAX_ID} characters"
        )
    envelope = {
        "version": "0", "id": event_id or str(uuid.uuid4()), "detail-type": detail_type, "source": source,
        "account": account, "time": _time(time, moment), "region": region, "resources": list(resources),
        "detail": dict(detail),
    }  # fmt: skip
    text = json.dumps(envelope, separators=(",", ":"))
    if len(text) > MAX_ENTRY_BYTES:
        raise EntryError(
            "InvalidArgument", f"the event is larger than {MAX_ENTRY_BYTES // 1024} KiB"
        )
    return envelope, text


def _time(value: Any, now: dt.datetime) -> str:
    if value is None or value == "":
        return events.format_time(now)
    if isinstance(value, dt.datetime):
        return events.format_time(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return events.format_time(dt.datetime.fromtimestamp(value, dt.UTC))
    if isinstance(value, str):
        try:
            return events.format_time(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise EntryError(
        "InvalidArgument", "Parameter Time is not valid: an ISO-8601 time or epoch seconds"
    )


def receive(
    tx: store.Tx,
    envelopes: Sequence[Mapping[str, Any]],
    *,
    triggers: Sequence[EventTrigger] | None = None,
    only_counted: bool = False,
    texts: Sequence[str] | None = None,
) -> int:
    """Store and route envelopes (ids unique; a known id is a duplicate and changes nothing);
    returns how many were new.
    ``only_counted`` keeps only events some trigger counts (completion events, which the
    notifications already keep). ``texts``: the envelopes' JSON texts, when the caller has them
    (``checked``)."""
    triggers = event_triggers(tx) if triggers is None else triggers
    stamp = store.now()
    rows, counts = [], {}
    last = {
        e["id"]: i for i, e in enumerate(envelopes)
    }  # a repeated id: the last one, in the first one's place
    for i in last.values():
        envelope = envelopes[i]
        counted = [t for t in triggers if t.counts(envelope)]
        if only_counted and not counted:
            continue
        active = [t for t in counted if t.state in _ACTIVE]
        reason = None
        if not counted:
            reason = NO_MATCH
        elif not active:
            reason = "; ".join(not_activated(t.name, t.state) for t in counted)
        rows.append(
            {
                "id": envelope["id"],
                "source": envelope["source"][:256],
                "detail_type": envelope["detail-type"][:256],
                "envelope": envelope,
                "envelope_json": texts[i] if texts is not None else None,
                "received_on": stamp,
                "state": ROUTED if counted else DROPPED,
                "reason": reason,
            }
        )
        counts[envelope["id"]] = counted
    new = store.received_events.insert(tx, rows)
    per_trigger = []
    for event_id, seq in new.items():
        for t in counts[event_id]:
            active = t.state in _ACTIVE
            per_trigger.append(
                {
                    "trigger_name": t.name,
                    "event_seq": seq,
                    "state": WAITING if active else DROPPED,
                    "received_on": stamp,
                    "workflow_run_id": None,
                    "reason": None if active else not_activated(t.name, t.state),
                }
            )
    store.received_events.count(tx, per_trigger)
    return len(new)
