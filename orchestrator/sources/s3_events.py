"""S3 events in EventBridge's envelope ("Amazon S3 event notifications with EventBridge").

Pure: builders and the converter of SQS message bodies, so ids and shapes test without a
queue. EVENT triggers match the envelope S3 sends to EventBridge (source ``aws.s3``, detail
version ``"0"``), whichever way an event reached adhere.

Ids: S3's own notifications carry no event id, and a queue may deliver one twice, so an id is
derived from the occurrence (uuid5 over detail-type, bucket, decoded key, and the sequencer,
or eTag, size and event time when there is no sequencer): a redelivered message or a
duplicate notification of the same write gets the same id, and the sink drops the second.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from orchestrator.events import format_time, format_time_ms

SOURCE = "aws.s3"
OBJECT_CREATED = "Object Created"
OBJECT_DELETED = "Object Deleted"

# Namespace of the derived ids; never change it: stored ids would stop matching redeliveries.
ID_NAMESPACE = uuid.UUID("054cde97-b098-4ef1-9362-cc1c1cd451e0")

# S3 notification eventName -> (EventBridge detail-type, detail "reason", detail "deletion-type"),
# after the S3 user guide's EventBridge event list. S3 names a delete of an unversioned object
# "ObjectRemoved:Delete" (EventBridge: "Permanently Deleted") and one that leaves a delete marker
# "...:DeleteMarkerCreated". Other names (Replication:*, ReducedRedundancyLostObject) have no
# EventBridge counterpart and are refused.
EVENT_NAMES: dict[str, tuple[str, str | None, str | None]] = {
    "ObjectCreated:Put": (OBJECT_CREATED, "PutObject", None),
    "ObjectCreated:Post": (OBJECT_CREATED, "POST Object", None),
    "ObjectCreated:Copy": (OBJECT_CREATED, "CopyObject", None),
    "ObjectCreated:CompleteMultipartUpload": (OBJECT_CREATED, "CompleteMultipartUpload", None),
    "ObjectRemoved:Delete": (OBJECT_DELETED, "DeleteObject", "Permanently Deleted"),
    "ObjectRemoved:DeleteMarkerCreated": (OBJECT_DELETED, "DeleteObject", "Delete Marker Created"),
    "LifecycleExpiration:Delete": (OBJECT_DELETED, "Lifecycle Expiration", "Permanently Deleted"),
    "LifecycleExpiration:DeleteMarkerCreated": (
        OBJECT_DELETED,
        "Lifecycle Expiration",
        "Delete Marker Created",
    ),
    "ObjectRestore:Post": ("Object Restore Initiated", None, None),
    "ObjectRestore:Completed": ("Object Restore Completed", None, None),
    "ObjectRestore:Delete": ("Object Restore Expired", None, None),
    "ObjectTagging:Put": ("Object Tags Added", None, None),
    "ObjectTagging:Delete": ("Object Tags Deleted", None, None),
    "ObjectAcl:Put": ("Object ACL Updated", None, None),
    "LifecycleTransition": ("Object Storage Class Changed", None, None),
    "IntelligentTiering": ("Object Access Tier Changed", None, None),
}

# Detail fields EventBridge has and S3's notification record also carries: (record path, name).
_RECORD_DETAIL = (
    (
        ("glacierEventData", "restoreEventData", "lifecycleRestorationExpiryTime"),
        "restore-expiry-time",
    ),
    (
        ("glacierEventData", "restoreEventData", "lifecycleRestoreStorageClass"),
        "source-storage-class",
    ),
    (
        ("lifecycleEventData", "transitionEventData", "destinationStorageClass"),
        "destination-storage-class",
    ),
    (("intelligentTieringEventData", "destinationAccessTier"), "destination-access-tier"),
)


def occurrence_id(
    detail_type: str,
    bucket: str,
    key: str,
    *,
    sequencer: str | None,
    etag: str | None,
    size: int | None,
    time: datetime | str,
) -> str:
    """The id of one S3 occurrence: the same for every notification of it.

    S3's sequencer orders the events of one key, so with the key it names the event; without
    one, the object's eTag and size and the event time (to the millisecond) stand in for it.
    """
    if sequencer:
        identity: list[Any] = [detail_type, bucket, key, sequencer]
    else:
        identity = [detail_type, bucket, key, etag, size, format_time_ms(_parse_time(time))]
    return str(uuid.uuid5(ID_NAMESPACE, json.dumps(identity)))


def s3_event(
    detail_type: str,
    bucket: str,
    key: str,
    *,
    time: datetime | str,
    account: str,
    region: str,
    size: int | None = None,
    etag: str | None = None,
    version_id: str | None = None,
    sequencer: str | None = None,
    request_id: str | None = None,
    requester: str | None = None,
    source_ip: str | None = None,
    reason: str | None = None,
    extra: Mapping[str, Any] | None = None,
    resources: list[str] | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Any S3 event in EventBridge's shape. Fields left ``None`` are omitted, not invented.

    ``resources`` defaults to the bucket's ARN; ``event_id`` to :func:`occurrence_id`.
    """
    moment = _parse_time(time)
    obj = _present(
        {"key": key, "size": size, "etag": etag, "version-id": version_id, "sequencer": sequencer}
    )
    detail = {
        "version": "0",
        "bucket": {"name": bucket},
        "object": obj,
        **_present(
            {
                "request-id": request_id,
                "requester": requester,
                "source-ip-address": source_ip,
                "reason": reason,
            }
        ),
        **dict(extra or {}),
    }
    if event_id is None:
        event_id = occurrence_id(
            detail_type, bucket, key, sequencer=sequencer, etag=etag, size=size, time=moment
        )
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": SOURCE,
        "account": account,
        "time": format_time(moment),
        "region": region,
        "resources": list(resources) if resources is not None else [f"arn:aws:s3:::{bucket}"],
        "detail": detail,
    }


