"""What a ``CRAWL_EVENT_MODE`` crawl consumes: the S3 events of its workflow run, reduced to the
objects, and so the folders, of its include path that they name (AWS Glue Developer Guide,
"Accelerating crawls using Amazon S3 event notifications"; glue-semantics.md Appendix B.1).

Glue lists "all the files from the subfolder which triggered the event" instead of the whole
target; adhere does the same with the events an event-started workflow run consumed (read by
``catalog.crawl_process``). An event counts when it is S3's "Object Created" (source ``aws.s3``)
and names an object below an include path that a crawl would read: no hidden name (``_`` or
``.``, ``storage.hidden``) and not excluded by the target's Exclusions. A local folder adhere
watches (``orchestrator.sources.folder``) is the bucket, by its absolute path, so its object is
``bucket/key`` on local disk; any other bucket is S3's, ``s3://bucket/key``. Every other event
is ignored and logged with the reason (the first ``MAX_LOGGED``); deletions ("Object Deleted")
are among them: the crawl only adds and updates, as the folders it did not list are kept.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog import globs, storage
from catalog.crawl_options import CrawlError, Target, canonical
from orchestrator import errors

Parts = tuple[str, ...]
SOURCE, OBJECT_CREATED = "aws.s3", "Object Created"
MAX_LOGGED = 100  # ignored-event lines per crawl


@dataclass
class Picked:
    """The events read, and per include path (its canonical URL) the folders to list, each with
    the keys of the objects named there; ``ignored`` counts the other events by reason."""

    events: int = 0
    folders: dict[str, dict[Parts, set[str]]] = field(default_factory=dict)
    ignored: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def objects(self) -> int:
        return sum(len(keys) for folders in self.folders.values() for keys in folders.values())

    @property
    def folder_count(self) -> int:
        return sum(len(folders) for folders in self.folders.values())

    def read(self) -> dict[str, Any]:
        """What the crawl consumed, for its summary."""
        return {"events": self.events, "objects": self.objects, "folders": self.folder_count,
                "ignored_events": dict(sorted(self.ignored.items()))}  # fmt: skip


def object_url(envelope: Mapping[str, Any]) -> str | None:
    """The canonical URL of the object an S3 event names (``file:///...`` for a watched local
    folder, ``s3://bucket/key`` otherwise), or None when it names none."""
    detail = envelope.get("detail")
    if not isinstance(detail, Mapping):
        return None
    bucket, obj = detail.get("bucket"), detail.get("object")
    name = bucket.get("name") if isinstance(bucket, Mapping) else None
    key = obj.get("key") if isinstance(obj, Mapping) else None
    if not isinstance(name, str) or not name or not isinstance(key, str) or not key.strip("/"):
        return None
    if name.startswith("/"):  # a local folder, named by its absolute path
        return canonical(os.path.join(name, *key.split("/")))
    return canonical(f"{storage.S3}{name}/{key}")


def pick(targets: Sequence[Target], envelopes: Sequence[Mapping[str, Any]],
         log: Callable[[str], None]) -> Picked:  # fmt: skip
    """The objects and folders ``envelopes`` name below ``targets``; CrawlError for a bad
    exclusion pattern, as a full crawl's."""
    picked = Picked(events=len(envelopes), folders={target.url: {} for target in targets})
    checks = []
    for target in targets:
        try:
            exclude = globs.compile(target.exclusions) if target.exclusions else None
        except errors.InvalidInputException as exc:
            raise CrawlError(f"S3Targets {target.path}: {exc}") from exc
        checks.append((target, _bases(target), exclude))

    def ignore(envelope: Mapping[str, Any], reason: str, what: str = "") -> None:
        picked.ignored[reason] += 1
        if sum(picked.ignored.values()) <= MAX_LOGGED:
            log(f"ignored event {envelope.get('id')}: {what}{reason}")

    for envelope in envelopes:
        if envelope.get("source") != SOURCE or envelope.get("detail-type") != OBJECT_CREATED:
            ignore(envelope, "not an S3 Object Created event",
                   f"{envelope.get('source')} {envelope.get('detail-type')!r}: ")  # fmt: skip
            continue
        url = object_url(envelope)
        if url is None:
            ignore(envelope, "it names no object")
            continue
        where = next(((target, parts, exclude) for target, bases, exclude in checks for base in bases
                      if (parts := _below(base, url)) is not None), None)  # fmt: skip
        if where is None:
            ignore(envelope, "not below the include path", f"{url}: ")
            continue
        target, parts, exclude = where
        key = "/".join(parts)
        if not parts:
            ignore(envelope, "the include path itself: CRAWL_EVENT_MODE crawls folders", f"{url}: ")
        elif any(not name or storage.hidden(name) for name in parts):
            ignore(
                envelope,
                "a hidden file (a name starting with _ or .), which crawls skip",
                f"{url}: ",
            )
        elif exclude is not None and exclude(key):
            ignore(envelope, "excluded by the target's Exclusions", f"{url}: ")
        else:
            picked.folders[target.url].setdefault(parts[:-1], set()).add(key)
    skipped = sum(picked.ignored.values())
    if skipped > MAX_LOGGED:
        log(f"{skipped - MAX_LOGGED} more ignored events not listed")
    return picked


def _bases(target: Target) -> list[str]:
    """The include path as events may name it: canonical, and for a local one also with its
    symbolic links resolved (a watched folder names its resolved path)."""
    bases = [target.url]
    real = storage.real_path(target.url)
    if real is not None and canonical(real) != target.url:
        bases.append(canonical(real))
    return bases


def _below(base: str, url: str) -> Parts | None:
    if url == base:
        return ()
    if url.startswith(f"{base}/"):
        return tuple(url[len(base) + 1 :].split("/"))
    return None
