"""The flagship example as the README's first command runs it: `adhere apply` + `adhere run reviews`,
through the real Ray and Spark engines (on a small dataset, in a copy of the example folder)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Project

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "reviews"

pytestmark = [pytest.mark.ray, pytest.mark.spark, pytest.mark.slow]


def skip_or_fail(reason: str) -> None:
    if os.environ.get("ADHERE_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def test_adhere_run_reviews_end_to_end(sqlite_project: Project) -> None:
    project = sqlite_project
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("pyspark") is None:
        skip_or_fail("the reviews workflow needs adhere[ray] and adhere[spark]")
    if shutil.which("java") is None:
        skip_or_fail("the reviews workflow's Spark step needs Java")
    example = project.dir / "reviews"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("data", ".adhere", "__pycache__"))
    definition = example / "workflow.yaml"
    text = definition.read_text()
    assert '--rows: "20000"' in text
    definition.write_text(text.replace('--rows: "20000"', '--rows: "2000"'))

    project.cli("apply", str(definition))
    try:
        run = project.cli("run", "reviews", timeout=420)
    finally:
        from engines import ray_cluster  # stop the cluster this run started, by its PIDs

        ray_cluster.LocalCluster(project.dir / ".adhere" / "engines" / "glueray").stop()
    assert "COMPLETED" in run.out
    for job in ("generate", "ray_transform", "spark_aggregate", "quality_check", "report"):
        assert f"{job}: " in run.out
    assert "notify_failure" not in run.out  # the failure branch did not fire
    report = example / "data" / "out" / "report.md"
    assert report.exists()
    assert f"report = {report}" in run.out  # the run summary says where the outputs are
    assert "| Books |" in report.read_text() or "| Electronics |" in report.read_text()
