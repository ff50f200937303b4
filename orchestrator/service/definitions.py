"""Definition files: validate them, and apply them in one transaction (adhere's declarative side
of CreateJob/UpdateJob, CreateTrigger/UpdateTrigger, CreateWorkflow/UpdateWorkflow, ...)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator import errors, store
from orchestrator.settings import Settings
from orchestrator.states import TriggerType

if TYPE_CHECKING:
    from orchestrator.definitions import Definitions, Trigger


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What applying did to one definition: "created", "updated" or "unchanged", and a note
    (a job that moves to another workflow says so)."""

    kind: str
    name: str
    change: str
    note: str | None = None


def validate(paths: Sequence[Path], settings: Settings | None = None) -> Definitions:
    """Load and check definition files whole: every problem at its place, including engines
    that are unknown or cannot run here (what apply refuses, validate refuses too)."""
    from engines import registry
    from orchestrator.definitions import loading

    defs = loading.load_files(paths, engines=registry.names())
    _check_engines(defs, settings or Settings())
    return defs


def _check_engines(defs: Definitions, settings: Settings) -> None:
    from engines import registry

    problems: list[errors.Problem] = []
    options = settings.engine_options()
    checked: dict[str, str | None] = {}
    for job in defs.jobs:
        command = job.command.name
        if command not in checked:
            try:
                registry.engine_class(command)(settings.home / "engines" / command, options.get(command)).check()
                checked[command] = None
            except errors.AdhereError as exc:
                checked[command] = exc.message
        if checked[command]:
            problems.append(errors.Problem(f"Jobs[{job.name}].Command.Name", str(checked[command])))
    if problems:
        raise errors.ValidationError(problems)


def apply(db: store.Store, defs: Definitions) -> list[Outcome]:
    """Create or update everything in ``defs`` in one transaction (validated already)."""
    bodies: dict[str, list[store.definitions.Body]] = {
        "workflow": [_body(wf) for wf in defs.workflows],
        "job": [_body(job) for job in defs.jobs],
        "crawler": [_body(crawler) for crawler in defs.crawlers],
        "trigger": [_body(trig, workflow_name=trig.workflow_name, type=trig.type.value, state=_trigger_state(trig))
                    for trig in defs.triggers],
    }
    outcomes: list[Outcome] = []
    with db.transaction() as tx:
        stored = store.definitions.find(tx, "trigger")
        before = _memberships(t.glue for t in stored)
        current = {kind: store.definitions.get_many(tx, kind, (b.name for b in items)) for kind, items in bodies.items()}
        for kind, items in bodies.items():
            changes = store.definitions.save_many(tx, kind, items, current[kind])
            outcomes += [Outcome(kind, b.name, changes[b.name]) for b in items]
        for name in _stale_generated(stored, defs):
            store.definitions.delete(tx, "trigger", name)
            outcomes.append(Outcome("trigger", name, "deleted", "its DependsOn is gone"))
        after = _memberships(t.glue for t in store.definitions.find(tx, "trigger"))
    return [_with_move(o, before, after) if o.kind == "job" and o.change != "created" else o for o in outcomes]


def _stale_generated(stored: Iterable[store.definitions.Definition], defs: Definitions) -> list[str]:
    """Triggers the DependsOn shorthand generated for entries of this file that no longer
    generate them (their DependsOn was removed or moved): the entry owns them, so they go."""
    entries = {("job", j.name) for j in defs.jobs} | {("crawler", c.name) for c in defs.crawlers}
    kept = {t.name for t in defs.triggers}
    stale = []
    for trig in stored:
        actions = trig.glue.get("Actions") or []
        if trig.name in kept or len(actions) != 1 or not trig.name.endswith(".depends"):
            continue
        node = ("job", actions[0].get("JobName")) if actions[0].get("JobName") else ("crawler", actions[0].get("CrawlerName"))
        if node in entries and (trig.glue.get("Description") or "").startswith(f"Generated from the DependsOn of {node[0]} "):
            stale.append(trig.name)
    return stale


def _body(model: Any, **columns: Any) -> store.definitions.Body:
    return store.definitions.Body(model.name, model.to_glue(), model.model_dump(mode="json"), **columns)


def _trigger_state(trig: Trigger) -> str:
    if trig.type is TriggerType.ON_DEMAND:
        return "CREATED"
    return "ACTIVATED" if trig.start_on_creation else "CREATED"


def _memberships(triggers: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Job name -> the workflows whose triggers start or watch it."""
    out: dict[str, set[str]] = defaultdict(set)
    for trig in triggers:
        if wf := trig.get("WorkflowName"):
            for item in [*trig.get("Actions", []), *(trig.get("Predicate") or {}).get("Conditions", [])]:
                if item.get("JobName"):
                    out[item["JobName"]].add(wf)
    return out


def _with_move(outcome: Outcome, before: Mapping[str, set[str]], after: Mapping[str, set[str]]) -> Outcome:
    old, new = before.get(outcome.name, set()), after.get(outcome.name, set())
    if not old or not new or old == new:
        return outcome
    note = f"moves from workflow {', '.join(sorted(old))} to workflow {', '.join(sorted(new))}"
    return dataclasses.replace(outcome, change="updated" if outcome.change == "unchanged" else outcome.change, note=note)
