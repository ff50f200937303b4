"""Loading definitions: files (or one API request) validated whole, as problems at their places
and notes, then built into ``models.Definitions``.

Places use the Glue spelling and the indexes of the original file (``Triggers[2].Predicate``).
Reading the files is ``reading``; what a file may hold is ``entries``; each entry's members are
sorted by ``members`` and validated by ``validation``; the DependsOn shorthand is compiled by
``shorthand``; the cross-reference checks are ``checks``. Nothing is written: the service
applies the result.

Names that triggers, DependsOn and Workflow keys refer to resolve against the files first, then
against ``existing`` (the store's jobs, crawlers and workflows, as Glue creates triggers against
existing jobs): a ``problems.Known``, or a function returning one, called only when a name is
not in the files.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from orchestrator import errors
from orchestrator.definitions import (
    checks,
    entries,
    file,
    glue,
    models,
    reading,
    shorthand,
    structure,
)
from orchestrator.definitions.problems import At, Known, Names, Notes, Problems, Stored, join
from orchestrator.definitions.text import listing, quote
from orchestrator.definitions.validation import validate

Existing = Known | Callable[[], Known]
_MODELS: dict[str, Any] = {
    "Jobs": file.JobEntry,
    "Crawlers": file.CrawlerEntry,
    "Triggers": models.Trigger,
    "Workflows": models.Workflow,
    "Databases": models.Database,
}
_REQUESTS: dict[str, Any] = {
    "job": models.Job, "trigger": models.Trigger, "workflow": models.Workflow, "crawler": models.Crawler,
}  # fmt: skip
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


# --- entry points ------------------------------------------------------------------------------


def load_files(
    paths: Sequence[Path],
    engines: Collection[str] | None = None,
    existing: Existing | None = None,
) -> models.Definitions:
    """Read, merge and validate definition files; raise ValidationError listing every problem.

    ``engines``: the ``Command.Name`` values with an engine here (the service passes its engine
    registry's); a job naming another Glue command (gluestreaming) gets a note, any other name
    is a problem. None skips that check. ``existing``: see the module docstring. The result's
    ``notes`` and ``resolved`` say what loading remarked and what the store resolved.
    """
    paths = [Path(p) for p in paths]
    problems, notes = Problems(), Notes()
    raws: list[entries.Raw] = []
    with _collector_paused():
        for path in paths:
            prefix = f"{path}: " if len(paths) > 1 else ""
            data = reading.read(path, prefix, problems)
            if data is not None:
                raws += entries.entries(data, prefix, path.parent, problems, notes)
        source = ", ".join(str(p) for p in paths)
        return _finish(raws, problems, notes, source, engines, existing)


def load_mapping(
    data: Mapping[str, Any],
    base_dir: Path,
    source: str = "",
    engines: Collection[str] | None = None,
    existing: Existing | None = None,
) -> models.Definitions:
    """Validate one already-parsed definition mapping (tests, the HTTP API); see ``load_files``."""
    problems, notes = Problems(), Notes()
    with _collector_paused():
        raws = []
        if structure.check(data, problems):
            raws = entries.entries(data, "", Path(base_dir), problems, notes)
        return _finish(raws, problems, notes, source, engines, existing)


def load_request(
    kind: Literal["job", "trigger", "workflow", "crawler"],
    data: Mapping[str, Any],
    existing: Existing | None = None,
    *,
    name: str | None = None,
    engines: Collection[str] | None = None,
    base_dir: Path | None = None,
) -> tuple[Any, list[errors.Problem]]:
    """One Create*/Update* request body (CreateJob, CreateTrigger, CreateWorkflow, CreateCrawler)
    as its model and the notes about it, checked as a file entry is, with places relative to the
    request (``Command.Name``); raise ValidationError listing every problem.

    ``name``: the resource's name when the body has none (UpdateJob's ``JobUpdate``; a ``Name`` in
    the body must then agree). A trigger's jobs, crawlers and workflow must be in ``existing``;
    the checks that need a workflow's other triggers (one start trigger, no cycle) are not run.
    ``engines`` as for ``load_files``; a relative ScriptLocation stays as given unless
    ``base_dir`` is given. DependsOn and the other file shorthands are not Glue's: refused here.
    """
    problems, notes = Problems(), Notes()
    model = None
    if not isinstance(data, Mapping):
        problems.add("", f"must be a mapping (Glue's {glue.SHAPES[kind][0]})")
    elif name is not None and data.get("Name", data.get("name", name)) != name:
        problems.add("Name", f"must be the name of the {kind} updated, {quote(name)}")
    else:
        body = data if name is None else {**data, "Name": name}
        if structure.check(body, problems):
            model = validate(body, _REQUESTS[kind], "", kind, kind, problems, notes)
    stored = Stored(existing) if existing is not None else None
    known = Known(*(Names(k, set(), stored) for k in ("job", "crawler", "workflow")))
    if model is not None and kind == "job":
        _check_engine(model, "", engines, problems, notes)
        if base_dir is not None:
            model = model.model_copy(update={"command": _command(model, base_dir)})
    elif model is not None and kind == "crawler":
        _note_targets(model, "", notes)
        if base_dir is not None:
            model = model.model_copy(update={"targets": _targets(model, base_dir)})
    elif model is not None and kind == "trigger":
        checks.check_trigger(model, At(""), known, problems)
    if problems:
        raise errors.ValidationError(problems)
    return model, notes.as_list()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading allocates millions of objects that live until it ends, and none of them forms a
    reference cycle; Python's cyclic collector would traverse them again and again (two thirds of
    the time of a 40,000-job file). It runs again as soon as loading returns or raises."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _finish(
    raws: list[entries.Raw], problems: Problems, notes: Notes, source: str,
    engines: Collection[str] | None, existing: Existing | None,
) -> models.Definitions:  # fmt: skip
    stored = Stored(existing) if existing is not None else None
    result = _build(raws, problems, notes, engines, stored)
    if problems:
        raise errors.ValidationError(problems, source=source)
    resolved = tuple(stored.resolved) if stored is not None else ()
    if resolved:
        notes.add("", "resolved from the store: " + listing([f"{k} {n}" for k, n in resolved], 20))
    result._notes = tuple(notes.as_list())
    result._resolved = resolved
    return result


def _raw_name(raw: entries.Raw) -> str | None:
    if not isinstance(raw.data, Mapping):
        return None
    name = raw.data.get("Name", raw.data.get("name"))
    if isinstance(name, str) and raw.kind == "Databases":
        return name.lower()  # Glue folds database names: "Sales" and "sales" are one database
    return name if isinstance(name, str) else None


# --- building ----------------------------------------------------------------------------------


def _resolve(location: str, base_dir: Path) -> str:
    """A local relative script path is relative to its definition file's folder."""
    if _SCHEME.match(location) or os.path.isabs(location):
        return location
    return os.path.normpath(os.path.join(os.path.abspath(base_dir), location))


