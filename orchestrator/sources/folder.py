"""A watched local folder as an S3 bucket: each file written into it is an "Object Created".

Local development and on-premises drops get the same EVENT triggers as S3: the envelope is S3's
EventBridge "Object Created" with the folder's absolute path as the bucket name, the file's
path below it (``/`` separators) as the key, its size, and its mtime as the event time.
``resources`` holds the folder's ``file://`` URI, not an ``arn:aws:s3:::`` ARN: no bucket
exists. There is no etag, sequencer, request id or requester; they are left out.

When a file counts as written (Linux, inotify through watchdog):

- close-after-write (watchdog's ``FileClosedEvent``): a writer closed it; a file still open is
  never announced, however long its writer pauses between chunks;
- a rename or move into the folder (``FileMovedEvent``, and unmatched moves in with
  ``generate_full_events``): the write-then-rename convention (``x.part`` -> ``x``) makes the
  file whole when it appears; a directory moved in is scanned;
- files already there at :meth:`FolderSource.start`, in a directory just created (written
  before watchdog could watch it), or after the kernel's event queue overflowed: found by a
  scan. A scanned file modified within the last ``settle`` seconds may still be open, so it is
  announced only once its size and mtime stayed unchanged for ``settle`` seconds and no
  process in ``/proc`` has it open for writing. Only a writer out of this host's sight (NFS)
  that stays idle that long while a scan runs can have its file announced early; its close
  announces the final file too.

Not announced: directories, and hidden or temporary files: any path part starting with ``.``,
names ending with ``~``, ``.tmp``, ``.part`` or ``.crdownload``. Elsewhere than Linux there is
no close-after-write event, so created and modified files go through the same ``settle`` check.

Ids: uuid5 over (absolute path, size, mtime_ns), so the same unchanged file always has the same
id: a rescan, a restart or a second event for it is a duplicate the sink drops, and a rewrite
is a new event. Envelopes reach the sink in batches (up to ``batch_size``, or what came within
``batch_interval``) from one worker thread; a failing sink is retried with backoff, never
skipped.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from watchdog import events as wd
from watchdog.observers import Observer

from orchestrator.sources import Sink, s3_events

logger = logging.getLogger("adhere.sources")

TEMPORARY_SUFFIXES = ("~", ".tmp", ".part", ".crdownload")
_INOTIFY = sys.platform.startswith("linux")
_DELIVERED_LIMIT = 20_000
# watchdog 5+ reports a kernel queue overflow; older versions drop it silently.
_EVENTS_LOST: type[wd.FileSystemEvent] | None = getattr(wd, "EventsLostEvent", None)


def is_ignored(relative: str) -> bool:
    """True for hidden or temporary files: names a writer uses before the file is done."""
    parts = relative.split("/")
    return any(part.startswith(".") for part in parts) or parts[-1].endswith(TEMPORARY_SUFFIXES)


class FolderSource:
    """Watches ``path`` and hands "Object Created" envelopes of files written there to ``sink``.

    ``start()`` watches first and then scans, so no file falls between the two; ``stop()``
    flushes what is pending and joins the threads. A batch the sink still refuses
    ``stop_timeout`` seconds after ``stop()`` is given up (logged): its files are found again
    by the next ``start()``'s scan.
    """

    def __init__(
        self,
        path: Path,
        sink: Sink,
        *,
        account: str,
        region: str,
        recursive: bool = True,
        settle: float = 1.0,
        batch_size: int = 500,
        batch_interval: float = 0.05,
        backoff: float = 0.05,
        max_backoff: float = 5.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.root = Path(path).resolve()
        self.sink = sink
        self.account = account
        self.region = region
        self.recursive = recursive
        self.settle = settle
        self.batch_size = batch_size
        self.batch_interval = batch_interval
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stop_timeout = stop_timeout
        self.bucket = str(self.root)
        self.resource = self.root.as_uri()
        self._cond = threading.Condition()
        # All below guarded by _cond. pending: id -> envelope (a repeated id collapses).
        self._pending: dict[str, dict[str, Any]] = {}
        self._first_pending_at = 0.0
        self._scans: deque[tuple[Path, bool]] = deque()  # (directory, trusted: no settle check)
        self._candidates: dict[Path, tuple[int, int, float]] = {}  # path -> (size, mtime_ns, due)
        # Ids the sink took lately: a rescan or a second event for an unchanged file is not
        # handed over again (the sink would drop it anyway; this spares it the work).
        self._delivered: OrderedDict[str, None] = OrderedDict()
        self._stopping = False
        self._stop_deadline = 0.0
        # The worker's own: the scan in progress.
        self._scan: Iterator[Path] | None = None
        self._scan_trusted = False
        self._observer: Any = None
        self._worker: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Watch the folder, then queue a scan of what is already there (files that landed while
        adhere was down; the ones already stored are duplicates by id)."""
        if self._worker is not None:
            raise RuntimeError("FolderSource already started")
        if not self.root.is_dir():
            raise NotADirectoryError(f"not a folder: {self.root}")
        with self._cond:
            self._stopping = False
            self._scans.append((self.root, False))
        observer = _observer()
        observer.schedule(
            _Handler(self), str(self.root), recursive=self.recursive, event_filter=_event_filter()
        )
        observer.start()  # the inotify watches exist once this returns
        self._observer = observer
        self._worker = threading.Thread(target=self._run, name="adhere-folder-source", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        """Stop watching, hand what is pending to the sink, and join the threads."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
        with self._cond:
            self._stopping = True
            self._stop_deadline = time.monotonic() + self.stop_timeout
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        self._scan = None
        self._scans.clear()
        self._candidates.clear()

    # --- from the watch (watchdog's dispatch thread) -----------------------------------------

    def _on_event(self, event: wd.FileSystemEvent) -> None:
        try:
            self._handle(event)
        except Exception:  # the watch must outlive one bad event
            logger.exception("folder source %s: event %r", self.root, event)

    def _handle(self, event: wd.FileSystemEvent) -> None:
        if event.is_synthetic:  # watchdog's walk of a moved or new directory: we scan it
            return
        if isinstance(event, wd.FileClosedEvent):
            self._consider(Path(os.fsdecode(event.src_path)), trusted=True)
        elif isinstance(event, wd.FileMovedEvent):
            if event.dest_path:
                self._consider(Path(os.fsdecode(event.dest_path)), trusted=True)
        elif isinstance(event, wd.DirMovedEvent):
            if event.dest_path and self.recursive:
                self._queue_scan(Path(os.fsdecode(event.dest_path)), trusted=True)
        elif isinstance(event, wd.DirCreatedEvent):
            if self.recursive:
                self._queue_scan(Path(os.fsdecode(event.src_path)), trusted=False)
        elif _EVENTS_LOST is not None and isinstance(event, _EVENTS_LOST):
            logger.warning("folder source %s: file events were lost; rescanning", self.root)
            self._queue_scan(self.root, trusted=False)
        elif isinstance(event, wd.DirDeletedEvent):
            if Path(os.fsdecode(event.src_path)) == self.root:
                logger.error("folder source %s: the folder was deleted; watching stops", self.root)
        elif isinstance(event, wd.FileCreatedEvent | wd.FileModifiedEvent):  # not on Linux
            self._consider(Path(os.fsdecode(event.src_path)), trusted=False)

    def _queue_scan(self, directory: Path, *, trusted: bool) -> None:
        with self._cond:
            self._scans.append((directory, trusted))
            self._cond.notify_all()

    # --- files to envelopes (either thread) --------------------------------------------------

    def _consider(self, path: Path, *, trusted: bool) -> None:
        """Announce ``path`` if it is a file worth announcing; a recently modified one found by
        a scan (not ``trusted``) waits for ``settle`` seconds of stillness first."""
        try:
            relative = path.relative_to(self.root).as_posix()
        except ValueError:
            return
        if relative == "." or is_ignored(relative):
            return
        if not self.recursive and "/" in relative:
            return
        if not _utf8(relative):  # S3 keys are UTF-8; the sink could not store this one
            logger.warning("folder source %s: skipping %r, its name is not UTF-8", self.root, path)
            return
        try:
            st = path.stat()
        except OSError:  # gone already (or unreadable): nothing to announce
            return
        if not stat.S_ISREG(st.st_mode):
            return
        if not trusted and time.time() - st.st_mtime_ns / 1e9 < self.settle:
            with self._cond:
                self._candidates[path] = (
                    st.st_size,
                    st.st_mtime_ns,
                    time.monotonic() + self.settle,
                )
                self._cond.notify_all()
            return
        self._add(self._envelope(path, relative, st))

    def _envelope(self, path: Path, key: str, st: os.stat_result) -> dict[str, Any]:
        identity = json.dumps(["file", str(path), st.st_size, st.st_mtime_ns])
        return s3_events.object_created(
            self.bucket,
            key,
            size=st.st_size,
            time=datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC),
            account=self.account,
            region=self.region,
            resources=[self.resource],
            event_id=str(uuid.uuid5(s3_events.ID_NAMESPACE, identity)),
        )

    def _add(self, envelope: dict[str, Any]) -> None:
        with self._cond:
            if envelope["id"] in self._delivered:
                return
            if not self._pending:
                self._first_pending_at = time.monotonic()
            self._pending[envelope["id"]] = envelope
            if len(self._pending) in (1, self.batch_size):  # the worker's wait has changed
                self._cond.notify_all()

    # --- the worker --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._scan_some()
            self._check_candidates()
            batch = self._next_batch()
            if batch is None:
                return
            if batch:
                self._deliver(batch)

    def _scan_some(self) -> None:
        """Consider up to a batch of files from the scans queued, so a huge folder interleaves
        with the watch's events instead of holding them back."""
        budget = self.batch_size
        while budget > 0:
            if self._scan is None:
                with self._cond:
                    if not self._scans or self._stopping:
                        return
                    directory, self._scan_trusted = self._scans.popleft()
                self._scan = self._walk(directory)
            chunk = list(islice(self._scan, budget))
            if len(chunk) < budget:
                self._scan = None
            budget -= len(chunk)
            for path in chunk:
                self._consider(path, trusted=self._scan_trusted)

    def _walk(self, directory: Path) -> Iterator[Path]:
        if not self.recursive:
            try:
                with os.scandir(directory) as entries:
                    files = [Path(e.path) for e in entries if e.is_file()]
            except OSError:
                return
            yield from files
            return
        for folder, subfolders, names in os.walk(directory):
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]
            for name in names:
                yield Path(folder, name)

    def _check_candidates(self) -> None:
        """Announce the scanned files that stayed unchanged for ``settle`` seconds and that no
        process has open for writing; the others wait again (a close-after-write announces them
        anyway)."""
        now = time.monotonic()
        with self._cond:
            due = [(p, s, m) for p, (s, m, at) in self._candidates.items() if at <= now]
            for path, _, _ in due:
                del self._candidates[path]
        if not due:
            return
        still: dict[Path, os.stat_result] = {}
        wait: dict[Path, tuple[int, int, float]] = {}
        for path, size, mtime_ns in due:
            try:
                st = path.stat()
            except OSError:  # gone
                continue
            if (st.st_size, st.st_mtime_ns) == (size, mtime_ns):
                still[path] = st
            else:
                wait[path] = (st.st_size, st.st_mtime_ns, now + self.settle)
        for path in open_for_writing(set(still)):
            st = still.pop(path)
            wait[path] = (st.st_size, st.st_mtime_ns, now + self.settle)
        with self._cond:
            self._candidates.update(wait)
        for path in still:
            self._consider(path, trusted=True)

    def _next_batch(self) -> list[dict[str, Any]] | None:
        """Wait for a batch that is full or ``batch_interval`` old, or for other work ([]);
        None once stopping with nothing left to hand over."""
        with self._cond:
            while True:
                now = time.monotonic()
                waits = []
                if self._pending:
                    ready_at = self._first_pending_at + self.batch_interval
                    if len(self._pending) >= self.batch_size or now >= ready_at or self._stopping:
                        ids = list(islice(self._pending, self.batch_size))
                        batch = [self._pending.pop(i) for i in ids]
                        self._first_pending_at = now
                        return batch
                    waits.append(ready_at - now)
                if self._stopping:
                    return None
                if self._scans or self._scan is not None:
                    return []
                if self._candidates:
                    next_due = min(at for _, _, at in self._candidates.values())
                    if next_due <= now:
                        return []
                    waits.append(next_due - now)
                self._cond.wait(min(waits) if waits else None)

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        """Hand ``batch`` to the sink until it takes it: the same envelopes each time."""
        delay = self.backoff
        while True:
            try:
                self.sink(batch)
            except Exception:
                logger.exception(
                    "folder source %s: the sink failed on %d events; retrying in %.2fs",
                    self.root,
                    len(batch),
                    delay,
                )
            else:
                with self._cond:
                    self._delivered.update(dict.fromkeys(e["id"] for e in batch))
                    while len(self._delivered) > _DELIVERED_LIMIT:
                        self._delivered.popitem(last=False)
                return
            with self._cond:
                stopping, deadline = self._stopping, self._stop_deadline
            if stopping and time.monotonic() >= deadline:
                logger.error(
                    "folder source %s: stopped with %d events the sink refused; the next start's "
                    "scan finds their files again",
                    self.root,
                    len(batch),
                )
                return
            pause = min(delay, deadline - time.monotonic()) if stopping else delay
            time.sleep(max(pause, 0.0))
            delay = min(delay * 2, self.max_backoff)


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # os.fsdecode's surrogates for undecodable bytes
        return False
    return True


