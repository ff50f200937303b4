"""Partitions of a catalog table (CreatePartition, BatchCreatePartition, GetPartition,
GetPartitions, BatchGetPartition, UpdatePartition, BatchUpdatePartition, DeletePartition,
BatchDeletePartition).

A partition's ``Values`` follow the order of its table's PartitionKeys, one value each
(InvalidInputException otherwise), and never change: UpdatePartition replaces the rest of its
PartitionInput. Batch operations report each failed item in ``Errors`` and do the others.
GetPartitions prunes in the store's SQL: its ``Expression`` (``store.partition_filters``), its
``Segment`` (partitions split by their id modulo TotalSegments: the segments of a table are
disjoint and cover it) and its page (keyset on that id, in creation order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import errors, store
from orchestrator.service import databases, paging, remote, shapes, tables
from orchestrator.settings import Settings

MAX_BATCH_GET = 1000  # keys BatchGetPartition answers in one call; the rest are UnprocessedKeys
MAX_VALUE = 1024  # characters of a partition value (Glue's ValueString)
MAX_SEGMENTS = 10  # Glue's TotalSegments
Failure = tuple[Any, errors.GlueError]  # (the values as given, why)
_check = databases.check_catalog


def check_values(table: store.catalog.Table, values: Any, member: str = "Values") -> list[str]:
    """Partition values for ``table``: strings, one per partition key."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not all(isinstance(v, str) for v in values):
        raise errors.InvalidInputException(f"{member} must be a list of strings")
    if any(not 1 <= len(v) <= MAX_VALUE for v in values):
        raise errors.InvalidInputException(f"{member}: each value must be 1 to {MAX_VALUE} characters")
    keys = table.partition_keys
    if len(values) != len(keys):
        raise errors.InvalidInputException(
            f"{member} has {len(values)} value{'s' if len(values) != 1 else ''}; table {table.name} has "
            f"{len(keys)} partition key{'s' if len(keys) != 1 else ''} ({', '.join(k for k, _ in keys) or 'none'})"
        )
    return list(values)


def partition_input(table: store.catalog.Table, data: Any) -> tuple[list[str], dict[str, Any]]:
    """A PartitionInput for ``table``, checked: its values, and the input to store."""
    databases.check_shape(data, "PartitionInput", "PartitionInput")
    values = check_values(table, data.get("Values"), "PartitionInput.Values")
    return values, {**data, "Values": values}


def _shown(values: Any) -> list[Any]:
    """Values as an error item repeats them (Glue's PartitionValues is a list of strings)."""
    return [v for v in values if isinstance(v, str)] if isinstance(values, Sequence) and not isinstance(values, str) else []


def _not_found() -> errors.EntityNotFoundException:
    return errors.EntityNotFoundException("Cannot find partition.")


# --- in the caller's transaction ---------------------------------------------------------------


def create_in(tx: store.Tx, table: store.catalog.Table, inputs: Sequence[Any]) -> list[Failure]:
    """Create partitions of ``table`` (held with ``tables.stored(..., lock=True)``); those that
    could not be: bad input, or values the table has (or that came earlier in ``inputs``)."""
    failed: list[Failure] = []
    new: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for data in inputs:
        try:
            values, definition = partition_input(table, data)
        except errors.GlueError as exc:
            failed.append((data.get("Values") if isinstance(data, Mapping) else None, exc))
            continue
        key = store.catalog.values_key(values)
        if key in new:
            failed.append((values, errors.AlreadyExistsException("Partition already exists.")))
        else:
            new[key] = (values, definition)
    created = store.catalog.create_partitions(tx, table.database_name, table.name, list(new.values()), store.now())
    failed += [(values, errors.AlreadyExistsException("Partition already exists."))
               for key, (values, _) in new.items() if key not in created]
    return failed


