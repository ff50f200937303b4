"""``adhere catalog ...``: the Data Catalog read through the service (GetDatabases, GetTables,
GetTable, GetPartitions, GetTableVersions), as tables to read or, with ``--json``, as Glue's
responses. An unknown database or table, or a bad expression, is the service's error, which
the CLI prints in one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.cli import display

if TYPE_CHECKING:
    from rich.table import Table as RichTable

    from orchestrator.cli.commands import App

MAX_CELL = 60  # characters of a description or location a row shows


def _cut(value: Any, limit: int = MAX_CELL) -> str | None:
    if value is None or value == "":
        return None
    text = str(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _descriptor(table: Mapping[str, Any]) -> Mapping[str, Any]:
    return table.get("StorageDescriptor") or {}


def databases(app: App) -> int:
    from orchestrator.service import databases as service

    found = service.get_databases(app.db, app.settings)["DatabaseList"]
    app.out({"DatabaseList": found}, lambda: app.console.print(display.table(
        ["database", "description", "location", "created"],
        [(d["Name"], _cut(d.get("Description")), _cut(d.get("LocationUri")), display.when(d.get("CreateTime")))
         for d in found])))
    return 0


def tables(app: App) -> int:
    from orchestrator.service import tables as service

    found = service.get_tables(app.db, app.settings, app.args.database, expression=app.args.expression)["TableList"]
    app.out({"TableList": found}, lambda: app.console.print(display.table(
        ["table", "type", "columns", "partition keys", "location", "classification", "version", "updated"],
        [(t["Name"], t.get("TableType"), len(_descriptor(t).get("Columns") or []),
          ", ".join(k["Name"] for k in t.get("PartitionKeys") or []) or None, _cut(_descriptor(t).get("Location")),
          (t.get("Parameters") or {}).get("classification"), t.get("VersionId"), display.when(t.get("UpdateTime")))
         for t in found])))
    return 0


def table(app: App) -> int:
    from orchestrator.service import tables as service

    found = service.get_table(app.db, app.settings, app.args.database, app.args.table)["Table"]

    def render() -> None:
        app.console.print(_about(found))
        app.console.print(_columns(found))

    app.out({"Table": found}, render)
    return 0


def _about(t: Mapping[str, Any]) -> RichTable:
    """A table's storage and bookkeeping, one line each."""
    descriptor = _descriptor(t)
    serde = descriptor.get("SerdeInfo") or {}
    rows = [
        ("type", t.get("TableType")), ("description", t.get("Description")), ("location", descriptor.get("Location")),
        ("input format", descriptor.get("InputFormat")), ("output format", descriptor.get("OutputFormat")),
        ("serde", serde.get("SerializationLibrary")), ("owner", t.get("Owner")),
        ("version", t.get("VersionId")), ("created", display.when(t.get("CreateTime"))),
        ("updated", display.when(t.get("UpdateTime"))),
        *sorted((f"parameter {k}", v) for k, v in (t.get("Parameters") or {}).items()),
    ]  # fmt: skip
    title = display.text(f"table {t['DatabaseName']}.{t['Name']}")
    return display.table(["property", "value"], [(k, v) for k, v in rows if v not in (None, "")], title)


def _columns(t: Mapping[str, Any]) -> RichTable:
    """Columns, then partition keys, as Hive lists them."""
    rows = [(c["Name"], c.get("Type"), c.get("Comment"), None) for c in _descriptor(t).get("Columns") or []]
    rows += [(k["Name"], k.get("Type"), k.get("Comment"), "partition key") for k in t.get("PartitionKeys") or []]
    return display.table(["column", "type", "comment", ""], rows)


def partitions(app: App) -> int:
    from orchestrator.service import partitions as service
    from orchestrator.service import tables as tables_service

    db, name = app.args.database, app.args.table
    found = service.get_partitions(app.db, app.settings, db, name, expression=app.args.expression)["Partitions"]

    def render() -> None:
        keys = [k["Name"] for k in tables_service.get_table(app.db, app.settings, db, name)["Table"].get("PartitionKeys")
                or []]
        app.console.print(_partitions_table(keys, found))

    app.out({"Partitions": found}, render)
    return 0


def _partitions_table(keys: Sequence[str], found: Sequence[Mapping[str, Any]]) -> RichTable:
    width = max([len(keys), *(len(p["Values"]) for p in found)])
    names = [*keys, *(f"value {i + 1}" for i in range(len(keys), width))]
    return display.table([*names, "location", "created"], [
        (*p["Values"], *([None] * (width - len(p["Values"]))), _cut(_descriptor(p).get("Location")),
         display.when(p.get("CreationTime"))) for p in found],
        caption=f"{len(found)} partition{'s' if len(found) != 1 else ''}")  # fmt: skip


def versions(app: App) -> int:
    from orchestrator.service import tables as service

    found = service.get_table_versions(app.db, app.settings, app.args.database, app.args.table)["TableVersions"]
    current = found[0]["VersionId"] if found else None
    app.out({"TableVersions": found}, lambda: app.console.print(display.table(
        ["version", "updated", "columns", "partition keys", "location", "description"],
        [(f"{v['VersionId']} (current)" if v["VersionId"] == current else v["VersionId"],
          display.when(v["Table"].get("UpdateTime")), len(_descriptor(v["Table"]).get("Columns") or []),
          ", ".join(k["Name"] for k in v["Table"].get("PartitionKeys") or []) or None,
          _cut(_descriptor(v["Table"]).get("Location")), _cut(v["Table"].get("Description"))) for v in found])))
    return 0
