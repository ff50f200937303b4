"""Definition files: validate them, and apply them in one transaction (adhere's declarative side
of CreateJob/UpdateJob, CreateTrigger/UpdateTrigger, CreateWorkflow/UpdateWorkflow, ...)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator import errors, store
from orchestrator.service import remote
from orchestrator.settings import Settings

if TYPE_CHECKING:
    from orchestrator.definitions import Definitions


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What applying did to one definition: "created", "updated" or "unchanged", and a note
    (a job that moves to another workflow says so)."""

    kind: str
    name: str
    change: str
    note: str | None = None


def validate(paths: Sequence[Path], settings: Settings | None = None, db: store.Store | None = None) -> Definitions:
    """Load and check definition files whole: every problem at its place, including engines
    that are unknown or cannot run here (what apply refuses, validate refuses too).

    With ``db``, a trigger, DependsOn or Workflow key may name a job, crawler or workflow of
    the store (the store is read only when a name is not in the files); ``defs.resolved`` and
    a note say which. ``defs.notes`` holds every note (see ``Definitions``)."""
    from engines import registry
    from orchestrator.definitions import loading

    existing = (lambda: stored_names(db)) if db is not None else None
    defs = loading.load_files(paths, engines=registry.names(), existing=existing)
    if not isinstance(db, remote.Endpoint):  # a serve checks its own engines (``received``)
        check_jobs(defs, settings or Settings())
    return defs


NOTES_SHOWN = 20  # a terminal lists this many notes, then counts the rest


def note_lines(notes: Sequence[errors.Problem], limit: int = NOTES_SHOWN) -> list[str]:
    """``note: <place>: <text>`` for the first ``limit`` notes, then a line counting the rest."""
    lines = [f"note: {n}" for n in notes[:limit]]
    if len(notes) > limit:
        lines.append(f"note: ... and {len(notes) - limit} more notes (--json lists them all)")
    return lines


@remote.callable
def stored_names(db: store.Store) -> Any:
    """The names of the store's jobs, crawlers and workflows (``problems.Known``)."""
    from orchestrator.definitions.problems import Known

    with db.read() as tx:
        return Known(*(set(store.definitions.list_names(tx, kind)) for kind in ("job", "crawler", "workflow")))


def check_jobs(defs: Definitions, settings: Settings, *, where: str | None = None) -> None:
    """Raise ValidationError for each job whose engine is registered but cannot run here (a
    missing extra) or is not known at all. A Glue command with no engine registered
    (gluestreaming) passes: loading noted it. ``where``: the place of ``Command.Name`` (default
    ``Jobs[<name>].Command.Name``; ``"Command.Name"`` for one request)."""
    from engines import registry
    from orchestrator.definitions import glue

    problems: list[errors.Problem] = []
    options = settings.engine_options()
    registered = set(registry.names())
    checked: dict[str, str | None] = {}
    for job in defs.jobs:
        command = job.command.name
        if command not in registered and command in glue.commands():
            continue
        if command not in checked:
            try:
                registry.engine_class(command)(settings.home / "engines" / command, options.get(command)).check()
                checked[command] = None
            except errors.AdhereError as exc:
                checked[command] = exc.message
        if checked[command]:
            problems.append(errors.Problem(where or f"Jobs[{job.name}].Command.Name", str(checked[command])))
        if settings.script_roots:
            problems += _root_problems(job, settings, "" if where else f"Jobs[{job.name}].")
    if problems:
        raise errors.ValidationError(problems)


def _root_problems(job: Any, settings: Settings, prefix: str) -> list[errors.Problem]:
    """A script or an ``--extra-*`` file outside ``ADHERE_SCRIPT_ROOTS`` (a client of a shared
    server must not point a job at any file of the server)."""
    from orchestrator import scripts

    for member, arguments in (("DefaultArguments", job.default_arguments),
                              ("NonOverridableArguments", job.non_overridable_arguments)):
        if problem := scripts.job_root_problem(job.command.script_location, arguments, settings.script_roots):
            place = "Command.ScriptLocation" if problem.startswith("ScriptLocation") else member
            return [errors.Problem(prefix + place, problem)]
    return []


_KINDS = ("workflow", "job", "crawler", "trigger")  # the order they are written in


