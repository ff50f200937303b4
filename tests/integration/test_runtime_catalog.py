"""The Data Catalog through the job runtime (``orchestrator.runtime.catalog``), on SQLite and
PostgreSQL: a job process given ``ADHERE_DB_URL`` (the store) and one given ``ADHERE_ENDPOINT``
(a real `adhere serve`) read the same tables, partitions pruned by a Glue expression and the
folders to read, and get adhere's errors; Spark views get the right reader and options; Ray
reads the matching partitions' files with their Hive columns.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.api_fixtures import Served
from integration.store_fixtures import skip_or_fail

from orchestrator.service import databases, partitions, tables

pytestmark = pytest.mark.timeout(240)
REPO = Path(__file__).resolve().parents[2]
DATABASE = "sales"
ORDERS = [("2023", "eu"), ("2023", "us"), ("2024", "eu"), ("2024", "us")]
EVENTS = ["2024-01-01", "2024-01-02"]  # the second is stored without a Location

# A job's view of the catalog: each call's result, or its error's Glue code and message, as JSON.
PROBE = """\
import json, sys
from orchestrator.runtime import catalog

def attempt(call):
    try:
        return {"ok": call()}
    except Exception as exc:
        return {"error": getattr(exc, "code", type(exc).__name__), "message": str(exc)}

orders = catalog.table("Sales", "ORDERS")
print(json.dumps({
    "table": {k: getattr(orders, k) for k in ("database", "name", "location", "classification", "columns",
              "partition_keys", "input_format", "serde", "parameters")},
    "tables": [t.name for t in catalog.tables("sales")],
    "all": [[p.values, p.location] for p in catalog.partitions("sales", "orders")],
    "pruned": catalog.locations("sales", "orders", "year = '2024' AND region IN ('us', 'apac')"),
    "events": catalog.locations("sales", "events"),
    "customers": catalog.locations("sales", "customers"),
    "no_table": attempt(lambda: catalog.table("sales", "nope")),
    "no_database": attempt(lambda: catalog.locations("nope", "orders")),
    "bad_expression": attempt(lambda: catalog.partitions("sales", "orders", "year >> '2023'")),
    "unpartitioned": attempt(lambda: catalog.locations("sales", "customers", "year = '1'")),
}))
"""


def _parquet_input(root: Path) -> dict[str, Any]:
    return {"Name": "orders", "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": [{"Name": "year", "Type": "string"}, {"Name": "region", "Type": "string"}],
            "Parameters": {"classification": "parquet"},
            "StorageDescriptor": {
                "Columns": [{"Name": "id", "Type": "bigint"}, {"Name": "amount", "Type": "double"}],
                "Location": f"{root.as_uri()}/orders/",
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "SerdeInfo": {"SerializationLibrary":
                              "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}}  # fmt: skip


def _other_inputs(root: Path) -> list[dict[str, Any]]:
    """A CSV table with a header and ``|`` (a crawler's parameters), and a JSON table known only
    by its SerDe, as a table made by hand would be."""
    return [
        {"Name": "customers", "Parameters": {"classification": "csv", "delimiter": "|",
                                             "skip.header.line.count": "1"},
         "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}, {"Name": "name", "Type": "string"}],
                               "Location": f"{root.as_uri()}/customers/",
                               "SerdeInfo": {"SerializationLibrary":
                                             "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                                             "Parameters": {"field.delim": "|"}}}},
        {"Name": "events", "PartitionKeys": [{"Name": "day", "Type": "string"}],
         "StorageDescriptor": {"Columns": [{"Name": "kind", "Type": "string"}],
                               "Location": f"{root.as_uri()}/events",
                               "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"}}},
    ]  # fmt: skip


def _write_files(root: Path) -> None:
    """The tables' files: Parquet when pyarrow is there (the Ray test needs it)."""
    (root / "customers").mkdir(parents=True)
    (root / "customers" / "part-0.csv").write_text("id|name\n1|Ada\n2|Grace\n")
    for day in EVENTS:
        (root / "events" / f"day={day}").mkdir(parents=True)
        (root / "events" / f"day={day}" / "part-0.json").write_text(json.dumps({"kind": f"k{day[-1]}"}) + "\n")
    if importlib.util.find_spec("pyarrow") is None:
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    for i, (year, region) in enumerate(ORDERS):
        folder = root / "orders" / f"year={year}" / f"region={region}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"id": [10 * i, 10 * i + 1], "amount": [1.5, 2.5]}), folder / "part-0.parquet")


@pytest.fixture(scope="module")
def catalogued(served: Served) -> Served:
    """The served store with the ``sales`` database, written through the service."""
    root = served.folder / "data"
    _write_files(root)
    db, settings = served.db, served.settings
    databases.create_database(db, settings, {"Name": DATABASE})
    tables.create_table(db, settings, DATABASE, _parquet_input(root))
    for table_input in _other_inputs(root):
        tables.create_table(db, settings, DATABASE, table_input)
    partitions.batch_create_partition(db, settings, DATABASE, "orders", [
        {"Values": [year, region],
         "StorageDescriptor": {"Location": f"{root.as_uri()}/orders/year={year}/region={region}/"}}
        for year, region in ORDERS])  # fmt: skip
    partitions.batch_create_partition(db, settings, DATABASE, "events", [
        {"Values": [EVENTS[0]], "StorageDescriptor": {"Location": f"{root.as_uri()}/events/day={EVENTS[0]}/"}},
        {"Values": [EVENTS[1]]}])  # fmt: skip
    return served


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADHERE_", "RAY_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, **extra}


