"""An SQS queue of S3 event notifications as an event source.

S3 (directly, through SNS, or through an EventBridge rule) puts its events on a queue; this
source long-polls it, converts each body (:func:`s3_events.from_sqs_body`), hands all the
envelopes of a receive to the sink, and deletes the messages only once the sink has committed
them. Delivery is at least once: a message whose sink call failed, or whose delete was lost,
comes back after the queue's visibility timeout and is stored once, by its envelopes' ids.

A body that cannot be converted is logged once per message id and left in the queue: the
queue's redrive policy (maxReceiveCount) moves it to its dead-letter queue, where it can be
looked at; without one it stays until the queue's retention period ends.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from orchestrator.sources import Sink, s3_events

logger = logging.getLogger("adhere.sources")

_LOGGED_LIMIT = 10_000  # message ids remembered as already logged unconvertible


class SqsSource:
    """Long-polls ``queue_url`` and hands the S3 events in its messages to ``sink``.

    The boto3 client takes credentials and the region from the environment as boto3 does;
    ``region`` is the region when the environment names none (and adhere's region in the
    envelopes converted from S3's notifications, with ``account``).

    ``stop()`` returns within about a second, not after a whole long poll: it waits for a
    sink call in progress, not for a ``receive_message`` in flight. A poll still running then
    ends on its own within ``wait_seconds``; whatever it received is made visible again at once
    and never reaches the sink after ``stop()``.
    """

    def __init__(
        self,
        queue_url: str,
        sink: Sink,
        *,
        account: str,
        region: str,
        endpoint_url: str | None = None,
        wait_seconds: int = 10,
        backoff: float = 0.1,
        max_backoff: float = 20.0,
    ) -> None:
        self.queue_url = queue_url
        self.sink = sink
        self.account = account
        self.region = region
        self.endpoint_url = endpoint_url
        self.wait_seconds = wait_seconds
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._stop = threading.Event()  # a new one per start(): an old poll never resumes
        # Held around "still running? then call the sink and delete": stop() takes it to wait
        # for a sink call in progress and to make sure no new one starts.
        self._handing = threading.Lock()
        self._logged: OrderedDict[str, None] = OrderedDict()
        self._client: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Create the SQS client and start polling on a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("SqsSource already started")
        import boto3  # here, not at import: boto3 takes a while to load

        session = boto3.session.Session()
        self._client = session.client(
            "sqs",
            endpoint_url=self.endpoint_url,
            region_name=session.region_name or self.region,
        )
        self._stop = stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(stop,), name="adhere-sqs-source", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop polling: no sink call starts after this returns. Waits for a sink call in
        progress, then up to ``timeout`` seconds for the thread (a long poll may outlast it)."""
        self._stop.set()
        with self._handing:
            pass
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self, stop: threading.Event) -> None:
        delay = self.backoff
        while not stop.is_set():
            try:
                ok = self._poll(stop)
            except Exception:  # the queue, the network, a bug: log, wait, poll again
                logger.exception("SQS source %s: polling failed", self.queue_url)
                ok = False
            if ok:
                delay = self.backoff
                continue
            stop.wait(delay)
            delay = min(delay * 2, self.max_backoff)

    def _poll(self, stop: threading.Event) -> bool:
        """One receive and what follows; False when the sink failed (then back off)."""
        response = self._client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["ApproximateReceiveCount"],  # in every boto3 adhere allows
        )
        messages = response.get("Messages", [])
        if not messages:
            return True
        envelopes: list[dict[str, Any]] = []
        converted: list[dict[str, Any]] = []
        for message in messages:
            try:
                envelopes += s3_events.from_sqs_body(
                    message["Body"], account=self.account, region=self.region
                )
            except ValueError as exc:
                self._log_unconvertible(message, exc)
                continue
            converted.append(message)
        with self._handing:
            if stop.is_set():
                self._release(converted)
                return True
            if envelopes:
                try:
                    self.sink(envelopes)
                except Exception:
                    logger.exception(
                        "SQS source %s: the sink failed on %d events from %d messages; they "
                        "come back after the visibility timeout",
                        self.queue_url,
                        len(envelopes),
                        len(converted),
                    )
                    return False
            self._delete(converted)
        return True

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        response = self._client.delete_message_batch(
            QueueUrl=self.queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
            ],
        )
        for failure in response.get("Failed", []):  # redelivered later: a duplicate by id
            logger.warning(
                "SQS source %s: could not delete message %s: %s",
                self.queue_url,
                messages[int(failure["Id"])]["MessageId"],
                failure.get("Message") or failure.get("Code"),
            )

    def _release(self, messages: list[dict[str, Any]]) -> None:
        """Make messages received during stop() visible again now, not after the timeout."""
        if not messages:
            return
        try:
            self._client.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for n, m in enumerate(messages)
                ],
            )
        except Exception:  # they come back after the visibility timeout anyway
            logger.warning("SQS source %s: could not release messages at stop", self.queue_url)

    def _log_unconvertible(self, message: dict[str, Any], exc: ValueError) -> None:
        message_id = message.get("MessageId", "?")
        if message_id in self._logged:
            return
        self._logged[message_id] = None
        if len(self._logged) > _LOGGED_LIMIT:
            self._logged.popitem(last=False)
        logger.warning(
            "SQS source %s: message %s (received %s times) is no S3 event: %s; left for the "
            "queue's dead-letter queue",
            self.queue_url,
            message_id,
            message.get("Attributes", {}).get("ApproximateReceiveCount", "?"),
            exc,
        )
