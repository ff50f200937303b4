"""The job-side runtime API: what a job script imports (the role of awsglue.utils).

Importable with the standard library alone; the orchestrator is reached lazily, only when a
script reads or writes workflow run properties or reads the Data Catalog: through Glue's API of
the `adhere serve` that started the job when it passes ``ADHERE_ENDPOINT`` (a boto3 ``glue``
client, signed with the first of ``ADHERE_ACCESS_KEYS`` when given: a job on a remote cluster
needs no store URL), else through the store whose URL an `adhere run` passes in
``ADHERE_DB_URL``. A notebook or any Python process that sets one of the two works the same.

    getResolvedOptions(argv, ["name", ...]) -> {"name": value}
    get_run_properties() -> dict[str, str]            # GetWorkflowRunProperties, this run
    put_run_properties({"key": "value"})              # PutWorkflowRunProperties, this run
    events() -> list[dict]                            # the events whose batch started this run,
                                                      # whole (Glue passes only aws:eventIds)

The Data Catalog (``orchestrator.runtime_catalog``, loaded on first use of ``catalog``):

    from orchestrator.runtime import catalog
    catalog.table(database, name) -> Table            # GetTable: database, name, location,
                                                      # classification, columns, partition_keys,
                                                      # input_format, serde, parameters
    catalog.tables(database) -> list[Table]           # GetTables
    catalog.partitions(database, name, expression=None) -> list[Partition(values, location)]
    catalog.locations(database, name, expression=None) -> list[str]
                                                      # the matching partitions' folders, or the
                                                      # table's location when it has no partitions
    catalog.ray_dataset(database, name, expression=None, **read_options) -> ray.data.Dataset
    catalog.register_spark_views(spark, database, tables=None) -> {view name: DataFrame}
    catalog.spark_dataframe(spark, database, name) -> DataFrame

``expression`` is GetPartitions' (``"year >= '2024' AND region IN ('eu', 'us')"``), pruned by the
serve or the store. A missing table is EntityNotFoundException and a bad expression
InvalidInputException naming its token, as adhere's errors whichever way the catalog was reached.

Job bookmarks (``orchestrator.runtime_bookmarks``, loaded on first use of ``Job``), by
``transformation_ctx`` (None or "": not bookmarked) and ``--job-bookmark-option``:

    from orchestrator.runtime import Job
    job = Job()
    job.init(args["JOB_NAME"], args)                  # the run's mode, version and state
    job.files(ctx, "/data/orders")                    # or s3://bucket/prefix/: new files, sorted
    job.rows(ctx, engine_or_url, "customers", keys=["id"], order="asc")   # new rows (dicts)
    job.partitions(ctx, database, name, expression=None)   # new catalog Partitions
    job.ray_dataset(ctx, path, format="parquet", **read_options)   # ray.data over the new files
    job.spark_dataframe(ctx, spark, path, format="parquet")        # a DataFrame of them
    job.commit()                                      # stages every source's new state (enable)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

# Keys Glue itself may pass that a script never declares.
_GLUE_RESERVED = ("JOB_ID", "JOB_RUN_ID", "SECURITY_CONFIGURATION", "encryption-type")


class GlueArgumentError(SystemExit):
    """A required job argument was missing (Glue's getResolvedOptions exits the same way)."""


def getResolvedOptions(args: Sequence[str], options: Sequence[str]) -> dict[str, str]:
    """Glue's ``getResolvedOptions``: the values of ``--NAME value`` for each name in ``options``.

    Every named option is required; arguments not asked for are ignored. ``JOB_NAME`` etc.
    work like any other name.
    """
    parser = argparse.ArgumentParser(prog=os.path.basename(args[0]) if args else "job", add_help=False)
    for name in options:
        parser.add_argument(f"--{name}", required=True, dest=name)
    known, _ = parser.parse_known_args(list(args[1:]))
    return {name: getattr(known, name) for name in options}


def _context() -> tuple[str, str, str]:
    """(ADHERE_ENDPOINT or ADHERE_DB_URL, workflow name, workflow run id)."""
    run_id = os.environ.get("ADHERE_WORKFLOW_RUN_ID") or _argv_value("--WORKFLOW_RUN_ID")
    name = os.environ.get("ADHERE_WORKFLOW_NAME") or _argv_value("--WORKFLOW_NAME")
    where = os.environ.get("ADHERE_ENDPOINT") or os.environ.get("ADHERE_DB_URL")
    if not (run_id and name and where):
        raise RuntimeError(
            "workflow run properties are only available to a job started by adhere inside a workflow run"
        )
    return where, name, run_id


def _argv_value(key: str) -> str | None:
    argv = sys.argv
    for i, item in enumerate(argv[:-1]):
        if item == key:
            return argv[i + 1]
    return None


def get_run_properties() -> dict[str, str]:
    """The current workflow run's properties (GetWorkflowRunProperties)."""
    where, name, run_id = _context()
    if os.environ.get("ADHERE_ENDPOINT"):
        with _glue_errors():
            return dict(_glue(where).get_workflow_run_properties(Name=name, RunId=run_id)["RunProperties"])
    from orchestrator import service
    from orchestrator.service import workflow_runs

    db = service.connect(where)
    try:
        return workflow_runs.get_workflow_run_properties(db, name, run_id)
    finally:
        db.close()


def put_run_properties(properties: Mapping[str, str]) -> None:
    """Upsert properties on the current workflow run (PutWorkflowRunProperties)."""
    where, name, run_id = _context()
    if os.environ.get("ADHERE_ENDPOINT"):
        with _glue_errors():
            _glue(where).put_workflow_run_properties(Name=name, RunId=run_id, RunProperties=dict(properties))
        return
    from orchestrator import service
    from orchestrator.service import workflow_runs

    db = service.connect(where)
    try:
        workflow_runs.put_workflow_run_properties(db, name, run_id, properties)
    finally:
        db.close()


def events() -> list[dict[str, Any]]:
    """The EventBridge events of the batch that started this workflow run, in arrival order (an
    empty list for a run no EVENT trigger started)."""
    where, _name, run_id = _context()
    from orchestrator import service
    from orchestrator.service import events as service_events
    from orchestrator.service import remote

    if os.environ.get("ADHERE_ENDPOINT"):
        db: Any = remote.Endpoint(where, credentials=_endpoint_credentials())
        return list(service_events.get_workflow_run_events(db, run_id)["Events"])
    db = service.connect(where)
    try:
        return list(service_events.get_workflow_run_events(db, run_id)["Events"])
    finally:
        db.close()


def _endpoint_credentials() -> tuple[str, str, str | None]:
    found = _credentials()
    return found["aws_access_key_id"] or "", found["aws_secret_access_key"] or "", found.get("aws_session_token")


def __getattr__(name: str) -> Any:
    """``catalog`` and ``Job``, imported on first use: the rest of this module needs no more
    than the standard library."""
    if name == "catalog":
        from orchestrator import runtime_catalog

        return runtime_catalog
    if name == "Job":
        from orchestrator import runtime_bookmarks

        return runtime_bookmarks.Job
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_clients: dict[str, Any] = {}


def _glue(endpoint: str) -> Any:
    """A boto3 ``glue`` client for the serve at ``endpoint`` (one per process)."""
    if endpoint not in _clients:
        import boto3
        from botocore.config import Config

        _clients[endpoint] = boto3.session.Session().client(
            "glue", endpoint_url=endpoint, region_name=os.environ.get("ADHERE_REGION") or "us-east-1",
            config=Config(retries={"max_attempts": 5, "mode": "standard"}), **_credentials(),
        )  # fmt: skip
    return _clients[endpoint]


def _credentials() -> dict[str, str | None]:
    """The first of ``ADHERE_ACCESS_KEYS`` (what the serve hands its jobs when it checks
    signatures), else AWS's environment variables, else placeholders (a serve without access keys
    checks no signature). Not boto3's whole chain: on a machine outside AWS it would wait for the
    instance metadata service first."""
    env = os.environ
    pairs = [pair.strip() for pair in env.get("ADHERE_ACCESS_KEYS", "").split(",") if ":" in pair]
    if pairs:
        key_id, _, secret = pairs[0].partition(":")
        return {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return {"aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
                "aws_session_token": env.get("AWS_SESSION_TOKEN") or None}
    return {"aws_access_key_id": "adhere", "aws_secret_access_key": "adhere"}


@contextlib.contextmanager
def _glue_errors() -> Iterator[None]:
    """Glue's errors from the serve raised as adhere's own (what a job gets without a serve)."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        from orchestrator.service import remote

        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
        raise remote.error_from({"__type": error.get("Code"), "Message": error.get("Message")}, status) from exc
