"""The Data Catalog as a job script reads it (``from orchestrator.runtime import catalog``).

Glue's GetTable, GetTables and GetPartitions (with its ``Expression``, pruned by the server or
the store) turned into small values, and readers built on them: where a table's data lies
(``locations``), a Ray Dataset (``ray_dataset``) and Spark temporary views
(``register_spark_views``). It reaches the catalog as ``orchestrator.runtime`` reaches run
properties: the serve in ``ADHERE_ENDPOINT`` (boto3 ``glue``), else the store in
``ADHERE_DB_URL``; a notebook sets one of them. Errors are adhere's (EntityNotFoundException,
InvalidInputException naming the bad token of an expression) whichever way it went.
Ray, PySpark, boto3 and the store are imported only by the call that needs them.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator import errors

__all__ = ["Partition", "Table", "locations", "partitions", "ray_dataset", "register_spark_views",
           "spark_dataframe", "table", "tables"]

TABLES_PAGE, PARTITIONS_PAGE = 100, 1000  # the largest pages Glue's GetTables and GetPartitions give
# Readers by classification; a table without one is known by its SerDe or InputFormat.
READABLE = ("parquet", "json", "csv")
_BY_FORMAT = (("parquet", "parquet"), ("json", "json"), ("csv", "csv"), ("lazysimpleserde", "csv"),
              ("orc", "orc"), ("avro", "avro"))
_HIVE_ESCAPED = frozenset('"#%\'*/:=?\\{[]^')


@dataclass(frozen=True)
class Table:
    """A catalog table as a reader needs it; ``glue`` is GetTable's whole ``Table``."""

    database: str
    name: str
    location: str | None
    classification: str | None
    columns: list[tuple[str, str]]
    partition_keys: list[tuple[str, str]]
    input_format: str | None
    serde: str | None
    parameters: dict[str, str]
    serde_parameters: dict[str, str] = field(default_factory=dict)
    glue: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_glue(cls, data: Mapping[str, Any]) -> Table:
        descriptor = data.get("StorageDescriptor") or {}
        serde = descriptor.get("SerdeInfo") or {}
        parameters = dict(data.get("Parameters") or {})
        classification = parameters.get("classification") or (descriptor.get("Parameters") or {}).get("classification")
        return cls(
            database=data["DatabaseName"], name=data["Name"], location=descriptor.get("Location"),
            classification=(classification or _known_by(descriptor, serde) or "").lower() or None,
            columns=_columns(descriptor.get("Columns")), partition_keys=_columns(data.get("PartitionKeys")),
            input_format=descriptor.get("InputFormat"), serde=serde.get("SerializationLibrary"),
            parameters=parameters, serde_parameters=dict(serde.get("Parameters") or {}), glue=dict(data),
        )  # fmt: skip

    @property
    def delimiter(self) -> str:
        """A CSV table's field delimiter (the crawler's ``delimiter``, else the SerDe's)."""
        p, s = self.parameters, self.serde_parameters
        return p.get("delimiter") or s.get("field.delim") or s.get("separatorChar") or ","

    @property
    def header(self) -> bool:
        """Whether each CSV file starts with a header line (``skip.header.line.count``)."""
        count = self.parameters.get("skip.header.line.count") or self.serde_parameters.get("skip.header.line.count")
        return bool(count) and count != "0"


@dataclass(frozen=True)
class Partition:
    """One partition: its values, in the order of the table's partition keys, and its folder."""

    values: list[str]
    location: str


def _columns(columns: Any) -> list[tuple[str, str]]:
    return [(c["Name"], c.get("Type") or "string") for c in columns or ()]


def _known_by(descriptor: Mapping[str, Any], serde: Mapping[str, Any]) -> str | None:
    """A classification for a table made by hand (Athena's, say), from its SerDe or InputFormat."""
    text = f"{serde.get('SerializationLibrary') or ''} {descriptor.get('InputFormat') or ''}".lower()
    return next((kind for needle, kind in _BY_FORMAT if needle in text), None)


# --- reading the catalog ------------------------------------------------------------------------


def table(database: str, name: str) -> Table:
    """GetTable."""
    return Table.from_glue(_backend().get_table(database, name))


def tables(database: str) -> list[Table]:
    """GetTables: every table of ``database``, in name order."""
    return [Table.from_glue(t) for t in _backend().get_tables(database)]


