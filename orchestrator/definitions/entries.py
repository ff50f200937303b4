"""What a definition file holds, as entries to validate: adhere's sections, or what Glue prints.

A file is one of, or a mix of:

- sections ``Jobs``, ``Crawlers``, ``Triggers``, ``Workflows``, ``Databases`` (lists; ``get-jobs``,
  ``get-triggers``, ``get-crawlers`` and ``batch-get-*`` print these, with ``NextToken`` or the
  names not found beside them, which are dropped with a note; ``get-databases`` prints
  ``DatabaseList``, read as ``Databases``);
- ``Job``, ``Trigger``, ``Crawler``, ``Workflow``, ``Database``: one definition as ``get-job``,
  ``get-trigger``, ``get-crawler``, ``get-workflow``, ``get-database`` print it. A workflow's ``Graph`` (``--include-graph``) gives
  its triggers; jobs and crawlers are not in it, so the triggers' jobs must be in the files or
  the store;
- ``JobName`` with ``JobUpdate``: an UpdateJob request (``--cli-input-json``);
- ``DatabaseInput`` (with ``Tags``): a CreateDatabase request (``--cli-input-json``);
- one bare Create* request (``--cli-input-json``), told by its members: ``Command`` makes a job,
  ``Type`` or ``Actions`` a trigger, ``Targets`` a crawler, a ``Name`` with only workflow members
  a workflow.

A CloudFormation template or resource is refused, naming the Glue form to use instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.definitions import glue, models, structure
from orchestrator.definitions.members import shape_of
from orchestrator.definitions.problems import Notes, Problems, join, key_text

SECTIONS = ("Jobs", "Crawlers", "Triggers", "Workflows", "Databases")
SINGULAR = {"Jobs": "job", "Crawlers": "crawler", "Triggers": "trigger", "Workflows": "workflow",
            "Databases": "database"}
_SECTION_KEYS = {k.lower(): k for k in SECTIONS} | {k: k for k in SECTIONS} | {"DatabaseList": "Databases"}
_ONE = {"Job": "Jobs", "Crawler": "Crawlers", "Trigger": "Triggers", "Workflow": "Workflows",
        "Database": "Databases"}
_ONE_KEYS = {k.lower(): v for k, v in _ONE.items()} | _ONE
_TEMPLATE = ("AWSTemplateFormatVersion", "Resources")
_SHAPES = "Jobs, Crawlers, Triggers, Workflows, Databases"
_NOT_A_FILE = f"must be a mapping with {_SHAPES} (or a Glue get-* output, or one Create* request)"


@dataclass
class Raw:
    """One entry of one file, before validation: its section, place and folder."""

    kind: str
    where: str
    base_dir: Path
    data: Any


def entries(data: Any, prefix: str, base_dir: Path, problems: Problems, notes: Notes) -> list[Raw]:
    """The entries of one file's data (see the module docstring); problems for the rest."""
    if not isinstance(data, Mapping):
        problems.add(prefix.rstrip(": ") or structure.TOP, _NOT_A_FILE)
        return []
    if any(k in _SECTION_KEYS or k in _ONE_KEYS or k in ("JobUpdate", "DatabaseInput") for k in data):
        return _sections(data, prefix, base_dir, problems, notes)
    if kind := _bare_kind(data):
        return _with_graph(Raw(kind, prefix, base_dir, data), problems, notes)
    if any(k in data for k in _TEMPLATE):
        problems.add(
            prefix.rstrip(": ") or structure.TOP,
            "a CloudFormation template: list each Glue resource's Properties under "
            f"{_SHAPES}, with the values that Ref and Fn:: functions give written out",
        )
        return []
    return _sections(data, prefix, base_dir, problems, notes)


def _sections(
    data: Mapping[Any, Any], prefix: str, base_dir: Path, problems: Problems, notes: Notes
) -> list[Raw]:
    raws: list[Raw] = []
    for key, items in data.items():
        where = f"{prefix}{key_text(key)}"
        if (kind := _SECTION_KEYS.get(key)) is not None:
            if items is None:
                continue
            section = "DatabaseList" if key == "DatabaseList" else kind  # places as the file has them
            if not isinstance(items, list):
                problems.add(f"{prefix}{section}", "must be a list")
                continue
            for i, item in enumerate(items):
                raws += _with_graph(Raw(kind, f"{prefix}{section}[{i}]", base_dir, item), problems, notes)
        elif (kind := _ONE_KEYS.get(key)) is not None:
            if not isinstance(items, Mapping):
                problems.add(where, f"must be one {SINGULAR[kind]} (a mapping), as get-{SINGULAR[kind]} prints it")
                continue
            raws += _with_graph(Raw(kind, where, base_dir, items), problems, notes)
        elif key == "JobUpdate":
            raws += _job_update(data, where, base_dir, problems)
        elif key == "JobName" and "JobUpdate" in data:
            continue
        elif key == "DatabaseInput":
            raws += _database_input(data, where, base_dir, problems)
        elif key == "Tags" and "DatabaseInput" in data:
            continue
        elif key == "CatalogId" and "DatabaseInput" in data:
            notes.add(where, "dropped; adhere keeps one catalog")
        elif isinstance(key, str) and key in glue.listing_keys():
            notes.add(where, "dropped; it belongs to Glue's listing, not to a definition")
        else:
            problems.add(where, f"unknown top-level key; use {_SHAPES}")
    return raws


