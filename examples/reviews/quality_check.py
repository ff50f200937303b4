"""Data-quality checks on the Ray output (a pythonshell job, pandas and pyarrow only).

Checks ``<output_root>/ray/reviews/`` against what the transform promises, writes every
check's outcome to ``<output_root>/quality.json`` and exits non-zero, naming the failed
checks, when any fails. Arguments: ``--output_root DIR`` (relative to this script's folder).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds

from orchestrator.runtime import getResolvedOptions

HERE = Path(__file__).resolve().parent
KEY_COLUMNS = [
    "review_id",
    "product_id",
    "product_category",
    "marketplace",
    "star_rating",
    "total_votes",
    "helpful_votes_ratio",
    "low_rating",
]
LOW_RATING_MAX_STARS = 2


def _resolve(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else (HERE / p).resolve()


def _options(argv: list[str]) -> dict[str, str]:
    optional = [name for name in ("WORKFLOW_NAME", "WORKFLOW_RUN_ID") if f"--{name}" in argv]
    return getResolvedOptions(argv, ["output_root", *optional])


def _read(path: Path) -> pd.DataFrame:
    if not path.is_dir():
        raise SystemExit(f"quality check failed: {path} does not exist (did ray_transform run?)")
    return ds.dataset(path, format="parquet").to_table().to_pandas()


def _count(mask: pd.Series) -> str:
    return f"{int(mask.sum())} of {len(mask)} rows"


def run_checks(reviews: pd.DataFrame, low_rated: pd.DataFrame) -> list[dict[str, object]]:
    """Every check as {name, passed, detail}; a check never raises on bad data."""
    missing = [c for c in KEY_COLUMNS if c not in reviews.columns]
    if missing:
        return [{"name": "columns present", "passed": False, "detail": f"missing {missing}"}]

    def in_range(column: str, low: float, high: float) -> pd.Series:
        return ~reviews[column].between(low, high)

    checks: list[tuple[str, Callable[[], pd.Series | bool], str]] = [
        ("row count > 0", lambda: len(reviews) > 0, f"{len(reviews)} rows"),
        ("no nulls in key columns", lambda: reviews[KEY_COLUMNS].isna().any(axis=1), ""),
        ("star_rating in 1..5", lambda: in_range("star_rating", 1, 5), ""),
        ("helpful_votes_ratio in [0, 1]", lambda: in_range("helpful_votes_ratio", 0.0, 1.0), ""),
        ("marketplace is US", lambda: reviews["marketplace"] != "US", ""),
        ("total_votes > 0", lambda: ~(reviews["total_votes"] > 0), ""),
        ("review_id unique", lambda: reviews["review_id"].duplicated(), ""),
        (
            f"low_rating == (star_rating <= {LOW_RATING_MAX_STARS})",
            lambda: reviews["low_rating"] != (reviews["star_rating"] <= LOW_RATING_MAX_STARS),
            "",
        ),
        (
            "actor-pool low-rated rows match the task UDF's flag",
            lambda: len(low_rated) == int(reviews["low_rating"].sum()),
            f"{len(low_rated)} low-rated rows, {int(reviews['low_rating'].sum())} flagged",
        ),
    ]
    results: list[dict[str, object]] = []
    for name, check, detail in checks:
        outcome = check()
        if isinstance(outcome, pd.Series):  # a mask of the offending rows
            passed = not bool(outcome.any())
            detail = "ok" if passed else f"violated by {_count(outcome)}"
        else:
            passed = bool(outcome)
        results.append({"name": name, "passed": passed, "detail": detail})
    return results


def main(argv: list[str]) -> None:
    args = _options(argv)
    output_root = _resolve(args["output_root"])
    reviews = _read(output_root / "ray" / "reviews")
    low_rated = _read(output_root / "ray" / "low_rated")
    results = run_checks(reviews, low_rated)
    failed = [r for r in results if not r["passed"]]
    report = {
        "passed": not failed,
        "rows": len(reviews),
        "checks": results,
        "workflow_run_id": args.get("WORKFLOW_RUN_ID"),
    }
    out = output_root / "quality.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    for r in results:
        print(f"{'PASS' if r['passed'] else 'FAIL'}  {r['name']}: {r['detail']}")
    print(f"wrote {out}")
    if failed:
        summary = "; ".join(f"{r['name']} ({r['detail']})" for r in failed)
        raise SystemExit(f"quality check failed: {summary}")


if __name__ == "__main__":
    main(sys.argv)
