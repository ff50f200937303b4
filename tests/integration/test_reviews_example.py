"""The reviews example: its workflow run whole by an orchestrator, and its scripts one by one.

The workflow (a copy of examples/reviews with 2,000 rows) runs once per module as `adhere run`
runs it: generate, the catalog_raw crawl, ray_transform reading raw_reviews through the
catalog, the catalog_curated crawl beside quality_check, spark_aggregate reading curated_reviews
as a Spark view, report, and the catalog_out crawl; the tests check every node, the tables the
crawlers made and each step's output. The scripts that need neither Ray nor Spark also run
alone as adhere would run them (a subprocess with Glue argv), on good and bad inputs. Ray and
Spark parts skip when missing, unless ADHERE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

if importlib.util.find_spec("pyarrow") is None:  # the test extras alone: no Ray, no Spark
    if os.environ.get("ADHERE_REQUIRE_SERVICES") == "1":
        pytest.fail("the reviews example needs pyarrow (ADHERE_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip("the reviews example needs pyarrow (adhere[ray] or adhere[spark])", allow_module_level=True)

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from orchestrator import service, states
from orchestrator.definitions import loading
from orchestrator.service import definitions, orchestration, partitions, tables, workflow_runs
from orchestrator.settings import Settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "reviews"
ROWS = 2_000
SEED = 11
RUN_ID = "wr_" + "0" * 63 + "1"
REQUIRE_SERVICES = os.environ.get("ADHERE_REQUIRE_SERVICES") == "1"
WORKFLOW_TIMEOUT = 420  # seconds for the whole run (about 90 s on 2 busy cores)
CATEGORIES = {"Books", "Electronics", "Kitchen", "Sports", "Toys", "Wireless"}
JOBS = {"generate", "ray_transform", "spark_aggregate", "quality_check", "report"}
CRAWLERS = {"catalog_raw", "catalog_curated", "catalog_out"}
RAY_COLUMNS = {
    "marketplace",
    "customer_id",
    "review_id",
    "product_id",
    "star_rating",
    "helpful_votes",
    "total_votes",
    "review_date",
    "year",
    "product_category",
    "helpful_votes_ratio",
    "low_rating",
}


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (ADHERE_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _need_ray() -> None:
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("pandas") is None:
        _unavailable("Ray Data is not installed: pip install 'adhere[ray]'")


def _spark_submit() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        _unavailable("PySpark is not installed: pip install 'adhere[spark]'")
    if shutil.which("java") is None:
        _unavailable("Spark needs Java on PATH")
    return Path(spec.origin).parent / "bin" / "spark-submit"


def _env(**extra: str) -> dict[str, str]:
    """This environment without anything that would attach a script to another run or cluster."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADHERE_", "RAY_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # The scripts import orchestrator.runtime: make it importable from this checkout.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _glue_argv(job: str, **args: str) -> list[str]:
    argv = ["--JOB_NAME", job, "--JOB_RUN_ID", f"jr_{job}", "--WORKFLOW_NAME", "reviews"]
    argv += ["--WORKFLOW_RUN_ID", RUN_ID]
    for key, value in args.items():
        argv += [f"--{key}", value]
    return argv