def open_for_writing(paths: set[Path]) -> set[Path]:
    """Those of ``paths`` that a process this one can see in ``/proc`` has open for writing
    (Linux; elsewhere, or for writers out of sight such as other hosts over NFS: none)."""
    if not paths or not os.path.isdir("/proc/self/fd"):
        return set()
    wanted = {str(path): path for path in paths}
    found: set[Path] = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # gone, or not ours to look at
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target not in wanted:
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    flags = next(line for line in info if line.startswith("flags:"))
            except (OSError, StopIteration):
                continue
            if int(flags.split()[1], 8) & (os.O_WRONLY | os.O_RDWR):
                found.add(wanted[target])
    return found


class _Handler(wd.FileSystemEventHandler):
    """Passes every event to the source (watchdog calls it on its dispatch thread)."""

    def __init__(self, source: FolderSource) -> None:
        super().__init__()
        self._source = source

    def dispatch(self, event: wd.FileSystemEvent) -> None:
        self._source._on_event(event)


def _observer() -> Any:
    """inotify with unmatched moves reported as moves (a file renamed in from outside the folder
    is whole; a plain create is not) on Linux; watchdog's platform observer elsewhere."""
    if _INOTIFY:
        from watchdog.observers.inotify import InotifyObserver

        return InotifyObserver(timeout=0.2, generate_full_events=True)
    return Observer(timeout=0.2)


def _event_filter() -> list[type[wd.FileSystemEvent]]:
    """Only what :meth:`FolderSource._handle` uses: the kernel then skips opens, reads, writes."""
    kinds: list[type[wd.FileSystemEvent]] = [
        wd.FileMovedEvent,
        wd.DirMovedEvent,
        wd.DirCreatedEvent,
        wd.DirDeletedEvent,
    ]
    kinds += [wd.FileClosedEvent] if _INOTIFY else [wd.FileCreatedEvent, wd.FileModifiedEvent]
    if _EVENTS_LOST is not None:
        kinds.append(_EVENTS_LOST)
    return kinds
