"""Job bookmarks on the Ray and Spark engines: a ``glueray`` job reads a bookmarked folder of
Parquet with ``job.ray_dataset`` and a ``glueetl`` job with ``job.spark_dataframe``; the second
run reads only the file added since, and a run with nothing new gets an empty dataset that keeps
the files' columns. Slow: each engine starts for real (a Ray head, a Spark JVM)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from driving import apply, is_final, orchestrating, state, wait_for

from orchestrator import service
from orchestrator.service import job_runs
from orchestrator.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

HEAD = """\
import json, sys
from orchestrator.runtime import Job, getResolvedOptions
args = getResolvedOptions(sys.argv, ["JOB_NAME", "JOB_RUN_ID", "source", "out"])
job = Job()
job.init(args["JOB_NAME"], args)
"""
TAIL = """\
job.commit()
with open(args["out"], "a") as out:
    out.write(json.dumps({"run": args["JOB_RUN_ID"], "ids": ids, "columns": columns}) + "\\n")
"""
SCRIPTS = {
    "glueray": HEAD + """\
import ray
ray.init()
ds = job.ray_dataset("orders", args["source"], format="parquet")
ids, columns = sorted(r["id"] for r in ds.take_all()), list(ds.schema().names)
""" + TAIL,
    "glueetl": HEAD + """\
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
df = job.spark_dataframe("orders", spark, args["source"], format="parquet")
ids, columns = sorted(r["id"] for r in df.collect()), list(df.columns)
""" + TAIL,
}


def _require(command: str) -> None:
    module = "ray" if command == "glueray" else "pyspark"
    missing = importlib.util.find_spec(module) is None or importlib.util.find_spec("pyarrow") is None or (
        command == "glueetl" and shutil.which("java") is None)
    if missing:
        if os.environ.get("ADHERE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{command} needs {module}, pyarrow{' and Java' if command == 'glueetl' else ''}")
        pytest.skip(f"{command} needs {module} and pyarrow")


@pytest.fixture(params=[pytest.param("glueray", marks=pytest.mark.ray),
                        pytest.param("glueetl", marks=pytest.mark.spark)])
def engine_project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path, Settings]]:
    command = request.param
    _require(command)
    settings = Settings(home=tmp_path / ".adhere", poll_interval=0.05, kill_grace=1.0)
    try:
        yield command, tmp_path, settings
    finally:
        if command == "glueray":
            from engines import ray_cluster

            ray_cluster.LocalCluster(settings.home / "engines" / "glueray").stop()


def _parquet(folder: Path, name: str, ids: list[int]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": ids, "amount": [1.5 * i for i in ids]}), folder / name)


def test_a_bookmarked_folder_of_parquet_is_read_once_per_file(engine_project: tuple[str, Path, Settings]) -> None:
    command, folder, settings = engine_project
    data, out = folder / "data", folder / "out.jsonl"
    (folder / "read.py").write_text(SCRIPTS[command])
    _parquet(data, "part-0.parquet", [1, 2])
    _parquet(data, "part-1.parquet", [3])
    (data / "_SUCCESS").write_text("")
    db = service.open_store(settings)

    def run(orch: Any) -> dict[str, Any]:
        run_id = job_runs.start_job_run(db, "orders")
        wait_for(lambda: is_final(db, run_id), 300, orch, f"run {run_id} ended")
        assert state(db, run_id) == "SUCCEEDED", job_runs.get_job_run(db, None, run_id).get("ErrorMessage")
        return next(r for r in map(json.loads, out.read_text().splitlines()) if r["run"] == run_id)

    try:
        apply(db, folder, Jobs=[{"Name": "orders", "Command": {"Name": command, "ScriptLocation": "read.py"},
                                 "DefaultArguments": {"--job-bookmark-option": "job-bookmark-enable",
                                                      "--source": str(data), "--out": str(out)}}])  # fmt: skip
        with orchestrating(db, settings) as orch:
            first = run(orch)
            assert (first["ids"], first["columns"]) == ([1, 2, 3], ["id", "amount"])
            _parquet(data, "part-2.parquet", [4, 5])
            assert run(orch)["ids"] == [4, 5]
            nothing = run(orch)
            assert (nothing["ids"], nothing["columns"]) == ([], ["id", "amount"])
    finally:
        db.close()
