"""A crawl: from a crawler's definition (Glue's CreateCrawler shape) to the Data Catalog's tables
and partitions, written in one transaction (glue-semantics.md §5, Appendix B.1).

Phases: read the options; list and classify every target (``inventory``); decide tables and
partitions (``layout``); set them against the catalog and write (``reconcile``). Nothing is
written before every target was listed and classified, and all writes share one transaction,
which ``commit`` sees last: a crawl fails, is cancelled or succeeds whole.

Tables are matched to the catalog's by location (as Glue matches them), so a re-crawl updates
the table it made even when a name would collide; a new table whose name is taken gets a hash
suffix (``layout``). A table counts as this crawler's to deprecate or delete when its
``UPDATED_BY_CRAWLER`` names the crawler and its location lies under one of the include paths;
any table at a location the crawl found is updated, whoever wrote it.

``CRAWL_NEW_FOLDERS_ONLY`` lists folders, not files, to find the folders the catalog lacks
(``inventory.new_folders``), reads only those, adds their partitions to the tables they belong
to (when format and schema fit, else it logs and skips them, as Glue does) and makes tables of
new folders outside every table; updates and deletions are LOG, as Glue forces them.

``CRAWL_EVENT_MODE`` takes the same path with other folders: those its S3 events name
(``crawl_events``; the caller passes the events, ``catalog.crawl_process`` those of the crawl's
workflow run). It lists the files directly in them only (``storage.list_files_in``), and what
they hold is written as a full crawl would write it, under the crawler's SchemaChangePolicy: new
partitions and tables are created, partitions crawled again updated, their table's columns
merged with theirs and its statistics counting them anew. Nothing it did not list is touched:
no table or partition is deprecated or deleted. Without events (``events`` None) it lists every
target, as Glue's first crawl in this mode does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from catalog import crawl_events, globs, inventory, layout, reconcile, schemas, storage
from catalog.crawl_options import EVENTS, NEW_FOLDERS, CrawlError, Options, Target, canonical
from orchestrator import errors, store

__all__ = ["CrawlCancelled", "CrawlError", "Options", "Summary", "Target", "crawl"]

Summary = reconcile.Summary
CHECK_EVERY = 0.5  # seconds between two calls of ``cancelled`` while files are classified
_UNNAMED = re.compile(r"partition_\d+_*")  # layout's name for a level of folders without one key
Parts = tuple[str, ...]


class CrawlCancelled(errors.AdhereError):
    """The crawl was stopped; nothing was written to the Data Catalog."""

    code = "CrawlCancelled"


def crawl(db: store.Store, crawler: Mapping[str, Any], *, crawl_id: str,
          log: Callable[[str], None] = print,
          commit: Callable[[store.Tx, Summary], None] = lambda tx, s: None,
          cancelled: Callable[[], bool] = lambda: False,
          events: Sequence[Mapping[str, Any]] | None = None) -> Summary:  # fmt: skip
    """Run one crawl of ``crawler`` and write its findings; the Summary of what changed (and
    in ``Summary.read``, what it read).

    Raises CrawlError (nothing written) when the crawl cannot run or fails, and CrawlCancelled
    when ``cancelled()`` turns true between phases or batches of files. ``commit(tx, summary)``
    runs in the writing transaction just before it commits; if it raises, nothing is written.
    ``events``: the EventBridge envelopes a CRAWL_EVENT_MODE crawl consumes (``[]``: none, so
    it crawls nothing); None lists every target (its first crawl). Other crawlers ignore it.
    """
    options = Options.from_glue(crawler)
    picked: crawl_events.Picked | None = None
    if options.recrawl == EVENTS and events is None:
        log("CRAWL_EVENT_MODE: no crawl of this crawler succeeded since it was created or updated: every "
            "target is listed (the crawl is not running in S3 event mode)")  # fmt: skip
    elif options.recrawl == EVENTS:
        log("The crawl is running by consuming Amazon S3 events.")
        picked = crawl_events.pick(options.targets, events or [], log)
        log(f"{picked.events} events name {picked.objects} objects in {picked.folder_count} folders to crawl"
            + (f"; {sum(picked.ignored.values())} ignored" if picked.ignored else ""))  # fmt: skip
    partial = options.recrawl == NEW_FOLDERS or picked is not None  # it lists some folders only

    last = [time.monotonic()]

    def check(*, now: bool = True) -> None:
        """Raise CrawlCancelled if the crawl was stopped; between batches, ask every CHECK_EVERY s
        only (``cancelled`` may read the store)."""
        if not now and time.monotonic() - last[0] < CHECK_EVERY:
            return
        last[0] = time.monotonic()
        if cancelled():
            raise CrawlCancelled(f"crawl {crawl_id} of {options.name} was stopped; nothing was written")

    started = time.monotonic()
    check()
    catalogued = _catalogued(db, options) if partial else {}
    found: list[tuple[Target, inventory.Inventory, dict[Parts, Parts | None] | None]] = []
    for target in options.targets:
        if picked is not None:
            found.append(_take_events(target, picked.folders[target.url], catalogued[target.url], log, check))
        else:
            found.append(_take(target, catalogued.get(target.url), log, check))
            if options.recrawl == EVENTS and found[-1][1].single_file:
                raise CrawlError(f"S3Targets {target.path}: CRAWL_EVENT_MODE crawls a folder, not one file")
        check()
    listed = time.monotonic()
    with db.transaction() as tx:
        if store.catalog.get_database(tx, options.database, lock=True) is None:
            store.catalog.create_database(tx, options.database, {"Name": options.database}, store.now())
            log(f"created database {options.database}")
        existing = store.catalog.find_tables(tx, options.database)
        proposals = _propose(options, found, existing, log)
        # an incremental or event crawl counts the tables it found in new folders, a full crawl every table
        counted = [p for p in proposals if not partial or p.current is None]
        if options.table_threshold is not None and len(counted) > options.table_threshold:
            raise CrawlError(f"the crawl found {len(counted)} tables, more than CrawlerOutput.Tables."
                             f"TableThreshold ({options.table_threshold}): nothing was written")  # fmt: skip
        check()
        policy = reconcile.Policy(options.name, crawl_id, options.update, options.delete,
                                  options.merge_new_columns, options.inherit_from_table,
                                  partial=options.recrawl == NEW_FOLDERS, events=picked is not None)  # fmt: skip
        writer = reconcile.Writer(tx, options.database, policy, log)
        for proposal in proposals:
            writer.table(proposal)
        if not partial:
            for table in _gone(options, proposals, existing):
                writer.gone(table)
        writer.summary.read = _read(options, found, picked)
        check()
        commit(tx, writer.summary)
    summary = writer.summary
    if picked is not None:
        log(f"crawled {picked.objects} objects in {picked.folder_count} folders from {picked.events} events")
    log(f"crawl {crawl_id} of {options.name}: listed and classified in {listed - started:.2f} s, wrote in "
        f"{time.monotonic() - listed:.2f} s; tables {summary.tables_created} created, {summary.tables_updated} "
        f"updated, {summary.tables_deleted} deleted; partitions {summary.partitions_created} created, "
        f"{summary.partitions_updated} updated, {summary.partitions_deleted} deleted")  # fmt: skip
    return summary


# --- listing ------------------------------------------------------------------------------------


Catalogued = dict[Parts, tuple[int, set[Parts]]]  # table root -> (partition keys, partition folders)


def _catalogued(db: store.Store, options: Options) -> dict[str, Catalogued]:
    """Per include path: the roots of the tables under it and the partition folders they have."""
    out: dict[str, Catalogued] = {target.url: {} for target in options.targets}
    with db.read() as tx:
        for table in store.catalog.find_tables(tx, options.database):
            location = canonical(_location(table.definition))
            for base, roots in out.items():
                root = _below(base, location)
                if root is None:
                    continue
                seen: set[Parts] = set()
                if table.partition_keys:
                    for partition in store.catalog.find_partitions(tx, table):
                        folder = _below(location, canonical(_location(partition.definition)))
                        if folder:
                            seen.add(folder)
                roots[root] = (len(table.partition_keys), seen)
    return out


def _take(target: Target, catalogued: Catalogued | None, log: Callable[[str], None],
          check: Callable[..., None]) -> tuple[Target, inventory.Inventory, dict[Parts, Parts | None] | None]:  # fmt: skip
    """List and classify one target; with ``catalogued`` (an incremental crawl that has tables
    here), only its new folders, returned with the table root each belongs to."""
    started = time.monotonic()
    try:
        exclude = globs.compile(target.exclusions) if target.exclusions else None
    except errors.InvalidInputException as exc:
        raise CrawlError(f"S3Targets {target.path}: {exc}") from exc
    new: dict[Parts, Parts | None] | None = None
    try:
        if catalogued:
            new = dict(inventory.new_folders(target.path, catalogued, exclude))
            log(f"{target.path}: {len(new)} new folders beside {len(catalogued)} catalogued tables "
                f"({time.monotonic() - started:.2f} s)")  # fmt: skip
            check()
        under = None if new is None else ["/".join(folder) for folder in new]
        found = inventory.take(target.path, exclude=exclude, under=under, sample_size=target.sample_size,
                               log=log, check=lambda: check(now=False))  # fmt: skip
    except storage.StorageError as exc:
        raise CrawlError(f"S3Targets {target.path}: {exc}") from exc
    log(f"{target.path}: {found.files} files listed, {found.classified} classified, {found.skipped} skipped, "
        f"{len(found.leaves)} leaf folders ({time.monotonic() - started:.2f} s)")  # fmt: skip
    return target, found, new


def _take_events(target: Target, folders: Mapping[Parts, set[str]], catalogued: Catalogued,
                 log: Callable[[str], None],
                 check: Callable[..., None]) -> tuple[Target, inventory.Inventory, dict[Parts, Parts | None]]:  # fmt: skip
    """List and classify the files directly in the folders events named (none: nothing is
    listed), each returned with the table root it belongs to or the new folder it starts."""
    started = time.monotonic()
    new = _event_folders(folders, catalogued)
    if not folders:
        log(f"{target.path}: no event names an object below it: nothing listed")
        return target, inventory.Inventory([]), new
    try:
        exclude = globs.compile(target.exclusions) if target.exclusions else None
        found = inventory.take(target.path, exclude=exclude, files_in=["/".join(folder) for folder in folders],
                               log=log, check=lambda: check(now=False))  # fmt: skip
    except errors.InvalidInputException as exc:  # StorageError too
        raise CrawlError(f"S3Targets {target.path}: {exc}") from exc
    log(f"{target.path}: {found.files} files listed in the {len(folders)} folders events named, "
        f"{found.classified} classified, {found.skipped} skipped, {len(found.leaves)} leaf folders "
        f"({time.monotonic() - started:.2f} s)")  # fmt: skip
    return target, found, new


def _event_folders(folders: Iterable[Parts], catalogued: Catalogued) -> dict[Parts, Parts | None]:
    """What ``_incremental`` takes, for folders events named: a folder in a partitioned table
    (``_fits`` judges it) or an unpartitioned table's own folder, with its table root; else the
    first folder on its way down that no table holds, whose new table it plans (root None)."""
    ancestors = {root[:i] for root in catalogued for i in range(len(root))}
    out: dict[Parts, Parts | None] = {}
    for folder in folders:
        root = max((r for r in catalogued if folder[: len(r)] == r), key=len, default=None)
        if root is not None and (catalogued[root][0] or folder == root):
            out[folder] = root
            continue
        start = 0 if root is None else len(root) + 1
        top = next((folder[:i] for i in range(start, len(folder) + 1)
                    if folder[:i] not in ancestors and folder[:i] not in catalogued), folder)  # fmt: skip
        out.setdefault(top, None)
    return out


def _read(options: Options, found: Sequence[tuple[Target, inventory.Inventory, Any]],
          picked: crawl_events.Picked | None) -> dict[str, Any]:  # fmt: skip
    """What the crawl read, for its summary: files and leaf folders, and what its events named."""
    mode = "events" if picked is not None else "new folders" if options.recrawl == NEW_FOLDERS else "everything"
    read: dict[str, Any] = {"mode": mode, "files_listed": sum(inv.files for _, inv, _ in found),
                            "files_classified": sum(inv.classified for _, inv, _ in found),
                            "files_skipped": sum(inv.skipped for _, inv, _ in found),
                            "leaf_folders": sum(len(inv.leaves) for _, inv, _ in found)}  # fmt: skip
    if picked is not None:
        read.update(picked.read())
    return read


# --- deciding tables -----------------------------------------------------------------------------


def _propose(options: Options, found: Sequence[tuple[Target, inventory.Inventory, dict[Parts, Parts | None] | None]],
             existing: Sequence[store.catalog.Table], log: Callable[[str], None]) -> list[reconcile.Proposal]:  # fmt: skip
    """The tables of every target, each matched to the catalog's table at its location."""
    by_location: dict[str, list[store.catalog.Table]] = {}
    for table in existing:
        by_location.setdefault(canonical(_location(table.definition)), []).append(table)
    taken = {table.name for table in existing}
    proposals: list[reconcile.Proposal] = []
    placed: set[str] = set()
    for target, inv, new in found:
        if new is None:
            planned = _plan(options, target, inv.leaves, (), taken, inv.single_file)
        else:
            planned = _incremental(options, target, inv.leaves, new, by_location, taken, log)
        for proposal in planned:
            key = proposal.location.rstrip("/")
            if key in placed:  # include paths that overlap
                log(f"{proposal.location}: already crawled through another include path; skipped")
                continue
            placed.add(key)
            if proposal.current is None:
                proposal.current = _pick(by_location.get(key, []), options.name, proposal.name)
            if proposal.current is not None:
                proposal.name = proposal.current.name
            taken.add(proposal.name)
            proposals.append(proposal)
    return proposals


