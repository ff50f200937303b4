"""The event sources against real parts: a watched folder on local disk (watchdog, inotify)
and SQS queues of moto's server, fed by moto's own S3 notifications (moto delivers S3 events
to SQS directly, through SNS, and through an EventBridge rule), with a sink that keeps what it
is given by id, as the real one does."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from integration.s3_fixtures import AWS_TEST_ENV

from orchestrator.sources import s3_events
from orchestrator.sources.folder import FolderSource
from orchestrator.sources.sqs import SqsSource

ACCOUNT = "123456789012"  # moto's
REGION = AWS_TEST_ENV["AWS_DEFAULT_REGION"]


class Collector:
    """A sink: records every call, keeps envelopes by id (a repeated id is a duplicate), and
    fails its first ``failures`` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls: list[list[dict[str, Any]]] = []
        self.stored: dict[str, dict[str, Any]] = {}
        self.received: list[dict[str, Any]] = []
        self._cond = threading.Condition()

    def __call__(self, envelopes: list[dict[str, Any]]) -> None:
        with self._cond:
            self.calls.append(list(envelopes))
            if len(self.calls) <= self.failures:
                raise RuntimeError(f"the store is down (call {len(self.calls)})")
            self.received += envelopes
            for envelope in envelopes:
                self.stored.setdefault(envelope["id"], envelope)
            self._cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        with self._cond:
            assert self._cond.wait_for(predicate, timeout), f"timed out; received {self.keys()}"

    def wait_keys(self, *keys: str, timeout: float = 10.0) -> None:
        self.wait(lambda: set(keys) <= set(self._keys()), timeout)

    def keys(self) -> list[str]:
        with self._cond:
            return self._keys()

    def _keys(self) -> list[str]:
        return [e["detail"]["object"]["key"] for e in self.received]


# --- the folder -----------------------------------------------------------------------------

SETTLE = 0.3


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    watched = tmp_path / "in"
    watched.mkdir()
    return watched


@pytest.fixture
def watch(folder: Path) -> Iterator[Callable[..., tuple[FolderSource, Collector]]]:
    """Start a FolderSource on ``folder`` (options as keywords); stopped at the test's end."""
    started: list[FolderSource] = []

    def start(sink: Collector | None = None, **options: Any) -> tuple[FolderSource, Collector]:
        sink = sink or Collector()
        options = {"settle": SETTLE, **options}
        source = FolderSource(folder, sink, account=ACCOUNT, region=REGION, **options)
        source.start()
        started.append(source)
        return source, sink

    yield start
    for source in started:
        source.stop()


def write(path: Path, data: bytes = b"data") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_written_file_is_one_object_created(folder: Path, watch: Any) -> None:
    _, sink = watch()
    path = write(folder / "report.csv", b"a,b\n1,2\n")
    sink.wait_keys("report.csv")
    time.sleep(SETTLE + 0.2)  # nothing else comes
    [event] = sink.stored.values()
    st = path.stat()
    root = str(folder.resolve())
    assert event == s3_events.object_created(
        root,
        "report.csv",
        size=8,
        time=datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC),
        account=ACCOUNT,
        region=REGION,
        resources=[folder.resolve().as_uri()],
        event_id=event["id"],
    )
    assert event["time"].endswith("Z")
    assert event["resources"] == [f"file://{root}"]


def test_a_file_written_in_chunks_is_announced_once_closed(folder: Path, watch: Any) -> None:
    _, sink = watch()
    with open(folder / "big.bin", "wb") as f:
        for _ in range(4):
            f.write(b"x" * 1000)
            f.flush()
            os.fsync(f.fileno())
            time.sleep(SETTLE + 0.1)  # longer than settle: the writer's pauses do not matter
            assert sink.received == []
    sink.wait_keys("big.bin")
    time.sleep(SETTLE + 0.2)
    assert [e["detail"]["object"]["size"] for e in sink.stored.values()] == [4000]
    assert {e["detail"]["object"]["size"] for e in sink.received} == {4000}


