"""Ray Data reads of files the Data Catalog describes (``orchestrator.runtime.catalog.ray_dataset``):
the reader of the table's classification, Hive partition columns from the folders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def read(kind: str, paths: Sequence[str], *, base_dir: str | None, delimiter: str = ",",
         column_names: Sequence[str] | None = None, **options: Any) -> Any:
    """``ray.data.read_parquet/json/csv`` over ``paths``; ``base_dir``: where the Hive partition
    folders start (None: unpartitioned); CSV without a header row takes ``column_names``."""
    import ray.data
    from ray.data.datasource import Partitioning

    if base_dir is not None:
        options.setdefault("partitioning", Partitioning("hive", base_dir=base_dir))
    if kind == "parquet":
        return ray.data.read_parquet(list(paths), **options)
    if kind == "json":
        return ray.data.read_json(list(paths), **options)
    import pyarrow.csv

    options.setdefault("parse_options", pyarrow.csv.ParseOptions(delimiter=delimiter))
    if column_names is not None:
        options.setdefault("read_options", pyarrow.csv.ReadOptions(column_names=list(column_names)))
    return ray.data.read_csv(list(paths), **options)
