"""A workflow's graph (Glue's WorkflowGraph): jobs and crawlers joined through triggers.

Edges run watched node -> conditional trigger -> started node, one per Condition and Action,
as GetWorkflow/GetWorkflowRun draw them. Pure: triggers and runs in, plain values out.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from orchestrator.states import CrawlState, JobRunState, TriggerType

if TYPE_CHECKING:
    import networkx as nx

    from orchestrator.definitions import Trigger

GraphNode = tuple[str, str]  # ("trigger" | "job" | "crawler", name)
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_KIND_ORDER = {"job": 0, "crawler": 1, "trigger": 2}


def _glue(trigger: Trigger | Mapping[str, Any]) -> Mapping[str, Any]:
    """A model's Glue shape, or the Glue dict itself (the models are not imported here: reading
    a run's graph needs no pydantic)."""
    return trigger if isinstance(trigger, Mapping) else trigger.to_glue()


def _node(item: Mapping[str, Any]) -> GraphNode | None:
    """The job or crawler a Glue Condition or Action names (the job wins, as in moto)."""
    if item.get("JobName"):
        return ("job", item["JobName"])
    if item.get("CrawlerName"):
        return ("crawler", item["CrawlerName"])
    return None


class Digraph:
    """What run graphs and statistics read of an ``nx.DiGraph`` (nodes, edges, in its order), without
    importing networkx: only cycle checks and reachability need it.
    """

    def __init__(self) -> None:
        self.nodes: dict[GraphNode, dict[str, Any]] = {}
        self._succ: dict[GraphNode, dict[GraphNode, None]] = {}

    def add_node(self, node: GraphNode, **attrs: Any) -> None:
        self.nodes.setdefault(node, {}).update(attrs)
        self._succ.setdefault(node, {})

    def add_edge(self, u: GraphNode, v: GraphNode) -> None:
        self.add_node(u)
        self.add_node(v)
        self._succ[u][v] = None

    def successors(self, node: GraphNode) -> Iterator[GraphNode]:
        return iter(self._succ.get(node, ()))

    @property
    def edges(self) -> Iterator[tuple[GraphNode, GraphNode]]:
        return ((u, v) for u, succ in self._succ.items() for v in succ)


def workflow_graph(triggers: Sequence[Trigger | Mapping[str, Any]]) -> nx.DiGraph:
    """The graph of a workflow's triggers (models or Glue dicts); trigger nodes carry ``trigger``."""
    import networkx as nx  # lazy: networkx costs ~0.1 s of every CLI start

    graph = nx.DiGraph()
    _add_triggers(graph, triggers)
    return graph


def _add_triggers(graph: Digraph | nx.DiGraph, triggers: Sequence[Trigger | Mapping[str, Any]]) -> None:
    for trigger in triggers:
        glue = _glue(trigger)
        me: GraphNode = ("trigger", glue["Name"])
        for condition in (glue.get("Predicate") or {}).get("Conditions") or []:
            if (watched := _node(condition)) is not None:
                graph.add_edge(watched, me)
        graph.add_node(me, trigger=glue)
        for action in glue.get("Actions") or []:
            if (started := _node(action)) is not None:
                graph.add_edge(me, started)


def _plain_graph(triggers: Sequence[Trigger | Mapping[str, Any]] | Digraph) -> Digraph:
    if isinstance(triggers, Digraph):
        return triggers
    graph = Digraph()
    _add_triggers(graph, triggers)
    return graph


def plain(triggers: Sequence[Trigger | Mapping[str, Any]]) -> Digraph:
    """The graph of a workflow's triggers without networkx, built once for several questions
    (``downstream``, ``upstream_first`` take it as well as the triggers)."""
    return _plain_graph(triggers)


def find_cycles(graph: nx.DiGraph) -> list[list[str]]:
    """One cycle per strongly connected knot, spelled by name and closed: ``[a, t1, b, t2, a]``.

    Each starts at its smallest job or crawler so the text is stable between runs.
    """
    import networkx as nx

    cycles: list[list[str]] = []
    for component in nx.strongly_connected_components(graph):
        first = min(component, key=lambda n: (_KIND_ORDER[n[0]], n[1]))
        if len(component) == 1 and not graph.has_edge(first, first):
            continue
        edges = nx.find_cycle(graph.subgraph(component), source=first)
        nodes = [u for u, _ in edges]
        start = min(nodes, key=lambda n: (_KIND_ORDER[n[0]], n[1]))
        i = nodes.index(start)
        nodes = nodes[i:] + nodes[:i]
        cycles.append([n[1] for n in [*nodes, nodes[0]]])
    return sorted(cycles)


def start_triggers(triggers: Iterable[Trigger]) -> list[Trigger]:
    """The triggers that can start a workflow run: every type but CONDITIONAL."""
    return [t for t in triggers if t.type != TriggerType.CONDITIONAL]