def _plain(entry: Any, model: type[models.Job] | type[models.Crawler], **update: Any) -> Any:
    """The entry without its shorthand keys, with the Glue members it keeps. Its fields are valid
    already: re-validating a dump would cost as much as the first validation (and a duration's
    text may round)."""
    fields = {name: getattr(entry, name) for name in model.model_fields} | update
    return model.model_construct(
        entry.model_fields_set - file.SHORTHAND_FIELDS, **fields, **(entry.model_extra or {})
    )


def _check_engine(
    job: Any, where: str, engines: Collection[str] | None, problems: Problems, notes: Notes
) -> None:
    """A job's engine: a Glue command without one here is a note, any other unknown name a problem."""
    command = job.command.name
    if engines is None or command in engines:
        return
    place = join(where, ".Command.Name")
    if command in glue.commands():
        notes.add(place, f"no engine {quote(command)} here: runs of this job will fail until "
                         "one is installed", key=("engine", command))  # fmt: skip
    else:
        problems.add(place, f"unknown engine {quote(command)}; known engines: {listing(sorted(engines), 10)}")


def _command(job: Any, base_dir: Path) -> Any:
    return job.command.model_copy(
        update={"script_location": _resolve(job.command.script_location, base_dir)}
    )


def _targets(crawler: Any, base_dir: Path) -> dict[str, Any]:
    """A crawler's targets with local relative S3Targets paths made absolute, relative to its
    definition file's folder (as a job's ScriptLocation is)."""
    targets = dict(crawler.targets)
    if targets.get("S3Targets"):
        targets["S3Targets"] = [{**t, "Path": _resolve(t["Path"], base_dir)} for t in targets["S3Targets"]]
    return targets


