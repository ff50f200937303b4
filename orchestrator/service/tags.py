"""Tags (TagResource, UntagResource, GetTags) on the resources that Glue's ARNs name:
``arn:aws:glue:<region>:<account>:job/<name>``, and ``trigger/``, ``workflow/``, ``crawler/``
(Glue's "Specifying Glue resource ARNs"; the limits of "AWS tags in AWS Glue").

This server is one account in one region (``Settings.account_id``, ``Settings.region``): an
ARN naming another is refused, not looked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from orchestrator import errors, store

if TYPE_CHECKING:
    from orchestrator.settings import Settings

MAX_TAGS = 50  # per resource, Glue's quota (and the most one request may carry)
MAX_KEY = 128  # characters: Glue's TagKey (at least 1)
MAX_VALUE = 256  # characters: Glue's TagValue (may be empty)
_RESERVED = "aws:"  # AWS's own tags: no operation may set them, in any case

# ARN resource type -> what the messages call it; the type is also the store's kind.
_TITLES = {"crawler": "Crawler", "job": "Job", "trigger": "Trigger", "workflow": "Workflow"}
# Regions outside the "aws" partition, by prefix (as in botocore's partitions).
_PARTITIONS = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b"),
               ("us-isof-", "aws-iso-f"), ("eu-isoe-", "aws-iso-e"), ("us-iso-", "aws-iso"))  # fmt: skip


def partition(region: str) -> str:
    """The partition a region is in ("aws", "aws-cn", ...), the second field of its ARNs."""
    return next((name for prefix, name in _PARTITIONS if region.startswith(prefix)), "aws")


def arn(settings: Settings, kind: str, name: str) -> str:
    """A resource's ARN, as Glue writes it: the name follows the type unescaped, ``/`` included."""
    return f"arn:{partition(settings.region)}:glue:{settings.region}:{settings.account_id}:{kind}/{name}"


def parse_arn(settings: Settings, resource_arn: str) -> tuple[str, str]:
    """(kind, name) of a taggable resource of this server; InvalidInputException naming what is
    wrong otherwise (a malformed ARN, another partition, service, region or account, a type
    that cannot be tagged here). The name is everything after the first ``/``."""
    ours = partition(settings.region)
    parts = resource_arn.split(":", 5) if isinstance(resource_arn, str) else []
    if len(parts) < 6 or parts[0] != "arn" or "/" not in parts[5]:
        raise errors.InvalidInputException(
            f"malformed ARN {_shown(resource_arn)}: expected "
            f"arn:{ours}:glue:{settings.region}:{settings.account_id}:<type>/<name>"
        )
    _, arn_partition, service, region, account, resource = parts
    if service != "glue":
        raise errors.InvalidInputException(f"{_shown(resource_arn)} is not a Glue ARN (its service is {service!r})")
    if arn_partition != ours:
        raise errors.InvalidInputException(
            f"{_shown(resource_arn)} is in partition {arn_partition!r}; this server is in {ours!r}"
        )
    if region != settings.region:
        raise errors.InvalidInputException(
            f"{_shown(resource_arn)} names region {region!r}; this server serves region {settings.region}"
        )
    if account != settings.account_id:
        raise errors.InvalidInputException(
            f"{_shown(resource_arn)} names account {account!r}; this server's account is {settings.account_id}"
        )
    kind, _, name = resource.partition("/")
    if not kind or not name:
        raise errors.InvalidInputException(
            f"malformed ARN {_shown(resource_arn)}: its resource must be <type>/<name>, such as job/NAME"
        )
    if kind not in _TITLES:
        raise errors.InvalidInputException(
            f"cannot tag a resource of type {kind!r} ({_shown(resource_arn)}); "
            f"taggable here: {', '.join(_TITLES)}"
        )
    return kind, name


