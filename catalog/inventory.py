"""What one include path holds, per leaf folder: its files listed once, classified in parallel,
and summed up (format, merged columns, counts) in memory that grows with the folders, not the files.

The first step of a crawl (glue-semantics.md §5.4, Appendix B.1): ``take`` streams the listing,
sends the files to classify in batches of ``BATCH`` to worker processes (local disk: the work is
pyarrow footers and Python, so processes; threads for S3, whose cost is waiting on the network),
and folds each batch's tallies back in the order it sent them, so a crawl is deterministic.
``SampleSize`` caps the files classified per leaf folder; the others only count.

Choices where Glue is silent: empty files hold no schema and are skipped; a folder's files of a
minority format are skipped (the folder's format is that of most of its files, a tie going to the
include path's most common format); files no classifier recognises (or corrupt ones) are skipped
when the include path holds any recognised file, so one bad file cannot split a table, and
otherwise make tables of classification ``UNKNOWN``, as Glue's do. Every skipped file is logged
with its path and the reason (the first ``MAX_LOGGED`` of them per include path).
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from catalog import classifiers, globs, schemas, storage

Parts = tuple[str, ...]
Columns = tuple[tuple[str, str], ...]
Item = tuple[str, str, int, Parts]  # (url, key, size, leaf folder) of a file to classify

BATCH = 64  # files per task: big enough to pay for the pickling, small enough to spread
INLINE_FILES = 256  # a crawl classifies its first files in-process: small trees start no pool
PREFETCH = 1 << 20  # files up to this size are read whole, once (one read, not a read per footer part)
S3_THREADS = 16
MAX_EXAMPLES = 20  # skipped files remembered per folder and format, to log their paths
MAX_LOGGED = 200  # skipped-file lines per include path
UNKNOWN = classifiers.UNKNOWN.classification
_EPOCH = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True, slots=True)
class Kind:
    """What files must share to be read by one table: the format and its fixed settings."""

    classification: str
    compression: str
    serde: str
    input_format: str
    output_format: str
    delimiter: str = ""  # CSV's, a fundamental attribute (B.1 MergeNewColumns)

    @property
    def label(self) -> str:
        """The format as ``layout`` compares it."""
        return f"{self.classification}|{self.delimiter}" if self.delimiter else self.classification

    @classmethod
    def of(cls, found: classifiers.Classification) -> Kind:
        delimiter = found.parameters.get("delimiter") or found.serde_parameters.get("field.delim") or ""
        return cls(found.classification, found.compression, found.serde, found.input_format,
                   found.output_format, delimiter)  # fmt: skip


@dataclass(slots=True)
class Tally:
    """The classified files of one folder and kind, added up: counts, sizes, merged columns."""

    files: int = 0
    size: int = 0
    records: int = 0
    record_bytes: int = 0  # records times their average size, for a weighted averageRecordSize
    columns: Columns = ()
    parameters: dict[str, str] = field(default_factory=dict)  # the first file's
    serde_parameters: dict[str, str] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)  # a few keys, to name skipped files
    seen: set[Columns] = field(default_factory=set)  # schemas already merged (a batch's, bounded)

    def add(self, key: str, size: int, found: classifiers.Classification) -> None:
        if not self.files:
            self.parameters, self.serde_parameters = dict(found.parameters), dict(found.serde_parameters)
        self.files += 1
        self.size += size
        if found.record_count:
            self.records += found.record_count
            self.record_bytes += found.record_count * (found.average_record_size or 0)
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(key)
        self._merge(found.columns)

    def absorb(self, other: Tally) -> None:
        if not self.files:
            self.parameters, self.serde_parameters = other.parameters, other.serde_parameters
        self.files += other.files
        self.size += other.size
        self.records += other.records
        self.record_bytes += other.record_bytes
        self.examples.extend(other.examples[: MAX_EXAMPLES - len(self.examples)])
        self._merge(other.columns)

    def _merge(self, columns: Columns) -> None:
        # files of a folder mostly share one schema: merge (parse, widen, render) each schema once
        if columns == self.columns or columns in self.seen:
            return
        self.columns = schemas.merge(self.columns, columns) if self.columns else columns
        if len(self.seen) >= 32:
            self.seen.clear()
        self.seen.add(columns)


@dataclass(slots=True)
class Folder:
    """One folder's files as the listing met them (a leaf once some file in it is classified)."""

    sampled: int = 0
    unsampled: int = 0  # files past SampleSize: counted, not read
    unsampled_size: int = 0
    tallies: dict[Kind, Tally] = field(default_factory=dict)

    def absorb(self, kind: Kind, tally: Tally) -> None:
        tally.seen = set()  # the worker's; not worth keeping
        mine = self.tallies.get(kind)
        if mine is None:
            self.tallies[kind] = tally
        else:
            mine.absorb(tally)


