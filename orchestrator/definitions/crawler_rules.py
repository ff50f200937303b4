"""What a crawler definition must hold, as Glue checks CreateCrawler: a target to crawl, and a
``Configuration`` (a JSON string) whose keys have the values Glue documents (glue-semantics 5.3).
The crawl reads the Configuration through ``configuration`` too, so both agree on it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

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