def run(
    argv: list[str], env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run argv in its own process group; on timeout, end the group and fail with its output."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or _env(),
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            stdout, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
        pytest.fail(f"{argv[1]} ran over {timeout}s\n{stdout[-3000:]}\n{stderr[-5000:]}")
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def run_script(
    script: str, argv: list[str], env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, str(EXAMPLE / script), *argv], env=env, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _read(path: Path) -> pa.Table:
    return ds.dataset(path, format="parquet").to_table()


@dataclass
class Paths:
    data_root: Path
    output_root: Path


@dataclass
class Ran:
    """The workflow run of the example's copy: GetWorkflowRun, its folders and its store."""

    run: dict[str, Any]
    data_root: Path
    output_root: Path
    db_url: str
    settings: Settings

    def nodes(self, kind: str) -> dict[str, dict[str, Any]]:
        """The run's JOB or CRAWLER nodes by name: the latest job run, or the latest crawl."""
        details, runs = ("JobDetails", "JobRuns") if kind == "JOB" else ("CrawlerDetails", "Crawls")
        return {n["Name"]: n[details][runs][-1] for n in self.run["Graph"]["Nodes"]
                if n["Type"] == kind and (n.get(details) or {}).get(runs)}  # fmt: skip


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    root = tmp_path_factory.mktemp("reviews")
    paths = Paths(root / "raw" / "reviews", root / "out")
    _ok(
        run_script(
            "generate.py",
            _glue_argv("generate", data_root=str(paths.data_root), rows=str(ROWS), seed=str(SEED)),
        )
    )
    return paths


def _copy_example(folder: Path) -> Path:
    """The example's scripts and workflow.yaml in ``folder``, generating ROWS rows: its relative
    paths (scripts, crawler targets, --data_root, --output_root) then all land in ``folder``."""
    for path in EXAMPLE.iterdir():
        if path.suffix in (".py", ".yaml"):
            shutil.copy(path, folder / path.name)
    workflow = folder / "workflow.yaml"
    text = workflow.read_text()
    assert text.count('--rows: "20000"') == 1
    workflow.write_text(text.replace('--rows: "20000"', f'--rows: "{ROWS}"'))
    return workflow


def _run_workflow(settings: Settings) -> dict[str, Any]:
    """One run of the example's copy to its end, by an orchestrator of this process; GetWorkflowRun."""
    db = service.open_store(settings)
    try:
        run_id = workflow_runs.start_workflow_run(db, "reviews")
        deadline = time.monotonic() + WORKFLOW_TIMEOUT
        terminal = {s.value for s in states.WORKFLOW_RUN_TERMINAL}

        def done() -> bool:
            assert time.monotonic() < deadline, f"the workflow run did not end in {WORKFLOW_TIMEOUT}s"
            return workflow_runs.workflow_run_status(db, run_id) in terminal

        with orchestration.host(db, settings, scope=run_id) as wait:
            wait(done, None)
        return workflow_runs.get_workflow_run(db, "reviews", run_id)
    finally:
        db.close()


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    """The whole workflow, run once by an orchestrator on a store of its own (SQLite)."""
    _need_ray()
    _spark_submit()
    folder = tmp_path_factory.mktemp("example")
    workflow = _copy_example(folder)
    settings = Settings(home=folder / ".adhere", poll_interval=0.05, kill_grace=1.0)
    db = service.open_store(settings)
    try:
        definitions.apply(db, loading.load_files([workflow]))
    finally:
        db.close()
    try:
        run = _run_workflow(settings)
        yield Ran(run, folder / "data" / "raw" / "reviews", folder / "data" / "out", settings.database_url, settings)
    finally:
        from engines import ray_cluster

        ray_cluster.LocalCluster(settings.home / "engines" / "glueray").stop()


# --- generate -----------------------------------------------------------------------------------


def test_generate_writes_the_reviews_schema_partitioned_by_category(generated: Paths) -> None:
    table = ds.dataset(generated.data_root, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == ROWS
    types = {f.name: f.type for f in table.schema}
    assert types["star_rating"] == pa.int32()
    assert types["total_votes"] == pa.int32()
    assert types["review_date"] == pa.date32()
    assert {p.name for p in generated.data_root.iterdir() if p.is_dir()} == {
        f"product_category={c}" for c in CATEGORIES
    }
    df = table.to_pandas()
    assert (df["helpful_votes"] <= df["total_votes"]).all()
    assert (df["total_votes"] == 0).mean() > 0.3
    assert df["star_rating"].between(1, 5).all()
    assert (df["marketplace"] == "US").mean() > 0.6
    assert set(df["vine"]) <= {"Y", "N"}
    assert (df["year"] == df["review_date"].map(lambda day: day.year)).all()


def test_generate_is_idempotent_and_deterministic(generated: Paths, tmp_path: Path) -> None:
    again = _ok(
        run_script(
            "generate.py",
            ["--out", str(generated.data_root), "--rows", str(ROWS), "--seed", str(SEED)],
        )
    )
    assert "nothing to do" in again
    copy = tmp_path / "copy"
    _ok(run_script("generate.py", ["--out", str(copy), "--rows", str(ROWS), "--seed", str(SEED)]))
    for path in sorted(generated.data_root.rglob("*.parquet")):
        twin = copy / path.relative_to(generated.data_root)
        assert pq.read_table(path).equals(pq.read_table(twin)), path
    other = tmp_path / "other"
    _ok(
        run_script(
            "generate.py", ["--out", str(other), "--rows", str(ROWS), "--seed", str(SEED + 1)]
        )
    )
    books = Path("product_category=Books") / "part-0.parquet"
    assert not pq.read_table(other / books).equals(pq.read_table(copy / books))


# --- the workflow run: every node, the catalog, each step's output -------------------------------


def on_the_run(test: Callable[[Ran], None]) -> Callable[[Ran], None]:
    """A test of the workflow run: it needs Ray and Spark, and its first one waits for the run."""
    for mark in (pytest.mark.ray, pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(WORKFLOW_TIMEOUT + 120)):
        test = mark(test)
    return test


@on_the_run
def test_every_job_and_crawl_of_the_run_succeeds(ran: Ran) -> None:
    jobs, crawls = ran.nodes("JOB"), ran.nodes("CRAWLER")
    errors = {n: r.get("ErrorMessage") for n, r in {**jobs, **crawls}.items() if r.get("ErrorMessage")}
    assert ran.run["Status"] == "COMPLETED", errors
    assert {n: r["JobRunState"] for n, r in jobs.items()} == dict.fromkeys(JOBS, "SUCCEEDED"), errors
    assert {n: c["State"] for n, c in crawls.items()} == dict.fromkeys(CRAWLERS, "SUCCEEDED"), errors
    assert ran.run["Statistics"]["SucceededActions"] == len(JOBS) + len(CRAWLERS)
    # catalog_out is the last node: it started after report ended.
    assert crawls["catalog_out"]["StartedOn"] >= jobs["report"]["CompletedOn"]
    assert crawls["catalog_raw"]["CompletedOn"] <= jobs["ray_transform"]["StartedOn"]
    assert crawls["catalog_curated"]["CompletedOn"] <= jobs["spark_aggregate"]["StartedOn"]


@on_the_run
def test_the_crawlers_catalog_every_stage(ran: Ran) -> None:
    db = service.connect(ran.db_url)
    try:
        settings = Settings(db_url=ran.db_url)
        found = {t["Name"]: t for t in tables.get_tables(db, settings, "reviews")["TableList"]}
        raw_partitions = partitions.get_partitions(db, settings, "reviews", "raw_reviews")["Partitions"]
        books = partitions.get_partitions(db, settings, "reviews", "raw_reviews",
                                          "product_category = 'Books'")["Partitions"]  # fmt: skip
    finally:
        db.close()
    assert set(found) == {"raw_reviews", "curated_reviews", "curated_low_rated", "ratings_by_category"}
    raw = found["raw_reviews"]
    assert raw["Parameters"]["classification"] == "parquet"
    assert raw["StorageDescriptor"]["Location"] == f"{ran.data_root.as_uri()}/"
    assert raw["PartitionKeys"] == [{"Name": "product_category", "Type": "string"}]
    assert {c["Name"] for c in raw["StorageDescriptor"]["Columns"]} >= {"review_id", "star_rating", "review_date"}
    assert sorted(p["Values"][0] for p in raw_partitions) == sorted(CATEGORIES)
    assert [p["StorageDescriptor"]["Location"] for p in books] == [
        f"{ran.data_root.as_uri()}/product_category=Books/"
    ]
    curated = found["curated_reviews"]
    assert curated["StorageDescriptor"]["Location"] == f"{(ran.output_root / 'ray' / 'reviews').as_uri()}/"
    assert {c["Name"] for c in curated["StorageDescriptor"]["Columns"]} == RAY_COLUMNS
    assert curated["PartitionKeys"] == []
    ratings = found["ratings_by_category"]
    assert ratings["StorageDescriptor"]["Location"] == f"{(ran.output_root / 'spark' / 'by_category').as_uri()}/"
    assert ratings["Parameters"]["classification"] == "parquet"
    assert {c["Name"] for c in ratings["StorageDescriptor"]["Columns"]} == {
        "product_category", "reviews", "products", "avg_star_rating", "avg_helpful_votes_ratio", "low_rating_share",
    }  # fmt: skip


@on_the_run
def test_ray_transform_applies_the_post_transformations(ran: Ran) -> None:
    raw = (
        ds.dataset(ran.data_root, format="parquet", partitioning="hive").to_table().to_pandas()
    )
    out = _read(ran.output_root / "ray" / "reviews").to_pandas()
    assert set(out.columns) == RAY_COLUMNS
    expected = raw[(raw["total_votes"] > 0) & (raw["marketplace"] == "US")]
    assert len(out) == len(expected) > 0
    assert set(out["review_id"]) == set(expected["review_id"])
    assert set(out["product_category"]) == CATEGORIES
    assert (out["marketplace"] == "US").all()
    assert (out["total_votes"] > 0).all()
    assert out["helpful_votes_ratio"].between(0, 1).all()
    ratio = out["helpful_votes"] / out["total_votes"]
    assert (abs(out["helpful_votes_ratio"] - ratio) < 1e-12).all()
    assert (out["low_rating"] == (out["star_rating"] <= 2)).all()
    low = _read(ran.output_root / "ray" / "low_rated").to_pandas()
    assert len(low) == int(out["low_rating"].sum())
    assert (low["star_rating"] <= 2).all()
    marker = json.loads((ran.output_root / "ray" / "_SUCCESS").read_text())
    assert marker["input_rows"] == ROWS
    assert marker["output_rows"] == len(out)
    assert marker["source"] == "reviews.raw_reviews"
    assert marker["workflow_run_id"] == ran.run["WorkflowRunId"]


# --- quality_check ------------------------------------------------------------------------------


@on_the_run
def test_quality_check_passes_on_the_ray_output(ran: Ran) -> None:
    quality = json.loads((ran.output_root / "quality.json").read_text())
    assert quality["passed"] is True
    assert quality["workflow_run_id"] == ran.run["WorkflowRunId"]
    assert all(check["passed"] for check in quality["checks"])


def _bad_reviews(output_root: Path) -> None:
    reviews = pa.table(
        {
            "review_id": ["R1", "R2", "R3"],
            "product_id": ["B001", "B002", None],
            "product_category": ["Books", "Toys", "Toys"],
            "marketplace": ["US", "UK", "US"],
            "star_rating": pa.array([5, 9, 1], pa.int32()),
            "total_votes": pa.array([2, 0, 1], pa.int32()),
            "helpful_votes_ratio": [0.5, 0.0, 1.5],
            "low_rating": [False, False, True],
        }
    )
    (output_root / "ray" / "reviews").mkdir(parents=True)
    (output_root / "ray" / "low_rated").mkdir(parents=True)
    pq.write_table(reviews, output_root / "ray" / "reviews" / "part-0.parquet")
    low = reviews.filter(pa.array([False, False, True]))
    pq.write_table(low, output_root / "ray" / "low_rated" / "part-0.parquet")


def test_quality_check_fails_on_bad_data_with_a_clear_message(tmp_path: Path) -> None:
    _bad_reviews(tmp_path)
    proc = run_script("quality_check.py", _glue_argv("quality_check", output_root=str(tmp_path)))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith("quality check failed:")
    for name in (
        "no nulls in key columns",
        "star_rating in 1..5",
        "marketplace is US",
        "total_votes > 0",
    ):
        assert name in message
    assert "helpful_votes_ratio in [0, 1] (violated by 1 of 3 rows)" in message
    quality = json.loads((tmp_path / "quality.json").read_text())
    assert quality["passed"] is False


def test_quality_check_without_ray_output_fails_clearly(tmp_path: Path) -> None:
    proc = run_script("quality_check.py", _glue_argv("quality_check", output_root=str(tmp_path)))
    assert proc.returncode != 0
    assert "did ray_transform run?" in proc.stderr


# --- spark_aggregate and report -----------------------------------------------------------------


@on_the_run
def test_spark_aggregate_summarises_each_category(ran: Ran) -> None:
    reviews = _read(ran.output_root / "ray" / "reviews").to_pandas()
    summary = json.loads((ran.output_root / "spark" / "summary.json").read_text())
    assert summary["workflow_run_id"] == ran.run["WorkflowRunId"]
    assert summary["source"] == "reviews.curated_reviews"
    rows = {r["product_category"]: r for r in summary["categories"]}
    assert set(rows) == CATEGORIES
    assert summary["total_reviews"] == len(reviews)
    for category, group in reviews.groupby("product_category"):
        row = rows[category]
        assert row["reviews"] == len(group)
        assert row["products"] == group["product_id"].nunique()
        assert row["avg_star_rating"] == pytest.approx(group["star_rating"].mean(), abs=1e-3)
        assert row["avg_helpful_votes_ratio"] == pytest.approx(
            group["helpful_votes_ratio"].mean(), abs=1e-3
        )
        assert row["low_rating_share"] == pytest.approx(group["low_rating"].mean(), abs=1e-3)
    by_category = _read(ran.output_root / "spark" / "by_category")
    assert sorted(by_category.column("product_category").to_pylist()) == sorted(CATEGORIES)


@on_the_run
def test_report_tables_every_category(ran: Ran) -> None:
    report = (ran.output_root / "report.md").read_text()
    for category in CATEGORIES:
        assert f"| {category} |" in report
    assert "Data quality: passed" in report
    assert ran.run["WorkflowRunId"] in report
    assert ran.run["WorkflowRunProperties"]["report"] == str(ran.output_root / "report.md")


def test_report_refuses_another_runs_outputs(tmp_path: Path) -> None:
    (tmp_path / "spark").mkdir()
    stale = {"workflow_run_id": "wr_old", "categories": [], "total_reviews": 0}
    (tmp_path / "spark" / "summary.json").write_text(json.dumps(stale))
    (tmp_path / "quality.json").write_text(
        json.dumps({**stale, "passed": True, "rows": 0, "checks": []})
    )
    proc = run_script("report.py", _glue_argv("report", output_root=str(tmp_path)))
    assert proc.returncode != 0
    assert "belongs to workflow run wr_old" in proc.stderr


# --- notify_failure -----------------------------------------------------------------------------


def test_notify_failure_says_how_far_the_run_got(tmp_path: Path) -> None:
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "_SUCCESS").write_text(json.dumps({"workflow_run_id": RUN_ID}))
    failed_checks = {
        "workflow_run_id": RUN_ID,
        "passed": False,
        "checks": [{"name": "marketplace is US", "passed": False}],
    }
    (tmp_path / "quality.json").write_text(json.dumps(failed_checks))
    stdout = _ok(
        run_script("notify_failure.py", _glue_argv("notify_failure", output_root=str(tmp_path)))
    )
    text = (tmp_path / "FAILED.txt").read_text()
    assert text.strip() in stdout
    assert RUN_ID in text
    assert "ray_transform: output written" in text
    assert "quality_check: failed checks: marketplace is US" in text
    assert "spark_aggregate: no output" in text


# --- the definition file ------------------------------------------------------------------------


def test_workflow_definition_loads_with_the_expected_shape() -> None:
    path = EXAMPLE / "workflow.yaml"
    loaded = loading.load_files([path])
    jobs = {job.name: job for job in loaded.jobs}
    assert {name: job.command.name for name, job in jobs.items()} == {
        "generate": "pythonshell",
        "ray_transform": "glueray",
        "spark_aggregate": "glueetl",
        "quality_check": "pythonshell",
        "report": "pythonshell",
        "notify_failure": "pythonshell",
    }
    for job in jobs.values():
        assert Path(job.command.script_location).is_file()
        assert job.timeout is not None
    crawlers = {c.name: c for c in loaded.crawlers}
    assert set(crawlers) == CRAWLERS
    assert {c.database_name for c in crawlers.values()} == {"reviews"}
    assert [d.name for d in loaded.databases] == ["reviews"]
    # Relative target paths are taken relative to the file's folder, as ScriptLocation is.
    assert crawlers["catalog_raw"].targets["S3Targets"] == [{"Path": str(EXAMPLE / "data" / "raw" / "reviews")}]
    assert crawlers["catalog_out"].targets["S3Targets"] == [
        {"Path": str(EXAMPLE / "data" / "out" / "spark" / "by_category")}
    ]
    triggers = {t.name: t for t in loaded.triggers}

    def actions(name: str) -> list[str | None]:
        return [a.job_name or a.crawler_name for a in triggers[name].actions]

    def watches(name: str) -> set[tuple[str | None, str]]:
        predicate = triggers[name].predicate
        assert predicate is not None
        return {(c.job_name or c.crawler_name, str(c.state or c.crawl_state)) for c in predicate.conditions}

    assert actions("after-generate") == ["catalog_raw"]
    assert watches("after-raw-crawl") == {("catalog_raw", "SUCCEEDED")}
    assert actions("after-raw-crawl") == ["ray_transform"]
    assert actions("after-ray") == ["catalog_curated", "quality_check"]
    assert watches("after-curated-crawl") == {("catalog_curated", "SUCCEEDED")}
    assert actions("after-curated-crawl") == ["spark_aggregate"]
    both = triggers["both-done"].predicate
    assert both is not None and both.logical == "AND"
    assert actions("after-report") == ["catalog_out"]
    failure = triggers["on-failure"].predicate
    assert failure is not None and failure.logical == "ANY"
    assert {n for n, _ in watches("on-failure")} == (set(jobs) - {"notify_failure"}) | CRAWLERS
    # The jobs that read the catalog name their table, not a folder.
    assert jobs["ray_transform"].default_arguments["--table"] == "raw_reviews"
    assert "--data_root" not in jobs["ray_transform"].default_arguments
    assert jobs["spark_aggregate"].default_arguments["--table"] == "curated_reviews"
    raw = yaml.safe_load(path.read_text())
    assert all(t.get("WorkflowName") == "reviews" for t in raw["Triggers"])


def _failures(run: dict[str, Any]) -> dict[str, str]:
    nodes = Ran(run, Path(), Path(), "", Settings()).nodes
    return {n: r.get("ErrorMessage") or "" for n, r in {**nodes("JOB"), **nodes("CRAWLER")}.items()
            if r.get("ErrorMessage")}


@on_the_run
def test_later_runs_transform_only_the_new_partitions(ran: Ran) -> None:
    """The Ray job's bookmark: a run with no new input transforms nothing (and the pipeline still
    reports on everything); a new category is transformed alone. Runs after the other tests of
    the first run, which it leaves as they were."""
    reviews = ran.output_root / "ray" / "reviews"
    before = _read(reviews).num_rows
    second = _run_workflow(ran.settings)
    assert second["Status"] == "COMPLETED" and second["Statistics"]["FailedActions"] == 0, _failures(second)
    marker = json.loads((ran.output_root / "ray" / "_SUCCESS").read_text())
    assert (marker["input_rows"], marker["partitions"]) == (0, [])
    assert _read(reviews).num_rows == before and (ran.output_root / "report.md").is_file()
    # A new category lands: other reviews (another seed), in a folder of its own.
    fresh = ran.data_root.parent / "fresh"
    _ok(subprocess.run([sys.executable, str(EXAMPLE / "generate.py"), "--rows", "600", "--out", str(fresh),
                        "--seed", "99"], capture_output=True, text=True, check=False))
    shutil.copytree(fresh / "product_category=Books", ran.data_root / "product_category=Zines")
    books = pq.read_table(fresh / "product_category=Books").num_rows
    third = _run_workflow(ran.settings)
    assert third["Status"] == "COMPLETED" and third["Statistics"]["FailedActions"] == 0, _failures(third)
    marker = json.loads((ran.output_root / "ray" / "_SUCCESS").read_text())
    assert (marker["input_rows"], marker["partitions"]) == (books, ["Zines"])
    assert _read(reviews).num_rows == before + marker["output_rows"]