def check_tags(tags: Any, member: str = "Tags") -> dict[str, str]:
    """Tags as Glue accepts them (CreateJob's ``Tags``, TagResource's ``TagsToAdd``): at most
    50, keys of 1 to 128 characters, values of at most 256, neither starting with "aws:".
    InvalidInputException naming the first offence."""
    if not isinstance(tags, Mapping):
        raise errors.InvalidInputException(f"{member} must be a map of tag keys to values")
    if len(tags) > MAX_TAGS:
        raise errors.InvalidInputException(f"{member} has {len(tags)} tags; at most {MAX_TAGS} are allowed")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY:
            raise errors.InvalidInputException(f"{member}: tag key {_shown(key)} must be 1 to {MAX_KEY} characters")
        if not isinstance(value, str) or len(value) > MAX_VALUE:
            raise errors.InvalidInputException(
                f"{member}: the value of tag {key!r} must be a string of at most {MAX_VALUE} characters"
            )
        for what, text in (("key", key), ("value", value)):
            if text.lower().startswith(_RESERVED):
                raise errors.InvalidInputException(
                    f"{member}: tag {what} {_shown(text)} starts with {_RESERVED!r}, which AWS reserves"
                )
    return dict(tags)


def tag_resource(db: store.Store, settings: Settings, resource_arn: str, tags_to_add: Mapping[str, str]) -> dict[str, Any]:
    """TagResource: add these tags, overwriting values of keys the resource has. Refused, with
    nothing changed, when the resource would carry more than 50 tags."""
    kind, name = parse_arn(settings, resource_arn)
    adding = check_tags(tags_to_add, "TagsToAdd")
    with db.transaction() as tx:
        _existing(tx, kind, name, lock=True)  # the row lock serialises the count below across processes
        current = store.tags.get(tx, kind, name)
        after = len(current.keys() | adding.keys())
        if after > MAX_TAGS:
            raise errors.InvalidInputException(
                f"{_TITLES[kind]} {name} has {len(current)} tags; adding these would make {after}, "
                f"more than the {MAX_TAGS} allowed per resource"
            )
        store.tags.put(tx, kind, name, adding)
    return {}


def untag_resource(db: store.Store, settings: Settings, resource_arn: str, tags_to_remove: Sequence[str]) -> dict[str, Any]:
    """UntagResource: remove the tags with these keys; keys the resource lacks are ignored."""
    kind, name = parse_arn(settings, resource_arn)
    if isinstance(tags_to_remove, str | bytes) or not isinstance(tags_to_remove, Sequence):
        raise errors.InvalidInputException("TagsToRemove must be a list of tag keys")
    if len(tags_to_remove) > MAX_TAGS:
        raise errors.InvalidInputException(
            f"TagsToRemove has {len(tags_to_remove)} keys; at most {MAX_TAGS} are allowed"
        )
    if not all(isinstance(key, str) for key in tags_to_remove):
        raise errors.InvalidInputException("TagsToRemove must be a list of tag keys (strings)")
    with db.transaction() as tx:
        _existing(tx, kind, name)
        store.tags.remove(tx, kind, name, tags_to_remove)
    return {}


def get_tags(db: store.Store, settings: Settings, resource_arn: str) -> dict[str, Any]:
    """GetTags: ``{"Tags": {key: value}}``."""
    kind, name = parse_arn(settings, resource_arn)
    with db.read() as tx:
        _existing(tx, kind, name)
        return {"Tags": store.tags.get(tx, kind, name)}


def _existing(tx: store.Tx, kind: str, name: str, *, lock: bool = False) -> None:
    if store.definitions.get(tx, kind, name, lock=lock) is None:
        raise errors.EntityNotFoundException(f"{_TITLES[kind]} {name} not found")


def _shown(text: Any, limit: int = 200) -> str:
    """A value for a message: quoted, and cut short (an ARN may be 10,240 characters)."""
    shown = repr(text)
    return shown if len(shown) <= limit else f"{shown[:limit]}...'"