@dataclass(frozen=True, slots=True)
class Leaf:
    """A leaf folder, settled: one kind of file and what its files add up to."""

    parts: Parts  # below the include path
    kind: Kind
    columns: Columns
    objects: int
    size: int
    records: int  # read from the files, and estimated for those past SampleSize
    average_record_size: int
    parameters: Mapping[str, str]
    serde_parameters: Mapping[str, str]


@dataclass
class Inventory:
    """What ``take`` found under one include path."""

    leaves: list[Leaf]
    files: int = 0  # listed
    classified: int = 0
    skipped: int = 0
    single_file: str | None = None  # the file's URL when the include path names one file


class Skips:
    """Logs skipped files with their path and reason, up to ``MAX_LOGGED`` lines, then counts."""

    def __init__(self, include_path: str, log: Callable[[str], None]) -> None:
        self.include_path = include_path.rstrip("/")
        self.log = log
        self.count = 0

    def file(self, key: str, reason: str) -> None:
        self.count += 1
        if self.count <= MAX_LOGGED:
            self.log(f"skipped {self.include_path}/{key}: {reason}")

    def files(self, keys: list[str], total: int, reason: str) -> None:
        """``total`` files skipped for one reason, of which ``keys`` are remembered."""
        for key in keys:
            self.file(key, reason)
        if total > len(keys):
            self.count += total - len(keys)
            folder = keys[0].rpartition("/")[0] if keys else ""
            if self.count <= MAX_LOGGED:
                self.log(f"skipped {total - len(keys)} more files in {self.include_path}/{folder}: {reason}")

    def close(self) -> None:
        if self.count > MAX_LOGGED:
            self.log(f"{self.count - MAX_LOGGED} more skipped files under {self.include_path} not listed")


def take(include_path: str, *, exclude: globs.Exclusions | None = None, under: Iterable[str] | None = None,
         files_in: Iterable[str] | None = None, sample_size: int | None = None, log: Callable[[str], None] = print,
         check: Callable[[], None] = lambda: None, workers: int | None = None) -> Inventory:  # fmt: skip
    """List ``include_path`` (only the folders ``under``, when given; only the files directly in
    the folders ``files_in``, when given: ``storage.list_files_in``), classify its files and
    settle its leaf folders. ``check`` runs between batches and raises to stop the crawl;
    a ``storage.StorageError`` from the listing propagates (the target cannot be crawled),
    one from reading a file only skips that file. ``workers``: processes for local files,
    threads for S3 (default: ``os.cpu_count()``, ``S3_THREADS``); 1 classifies in this process."""
    skips = Skips(include_path, log)
    folders: dict[Parts, Folder] = {}
    inventory = Inventory([])
    remote = include_path[:5].lower() == storage.S3
    batch: list[Item] = []
    with _Classifier(remote, workers, folders, skips) as classifier:
        listing = (storage.list_objects(include_path, exclude=exclude, under=under) if files_in is None
                   else storage.list_files_in(include_path, files_in, exclude=exclude))  # fmt: skip
        for obj in listing:
            inventory.files += 1
            if obj.url.rstrip("/") == include_path.rstrip("/"):
                inventory.single_file = obj.url
            if obj.size == 0:
                skips.file(obj.key, "empty")
                continue
            slash = obj.key.rfind("/")
            parts: Parts = tuple(obj.key[:slash].split("/")) if slash >= 0 else ()
            folder = folders.get(parts)
            if folder is None:
                folder = folders[parts] = Folder()
            if sample_size is not None and folder.sampled >= sample_size:
                folder.unsampled += 1
                folder.unsampled_size += obj.size
                continue
            folder.sampled += 1
            batch.append((obj.url, obj.key, obj.size, parts))
            if len(batch) >= BATCH:
                check()
                classifier.submit(batch)
                batch = []
        if batch:
            classifier.submit(batch)
        classifier.drain()
        inventory.classified = classifier.files
    inventory.leaves = settle(folders, skips)
    skips.close()
    inventory.skipped = skips.count
    return inventory