def _plan(options: Options, target: Target, leaves: Sequence[inventory.Leaf], under: Parts,
          taken: set[str], single_file: str | None = None) -> list[reconcile.Proposal]:  # fmt: skip
    """layout.plan over ``leaves`` (all below ``under``, planned as if it were the include path)."""
    if not leaves:
        return []
    start = len(under)
    by_parts = {leaf.parts[start:]: leaf for leaf in leaves}
    shapes = [layout.Leaf(parts, leaf.kind.label, leaf.kind.compression, leaf.columns) for parts, leaf in by_parts.items()]
    name = under[-1] if under else storage.include_name(target.path)
    plans = layout.plan(name, shapes, table_prefix=options.table_prefix, combine_compatible=options.combine_compatible,
                        table_level=options.table_level, include_level=storage.include_level(target.path) + start,
                        taken=taken, similar=schemas.similarity)  # fmt: skip
    out = []
    for plan in plans:
        location = canonical(single_file) if single_file and not under else folder_url(target.url, under + plan.root)
        partitions = [(values, folder_url(target.url, under + parts), by_parts[parts]) for values, parts in plan.partitions]
        out.append(reconcile.Proposal(plan.name, location, plan.partition_keys, partitions,
                                      [by_parts[leaf.parts] for leaf in plan.leaves], target.exclusions))  # fmt: skip
        taken.add(plan.name)
    return out


