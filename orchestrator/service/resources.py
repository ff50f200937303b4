"""What CreateX, UpdateX, DeleteX and ListX share across jobs, crawlers, triggers and workflows:
one request loaded as a definition file's entry is, saved, or deleted with its tags.

``adhere apply`` and these operations write through the same ``save`` and ``remove``, so a
definition means the same whether it came from a file, the CLI or boto3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import errors, store
from orchestrator.service import paging
from orchestrator.settings import Settings
from orchestrator.states import TriggerType

_TITLE = {"job": "Job", "crawler": "Crawler", "trigger": "Trigger", "workflow": "Workflow"}


def load(kind: str, data: Mapping[str, Any], settings: Settings, tx: store.Tx | None = None) -> Any:
    """One Create*/Update* request as a checked model (ValidationError naming each member).
    Triggers are checked against the jobs, crawlers and workflows in the store (``tx``)."""
    from engines import registry
    from orchestrator.definitions import loading
    from orchestrator.service import definitions

    if not isinstance(data, Mapping):
        raise errors.InvalidInputException(f"a {kind} must be a JSON object")
    model, _notes = loading.load_request(kind, data, existing=(lambda: known(tx)) if tx is not None else None,
                                         engines=registry.names())
    if kind == "job":
        from orchestrator.definitions import models

        definitions.check_jobs(models.Definitions(jobs=[model]), settings, where="Command.Name")
    return model


def stored(tx: store.Tx, kind: str, name: str, *, lock: bool = False) -> store.definitions.Definition:
    """The stored definition, or Glue's EntityNotFoundException ("Job x not found")."""
    row = store.definitions.get(tx, kind, name, lock=lock)
    if row is None:
        raise errors.EntityNotFoundException(f"{_TITLE[kind]} {name} not found")
    return row


def known(tx: store.Tx) -> Any:
    from orchestrator.definitions.problems import Known

    return Known(*(set(store.definitions.list_names(tx, kind)) for kind in ("job", "crawler", "workflow")))


def body(model: Any, **columns: Any) -> store.definitions.Body:
    return store.definitions.Body(model.name, model.to_glue(), model.model_dump(mode="json"), **columns)


def trigger_body(trig: Any, state: str | None = None) -> store.definitions.Body:
    """A trigger's row: a new one starts ACTIVATED when StartOnCreation says so (ON_DEMAND
    triggers stay CREATED: they fire only when started)."""
    if state is None:
        started = trig.start_on_creation and trig.type is not TriggerType.ON_DEMAND
        state = "ACTIVATED" if started else "CREATED"
    return body(trig, workflow_name=trig.workflow_name, type=trig.type.value, state=state)


def save(tx: store.Tx, kind: str, model: Any, *, create: bool) -> store.definitions.Definition | None:
    """CreateX (``create``: AlreadyExistsException if the name is taken) or UpdateX
    (EntityNotFoundException if it is not); returns what was stored before."""
    current = store.definitions.get(tx, kind, model.name, lock=True)
    save_all(tx, kind, [model], {model.name: current} if current else {}, create=create)
    return current


def save_all(tx: store.Tx, kind: str, models: Sequence[Any], current: Mapping[str, store.definitions.Definition],
             *, create: bool | None) -> dict[str, str]:
    """Store definitions of one kind in a few statements, whatever their number (``adhere apply``
    and the single-resource operations alike); name -> "created", "updated" or "unchanged".

    ``current`` is what is stored now (``store.definitions.get_many``); ``create`` True refuses
    an existing name, False a missing one, None (apply) takes either. A trigger that exists keeps
    its state (StartTrigger and StopTrigger are not undone by an update). Tags are a new
    resource's, or, from a file that lists them, exactly those."""
    from orchestrator.service import tags

    for model in models:
        found = model.name in current
        if create is True and found:
            raise errors.AlreadyExistsException(f"{_TITLE[kind]} {model.name} already exists.")
        if create is False and not found:
            raise errors.EntityNotFoundException(f"{_TITLE[kind]} {model.name} not found")
        if model.tags:
            tags.check_tags(model.tags)
    rows = [trigger_body(m, state=current[m.name].state if m.name in current else None) if kind == "trigger"
            else body(m) for m in models]
    changes = store.definitions.save_many(tx, kind, rows, current)
    _schedules(tx, kind, models, changes)
    for model in models:
        if changes[model.name] == "created" and model.tags:
            store.tags.put(tx, kind, model.name, model.tags)
        elif create is None and changes[model.name] != "created" and "tags" in model.model_fields_set:
            store.tags.replace(tx, kind, model.name, model.tags)
    return changes


def _schedules(tx: store.Tx, kind: str, models: Sequence[Any], changes: Mapping[str, str]) -> None:
    """A schedule created or changed counts its ticks from now (none before it is caught up on);
    a new crawler schedule is SCHEDULED, as Glue's CreateCrawler makes it."""
    if kind not in ("trigger", "crawler"):
        return
    stamp = store.now()
    for model in models:
        if changes[model.name] == "unchanged" or (kind == "trigger" and model.type is not TriggerType.SCHEDULED):
            continue
        if not model.schedule:
            store.schedules.delete(tx, kind, model.name)
        elif kind == "crawler" and changes[model.name] == "created":
            store.schedules.reset(tx, kind, model.name, stamp, state=store.schedules.SCHEDULED)
        else:
            store.schedules.reset(tx, kind, model.name, stamp)


def remove(tx: store.Tx, kind: str, name: str) -> bool:
    """Delete a definition, its tags, a trigger's or crawler's schedule and open batch, a job's
    bookmark; False when there was none."""
    store.tags.delete_all(tx, kind, name)
    if kind in ("trigger", "crawler"):
        store.schedules.delete(tx, kind, name)
    if kind == "trigger":
        store.received_events.drop_waiting(tx, name, "trigger deleted")
    if kind == "job":
        store.bookmarks.delete_job(tx, name)  # Glue's rule: the bookmark goes with its job
    return store.definitions.delete(tx, kind, name)


def list_names(db: store.Store, kind: str, key: str, next_token: str | None, max_results: int | None,
               tags: Mapping[str, str] | None) -> dict[str, Any]:
    """ListJobs, ListTriggers, ListWorkflows: names in order, a page at a time, only those
    carrying every tag in ``tags`` when given."""
    after = paging.decode(next_token)
    with db.read() as tx:
        among = store.tags.names_with(tx, kind, tags) if tags else None
        names = store.definitions.list_names(tx, kind, after=after[0] if after else None,
                                             limit=max_results + 1 if max_results else None, among=among)
    names, token = paging.page(names, max_results, lambda n: [n])
    return {key: names, **({"NextToken": token} if token else {})}