def apply(db: store.Store, defs: Definitions, *, prune: Collection[tuple[str, str]] = ()) -> list[Outcome]:
    """Create or update everything in ``defs`` in one transaction (validated already), through
    the same ``resources.save_all`` as CreateJob, UpdateJob, ... (catalog databases through
    ``databases.save_all``). ``prune``: (kind, name) of stored definitions to delete, as
    ``pruned`` listed them (those ``defs`` does not define; one that something defined
    meanwhile, or that appeared since, is not touched)."""
    if isinstance(db, remote.Endpoint):  # the serve validates them again (``received``)
        return apply_sent(db, None, sent(defs), prune=list(prune))
    from orchestrator.service import resources

    models = {"workflow": defs.workflows, "job": defs.jobs, "crawler": defs.crawlers, "trigger": defs.triggers}
    outcomes: list[Outcome] = []
    with db.transaction() as tx:
        _recheck_resolved(tx, defs)
        stored = store.definitions.find(tx, "trigger")
        before = _memberships(t.glue for t in stored)
        if defs.databases:
            from orchestrator.service import databases

            changed = databases.save_all(tx, defs.databases)
            outcomes += [Outcome("database", m.name, changed[m.name]) for m in defs.databases]
        for kind in _KINDS:
            current = store.definitions.get_many(tx, kind, (m.name for m in models[kind]), lock=True)
            changes = resources.save_all(tx, kind, models[kind], current, create=None)
            outcomes += [Outcome(kind, m.name, changes[m.name]) for m in models[kind]]
        for name in _stale_generated(stored, defs):
            resources.remove(tx, "trigger", name)
            outcomes.append(Outcome("trigger", name, "deleted", "its DependsOn is gone"))
        if prune:
            outcomes += [Outcome(kind, name, "deleted", "not in the files") for kind, name in _prune(tx, defs, prune)]
        after = _memberships(t.glue for t in store.definitions.find(tx, "trigger"))
    return [_with_move(o, before, after) if o.kind == "job" and o.change != "created" else o for o in outcomes]


def pruned(db: store.Store, defs: Definitions) -> list[tuple[str, str]]:
    """What ``apply(prune=True)`` would delete: (kind, name) of every stored definition that
    ``defs`` does not define, triggers first. Catalog databases are never pruned: a database
    holds tables and partitions that crawlers and jobs wrote, which no file describes, and
    deleting it loses them for good (a pruned job comes back whole with the next apply)."""
    if isinstance(db, remote.Endpoint):
        return pruned_sent(db, None, sent(defs))
    with db.read() as tx:
        return _unlisted(tx, defs)


def sent(defs: Definitions) -> dict[str, Any]:
    """``defs`` as an `adhere --endpoint` client sends them to its serve: the mapping of Glue's
    shapes they load back from (``received``)."""
    return defs.model_dump(mode="json", by_alias=True, exclude_unset=True)


def received(db: store.Store, settings: Settings, data: Mapping[str, Any]) -> Definitions:
    """Definitions a client ``sent``, validated again here: this store's names, this serve's engines."""
    from engines import registry
    from orchestrator.definitions import loading

    defs = loading.load_mapping(data, Path.cwd(), engines=registry.names(), existing=lambda: stored_names(db))
    check_jobs(defs, settings)
    return defs


@remote.callable(wakes=True)
def apply_sent(db: store.Store, settings: Settings, data: Mapping[str, Any],
               prune: Collection[tuple[str, str]] = ()) -> list[Outcome]:
    """``apply`` on a serve, for a client."""
    return apply(db, received(db, settings, data), prune=prune)


@remote.callable
def pruned_sent(db: store.Store, settings: Settings, data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``pruned`` on a serve, for a client."""
    return pruned(db, received(db, settings, data))


def _unlisted(tx: store.Tx, defs: Definitions) -> list[tuple[str, str]]:
    listed = {("workflow", m.name) for m in defs.workflows} | {("job", m.name) for m in defs.jobs} | \
        {("crawler", m.name) for m in defs.crawlers} | {("trigger", m.name) for m in defs.triggers}
    return [(kind, name) for kind in ("trigger", "workflow", "crawler", "job")
            for name in store.definitions.list_names(tx, kind) if (kind, name) not in listed]


def _prune(tx: store.Tx, defs: Definitions, shown: Collection[tuple[str, str]]) -> list[tuple[str, str]]:
    from orchestrator.service import resources, workflows

    gone = [item for item in _unlisted(tx, defs) if item in set(shown)]
    for kind, name in gone:
        if kind == "workflow":
            workflows.check_deletable(tx, name)
        resources.remove(tx, kind, name)
    return gone


def _recheck_resolved(tx: store.Tx, defs: Definitions) -> None:
    """Names validation resolved from the store are still there (they were read before this
    transaction); held until it ends so that no delete can slip in between."""
    wanted: dict[str, list[str]] = defaultdict(list)
    for kind, name in defs.resolved:
        wanted[kind].append(name)
    for kind, names in wanted.items():
        missing = set(names) - set(store.definitions.get_many(tx, kind, names, lock=True))
        if missing:
            raise errors.EntityNotFoundException(
                f"{kind} {', '.join(sorted(missing))} was deleted since the files were validated; nothing was changed")


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