def test_renamed_and_moved_in_files_are_announced(folder: Path, watch: Any) -> None:
    _, sink = watch()
    outside = write(folder.parent / "elsewhere" / "moved.txt")
    os.rename(outside, folder / "moved.txt")
    write(folder / "first.txt")
    sink.wait_keys("moved.txt", "first.txt")
    os.rename(folder / "first.txt", folder / "second.txt")  # a new key, as S3 copy + delete
    sink.wait_keys("second.txt")
    assert sorted(sink.keys()) == ["first.txt", "moved.txt", "second.txt"]


def test_a_partial_file_renamed_when_done_is_one_event(folder: Path, watch: Any) -> None:
    _, sink = watch()
    write(folder / "x.part", b"1234")
    for name in (".hidden", "y~", "z.tmp", "w.crdownload", ".cache/inside.txt"):
        write(folder / name)
    os.rename(folder / "x.part", folder / "x")
    write(folder / "last")  # events keep their order: once "last" is in, the rest has been seen
    sink.wait_keys("x", "last")
    assert list(dict.fromkeys(sink.keys())) == ["x", "last"]
    assert sink.received[0]["detail"]["object"]["size"] == 4


def test_a_name_that_is_not_utf8_is_skipped(folder: Path, watch: Any) -> None:
    _, sink = watch()
    with open(os.path.join(os.fsencode(folder), b"latin1-\xe9t\xe9.txt"), "wb") as f:
        f.write(b"x")
    write(folder / "été.txt")
    sink.wait_keys("été.txt")
    assert set(sink.keys()) == {"été.txt"}


def test_subfolders_when_recursive(folder: Path, watch: Any) -> None:
    _, sink = watch()
    write(folder / "a" / "b" / "deep.txt")
    sink.wait_keys("a/b/deep.txt")


def test_a_directory_moved_in_is_announced_whole(folder: Path, watch: Any) -> None:
    _, sink = watch()
    staged = folder.parent / "staging"
    for name in ("one.txt", "sub/two.txt"):
        write(staged / name)
    os.rename(staged, folder / "batch")
    sink.wait_keys("batch/one.txt", "batch/sub/two.txt")


def test_subfolders_are_skipped_when_not_recursive(folder: Path, watch: Any) -> None:
    write(folder / "old" / "before.txt")
    _, sink = watch(recursive=False)
    write(folder / "sub" / "nested.txt")
    write(folder / "top.txt")
    sink.wait_keys("top.txt")
    time.sleep(SETTLE + 0.2)
    assert set(sink.keys()) == {"top.txt"}


def test_files_there_at_start_are_announced_with_stable_ids(folder: Path, watch: Any) -> None:
    old = write(folder / "old.txt")
    os.utime(old, (1_700_000_000, 1_700_000_000))
    write(folder / "sub" / "young.txt")  # modified just now: waits `settle` before it counts
    source, sink = watch()
    sink.wait_keys("old.txt", "sub/young.txt")
    assert sink.received[0]["time"] == "2023-11-14T22:13:20Z"
    source.stop()
    _, again = watch()  # a restart finds the same files: the same ids, duplicates for the sink
    again.wait_keys("old.txt", "sub/young.txt")
    assert set(again.stored) == set(sink.stored)
    write(folder / "old.txt", b"rewritten")  # a new write is a new event
    again.wait(lambda: len(again.stored) == 3)


def test_a_file_being_written_at_start_waits_for_its_close(folder: Path, watch: Any) -> None:
    sink = Collector()
    with open(folder / "growing.log", "wb") as f:
        f.write(b"x")
        f.flush()
        watch(sink)
        deadline = time.monotonic() + 3 * SETTLE
        while time.monotonic() < deadline:  # still being written: the scan's settle holds it
            f.write(b"x")
            f.flush()
            time.sleep(SETTLE / 4)
        assert sink.received == []
        size = f.tell()
    sink.wait_keys("growing.log")
    time.sleep(SETTLE + 0.2)
    assert {e["detail"]["object"]["size"] for e in sink.received} == {size}
    assert len(sink.stored) == 1