def _incremental(options: Options, target: Target, leaves: Sequence[inventory.Leaf], new: Mapping[Parts, Parts | None],
                 by_location: Mapping[str, list[store.catalog.Table]], taken: set[str],
                 log: Callable[[str], None]) -> list[reconcile.Proposal]:  # fmt: skip
    """New folders (or folders events named): partitions of the tables they belong to, an
    unpartitioned table's own folder, or new tables of their own."""
    groups: dict[Parts, list[inventory.Leaf]] = {}
    for leaf in leaves:
        folder = next((leaf.parts[:i] for i in range(len(leaf.parts), -1, -1) if leaf.parts[:i] in new), None)
        if folder is not None:
            groups.setdefault(folder, []).append(leaf)
    additions: dict[str, reconcile.Proposal] = {}
    out: list[reconcile.Proposal] = []
    for folder, members in groups.items():
        root = new[folder]
        location = folder_url(target.url, root) if root is not None else ""
        table = _pick(by_location.get(location.rstrip("/"), []), options.name, "") if root is not None else None
        if root is None or table is None:
            out += _plan(options, target, members, folder, taken)
            continue
        assert root is not None
        proposal = additions.get(table.name)
        if proposal is None:
            keys = tuple(name for name, _ in table.partition_keys)
            proposal = additions[table.name] = reconcile.Proposal(table.name, location, keys, [], [],
                                                                  target.exclusions, current=table)  # fmt: skip
        for leaf in members:
            if not proposal.partition_keys and leaf.parts == root:  # the whole of an unpartitioned table
                proposal.leaves.append(leaf)
                continue
            values = _fits(table, leaf, root, target, log)
            if values is not None:
                proposal.partitions.append((values, folder_url(target.url, leaf.parts), leaf))
                proposal.leaves.append(leaf)
    return [*out, *(p for p in additions.values() if p.leaves)]


