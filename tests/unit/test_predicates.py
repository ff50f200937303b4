"""Predicate evaluation over the latest node states of a run: tables, then hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator import predicates
from orchestrator.definitions import Condition, Predicate

A_OK = Condition(job_name="a", state="SUCCEEDED")
B_OK = Condition(job_name="b", state="SUCCEEDED")
B_FAILED = Condition(job_name="b", state="FAILED")
C_OK = Condition(crawler_name="c", crawl_state="SUCCEEDED")


@pytest.mark.parametrize(
    ("logical", "conditions", "latest", "fires"),
    [
        (None, [A_OK], {("job", "a"): "SUCCEEDED"}, True),
        (None, [A_OK], {("job", "a"): "FAILED"}, False),
        (None, [A_OK], {("job", "a"): None}, False),
        (None, [A_OK], {}, False),
        ("AND", [A_OK, B_OK], {("job", "a"): "SUCCEEDED", ("job", "b"): "SUCCEEDED"}, True),
        ("AND", [A_OK, B_OK], {("job", "a"): "SUCCEEDED", ("job", "b"): None}, False),
        ("AND", [A_OK, B_OK], {("job", "a"): "SUCCEEDED"}, False),
        ("AND", [A_OK, B_FAILED], {("job", "a"): "SUCCEEDED", ("job", "b"): "FAILED"}, True),
        ("ANY", [A_OK, B_OK], {("job", "a"): "FAILED", ("job", "b"): "SUCCEEDED"}, True),
        ("ANY", [A_OK, B_OK], {("job", "a"): "FAILED", ("job", "b"): "FAILED"}, False),
        ("ANY", [A_OK, B_OK], {}, False),
        ("ANY", [A_OK, C_OK], {("crawler", "c"): "SUCCEEDED"}, True),
        # a job and a crawler with the same name are different nodes
        (None, [C_OK], {("job", "c"): "SUCCEEDED"}, False),
        ("AND", [A_OK, C_OK], {("job", "a"): "SUCCEEDED", ("crawler", "c"): "SUCCEEDED"}, True),
        # the latest state counts: an earlier success does not, once a retry failed
        (None, [A_OK], {("job", "a"): "TIMEOUT"}, False),
        ("AND", [], {}, False),
        ("ANY", [], {}, False),
    ],
)
def test_evaluate_table(logical, conditions, latest, fires) -> None:
    assert predicates.evaluate(Predicate(logical=logical, conditions=conditions), latest) is fires


def test_evaluate_accepts_the_glue_dict() -> None:
    glue = {
        "Logical": "ANY",
        "Conditions": [
            {"LogicalOperator": "EQUALS", "JobName": "a", "State": "SUCCEEDED"},
            {"LogicalOperator": "EQUALS", "CrawlerName": "c", "CrawlState": "FAILED"},
        ],
    }
    assert predicates.evaluate(glue, {("crawler", "c"): "FAILED"})
    assert not predicates.evaluate(glue, {("crawler", "c"): "SUCCEEDED"})


def test_watched_nodes() -> None:
    pred = Predicate(logical="AND", conditions=[A_OK, B_FAILED, C_OK, B_OK])
    assert predicates.watched_nodes(pred) == {("job", "a"), ("job", "b"), ("crawler", "c")}


def test_condition_without_a_node_is_an_error() -> None:
    with pytest.raises(ValueError, match="neither"):
        predicates.condition_node(Condition(state="SUCCEEDED"))


JOB_STATES = ["SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT"]
CRAWL_STATES = ["SUCCEEDED", "FAILED", "CANCELLED"]
names = st.sampled_from(["a", "b", "c"])
conditions = st.one_of(
    st.builds(lambda n, s: Condition(job_name=n, state=s), names, st.sampled_from(JOB_STATES)),
    st.builds(
        lambda n, s: Condition(crawler_name=n, crawl_state=s), names, st.sampled_from(CRAWL_STATES)
    ),
)
latest_states = st.dictionaries(
    st.tuples(st.sampled_from(["job", "crawler"]), names),
    st.none() | st.sampled_from(sorted({*JOB_STATES, *CRAWL_STATES, "RUNNING", "ERROR"})),
)


def reference(logical: str | None, conds: list[Condition], latest: dict) -> bool:
    """Brute force: check each condition by hand and combine."""
    results = []
    for c in conds:
        if c.job_name is not None:
            results.append(latest.get(("job", c.job_name)) == c.state.value)
        else:
            results.append(latest.get(("crawler", c.crawler_name)) == c.crawl_state.value)
    if not results:
        return False
    return any(results) if logical == "ANY" else all(results)


@given(st.sampled_from(["AND", "ANY"]), st.lists(conditions, min_size=1, max_size=6), latest_states)
def test_evaluate_matches_brute_force(logical, conds, latest) -> None:
    pred = Predicate(logical=logical, conditions=conds)
    assert predicates.evaluate(pred, latest) is reference(logical, conds, latest)


@given(conditions, latest_states)
def test_single_condition_needs_no_logical(cond, latest) -> None:
    for logical in (None, "AND", "ANY"):
        pred = Predicate(logical=logical, conditions=[cond])
        assert predicates.evaluate(pred, latest) is reference(None, [cond], latest)


@given(st.lists(conditions, min_size=1, max_size=6), latest_states)
def test_and_implies_any(conds, latest) -> None:
    if predicates.evaluate(Predicate(logical="AND", conditions=conds), latest):
        assert predicates.evaluate(Predicate(logical="ANY", conditions=conds), latest)
