"""The last step of a crawl: the tables it found, set against what the Data Catalog holds, and
written in the caller's transaction with the store's catalog verbs (Glue's SchemaChangePolicy and
CrawlerOutput rules, glue-semantics.md §5.1, §5.3, Appendix B.1).

- A table or partition the catalog lacks is always created.
- One whose definition changed is replaced under ``UPDATE_IN_DATABASE`` (a table update archives
  a version) and only logged under ``LOG``. "Changed" ignores ``CRAWL_RUN_ID``; a table's
  statistics (recordCount, objectCount, sizeKey) count as a change, as they describe the data.
  Keys a crawler never writes (a Description, user Parameters, column comments) are kept.
- ``MergeNewColumns`` adds new columns and never removes one or changes a type; a changed
  classification, compression, delimiter or partition keys deprecate the table instead.
- Data that is gone follows ``DeleteBehavior``; deprecating sets ``DEPRECATED_BY_CRAWLER`` to
  the time in epoch milliseconds, as Glue does, and counts as a deletion in the Summary.
- A crawl that saw some folders only finds nothing gone. CRAWL_NEW_FOLDERS_ONLY only adds
  partitions to the tables it found; CRAWL_EVENT_MODE (``Policy.events``) also updates the
  partitions it crawled again and their table: its columns merged with theirs, its statistics
  counting them anew (``seen_table_input``); the partitions it did not see stay as they are.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from catalog import inventory, schemas
from orchestrator import errors, store

UPDATE, LOG = "UPDATE_IN_DATABASE", "LOG"
DELETE, DEPRECATE = "DELETE_FROM_DATABASE", "DEPRECATE_IN_DATABASE"
DEPRECATED = "DEPRECATED_BY_CRAWLER"
VOLATILE = ("CRAWL_RUN_ID",)  # differs on every crawl: never a reason to update
# Table parameters a crawler writes; other keys on a table are the user's and are kept.
CRAWLER_KEYS = frozenset((
    "classification", "compressionType", "typeOfData", "recordCount", "objectCount", "sizeKey",
    "averageRecordSize", "UPDATED_BY_CRAWLER", "CrawlerSchemaSerializerVersion",
    "CrawlerSchemaDeserializerVersion", "CRAWL_RUN_ID", "exclusions", DEPRECATED, "delimiter",
    "skip.header.line.count", "areColumnsQuoted", "columnsOrdered", "avro.schema.literal",
))  # fmt: skip
STATISTICS = frozenset(("recordCount", "objectCount", "sizeKey", "averageRecordSize"))
FUNDAMENTAL = ("classification", "compressionType", "delimiter")  # MergeNewColumns cannot change these
MAX_DETAILS = 100  # names per action in the Summary's details

Values = tuple[str, ...]


@dataclass
class Summary:
    """What a crawl changed, for ListCrawls' Summary and the "Glue Crawler State Change" event."""

    tables_created: int = 0
    tables_updated: int = 0
    tables_deleted: int = 0
    partitions_created: int = 0
    partitions_updated: int = 0
    partitions_deleted: int = 0

    def __post_init__(self) -> None:
        # the details behind the counts: attributes, not fields (asdict and == see counts only)
        self.tables: dict[str, list[str]] = {}  # action -> table names
        self.partitions: dict[str, dict[str, int]] = {}  # action -> table -> partitions
        self.read: dict[str, Any] = {}  # what the crawl read: files, folders, events (the crawler's)

    def to_glue(self) -> dict[str, Any]:
        """Glue's Summary: ``{"TABLE"|"PARTITION": {"ADD"|"UPDATE"|"DELETE": "<JSON>"}}``, each JSON
        string ``{"Details": ..., "Count": n}`` as Glue writes it (a string inside the object); the
        details name the tables, and count partitions per table. Actions with nothing are left out."""
        out: dict[str, Any] = {}
        for action, count in (("ADD", self.tables_created), ("UPDATE", self.tables_updated),
                              ("DELETE", self.tables_deleted)):  # fmt: skip
            if count:
                names = self.tables.get(action, [])[:MAX_DETAILS]
                out.setdefault("TABLE", {})[action] = json.dumps({"Details": {"names": names}, "Count": count})
        for action, count in (("ADD", self.partitions_created), ("UPDATE", self.partitions_updated),
                              ("DELETE", self.partitions_deleted)):  # fmt: skip
            if count:
                details = dict(list(self.partitions.get(action, {}).items())[:MAX_DETAILS])
                out.setdefault("PARTITION", {})[action] = json.dumps({"Details": details, "Count": count})
        return out

    def table(self, action: str, name: str) -> None:
        setattr(self, f"tables_{_PAST[action]}", getattr(self, f"tables_{_PAST[action]}") + 1)
        self.tables.setdefault(action, []).append(name)

    def partition(self, action: str, table: str, count: int) -> None:
        if count:
            setattr(self, f"partitions_{_PAST[action]}", getattr(self, f"partitions_{_PAST[action]}") + count)
            per_table = self.partitions.setdefault(action, {})
            per_table[table] = per_table.get(table, 0) + count