def _run(script: Path, env: dict[str, str], timeout: float = 120) -> str:
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"{script.name} ran over {timeout}s\n{stdout[-2000:]}\n{stderr[-4000:]}")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{stdout}\n{stderr}"
    return stdout


@pytest.mark.parametrize("way", ["store", "serve"])
def test_a_job_reads_tables_partitions_and_locations(catalogued: Served, way: str) -> None:
    script = catalogued.folder / "probe.py"
    script.write_text(PROBE)
    where = {"ADHERE_DB_URL": catalogued.db.url} if way == "store" else {"ADHERE_ENDPOINT": catalogued.url}
    got = json.loads(_run(script, _env(**where)).splitlines()[-1])
    data = (catalogued.folder / "data").as_uri()
    assert got["table"] == {
        "database": "sales", "name": "orders", "location": f"{data}/orders/", "classification": "parquet",
        "columns": [["id", "bigint"], ["amount", "double"]], "partition_keys": [["year", "string"], ["region", "string"]],
        "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe", "parameters": {"classification": "parquet"},
    }  # fmt: skip
    assert got["tables"] == ["customers", "events", "orders"]
    assert got["all"] == [[[y, r], f"{data}/orders/year={y}/region={r}/"] for y, r in ORDERS]
    assert got["pruned"] == [f"{data}/orders/year=2024/region=us/"]
    # A partition stored without a Location is read at its Hive folder under the table's.
    assert got["events"] == [f"{data}/events/day={day}/" for day in EVENTS]
    assert got["customers"] == [f"{data}/customers/"]
    assert got["no_table"] == {"error": "EntityNotFoundException", "message": "Table nope not found."}
    assert got["no_database"] == {"error": "EntityNotFoundException", "message": "Database nope not found."}
    assert got["bad_expression"]["error"] == "InvalidInputException"
    assert "unexpected '>' at column 7" in got["bad_expression"]["message"]
    assert got["unpartitioned"]["error"] == "InvalidInputException"
    assert "no partition keys" in got["unpartitioned"]["message"]