def settle(folders: Mapping[Parts, Folder], skips: Skips) -> list[Leaf]:
    """One Leaf per folder that holds classified files, in key order (see the module docstring)."""
    overall: collections.Counter[Kind] = collections.Counter()
    for f in folders.values():
        overall.update({k: t.files for k, t in f.tallies.items() if k.classification != UNKNOWN})
    leaves = []
    for parts in sorted(folders):
        folder = folders[parts]
        known = [(k, t) for k, t in folder.tallies.items() if k.classification != UNKNOWN]
        if known:  # the folder's most common kind; on a tie, the include path's
            kind, tally = max(known, key=lambda item: (item[1].files, overall[item[0]]))
        elif folder.tallies and not overall:
            [(kind, tally)] = folder.tallies.items()
        else:
            kind = None
        for other, skipped in folder.tallies.items():
            if other != kind:
                reason = ("not a format adhere recognises, or corrupt" if other.classification == UNKNOWN
                          else f"{other.label} beside {kind.label if kind else 'other'} files")  # fmt: skip
                skips.files(skipped.examples, skipped.files, reason)
        if kind is None:
            continue
        records = tally.records
        if folder.unsampled and tally.size:  # files past SampleSize: assume they are like those read
            records += round(tally.records * folder.unsampled_size / tally.size)
        average = round(tally.record_bytes / tally.records) if tally.records else 0
        leaves.append(Leaf(parts, kind, tally.columns, tally.files + folder.unsampled,
                           tally.size + folder.unsampled_size, records, average, tally.parameters,
                           tally.serde_parameters))  # fmt: skip
    return leaves


def new_folders(include_path: str, roots: Mapping[Parts, tuple[int, set[Parts]]],
                exclude: globs.Exclusions | None = None) -> list[tuple[Parts, Parts | None]]:  # fmt: skip
    """The folders of an incremental crawl (CRAWL_NEW_FOLDERS_ONLY), read as folders only.

    ``roots`` maps each catalogued table's root (below the include path) to its number of
    partition keys and the partition folders (below the root) already catalogued. Returns
    ``(folder, root)`` pairs: a new partition folder of the table at ``root``, or a new folder
    outside every table (``root`` None), whose whole subtree is new. Folders inside an unpartitioned
    table, and files beside folders, are not looked for.
    """
    ancestors = {root[:i] for root in roots for i in range(len(root))}
    found: list[tuple[Parts, Parts | None]] = []

    def covered(parts: Parts) -> bool:
        return exclude is not None and exclude.covers("/".join(parts))

    def visit(parts: Parts) -> None:
        if parts in roots:
            depth, seen = roots[parts]
            if depth:
                for folder in storage.list_folders(join(include_path, parts), depth):
                    rel = tuple(folder.split("/"))
                    if rel not in seen and not covered(parts + rel):
                        found.append((parts + rel, parts))
            return
        for name in storage.list_folders(join(include_path, parts), 1):
            child = (*parts, name)
            if covered(child):
                continue
            if child in roots or child in ancestors:
                visit(child)
            else:
                found.append((child, None))

    visit(())
    return found


def join(include_path: str, parts: Iterable[str]) -> str:
    """The location of a folder below an include path, in the include path's own form."""
    tail = "/".join(parts)
    return f"{include_path.rstrip('/')}/{tail}" if tail else include_path