def _job_update(data: Mapping[Any, Any], where: str, base_dir: Path, problems: Problems) -> list[Raw]:
    """UpdateJob's ``{JobName, JobUpdate}``: the job is the update with its name."""
    update, name = data["JobUpdate"], data.get("JobName")
    if not isinstance(update, Mapping):
        problems.add(where, "must be a mapping (Glue's JobUpdate)")
        return []
    if name is None:
        problems.add(join(where.removesuffix("JobUpdate"), ".JobName"), "is required with JobUpdate")
        return []
    return [Raw("Jobs", where, base_dir, {**update, "Name": name})]


def _database_input(data: Mapping[Any, Any], where: str, base_dir: Path, problems: Problems) -> list[Raw]:
    """CreateDatabase's ``{DatabaseInput, Tags}``: the database, with the request's tags."""
    database, tags = data["DatabaseInput"], data.get("Tags")
    if not isinstance(database, Mapping):
        problems.add(where, "must be a mapping (Glue's DatabaseInput)")
        return []
    return [Raw("Databases", where, base_dir, {**database, "Tags": tags} if tags is not None else database)]


def _bare_kind(data: Mapping[Any, Any]) -> str | None:
    """The kind of one bare Create* request, by its members, or None."""
    if "Command" in data or "command" in data:
        return "Jobs"
    if {"Type", "type", "Actions", "actions"} & set(data):
        return "Triggers"
    if "Targets" in data or "targets" in data:
        return "Crawlers"
    if "Name" in data or "name" in data:
        accepted = shape_of(models.Workflow).spellings | set(glue.members("CreateWorkflowRequest"))
        if all(k in accepted or k in glue.output_only("workflow") for k in data):
            return "Workflows"
    return None


def _with_graph(raw: Raw, problems: Problems, notes: Notes) -> list[Raw]:
    """The entry, refused if it is a CloudFormation resource; a workflow's ``Graph`` gives its
    triggers (then the workflow entry goes on without it)."""
    data = raw.data
    if isinstance(data, Mapping) and "Properties" in data and str(data.get("Type", "")).startswith("AWS::"):
        problems.add(raw.where, "a CloudFormation resource: give its Properties here, with the values "
                                "that Ref and Fn:: functions give written out")  # fmt: skip
        return []
    if raw.kind != "Workflows" or not isinstance(data, Mapping) or "Graph" not in data:
        return [raw]
    graph, here = data["Graph"], join(raw.where, ".Graph")
    raws = [Raw(raw.kind, raw.where, raw.base_dir, {k: v for k, v in data.items() if k != "Graph"})]
    nodes = graph.get("Nodes", []) if isinstance(graph, Mapping) else None
    if not isinstance(nodes, list):
        problems.add(here, "must be Glue's WorkflowGraph: a mapping with a list of Nodes")
        return raws
    name = data.get("Name")
    others = 0
    for i, node in enumerate(nodes):
        at = f"{here}.Nodes[{i}]"
        if not isinstance(node, Mapping) or node.get("Type") != "TRIGGER":
            others += 1
            continue
        details = node.get("TriggerDetails")
        trigger = details.get("Trigger") if isinstance(details, Mapping) else None
        if not isinstance(trigger, Mapping):
            problems.add(join(at, ".TriggerDetails"), "must hold the node's Trigger (as get-workflow prints it)")
            continue
        if isinstance(name, str) and "WorkflowName" not in trigger:
            trigger = {**trigger, "WorkflowName": name}
        raws.append(Raw("Triggers", f"{at}.TriggerDetails.Trigger", raw.base_dir, trigger))
    notes.add(
        here,
        f"read {len(raws) - 1} triggers from it; its {others} other nodes are dropped (a workflow's "
        "export holds no job or crawler definitions: they must be in these files or the store)",
    )
    return raws
