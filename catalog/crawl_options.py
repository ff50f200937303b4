"""What a crawl reads from a crawler's definition (Glue's CreateCrawler shape), checked:
its targets, SchemaChangePolicy, RecrawlPolicy and Configuration JSON (glue-semantics.md §5.1,
§5.3). A bad member is a CrawlError naming it, before anything is listed.

CRAWL_NEW_FOLDERS_ONLY forces both behaviors to LOG, as Glue does; CRAWL_EVENT_MODE keeps the
crawler's SchemaChangePolicy (Glue documents no rule for it) and allows a single target without
SampleSize (``crawler_rules.check_recrawl``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from catalog import reconcile, storage
from orchestrator import errors
from orchestrator.definitions import crawler_rules

EVERYTHING, NEW_FOLDERS, EVENTS = "CRAWL_EVERYTHING", "CRAWL_NEW_FOLDERS_ONLY", "CRAWL_EVENT_MODE"


class CrawlError(errors.InvalidInputException):
    """The crawl failed; nothing was written to the Data Catalog."""


@dataclass(frozen=True)
class Target:
    """One S3Target: an include path (local folder, ``file://`` or ``s3://``)."""

    path: str
    exclusions: tuple[str, ...] = ()
    sample_size: int | None = None  # files classified per leaf folder; None: all (Glue's default)

    @property
    def url(self) -> str:
        return canonical(self.path)


@dataclass(frozen=True)
class Options:
    """What a crawl takes from the crawler's definition, checked."""

    name: str
    targets: tuple[Target, ...]
    database: str = "default"
    table_prefix: str = ""
    update: str = reconcile.UPDATE
    delete: str = reconcile.DEPRECATE
    recrawl: str = EVERYTHING
    merge_new_columns: bool = False
    inherit_from_table: bool = False
    table_threshold: int | None = None
    combine_compatible: bool = False
    table_level: int | None = None

    @classmethod
    def from_glue(cls, crawler: Mapping[str, Any]) -> Options:
        """Options from Glue's Crawler shape; CrawlError naming the first bad member."""
        name = crawler.get("Name")
        if not isinstance(name, str) or not name:
            raise CrawlError("the crawler has no Name")
        targets = crawler.get("Targets") or {}
        if not isinstance(targets, Mapping) or not isinstance(targets.get("S3Targets") or [], list):
            raise CrawlError("Targets must be an object, and its S3Targets a list")
        others = [kind for kind, value in targets.items() if kind != "S3Targets" and value]
        if others:
            raise CrawlError(f"Targets: this version of adhere crawls S3Targets (S3 and local folders) only, "
                             f"not {', '.join(sorted(others))}")  # fmt: skip
        s3 = targets.get("S3Targets") or []
        if not s3:
            raise CrawlError("Targets: no S3Targets to crawl")
        policy = crawler.get("SchemaChangePolicy") or {}
        recrawl = (crawler.get("RecrawlPolicy") or {}).get("RecrawlBehavior") or EVERYTHING
        update = _choice(policy.get("UpdateBehavior"), (reconcile.UPDATE, reconcile.LOG), "SchemaChangePolicy.UpdateBehavior")
        delete = _choice(policy.get("DeleteBehavior"), (reconcile.DEPRECATE, reconcile.DELETE, reconcile.LOG),
                         "SchemaChangePolicy.DeleteBehavior")  # fmt: skip
        recrawl = _choice(recrawl, (EVERYTHING, NEW_FOLDERS, EVENTS), "RecrawlPolicy.RecrawlBehavior")
        try:  # CRAWL_EVENT_MODE's targets, as CreateCrawler checks them
            crawler_rules.check_recrawl(targets, crawler.get("RecrawlPolicy"))
        except ValueError as exc:
            raise CrawlError(f"Targets: {exc}") from None
        config = _configuration(crawler.get("Configuration"))
        tables = config.get("CrawlerOutput", {}).get("Tables", {})
        partitions = config.get("CrawlerOutput", {}).get("Partitions", {})
        grouping = config.get("Grouping", {})
        return cls(
            name=name,
            targets=tuple(_target(t, i) for i, t in enumerate(s3)),
            database=(crawler.get("DatabaseName") or "default").lower(),
            table_prefix=crawler.get("TablePrefix") or "",
            update=reconcile.LOG if recrawl == NEW_FOLDERS else update,  # Glue forces LOG here
            delete=reconcile.LOG if recrawl == NEW_FOLDERS else delete,
            recrawl=recrawl,
            merge_new_columns=_flag(tables, "AddOrUpdateBehavior", "MergeNewColumns", "CrawlerOutput.Tables"),
            inherit_from_table=_flag(partitions, "AddOrUpdateBehavior", "InheritFromTable", "CrawlerOutput.Partitions"),
            table_threshold=_number(tables.get("TableThreshold"), "CrawlerOutput.Tables.TableThreshold"),
            combine_compatible=_flag(grouping, "TableGroupingPolicy", "CombineCompatibleSchemas", "Grouping"),
            table_level=_number(grouping.get("TableLevelConfiguration"), "Grouping.TableLevelConfiguration"),
        )


def canonical(location: str) -> str:
    """A location as crawls compare them: ``s3://bucket/key`` or ``file:///abs/path``, no final ``/``."""
    if not location:
        return ""
    if location[:5].lower() == storage.S3:
        return f"{storage.S3}{location[5:].strip('/')}"
    path = location[7:] if location[:7].lower() == storage.FILE else location
    if path.startswith("localhost/"):
        path = path[len("localhost"):]
    if "://" in path:
        return location.rstrip("/")
    return f"{storage.FILE}{os.path.abspath(os.path.expanduser(path))}".rstrip("/")


def _target(target: Any, i: int) -> Target:
    where = f"S3Targets[{i}]"
    if not isinstance(target, Mapping) or not isinstance(target.get("Path"), str) or not target["Path"].strip():
        raise CrawlError(f"{where}: a Path is required")
    exclusions = target.get("Exclusions") or []
    if isinstance(exclusions, str) or not all(isinstance(e, str) for e in exclusions):
        raise CrawlError(f"{where}.Exclusions must be a list of glob patterns")
    sample = target.get("SampleSize")
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= 249):
        raise CrawlError(f"{where}.SampleSize must be a whole number from 1 to 249, not {sample!r}")
    return Target(target["Path"].strip(), tuple(exclusions), sample)


def _configuration(text: Any) -> dict[str, Any]:
    """The crawler's Configuration JSON, with the sections this crawl reads as objects."""
    if not text:
        return {}
    try:
        config = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError as exc:
        raise CrawlError(f"Configuration is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise CrawlError("Configuration must be a JSON object")
    for section, inner in (("CrawlerOutput", ("Tables", "Partitions")), ("Grouping", ())):
        value = config.get(section, {})
        if not isinstance(value, dict) or any(not isinstance(value.get(k, {}), dict) for k in inner):
            raise CrawlError(f"Configuration: {section} must be an object of objects" if inner
                             else f"Configuration: {section} must be an object")  # fmt: skip
    return config


def _choice(value: Any, allowed: Sequence[str], member: str) -> str:
    if value is None:
        return allowed[0]
    if value not in allowed:
        raise CrawlError(f"{member} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _flag(section: Mapping[str, Any], key: str, value: str, where: str) -> bool:
    given = section.get(key)
    if given is not None and given != value:
        raise CrawlError(f"Configuration: {where}.{key} can only be {value!r}, not {given!r}")
    return given == value


def _number(value: Any, member: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CrawlError(f"Configuration: {member} must be a whole number of at least 1, not {value!r}")
    return value