def test_outside_adhere_without_a_store_or_serve_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.runtime import catalog

    for name in ("ADHERE_ENDPOINT", "ADHERE_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match=r"set ADHERE_ENDPOINT .* or ADHERE_DB_URL"):
        catalog.table("sales", "orders")


# --- Spark: the reader each table gets (a recording stand-in: no JVM here; the reviews example
# runs it on Spark) ---------------------------------------------------------------------------


class _Recorder:
    """Records a DataFrameReader's calls; ``createOrReplaceTempView`` records the view."""

    def __init__(self, calls: list[tuple[Any, ...]]) -> None:
        self.calls = calls

    @property
    def read(self) -> _Recorder:
        return self

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> _Recorder:
            self.calls.append((name, *args, *sorted(kwargs.items())))
            return self
        return call


def test_spark_views_read_each_table_with_its_reader(catalogued: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.runtime import catalog

    monkeypatch.setenv("ADHERE_DB_URL", catalogued.db.url)
    calls: list[tuple[Any, ...]] = []
    views = catalog.register_spark_views(_Recorder(calls), "sales")
    assert sorted(views) == ["customers", "events", "orders"]
    data = (catalogued.folder / "data").as_uri()
    assert calls == [
        ("option", "basePath", f"{data}/customers/"),
        ("schema", "`id` bigint, `name` string"),
        ("options", ("header", "true"), ("quote", '"'), ("sep", "|")),
        ("csv", f"{data}/customers/"), ("createOrReplaceTempView", "customers"),
        ("option", "basePath", f"{data}/events/"), ("schema", "`kind` string"),
        ("json", f"{data}/events/"), ("createOrReplaceTempView", "events"),
        ("option", "basePath", f"{data}/orders/"), ("parquet", f"{data}/orders/"),
        ("createOrReplaceTempView", "orders"),
    ]  # fmt: skip
    calls.clear()
    catalog.register_spark_views(_Recorder(calls), "sales", ["orders"])
    assert [c for c in calls if c[0] == "createOrReplaceTempView"] == [("createOrReplaceTempView", "orders")]
    assert catalog.spark_path("s3://bucket/t/") == "s3a://bucket/t/"


# --- Ray ---------------------------------------------------------------------------------------

RAY_PROBE = """\
import json, ray
from orchestrator.runtime import catalog
ray.init(num_cpus=1, include_dashboard=False)
ray.data.DataContext.get_current().enable_progress_bars = False
orders = catalog.ray_dataset("sales", "orders", "year = '2024'").take_all()
customers = catalog.ray_dataset("sales", "customers").take_all()
events = catalog.ray_dataset("sales", "events").take_all()
ray.shutdown()
print(json.dumps({"orders": sorted([r["id"], r["year"], r["region"]] for r in orders),
                  "customers": sorted([r["id"], r["name"]] for r in customers),
                  "events": sorted([r["kind"], r["day"]] for r in events)}))
"""


@pytest.fixture
def ray_tmp() -> Iterator[str]:
    for module in ("ray", "pyarrow", "pandas"):
        if importlib.util.find_spec(module) is None:
            skip_or_fail(f"Ray Data is not installed ({module}): pip install 'adhere[ray]'")
    folder = tempfile.mkdtemp(prefix="rc")  # short: Ray's socket paths must stay < 108 bytes
    try:
        yield folder
    finally:
        for proc_dir in Path("/proc").glob("[0-9]*"):  # only if the script was killed
            with contextlib.suppress(OSError):
                if folder in (proc_dir / "cmdline").read_bytes().decode(errors="replace"):
                    os.kill(int(proc_dir.name), signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.ray
@pytest.mark.slow
def test_ray_reads_the_matching_partitions_with_their_columns(catalogued: Served, ray_tmp: str) -> None:
    # Each way once, not each way on each backend: the store on SQLite, the serve on PostgreSQL.
    where = {"ADHERE_DB_URL": catalogued.db.url} if catalogued.db.url.startswith("sqlite") else {
        "ADHERE_ENDPOINT": catalogued.url}
    script = catalogued.folder / "ray_probe.py"
    script.write_text(RAY_PROBE)
    env = _env(**where, RAY_TMPDIR=ray_tmp, RAY_AUTH_MODE="disabled")
    got = json.loads(_run(script, env, timeout=180).splitlines()[-1])
    assert got["orders"] == [[20, "2024", "eu"], [21, "2024", "eu"], [30, "2024", "us"], [31, "2024", "us"]]
    assert got["customers"] == [[1, "Ada"], [2, "Grace"]]
    assert got["events"] == [["k1", EVENTS[0]], ["k2", EVENTS[1]]]
