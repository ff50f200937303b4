"""Tables of the Data Catalog and their versions (CreateTable, GetTable, GetTables, UpdateTable,
DeleteTable, BatchDeleteTable, GetTableVersion, GetTableVersions, DeleteTableVersion,
BatchDeleteTableVersion, SearchTables).

A table is created at version "0"; every UpdateTable makes the next version, and archives the
one it replaces (GetTableVersions lists it) unless SkipArchive. UpdateTable's ``VersionId`` is
Glue's optimistic lock: a version other than the current one is ConcurrentModificationException.
GetTableVersions lists the current version first, then the archived ones, newest first; the
current version cannot be deleted (delete the table). Tables cannot be renamed, as in Glue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import errors, store
from orchestrator.service import databases, paging, remote, search, shapes
from orchestrator.settings import Settings

_check = databases.check_catalog


def stored(tx: store.Tx, database_name: str, name: str, *, lock: bool = False) -> store.catalog.Table:
    """The table, or Glue's EntityNotFoundException (for its database first); ``lock`` keeps it
    from being deleted until the transaction ends (its partitions are being written)."""
    row = store.catalog.get_table(tx, database_name, name, lock=lock)
    if row is None:
        databases.stored(tx, database_name)
        raise errors.EntityNotFoundException(f"Table {name} not found.")
    return row


def table_input(data: Any, name: str | None = None) -> dict[str, Any]:
    """A TableInput, checked, with its name folded; ``name`` (the request's ``Name``), when
    given, must agree with its ``Name``, which it stands in for when that is missing."""
    if isinstance(data, Mapping) and "Name" not in data and name is not None:
        data = {**data, "Name": name}
    databases.check_shape(data, "TableInput", "TableInput")
    folded = databases.fold(data["Name"], "TableInput.Name")
    if name is not None and databases.fold(name) != folded:
        raise errors.InvalidInputException(f"Name {name!r} and TableInput.Name {data['Name']!r} differ: "
                                           "a table cannot be renamed")
    return {**data, "Name": folded}


def _version(version_id: Any) -> int:
    try:
        number = int(version_id)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or str(version_id).strip() != str(number):
        raise errors.InvalidInputException(f"VersionId {str(version_id)[:40]!r} is not a version: "
                                           "a version is a whole number, as a string")
    return number


# --- in the caller's transaction ---------------------------------------------------------------


def create_in(tx: store.Tx, database_name: str, table: Mapping[str, Any], *, name: str | None = None) -> store.catalog.Table:
    """CreateTable: EntityNotFoundException without the database, AlreadyExistsException if the
    name is taken."""
    definition = table_input(table, name)
    database_name = databases.fold(database_name, "DatabaseName")
    databases.stored(tx, database_name, lock=True)
    created = store.catalog.create_table(tx, database_name, definition["Name"], definition, store.now())
    if created is None:
        raise errors.AlreadyExistsException(f"Table {definition['Name']} already exists.")
    return created


def update_in(tx: store.Tx, database_name: str, table: Mapping[str, Any], *, name: str | None = None,
              skip_archive: bool = False, version_id: str | None = None) -> store.catalog.Table:
    """UpdateTable: the TableInput is replaced whole, as the table's next version."""
    definition = table_input(table, name)
    database_name = databases.fold(database_name, "DatabaseName")
    current = stored(tx, database_name, definition["Name"], lock=True)
    if version_id is not None and _version(version_id) != current.version_id:
        raise errors.ConcurrentModificationException(
            f"Table {current.name} is at version {current.version_id}, not {version_id}: it changed meanwhile"
        )
    updated = store.catalog.update_table(tx, current, definition, store.now(), archive=not skip_archive)
    if updated is None:  # the conditional update found another version (only PostgreSQL races)
        raise errors.ConcurrentModificationException(f"Table {current.name} changed meanwhile; read it again")
    return updated


def delete_in(tx: store.Tx, database_name: str, name: str) -> None:
    """DeleteTable: with its versions and partitions (at once, where Glue deletes them later)."""
    database_name, name = databases.fold(database_name, "DatabaseName"), databases.fold(name)
    if not store.catalog.delete_table(tx, database_name, name):
        stored(tx, database_name, name)  # the right EntityNotFoundException


# --- tables ------------------------------------------------------------------------------------


def create_table(db: store.Store, settings: Settings, database_name: str, table_input: Mapping[str, Any] | None = None,
                 *, name: str | None = None, open_table_format_input: Any = None,
                 catalog_id: str | None = None) -> dict[str, Any]:
    """CreateTable. PartitionIndexes are accepted and not kept (partition expressions run in the
    store's SQL); Iceberg tables (OpenTableFormatInput) are not made here."""
    _check(settings, catalog_id)
    if open_table_format_input is not None:
        raise errors.InvalidInputException("OpenTableFormatInput: adhere does not create Iceberg tables; "
                                           "give a TableInput")
    if table_input is None:
        raise errors.InvalidInputException("TableInput is required")
    with db.transaction() as tx:
        create_in(tx, database_name, table_input, name=name)
    return {}


@remote.callable
def get_table(db: store.Store, settings: Settings, database_name: str, name: str,
              *, catalog_id: str | None = None) -> dict[str, Any]:
    _check(settings, catalog_id)
    with db.read() as tx:
        row = stored(tx, databases.fold(database_name, "DatabaseName"), databases.fold(name))
    return {"Table": shapes.table(row, settings.account_id)}


@remote.callable
def get_tables(db: store.Store, settings: Settings, database_name: str, expression: str | None = None,
               next_token: str | None = None, max_results: int | None = None,
               *, catalog_id: str | None = None) -> dict[str, Any]:
    """GetTables, in name order, a page at a time; ``expression`` keeps the tables whose names
    match it (``search.name_matcher``)."""
    _check(settings, catalog_id)
    database_name = databases.fold(database_name, "DatabaseName")
    matches = search.name_matcher(expression) if expression else None
    after = paging.decode(next_token)
    with db.read() as tx:
        databases.stored(tx, database_name)
        names = store.catalog.table_names(tx, database_name, after=after[0] if after else None)
        if matches is not None:
            names = [n for n in names if matches(n)]
        if max_results:
            names = names[: max_results + 1]
        found = store.catalog.get_tables(tx, database_name, names)
    rows, token = paging.page([found[n] for n in names if n in found], max_results, lambda r: [r.name])
    return {"TableList": [shapes.table(r, settings.account_id) for r in rows], **({"NextToken": token} if token else {})}


def update_table(db: store.Store, settings: Settings, database_name: str, table_input: Mapping[str, Any] | None = None,
                 *, name: str | None = None, skip_archive: bool = False, version_id: str | None = None,
                 catalog_id: str | None = None) -> dict[str, Any]:
    """UpdateTable. ViewUpdateAction, Force and UpdateOpenTableFormatInput are not taken."""
    _check(settings, catalog_id)
    if table_input is None:
        raise errors.InvalidInputException("TableInput is required")
    with db.transaction() as tx:
        update_in(tx, database_name, table_input, name=name, skip_archive=skip_archive, version_id=version_id)
    return {}


def delete_table(db: store.Store, settings: Settings, database_name: str, name: str,
                 *, catalog_id: str | None = None) -> dict[str, Any]:
    _check(settings, catalog_id)
    with db.transaction() as tx:
        delete_in(tx, database_name, name)
    return {}


def batch_delete_table(db: store.Store, settings: Settings, database_name: str, tables_to_delete: Sequence[str],
                       *, catalog_id: str | None = None) -> dict[str, Any]:
    """BatchDeleteTable: each table that is not there is an error of its own."""
    _check(settings, catalog_id)
    database_name = databases.fold(database_name, "DatabaseName")
    failed: list[dict[str, Any]] = []
    with db.transaction() as tx:
        databases.stored(tx, database_name)
        for given in dict.fromkeys(tables_to_delete):
            try:
                delete_in(tx, database_name, given)
            except errors.GlueError as exc:
                failed.append({"TableName": given, "ErrorDetail": error_detail(exc)})
    return {"Errors": failed}


def error_detail(exc: errors.AdhereError) -> dict[str, str]:
    """Glue's ErrorDetail of a batch operation's item."""
    return {"ErrorCode": exc.code, "ErrorMessage": exc.message}


def search_tables(db: store.Store, settings: Settings, next_token: str | None = None,
                  filters: Sequence[Mapping[str, Any]] | None = None, search_text: str | None = None,
                  sort_criteria: Sequence[Mapping[str, Any]] | None = None, max_results: int | None = None,
                  *, catalog_id: str | None = None) -> dict[str, Any]:
    """SearchTables over every database (the subset in ``search``'s docstring), a page at a
    time. It reads every table's row (not their partitions): fine for a catalog of thousands."""
    _check(settings, catalog_id)
    test = search.matcher(search_text, filters)
    key, descending = search.sort_key(sort_criteria)
    with db.read() as tx:
        rows = sorted((t for t in store.catalog.find_tables(tx, None) if test(t)), key=key, reverse=descending)
    after = paging.decode(next_token, 3)
    if after is not None:
        try:
            rows = [r for r in rows if (key(r) < after if descending else key(r) > after)]
        except TypeError:  # a token of another sort
            raise errors.InvalidInputException("Invalid NextToken: it was not returned for this sort") from None
    rows, token = paging.page(rows, max_results, key)
    return {"TableList": [shapes.table(r, settings.account_id) for r in rows], **({"NextToken": token} if token else {})}


# --- versions ----------------------------------------------------------------------------------


def _find_version(tx: store.Tx, table: store.catalog.Table, version_id: Any) -> store.catalog.TableVersion:
    number = _version(version_id)
    if number == table.version_id:
        return store.catalog.TableVersion.of(table)
    found = store.catalog.get_version(tx, table.database_name, table.name, number)
    if found is None:
        raise errors.EntityNotFoundException(f"Version {number} of table {table.name} not found.")
    return found


@remote.callable
def get_table_version(db: store.Store, settings: Settings, database_name: str, table_name: str,
                      version_id: str | None = None, *, catalog_id: str | None = None) -> dict[str, Any]:
    """GetTableVersion: the current version when ``version_id`` is not given."""
    _check(settings, catalog_id)
    with db.read() as tx:
        table = stored(tx, databases.fold(database_name, "DatabaseName"), databases.fold(table_name, "TableName"))
        found = _find_version(tx, table, table.version_id if version_id is None else version_id)
    return {"TableVersion": shapes.table_version(found, settings.account_id)}


@remote.callable
def get_table_versions(db: store.Store, settings: Settings, database_name: str, table_name: str,
                       next_token: str | None = None, max_results: int | None = None,
                       *, catalog_id: str | None = None) -> dict[str, Any]:
    """GetTableVersions: the current version, then the archived ones, newest first."""
    _check(settings, catalog_id)
    before = paging.decode(next_token)
    if before is not None and (not isinstance(before[0], int) or isinstance(before[0], bool)):
        raise errors.InvalidInputException("Invalid NextToken: it was not returned by this server")
    with db.read() as tx:
        table = stored(tx, databases.fold(database_name, "DatabaseName"), databases.fold(table_name, "TableName"))
        current = [store.catalog.TableVersion.of(table)] if before is None else []
        limit = max_results + 1 - len(current) if max_results else None
        archived = store.catalog.find_versions(tx, table.database_name, table.name,
                                               before=before[0] if before else None, limit=limit)
    rows, token = paging.page(current + archived, max_results, lambda v: [v.version_id])
    return {"TableVersions": [shapes.table_version(v, settings.account_id) for v in rows],
            **({"NextToken": token} if token else {})}


def delete_table_version(db: store.Store, settings: Settings, database_name: str, table_name: str,
                         version_id: str, *, catalog_id: str | None = None) -> dict[str, Any]:
    _check(settings, catalog_id)
    with db.transaction() as tx:
        table = stored(tx, databases.fold(database_name, "DatabaseName"), databases.fold(table_name, "TableName"))
        for _given, exc in _delete_versions(tx, table, [version_id]):
            raise exc
    return {}


def batch_delete_table_version(db: store.Store, settings: Settings, database_name: str, table_name: str,
                               version_ids: Sequence[str], *, catalog_id: str | None = None) -> dict[str, Any]:
    """BatchDeleteTableVersion: each version that is not there (or is the current one) is an
    error of its own."""
    _check(settings, catalog_id)
    with db.transaction() as tx:
        table = stored(tx, databases.fold(database_name, "DatabaseName"), databases.fold(table_name, "TableName"))
        failed = _delete_versions(tx, table, version_ids)
    return {"Errors": [{"TableName": table.name, "VersionId": str(given), "ErrorDetail": error_detail(exc)}
                       for given, exc in failed]}


def _delete_versions(tx: store.Tx, table: store.catalog.Table,
                     version_ids: Sequence[Any]) -> list[tuple[Any, errors.GlueError]]:
    """Delete archived versions of ``table``; (given id, error) of those that could not be."""
    failed: list[tuple[Any, errors.GlueError]] = []
    wanted: dict[int, Any] = {}
    for given in dict.fromkeys(version_ids):
        try:
            number = _version(given)
        except errors.GlueError as exc:
            failed.append((given, exc))
            continue
        if number == table.version_id:
            failed.append((given, errors.InvalidInputException(
                f"Version {number} is the current version of table {table.name}: delete the table instead")))
        else:
            wanted[number] = given
    gone = store.catalog.delete_versions(tx, table.database_name, table.name, wanted)
    failed += [(given, errors.EntityNotFoundException(f"Version {number} of table {table.name} not found."))
               for number, given in wanted.items() if number not in gone]
    return failed
