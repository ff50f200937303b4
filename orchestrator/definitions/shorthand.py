"""The DependsOn shorthand: jobs and crawlers that name what they wait for, compiled to Glue triggers.

The DependsOn shorthand on a job or crawler entry compiles to triggers:

- ``DependsOn: {a: SUCCEEDED, c: FAILED}`` (or a name, or a list of names meaning SUCCEEDED)
  on ``b`` becomes one CONDITIONAL trigger ``<workflow>.b.depends`` (``b.depends`` outside a
  workflow) with ``Logical`` = ``WaitFor`` (AND by default), StartOnCreation true, starting ``b``.
- Entries with ``Workflow: wf`` and no DependsOn are start nodes. Those not already started by
  an explicit trigger of ``wf`` go into one ON_DEMAND trigger ``wf.start``. If ``wf`` already has
  an explicit start trigger, such an entry is a problem: list it in that trigger's Actions, or
  give it DependsOn. (We never edit a trigger the user wrote.)
- A generated name that an explicit trigger already uses is a problem.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pydantic

from orchestrator.definitions import models
from orchestrator.definitions.problems import (
    CRAWL_STATES_TEXT,
    JOB_STATES_TEXT,
    At,
    Known,
    Problems,
    declared,
    join,
)
from orchestrator.definitions.text import MAX_NAME, quote, shown
from orchestrator.states import (
    CRAWL_CONDITION_STATES,
    JOB_CONDITION_STATES,
    CrawlState,
    JobRunState,
    TriggerType,
)


def node_of(item: models.Action | models.Condition) -> tuple[str, str] | None:
    if item.job_name:
        return ("job", item.job_name)
    return ("crawler", item.crawler_name) if item.crawler_name else None


def _action(kind: str, name: str) -> models.Action:
    return models.Action(job_name=name) if kind == "job" else models.Action(crawler_name=name)


def _condition(kind: str, name: str, state: str) -> models.Condition:
    if kind == "job":
        return models.Condition(job_name=name, state=JobRunState(state))
    return models.Condition(crawler_name=name, crawl_state=CrawlState(state))


def compile_triggers(
    shorthand: list[tuple[str, Any, str]],
    explicit: list[tuple[models.Trigger, At]],
    trigger_names: Mapping[str, str],
    known: Known,
    problems: Problems,
) -> list[tuple[models.Trigger, At]]:
    """Triggers for the DependsOn/Workflow shorthand (rules in the module docstring)."""
    out: list[tuple[models.Trigger, At]] = []
    start_nodes: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for kind, entry, where in shorthand:
        wf = entry.workflow
        if wf is not None and wf not in known.workflows:
            problems.add(join(where, ".Workflow"), f"unknown workflow {quote(wf)}")
            continue
        if not entry.depends_on:
            if wf is not None:
                start_nodes[wf].append((kind, entry.name, where))
            continue
        conditions, parts = [], {}
        for dep, state in entry.depends_on.items():
            place = join(where, f".DependsOn.{shown(dep)}")
            is_job, is_crawler = declared(known.jobs, dep), declared(known.crawlers, dep)
            if not (is_job or is_crawler):  # then the store's
                is_job, is_crawler = dep in known.jobs, dep in known.crawlers
            dep_kind = "job" if is_job else "crawler"
            allowed, text = (
                (JOB_CONDITION_STATES, JOB_STATES_TEXT)
                if is_job
                else (CRAWL_CONDITION_STATES, CRAWL_STATES_TEXT)
            )
            if is_job and is_crawler:
                problems.add(
                    place, f"{quote(dep)} names both a job and a crawler; use an explicit trigger"
                )
            elif not (is_job or is_crawler):
                problems.add(place, f"unknown job or crawler {quote(dep)}")
            elif (dep_kind, dep) == (kind, entry.name):
                problems.add(place, f"a {kind} cannot depend on itself")
            elif state.upper() not in allowed:
                problems.add(
                    place,
                    f"a trigger cannot wait for {dep_kind} state {quote(state)}; choose one of {text}",
                )
            else:
                parts[f"Predicate.Conditions[{len(conditions)}]"] = place
                conditions.append(_condition(dep_kind, dep, state.upper()))
        if len(conditions) != len(entry.depends_on):
            continue
        name = f"{wf}.{entry.name}.depends" if wf else f"{entry.name}.depends"
        trigger = _generate(
            name, join(where, ".DependsOn"), trigger_names, problems,
            workflow_name=wf, type=TriggerType.CONDITIONAL, start_on_creation=True,
            predicate=models.Predicate(logical=entry.wait_for, conditions=conditions),
            actions=[_action(kind, entry.name)],
            description=f"Generated from the DependsOn of {kind} '{entry.name}'.",
        )  # fmt: skip
        if trigger is not None:
            out.append((trigger, At(join(where, ".DependsOn"), parts)))

    explicit_by_workflow: dict[str | None, list[models.Trigger]] = defaultdict(list)
    for t, _ in explicit:
        explicit_by_workflow[t.workflow_name].append(t)
    for wf, nodes in start_nodes.items():
        in_wf = explicit_by_workflow[wf]
        started = {node_of(a) for t in in_wf for a in t.actions}
        nodes = [n for n in nodes if (n[0], n[1]) not in started]
        existing = [t.name for t in in_wf if t.type != TriggerType.CONDITIONAL]
        if not nodes:
            continue
        if existing or not declared(known.workflows, wf):
            for kind, name, where in nodes:
                problems.add(
                    join(where, ".Workflow"),
                    f"workflow {quote(wf)} already has start trigger {quote(existing[0])}; list {kind} "
                    f"{quote(name)} in its Actions or give it DependsOn" if existing else
                    f"workflow {quote(wf)} is in the store, not in these files, so its start trigger "
                    f"is not generated here; list {kind} {quote(name)} in the Actions of its start "
                    "trigger or give it DependsOn",
                )  # fmt: skip
            continue
        parts = {f"Actions[{i}]": join(where, ".Workflow") for i, (_, _, where) in enumerate(nodes)}
        trigger = _generate(
            f"{wf}.start", join(nodes[0][2], ".Workflow"), trigger_names, problems,
            workflow_name=wf, type=TriggerType.ON_DEMAND,
            actions=[_action(kind, name) for kind, name, _ in nodes],
            description=f"Generated: starts the entries of workflow '{wf}' that have no DependsOn.",
        )  # fmt: skip
        if trigger is not None:
            out.append((trigger, At(join(nodes[0][2], ".Workflow"), parts)))

    seen: dict[str, str] = {}
    unique = []
    for trigger, at in out:
        if (first := seen.setdefault(trigger.name, at.where)) != at.where:
            problems.add(
                at.where, f"generated trigger name {quote(trigger.name)} is also generated by {first}"
            )
        else:
            unique.append((trigger, at))
    return unique


def _generate(
    name: str, where: str, trigger_names: Mapping[str, str], problems: Problems, **fields: Any
) -> models.Trigger | None:
    if name in trigger_names:
        problems.add(
            where, f"generated trigger name {quote(name)} is already used by {trigger_names[name]}"
        )
        return None
    if len(name) > MAX_NAME:
        problems.add(
            where,
            f"generated trigger name {quote(name)} is longer than {MAX_NAME} characters; "
            "use shorter names or an explicit trigger",
        )
        return None
    try:  # its parts are valid models: validating them again is cheaper than model_construct
        return models.Trigger(name=name, **fields)
    except pydantic.ValidationError as exc:
        problems.add(where, f"cannot generate trigger {quote(name)}: {exc.errors()[0]['msg']}")
        return None