def partitions(database: str, name: str, expression: str | None = None) -> list[Partition]:
    """GetPartitions, pruned by Glue's ``expression`` (``"year > '2023' AND region IN ('eu')"``)
    where the catalog lives; a partition without a Location gets its Hive folder under the
    table's."""
    return _partitions(table(database, name), expression)


def locations(database: str, name: str, expression: str | None = None) -> list[str]:
    """What a reader reads: the folders of the partitions matching ``expression``, or the table's
    location when it has no partition keys (an expression is then InvalidInputException)."""
    return _locations(table(database, name), expression)


def _partitions(found: Table, expression: str | None) -> list[Partition]:
    return [_partition(found, p) for p in _backend().get_partitions(found.database, found.name, expression or None)]


def _locations(found: Table, expression: str | None) -> list[str]:
    if found.partition_keys:
        return [p.location for p in _partitions(found, expression)]
    if expression:
        raise errors.InvalidInputException(f"Table {found.name} has no partition keys for an Expression to test")
    return [_location(found)]


def _partition(found: Table, data: Mapping[str, Any]) -> Partition:
    values = list(data.get("Values") or [])
    location = (data.get("StorageDescriptor") or {}).get("Location")
    if not location:
        hive = "".join(f"{_escape(k)}={_escape(v)}/" for (k, _), v in zip(found.partition_keys, values, strict=False))
        location = _folder(_location(found)) + hive
    return Partition(values, location)


def _escape(text: str) -> str:
    """A Hive folder name's escaping (FileUtils.escapePathName): %XX for these characters only."""
    return "".join(f"%{ord(c):02X}" if c in _HIVE_ESCAPED or ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)


def _location(found: Table) -> str:
    if not found.location:
        raise errors.InvalidInputException(f"Table {found.database}.{found.name} has no StorageDescriptor.Location")
    return found.location


def _folder(location: str) -> str:
    return location if location.endswith("/") else location + "/"


# --- Ray -----------------------------------------------------------------------------------------


def ray_dataset(database: str, name: str, expression: str | None = None, **options: Any) -> Any:
    """A Ray Dataset of the table's data in the partitions matching ``expression``: parquet,
    json or csv (the catalog's delimiter and header), partition columns from the Hive folders
    below the table's location. ``options`` go to ``ray.data.read_*`` as they are."""
    from engines import ray_reads  # Ray is the engine's to import, not the orchestrator's

    found = table(database, name)
    kind = _readable(found)
    paths = [_arrow_path(p) for p in _locations(found, expression)]
    base_dir = _arrow_path(_folder(_location(found))) if found.partition_keys else None
    names = None if found.header else [n for n, _ in found.columns]
    return ray_reads.read(kind, paths, base_dir=base_dir, delimiter=found.delimiter, column_names=names, **options)


def _arrow_path(location: str) -> str:
    """A crawler's ``file:///a b/`` as the path ``/a b/`` (pyarrow takes URIs percent-encoded)."""
    return location[7:] if location[:8].lower() == "file:///" else location


def _readable(found: Table) -> str:
    if found.classification not in READABLE:
        raise errors.InvalidInputException(
            f"Table {found.database}.{found.name} is classified {found.classification or 'nothing'}: "
            f"the runtime reads {', '.join(READABLE)}"
        )
    return found.classification


# --- Spark ---------------------------------------------------------------------------------------


def spark_dataframe(spark: Any, database: str, name: str) -> Any:
    """A DataFrame of the whole table: its location read with the reader of its classification,
    ``basePath`` at the location so that Spark adds the Hive folders' partition columns; CSV and
    JSON get the catalog's columns as their schema."""
    return _spark_read(spark, table(database, name))


def register_spark_views(spark: Any, database: str, tables: Sequence[str] | None = None) -> dict[str, Any]:
    """Register catalog tables as temporary views named after them (``spark.sql("select ... from
    t")``); the DataFrames by view name. Without ``tables``: every table of ``database`` of a
    readable classification that no crawler deprecated."""
    if tables is None:
        chosen = [t for t in _all_tables(database)
                  if t.classification in READABLE and "DEPRECATED_BY_CRAWLER" not in t.parameters]
    else:
        chosen = [table(database, name) for name in tables]
    views = {}
    for found in chosen:
        frame = _spark_read(spark, found)
        frame.createOrReplaceTempView(found.name)
        views[found.name] = frame
    return views