def downstream(triggers: Sequence[Trigger | Mapping[str, Any]] | Digraph, start_nodes: Iterable[GraphNode], *,
               through: Collection[GraphNode] | None = None) -> set[GraphNode]:
    """The start nodes and every node reachable from them (what a resume runs again), without
    networkx. With ``through``, paths pass only trigger nodes and the job and crawler nodes in
    it (a node outside it is reached, but not gone beyond)."""
    g = _plain_graph(triggers)
    reached: set[GraphNode] = set()
    todo = []
    for node in start_nodes:
        if node not in g.nodes:
            raise ValueError(f"{node[0]} {node[1]!r} is not in the workflow graph")
        reached.add(node)
        todo.append(node)
    while todo:
        for after in g.successors(todo.pop()):
            if after not in reached:
                reached.add(after)
                if through is None or after[0] == "trigger" or after in through:
                    todo.append(after)
    return reached


def upstream_first(triggers: Sequence[Trigger | Mapping[str, Any]] | Digraph) -> list[GraphNode]:
    """The nodes upstream first, ties by kind and name, without networkx (Kahn's algorithm,
    taking the smallest ready node each time), for runs drawn and resumed in order. Nodes on a
    cycle, which an applied definition never has, come last."""
    graph = _plain_graph(triggers)
    waiting = dict.fromkeys(graph.nodes, 0)
    for _, v in graph.edges:
        waiting[v] += 1
    ready = [(_order_key(n), n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[GraphNode] = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for after in graph.successors(node):
            waiting[after] -= 1
            if waiting[after] == 0:
                heapq.heappush(ready, (_order_key(after), after))
    if len(order) < len(waiting):
        placed = set(order)
        order += sorted((n for n in waiting if n not in placed), key=_order_key)
    return order


def _order_key(node: GraphNode) -> tuple[int, str]:
    return _KIND_ORDER[node[0]], node[1]


def node_id(kind: str, name: str) -> str:
    """Glue's ``wnode_<64 hex>``: derived from type and name only, so it is the same in every run."""
    digest = hashlib.sha256(f"{kind.upper()}\x00{name}".encode()).hexdigest()
    return f"wnode_{digest}"


def run_graph(
    triggers: Sequence[Mapping[str, Any]],
    job_runs: Mapping[str, Sequence[Mapping[str, Any]]],
    crawls: Mapping[str, Sequence[Mapping[str, Any]]] = _EMPTY,
) -> dict[str, Any]:
    """GetWorkflowRun's ``Graph``: nodes with their runs in this workflow run, and edges.

    Job nodes list every attempt under ``JobDetails.JobRuns``; nodes that have not run carry
    no details (Glue returns them null). With empty runs this is GetWorkflow's static graph.
    """
    graph = _plain_graph(triggers)
    nodes: list[dict[str, Any]] = []
    for kind, name in graph.nodes:
        node: dict[str, Any] = {"Type": kind.upper(), "Name": name, "UniqueId": node_id(kind, name)}
        if kind == "trigger":
            node["TriggerDetails"] = {"Trigger": dict(graph.nodes[(kind, name)]["trigger"])}
        elif kind == "job" and job_runs.get(name):
            node["JobDetails"] = {"JobRuns": [dict(r) for r in job_runs[name]]}
        elif kind == "crawler" and crawls.get(name):
            node["CrawlerDetails"] = {"Crawls": [dict(c) for c in crawls[name]]}
        nodes.append(node)
    edges = [{"SourceId": node_id(*u), "DestinationId": node_id(*v)} for u, v in graph.edges]
    return {"Nodes": nodes, "Edges": edges}


_J, _C = JobRunState, CrawlState
_JOB_COUNTER = {
    _J.STARTING: "RunningActions",
    _J.RUNNING: "RunningActions",
    _J.STOPPING: "RunningActions",
    _J.WAITING: "WaitingActions",
    _J.SUCCEEDED: "SucceededActions",
    _J.FAILED: "FailedActions",
    _J.STOPPED: "StoppedActions",
    _J.TIMEOUT: "TimeoutActions",
    _J.ERROR: "ErroredActions",
    _J.EXPIRED: "ErroredActions",
}
_CRAWL_COUNTER = {
    _C.RUNNING: "RunningActions",
    _C.CANCELLING: "RunningActions",
    _C.SUCCEEDED: "SucceededActions",
    _C.FAILED: "FailedActions",
    _C.CANCELLED: "StoppedActions",
    _C.ERROR: "ErroredActions",
}
STATISTICS_FIELDS = (
    "TotalActions",
    "TimeoutActions",
    "FailedActions",
    "StoppedActions",
    "SucceededActions",
    "RunningActions",
    "ErroredActions",
    "WaitingActions",
)


def statistics(
    triggers: Sequence[Trigger | Mapping[str, Any]],
    latest_job_states: Mapping[str, str | None],
    latest_crawl_states: Mapping[str, str | None] = _EMPTY,
) -> dict[str, int]:
    """WorkflowRun.Statistics: every job and crawler node counts once, by its latest run's state.

    TotalActions counts nodes that never ran too (as Glue's documented runs show).
    """
    stats = dict.fromkeys(STATISTICS_FIELDS, 0)
    for kind, name in _plain_graph(triggers).nodes:
        if kind == "trigger":
            continue
        stats["TotalActions"] += 1
        if kind == "job":
            state = latest_job_states.get(name)
            counter = _JOB_COUNTER.get(JobRunState(state)) if state else None
        else:
            state = latest_crawl_states.get(name)
            counter = _CRAWL_COUNTER.get(CrawlState(state)) if state else None
        if counter:
            stats[counter] += 1
    return stats