def _note_targets(crawler: Any, where: str, notes: Notes) -> None:
    """What of a crawler acts otherwise than it reads: targets not crawled here, and the
    SchemaChangePolicy an incremental crawl overrides (Glue's rule: it only adds)."""
    others = sorted(k for k, v in crawler.targets.items() if v and k != "S3Targets")
    if others:
        notes.add(join(where, ".Targets"), f"{listing(others, 8)} are kept but not crawled here: "
                                           "adhere crawls S3Targets (local folders, file:// and s3://)")
    policy = crawler.schema_change_policy or {}
    if (crawler.recrawl_policy or {}).get("RecrawlBehavior") == "CRAWL_NEW_FOLDERS_ONLY" and any(
            policy.get(k, "LOG") != "LOG" for k in ("UpdateBehavior", "DeleteBehavior")):
        notes.add(join(where, ".SchemaChangePolicy"), "acts as LOG for both behaviors with CRAWL_NEW_FOLDERS_ONLY "
                                                      "(an incremental crawl only adds tables and partitions)")


def _build(
    raws: list[entries.Raw], problems: Problems, notes: Notes,
    engines: Collection[str] | None, stored: Stored | None,
) -> models.Definitions:  # fmt: skip
    names: dict[str, dict[str, str]] = defaultdict(dict)  # kind -> name -> first place
    for raw in raws:
        if (name := _raw_name(raw)) is None:
            continue
        first = names[raw.kind].setdefault(name, raw.where)
        if first != raw.where:
            problems.add(
                join(raw.where, ".Name"),
                f"duplicate {entries.SINGULAR[raw.kind]} name {quote(name)} "
                f"(first at {first.rstrip(': ') or 'the top level'})",
            )
    declared = {kind: set(names[section]) for kind, section in (("job", "Jobs"), ("crawler", "Crawlers"),
                                                                 ("workflow", "Workflows"))}  # fmt: skip
    if stored is None:  # plain sets: the checks' many lookups stay in C
        known = Known(declared["job"], declared["crawler"], declared["workflow"])
    else:
        known = Known(*(Names(kind, local, stored) for kind, local in declared.items()))

    jobs: list[models.Job] = []
    crawlers: list[models.Crawler] = []
    shorthands: list[tuple[str, Any, str]] = []
    explicit: list[tuple[models.Trigger, At]] = []
    workflows: list[models.Workflow] = []
    databases: list[models.Database] = []
    broken: set[str | None] = set()  # workflows with a trigger we could not read
    for raw in raws:
        what = entries.SINGULAR[raw.kind]
        model = validate(raw.data, _MODELS[raw.kind], raw.where, what, what, problems, notes)
        if model is None:
            if raw.kind == "Triggers" and isinstance(raw.data, Mapping):
                workflow = raw.data.get("WorkflowName", raw.data.get("workflow_name"))
                broken.add(workflow if isinstance(workflow, str) else None)
            continue
        if raw.kind == "Jobs":
            _check_engine(model, raw.where, engines, problems, notes)
            jobs.append(_plain(model, models.Job, command=_command(model, raw.base_dir)))
            shorthands.append(("job", model, raw.where))
        elif raw.kind == "Crawlers":
            _note_targets(model, raw.where, notes)
            crawlers.append(_plain(model, models.Crawler, targets=_targets(model, raw.base_dir)))
            shorthands.append(("crawler", model, raw.where))
        elif raw.kind == "Triggers":
            explicit.append((model, At(raw.where)))
        elif raw.kind == "Databases":
            databases.append(model)
        else:
            workflows.append(model)

    generated = shorthand.compile_triggers(shorthands, explicit, names["Triggers"], known, problems)
    triggers = explicit + generated
    for trigger, at in triggers:
        checks.check_trigger(trigger, at, known, problems)
    checks.check_workflows(triggers, names["Workflows"], known, broken, problems)
    return models.Definitions(
        jobs=jobs, crawlers=crawlers, triggers=[t for t, _ in triggers], workflows=workflows, databases=databases
    )