def update_in(tx: store.Tx, table: store.catalog.Table, entries: Sequence[tuple[Any, Any]]) -> list[Failure]:
    """Replace the PartitionInput of partitions of ``table``, given as (values, input); those that
    could not be: bad input, values that change, or no such partition."""
    failed: list[Failure] = []
    now = store.now()
    for given, data in entries:
        try:
            values = check_values(table, given, "PartitionValueList")
            if isinstance(data, Mapping) and data.get("Values") is None:
                data = {**data, "Values": values}
            new_values, definition = partition_input(table, data)
            if new_values != values:
                raise errors.InvalidInputException(
                    "PartitionInput.Values differ from PartitionValueList: a partition's values cannot "
                    "change (delete it and create it again)"
                )
            if not store.catalog.update_partition(tx, table.database_name, table.name, values, definition, now):
                raise _not_found()
        except errors.GlueError as exc:
            failed.append((given, exc))
    return failed


def delete_in(tx: store.Tx, table: store.catalog.Table, values_list: Sequence[Any]) -> list[Failure]:
    """Delete partitions of ``table`` by their values; those that could not be (no such partition)."""
    failed: list[Failure] = []
    wanted: dict[str, list[str]] = {}
    for given in values_list:
        try:
            values = check_values(table, given)
        except errors.GlueError as exc:
            failed.append((given, exc))
            continue
        wanted.setdefault(store.catalog.values_key(values), values)
    gone = store.catalog.delete_partitions(tx, table.database_name, table.name, wanted.values())
    failed += [(values, _not_found()) for key, values in wanted.items() if key not in gone]
    return failed


def _table(tx: store.Tx, database_name: str, table_name: str, *, lock: bool = False) -> store.catalog.Table:
    return tables.stored(tx, databases.fold(database_name, "DatabaseName"), databases.fold(table_name, "TableName"),
                         lock=lock)


def _errors(failed: Sequence[Failure], member: str = "PartitionValues") -> list[dict[str, Any]]:
    return [{member: _shown(values), "ErrorDetail": tables.error_detail(exc)} for values, exc in failed]


# --- the operations ----------------------------------------------------------------------------


def create_partition(db: store.Store, settings: Settings, database_name: str, table_name: str,
                     partition_input: Mapping[str, Any], *, catalog_id: str | None = None) -> dict[str, Any]:
    _check(settings, catalog_id)
    with db.transaction() as tx:
        for _values, exc in create_in(tx, _table(tx, database_name, table_name, lock=True), [partition_input]):
            raise exc
    return {}


def batch_create_partition(db: store.Store, settings: Settings, database_name: str, table_name: str,
                           partition_input_list: Sequence[Mapping[str, Any]], *,
                           catalog_id: str | None = None) -> dict[str, Any]:
    _check(settings, catalog_id)
    with db.transaction() as tx:
        failed = create_in(tx, _table(tx, database_name, table_name, lock=True), partition_input_list)
    return {"Errors": _errors(failed)}


def get_partition(db: store.Store, settings: Settings, database_name: str, table_name: str,
                  partition_values: Sequence[str], *, catalog_id: str | None = None) -> dict[str, Any]:
    _check(settings, catalog_id)
    with db.read() as tx:
        table = _table(tx, database_name, table_name)
        found = store.catalog.get_partition(tx, table.database_name, table.name,
                                            check_values(table, partition_values, "PartitionValues"))
    if found is None:
        raise _not_found()
    return {"Partition": shapes.partition(found, settings.account_id)}


@remote.callable
def get_partitions(db: store.Store, settings: Settings, database_name: str, table_name: str,
                   expression: str | None = None, next_token: str | None = None,
                   segment: Mapping[str, int] | None = None, max_results: int | None = None,
                   exclude_column_schema: bool = False, *, catalog_id: str | None = None) -> dict[str, Any]:
    """GetPartitions, in creation order, a page at a time, pruned in SQL (module docstring)."""
    _check(settings, catalog_id)
    after = paging.decode(next_token)
    if after is not None and (not isinstance(after[0], int) or isinstance(after[0], bool)):
        raise errors.InvalidInputException("Invalid NextToken: it was not returned by this server")
    with db.read() as tx:
        table = _table(tx, database_name, table_name)
        rows = store.catalog.find_partitions(tx, table, expression=expression, segment=_segment(segment),
                                             after=after[0] if after else None,
                                             limit=max_results + 1 if max_results else None)
    rows, token = paging.page(rows, max_results, lambda p: [p.id])
    return {"Partitions": [shapes.partition(p, settings.account_id, exclude_column_schema=exclude_column_schema)
                           for p in rows], **({"NextToken": token} if token else {})}


