"""Databases of the Data Catalog (CreateDatabase, GetDatabase, GetDatabases, UpdateDatabase,
DeleteDatabase), and what every catalog operation shares: names folded to lowercase as Glue
folds them, inputs checked against Glue's shapes, and the one catalog this server keeps.

This server is one account: its catalog's id is ``Settings.account_id``; a request naming another
``CatalogId`` is refused (EntityNotFoundException), not looked for. The ``*_in`` functions take
the caller's transaction, for writers that do more in it (``adhere apply``, crawlers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import errors, store
from orchestrator.service import paging, remote, shapes
from orchestrator.settings import Settings


def fold(name: Any, member: str = "Name") -> str:
    """A database or table name as Glue stores it: lowercase. InvalidInputException for what is
    not Glue's NameString (1 to 255 characters on one line)."""
    from orchestrator.definitions import text

    if not isinstance(name, str):
        raise errors.InvalidInputException(f"{member} must be a string")
    if problem := text.name_problem(name):
        raise errors.InvalidInputException(f"{member} {text.quote(name)}: {problem}")
    return name.lower()


def check_catalog(settings: Settings, catalog_id: str | None) -> None:
    """A request's CatalogId: none, or this server's."""
    if catalog_id is not None and catalog_id != settings.account_id:
        raise errors.EntityNotFoundException(
            f"Catalog {str(catalog_id)[:80]} not found: this server's catalog is {settings.account_id}"
        )


def check_shape(value: Any, shape: str, member: str) -> None:
    """``value`` as Glue's ``shape`` takes it (types, enums, required and unknown members, as in
    definition files); InvalidInputException naming each problem. The HTTP API has checked
    lengths and patterns too; this guards the other callers."""
    from orchestrator.definitions import glue

    problems = [f"{member}{place}: {problem}" for place, problem in glue.check(value, shape)]
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise errors.InvalidInputException("; ".join(problems[:10]) + more)


def stored(tx: store.Tx, name: str, *, lock: bool = False) -> store.catalog.Database:
    """The database, or Glue's EntityNotFoundException; ``lock`` keeps it from being deleted
    until the transaction ends (its tables are being written)."""
    row = store.catalog.get_database(tx, name, lock=lock)
    if row is None:
        raise errors.EntityNotFoundException(f"Database {name} not found.")
    return row


def database_input(data: Any) -> dict[str, Any]:
    """A DatabaseInput, checked, with its name folded."""
    check_shape(data, "DatabaseInput", "DatabaseInput")
    return {**data, "Name": fold(data["Name"], "DatabaseInput.Name")}


# --- in the caller's transaction ---------------------------------------------------------------


def create_in(tx: store.Tx, database: Mapping[str, Any], tags: Mapping[str, str] | None = None) -> store.catalog.Database:
    """CreateDatabase: AlreadyExistsException if the name is taken. ``tags`` are kept for when
    the catalog's ARNs can be tagged."""
    from orchestrator.service import tags as tagging

    definition = database_input(database)
    name = definition["Name"]
    checked = tagging.check_tags(tags) if tags else {}
    now = store.now()
    if not store.catalog.create_database(tx, name, definition, now):
        raise errors.AlreadyExistsException(f"Database {name} already exists.")
    store.tags.put(tx, "database", name, checked)
    return store.catalog.Database(name, definition, now)


def update_in(tx: store.Tx, name: str, database: Mapping[str, Any]) -> bool:
    """UpdateDatabase: the DatabaseInput is replaced whole. A database cannot be renamed (Glue
    has no way to); returns whether anything changed."""
    name = fold(name)
    definition = database_input(database)
    if definition["Name"] != name:
        raise errors.InvalidInputException(
            f"DatabaseInput.Name {definition['Name']!r} is not {name!r}: a database cannot be renamed"
        )
    current = stored(tx, name)
    if current.definition == definition:
        return False
    store.catalog.update_database(tx, name, definition)
    return True


def delete_in(tx: store.Tx, name: str) -> None:
    """DeleteDatabase: with its tables, their versions and partitions (at once, where Glue
    deletes them later), and its tags."""
    name = fold(name)
    if not store.catalog.delete_database(tx, name):
        raise errors.EntityNotFoundException(f"Database {name} not found.")
    store.tags.delete_all(tx, "database", name)


def save_all(tx: store.Tx, models: Sequence[Any]) -> dict[str, str]:
    """Databases of definition files (``adhere apply``; ``models.Database``): name -> "created",
    "updated" or "unchanged". Tags are a new database's, or, from a file that lists them,
    exactly those. What a database holds is not touched."""
    from orchestrator.service import tags as tagging

    current = store.catalog.get_databases(tx, (m.name for m in models))
    changes: dict[str, str] = {}
    for model in models:
        if model.name not in current:
            create_in(tx, model.to_glue(), model.tags)
            changes[model.name] = "created"
            continue
        changed = update_in(tx, model.name, model.to_glue())
        if "tags" in model.model_fields_set:
            wanted = tagging.check_tags(model.tags)
            changed |= store.tags.get(tx, "database", model.name) != wanted
            store.tags.replace(tx, "database", model.name, wanted)
        changes[model.name] = "updated" if changed else "unchanged"
    return changes


# --- the operations ----------------------------------------------------------------------------


def create_database(db: store.Store, settings: Settings, database_input: Mapping[str, Any],
                    tags: Mapping[str, str] | None = None, *, catalog_id: str | None = None) -> dict[str, Any]:
    check_catalog(settings, catalog_id)
    with db.transaction() as tx:
        create_in(tx, database_input, tags)
    return {}


@remote.callable
def get_database(db: store.Store, settings: Settings, name: str, *, catalog_id: str | None = None) -> dict[str, Any]:
    check_catalog(settings, catalog_id)
    with db.read() as tx:
        return {"Database": shapes.database(stored(tx, fold(name)), settings.account_id)}


@remote.callable
def get_databases(db: store.Store, settings: Settings, next_token: str | None = None,
                  max_results: int | None = None, *, catalog_id: str | None = None) -> dict[str, Any]:
    """GetDatabases, in name order, a page at a time."""
    check_catalog(settings, catalog_id)
    after = paging.decode(next_token)
    with db.read() as tx:
        rows = store.catalog.find_databases(tx, after=after[0] if after else None,
                                            limit=max_results + 1 if max_results else None)
    rows, token = paging.page(rows, max_results, lambda r: [r.name])
    return {"DatabaseList": [shapes.database(r, settings.account_id) for r in rows],
            **({"NextToken": token} if token else {})}


def update_database(db: store.Store, settings: Settings, name: str, database_input: Mapping[str, Any],
                    *, catalog_id: str | None = None) -> dict[str, Any]:
    check_catalog(settings, catalog_id)
    with db.transaction() as tx:
        update_in(tx, name, database_input)
    return {}


def delete_database(db: store.Store, settings: Settings, name: str, *, catalog_id: str | None = None) -> dict[str, Any]:
    check_catalog(settings, catalog_id)
    with db.transaction() as tx:
        delete_in(tx, name)
    return {}