def _fits(table: store.catalog.Table, leaf: inventory.Leaf, root: Parts, target: Target,
          log: Callable[[str], None]) -> tuple[str, ...] | None:  # fmt: skip
    """A folder's partition values in ``table``, or None (logged) when it does not fit:
    another depth, other keys, another format, or a schema that differs too much."""
    where = f"{target.path.rstrip('/')}/{'/'.join(leaf.parts)}"
    rel = leaf.parts[len(root):]
    keys = [name for name, _ in table.partition_keys]
    if len(rel) != len(keys):
        log(f"skipped folder {where}: not at the depth of table {table.name}'s partitions")
        return None
    values = []
    for key, folder in zip(keys, rel, strict=True):
        named, value = layout.partition_value(folder)
        if named == key:
            values.append(value)
        elif _UNNAMED.fullmatch(key):
            values.append(folder)
        else:
            log(f"skipped folder {where}: {folder!r} is not a value of table {table.name}'s key {key}")
            return None
    parameters = table.definition.get("Parameters") or {}
    if (parameters.get("classification"), parameters.get("compressionType"), parameters.get("delimiter", "")) != (
            leaf.kind.classification, leaf.kind.compression, leaf.kind.delimiter):  # fmt: skip
        log(f"skipped folder {where}: {leaf.kind.label} ({leaf.kind.compression}) files, not the format of "
            f"table {table.name}")  # fmt: skip
        return None
    columns = tuple((str(c.get("Name")), str(c.get("Type"))) for c in _descriptor(table.definition).get("Columns") or [])
    score = schemas.similarity(leaf.columns, columns)
    if score <= layout.THRESHOLD:
        log(f"skipped folder {where}: its schema differs too much from table {table.name}'s "
            f"(similarity {score:.2f})")  # fmt: skip
        return None
    return tuple(values)


