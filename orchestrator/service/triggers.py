"""Triggers (CreateTrigger, UpdateTrigger, DeleteTrigger, GetTrigger, GetTriggers, ListTriggers,
BatchGetTriggers, StartTrigger, StopTrigger)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import errors, store, trigger
from orchestrator.service import paging, remote, resources, shapes
from orchestrator.settings import Settings
from orchestrator.states import TriggerType

_GLUE_ONLY = ("State", "Id")  # Get* members a request does not carry



def create_trigger(db: store.Store, settings: Settings, trigger: Mapping[str, Any]) -> dict[str, Any]:
    """CreateTrigger, against the jobs, crawlers and workflow in the store; a workflow keeps one
    start trigger and no cycle."""
    with db.transaction() as tx:
        model = resources.load("trigger", trigger, settings, tx)
        resources.save(tx, "trigger", model, create=True)
        _check_workflow(tx, model)  # with this trigger stored; a refusal rolls both back
    return {"Name": model.name}


def update_trigger(db: store.Store, settings: Settings, name: str, trigger_update: Mapping[str, Any]) -> dict[str, Any]:
    """UpdateTrigger: the members given replace the trigger's (its type, workflow and state stay)."""
    if not isinstance(trigger_update, Mapping):
        raise errors.InvalidInputException("TriggerUpdate must be a JSON object")
    with db.transaction() as tx:
        current = resources.stored(tx, "trigger", name, lock=True)
        merged = {k: v for k, v in current.glue.items() if k not in _GLUE_ONLY}
        merged.update({k: v for k, v in trigger_update.items() if v is not None and k != "Name"})
        model = resources.load("trigger", {**merged, "Name": name}, settings, tx)
        resources.save(tx, "trigger", model, create=False)
        _check_workflow(tx, model)
        return {"Trigger": shapes.trigger(resources.stored(tx, "trigger", name))}


@remote.callable
def delete_trigger(db: store.Store, name: str) -> dict[str, Any]:
    """DeleteTrigger: idempotent, as in Glue; runs under way keep the graph they started with."""
    with db.transaction() as tx:
        resources.remove(tx, "trigger", name)
    return {"Name": name}


def get_trigger(db: store.Store, name: str) -> dict[str, Any]:
    with db.read(one_statement=True) as tx:
        return {"Trigger": shapes.trigger(resources.stored(tx, "trigger", name))}


@remote.callable
def get_triggers(db: store.Store, next_token: str | None = None, dependent_job_name: str | None = None,
                 max_results: int | None = None, *, workflow_name: str | None = None) -> dict[str, Any]:
    """GetTriggers in name order; ``dependent_job_name`` keeps the triggers that start that job
    (``workflow_name``, an adhere extension, those of one workflow)."""
    rows, token = _page(db, next_token, dependent_job_name, max_results, workflow_name=workflow_name)
    return {"Triggers": [shapes.trigger(r) for r in rows], **({"NextToken": token} if token else {})}


def list_triggers(db: store.Store, next_token: str | None = None, dependent_job_name: str | None = None,
                  max_results: int | None = None, tags: Mapping[str, str] | None = None) -> dict[str, Any]:
    if not dependent_job_name:
        return resources.list_names(db, "trigger", "TriggerNames", next_token, max_results, tags)
    rows, token = _page(db, next_token, dependent_job_name, max_results, tags=tags)
    return {"TriggerNames": [r.name for r in rows], **({"NextToken": token} if token else {})}


def _page(db: store.Store, next_token: str | None, dependent_job_name: str | None, max_results: int | None,
          *, workflow_name: str | None = None,
          tags: Mapping[str, str] | None = None) -> tuple[list[store.definitions.Definition], str | None]:
    after = paging.decode(next_token)
    with db.read() as tx:
        among = store.tags.names_with(tx, "trigger", tags) if tags else None
        if dependent_job_name:  # a filter on the JSON: read them all, then page
            rows = [r for r in store.definitions.find(tx, "trigger", workflow_name=workflow_name,
                                                      after=after[0] if after else None, among=among)
                    if any(a.get("JobName") == dependent_job_name for a in r.glue.get("Actions", []))]
            rows = rows[: max_results + 1] if max_results else rows
        else:
            rows = store.definitions.find(tx, "trigger", workflow_name=workflow_name, after=after[0] if after else None,
                                          limit=max_results + 1 if max_results else None, among=among)
    return paging.page(rows, max_results, lambda r: [r.name])