def object_created(
    bucket: str,
    key: str,
    *,
    size: int,
    etag: str | None = None,
    sequencer: str | None = None,
    time: datetime | str,
    account: str,
    region: str,
    reason: str = "PutObject",
    event_id: str | None = None,
    resources: list[str] | None = None,
) -> dict[str, Any]:
    """S3's "Object Created" event. ``reason`` is the API that wrote the object: PutObject,
    POST Object, CopyObject or CompleteMultipartUpload."""
    return s3_event(
        OBJECT_CREATED,
        bucket,
        key,
        time=time,
        account=account,
        region=region,
        size=size,
        etag=etag,
        sequencer=sequencer,
        reason=reason,
        resources=resources,
        event_id=event_id,
    )


def from_sqs_body(body: str, *, account: str, region: str) -> list[dict[str, Any]]:
    """The envelopes in one SQS message body; ValueError (with a short reason) for anything else.

    Accepted: (a) S3's notification ``{"Records": [...]}``, one envelope per record, mapped by
    :data:`EVENT_NAMES`, with ``account`` and ``region`` (adhere's, as for its own events) and
    ``requester`` left out (S3's principalId is not EventBridge's account or service principal);
    (b) an EventBridge event a rule delivered, kept as it is, with its own id; (c) either one
    wrapped in an SNS notification; (d) S3's ``s3:TestEvent``, which holds no event: ``[]``.
    """
    try:
        message = json.loads(body)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    return _convert(message, account=account, region=region, via_sns=False)


def _convert(message: Any, *, account: str, region: str, via_sns: bool) -> list[dict[str, Any]]:
    if not isinstance(message, dict):
        raise ValueError(f"body is a JSON {type(message).__name__}, not an object")
    if message.get("Type") == "Notification" or ("Type" in message and "TopicArn" in message):
        if via_sns:
            raise ValueError("an SNS message inside an SNS message")
        if message.get("Type") != "Notification":
            raise ValueError(f"an SNS {message.get('Type')!r} message, not a Notification")
        inner = message.get("Message")
        if not isinstance(inner, str):
            raise ValueError("SNS Notification without a string Message")
        try:
            unwrapped = json.loads(inner)
        except json.JSONDecodeError as exc:
            raise ValueError(f"SNS Message is not JSON: {exc}") from None
        return _convert(unwrapped, account=account, region=region, via_sns=True)
    if message.get("Event") == "s3:TestEvent":
        return []
    if "Records" in message:
        records = message["Records"]
        if not isinstance(records, list):
            raise ValueError("Records is not a list")
        return [
            _from_record(record, index, account=account, region=region)
            for index, record in enumerate(records)
        ]
    if "detail-type" in message:
        return [_eventbridge(message)]
    raise ValueError("neither an S3 notification, an EventBridge event nor an SNS notification")


def _from_record(record: Any, index: int, *, account: str, region: str) -> dict[str, Any]:
    where = f"record {index}"
    if not isinstance(record, dict):
        raise ValueError(f"{where} is not an object")
    if record.get("eventSource") != "aws:s3":
        raise ValueError(f"{where}: eventSource {record.get('eventSource')!r}, not 'aws:s3'")
    if not str(record.get("eventVersion", "")).startswith("2."):
        raise ValueError(f"{where}: eventVersion {record.get('eventVersion')!r}, not 2.x")
    name = record.get("eventName")
    if name not in EVENT_NAMES:
        raise ValueError(f"{where}: eventName {name!r} has no EventBridge counterpart")
    detail_type, reason, deletion_type = EVENT_NAMES[name]
    bucket = _get(record, "s3", "bucket", "name")
    raw_key = _get(record, "s3", "object", "key")
    if not isinstance(bucket, str) or not isinstance(raw_key, str):
        raise ValueError(f"{where}: no s3.bucket.name or s3.object.key")
    time = record.get("eventTime")
    if not isinstance(time, str):
        raise ValueError(f"{where}: no eventTime")
    extra = {name: value for path, name in _RECORD_DETAIL if (value := _get(record, *path))}
    if deletion_type:
        extra["deletion-type"] = deletion_type
    obj = record["s3"]["object"]
    return s3_event(
        detail_type,
        bucket,
        unquote_plus(raw_key),  # S3 URL-encodes keys in notifications ("+" for a space)
        time=time,
        account=account,
        region=region,
        size=obj.get("size"),
        etag=obj.get("eTag"),
        version_id=obj.get("versionId"),
        sequencer=obj.get("sequencer"),
        request_id=_get(record, "responseElements", "x-amz-request-id"),
        source_ip=_get(record, "requestParameters", "sourceIPAddress"),
        reason=reason,
        extra=extra,
    )


def _eventbridge(message: dict[str, Any]) -> dict[str, Any]:
    """An EventBridge event as a rule delivers it: checked for the envelope's fields, kept."""
    for field in ("id", "detail-type", "source"):
        if not isinstance(message.get(field), str) or not message[field]:
            raise ValueError(f"EventBridge event without {field!r}")
    if len(message["id"]) > 128:
        raise ValueError("EventBridge event id longer than 128 characters")
    if not isinstance(message.get("detail"), dict):
        raise ValueError("EventBridge event without a detail object")
    resources = message.get("resources", [])
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise ValueError("EventBridge event whose resources are not a list of strings")
    return message


def _parse_time(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise ValueError(f"not an ISO 8601 time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _get(mapping: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(name)
    return mapping


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}