def test_a_burst_of_files_all_arrive_in_batches(folder: Path, watch: Any) -> None:
    _, sink = watch()
    for n in range(1000):
        (folder / f"f{n:04d}.json").write_bytes(b"{}")
    sink.wait(lambda: len(sink.stored) == 1000)
    assert {e["detail"]["object"]["key"] for e in sink.stored.values()} == {
        f"f{n:04d}.json" for n in range(1000)
    }  # one id for each file
    assert len(sink.calls) < 200 and max(len(c) for c in sink.calls) <= 500


def test_a_failing_sink_loses_nothing(folder: Path, watch: Any) -> None:
    _, sink = watch(Collector(failures=2), backoff=0.01)
    for n in range(20):
        write(folder / f"{n}.txt")
    sink.wait(lambda: len(sink.stored) == 20)
    assert sink.calls[1] == sink.calls[0] == sink.calls[2]  # the same envelopes, retried


def test_stop_flushes_what_is_pending(folder: Path, watch: Any) -> None:
    source, sink = watch(batch_interval=60)
    for n in range(3):
        write(folder / f"{n}.txt")
    time.sleep(0.3)
    assert sink.received == []  # held for the batch
    source.stop()
    assert sorted(sink.keys()) == ["0.txt", "1.txt", "2.txt"]


# --- SQS ------------------------------------------------------------------------------------


@pytest.fixture
def aws(s3_server: str) -> Callable[[str], Any]:
    """boto3 clients of moto's server (``s3_server`` sets test credentials and the region)."""
    import boto3

    session = boto3.session.Session()
    return lambda service: session.client(service, endpoint_url=s3_server)


def name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