def batch_get_triggers(db: store.Store, trigger_names: Sequence[str]) -> dict[str, Any]:
    with db.read() as tx:
        found = store.definitions.get_many(tx, "trigger", trigger_names)
    names = list(dict.fromkeys(trigger_names))
    return {"Triggers": [shapes.trigger(found[n]) for n in names if n in found],
            "TriggersNotFound": [n for n in names if n not in found]}


@remote.callable(wakes=True)
def start_trigger(db: store.Store, name: str) -> dict[str, Any]:
    """StartTrigger: an ON_DEMAND trigger fires now (a workflow's starts a workflow run, a
    standalone one its jobs, ConcurrentRunsExceededException over a job's limit). Any other is
    activated: a SCHEDULED one is ACTIVATING until a serve's loop takes it up (it then counts
    ticks from that moment), the others are ACTIVATED at once."""
    with db.transaction() as tx:
        row = resources.stored(tx, "trigger", name, lock=True)
        if row.type != TriggerType.ON_DEMAND.value:
            store.definitions.set_state(tx, "trigger", name, _activated(row))
            return {"Name": name}
        if row.workflow_name is None:
            trigger.fire_standalone(tx, row, direct=True)
            return {"Name": name}
        workflow_name = row.workflow_name
    from orchestrator.service import workflow_runs

    workflow_runs.start_workflow_run(db, workflow_name)
    return {"Name": name}


def _activated(row: store.definitions.Definition) -> str:
    if row.type != TriggerType.SCHEDULED.value or row.state in ("ACTIVATED", "DEACTIVATING"):
        return "ACTIVATED"
    return "ACTIVATING"


@remote.callable(wakes=True)
def stop_trigger(db: store.Store, name: str) -> dict[str, Any]:
    """StopTrigger: a scheduled, conditional or event trigger no longer fires until started; a
    SCHEDULED one is DEACTIVATING until a serve's loop has taken it down, an EVENT one drops the
    events waiting in its batch."""
    with db.transaction() as tx:
        row = resources.stored(tx, "trigger", name, lock=True)
        if row.type == TriggerType.ON_DEMAND.value:
            raise errors.InvalidInputException(f"Trigger {name} is ON_DEMAND: it fires only when started, "
                                               "there is nothing to stop")
        active = row.state == "ACTIVATED" and row.type == TriggerType.SCHEDULED.value
        store.definitions.set_state(tx, "trigger", name, "DEACTIVATING" if active else "DEACTIVATED")
        if row.type == TriggerType.EVENT.value:
            store.received_events.drop_waiting(tx, name, f"trigger {name} was stopped (StopTrigger)")
    return {"Name": name}


@remote.callable
def next_fire_times(db: store.Store, settings: Settings, name: str, count: int = 5,
                    kind: str = "trigger") -> dict[str, Any]:
    """The next times a SCHEDULED trigger (or a crawler, ``kind``) fires, from now (adhere's)."""
    from orchestrator import schedules

    if not 1 <= count <= 1000:
        raise errors.InvalidInputException("the count of fire times must be between 1 and 1000")
    with db.read() as tx:
        row = resources.stored(tx, kind, name)
    expression = row.glue.get("Schedule")
    if not expression:
        what = "Trigger" if kind == "trigger" else "Crawler"
        raise errors.InvalidInputException(f"{what} {name} has no Schedule" +
                                           (f" (it is {row.type})" if kind == "trigger" else ""))
    schedule = schedules.parse(expression, min_interval=0)
    return {"Name": name, "Schedule": expression, "State": row.state,
            "FireTimes": schedule.upcoming(store.now(), count)}


def _check_workflow(tx: store.Tx, model: Any) -> None:
    """The workflow-wide rules a file's checks apply, over the workflow's stored triggers (this
    one among them): one start trigger, no cycle. A workflow may be without a start
    trigger meanwhile (Glue builds workflows one call at a time)."""
    if model.workflow_name is None:
        return
    from orchestrator.definitions import checks, models
    from orchestrator.definitions.problems import At, Problems

    stored = [models.Trigger.model_validate(r.spec)
              for r in store.definitions.find(tx, "trigger", workflow_name=model.workflow_name)]
    items = [(t, At(f"Triggers[{t.name}]")) for t in stored]
    problems = Problems()
    checks.check_workflows(items, {model.workflow_name: "WorkflowName"}, resources.known(tx),
                           {model.workflow_name}, problems)
    if problems:
        raise errors.ValidationError(problems)
