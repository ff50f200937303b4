"""The reviews transform of the "Introducing AWS Glue for Ray" post, with Ray Data (a glueray job).

Finds the raw reviews through the Data Catalog (the table ``catalog_raw`` made of the generated
Parquet, partitioned by product_category) and, with a job bookmark, reads only the partitions no
successful run has processed yet: a second run with no new input transforms nothing, a new
category is transformed alone. It keeps US reviews that got votes, adds
``helpful_votes_ratio``, drops the text columns, flags low ratings with a task UDF, sorts by
``total_votes`` and adds the result to ``<output_root>/ray/reviews/``. The same low-rating test
then runs again as a callable class on a fixed actor pool and adds the low-rated reviews, with
their products, to ``<output_root>/ray/low_rated/``. (To start over: ``adhere bookmark reset
ray_transform`` and remove ``data/out``: a reset never touches output.)

Arguments: ``--database NAME --table NAME --output_root DIR`` and, optionally, ``--partitions
EXPR`` (Glue's partition expression, such as ``product_category IN ('Books', 'Toys')``, pruned by
the catalog); a relative output_root is taken relative to this script's folder. The catalog is
the one of the adhere that started the job (``ADHERE_DB_URL`` or ``ADHERE_ENDPOINT``; set one to
run the script by hand). Calls ``ray.init()`` with no arguments: inside adhere, ``RAY_ADDRESS``
points it at adhere's cluster; run by hand, it starts (or joins) a local one.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
import ray
import ray.data
from ray.data.expressions import col

from orchestrator.runtime import Job, catalog, getResolvedOptions

HERE = Path(__file__).resolve().parent
LOW_RATING_MAX_STARS = 2
DROPPED_COLUMNS = [
    "review_body",
    "review_headline",
    "product_title",
    "product_parent",
    "vine",
    "verified_purchase",
]
# What each run writes anew under output_root: cleared when a new run's outputs begin here, so a
# report never mixes two runs. The Ray output grows run by run (the bookmark's new partitions).
RUN_OUTPUTS = ["spark", "quality.json", "report.md", "FAILED.txt"]
LOW_RATED_COLUMNS = ["review_id", "product_id", "product_category", "star_rating", "total_votes"]


def _resolve(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else (HERE / p).resolve()


def _options(argv: list[str]) -> dict[str, str]:
    # Glue's getResolvedOptions makes every named option required, so ask for the workflow
    # ids only when the orchestrator passed them (it does inside a workflow run).
    optional = [name for name in ("JOB_NAME", "JOB_RUN_ID", "WORKFLOW_NAME", "WORKFLOW_RUN_ID", "partitions")
                if f"--{name}" in argv]
    return getResolvedOptions(argv, ["database", "table", "output_root", *optional])


def helpful_votes_ratio(batch: pd.DataFrame) -> pd.Series:
    """helpful_votes / total_votes, and 0 for a review nobody voted on."""
    total = batch["total_votes"].astype("float64")
    ratio = batch["helpful_votes"].astype("float64") / total.where(total > 0)
    return ratio.fillna(0.0)


def flag_low_rating(batch: pd.DataFrame) -> pd.DataFrame:
    """Task UDF: mark the reviews with at most LOW_RATING_MAX_STARS stars."""
    batch["low_rating"] = batch["star_rating"] <= LOW_RATING_MAX_STARS
    return batch


class LowRatedProducts:
    """Actor UDF: the same test as ``flag_low_rating``, as a stateful callable class.

    The constructor runs once per actor (in the post, the place for expensive setup such as
    loading a model); each call keeps only the low-rated reviews and the product they are about.
    """

    def __init__(self, max_stars: int) -> None:
        self.max_stars = max_stars

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        low = batch[batch["star_rating"] <= self.max_stars]
        return low[LOW_RATED_COLUMNS]


def transform(raw: ray.data.Dataset, out_dir: Path) -> dict[str, object]:
    """Run the Ray Data pipeline over ``raw``; return the counts and output paths."""
    input_rows = raw.count()
    reviews = (
        raw.filter(expr=(col("total_votes") > 0) & (col("marketplace") == "US"))
        .add_column("helpful_votes_ratio", helpful_votes_ratio, batch_format="pandas")
        .drop_columns(DROPPED_COLUMNS)
        .map_batches(flag_low_rating, batch_format="pandas")
        .sort("total_votes")
        .materialize()  # computed once: written below and fed to the actor pool
    )
    low_rated = reviews.map_batches(
        LowRatedProducts,
        fn_constructor_kwargs={"max_stars": LOW_RATING_MAX_STARS},
        batch_format="pandas",
        # Two actors of half a CPU each: the pool cannot starve the tasks that feed and
        # drain it, even on a 2-CPU cluster.
        compute=ray.data.ActorPoolStrategy(size=2),
        num_cpus=0.5,
    ).materialize()
    reviews_path = out_dir / "reviews"
    low_rated_path = out_dir / "low_rated"
    reviews.write_parquet(str(reviews_path))
    low_rated.write_parquet(str(low_rated_path))
    return {
        "input_rows": input_rows,
        "output_rows": reviews.count(),  # materialized: counting is free
        "low_rated_rows": low_rated.count(),
        "columns": reviews.columns(),
        "reviews_path": str(reviews_path),
        "low_rated_path": str(low_rated_path),
    }


def _clear_previous_outputs(output_root: Path) -> None:
    for name in RUN_OUTPUTS:
        path = output_root / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _share_output_location(out_dir: Path, args: dict[str, str]) -> None:
    # A nicety only: downstream jobs get their paths from their own arguments.
    if "WORKFLOW_RUN_ID" not in args:
        return
    try:
        from orchestrator.runtime import put_run_properties

        put_run_properties({"reviews_ray_output": str(out_dir)})
    except Exception as exc:  # not in a workflow run, or the store is unreachable
        print(f"(run properties not updated: {exc})")


def _only(partitions: list[catalog.Partition], expression: str | None) -> str:
    """The partition expression of exactly these partitions (and the user's, if any)."""
    quoted = ", ".join("'" + p.values[0].replace("'", "''") + "'" for p in partitions)
    chosen = f"product_category IN ({quoted})"
    return f"({expression}) AND {chosen}" if expression else chosen


def main(argv: list[str]) -> None:
    args = _options(argv)
    database, table, expression = args["database"], args["table"], args.get("partitions")
    output_root = _resolve(args["output_root"])
    out_dir = output_root / "ray"
    # The catalog says where the data is, its format and its partitions (EntityNotFoundException
    # when the crawler has not made the table); the bookmark, which of them are new.
    source = catalog.table(database, table)
    # A run adhere started has a bookmark; run by hand, the script reads every partition.
    job = Job().init(args["JOB_NAME"], args) if "JOB_RUN_ID" in args else None
    new = (job.partitions("raw_reviews", database, table, expression) if job
           else sorted(catalog.partitions(database, table, expression), key=lambda p: p.values))
    print(f"input: {database}.{table} ({source.classification}) at {source.location}, "
          f"{len(new)} partition folders to process: {', '.join(p.values[0] for p in new) or 'none'}")
    started = time.perf_counter()
    _clear_previous_outputs(output_root)  # what downstream jobs write anew; the Ray output grows
    out_dir.mkdir(parents=True, exist_ok=True)
    if new:
        ray.init()
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            # Hive partitioning adds product_category, a partition key of the table.
            result = transform(catalog.ray_dataset(database, table, _only(new, expression)), out_dir)
        finally:
            ray.shutdown()
    else:
        result = {"input_rows": 0, "output_rows": 0, "low_rated_rows": 0,
                  "reviews_path": str(out_dir / "reviews"), "low_rated_path": str(out_dir / "low_rated")}
    result["source"] = f"{database}.{table}"
    result["partitions"] = [p.values[0] for p in new]
    result["workflow_run_id"] = args.get("WORKFLOW_RUN_ID")
    result["seconds"] = round(time.perf_counter() - started, 2)
    (out_dir / "_SUCCESS").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"read {result['input_rows']} new reviews from {database}.{table}; "
        f"added {result['output_rows']} US reviews with votes to {result['reviews_path']} "
        f"and {result['low_rated_rows']} low-rated reviews to {result['low_rated_path']} "
        f"in {result['seconds']}s"
    )
    _share_output_location(out_dir, args)
    if job is not None:
        job.commit()  # applied when this run ends SUCCEEDED


if __name__ == "__main__":
    main(sys.argv)