def make_queue(aws: Callable[[str], Any], visibility: int = 30) -> tuple[str, str]:
    sqs = aws("sqs")
    url = sqs.create_queue(
        QueueName=name("events"), Attributes={"VisibilityTimeout": str(visibility)}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def in_queue(aws: Callable[[str], Any], url: str) -> int:
    """Messages in the queue, visible or in flight."""
    attributes = aws("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


@pytest.fixture
def poll(s3_server: str) -> Iterator[Callable[..., tuple[SqsSource, Collector]]]:
    started: list[SqsSource] = []

    def start(
        url: str, sink: Collector | None = None, **options: Any
    ) -> tuple[SqsSource, Collector]:
        sink = sink or Collector()
        options = {"wait_seconds": 1, "backoff": 0.05, **options}
        source = SqsSource(
            url, sink, account=ACCOUNT, region=REGION, endpoint_url=s3_server, **options
        )
        source.start()
        started.append(source)
        return source, sink

    yield start
    for source in started:
        source.stop(timeout=5)


def body(key: str, sequencer: str = "0055AED6DCD90281E5") -> str:
    """An S3 notification body as S3 sends it to SQS."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": REGION,
                    "eventTime": "2026-12-04T10:00:00.000Z",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "bucket": {"name": "landing", "arn": "arn:aws:s3:::landing"},
                        "object": {"key": key, "size": 5, "eTag": "e", "sequencer": sequencer},
                    },
                }
            ]
        }
    )


def test_s3_put_object_reaches_the_sink_through_sqs(aws: Any, poll: Any) -> None:
    s3 = aws("s3")
    bucket = name("landing")
    s3.create_bucket(Bucket=bucket)
    url, arn = make_queue(aws)
    s3.put_bucket_notification_configuration(  # moto then sends s3:TestEvent to the queue
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    _, sink = poll(url)
    s3.put_object(Bucket=bucket, Key="raw/day 1/a+b.csv", Body=b"hello")
    sink.wait_keys("raw/day 1/a+b.csv")
    [event] = sink.received
    assert event["detail-type"] == "Object Created"
    assert event["source"] == "aws.s3"
    assert (event["account"], event["region"]) == (ACCOUNT, REGION)
    assert event["resources"] == [f"arn:aws:s3:::{bucket}"]
    assert event["detail"]["bucket"] == {"name": bucket}
    assert event["detail"]["object"]["size"] == 5
    assert event["detail"]["reason"] == "PutObject"
    _wait(lambda: in_queue(aws, url) == 0)  # the test event and the notification: deleted


def test_s3_through_sns_and_through_eventbridge(aws: Any, poll: Any) -> None:
    s3, sns, events = aws("s3"), aws("sns"), aws("events")
    url, arn = make_queue(aws)
    topic = sns.create_topic(Name=name("topic"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    via_sns, via_eventbridge = name("sns"), name("eventbridge")
    for bucket in (via_sns, via_eventbridge):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=via_sns,
        NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3.put_bucket_notification_configuration(
        Bucket=via_eventbridge, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    rule = name("rule")
    pattern = {"source": ["aws.s3"], "detail-type": ["Object Created"]}
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": arn}])
    _, sink = poll(url)
    s3.put_object(Bucket=via_sns, Key="through sns", Body=b"1")
    s3.put_object(Bucket=via_eventbridge, Key="through eventbridge", Body=b"22")
    sink.wait_keys("through sns", "through eventbridge")
    by_bucket = {e["detail"]["bucket"]["name"]: e for e in sink.received}
    assert by_bucket[via_sns]["detail"]["object"]["size"] == 1
    kept = by_bucket[via_eventbridge]  # EventBridge's own event, id and all
    assert kept["resources"] == [f"arn:aws:s3:::{via_eventbridge}"]
    assert kept["detail"]["object"]["size"] == 2
    _wait(lambda: in_queue(aws, url) == 0)
    events.remove_targets(Rule=rule, Ids=["queue"])
    events.delete_rule(Name=rule)


def test_a_redelivered_message_counts_once(aws: Any, poll: Any) -> None:
    url, _ = make_queue(aws, visibility=1)
    sqs = aws("sqs")
    sqs.send_message(QueueUrl=url, MessageBody=body("once.csv"))
    sqs.send_message(QueueUrl=url, MessageBody=body("once.csv"))  # S3 notifying twice
    _, sink = poll(url, Collector(failures=1))  # the first call fails: nothing is deleted
    sink.wait(lambda: len(sink.calls) >= 2 and in_queue(aws, url) == 0, timeout=15)
    assert len(sink.stored) == 1
    assert len(sink.received) >= 2  # delivered again and again, stored once by id
    [event] = sink.stored.values()
    assert event["detail"]["object"]["key"] == "once.csv"


def test_an_unconvertible_message_stays_in_the_queue(
    aws: Any, poll: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="adhere.sources")
    url, _ = make_queue(aws, visibility=1)
    sqs = aws("sqs")
    bad = sqs.send_message(QueueUrl=url, MessageBody="this is not an S3 event")["MessageId"]
    sqs.send_message(QueueUrl=url, MessageBody=body("good.csv"))
    source, sink = poll(url)
    sink.wait_keys("good.csv")
    time.sleep(2.5)  # the bad one is received again after each visibility timeout
    assert in_queue(aws, url) == 1
    source.stop(timeout=3)  # its last poll (1 s) ends: the message is ours to look at
    received = sqs.receive_message(
        QueueUrl=url, WaitTimeSeconds=3, AttributeNames=["ApproximateReceiveCount"]
    )
    [message] = received["Messages"]
    assert message["MessageId"] == bad
    assert int(message["Attributes"]["ApproximateReceiveCount"]) >= 3
    logged = [r for r in caplog.records if bad in r.getMessage()]
    assert len(logged) == 1  # once per message, not once per receive
    assert "not JSON" in logged[0].getMessage()


def test_stop_is_prompt_and_no_sink_call_follows(aws: Any, poll: Any) -> None:
    url, _ = make_queue(aws)
    source, sink = poll(url, wait_seconds=10)
    time.sleep(0.5)  # inside a 10 s long poll
    started = time.monotonic()
    source.stop()
    assert time.monotonic() - started < 1.5
    aws("sqs").send_message(QueueUrl=url, MessageBody=body("after-stop.csv"))
    time.sleep(1.0)  # the last poll receives it and hands it back
    assert sink.calls == []
    assert in_queue(aws, url) == 1


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
