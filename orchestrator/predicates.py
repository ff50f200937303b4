"""Trigger predicates (Glue's Predicate/Condition): does a conditional trigger fire now?

Pure: the caller passes the latest terminal state of every node in the workflow run, since
Glue evaluates a conditional trigger over the *latest* state of each watched job or crawler.
A predicate is taken as its model or as its Glue dict (a run's trigger snapshot) and read into
plain values once (``compile``), so the loop evaluates triggers without loading pydantic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.definitions import Condition, Predicate

Node = tuple[str, str]  # ("job", name) or ("crawler", name)


@dataclasses.dataclass(frozen=True)
class Compiled:
    """A predicate as plain values: ``conditions`` are (node, wanted state) pairs."""

    logical: str  # "AND" or "ANY"; Glue's missing Logical (one condition) counts as AND
    conditions: tuple[tuple[Node, str | None], ...]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def condition_node(condition: Condition | Mapping[str, Any]) -> Node:
    """The node a condition watches; a job wins when both names are set (as in moto)."""
    if isinstance(condition, Mapping):
        job, crawler = condition.get("JobName"), condition.get("CrawlerName")
    else:
        job, crawler = condition.job_name, condition.crawler_name
    if job is not None:
        return ("job", job)
    if crawler is not None:
        return ("crawler", crawler)
    raise ValueError("condition names neither a job nor a crawler")


def _wanted(condition: Condition | Mapping[str, Any], node: Node) -> str | None:
    if isinstance(condition, Mapping):
        return _text(condition.get("State" if node[0] == "job" else "CrawlState"))
    return _text(condition.state if node[0] == "job" else condition.crawl_state)


def compile(predicate: Predicate | Mapping[str, Any] | Compiled) -> Compiled:
    if isinstance(predicate, Compiled):
        return predicate
    if isinstance(predicate, Mapping):
        logical, conditions = predicate.get("Logical"), predicate.get("Conditions") or []
    else:
        logical, conditions = predicate.logical, predicate.conditions
    pairs = []
    for condition in conditions:
        node = condition_node(condition)
        pairs.append((node, _wanted(condition, node)))
    return Compiled("ANY" if logical == "ANY" else "AND", tuple(pairs))


def condition_met(condition: Condition | Mapping[str, Any], latest: Mapping[Node, str | None]) -> bool:
    """The watched node's latest state in this run equals the wanted one."""
    node = condition_node(condition)
    wanted = _wanted(condition, node)
    return wanted is not None and latest.get(node) == wanted


def evaluate(predicate: Predicate | Mapping[str, Any] | Compiled, latest: Mapping[Node, str | None]) -> bool:
    """True when the predicate holds for the latest node states of one workflow run.

    AND: every condition is met; ANY: at least one. ``Logical`` left out counts as AND (Glue only
    allows that with a single condition). A predicate without conditions never holds.
    """
    pred = compile(predicate)
    if not pred.conditions:
        return False
    met = (wanted is not None and latest.get(node) == wanted for node, wanted in pred.conditions)
    return any(met) if pred.logical == "ANY" else all(met)


def watched_nodes(predicate: Predicate | Mapping[str, Any] | Compiled) -> set[Node]:
    """The nodes whose completion can change the predicate's value."""
    return {node for node, _ in compile(predicate).conditions}
