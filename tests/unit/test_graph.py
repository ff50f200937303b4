"""Workflow graphs: cycles spelled out, start triggers, the run graph and its statistics."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator import graph
from orchestrator.definitions import Action, Condition, Predicate, Trigger


def start(name: str, *jobs: str, type: str = "ON_DEMAND") -> Trigger:
    return Trigger(name=name, type=type, actions=[Action(job_name=j) for j in jobs])


def after(name: str, watched: list[str], *jobs: str, crawler: str | None = None) -> Trigger:
    conds = [Condition(job_name=w, state="SUCCEEDED") for w in watched]
    if crawler:
        conds.append(Condition(crawler_name=crawler, crawl_state="SUCCEEDED"))
    actions = [Action(job_name=j) for j in jobs]
    return Trigger(
        name=name,
        type="CONDITIONAL",
        predicate=Predicate(logical="AND", conditions=conds),
        actions=actions,
    )


def test_workflow_graph_edges() -> None:
    g = graph.workflow_graph([start("s", "a"), after("t", ["a"], "b", crawler="c")])
    assert set(g.edges) == {
        (("trigger", "s"), ("job", "a")),
        (("job", "a"), ("trigger", "t")),
        (("crawler", "c"), ("trigger", "t")),
        (("trigger", "t"), ("job", "b")),
    }
    assert g.nodes[("trigger", "t")]["trigger"]["Type"] == "CONDITIONAL"


def test_cycle_is_spelled_out() -> None:
    triggers = [start("s", "a"), after("t1", ["a"], "b"), after("t2", ["b"], "a")]
    assert graph.find_cycles(graph.workflow_graph(triggers)) == [["a", "t1", "b", "t2", "a"]]


def test_cycle_starts_at_smallest_job_whatever_the_order() -> None:
    triggers = [after("t3", ["c"], "b"), after("t2", ["b"], "a"), after("t1", ["a"], "c")]
    assert graph.find_cycles(graph.workflow_graph(triggers)) == [["a", "t1", "c", "t3", "b", "t2", "a"]]


def test_two_separate_cycles() -> None:
    triggers = [after("t1", ["a"], "b"), after("t2", ["b"], "a"), after("t3", ["x"], "y"), after("t4", ["y"], "x")]
    assert graph.find_cycles(graph.workflow_graph(triggers)) == [
        ["a", "t1", "b", "t2", "a"],
        ["x", "t3", "y", "t4", "x"],
    ]


def test_no_cycle_in_a_diamond() -> None:
    triggers = [start("s", "a"), after("t1", ["a"], "b", "c"), after("t2", ["b", "c"], "d")]
    assert graph.find_cycles(graph.workflow_graph(triggers)) == []


def test_start_triggers() -> None:
    triggers = [
        start("s", "a"),
        after("t", ["a"], "b"),
        Trigger(name="sched", type="SCHEDULED", schedule="cron(0 * * * ? *)", actions=[Action(job_name="a")]),
        Trigger(name="ev", type="EVENT", actions=[Action(job_name="a")]),
    ]
    assert [t.name for t in graph.start_triggers(triggers)] == ["s", "sched", "ev"]


def test_downstream() -> None:
    g = [start("s", "a"), after("t1", ["a"], "b"), after("t2", ["b"], "c"), after("t3", ["x"], "y")]
    assert graph.downstream(g, [("job", "b")]) == {("job", "b"), ("trigger", "t2"), ("job", "c")}
    assert graph.downstream(g, [("job", "b"), ("job", "x")]) == {
        ("job", "b"), ("trigger", "t2"), ("job", "c"), ("job", "x"), ("trigger", "t3"), ("job", "y"),
    }
    # Through only some nodes: a is left as reached, but nothing beyond it.
    assert graph.downstream(g, [("trigger", "s")], through=set()) == {("trigger", "s"), ("job", "a")}
    with pytest.raises(ValueError, match="not in the workflow graph"):
        graph.downstream(g, [("job", "nope")])


def test_node_id_is_stable_and_glue_shaped() -> None:
    assert graph.node_id("job", "a") == graph.node_id("JOB", "a")
    assert graph.node_id("job", "a") != graph.node_id("crawler", "a")
    assert re.fullmatch(r"wnode_[0-9a-f]{64}", graph.node_id("trigger", "t"))


def glue_triggers() -> list[dict]:
    return [t.to_glue() for t in [start("s", "a"), after("t", ["a"], "b", crawler="c")]]


def test_run_graph_shape() -> None:
    runs = {"a": [{"Id": "jr_1", "Attempt": 0, "JobRunState": "FAILED"}, {"Id": "jr_2", "Attempt": 1, "JobRunState": "SUCCEEDED"}]}
    crawls = {"c": [{"State": "SUCCEEDED"}]}
    g = graph.run_graph(glue_triggers(), runs, crawls)
    by_name = {(n["Type"], n["Name"]): n for n in g["Nodes"]}
    assert set(by_name) == {("TRIGGER", "s"), ("JOB", "a"), ("TRIGGER", "t"), ("CRAWLER", "c"), ("JOB", "b")}
    assert [r["Id"] for r in by_name["JOB", "a"]["JobDetails"]["JobRuns"]] == ["jr_1", "jr_2"]
    assert "JobDetails" not in by_name["JOB", "b"]  # not run yet: no details, as Glue's null
    assert by_name["CRAWLER", "c"]["CrawlerDetails"] == {"Crawls": [{"State": "SUCCEEDED"}]}
    assert by_name["TRIGGER", "t"]["TriggerDetails"]["Trigger"]["Name"] == "t"
    for node in g["Nodes"]:
        assert node["UniqueId"] == graph.node_id(node["Type"], node["Name"])
    ids = {k: n["UniqueId"] for k, n in by_name.items()}
    assert sorted((e["SourceId"], e["DestinationId"]) for e in g["Edges"]) == sorted(
        [
            (ids["TRIGGER", "s"], ids["JOB", "a"]),
            (ids["JOB", "a"], ids["TRIGGER", "t"]),
            (ids["CRAWLER", "c"], ids["TRIGGER", "t"]),
            (ids["TRIGGER", "t"], ids["JOB", "b"]),
        ]
    )


def test_run_graph_ids_do_not_depend_on_the_run() -> None:
    assert graph.run_graph(glue_triggers(), {}) == graph.run_graph(glue_triggers(), {})
    first = graph.run_graph(glue_triggers(), {"a": [{"Id": "jr_1"}]})
    second = graph.run_graph(glue_triggers(), {"a": [{"Id": "jr_9"}]})
    assert [n["UniqueId"] for n in first["Nodes"]] == [n["UniqueId"] for n in second["Nodes"]]


def test_a_job_in_several_triggers_is_one_node() -> None:
    triggers = [start("s", "a", "b"), after("t", ["a", "b"], "c"), after("u", ["a"], "d")]
    g = graph.run_graph([t.to_glue() for t in triggers], {})
    assert sum(1 for n in g["Nodes"] if n["Name"] == "a") == 1


_names = st.sampled_from(["a", "b", "c"])
_refs = st.one_of(
    st.builds(lambda n: {"JobName": n}, _names),
    st.builds(lambda n: {"CrawlerName": n}, _names),
    st.builds(lambda j, c: {"JobName": j, "CrawlerName": c}, _names, _names),
    st.just({}),
)
_glue_triggers = st.lists(
    st.fixed_dictionaries(
        {"Name": st.sampled_from(["t1", "t2", "t3"]), "Actions": st.lists(_refs, max_size=3)},
        optional={"Predicate": st.fixed_dictionaries({"Conditions": st.lists(_refs, max_size=3)})},
    ),
    max_size=5,
)


@given(_glue_triggers)
def test_run_graph_follows_networkx_order(triggers: list[dict]) -> None:
    """run_graph builds its graph without networkx, in the order networkx would list it."""
    g = graph.workflow_graph(triggers)
    drawn = graph.run_graph(triggers, {})
    assert [(n["Type"].lower(), n["Name"]) for n in drawn["Nodes"]] == list(g.nodes)
    assert [n["TriggerDetails"]["Trigger"] for n in drawn["Nodes"] if n["Type"] == "TRIGGER"] == [
        dict(g.nodes[n]["trigger"]) for n in g.nodes if n[0] == "trigger"
    ]
    assert [(e["SourceId"], e["DestinationId"]) for e in drawn["Edges"]] == [
        (graph.node_id(*u), graph.node_id(*v)) for u, v in g.edges
    ]


def test_statistics_count_each_node_by_its_latest_run() -> None:
    triggers = [start("s", "a", "b"), after("t", ["a"], "c", "d", "e", "f", "g", crawler="cr")]
    stats = graph.statistics(
        triggers,
        {"a": "SUCCEEDED", "b": "FAILED", "c": "TIMEOUT", "d": "RUNNING", "e": "WAITING", "f": "ERROR", "g": "STOPPED"},
        {"cr": "SUCCEEDED"},
    )
    assert stats == {
        "TotalActions": 8,
        "TimeoutActions": 1,
        "FailedActions": 1,
        "StoppedActions": 1,
        "SucceededActions": 2,
        "RunningActions": 1,
        "ErroredActions": 1,
        "WaitingActions": 1,
    }
    assert tuple(stats) == graph.STATISTICS_FIELDS


def test_statistics_count_nodes_that_never_ran() -> None:
    stats = graph.statistics(glue_triggers(), {"a": "STARTING"})
    assert stats["TotalActions"] == 3
    assert stats["RunningActions"] == 1
    assert sum(v for k, v in stats.items() if k != "TotalActions") == 1


def test_statistics_field_names_are_botocore_s() -> None:
    import gzip
    import json
    from pathlib import Path

    import botocore

    model = Path(botocore.__file__).parent / "data/glue/2017-03-31/service-2.json.gz"
    shapes = json.loads(gzip.decompress(model.read_bytes()))["shapes"]
    assert set(shapes["WorkflowRunStatistics"]["members"]) == set(graph.STATISTICS_FIELDS)
