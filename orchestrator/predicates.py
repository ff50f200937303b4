"""Trigger predicates (Glue's Predicate/Condition): does a conditional trigger fire now?

Pure: the caller passes the latest terminal state of every node in the workflow run, since
Glue evaluates a conditional trigger over the *latest* state of each watched job or crawler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.definitions import Condition, Predicate

Node = tuple[str, str]  # ("job", name) or ("crawler", name)


def _predicate(predicate: Predicate | Mapping[str, Any]) -> Predicate:
    """Accept the model or its Glue dict (a trigger snapshot taken at run start)."""
    return predicate if isinstance(predicate, Predicate) else Predicate.model_validate(predicate)


def condition_node(condition: Condition) -> Node:
    """The node a condition watches; a job wins when both names are set (as in moto)."""
    if condition.job_name is not None:
        return ("job", condition.job_name)
    if condition.crawler_name is not None:
        return ("crawler", condition.crawler_name)
    raise ValueError("condition names neither a job nor a crawler")


def _wanted(condition: Condition) -> str | None:
    return condition.state if condition.job_name is not None else condition.crawl_state


def condition_met(condition: Condition, latest: Mapping[Node, str | None]) -> bool:
    """The watched node's latest state in this run equals the wanted one."""
    wanted = _wanted(condition)
    return wanted is not None and latest.get(condition_node(condition)) == wanted


def evaluate(predicate: Predicate | Mapping[str, Any], latest: Mapping[Node, str | None]) -> bool:
    """True when the predicate holds for the latest node states of one workflow run.

    AND: every condition is met; ANY: at least one. ``Logical`` left out counts as AND (Glue only
    allows that with a single condition). A predicate without conditions never holds.
    """
    pred = _predicate(predicate)
    if not pred.conditions:
        return False
    met = (condition_met(c, latest) for c in pred.conditions)
    return any(met) if pred.logical == "ANY" else all(met)


def watched_nodes(predicate: Predicate | Mapping[str, Any]) -> set[Node]:
    """The nodes whose completion can change the predicate's value."""
    return {condition_node(c) for c in _predicate(predicate).conditions}
