"""The notifier: fans events out to sinks, each on a queue and a thread of its own, so that
publishing never waits on I/O and a dead webhook delays only itself. Retries use tenacity's
exponential backoff with jitter. Nothing here is durable: the store's outbox is the truth, and
``on_result`` tells the caller how each delivery ended.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import tenacity

from orchestrator import errors

if TYPE_CHECKING:
    from orchestrator.notifications.sinks import Sink

logger = logging.getLogger("adhere.notifications")

OnResult = Callable[[str, str, bool, str | None], None]
"""``on_result(event_id, sink_name, ok, error)``: from the sink's thread once retries are over,
or from ``publish`` itself for an event dropped because the sink's backlog is full."""


class DeliveryError(errors.AdhereError):
    """A sink refused or could not take an event; ``retryable`` says whether to try again."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class DefaultLog:
    """The sink when none is configured: each event logged at INFO, as ``{"type": "log"}`` would,
    without loading the sink models."""

    type = "log"
    name = "log-1"
    attempts = 1
    backoff = 0.0
    max_backoff = 0.0

    def matches(self, event: Mapping[str, Any]) -> bool:
        return True

    def send(self, event: Mapping[str, Any], body: str) -> None:
        logger.info("%s %s", event.get("detail-type"), body)


class Notifier:
    """Fans events out to sinks on background threads; see the module docstring."""

    def __init__(
        self,
        sinks: Sequence[Mapping[str, Any] | Sink],
        on_result: OnResult | None = None,
        *,
        max_backlog: int = 10_000,
    ) -> None:
        if sinks:
            from orchestrator.notifications.sinks import parse_sinks

            parsed: list[Sink | DefaultLog] = list(parse_sinks(sinks))
        else:
            parsed = [DefaultLog()]
        self._on_result = on_result
        self._max_backlog = max_backlog
        self._cond = threading.Condition()
        self._backlog: dict[str, int] = {}
        self._closed = False
        # Set on close once the grace period is over: backoff waits end, queued events are dropped.
        self._abort = threading.Event()
        self._workers = [_Worker(sink, self) for sink in parsed]
        for worker in self._workers:
            self._backlog[worker.name] = 0
            worker.thread.start()

    @property
    def sinks(self) -> list[Sink | DefaultLog]:
        return [w.sink for w in self._workers]

    def publish(self, event: Mapping[str, Any]) -> list[str]:
        """Queue ``event`` for every sink whose filter matches; return their names. No I/O."""
        body = json.dumps(event, separators=(",", ":"))  # a bad event fails here, in the caller
        queued: list[str] = []
        dropped: list[str] = []
        with self._cond:
            if self._closed:
                logger.warning("notifier closed; event %s not published", event.get("id"))
                return []
            for worker in self._workers:
                if not worker.sink.matches(event):
                    continue
                if self._backlog[worker.name] >= self._max_backlog:
                    dropped.append(worker.name)
                    continue
                self._backlog[worker.name] += 1
                worker.queue.append((dict(event), body))
                queued.append(worker.name)
            self._cond.notify_all()
        for name in dropped:
            logger.warning(
                "sink %s has %d events waiting; dropped %s",
                name,
                self._max_backlog,
                event.get("id"),
            )
            self._report(
                str(event.get("id")), name, False, "not delivered: the sink's backlog is full"
            )
        return queued

    def flush(self, timeout: float) -> bool:
        """Wait until every queued delivery has ended; False if ``timeout`` seconds ran out first."""
        with self._cond:
            return self._cond.wait_for(lambda: not any(self._backlog.values()), timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking events, let queued ones go out for up to ``timeout`` seconds, then give up.

        Events still queued after that are reported to ``on_result`` as not delivered.
        """
        with self._cond:
            if self._closed:
                return
            self._closed = True
        self.flush(timeout)
        self._abort.set()
        with self._cond:
            self._cond.notify_all()
        for worker in self._workers:
            # A request already on the wire cannot be interrupted; the thread is a daemon.
            worker.thread.join(timeout=1.0)

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next(self, worker: _Worker) -> tuple[dict[str, Any], str] | None:
        with self._cond:
            self._cond.wait_for(lambda: worker.queue or self._closed)
            return worker.queue.popleft() if worker.queue else None

    def _done(self, worker: _Worker, event_id: str, ok: bool, error: str | None) -> None:
        self._report(event_id, worker.name, ok, error)
        with self._cond:
            self._backlog[worker.name] -= 1
            self._cond.notify_all()

    def _report(self, event_id: str, sink: str, ok: bool, error: str | None) -> None:
        if ok:
            logger.debug("event %s delivered to %s", event_id, sink)
        else:
            logger.warning("event %s not delivered to %s: %s", event_id, sink, error)
        if self._on_result is None:
            return
        try:
            self._on_result(event_id, sink, ok, error)
        except Exception:  # the callback's failure must not stop deliveries
            logger.exception("on_result failed for event %s, sink %s", event_id, sink)


class _Aborted(Exception):
    """The notifier closed while a delivery was waiting to retry."""


class _Worker:
    """One sink's queue and thread; its sender (and boto3 client) is used by that thread only."""

    def __init__(self, sink: Sink | DefaultLog, notifier: Notifier) -> None:
        self.sink = sink
        self.name = sink.name or sink.type
        self.queue: collections.deque[tuple[dict[str, Any], str]] = collections.deque()
        self.notifier = notifier
        self.errors: list[BaseException | None] = []  # errors of the delivery in progress
        self.retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(sink.attempts),
            # Exponential backoff plus jitter, so many runs failing at once do not retry in step.
            wait=tenacity.wait_exponential(multiplier=sink.backoff, max=sink.max_backoff)
            + tenacity.wait_random(0, sink.backoff),
            retry=tenacity.retry_if_exception(
                lambda e: isinstance(e, DeliveryError) and e.retryable
            ),
            before_sleep=lambda state: self.errors.append(
                state.outcome and state.outcome.exception()
            ),
            sleep=self._sleep,
            reraise=True,
        )
        self.thread = threading.Thread(
            target=self._run, name=f"adhere-notify-{self.name}", daemon=True
        )

    def _run(self) -> None:
        while (item := self.notifier._next(self)) is not None:
            event, body = item
            event_id = str(event.get("id"))
            if self.notifier._abort.is_set():
                self.notifier._done(
                    self, event_id, False, "not delivered: the notifier closed first"
                )
                continue
            ok, error = self._deliver(event, body)
            self.notifier._done(self, event_id, ok, error)

    def _deliver(self, event: dict[str, Any], body: str) -> tuple[bool, str | None]:
        self.errors.clear()
        try:
            self.retrying(self.sink.send, event, body)
            return True, None
        except _Aborted:
            return False, f"gave up when the notifier closed; last error: {self.errors[-1]}"
        except DeliveryError as exc:
            tries = self.retrying.statistics.get("attempt_number", 1)
            return False, f"{exc} (attempt {tries} of {self.sink.attempts})"
        except Exception as exc:  # a bug or an unexpected library error: report, keep the thread
            logger.exception("sink %s failed on event %s", self.name, event.get("id"))
            return False, f"{type(exc).__name__}: {exc}"

    def _sleep(self, seconds: float) -> None:
        if self.notifier._abort.wait(seconds):
            raise _Aborted


