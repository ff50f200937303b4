"""Statements per job: how many SQL statements the orchestrator sends for each job of a DAG.

Runs each shape of ``dag_throughput.py`` (1,000 trivial python-shell jobs by default) once, in
this process, as ``adhere run`` does (the loop scoped to the workflow run), and counts the
statements the store sends meanwhile (``Store.statements``), by their first word. On SQLite a
transaction's BEGIN is a statement of its own; on PostgreSQL the driver sends it.

    python benchmarks/statements.py [--nodes 1000] [--db URL]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dag_throughput

from orchestrator import service, settings
from orchestrator.definitions import loading
from orchestrator.service import definitions, orchestration, workflow_runs

FINAL = {"COMPLETED", "STOPPED", "ERROR"}


def count(shape: str, nodes: int, width: int, db_url: str | None, folder: Path) -> None:
    script = folder / "job.py"
    script.write_text("import sys\n")
    dag = dag_throughput.DEFINITIONS[shape](script, nodes, width)
    path = folder / f"{shape}.json"
    path.write_text(json.dumps(dag))
    config = settings.load({"home": str(folder / f"home-{shape}"), "db_url": db_url}, environ={})
    db = service.open_store(config)
    try:
        definitions.apply(db, loading.load_files([path]))
        with db.statements() as counts:
            started = time.perf_counter()
            run_id = workflow_runs.start_workflow_run(db, dag["Workflows"][0]["Name"])
            with orchestration.host(db, config, scope=run_id) as wait:
                wait(lambda: workflow_runs.workflow_run_status(db, run_id) in FINAL, None)
            seconds = time.perf_counter() - started
        total = sum(counts.values())
        kinds = ", ".join(f"{kind} {n / nodes:.1f}" for kind, n in counts.most_common())
        print(f"{shape:8s} {total / nodes:5.1f} statements per job ({kinds}); {seconds:.1f} s", flush=True)
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--width", type=int, default=50)
    parser.add_argument("--db", help="store URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    print(f"{args.nodes}-node DAGs on {'SQLite' if not args.db else args.db.split(':')[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        for shape in ("layered", "pairs"):
            count(shape, args.nodes, args.width, args.db, Path(tmp))


if __name__ == "__main__":
    main()
