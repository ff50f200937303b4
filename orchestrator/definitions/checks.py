"""Whole-definition checks on triggers and workflows: what Glue's CreateTrigger and the run graph need.

Each check sees valid models (explicit and generated triggers alike) and reports at the place
``At`` gives; names that do not resolve are reported once, by the reference check.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from orchestrator import graph, schedules, settings
from orchestrator.definitions import models
from orchestrator.definitions.problems import (
    CRAWL_STATES_TEXT,
    JOB_STATES_TEXT,
    At,
    Known,
    Problems,
)
from orchestrator.definitions.shorthand import node_of
from orchestrator.definitions.text import clip, listing, quote, shown
from orchestrator.states import CRAWL_CONDITION_STATES, JOB_CONDITION_STATES, TriggerType

_START_TYPES = "ON_DEMAND, SCHEDULED or EVENT"


def _schedule_problem(schedule: str) -> str | None:
    """What Glue would refuse in a trigger's schedule, said at its Schedule (so without the
    leading schedule text); None if it is fine. (A crawler's: crawler_rules.check_schedule.)"""
    return schedules.problem(schedule, min_interval=settings.min_schedule_interval())


def check_trigger(t: models.Trigger, at: At, known: Known, problems: Problems) -> None:
    add = problems.add
    if t.workflow_name and t.workflow_name not in known.workflows:
        add(at("WorkflowName"), f"unknown workflow {quote(t.workflow_name)}")
    if t.type == TriggerType.CONDITIONAL and t.predicate is None:
        add(at("Predicate"), "is required for a CONDITIONAL trigger")
    if t.type == TriggerType.SCHEDULED:
        if not t.schedule:
            add(at("Schedule"), "is required for a SCHEDULED trigger")
        elif problem := _schedule_problem(t.schedule):
            add(at("Schedule"), problem)
    if t.type == TriggerType.ON_DEMAND and t.start_on_creation:
        add(at("StartOnCreation"), "an ON_DEMAND trigger cannot start on creation")
    if t.type == TriggerType.EVENT and not t.workflow_name:
        add(at("WorkflowName"), "an EVENT trigger must belong to a workflow")
    if t.type != TriggerType.EVENT:
        # (Glue's exports carry EventBatchingCondition on every trigger type: it is not refused.)
        for member, given in (("EventPattern", t.event_pattern is not None), ("WaitForRunSlot", t.wait_for_run_slot)):
            if given:
                add(at(member), f"only EVENT triggers take {member}; this one is {t.type.value}")

    if not t.actions:
        add(at("Actions"), "must list at least one action")
    if len(t.actions) > 50:
        add(at("Actions"), f"a trigger can have at most 50 actions; this one has {len(t.actions)}")
    if (n := sum(1 for a in t.actions if a.crawler_name and not a.job_name)) > 2:
        add(at("Actions"), f"a trigger can start at most 2 crawlers; this one starts {n}")
    for i, action in enumerate(t.actions):
        if action.job_name and action.crawler_name:
            add(at(f"Actions[{i}]"), "give JobName or CrawlerName, not both")
        elif not (action.job_name or action.crawler_name):
            add(at(f"Actions[{i}]"), "JobName or CrawlerName is required")
        elif action.job_name and action.job_name not in known.jobs:
            add(at(f"Actions[{i}].JobName"), f"unknown job {quote(action.job_name)}")
        elif action.crawler_name and action.crawler_name not in known.crawlers:
            add(at(f"Actions[{i}].CrawlerName"), f"unknown crawler {quote(action.crawler_name)}")
    if t.predicate is not None:
        _check_predicate(t, t.predicate, at, known, problems)


def _check_predicate(
    t: models.Trigger, pred: models.Predicate, at: At, known: Known, problems: Problems
) -> None:
    add = problems.add
    started = {node_of(a) for a in t.actions}
    if not pred.conditions:
        add(at("Predicate.Conditions"), "must list at least one condition")
    if len(pred.conditions) > 1 and pred.logical is None:
        add(at("Predicate.Logical"), "is required with several conditions: AND or ANY")
    if len(pred.conditions) > 500:
        add(at("Predicate.Conditions"), "a predicate can have at most 500 conditions")
    for i, c in enumerate(pred.conditions):
        here = f"Predicate.Conditions[{i}]"
        if c.job_name and c.crawler_name:
            add(at(here), "give JobName or CrawlerName, not both")
            continue
        if not (c.job_name or c.crawler_name):
            add(at(here), "JobName or CrawlerName is required")
            continue
        is_job = bool(c.job_name)
        kind, name = ("job", c.job_name) if is_job else ("crawler", c.crawler_name)
        name_key, state_key, other_key = (
            ("JobName", "State", "CrawlState") if is_job else ("CrawlerName", "CrawlState", "State")
        )
        state = c.state if is_job else c.crawl_state
        allowed, text = (
            (JOB_CONDITION_STATES, JOB_STATES_TEXT)
            if is_job
            else (CRAWL_CONDITION_STATES, CRAWL_STATES_TEXT)
        )
        if name not in (known.jobs if is_job else known.crawlers):
            add(at(f"{here}.{name_key}"), f"unknown {kind} {quote(name)}")
        if (c.crawl_state if is_job else c.state) is not None:
            add(at(f"{here}.{other_key}"), f"does not apply to a {kind} condition; use {state_key}")
        if state is None:
            add(at(f"{here}.{state_key}"), f"is required; choose one of {text}")
        elif state not in allowed:
            add(
                at(f"{here}.{state_key}"),
                f"a trigger cannot wait for {state}; choose one of {text}",
            )
        if t.type == TriggerType.CONDITIONAL and (kind, name) in started:
            add(
                at(f"{here}.{name_key}"),
                f"this trigger also starts {kind} {quote(name)}; a conditional trigger cannot watch and start the same {kind}",
            )


def check_workflows(
    triggers: list[tuple[models.Trigger, At]],
    workflow_places: Mapping[str, str],
    known: Known,
    broken: set[str | None],
    problems: Problems,
) -> None:
    """One start trigger per workflow, conditions that can be met, no cycles.

    The first two are skipped for a workflow with a trigger or action already reported as
    unreadable: they would only echo that problem; and, but for "only one", for a workflow of
    the store, whose other triggers the files do not show.
    """
    groups: dict[str | None, list[tuple[models.Trigger, At]]] = defaultdict(list)
    for trigger, at in triggers:
        groups[trigger.workflow_name].append((trigger, at))
    for wf, items in groups.items():
        if wf is not None and wf not in known.workflows:
            continue
        by_name = {t.name: at for t, at in items}
        if wf is not None and wf not in workflow_places:  # in the store: its triggers are not all here
            _one_start(wf, items, problems)
        elif wf is not None:
            starts = _one_start(wf, items, problems)
            if wf not in broken and not starts:
                problems.add(workflow_places[wf], f"has no start trigger ({_START_TYPES})")
            if wf not in broken and all(_readable(a, known) for t, _ in items for a in t.actions):
                _check_reachable(wf, items, known, problems)
        if _acyclic([t for t, _ in items]):
            continue
        for cycle in graph.find_cycles(graph.workflow_graph([_edges(t) for t, _ in items])):
            place = workflow_places[wf] if wf in workflow_places else by_name[cycle[1]]()
            problems.add(place, f"cycle: {_cycle_text(cycle)}")


def _one_start(
    wf: str, items: list[tuple[models.Trigger, At]], problems: Problems
) -> list[tuple[models.Trigger, At]]:
    """A workflow's start triggers; a problem at each after the first."""
    starts = [(t, at) for t, at in items if t.type != TriggerType.CONDITIONAL]
    if len(starts) > 1:
        listed = listing([t.name for t, _ in starts])
        for _, at in starts[1:]:
            problems.add(
                at(),
                f"workflow {quote(wf)} can have only one start trigger ({_START_TYPES}); it has {listed}",
            )
    return starts


def _acyclic(triggers: list[models.Trigger]) -> bool:
    """Kahn's algorithm over the same edges as ``graph.workflow_graph``: the common answer
    (no cycle) without building a networkx graph; find_cycles spells out the others."""
    successors: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    incoming: dict[tuple[str, str], int] = defaultdict(int)
    for t in triggers:
        me = ("trigger", t.name)
        incoming[me] += 0
        for condition in t.predicate.conditions if t.predicate is not None else ():
            if (watched := node_of(condition)) is not None:
                incoming[watched] += 0
                successors[watched].append(me)
                incoming[me] += 1
        for action in t.actions:
            if (started := node_of(action)) is not None:
                successors[me].append(started)
                incoming[started] += 1
    ready = [node for node, count in incoming.items() if count == 0]
    done = 0
    while ready:
        node = ready.pop()
        done += 1
        for after in successors.get(node, ()):
            incoming[after] -= 1
            if incoming[after] == 0:
                ready.append(after)
    return done == len(incoming)


def _cycle_text(cycle: list[str]) -> str:
    """``a -> t1 -> b -> t2 -> a``; a long cycle shows its start and its end."""
    names = [clip(n) for n in cycle]
    if len(names) > 9:
        names = [*names[:4], f"… ({len(cycle) - 8} more) …", *names[-4:]]
    return " -> ".join(names)


def _edges(t: models.Trigger) -> dict[str, Any]:
    """What the graph reads of a trigger, without dumping the model (``to_glue`` costs 10x more)."""
    conditions = t.predicate.conditions if t.predicate is not None else []
    return {
        "Name": t.name,
        "Predicate": {"Conditions": [{"JobName": c.job_name, "CrawlerName": c.crawler_name} for c in conditions]},
        "Actions": [{"JobName": a.job_name, "CrawlerName": a.crawler_name} for a in t.actions],
    }


def _readable(action: models.Action, known: Known) -> bool:
    if action.job_name and action.crawler_name:
        return False
    if action.job_name:
        return action.job_name in known.jobs
    return action.crawler_name in known.crawlers


def _check_reachable(
    wf: str, items: list[tuple[models.Trigger, At]], known: Known, problems: Problems
) -> None:
    """Glue only counts runs started inside the workflow run, so a watched node must be started there."""
    started = {node_of(a) for t, _ in items for a in t.actions}
    for t, at in items:
        if t.type != TriggerType.CONDITIONAL or t.predicate is None:
            continue
        for i, c in enumerate(t.predicate.conditions):
            node = node_of(c)
            if node is None or (c.job_name and c.crawler_name) or node in started:
                continue
            kind, name = node
            if name not in (known.jobs if kind == "job" else known.crawlers):
                continue
            key = "JobName" if kind == "job" else "CrawlerName"
            problems.add(
                at(f"Predicate.Conditions[{i}].{key}"),
                f"{kind} {quote(name)} is not started by any trigger of workflow {quote(wf)}, so this "
                f"condition can never be met (give it Workflow: {shown(wf)}?)",
            )