_PAST = {"ADD": "created", "UPDATE": "updated", "DELETE": "deleted"}


@dataclass(frozen=True)
class Policy:
    """How a crawl may change what the catalog holds (SchemaChangePolicy and Configuration)."""

    crawler: str
    crawl_id: str
    update: str = UPDATE
    delete: str = DEPRECATE
    merge_new_columns: bool = False
    inherit_from_table: bool = False
    partial: bool = False  # an incremental crawl: it saw new folders only, so nothing is "gone"
    events: bool = False  # CRAWL_EVENT_MODE: it saw its events' folders only: updates those, nothing is "gone"


@dataclass
class Proposal:
    """A table the crawl found: its location, partitions and leaves; ``current`` is the catalog's
    table at that location, when there is one."""

    name: str
    location: str  # the table root's URL, ending in "/"
    partition_keys: tuple[str, ...]
    partitions: list[tuple[Values, str, inventory.Leaf]]  # (values, location, leaf)
    leaves: list[inventory.Leaf]
    exclusions: tuple[str, ...] = ()
    current: store.catalog.Table | None = None


class Writer:
    """Writes a crawl's proposals and gone tables in one transaction, counting into ``summary``."""

    def __init__(self, tx: store.Tx, database: str, policy: Policy, log: Callable[[str], None]) -> None:
        self.tx = tx
        self.database = database
        self.policy = policy
        self.log = log
        self.summary = Summary()
        self.now = store.now()
        self.marker = str(int(time.time() * 1000))

    # --- tables ------------------------------------------------------------------------------

    def table(self, proposal: Proposal) -> None:
        current = proposal.current
        if current is None:
            fresh = table_input(proposal, self.policy)
            if store.catalog.create_table(self.tx, self.database, proposal.name, fresh, self.now) is None:
                raise errors.ConcurrentModificationException(f"Table {proposal.name} was created meanwhile; crawl again")
            self.summary.table("ADD", proposal.name)
            self.log(f"created table {proposal.name} at {proposal.location} "
                     f"({len(proposal.partitions)} partitions)")  # fmt: skip
            self._create_partitions(proposal, fresh, proposal.name)
            return
        if self.policy.partial:  # CRAWL_NEW_FOLDERS_ONLY: new partitions only (updates are LOG)
            self._create_partitions(proposal, current.definition, current.name)
            return
        if self.policy.events:  # CRAWL_EVENT_MODE: what it saw; the other partitions stay
            values = [v for v, _, _ in proposal.partitions] if current.partition_keys else []
            have = store.catalog.get_partitions(self.tx, self.database, current.name, values)  # those crawled again
            effective = self._update(current, seen_table_input(proposal, self.policy, current, list(have.values())))
            if effective is not None:
                self._partitions(proposal, current, effective, have=have, complete=False)
            return
        effective = self._update(current, table_input(proposal, self.policy))
        if effective is not None:
            self._partitions(proposal, current, effective)

    def gone(self, table: store.catalog.Table) -> None:
        """A table of this crawler whose data is no longer there."""
        if self.policy.delete == DELETE:
            store.catalog.delete_table(self.tx, self.database, table.name)
            self.summary.table("DELETE", table.name)
            self.log(f"deleted table {table.name}: its data is gone")
        elif self.policy.delete == DEPRECATE:
            if DEPRECATED not in (table.definition.get("Parameters") or {}):
                self._replace(table, self._deprecated(table.definition))
                self.summary.table("DELETE", table.name)
                self.log(f"deprecated table {table.name}: its data is gone")
        else:
            self.log(f"table {table.name}: its data is gone (DeleteBehavior LOG: kept)")

    def _update(self, current: store.catalog.Table, fresh: dict[str, Any]) -> dict[str, Any] | None:
        """Bring ``current`` in line with ``fresh`` as the policy allows; the table's definition
        after the crawl, or None when its partitions must not be written (a deprecated table)."""
        old = current.definition
        desired = keep_user_fields(old, fresh)
        if self.policy.merge_new_columns:
            changed = fundamental_change(old, fresh)
            if changed:
                self.log(f"table {current.name}: cannot merge new columns: {changed} has changed "
                         f"(MergeNewColumns); {'deprecated' if self.policy.update == UPDATE else 'logged only'}")  # fmt: skip
                if self.policy.update == UPDATE and DEPRECATED not in (old.get("Parameters") or {}):
                    self._replace(current, self._deprecated(old))
                    self.summary.table("UPDATE", current.name)
                return None
            desired["StorageDescriptor"]["Columns"] = merge_new_columns(
                _descriptor_of(old).get("Columns") or [], desired["StorageDescriptor"]["Columns"])
        if same(old, desired):
            return old
        what = describe_change(old, desired)
        if self.policy.update != UPDATE:
            if what != "statistics":
                self.log(f"table {current.name}: {what} changed (UpdateBehavior LOG: not updated)")
            return old
        self._replace(current, desired)
        self.summary.table("UPDATE", current.name)
        self.log(f"updated table {current.name}: {what} changed")
        return desired

    def _replace(self, current: store.catalog.Table, definition: dict[str, Any]) -> None:
        if store.catalog.update_table(self.tx, current, definition, self.now, archive=True) is None:
            raise errors.ConcurrentModificationException(f"Table {current.name} changed meanwhile; crawl again")

    def _deprecated(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(dict(definition))
        out["Parameters"] = {**(out.get("Parameters") or {}), DEPRECATED: self.marker}
        if isinstance(out.get("StorageDescriptor"), dict):
            descriptor = out["StorageDescriptor"]
            descriptor["Parameters"] = {**(descriptor.get("Parameters") or {}), DEPRECATED: self.marker}
        return out

    # --- partitions --------------------------------------------------------------------------

    def _create_partitions(self, proposal: Proposal, table: Mapping[str, Any], name: str) -> None:
        keys = [str(k.get("Name")) for k in table.get("PartitionKeys") or []]
        if not proposal.partitions:
            return
        if keys != list(proposal.partition_keys):
            self.log(f"table {name}: partition keys {keys} differ from the folders' "
                     f"{list(proposal.partition_keys)}: {len(proposal.partitions)} partitions not written")  # fmt: skip
            return
        inputs = [(values, partition_input(values, location, leaf, table, self.policy))
                  for values, location, leaf in proposal.partitions]  # fmt: skip
        created = store.catalog.create_partitions(self.tx, self.database, name, inputs, self.now)
        self.summary.partition("ADD", name, len(created))

    def _partitions(self, proposal: Proposal, current: store.catalog.Table, table: dict[str, Any], *,
                    have: Mapping[str, store.catalog.Partition] | None = None, complete: bool = True) -> None:  # fmt: skip
        """Create and update the proposal's partitions; when ``complete`` (it lists every folder
        of the table), those it lacks are gone. ``have``: the table's partitions, if read."""
        keys = [str(k.get("Name")) for k in table.get("PartitionKeys") or []]
        old_keys = [name for name, _ in current.partition_keys]
        if keys != list(proposal.partition_keys):
            self._create_partitions(proposal, table, current.name)  # logs why nothing is written
            return
        if have is None:
            have = {p.values_key: p for p in store.catalog.find_partitions(self.tx, current)} if old_keys else {}
        have = dict(have)
        new: list[tuple[Values, dict[str, Any]]] = []
        updated = changed = 0
        for values, location, leaf in proposal.partitions:
            want = partition_input(values, location, leaf, table, self.policy)
            found = have.pop(store.catalog.values_key(values), None)
            if found is None:
                new.append((values, want))
            elif not same(found.definition, want):
                changed += 1
                if self.policy.update == UPDATE:
                    store.catalog.update_partition(self.tx, self.database, current.name, values, want, self.now)
                    updated += 1
        if changed > updated:
            self.log(f"table {current.name}: {changed} partitions changed (UpdateBehavior LOG: not updated)")
        if new:
            created = store.catalog.create_partitions(self.tx, self.database, current.name, new, self.now)
            self.summary.partition("ADD", current.name, len(created))
        self.summary.partition("UPDATE", current.name, updated)
        if not complete:
            return
        if keys != old_keys:  # the table's keys changed: partitions of the old shape cannot stay
            misfits = [p.values for p in have.values() if len(p.values) != len(keys)]
            gone = store.catalog.delete_partitions(self.tx, self.database, current.name, misfits)
            self.summary.partition("DELETE", current.name, len(gone))
            have = {k: p for k, p in have.items() if len(p.values) == len(keys)}
        self._gone_partitions(current.name, list(have.values()))

    def _gone_partitions(self, table: str, partitions: Sequence[store.catalog.Partition]) -> None:
        if not partitions:
            return
        if self.policy.delete == DELETE:
            gone = store.catalog.delete_partitions(self.tx, self.database, table, [p.values for p in partitions])
            self.summary.partition("DELETE", table, len(gone))
            self.log(f"table {table}: deleted {len(gone)} partitions whose data is gone")
        elif self.policy.delete == DEPRECATE:
            marked = 0
            for p in partitions:
                if DEPRECATED not in (p.definition.get("Parameters") or {}):
                    store.catalog.update_partition(self.tx, self.database, table, p.values,
                                                   self._deprecated(p.definition), self.now)  # fmt: skip
                    marked += 1
            self.summary.partition("DELETE", table, marked)
            if marked:
                self.log(f"table {table}: deprecated {marked} partitions whose data is gone")
        else:
            self.log(f"table {table}: {len(partitions)} partitions' data is gone (DeleteBehavior LOG: kept)")


# --- shapes --------------------------------------------------------------------------------------


def table_input(proposal: Proposal, policy: Policy, *, columns: inventory.Columns | None = None,
                statistics: tuple[int, int, int, int] | None = None) -> dict[str, Any]:  # fmt: skip
    """The TableInput a crawler writes for ``proposal``: its columns merged over its leaves and
    its statistics theirs, unless given (``statistics``: objects, size, records, average record size)."""
    leaves = proposal.leaves
    if columns is None:
        columns = leaves[0].columns
        for leaf in leaves[1:]:
            if leaf.columns != columns:
                columns = schemas.merge(columns, leaf.columns)
    if statistics is None:
        records = sum(leaf.records for leaf in leaves)
        average = round(sum(leaf.average_record_size * leaf.records for leaf in leaves) / records) if records else 0
        statistics = (sum(leaf.objects for leaf in leaves), sum(leaf.size for leaf in leaves), records, average)
    parameters = _parameters(leaves[0], policy.crawler, *statistics)
    parameters["CRAWL_RUN_ID"] = policy.crawl_id
    if proposal.exclusions:
        parameters["exclusions"] = json.dumps(list(proposal.exclusions))
    descriptor = _descriptor(leaves[0], columns, proposal.location, parameters)
    return {"Name": proposal.name, "Owner": "owner", "Retention": 0, "StorageDescriptor": descriptor,
            "PartitionKeys": [{"Name": key, "Type": "string"} for key in proposal.partition_keys],
            "TableType": "EXTERNAL_TABLE", "Parameters": parameters}  # fmt: skip


def seen_table_input(proposal: Proposal, policy: Policy, current: store.catalog.Table,
                     seen: Sequence[store.catalog.Partition]) -> dict[str, Any]:  # fmt: skip
    """The TableInput of a table some of whose folders a CRAWL_EVENT_MODE crawl listed: an
    unpartitioned table's is its folder's, as a full crawl writes it; a partitioned one keeps
    what its other partitions hold: its columns with the new folders' merged in (never dropped),
    its statistics with those of the partitions crawled again (``seen``) replaced by theirs."""
    if not current.partition_keys:
        return table_input(proposal, policy)
    old = current.definition
    fresh = table_input(proposal, policy)
    before = tuple((str(c.get("Name")), str(c.get("Type"))) for c in _descriptor_of(old).get("Columns") or []
                   if isinstance(c, Mapping) and c.get("Name"))  # fmt: skip
    found = tuple((c["Name"], c["Type"]) for c in fresh["StorageDescriptor"]["Columns"])
    columns = schemas.merge(before, found) if before and before != found else found
    total = _statistics(old.get("Parameters") or {})
    gone = [_statistics(p.definition.get("Parameters") or {}) for p in seen]
    new = _statistics(fresh["Parameters"])
    objects, size, records = (max(total[i] - sum(g[i] for g in gone) + new[i], 0) for i in range(3))
    weight = total[3] * total[2] - sum(g[3] * g[2] for g in gone) + new[3] * new[2]  # record bytes
    average = round(weight / records) if records and weight > 0 else 0
    return table_input(proposal, policy, columns=columns, statistics=(objects, size, records, average))


def _statistics(parameters: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """(objectCount, sizeKey, recordCount, averageRecordSize) of a table's or partition's
    parameters; 0 for what is missing or not a number."""
    out = []
    for key in ("objectCount", "sizeKey", "recordCount", "averageRecordSize"):
        try:
            out.append(int(parameters.get(key) or 0))
        except (TypeError, ValueError):
            out.append(0)
    return out[0], out[1], out[2], out[3]


def partition_input(values: Values, location: str, leaf: inventory.Leaf, table: Mapping[str, Any],
                    policy: Policy) -> dict[str, Any]:  # fmt: skip
    """The PartitionInput of one leaf: its own schema and format, or with InheritFromTable the
    table's StorageDescriptor at the partition's location (its statistics stay its own)."""
    parameters = _parameters(leaf, policy.crawler, leaf.objects, leaf.size, leaf.records, leaf.average_record_size)
    if policy.inherit_from_table:
        descriptor = copy.deepcopy(_descriptor_of(table))
        descriptor["Location"] = location
        descriptor["Parameters"] = dict(parameters)
        for key in FUNDAMENTAL:
            if key in (table.get("Parameters") or {}):
                parameters[key] = table["Parameters"][key]
    else:
        descriptor = _descriptor(leaf, leaf.columns, location, parameters)
    return {"Values": list(values), "StorageDescriptor": descriptor, "Parameters": parameters}


def _parameters(leaf: inventory.Leaf, crawler: str, objects: int, size: int, records: int,
                average: int) -> dict[str, str]:  # fmt: skip
    return {
        **leaf.parameters,
        "classification": leaf.kind.classification,
        "compressionType": leaf.kind.compression,
        "typeOfData": "file",
        "recordCount": str(records),
        "objectCount": str(objects),
        "sizeKey": str(size),
        "averageRecordSize": str(average),
        "UPDATED_BY_CRAWLER": crawler,
        "CrawlerSchemaSerializerVersion": "1.0",
        "CrawlerSchemaDeserializerVersion": "1.0",
    }


def _descriptor(leaf: inventory.Leaf, columns: inventory.Columns, location: str,
                parameters: Mapping[str, str]) -> dict[str, Any]:  # fmt: skip
    kind = leaf.kind
    serde_parameters = dict(leaf.serde_parameters)
    if "paths" in serde_parameters:  # the JSON SerDe's list of fields: the merged columns'
        serde_parameters["paths"] = ",".join(sorted(name for name, _ in columns))
    serde: dict[str, Any] = {"Parameters": serde_parameters}
    if kind.serde:
        serde["SerializationLibrary"] = kind.serde
    descriptor: dict[str, Any] = {"Columns": [{"Name": name, "Type": type_} for name, type_ in columns],
                                  "Location": location}  # fmt: skip
    if kind.input_format:
        descriptor["InputFormat"] = kind.input_format
    if kind.output_format:
        descriptor["OutputFormat"] = kind.output_format
    descriptor.update({"Compressed": kind.compression != "none", "NumberOfBuckets": -1, "SerdeInfo": serde,
                       "BucketColumns": [], "SortColumns": [], "Parameters": dict(parameters),
                       "StoredAsSubDirectories": False})  # fmt: skip
    return descriptor


def _descriptor_of(definition: Mapping[str, Any]) -> dict[str, Any]:
    descriptor = definition.get("StorageDescriptor")
    return descriptor if isinstance(descriptor, dict) else {}


# --- comparing -----------------------------------------------------------------------------------


def _stable(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A definition without what changes on every crawl."""
    out = dict(definition)
    out["Parameters"] = {k: v for k, v in (out.get("Parameters") or {}).items() if k not in VOLATILE}
    descriptor = dict(_descriptor_of(out))
    if descriptor:
        descriptor["Parameters"] = {k: v for k, v in (descriptor.get("Parameters") or {}).items() if k not in VOLATILE}
        out["StorageDescriptor"] = descriptor
    return out


def same(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return _stable(old) == _stable(new)


def describe_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """What differs, in a word or two: "schema", "partition keys", "format", "statistics"..."""
    a, b = _descriptor_of(old), _descriptor_of(new)
    params_a, params_b = _stable(old)["Parameters"], _stable(new)["Parameters"]
    if a.get("Columns") != b.get("Columns"):
        return "schema"
    if old.get("PartitionKeys") != new.get("PartitionKeys"):
        return "partition keys"
    if any(params_a.get(k) != params_b.get(k) for k in FUNDAMENTAL) or any(
            a.get(k) != b.get(k) for k in ("InputFormat", "OutputFormat", "SerdeInfo", "Compressed")):  # fmt: skip
        return "format"
    if a.get("Location") != b.get("Location"):
        return "location"
    if {k: v for k, v in params_a.items() if k not in STATISTICS} == {k: v for k, v in params_b.items() if k not in STATISTICS}:
        return "statistics"
    return "parameters"


def fundamental_change(old: Mapping[str, Any], fresh: Mapping[str, Any]) -> str | None:
    """The first attribute MergeNewColumns cannot change that did change, as Glue's message names it."""
    params_old, params_new = old.get("Parameters") or {}, fresh.get("Parameters") or {}
    for key in FUNDAMENTAL:
        if params_old.get(key) != params_new.get(key):
            return f"parameter {key!r}"
    if [k.get("Name") for k in old.get("PartitionKeys") or []] != [k["Name"] for k in fresh["PartitionKeys"]]:
        return "the partition keys"
    return None


def merge_new_columns(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The table's columns as they are, then the new ones (MergeNewColumns)."""
    names = {str(c.get("Name", "")).lower() for c in old}
    return [dict(c) for c in old] + [dict(c) for c in new if c["Name"].lower() not in names]


def keep_user_fields(old: Mapping[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
    """``fresh`` with what a user set on the table kept: other top-level keys (Description,
    Retention...), the Owner, parameters a crawler never writes, and column comments."""
    out = {**{k: v for k, v in old.items() if k not in fresh}, **copy.deepcopy(fresh)}
    if old.get("Owner"):
        out["Owner"] = old["Owner"]
    user = {k: v for k, v in (old.get("Parameters") or {}).items() if k not in CRAWLER_KEYS and k not in fresh["Parameters"]}
    out["Parameters"].update(user)
    before = {str(c.get("Name", "")).lower(): c for c in _descriptor_of(old).get("Columns") or [] if isinstance(c, dict)}
    for column in out["StorageDescriptor"]["Columns"]:
        previous = before.get(column["Name"].lower(), {})
        column.update({k: v for k, v in previous.items() if k in ("Comment", "Parameters")})
    return out