def _segment(segment: Mapping[str, int] | None) -> tuple[int, int] | None:
    if segment is None:
        return None
    number, total = segment.get("SegmentNumber"), segment.get("TotalSegments")
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (number, total)) \
            or not 1 <= total <= MAX_SEGMENTS or not 0 <= number < total:  # type: ignore[operator]
        raise errors.InvalidInputException(
            f"Segment: TotalSegments must be 1 to {MAX_SEGMENTS} and SegmentNumber 0 to TotalSegments - 1"
        )
    return number, total  # type: ignore[return-value]


def batch_get_partition(db: store.Store, settings: Settings, database_name: str, table_name: str,
                        partitions_to_get: Sequence[Mapping[str, Sequence[str]]], *,
                        catalog_id: str | None = None) -> dict[str, Any]:
    """BatchGetPartition: the partitions found, in the order asked (those not found are left
    out, as in Glue); keys past the first MAX_BATCH_GET come back as UnprocessedKeys."""
    _check(settings, catalog_id)
    asked, unprocessed = partitions_to_get[:MAX_BATCH_GET], partitions_to_get[MAX_BATCH_GET:]
    with db.read() as tx:
        table = _table(tx, database_name, table_name)
        wanted = [check_values(table, entry.get("Values") if isinstance(entry, Mapping) else None,
                               "PartitionsToGet.Values") for entry in asked]
        found = store.catalog.get_partitions(tx, table.database_name, table.name, wanted)
    keys = dict.fromkeys(store.catalog.values_key(v) for v in wanted)
    return {"Partitions": [shapes.partition(found[k], settings.account_id) for k in keys if k in found],
            "UnprocessedKeys": [{"Values": list(entry.get("Values") or [])} for entry in unprocessed]}


def update_partition(db: store.Store, settings: Settings, database_name: str, table_name: str,
                     partition_value_list: Sequence[str], partition_input: Mapping[str, Any], *,
                     catalog_id: str | None = None) -> dict[str, Any]:
    _check(settings, catalog_id)
    with db.transaction() as tx:
        for _values, exc in update_in(tx, _table(tx, database_name, table_name), [(partition_value_list,
                                                                                    partition_input)]):
            raise exc
    return {}


def batch_update_partition(db: store.Store, settings: Settings, database_name: str, table_name: str,
                           entries: Sequence[Mapping[str, Any]], *, catalog_id: str | None = None) -> dict[str, Any]:
    """BatchUpdatePartition: ``entries`` of {PartitionValueList, PartitionInput}."""
    _check(settings, catalog_id)
    pairs = [(e.get("PartitionValueList"), e.get("PartitionInput")) if isinstance(e, Mapping) else (None, None)
             for e in entries]
    with db.transaction() as tx:
        failed = update_in(tx, _table(tx, database_name, table_name), pairs)
    return {"Errors": _errors(failed, "PartitionValueList")}


def delete_partition(db: store.Store, settings: Settings, database_name: str, table_name: str,
                     partition_values: Sequence[str], *, catalog_id: str | None = None) -> dict[str, Any]:
    _check(settings, catalog_id)
    with db.transaction() as tx:
        for _values, exc in delete_in(tx, _table(tx, database_name, table_name), [partition_values]):
            raise exc
    return {}


def batch_delete_partition(db: store.Store, settings: Settings, database_name: str, table_name: str,
                           partitions_to_delete: Sequence[Mapping[str, Sequence[str]]], *,
                           catalog_id: str | None = None) -> dict[str, Any]:
    """BatchDeletePartition: ``partitions_to_delete`` of {Values}."""
    _check(settings, catalog_id)
    with db.transaction() as tx:
        failed = delete_in(tx, _table(tx, database_name, table_name),
                           [e.get("Values") if isinstance(e, Mapping) else None for e in partitions_to_delete])
    return {"Errors": _errors(failed)}
