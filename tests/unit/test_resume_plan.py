"""Resuming a workflow run, the pure part (orchestrator/resume.py): which nodes run again, which
start at once, which keep their final state; and how node references resolve.

Tables over one graph pin each mode down by hand; hypothesis then checks ``plan`` against a
brute-force reference on random DAG-shaped trigger graphs, and replays both runs with a small
model of the scheduler (triggers fire at most once per run, on the latest node states, starting
only the nodes that may run again) to check that a resumed run neither starts a node twice nor
forgets a node it was asked to re-run.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

from orchestrator import errors, graph, resume

Node = tuple[str, str]
FAILED = ("FAILED", "TIMEOUT", "STOPPED", "ERROR")


def _ref(node: str) -> Node:
    kind, _, name = node.rpartition(":")
    return (kind or "job", name)


def _item(node: str, state: str | None = None) -> dict[str, Any]:
    kind, name = _ref(node)
    if kind == "job":
        return {"JobName": name, **({"State": state, "LogicalOperator": "EQUALS"} if state else {})}
    return {"CrawlerName": name, **({"CrawlState": state, "LogicalOperator": "EQUALS"} if state else {})}


def start(name: str, *nodes: str) -> dict[str, Any]:
    return {"Name": name, "Type": "ON_DEMAND", "Actions": [_item(n) for n in nodes]}


def when(name: str, logical: str, conditions: Mapping[str, str], *nodes: str) -> dict[str, Any]:
    return {
        "Name": name, "Type": "CONDITIONAL", "State": "ACTIVATED",
        "Predicate": {"Logical": logical, "Conditions": [_item(n, s) for n, s in conditions.items()]},
        "Actions": [_item(n) for n in nodes],
    }  # fmt: skip


def finals(**states: str) -> dict[Node, resume.Final]:
    """Final states of an original run ``wr_0``, one run each (``crawler__x`` names a crawler)."""
    out = {}
    for name, state in states.items():
        node = ("crawler", name[len("crawler__") :]) if name.startswith("crawler__") else ("job", name)
        out[node] = resume.Final(state, "wr_0", (f"run_{node[1]}",))
    return out


def jobs(*names: str) -> set[Node]:
    return {_ref(n) for n in names}


# --- one graph, by hand ------------------------------------------------------------------------

#   go -> a
#   a SUCCEEDED              -> b, c          (fan)
#   b AND c SUCCEEDED        -> d             (join)
#   d SUCCEEDED              -> e, crawler:f  (tail)
#   b ANY c FAILED           -> alert         (alarm: the failing branch)
#   g is started by go too and is upstream of nothing
DIAMOND = [
    start("go", "a", "g"),
    when("fan", "AND", {"a": "SUCCEEDED"}, "b", "c"),
    when("join", "AND", {"b": "SUCCEEDED", "c": "SUCCEEDED"}, "d"),
    when("tail", "AND", {"d": "SUCCEEDED"}, "e", "crawler:f"),
    when("alarm", "ANY", {"b": "FAILED", "c": "FAILED"}, "alert"),
]
# c failed: d, e, f never ran; the alarm fired.
C_FAILED = finals(a="SUCCEEDED", g="SUCCEEDED", b="SUCCEEDED", c="FAILED", alert="SUCCEEDED")
# Everything ran; e failed, crawler f was cancelled, g timed out.
TAIL_FAILED = finals(a="SUCCEEDED", g="TIMEOUT", b="SUCCEEDED", c="SUCCEEDED", d="SUCCEEDED", e="FAILED",
                     crawler__f="CANCELLED")  # fmt: skip
ALL_OK = finals(a="SUCCEEDED", g="SUCCEEDED", b="SUCCEEDED", c="SUCCEEDED", d="SUCCEEDED", e="SUCCEEDED",
                crawler__f="SUCCEEDED")  # fmt: skip


@pytest.mark.parametrize(
    ("done", "chosen", "options", "rerun", "started"),
    [
        # Glue: the chosen nodes and everything downstream, whatever their state.
        pytest.param(C_FAILED, ["c"], {}, ["c", "d", "e", "crawler:f", "alert"], ["c"], id="glue-failed-node"),
        pytest.param(ALL_OK, ["a"], {}, ["a", "b", "c", "d", "e", "crawler:f", "alert"], ["a"], id="glue-root"),
        pytest.param(ALL_OK, ["d"], {}, ["d", "e", "crawler:f"], ["d"], id="glue-succeeded-node"),
        pytest.param(ALL_OK, ["crawler:f"], {}, ["crawler:f"], ["crawler:f"], id="glue-crawler"),
        # A chosen node downstream of another chosen one is redundant: it runs when its trigger fires.
        pytest.param(ALL_OK, ["d", "a"], {}, ["a", "b", "c", "d", "e", "crawler:f", "alert"], ["a"],
                     id="glue-redundant"),
        pytest.param(ALL_OK, ["e", "b", "c"], {}, ["b", "c", "d", "e", "crawler:f", "alert"], ["b", "c"],
                     id="glue-two-starts-upstream-first"),
        pytest.param(ALL_OK, ["e", "g"], {}, ["g", "e"], ["g", "e"], id="glue-unrelated"),
        # failed: the failed nodes, and what never ran because of them; nothing that SUCCEEDED.
        pytest.param(C_FAILED, [], {"failed": True}, ["c", "d", "e", "crawler:f"], ["c"], id="failed-middle"),
        pytest.param(TAIL_FAILED, [], {"failed": True}, ["g", "e", "crawler:f"], ["g", "e", "crawler:f"],
                     id="failed-every-failed-state"),
        pytest.param(ALL_OK, [], {"failed": True}, [], [], id="failed-nothing-failed"),
        pytest.param(C_FAILED, ["b"], {"failed": True}, ["b", "c", "d", "e", "crawler:f"], ["b", "c"],
                     id="failed-and-a-chosen-succeeded-node"),
        # only: the chosen nodes alone.
        pytest.param(C_FAILED, ["c"], {"only": True}, ["c"], ["c"], id="only"),
        pytest.param(ALL_OK, ["a", "d"], {"only": True}, ["a", "d"], ["a", "d"], id="only-two-apart"),
        pytest.param(ALL_OK, ["d", "e"], {"only": True}, ["d", "e"], ["d"], id="only-next-to-each-other"),
    ],
)
def test_plan(done: Mapping[Node, resume.Final], chosen: list[str], options: dict[str, bool], rerun: list[str],
              started: list[str]) -> None:
    p = resume.plan(DIAMOND, done, [_ref(n) for n in chosen], **options)
    assert p.rerun == jobs(*rerun)
    assert list(p.start) == [_ref(n) for n in started]
    assert p.skip == ()
    assert p.carried == {n: f for n, f in done.items() if n not in p.rerun}
    assert p.node_ids == [graph.node_id(*_ref(n)) for n in started]


def test_only_two_chosen_apart_are_both_started() -> None:
    """With ``only``, a chosen node reachable from another only through nodes that do not run
    again would never be started by a trigger: it is started directly."""
    p = resume.plan(DIAMOND, ALL_OK, [("job", "a"), ("job", "d")], only=True)
    assert set(p.start) == {("job", "a"), ("job", "d")}


@pytest.mark.parametrize(
    ("done", "chosen", "options", "skipped", "rerun", "started"),
    [
        # The operator repaired c by hand: what is downstream of it runs, c does not.
        pytest.param(C_FAILED, [], {}, ["c"], ["d", "e", "crawler:f", "alert"], [], id="skip"),
        pytest.param(C_FAILED, [], {"failed": True}, ["c"], ["d", "e", "crawler:f"], [], id="skip-with-failed"),
        pytest.param(TAIL_FAILED, [], {"failed": True}, ["e"], ["g", "crawler:f"], ["g", "crawler:f"],
                     id="skip-one-of-the-failed"),
        pytest.param(C_FAILED, ["g"], {}, ["c"], ["g", "d", "e", "crawler:f", "alert"], ["g"], id="skip-and-choose"),
        pytest.param(C_FAILED, [], {"only": True}, ["c"], [], [], id="skip-only"),
        # A chosen node downstream of a skipped one runs when the skip fires its trigger: not twice.
        pytest.param(ALL_OK, ["e"], {}, ["d"], ["e", "crawler:f"], [], id="chosen-below-skipped"),
    ],
)
def test_plan_skip(done: Mapping[Node, resume.Final], chosen: list[str], options: dict[str, bool],
                   skipped: list[str], rerun: list[str], started: list[str]) -> None:
    p = resume.plan(DIAMOND, done, [_ref(n) for n in chosen], skip=[_ref(n) for n in skipped], **options)
    assert p.rerun == jobs(*rerun)
    assert list(p.start) == [_ref(n) for n in started]
    assert p.skip == tuple(_ref(n) for n in skipped)
    assert p.carried == {n: f for n, f in done.items() if n not in p.rerun and n not in p.skip}


def test_failed_node_behind_a_carried_node_is_started() -> None:
    """x failed; its handler h ran (SUCCEEDED, carried) and started y, which failed. Re-running
    x cannot start y (h does not run again), so y starts directly."""
    triggers = [start("go", "x"), when("on-x", "ANY", {"x": "FAILED"}, "h"), when("on-h", "AND", {"h": "SUCCEEDED"}, "y")]
    p = resume.plan(triggers, finals(x="FAILED", h="SUCCEEDED", y="FAILED"), failed=True)
    assert p.rerun == jobs("x", "y")
    assert p.start == (("job", "x"), ("job", "y"))


def test_carried_finals_keep_their_source_and_runs() -> None:
    done = {("job", "a"): resume.Final("SUCCEEDED", "wr_a", ("jr_1", "jr_2")),
            ("job", "b"): resume.Final("SUCCEEDED", "wr_b", (), skipped=True, note="by hand"),
            ("job", "c"): resume.Final("FAILED", "wr_c", ("jr_3",))}  # fmt: skip
    p = resume.plan(DIAMOND, done, failed=True)
    assert p.carried == {("job", "a"): done[("job", "a")], ("job", "b"): done[("job", "b")]}


@pytest.mark.parametrize(
    ("chosen", "skipped", "message"),
    [
        (["d"], [], "job d did not run in this workflow run"),
        (["crawler:f"], [], "crawler f did not run"),
        ([], ["e"], "job e did not run"),
        (["c"], ["c"], "c: a node cannot be both re-run and skipped"),
    ],
)
def test_plan_refuses(chosen: list[str], skipped: list[str], message: str) -> None:
    with pytest.raises(errors.InvalidInputException, match=message):
        resume.plan(DIAMOND, C_FAILED, [_ref(n) for n in chosen], skip=[_ref(n) for n in skipped])


def test_failed_states() -> None:
    assert set(resume.FAILED_STATES) == {"FAILED", "TIMEOUT", "STOPPED", "ERROR", "CANCELLED"}
    assert "SUCCEEDED" not in resume.FAILED_STATES and "EXPIRED" not in resume.FAILED_STATES


# --- resolve -----------------------------------------------------------------------------------

# "same" is both a job and a crawler; "go" a trigger; "only_trigger_named" nothing else.
NAMES = [
    start("go", "a", "crawler:same", "crawler:k"),
    when("t", "AND", {"a": "SUCCEEDED"}, "same"),
]


@pytest.mark.parametrize(
    ("refs", "found"),
    [
        (["a"], [("job", "a")]),
        (["job:a"], [("job", "a")]),
        (["k"], [("crawler", "k")]),
        (["crawler:k"], [("crawler", "k")]),
        (["job:same", "crawler:same"], [("job", "same"), ("crawler", "same")]),
        ([graph.node_id("job", "same")], [("job", "same")]),
        ([graph.node_id("crawler", "same")], [("crawler", "same")]),
        (["a", "job:a", graph.node_id("job", "a")], [("job", "a")]),  # the same node once, first place kept
        (["k", "a"], [("crawler", "k"), ("job", "a")]),
        ([], []),
    ],
)
def test_resolve(refs: list[str], found: list[Node]) -> None:
    assert resume.resolve(NAMES, refs) == found


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("same", "'same' names a job and a crawler: say job:same or crawler:same"),
        (graph.node_id("trigger", "go"), "is trigger go: only job and crawler nodes can be resumed"),
        ("go", "'go' is a trigger: only job and crawler nodes can be resumed"),
        ("trigger:go", "'trigger:go' is a trigger: only job and crawler nodes can be resumed"),
        ("nope", "node 'nope' is not a job or crawler of this workflow run's graph"),
        ("job:k", "node 'job:k' is not a job or crawler"),  # k is a crawler
        ("crawler:a", "node 'crawler:a' is not a job or crawler"),
        (graph.node_id("job", "nope"), "is not a job or crawler"),
        ("wnode_" + "0" * 64, "is not a job or crawler"),
    ],
)
def test_resolve_refuses(ref: str, message: str) -> None:
    with pytest.raises(errors.InvalidInputException, match=re.escape(message)):
        resume.resolve(NAMES, ["a", ref])


# --- random graphs against a reference ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Flow:
    """A DAG-shaped workflow: nodes in topological order; conditional triggers watch earlier
    nodes and start later ones; the start trigger starts some of the first ones."""

    nodes: tuple[Node, ...]
    triggers: tuple[dict[str, Any], ...]

    def conditional(self) -> list[dict[str, Any]]:
        return [t for t in self.triggers if t["Type"] == "CONDITIONAL"]


def _node_of(item: Mapping[str, Any]) -> Node:
    return ("job", item["JobName"]) if "JobName" in item else ("crawler", item["CrawlerName"])


def _wanted(item: Mapping[str, Any]) -> str:
    return item.get("State") or item["CrawlState"]


@st.composite
def flows(draw: st.DrawFn, *, succeeded_only: bool = False, no_orphans: bool = False) -> Flow:
    n = draw(st.integers(2, 9))
    nodes = tuple(("crawler" if draw(st.booleans()) and i % 3 == 2 else "job", f"n{i}") for i in range(n))
    def cond(node: Node) -> dict[str, Any]:
        states = ["SUCCEEDED"] if succeeded_only else ["SUCCEEDED", "SUCCEEDED", *FAILED]
        state = draw(st.sampled_from(states))
        if node[0] == "job":
            return {"JobName": node[1], "State": state, "LogicalOperator": "EQUALS"}
        crawl_state = {"TIMEOUT": "FAILED", "STOPPED": "CANCELLED", "ERROR": "FAILED"}.get(state, state)
        return {"CrawlerName": node[1], "CrawlState": crawl_state, "LogicalOperator": "EQUALS"}

    def act(node: Node) -> dict[str, Any]:
        return {"JobName": node[1]} if node[0] == "job" else {"CrawlerName": node[1]}

    roots = draw(st.integers(1, max(1, n // 2)))
    triggers = [{"Name": "go", "Type": "ON_DEMAND", "Actions": [act(x) for x in nodes[:roots]]}]
    started = set(nodes[:roots])
    for i in range(draw(st.integers(0, 2 * n))):
        split = draw(st.integers(1, n - 1))
        watched = draw(st.lists(st.sampled_from(nodes[:split]), min_size=1, max_size=3, unique=True))
        actions = draw(st.lists(st.sampled_from(nodes[split:]), min_size=1, max_size=3, unique=True))
        started |= set(actions)
        triggers.append({"Name": f"t{i}", "Type": "CONDITIONAL", "State": "ACTIVATED",
                         "Predicate": {"Logical": draw(st.sampled_from(["AND", "ANY"])),
                                       "Conditions": [cond(w) for w in watched]},
                         "Actions": [act(a) for a in actions]})  # fmt: skip
    if no_orphans:  # every node is started by some trigger
        for k, node in enumerate(nodes):
            if node not in started:
                watched = draw(st.lists(st.sampled_from(nodes[:k]), min_size=1, max_size=2, unique=True))
                triggers.append({"Name": f"for-{node[1]}", "Type": "CONDITIONAL", "State": "ACTIVATED",
                                 "Predicate": {"Logical": "AND", "Conditions": [cond(w) for w in watched]},
                                 "Actions": [act(node)]})  # fmt: skip
    return Flow(nodes, tuple(triggers))


def below(flow: Flow, sources: Iterable[Node], through: set[Node] | None = None) -> set[Node]:
    """Job and crawler nodes reachable from ``sources`` through triggers (not the sources
    themselves, unless reached again), passing only through ``through`` when given."""
    out: set[Node] = set()
    todo = list(sources)
    while todo:
        node = todo.pop()
        for t in flow.conditional():
            if any(_node_of(c) == node for c in t["Predicate"]["Conditions"]):
                for a in t["Actions"]:
                    nxt = _node_of(a)
                    if nxt not in out:
                        out.add(nxt)
                        if through is None or nxt in through:
                            todo.append(nxt)
    return out


class Model:
    """The scheduler in miniature: runs end in the order they started; when a node ends, the
    triggers watching it are evaluated over the latest states (own runs, else carried), each
    fires at most once, and starts only the nodes allowed (a trigger with none does not fire)."""

    def __init__(self, flow: Flow, carried: Mapping[Node, str] | None = None, allowed: set[Node] | None = None):
        self.flow = flow
        self.carried = dict(carried or {})
        self.allowed = allowed
        self.latest: dict[Node, str] = {}
        self.fired: set[str] = set()
        self.started: Counter[Node] = Counter()
        self.by_trigger: Counter[Node] = Counter()  # starts by a conditional trigger
        self.queue: deque[Node] = deque()

    def state(self, node: Node) -> str | None:
        return self.latest.get(node, self.carried.get(node))

    def holds(self, trigger: Mapping[str, Any]) -> bool:
        met = [self.state(_node_of(c)) == _wanted(c) for c in trigger["Predicate"]["Conditions"]]
        return any(met) if trigger["Predicate"]["Logical"] == "ANY" else all(met)

    def launch(self, node: Node, *, by_trigger: bool) -> None:
        self.started[node] += 1
        self.by_trigger[node] += by_trigger
        self.queue.append(node)

    def ended(self, node: Node) -> None:
        for t in self.flow.conditional():
            watched = {_node_of(c) for c in t["Predicate"]["Conditions"]}
            if node in watched and t["Name"] not in self.fired and self.holds(t):
                actions = [_node_of(a) for a in t["Actions"]]
                actions = [a for a in actions if self.allowed is None or a in self.allowed]
                if actions:
                    self.fired.add(t["Name"])
                    for a in actions:
                        self.launch(a, by_trigger=True)

    def run(self, outcome: Mapping[Node, str], starts: Sequence[Node] = (), skipped: Sequence[Node] = ()) -> None:
        for node in skipped:  # recorded SUCCEEDED by the operator, then its triggers are evaluated
            self.ended(node)
        for node in starts:
            self.launch(node, by_trigger=False)
        while self.queue:
            node = self.queue.popleft()
            self.latest[node] = outcome[node]
            self.ended(node)

    def original(self, outcome: Mapping[Node, str]) -> dict[Node, resume.Final]:
        go = next(t for t in self.flow.triggers if t["Type"] == "ON_DEMAND")
        self.run(outcome, [_node_of(a) for a in go["Actions"]])
        return {n: resume.Final(s, "wr_0", (f"run_{n[1]}",)) for n, s in self.latest.items()}


def outcomes(flow: Flow, states: Sequence[str]) -> st.SearchStrategy[dict[Node, str]]:
    def crawl(state: str) -> str:
        return {"TIMEOUT": "FAILED", "STOPPED": "CANCELLED", "ERROR": "FAILED"}.get(state, state)

    return st.fixed_dictionaries({
        n: st.sampled_from(states).map(crawl if n[0] == "crawler" else str) for n in flow.nodes
    })  # fmt: skip


@st.composite
def cases(draw: st.DrawFn, **flow_options: bool) -> tuple[Flow, dict[Node, resume.Final], list[Node], list[Node], dict[str, bool]]:
    flow = draw(flows(**flow_options))
    done = Model(flow).original(draw(outcomes(flow, ["SUCCEEDED", "SUCCEEDED", *FAILED])))
    hypothesis.assume(done)
    ran = sorted(done)
    chosen = draw(st.lists(st.sampled_from(ran), max_size=3, unique=True))
    skipped = draw(st.lists(st.sampled_from([n for n in ran if n not in chosen] or ran), max_size=2, unique=True))
    skipped = [n for n in skipped if n not in chosen]
    options = draw(st.sampled_from([{}, {"failed": True}, {"only": True}]))
    return flow, done, chosen, skipped, options


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(cases())
def test_plan_matches_the_reference(case: tuple[Flow, dict[Node, resume.Final], list[Node], list[Node], dict[str, bool]]) -> None:
    flow, done, chosen, skipped, options = case
    p = resume.plan(flow.triggers, done, chosen, skip=skipped, **options)
    failed = options.get("failed", False)
    picked = set(chosen) | ({n for n, f in done.items() if f.state in resume.FAILED_STATES} - set(skipped) if failed else set())
    sources = picked | set(skipped)
    if options.get("only"):
        expected = picked
    elif failed:  # what never ran because of them, nothing that ran (unless picked)
        expected = picked | {n for n in below(flow, sources) if n not in done}
    else:  # Glue: chosen and downstream
        expected = picked | below(flow, sources)
    assert p.rerun == expected - set(skipped)
    # Nothing that SUCCEEDED runs again in ``failed`` mode unless it was chosen.
    if failed:
        assert {n for n in p.rerun if n in done and done[n].state == "SUCCEEDED"} <= set(chosen)
    # Every node with a final state is re-run, skipped or carried as it was, and only one of those.
    assert p.skip == tuple(skipped)
    assert not (p.rerun & set(p.carried)) and not (p.rerun & set(p.skip)) and not (set(p.carried) & set(p.skip))
    assert set(done) <= p.rerun | set(p.carried) | set(p.skip)
    assert all(p.carried[n] == done[n] for n in p.carried)
    # Started: the picked nodes that no other picked or skipped node reaches through nodes
    # that run again (those run when their trigger fires), upstream first.
    assert set(p.start) == {n for n in picked if not any(n in below(flow, [o], p.rerun) for o in sources - {n})}
    if not failed and not options.get("only"):
        assert set(p.start) == {n for n in picked if not any(n in below(flow, [o]) for o in sources - {n})}
    # Upstream first: no start node is upstream of one started before it.
    assert all(earlier not in below(flow, [later]) for i, later in enumerate(p.start) for earlier in p.start[:i])
    assert p.node_ids == [graph.node_id(*n) for n in p.start]


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(cases(), st.data())
def test_a_resumed_run_starts_no_node_twice_and_nothing_else(
    case: tuple[Flow, dict[Node, resume.Final], list[Node], list[Node], dict[str, bool]], data: st.DataObject,
) -> None:
    """Whatever the re-runs end with, only nodes that may run again start, and a node started
    directly is never started by a trigger too."""
    flow, done, chosen, skipped, options = case
    p = resume.plan(flow.triggers, done, chosen, skip=skipped, **options)
    carried = {n: f.state for n, f in p.carried.items()} | dict.fromkeys(p.skip, "SUCCEEDED")
    model = Model(flow, carried, set(p.rerun))
    model.run(data.draw(outcomes(flow, ["SUCCEEDED", *FAILED])), p.start, p.skip)
    assert set(model.started) <= p.rerun
    assert all(model.by_trigger[n] == 0 for n in p.start)


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(cases(succeeded_only=True, no_orphans=True))
def test_failed_mode_reruns_every_failed_node_when_reruns_succeed(
    case: tuple[Flow, dict[Node, resume.Final], list[Node], list[Node], dict[str, bool]],
) -> None:
    """``failed`` after a real run whose triggers wait for successes: when every re-run
    succeeds, every node that failed runs again (started directly, or by a trigger)."""
    flow, done, _chosen, _skipped, _options = case
    p = resume.plan(flow.triggers, done, failed=True)
    model = Model(flow, {n: f.state for n, f in p.carried.items()}, set(p.rerun))
    model.run(dict.fromkeys(flow.nodes, "SUCCEEDED"), p.start)
    assert {n for n, f in done.items() if f.state in resume.FAILED_STATES} <= set(model.started)
    assert set(model.started) == p.rerun


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(flows(succeeded_only=True, no_orphans=True), st.data())
def test_glue_mode_reruns_chosen_and_downstream_again(flow: Flow, data: st.DataObject) -> None:
    """After a run where everything SUCCEEDED, resuming from any node runs again exactly that
    node and what is downstream of it, when every re-run succeeds again (their triggers are
    evaluated in the new run, over the states carried over and the new ones)."""
    outcome = dict.fromkeys(flow.nodes, "SUCCEEDED")
    done = Model(flow).original(outcome)
    assert set(done) == set(flow.nodes)  # no orphans: everything ran
    chosen = data.draw(st.sampled_from(sorted(done)))
    p = resume.plan(flow.triggers, done, [chosen])
    assert p.start == (chosen,)
    again = Model(flow, {n: f.state for n, f in p.carried.items()}, set(p.rerun))
    again.run(outcome, p.start)
    assert set(again.started) == p.rerun == {chosen} | below(flow, [chosen])


def test_plan_is_fast_on_a_thousand_nodes() -> None:
    """20 layers of 50 (an AND per layer): planning a resume from the middle takes little time."""
    import time

    layers = [[f"j{k}_{i}" for i in range(50)] for k in range(20)]
    triggers = [start("go", *layers[0])]
    triggers += [when(f"l{k}", "AND", dict.fromkeys(layers[k - 1], "SUCCEEDED"), *layers[k]) for k in range(1, 20)]
    done = finals(**{j: "SUCCEEDED" for layer in layers[:10] for j in layer})
    done.update(finals(**{layers[10][i]: "FAILED" if i % 10 == 0 else "SUCCEEDED" for i in range(50)}))
    t0 = time.perf_counter()
    p = resume.plan(triggers, done, failed=True)
    assert time.perf_counter() - t0 < 2.0
    assert p.start == tuple(("job", layers[10][i]) for i in range(0, 50, 10))
    assert len(p.rerun) == 5 + 9 * 50 and len(p.carried) == 10 * 50 + 45