# --- classification, in this process or in workers -----------------------------------------------


class _File:
    """A file to classify: read whole on the first read when small, else by range."""

    __slots__ = ("_data", "_object", "key", "size")

    def __init__(self, url: str, key: str, size: int) -> None:
        self._object = storage.Object(url, key, size, _EPOCH)
        self.key = key
        self.size = size
        self._data: bytes | None = None

    def read(self, start: int, length: int) -> bytes:
        if self.size > PREFETCH:
            return self._object.read(start, length)
        if self._data is None:
            self._data = self._object.read(0, self.size)
        return self._data[start : start + length]


def classify_batch(items: list[Item]) -> tuple[list[tuple[Parts, Kind, Tally]], list[tuple[str, str]]]:
    """Classify files: tallies per (folder, kind) in first-seen order, and (key, reason) of the
    files that could not be read. Runs in a worker: takes and returns plain values."""
    tallies: dict[tuple[Parts, Kind], Tally] = {}
    failed: list[tuple[str, str]] = []
    for url, key, size, parts in items:
        try:
            found = classifiers.classify(_File(url, key, size))
        except Exception as exc:
            failed.append((key, str(exc) if isinstance(exc, storage.StorageError) else f"cannot read: {exc!r}"))
            continue
        kind = Kind.of(found)
        tally = tallies.get((parts, kind))
        if tally is None:
            tally = tallies[(parts, kind)] = Tally()
        tally.add(key, size, found)
    return [(parts, kind, tally) for (parts, kind), tally in tallies.items()], failed


Result = tuple[list[tuple[Parts, Kind, Tally]], list[tuple[str, str]]]


def _worker_signals() -> None:
    """A worker ends on SIGTERM and leaves Ctrl-C to its parent (not the handlers forked with it)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Classifier:
    """Sends batches to classify and folds the results back, oldest first, with at most
    ``2 * workers`` batches in flight (memory stays flat however many files are listed)."""

    def __init__(self, remote: bool, workers: int | None, folders: dict[Parts, Folder], skips: Skips) -> None:
        self.remote = remote
        self.workers = workers or (S3_THREADS if remote else os.cpu_count() or 1)
        self.folders = folders
        self.skips = skips
        self.files = 0
        self.executor: cf.Executor | None = None
        self.pending: collections.deque[cf.Future[Result]] = collections.deque()

    def __enter__(self) -> _Classifier:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            # on an error or a cancel, queued batches are dropped; running ones finish alone
            self.executor.shutdown(wait=exc[0] is None, cancel_futures=True)

    def submit(self, batch: list[Item]) -> None:
        self.files += len(batch)
        if self.executor is None and (self.files <= INLINE_FILES or self.workers <= 1):
            self._fold(classify_batch(batch))
            return
        if self.executor is None:
            self.executor = self._start()
        self.pending.append(self.executor.submit(classify_batch, batch))
        while self.pending and (len(self.pending) >= 2 * self.workers or self.pending[0].done()):
            self._fold(self._result(self.pending.popleft()))

    def drain(self) -> None:
        while self.pending:
            self._fold(self._result(self.pending.popleft()))

    def _start(self) -> cf.Executor:
        if self.remote:
            return cf.ThreadPoolExecutor(self.workers, thread_name_prefix="adhere-crawl")
        # fork: workers start in milliseconds with the classifiers loaded, and import nothing
        # from the caller's main module (forkserver and spawn would run it again)
        method = "fork" if sys.platform == "linux" else None
        return cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(method),
                                      initializer=_worker_signals)  # fmt: skip

    @staticmethod
    def _result(future: cf.Future[Result]) -> Result:
        try:
            return future.result()
        except cf.process.BrokenProcessPool as exc:
            raise storage.StorageError(f"a classification worker died: {exc}") from exc

    def _fold(self, result: Result) -> None:
        tallies, failed = result
        for parts, kind, tally in tallies:
            self.folders[parts].absorb(kind, tally)
        for key, reason in failed:
            self.skips.file(key, reason)

