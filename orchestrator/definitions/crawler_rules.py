"""What a crawler definition must hold, as Glue checks CreateCrawler: a target to crawl, a
``Configuration`` (a JSON string) whose keys have the values Glue documents (glue-semantics 5.3),
a ``Schedule`` in Glue's cron, if any, and the targets ``CRAWL_EVENT_MODE`` allows
(``check_recrawl``). The crawl reads the Configuration through ``configuration`` and checks
``check_recrawl`` too, so both agree on them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orchestrator import schedules, settings

TARGET_KINDS = ("S3Targets", "JdbcTargets", "MongoDBTargets", "DynamoDBTargets", "CatalogTargets",
                "DeltaTargets", "IcebergTargets", "HudiTargets")
_CHOICES = {
    ("Grouping", "TableGroupingPolicy"): ("CombineCompatibleSchemas",),
    ("CrawlerOutput", "Partitions", "AddOrUpdateBehavior"): ("InheritFromTable",),
    ("CrawlerOutput", "Tables", "AddOrUpdateBehavior"): ("MergeNewColumns",),
}
_COUNTS = (("Grouping", "TableLevelConfiguration"), ("CrawlerOutput", "Tables", "TableThreshold"))


def check_targets(targets: dict[str, Any]) -> dict[str, Any]:
    if not any(targets.get(kind) for kind in TARGET_KINDS):
        raise ValueError(f"needs at least one target ({', '.join(TARGET_KINDS)})")
    for i, target in enumerate(targets.get("S3Targets") or []):
        if not isinstance(target, Mapping) or not isinstance(target.get("Path"), str) or not target["Path"]:
            raise ValueError(f"S3Targets[{i}] needs a Path (a local folder, file:// or s3:// URL)")
    return targets


EVENT_MODE = "CRAWL_EVENT_MODE"
_EVENT_TARGETS = ("S3Targets", "CatalogTargets")


def check_recrawl(targets: Mapping[str, Any] | None, recrawl_policy: Mapping[str, Any] | None) -> None:
    """What Glue documents for ``RecrawlPolicy.RecrawlBehavior: CRAWL_EVENT_MODE`` (AWS Glue
    Developer Guide, "Accelerating crawls using Amazon S3 event notifications", Considerations
    and limitations): a single target, whether an S3 target or a Data Catalog one; an S3
    target's Path a folder, not the "everything" wildcard ``s3://%``; no Amazon S3 sampling
    (``SampleSize``). Glue documents no SchemaChangePolicy rule for it (unlike
    CRAWL_NEW_FOLDERS_ONLY, which forces LOG): every policy is allowed. Other behaviors: nothing
    to check. ValueError saying what is wrong."""
    if not isinstance(recrawl_policy, Mapping) or recrawl_policy.get("RecrawlBehavior") != EVENT_MODE:
        return
    targets = targets if isinstance(targets, Mapping) else {}
    given = {kind: value for kind, value in targets.items() if value}
    others = sorted(kind for kind in given if kind not in _EVENT_TARGETS)
    if others:
        raise ValueError(f"CRAWL_EVENT_MODE crawls an S3 target or Data Catalog tables, not {', '.join(others)}")
    count = sum(len(value) if isinstance(value, list) else 1 for value in given.values())
    if count != 1:
        raise ValueError(f"CRAWL_EVENT_MODE supports a single target (Glue's rule for S3 event crawls); "
                         f"this crawler has {count}")  # fmt: skip
    for i, target in enumerate(given.get("S3Targets") or []):
        if not isinstance(target, Mapping):
            continue
        if target.get("SampleSize") is not None:
            raise ValueError(f"S3Targets[{i}].SampleSize: CRAWL_EVENT_MODE does not support Amazon S3 sampling")
        path = target.get("Path")
        if isinstance(path, str) and path.strip().rstrip("/").lower() == "s3://%":
            raise ValueError(f"S3Targets[{i}].Path: CRAWL_EVENT_MODE does not support the 'everything' wildcard s3://%")


def check_schedule(text: str | None) -> str | None:
    """A crawler's Schedule, Glue's string form: cron(...) as for a SCHEDULED trigger; None or
    empty means no schedule. ValueError says what is wrong (its place names the Schedule)."""
    if not text:
        return text
    if problem := schedules.problem(text, min_interval=settings.min_schedule_interval()):
        raise ValueError(problem)
    return text


def check_configuration(text: str | None) -> str | None:
    if text is not None:
        configuration(text)
    return text


def configuration(text: str | None) -> dict[str, Any]:
    """The Configuration as a mapping ({} when there is none); ValueError saying what is wrong."""
    if text is None or not text.strip():
        return {}
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"Configuration must be a JSON object in a string: {exc}") from None
    if not isinstance(config, dict):
        raise ValueError("Configuration must be a JSON object in a string, such as "
                         '\'{"Version": 1.0, "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"}}\'')
    for path, allowed in _CHOICES.items():
        if (value := _at(config, path)) is not None and value not in allowed:
            raise ValueError(f"Configuration {'.'.join(path)} must be {' or '.join(allowed)}, not {value!r}")
    for path in _COUNTS:
        value = _at(config, path)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"Configuration {'.'.join(path)} must be a whole number of at least 1, not {value!r}")
    return config


def _at(config: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = config
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value
