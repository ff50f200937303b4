"""Ratings per product category, with Spark SQL (a glueetl job).

Reads the Ray output as the catalog table ``--table`` (``catalog_curated`` made it), registered
as a temporary view by ``catalog.register_spark_views``, and writes, per product_category, the
number of reviews and products, the average star rating, the average helpful_votes_ratio and
the share of low ratings: as Parquet to ``<output_root>/spark/by_category/`` (``catalog_out``
catalogs it) and as a small JSON summary to ``<output_root>/spark/summary.json``.

Arguments: ``--database NAME --table NAME --output_root DIR`` (output_root relative to this
script's folder). Uses only DataFrame APIs, so it runs under ``spark-submit`` and as a Spark
Connect client alike.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from orchestrator.runtime import catalog, getResolvedOptions

HERE = Path(__file__).resolve().parent


def _resolve(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else (HERE / p).resolve()


def _options(argv: list[str]) -> dict[str, str]:
    optional = [name for name in ("WORKFLOW_NAME", "WORKFLOW_RUN_ID") if f"--{name}" in argv]
    return getResolvedOptions(argv, ["database", "table", "output_root", *optional])


def aggregate(reviews: DataFrame) -> DataFrame:
    """One row per product_category, sorted by category."""
    return (
        reviews.groupBy("product_category")
        .agg(
            F.count(F.lit(1)).alias("reviews"),
            F.countDistinct("product_id").alias("products"),
            F.round(F.avg("star_rating"), 3).alias("avg_star_rating"),
            F.round(F.avg("helpful_votes_ratio"), 3).alias("avg_helpful_votes_ratio"),
            F.round(F.avg(F.col("low_rating").cast("double")), 3).alias("low_rating_share"),
        )
        .orderBy("product_category")
    )


def main(argv: list[str]) -> None:
    args = _options(argv)
    database, table = args["database"], args["table"]
    output_root = _resolve(args["output_root"])
    out_dir = output_root / "spark"
    started = time.perf_counter()
    spark = SparkSession.builder.appName("reviews-spark-aggregate").getOrCreate()
    try:
        # A few rows per category: a handful of shuffle partitions is plenty.
        spark.conf.set("spark.sql.shuffle.partitions", "4")
        # The view reads the table's location with its format's reader (catalog locations are
        # URLs: a Spark Connect server need not share this process's cwd).
        catalog.register_spark_views(spark, database, [table])
        by_category = aggregate(spark.table(table))
        by_category.coalesce(1).write.mode("overwrite").parquet((out_dir / "by_category").as_uri())
        rows: list[dict[str, Any]] = [row.asDict() for row in by_category.collect()]
    finally:
        spark.stop()
    summary = {
        "source": f"{database}.{table}",
        "workflow_run_id": args.get("WORKFLOW_RUN_ID"),
        "categories": rows,
        "total_reviews": sum(r["reviews"] for r in rows),
    }
    summary_path = out_dir / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    for r in rows:
        print(
            f"{r['product_category']:<12} reviews={r['reviews']:>6} "
            f"avg_stars={r['avg_star_rating']:.2f} low_share={r['low_rating_share']:.3f}"
        )
    print(
        f"wrote {out_dir / 'by_category'} and {summary_path} "
        f"in {time.perf_counter() - started:.1f}s"
    )


if __name__ == "__main__":
    main(sys.argv)
