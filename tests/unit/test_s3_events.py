"""SQS bodies to S3's EventBridge envelopes: S3's own notifications (as the S3 user guide's
"Event message structure" shows them), SNS-wrapped ones, EventBridge events a rule delivered,
the test event, and what is refused; ids that stay the same for the same occurrence."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from orchestrator.sources import s3_events

ACCOUNT = "111122223333"
REGION = "eu-west-1"


def record(
    key: str = "HappyFace.jpg",
    *,
    name: str = "ObjectCreated:Put",
    sequencer: str | None = "0A1B2C3D4E5F678901",
    event_time: str = "2026-12-04T10:00:00.123Z",
    **object_fields: Any,
) -> dict[str, Any]:
    """One record of S3's notification, shaped as the user guide's example."""
    obj: dict[str, Any] = {
        "key": key,
        "size": 1024,
        "eTag": "0123456789abcdef0123456789abcdef",
        "versionId": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
        "sequencer": sequencer,
        **object_fields,
    }
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-west-2",
        "eventTime": event_time,
        "eventName": name,
        "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "testConfigRule",
            "bucket": {
                "name": "amzn-s3-demo-bucket",
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": "arn:aws:s3:::amzn-s3-demo-bucket",
            },
            "object": {k: v for k, v in obj.items() if v is not None},
        },
    }


def notification(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records or [record()])})


def sns(message: str) -> str:
    """An SNS notification as SNS delivers it to an SQS subscription (not raw delivery)."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:s3-events",
            "Subject": "Amazon S3 Notification",
            "Message": message,
            "Timestamp": "2026-12-04T10:00:01.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertURL": "https://sns.us-west-2.amazonaws.com/cert.pem",
            "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe",
        }
    )


# The user guide's "Object Created" example of S3's EventBridge events.
EVENTBRIDGE = {
    "version": "0",
    "id": "17793124-05d4-b198-2fde-7ededc63b103",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "account": "111122223333",
    "time": "2021-11-12T00:00:00Z",
    "region": "ca-central-1",
    "resources": ["arn:aws:s3:::amzn-s3-demo-bucket1"],
    "detail": {
        "version": "0",
        "bucket": {"name": "amzn-s3-demo-bucket1"},
        "object": {
            "key": "example-key",
            "size": 5,
            "etag": "b1946ac92492d2347c6235b4d2611184",
            "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
            "sequencer": "617f08299329d189",
        },
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "source-ip-address": "1.2.3.4",
        "reason": "PutObject",
    },
}
TEST_EVENT = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2026-12-04T10:00:00.000Z",
    "Bucket": "amzn-s3-demo-bucket",
    "RequestId": "5582815E1AEA5ADF",
    "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
}


def convert(body: str) -> list[dict[str, Any]]:
    return s3_events.from_sqs_body(body, account=ACCOUNT, region=REGION)


# --- S3's notifications ---------------------------------------------------------------------


def test_a_put_record_becomes_s3s_eventbridge_object_created() -> None:
    [event] = convert(notification())
    assert list(event) == list(EVENTBRIDGE)  # the envelope's fields, in EventBridge's order
    assert event == {
        "version": "0",
        "id": event["id"],
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-12-04T10:00:00Z",
        "region": REGION,
        "resources": ["arn:aws:s3:::amzn-s3-demo-bucket"],
        "detail": {
            "version": "0",
            "bucket": {"name": "amzn-s3-demo-bucket"},
            "object": {
                "key": "HappyFace.jpg",
                "size": 1024,
                "etag": "0123456789abcdef0123456789abcdef",
                "version-id": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
                "sequencer": "0A1B2C3D4E5F678901",
            },
            "request-id": "C3D13FE58DE4C810",
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }
    # S3's principalId is neither an account id nor a service principal: no requester invented.
    assert "requester" not in event["detail"]


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("photos/my+cat%27s+pic.jpg", "photos/my cat's pic.jpg"),  # "+" is a space
        ("sums/1%2B1%3D2.txt", "sums/1+1=2.txt"),  # a real "+" comes as %2B
        ("%C3%A9t%C3%A9/r%C3%A9sum%C3%A9.csv", "été/résumé.csv"),
        ("plain/key.parquet", "plain/key.parquet"),
    ],
)
def test_keys_are_url_decoded(encoded: str, key: str) -> None:
    [event] = convert(notification(record(encoded)))
    assert event["detail"]["object"]["key"] == key


def test_every_record_of_a_message_is_an_event_in_order() -> None:
    body = notification(record("a", sequencer="01"), record("b", sequencer="02"))
    assert [e["detail"]["object"]["key"] for e in convert(body)] == ["a", "b"]
    assert convert(json.dumps({"Records": []})) == []