_all_tables = tables  # for register_spark_views, whose ``tables`` argument hides the function


def _spark_read(spark: Any, found: Table) -> Any:
    kind = _readable(found)
    path = spark_path(_folder(_location(found)))
    reader = spark.read.option("basePath", path)
    if kind == "parquet":
        return reader.parquet(path)
    reader = reader.schema(", ".join(f"`{n.replace('`', '``')}` {t}" for n, t in found.columns))
    if kind == "json":
        return reader.json(path)
    return reader.options(header=str(found.header).lower(), sep=found.delimiter,
                          quote=found.serde_parameters.get("quoteChar") or '"').csv(path)


def spark_path(location: str) -> str:
    """Glue's ``s3://`` as Hadoop's ``s3a://`` (Spark outside AWS has no ``s3`` file system)."""
    return "s3a://" + location[5:] if location[:5].lower() == "s3://" else location


# --- where the catalog is ------------------------------------------------------------------------


class _Served:
    """The catalog of the serve at ``ADHERE_ENDPOINT``, through boto3."""

    def __init__(self, endpoint: str) -> None:
        from orchestrator import runtime

        self.client, self.errors = runtime._glue(endpoint), runtime._glue_errors

    def get_table(self, database: str, name: str) -> dict[str, Any]:
        with self.errors():
            return dict(self.client.get_table(DatabaseName=database, Name=name)["Table"])

    def get_tables(self, database: str) -> list[dict[str, Any]]:
        return list(self._pages("get_tables", "TableList", TABLES_PAGE, DatabaseName=database))

    def get_partitions(self, database: str, name: str, expression: str | None) -> list[dict[str, Any]]:
        where = {"Expression": expression} if expression else {}
        return list(self._pages("get_partitions", "Partitions", PARTITIONS_PAGE, DatabaseName=database,
                                TableName=name, ExcludeColumnSchema=True, **where))

    def _pages(self, operation: str, key: str, size: int, **request: Any) -> Iterator[dict[str, Any]]:
        with self.errors():
            for page in self.client.get_paginator(operation).paginate(**request, PaginationConfig={"PageSize": size}):
                yield from page[key]


class _Stored:
    """The catalog in the store at ``ADHERE_DB_URL``, through the service (one connection per
    process, closed at exit)."""

    def __init__(self, url: str) -> None:
        from orchestrator import service
        from orchestrator.settings import Settings

        self.db = service.connect(url)
        self.settings = Settings(db_url=url)
        atexit.register(self.db.close)

    def get_table(self, database: str, name: str) -> dict[str, Any]:
        from orchestrator.service import tables as service_tables

        return dict(service_tables.get_table(self.db, self.settings, database, name)["Table"])

    def get_tables(self, database: str) -> list[dict[str, Any]]:
        from orchestrator.service import tables as service_tables

        return self._pages(lambda token: service_tables.get_tables(
            self.db, self.settings, database, next_token=token, max_results=TABLES_PAGE), "TableList")

    def get_partitions(self, database: str, name: str, expression: str | None) -> list[dict[str, Any]]:
        from orchestrator.service import partitions as service_partitions

        return self._pages(lambda token: service_partitions.get_partitions(
            self.db, self.settings, database, name, expression, next_token=token, max_results=PARTITIONS_PAGE,
            exclude_column_schema=True), "Partitions")

    @staticmethod
    def _pages(call: Any, key: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token = None
        while True:
            page = call(token)
            out += page[key]
            token = page.get("NextToken")
            if not token:
                return out


_backends: dict[tuple[int, str], _Served | _Stored] = {}


def _backend() -> _Served | _Stored:
    """The catalog this process reads: one per process and address (a forked worker makes its own)."""
    endpoint, url = os.environ.get("ADHERE_ENDPOINT"), os.environ.get("ADHERE_DB_URL")
    if not (endpoint or url):
        raise RuntimeError("the Data Catalog is reached through a serve or a store: set ADHERE_ENDPOINT "
                           "(http://host:port of `adhere serve`) or ADHERE_DB_URL (the store's URL)")
    key = (os.getpid(), f"endpoint:{endpoint}" if endpoint else f"store:{url}")
    if key not in _backends:
        _backends[key] = _Served(endpoint) if endpoint else _Stored(url)  # type: ignore[arg-type]
    return _backends[key]
