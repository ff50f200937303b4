"""Events: EventBridge's PutEvents (and `adhere events put`), the events kept and what became of
each (`adhere events list`), and the payloads of a run's batch for its jobs."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orchestrator import errors, intake, store
from orchestrator.service import paging, remote
from orchestrator.settings import Settings

log = logging.getLogger(__name__)
MAX_PUT_ENTRIES = 10  # EventBridge's PutEvents limit; `adhere events put` sends chunks of CHUNK
CHUNK = 500
STATES = ("WAITING", "CONSUMED", "DROPPED")


@remote.callable(wakes=True)
def put_events(
    db: store.Store,
    settings: Settings,
    entries: Sequence[Any],
    *,
    limit: int | None = MAX_PUT_ENTRIES,
) -> dict[str, Any]:
    """PutEvents: each entry becomes an event, stored and routed in one transaction before the
    answer (so an acknowledged event is never lost); a refused entry gets EventBridge's
    ErrorCode and ErrorMessage and the others go on. An event whose id was seen is a duplicate:
    it is acknowledged with its id and changes nothing."""
    if not isinstance(entries, Sequence) or isinstance(entries, str | bytes) or not entries:
        raise errors.InvalidInputException("Entries must be a non-empty list of events")
    if limit is not None and len(entries) > limit:
        raise errors.InvalidInputException(
            f"Entries has {len(entries)} events; PutEvents takes at most {limit}"
        )
    out: list[dict[str, Any]] = []
    accepted, texts = [], []
    now = store.now()
    for entry in entries:
        try:
            envelope, text = intake.checked(
                entry, account=settings.account_id, region=settings.region, now=now
            )
        except intake.EntryError as exc:
            out.append({"ErrorCode": exc.code, "ErrorMessage": str(exc)})
            continue
        accepted.append(envelope)
        texts.append(text)
        out.append({"EventId": envelope["id"]})
    if accepted:
        with db.queued_writes(), db.transaction() as tx:
            triggers = intake.event_triggers(tx)
            for i in range(0, len(accepted), CHUNK):
                intake.receive(
                    tx, accepted[i : i + CHUNK], triggers=triggers, texts=texts[i : i + CHUNK]
                )
    return {"FailedEntryCount": sum(1 for e in out if "ErrorCode" in e), "Entries": out}


def receive(db: store.Store, settings: Settings, envelopes: Sequence[Any]) -> int:
    """Events an event source built (folders, SQS), stored and routed in one transaction; raises
    when they could not be stored (the source keeps them and tries again)."""
    now = store.now()
    checked, texts = [], []
    for envelope in envelopes:
        try:
            found, text = intake.checked(
                envelope, account=settings.account_id, region=settings.region, now=now
            )
        except intake.EntryError as exc:  # not retried: it would be refused again
            log.warning(
                "event refused",
                extra={
                    "event_id": envelope.get("id") if isinstance(envelope, Mapping) else None,
                    "error": str(exc),
                },
            )
            continue
        checked.append(found)
        texts.append(text)
    with db.queued_writes(), db.transaction() as tx:
        return intake.receive(tx, checked, texts=texts)


@remote.callable
def list_events(
    db: store.Store,
    *,
    state: str | None = None,
    trigger_name: str | None = None,
    event_id: str | None = None,
    next_token: str | None = None,
    max_results: int | None = 100,
) -> dict[str, Any]:
    """Events newest first, a line per trigger that counted each: WAITING in an open batch,
    CONSUMED by a run, or DROPPED with the reason."""
    if state is not None and state not in STATES:
        raise errors.InvalidInputException(
            f"State must be one of {', '.join(STATES)}, not {state!r}"
        )
    if max_results is not None and not 1 <= max_results <= 1000:
        raise errors.InvalidInputException("MaxResults must be between 1 and 1000")
    before = paging.decode(next_token)
    if before is not None and not isinstance(before[0], int):
        raise errors.InvalidInputException("Invalid NextToken: it was not returned by this server")
    limit = max_results or 100
    with db.read() as tx:
        rows = store.received_events.find(
            tx,
            state=state,
            trigger_name=trigger_name,
            event_id=event_id,
            before=before[0] if before else None,
            limit=limit + 1,
        )
    # A page ends between events, never between the lines (one per trigger) of one event.
    token = None
    if len(rows) > limit:
        cut = rows[-1].seq  # the event whose lines may not all have been read
        rows = [r for r in rows if r.seq != cut] or rows
        token = paging.encode([rows[-1].seq])
    return {"Events": [_shape(r) for r in rows], **({"NextToken": token} if token else {})}


def _shape(r: store.received_events.Received) -> dict[str, Any]:
    out = {
        "EventId": r.id,
        "State": r.state,
        "Source": r.source,
        "DetailType": r.detail_type,
        "ReceivedOn": r.received_on,
        "TriggerName": r.trigger_name,
        "WorkflowRunId": r.workflow_run_id,
        "Reason": r.reason,
    }
    return {k: v for k, v in out.items() if v is not None}


@remote.callable
def get_event(db: store.Store, event_id: str) -> dict[str, Any]:
    """One event's envelope, as it was received."""
    with db.read() as tx:
        envelope = store.received_events.get(tx, event_id)
    if envelope is None:
        raise errors.EntityNotFoundException(f"Event {event_id} not found")
    return {"Event": envelope}


@remote.callable
def get_workflow_run_events(db: store.Store, run_id: str) -> dict[str, Any]:
    """The full events of the batch that started a workflow run (Glue gives only their ids)."""
    with db.read() as tx:
        if store.workflow_runs.get(tx, run_id) is None:
            raise errors.EntityNotFoundException(f"Workflow run {run_id} not found")
        return {"Events": store.received_events.of_run(tx, run_id)}


def read_entries(values: Iterable[Any]) -> list[Any]:
    """Entries from JSON a user gave: a list, ``{"Entries": [...]}`` (PutEvents' request), or one event."""
    found: list[Any] = []
    for value in values:
        if isinstance(value, Mapping) and isinstance(value.get("Entries"), list):
            found.extend(value["Entries"])
        elif isinstance(value, list):
            found.extend(value)
        else:
            found.append(value)
    return found
