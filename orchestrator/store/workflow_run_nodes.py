"""The nodes of a resumed workflow run: which may run again, which are carried over from an
earlier run (with the runs that produced their final state) and which the operator recorded as
done by hand. Written once, when the run is created; a run without rows restricts nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from orchestrator.store import tables
from orchestrator.store.database import Tx, values

_t = tables.workflow_run_nodes
RERUN, CARRIED, SKIPPED = "rerun", "carried", "skipped"


@dataclasses.dataclass(frozen=True, slots=True)
class RunNode:
    workflow_run_id: str
    node_type: str  # "job" or "crawler"
    node_name: str
    origin: str  # RERUN, CARRIED or SKIPPED
    state: str | None  # the final state a carried node keeps (SUCCEEDED for a skipped one)
    source_run_id: str | None  # the workflow run whose runs produced it
    run_ids: list[str]  # those job runs (or crawls), oldest first
    arguments: dict[str, str]  # a re-run job's argument overrides, for this run only
    note: str | None  # why the operator skipped it
    recorded_on: dt.datetime


_COLUMNS = tuple(c.name for c in _t.columns)
assert tuple(f.name for f in dataclasses.fields(RunNode)) == _COLUMNS, "RunNode must list the table's columns"
_OF_RUN = sa.select(_t).where(_t.c.workflow_run_id == sa.bindparam("_run")).order_by(_t.c.node_type, _t.c.node_name)


def insert(tx: Tx, nodes: Sequence[RunNode]) -> None:
    if nodes:
        tx.execute(sa.insert(_t), [values(node) for node in nodes])


def of_run(tx: Tx, workflow_run_id: str) -> list[RunNode]:
    return [RunNode(*row) for row in tx.execute(_OF_RUN, {"_run": workflow_run_id})]