def _gone(options: Options, proposals: Sequence[reconcile.Proposal],
          existing: Sequence[store.catalog.Table]) -> list[store.catalog.Table]:  # fmt: skip
    """This crawler's tables under its include paths that the crawl did not find again."""
    found = {p.current.name for p in proposals if p.current is not None}
    bases = [target.url for target in options.targets]
    return [t for t in existing
            if t.name not in found
            and (t.definition.get("Parameters") or {}).get("UPDATED_BY_CRAWLER") == options.name
            and any(_below(base, canonical(_location(t.definition))) is not None for base in bases)]  # fmt: skip


def _pick(tables: Sequence[store.catalog.Table], crawler: str, name: str) -> store.catalog.Table | None:
    """Of the tables at one location: this crawler's, else the one named ``name``, else the first."""
    if not tables:
        return None
    return min(tables, key=lambda t: ((t.definition.get("Parameters") or {}).get("UPDATED_BY_CRAWLER") != crawler,
                                      t.name != name, t.name))  # fmt: skip


# --- locations -----------------------------------------------------------------------------------


def folder_url(base: str, parts: Sequence[str]) -> str:
    """The URL of a folder below a canonical include path, ending in ``/`` (a Glue Location)."""
    return f"{inventory.join(base, parts).rstrip('/')}/"


def _below(base: str, location: str) -> Parts | None:
    """``location``'s folders below ``base`` (both canonical), or None when it is not below it."""
    if not location or not base:
        return None
    if location == base:
        return ()
    if location.startswith(f"{base}/"):
        return tuple(location[len(base) + 1:].split("/"))
    return None


def _descriptor(definition: Mapping[str, Any]) -> Mapping[str, Any]:
    descriptor = definition.get("StorageDescriptor")
    return descriptor if isinstance(descriptor, Mapping) else {}


def _location(definition: Mapping[str, Any]) -> str:
    location = _descriptor(definition).get("Location")
    return location if isinstance(location, str) else ""


# --- options -------------------------------------------------------------------------------------
