"""Resuming a workflow run (Glue's ResumeWorkflowRun, and adhere's ``--failed``, ``--only``,
``--skip``): which nodes run again in the new run, which start at once, and which keep the
final state an earlier run gave them. Pure: the graph and the original's node states in, a
plan out.

In Glue's terms the chosen nodes and everything downstream of them run again, and a chosen
node downstream of another (or of a skipped one) is redundant: it runs when its trigger fires.
The other nodes are carried over with their runs, so conditions on them count as met already.
``failed`` chooses every node that ended in failure and re-runs, besides them, only what never
ran because of them; ``only`` re-runs the chosen nodes alone; a skipped node is recorded
SUCCEEDED by the operator and what is downstream of it runs. With ``failed`` and ``only`` a
chosen node that another reaches only through carried nodes is not redundant (no trigger would
start it) and starts directly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orchestrator import errors, graph
from orchestrator.states import CrawlState, JobRunState

Node = tuple[str, str]  # ("job" | "crawler", name)
FAILED_STATES = frozenset({JobRunState.FAILED.value, JobRunState.TIMEOUT.value, JobRunState.STOPPED.value,
                           JobRunState.ERROR.value, CrawlState.CANCELLED.value})  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Final:
    """A node's final state in a run, and where it comes from: its runs (job runs or crawls,
    oldest first) in ``source`` (a workflow run), or the operator (``skipped`` in ``source``,
    ``on`` that time, ``note`` why)."""

    state: str
    source: str
    run_ids: tuple[str, ...] = ()
    skipped: bool = False
    note: str | None = None
    on: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class Plan:
    rerun: frozenset[Node]  # nodes that may run in the new run
    start: tuple[Node, ...]  # chosen nodes started directly, upstream first
    skip: tuple[Node, ...]  # recorded SUCCEEDED by the operator
    carried: Mapping[Node, Final]  # every other node that has a final state, kept as it is

    @property
    def node_ids(self) -> list[str]:
        """ResumeWorkflowRun's NodeIds: the nodes actually restarted."""
        return [graph.node_id(kind, name) for kind, name in self.start]


def resolve(triggers: Sequence[Mapping[str, Any]], refs: Iterable[str]) -> list[Node]:
    """Nodes named by Glue's ``wnode_`` ids, ``job:NAME``/``crawler:NAME`` or a bare name (when
    no job and crawler share it); an unknown or ambiguous reference is InvalidInputException."""
    refs = list(refs)
    if not refs:
        return []
    all_nodes = graph.run_graph(triggers, {})["Nodes"]
    by_id = {n["UniqueId"]: (n["Type"].lower(), n["Name"]) for n in all_nodes if n["Type"] != "TRIGGER"}
    trigger_ids = {n["UniqueId"]: n["Name"] for n in all_nodes if n["Type"] == "TRIGGER"}
    trigger_names = set(trigger_ids.values())
    by_name: dict[str, list[Node]] = {}
    for node in by_id.values():
        by_name.setdefault(node[1], []).append(node)
    found: list[Node] = []
    for ref in refs:
        kind, _, name = ref.partition(":")
        if ref in by_id:
            node = by_id[ref]
        elif ref in trigger_ids:
            raise errors.InvalidInputException(f"{ref} is trigger {trigger_ids[ref]}: only job and crawler nodes can be resumed")
        elif ref not in by_name and (ref in trigger_names or (kind == "trigger" and name in trigger_names)):
            raise errors.InvalidInputException(f"{ref!r} is a trigger: only job and crawler nodes can be resumed")
        elif kind in ("job", "crawler") and (kind, name) in by_id.values():
            node = (kind, name)
        elif len(by_name.get(ref, ())) == 1:
            node = by_name[ref][0]
        elif ref in by_name:
            raise errors.InvalidInputException(f"{ref!r} names a job and a crawler: say job:{ref} or crawler:{ref}")
        else:
            raise errors.InvalidInputException(f"node {ref!r} is not a job or crawler of this workflow run's graph")
        if node not in found:
            found.append(node)
    return found


def plan(
    triggers: Sequence[Mapping[str, Any]],
    finals: Mapping[Node, Final],
    chosen: Sequence[Node] = (),
    *,
    failed: bool = False,
    only: bool = False,
    skip: Sequence[Node] = (),
) -> Plan:
    """What resuming a run with these node states does. Chosen and skipped nodes must have had
    a run (or a carried state) in it; ``failed`` adds every node that ended in failure."""
    g = graph.plain(triggers)
    for node in (*chosen, *skip):
        if node not in finals:
            raise errors.InvalidInputException(
                f"{node[0]} {node[1]} did not run in this workflow run, so it cannot be resumed"
            )
    if overlap := set(chosen) & set(skip):
        names = ", ".join(sorted(name for _, name in overlap))
        raise errors.InvalidInputException(f"{names}: a node cannot be both re-run and skipped")
    picked = list(chosen)
    if failed:
        picked += [n for n in sorted(finals) if finals[n].state in FAILED_STATES and n not in picked and n not in skip]
    rerun: set[Node] = set(picked)
    if not only:
        for n in (*picked, *skip):
            below = _below(g, n)
            rerun |= below if not failed else {d for d in below if d not in finals or d in picked}
    rerun -= set(skip)
    # A chosen node is redundant when a trigger of the new run starts it: one reached from
    # another chosen (or skipped) node through nodes that run again. Reached only through a
    # carried node, it would never start (no trigger fires there), so it starts directly.
    passable = rerun | set(skip)
    reached = {o: _below(g, o, passable) for o in (*picked, *skip)}
    order = {n: i for i, n in enumerate(graph.upstream_first(g))}
    start = tuple(n for n in sorted(picked, key=lambda n: (order.get(n, 0), n))
                  if not any(n in reached[o] for o in reached if o != n))
    carried = {n: f for n, f in finals.items() if n not in rerun and n not in skip}
    return Plan(frozenset(rerun), start, tuple(skip), carried)


def _below(g: graph.Digraph, node: Node, through: set[Node] | None = None) -> set[Node]:
    """The job and crawler nodes downstream of ``node`` (not itself); with ``through``, only
    along paths whose job and crawler nodes before the last are all in it."""
    return {n for n in graph.downstream(g, [node], through=through) if n[0] != "trigger" and n != node}
