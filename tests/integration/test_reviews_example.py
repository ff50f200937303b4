"""The reviews example's job scripts, each run as adhere would run it: a subprocess with Glue argv.

The chain generate -> ray_transform -> quality_check -> spark_aggregate -> report runs once per
module on 2,000 rows. Ray and Spark parts skip when missing, unless ADHERE_REQUIRE_SERVICES=1.
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
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

if importlib.util.find_spec("pyarrow") is None:  # the test extras alone: no Ray, no Spark
    if os.environ.get("ADHERE_REQUIRE_SERVICES") == "1":
        pytest.fail("the reviews example needs pyarrow (ADHERE_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip("the reviews example needs pyarrow (adhere[ray] or adhere[spark])", allow_module_level=True)

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from orchestrator.definitions import loading

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "reviews"
ROWS = 2_000
SEED = 11
RUN_ID = "wr_" + "0" * 63 + "1"
REQUIRE_SERVICES = os.environ.get("ADHERE_REQUIRE_SERVICES") == "1"
CATEGORIES = {"Books", "Electronics", "Kitchen", "Sports", "Toys", "Wireless"}
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


def _kill_processes_mentioning(text: str) -> None:
    """End processes whose command line names ``text`` (this test's private Ray temp dir)."""
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc_dir / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            with contextlib.suppress(OSError):
                os.kill(int(proc_dir.name), signal.SIGKILL)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _read(path: Path) -> pa.Table:
    return ds.dataset(path, format="parquet").to_table()


@dataclass
class Paths:
    data_root: Path
    output_root: Path


# --- fixtures: one pipeline per module, each stage after the one before -------------------------


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


@pytest.fixture(scope="module")
def ray_done(generated: Paths) -> Iterator[Paths]:
    _need_ray()
    # No RAY_ADDRESS, and a temp dir of our own: ray.init() in the script starts a private
    # local cluster instead of joining whichever `ray start` cluster runs on this host.
    ray_tmp = tempfile.mkdtemp(prefix="rv")  # short: Ray's socket paths must stay < 108 bytes
    try:
        # A private cluster needs no token: this also keeps it off ~/.ray/auth_token, which
        # other Ray users on this host may be rewriting.
        env = _env(RAY_TMPDIR=ray_tmp, RAY_AUTH_MODE="disabled")
        argv = _glue_argv(
            "ray_transform",
            data_root=str(generated.data_root),
            output_root=str(generated.output_root),
        )
        _ok(run_script("ray_transform.py", argv, env=env, timeout=180))
        yield generated
    finally:
        # The script's ray.shutdown() stops its cluster; this only matters if it was killed.
        _kill_processes_mentioning(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def spark_done(ray_done: Paths) -> Paths:
    spark_submit = _spark_submit()
    local = tempfile.mkdtemp(prefix="rvspark")
    try:
        env = _env(
            SPARK_HOME=str(spark_submit.parent.parent),
            PYSPARK_PYTHON=sys.executable,
            PYSPARK_DRIVER_PYTHON=sys.executable,
            SPARK_LOCAL_DIRS=local,
        )
        argv = [
            str(spark_submit),
            "--master",
            "local[2]",
            "--conf",
            "spark.ui.enabled=false",
            "--driver-java-options",
            f"-Djava.io.tmpdir={local}",
            str(EXAMPLE / "spark_aggregate.py"),
            *_glue_argv("spark_aggregate", output_root=str(ray_done.output_root)),
        ]
        _ok(run(argv, env=env, timeout=180))
    finally:
        shutil.rmtree(local, ignore_errors=True)
    return ray_done


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


# --- ray_transform ------------------------------------------------------------------------------


@pytest.mark.ray
@pytest.mark.slow
def test_ray_transform_applies_the_post_transformations(ray_done: Paths) -> None:
    raw = (
        ds.dataset(ray_done.data_root, format="parquet", partitioning="hive").to_table().to_pandas()
    )
    out = _read(ray_done.output_root / "ray" / "reviews").to_pandas()
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
    low = _read(ray_done.output_root / "ray" / "low_rated").to_pandas()
    assert len(low) == int(out["low_rating"].sum())
    assert (low["star_rating"] <= 2).all()
    marker = json.loads((ray_done.output_root / "ray" / "_SUCCESS").read_text())
    assert marker["input_rows"] == ROWS
    assert marker["output_rows"] == len(out)
    assert marker["workflow_run_id"] == RUN_ID


# --- quality_check ------------------------------------------------------------------------------


@pytest.mark.ray
@pytest.mark.slow
def test_quality_check_passes_on_the_ray_output(ray_done: Paths) -> None:
    stdout = _ok(
        run_script(
            "quality_check.py", _glue_argv("quality_check", output_root=str(ray_done.output_root))
        )
    )
    assert "FAIL" not in stdout
    quality = json.loads((ray_done.output_root / "quality.json").read_text())
    assert quality["passed"] is True
    assert quality["workflow_run_id"] == RUN_ID
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


@pytest.mark.ray
@pytest.mark.spark
@pytest.mark.slow
def test_spark_aggregate_summarises_each_category(spark_done: Paths) -> None:
    reviews = _read(spark_done.output_root / "ray" / "reviews").to_pandas()
    summary = json.loads((spark_done.output_root / "spark" / "summary.json").read_text())
    assert summary["workflow_run_id"] == RUN_ID
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
    by_category = _read(spark_done.output_root / "spark" / "by_category")
    assert sorted(by_category.column("product_category").to_pylist()) == sorted(CATEGORIES)


@pytest.mark.ray
@pytest.mark.spark
@pytest.mark.slow
def test_report_tables_every_category(spark_done: Paths) -> None:
    _ok(
        run_script(
            "quality_check.py", _glue_argv("quality_check", output_root=str(spark_done.output_root))
        )
    )
    stdout = _ok(
        run_script("report.py", _glue_argv("report", output_root=str(spark_done.output_root)))
    )
    report = (spark_done.output_root / "report.md").read_text()
    assert report in stdout
    for category in CATEGORIES:
        assert f"| {category} |" in report
    assert "Data quality: passed" in report
    assert RUN_ID in report


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
    triggers = {t.name: t for t in loaded.triggers}
    assert [a.job_name for a in triggers["after-ray"].actions] == [
        "spark_aggregate",
        "quality_check",
    ]
    both = triggers["both-done"].predicate
    assert both is not None and both.logical == "AND"
    failure = triggers["on-failure"].predicate
    assert failure is not None and failure.logical == "ANY"
    watched = {c.job_name for c in failure.conditions}
    assert watched == set(jobs) - {"notify_failure"}
    raw = yaml.safe_load(path.read_text())
    assert all(t.get("WorkflowName") == "reviews" for t in raw["Triggers"])