@pytest.mark.parametrize(
    ("name", "detail_type", "reason", "deletion_type"),
    [
        ("ObjectCreated:Put", "Object Created", "PutObject", None),
        ("ObjectCreated:Post", "Object Created", "POST Object", None),
        ("ObjectCreated:Copy", "Object Created", "CopyObject", None),
        (
            "ObjectCreated:CompleteMultipartUpload",
            "Object Created",
            "CompleteMultipartUpload",
            None,
        ),
        ("ObjectRemoved:Delete", "Object Deleted", "DeleteObject", "Permanently Deleted"),
        (
            "ObjectRemoved:DeleteMarkerCreated",
            "Object Deleted",
            "DeleteObject",
            "Delete Marker Created",
        ),
        (
            "LifecycleExpiration:Delete",
            "Object Deleted",
            "Lifecycle Expiration",
            "Permanently Deleted",
        ),
        ("ObjectRestore:Completed", "Object Restore Completed", None, None),
        ("ObjectTagging:Put", "Object Tags Added", None, None),
        ("LifecycleTransition", "Object Storage Class Changed", None, None),
    ],
)
def test_event_names_map_to_eventbridge_detail_types(
    name: str, detail_type: str, reason: str | None, deletion_type: str | None
) -> None:
    [event] = convert(notification(record(name=name)))
    assert event["detail-type"] == detail_type
    assert event["detail"].get("reason") == reason
    assert event["detail"].get("deletion-type") == deletion_type


def test_a_delete_has_no_size_and_invents_none() -> None:
    removed = record(name="ObjectRemoved:Delete", sequencer="0055AED6DCD90281E5")
    del removed["s3"]["object"]["size"], removed["s3"]["object"]["eTag"]
    del removed["requestParameters"], removed["responseElements"]
    [event] = convert(notification(removed))
    assert event["detail"]["object"] == {
        "key": "HappyFace.jpg",
        "version-id": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
        "sequencer": "0055AED6DCD90281E5",
    }
    assert set(event["detail"]) == {"version", "bucket", "object", "reason", "deletion-type"}


def test_restore_and_tiering_data_become_their_detail_fields() -> None:
    restored = record(name="ObjectRestore:Completed")
    restored["glacierEventData"] = {
        "restoreEventData": {
            "lifecycleRestorationExpiryTime": "2026-12-11T00:00:00.000Z",
            "lifecycleRestoreStorageClass": "GLACIER",
        }
    }
    [event] = convert(notification(restored))
    assert event["detail"]["restore-expiry-time"] == "2026-12-11T00:00:00.000Z"
    assert event["detail"]["source-storage-class"] == "GLACIER"
    tiered = record(name="IntelligentTiering")
    tiered["intelligentTieringEventData"] = {"destinationAccessTier": "ARCHIVE_ACCESS"}
    [event] = convert(notification(tiered))
    assert event["detail-type"] == "Object Access Tier Changed"
    assert event["detail"]["destination-access-tier"] == "ARCHIVE_ACCESS"


# --- ids ------------------------------------------------------------------------------------


def test_the_same_notification_always_has_the_same_id() -> None:
    body = notification()
    assert convert(body)[0]["id"] == convert(body)[0]["id"]  # a redelivered message
    duplicate = notification(record())  # S3 notifying the same write twice: another message
    assert convert(duplicate)[0]["id"] == convert(body)[0]["id"]
    assert convert(sns(body))[0]["id"] == convert(body)[0]["id"]  # the same write through SNS


def test_ids_differ_for_different_occurrences() -> None:
    base = convert(notification())[0]["id"]
    assert convert(notification(record(sequencer="0A1B2C3D4E5F678902")))[0]["id"] != base
    assert convert(notification(record("other.jpg")))[0]["id"] != base
    deleted = convert(notification(record(name="ObjectRemoved:Delete")))[0]["id"]
    assert deleted != base


def test_without_a_sequencer_etag_size_and_time_name_the_write() -> None:
    def id_of(**changes: Any) -> str:
        return convert(notification(record(sequencer=None, **changes)))[0]["id"]

    assert id_of() == id_of()
    assert id_of(event_time="2026-12-04T10:00:00.124Z") != id_of()
    assert id_of(size=1) != id_of()
    assert id_of(eTag="ffff") != id_of()
    # the same instant written differently is the same occurrence
    assert id_of(event_time="2026-12-04T11:00:00.123+01:00") == id_of()


