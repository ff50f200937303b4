"""Definitions of jobs, crawlers, triggers, workflows and catalog databases (Glue's Create* shapes)
and their loading.

    durations   parse_duration, to_minutes (pure)
    arguments   effective_arguments: Glue's argument merge (pure)
    models      the pydantic models (Job, Crawler, Trigger, Workflow, ..., Definitions)
    file        the file-level shape (JobEntry, CrawlerEntry, DefinitionFile) and json_schema()
    text        Glue's NameString rule, storable strings, short quotes for messages
    problems    Problems, Notes, At, Known: every problem and note at its place, names known
    glue        Glue's service model (botocore's): request members, output-only members, types
    reading     YAML/JSON text into plain data (nesting, aliases and parser errors as problems)
    structure   the plain data as JSON the store can keep (depth, cycles, NUL, surrogates)
    entries     what a file holds (sections, Get* outputs, one Create* request) as entries
    members     an entry's members sorted: Glue's kept, output-only dropped, unknown refused
    validation  one entry against its model: pydantic errors as problems, what can be salvaged
    shorthand   the DependsOn/Workflow shorthand compiled to triggers
    checks      trigger, predicate and workflow checks
    loading     load_files, load_mapping, load_request: the whole definition validated

This package exports only the leaf modules' names, so that the rest of the code can say
``definitions.Trigger``; loading is ``orchestrator.definitions.loading``. The models' names are
loaded on first use: the loop and job scripts need the pure functions, not pydantic.
"""

from __future__ import annotations

from typing import Any

from orchestrator.definitions.arguments import effective_arguments
from orchestrator.definitions.durations import parse_duration, to_minutes

_MODELS = (
    "Action", "Condition", "Crawler", "Database", "Definitions", "EventBatchingCondition", "ExecutionProperty", "Job",
    "JobCommand", "NotificationProperty", "Predicate", "RetryPolicy", "Trigger", "Workflow",
)  # fmt: skip
__all__ = [*_MODELS, "effective_arguments", "parse_duration", "to_minutes"]


def __getattr__(name: str) -> Any:
    if name in _MODELS:
        from orchestrator.definitions import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