def test_the_builder_and_the_converter_agree_on_ids() -> None:
    [converted] = convert(notification(record("dir/a b.txt", sequencer=None)))
    built = s3_events.object_created(
        "amzn-s3-demo-bucket",
        "dir/a b.txt",
        size=1024,
        etag="0123456789abcdef0123456789abcdef",
        time=datetime(2026, 12, 4, 10, 0, 0, 123000, tzinfo=UTC),
        account=ACCOUNT,
        region=REGION,
    )
    assert built["id"] == converted["id"]


# --- the builder ----------------------------------------------------------------------------


def test_object_created_leaves_out_what_it_is_not_given() -> None:
    event = s3_events.object_created(
        "in",
        "k",
        size=3,
        time=datetime(2026, 12, 4, 10, 0, 0, 999999),  # naive: UTC
        account="000000000000",
        region="local",
        event_id="e-1",
    )
    assert event == {
        "version": "0",
        "id": "e-1",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "000000000000",
        "time": "2026-12-04T10:00:00Z",
        "region": "local",
        "resources": ["arn:aws:s3:::in"],
        "detail": {
            "version": "0",
            "bucket": {"name": "in"},
            "object": {"key": "k", "size": 3},
            "reason": "PutObject",
        },
    }


def test_object_created_takes_resources_reason_and_any_timezone() -> None:
    event = s3_events.object_created(
        "/data/in",
        "k",
        size=0,
        etag="e",
        sequencer="s",
        time=datetime(2026, 12, 4, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        account="1",
        region="r",
        reason="CopyObject",
        resources=["file:///data/in"],
    )
    assert event["time"] == "2026-12-04T10:00:00Z"
    assert event["resources"] == ["file:///data/in"]
    assert event["detail"]["object"] == {"key": "k", "size": 0, "etag": "e", "sequencer": "s"}
    assert event["detail"]["reason"] == "CopyObject"


# --- the other shapes -----------------------------------------------------------------------


def test_an_sns_wrapped_notification_is_unwrapped() -> None:
    assert convert(sns(notification())) == convert(notification())


def test_an_eventbridge_event_is_kept_with_its_id() -> None:
    assert convert(json.dumps(EVENTBRIDGE)) == [EVENTBRIDGE]
    assert convert(sns(json.dumps(EVENTBRIDGE))) == [EVENTBRIDGE]
    other = copy.deepcopy(EVENTBRIDGE) | {"detail-type": "Object Deleted", "id": "x"}
    assert convert(json.dumps(other)) == [other]


def test_s3s_test_event_holds_no_event() -> None:
    assert convert(json.dumps(TEST_EVENT)) == []
    assert convert(sns(json.dumps(TEST_EVENT))) == []


def _without(mapping: dict[str, Any], *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(mapping)
    inner = changed
    for name in path[:-1]:
        inner = inner[name]
    del inner[path[-1]]
    return changed


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not an object"),
        ('{"hello": "world"}', "neither"),
        ('{"Records": {"a": 1}}', "not a list"),
        ('{"Records": [42]}', "record 0 is not an object"),
        (notification(record() | {"eventSource": "aws:sqs"}), "eventSource"),
        (notification(record() | {"eventVersion": "1.0"}), "eventVersion"),
        (notification(record(name="Replication:OperationFailedReplication")), "no EventBridge"),
        (notification(record(name="ObjectCreated:*")), "no EventBridge"),
        (notification(_without(record(), "s3", "object", "key")), "s3.object.key"),
        (notification(_without(record(), "s3", "bucket", "name")), "s3.bucket.name"),
        (notification(_without(record(), "eventTime")), "eventTime"),
        (notification(record(event_time="yesterday")), "ISO 8601"),
        (notification(record(), {"eventSource": "aws:s3"}), "record 1"),
        (sns("not json"), "SNS Message is not JSON"),
        (sns(sns(notification())), "inside an SNS message"),
        (
            json.dumps({"Type": "SubscriptionConfirmation", "TopicArn": "t"}),
            "SubscriptionConfirmation",
        ),
        (json.dumps({"Type": "Notification", "Message": {"Records": []}}), "string Message"),
        (json.dumps(_without(EVENTBRIDGE, "id")), "without 'id'"),
        (json.dumps(EVENTBRIDGE | {"detail": "x"}), "detail object"),
        (json.dumps(EVENTBRIDGE | {"resources": "arn:aws:s3:::b"}), "resources"),
        (json.dumps(EVENTBRIDGE | {"id": "x" * 129}), "longer than 128"),
    ],
)
def test_anything_else_is_refused_with_a_reason(body: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        convert(body)
