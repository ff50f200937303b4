"""Notification sinks against real receivers: a local HTTP server, a subprocess, and EventBridge,
SNS and SQS served by moto's threaded server (skipped without moto unless ADHERE_REQUIRE_SERVICES=1);
then what the loop records, on SQLite and PostgreSQL: exactly one "Glue Job State Change" for
each job run that ends SUCCEEDED, FAILED, TIMEOUT or STOPPED, whatever ended it, and none for
ERROR (as Glue). Timeouts and lost processes are covered in test_lifecycle.py.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from driving import (
    STATE_CHANGE,
    TINY,
    TinyEngine,
    apply,
    is_final,
    job,
    notified,
    orchestrating,
    register_tiny,
    settled,
    start,
    state,
    wait_for,
)

from orchestrator import errors, events, notifications, runner, store
from orchestrator.service import job_runs, workflow_runs
from orchestrator.service import notifications as service_notifications
from orchestrator.settings import Settings
from orchestrator.states import JobRunState

REQUIRE_SERVICES = os.environ.get("ADHERE_REQUIRE_SERVICES") == "1"
T = datetime(2024, 3, 5, 6, 7, 8, tzinfo=UTC)
REGION = "us-east-1"
FAST = {"backoff": 0.01, "max_backoff": 0.05}  # retry quickly in tests


def failed(job: str = "etl") -> dict[str, Any]:
    return events.job_state_change(job, f"jr_{uuid.uuid4().hex}", "FAILED", "SystemExit: 1", time=T)


class Results:
    """Collects on_result calls, which arrive on worker threads."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool, str | None]] = []
        self._cond = threading.Condition()

    def __call__(self, event_id: str, sink: str, ok: bool, error: str | None) -> None:
        with self._cond:
            self.calls.append((event_id, sink, ok, error))
            self._cond.notify_all()

    def wait(self, sink: str, timeout: float = 5.0) -> tuple[str, str, bool, str | None]:
        with self._cond:
            assert self._cond.wait_for(lambda: any(c[1] == sink for c in self.calls), timeout)
            return next(c for c in self.calls if c[1] == sink)

    def for_sink(self, sink: str) -> list[tuple[str, str, bool, str | None]]:
        with self._cond:
            return [c for c in self.calls if c[1] == sink]


@pytest.fixture
def results() -> Results:
    return Results()


@pytest.fixture
def notifier(results: Results) -> Iterator[Callable[..., notifications.Notifier]]:
    made: list[notifications.Notifier] = []

    def make(*sinks: dict[str, Any]) -> notifications.Notifier:
        made.append(notifications.Notifier(list(sinks), on_result=results))
        return made[-1]

    yield make
    for n in made:
        n.close(timeout=2)


# -- webhook ---------------------------------------------------------------------------------


class Hook:
    """A webhook receiver: answers each POST with the next scripted status (then 200). With a
    ``gate``, each answer waits until the test opens it (``held`` counts requests waiting)."""

    def __init__(self, statuses: list[int], gate: threading.Event | None) -> None:
        self.statuses = statuses
        self.gate = gate
        self.gate_timed_out = False
        self.held = threading.Semaphore(0)
        self.requests: list[tuple[dict[str, str], Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.hook = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        hook: Hook = self.server.hook  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        hook.requests.append((dict(self.headers), json.loads(body)))
        if hook.gate is not None:
            hook.held.release()
            # Bounded, so that a caller wrongly waiting for this answer fails instead of hanging.
            if not hook.gate.wait(10):
                hook.gate_timed_out = True
        self.send_response(hook.statuses.pop(0) if hook.statuses else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[Callable[..., Hook]]:
    hooks: list[Hook] = []

    def start(statuses: list[int] | None = None, gate: threading.Event | None = None) -> Hook:
        hooks.append(Hook(list(statuses or []), gate))
        return hooks[-1]

    yield start
    for h in hooks:
        h.stop()


def test_webhook_posts_the_event_json(hook, notifier, results) -> None:
    server = hook()
    n = notifier(
        {"type": "webhook", "name": "ops", "url": server.url, "headers": {"X-Token": "t0k"}}
    )
    event = failed()
    assert n.publish(event) == ["ops"]
    assert n.flush(5)
    assert results.for_sink("ops") == [(event["id"], "ops", True, None)]
    [(headers, body)] = server.requests
    assert body == event
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Token"] == "t0k"


def test_webhook_is_retried_with_backoff_until_it_succeeds(hook, notifier, results) -> None:
    server = hook([500, 503])
    n = notifier({"type": "webhook", "url": server.url, "attempts": 3, **FAST})
    event = failed()
    n.publish(event)
    assert n.flush(5)
    assert results.for_sink("webhook-1") == [(event["id"], "webhook-1", True, None)]
    assert [body["id"] for _, body in server.requests] == [event["id"]] * 3


def test_webhook_that_always_fails_is_reported_and_never_blocks_publish(
    hook, notifier, results
) -> None:
    gate = threading.Event()
    server = hook([500] * 10, gate=gate)
    n = notifier(
        {"type": "webhook", "name": "down", "url": server.url, "attempts": 2, **FAST},
        {"type": "log", "name": "local"},
    )
    event = failed()
    # The webhook holds its answer until the gate opens, after publish has returned.
    assert n.publish(event) == ["down", "local"]
    assert server.held.acquire(timeout=5)  # the first POST is on the wire, unanswered
    # The slow webhook has its own thread: the log sink is done while it is still held.
    results.wait("local")
    assert results.for_sink("down") == []
    gate.set()
    assert n.flush(5)
    assert not server.gate_timed_out  # nothing waited for the held answer
    [(event_id, _, ok, error)] = results.for_sink("down")
    assert (event_id, ok) == (event["id"], False)
    assert "HTTP 500" in (error or "") and "attempt 2 of 2" in (error or "")
    assert len(server.requests) == 2


def test_webhook_client_errors_are_not_retried(hook, notifier, results) -> None:
    server = hook([404])
    n = notifier({"type": "webhook", "url": server.url, "attempts": 5, **FAST})
    n.publish(failed())
    assert n.flush(5)
    [(_, _, ok, error)] = results.for_sink("webhook-1")
    assert not ok and "HTTP 404" in (error or "")
    assert len(server.requests) == 1


def test_close_gives_up_on_waiting_retries_and_reports_them(hook, results) -> None:
    server = hook([500] * 10)
    n = notifications.Notifier(
        [{"type": "webhook", "url": server.url, "attempts": 5, "backoff": 30, "max_backoff": 30}],
        on_result=results,
    )
    first, second = failed(), failed()
    n.publish(first)
    n.publish(second)
    started = time.perf_counter()
    n.close(timeout=0.2)
    assert time.perf_counter() - started < 15  # well before the 30 s backoff would end
    calls = results.for_sink("webhook-1")
    assert [(c[0], c[2]) for c in calls] == [(first["id"], False), (second["id"], False)]
    assert "closed" in (calls[0][3] or "") and "HTTP 500" in (calls[0][3] or "")
    assert n.publish(failed()) == []


# -- command ---------------------------------------------------------------------------------

WRITE_STDIN = (
    "import sys, pathlib; p = pathlib.Path(sys.argv[1]); "
    "p.write_bytes(p.read_bytes() + sys.stdin.buffer.read() + b'\\n' if p.exists() "
    "else sys.stdin.buffer.read() + b'\\n')"
)


def test_command_gets_the_event_on_stdin_and_argv_is_never_a_shell(
    tmp_path: Path, notifier, results
) -> None:
    out = tmp_path / "out; touch pwned $(touch pwned2).json"
    n = notifier({"type": "command", "argv": [sys.executable, "-c", WRITE_STDIN, str(out)]})
    event = failed()
    assert n.publish(event) == ["command-1"]
    assert n.flush(10)
    assert results.for_sink("command-1") == [(event["id"], "command-1", True, None)]
    assert json.loads(out.read_text()) == event
    assert not list(Path.cwd().glob("pwned*")) and not list(tmp_path.glob("pwned*"))


def test_command_non_zero_exit_is_a_failure_and_is_retried(
    tmp_path: Path, notifier, results
) -> None:
    tries = tmp_path / "tries"
    script = (
        "import sys, pathlib; p = pathlib.Path(sys.argv[1]); "
        "p.write_text(p.read_text() + 'x' if p.exists() else 'x'); "
        "sys.stderr.write('disk full'); sys.exit(3)"
    )
    n = notifier(
        {
            "type": "command",
            "argv": [sys.executable, "-c", script, str(tries)],
            "attempts": 2,
            **FAST,
        }
    )
    n.publish(failed())
    assert n.flush(10)
    [(_, _, ok, error)] = results.for_sink("command-1")
    assert not ok
    assert "exited with status 3" in (error or "") and "disk full" in (error or "")
    assert tries.read_text() == "xx"


def test_command_that_cannot_start_is_not_retried(tmp_path: Path, notifier, results) -> None:
    n = notifier({"type": "command", "argv": [str(tmp_path / "missing")], "attempts": 3, **FAST})
    n.publish(failed())
    assert n.flush(5)
    [(_, _, ok, error)] = results.for_sink("command-1")
    assert not ok and "cannot run" in (error or "") and "attempt 1 of 3" in (error or "")


# -- log sink, filters, config ------------------------------------------------------------


def test_without_sinks_events_go_to_the_log(notifier, results, caplog) -> None:
    caplog.set_level(logging.INFO, logger="adhere.notifications")
    n = notifier()
    event = failed()
    assert n.publish(event) == ["log-1"]
    assert n.flush(5)
    lines = [r.getMessage() for r in caplog.records if r.name == "adhere.notifications"]
    assert any(line.startswith("Glue Job State Change {") and event["id"] in line for line in lines)


def test_filters_select_events_per_sink(notifier, results) -> None:
    n = notifier(
        {"type": "log", "name": "failures", "states": ["failed", "TIMEOUT"]},
        {"type": "log", "name": "delays", "detail_types": ["Glue Job Run Status"]},
        {
            "type": "log",
            "name": "job-failures",
            "detail_types": ["Glue Job State Change"],
            "states": ["FAILED"],
        },
        {"type": "log", "name": "all"},
    )
    ok = events.job_state_change("etl", "jr_1", "SUCCEEDED", None, time=T)
    delay = events.job_run_status(
        "etl", "jr_1", "RUNNING", started_on=T, notify_delay_after=5, time=T
    )
    crawl = events.crawler_state_change("crawl", "Failed", time=T)
    assert n.publish(failed()) == ["failures", "job-failures", "all"]
    assert n.publish(ok) == ["all"]
    assert n.publish(delay) == ["delays", "all"]
    assert n.publish(crawl) == ["failures", "all"]  # states match case-insensitively
    assert n.flush(5)
    assert len(results.for_sink("all")) == 4
    assert len(results.for_sink("failures")) == 2


def test_a_failing_on_result_does_not_stop_deliveries(caplog) -> None:
    calls: list[str] = []

    def broken(event_id: str, sink: str, ok: bool, error: str | None) -> None:
        calls.append(event_id)
        raise RuntimeError("store is down")

    caplog.set_level(logging.ERROR, logger="adhere.notifications")
    with notifications.Notifier([{"type": "log", "level": "DEBUG"}], on_result=broken) as n:
        first, second = failed(), failed()
        n.publish(first)
        n.publish(second)
        assert n.flush(5)
    assert calls == [first["id"], second["id"]]
    assert "on_result failed" in caplog.text


@pytest.mark.parametrize(
    ("raw", "where", "words"),
    [
        ([{"type": "webhook", "url": "http://x", "urll": "y"}], "[0].urll", "unknown key"),
        ([{"type": "webhook"}], "[0].url", "required"),
        ([{"type": "webhook", "url": "file:///etc/passwd"}], "[0].url", "http://"),
        ([{"type": "pager"}], "[0].type", "unknown sink type 'pager'"),
        ([{"url": "http://x"}], "[0].type", "missing"),
        ([{"type": "log"}, {"type": "sns"}], "[1].topic_arn", "required"),
        ([{"type": "command", "argv": []}], "[0].argv", "at least 1"),
        ([{"type": "command", "argv": "notify-send x"}], "[0].argv", "list"),
        ([{"type": "log", "name": "a"}, {"type": "log", "name": "a"}], "[1].name", "duplicate"),
        ([{"type": "log", "attempts": 0}], "[0].attempts", "greater than"),
        ([{"type": "log", "states": "FAILED"}], "[0].states", "list"),
        (["log"], "[0]", "object"),
    ],
)
def test_bad_sink_config_names_the_key(raw: Any, where: str, words: str) -> None:
    with pytest.raises(errors.InvalidInputException) as caught:
        notifications.Notifier(raw)
    assert f"notification_sinks{where}" in str(caught.value)
    assert words in str(caught.value)


def test_sink_config_is_a_list() -> None:
    with pytest.raises(errors.InvalidInputException, match="must be a list"):
        notifications.parse_sinks({"type": "log"})


def test_default_names_and_aliases() -> None:
    sinks = notifications.parse_sinks(
        [
            {"type": "webhook", "url": "https://example.com/a"},
            {"type": "webhook", "url": "https://example.com/b", "name": "pager"},
            {"type": "webhook", "url": "https://example.com/c"},
            {"type": "eventbridge", "EventBusName": "glue-events"},
            {"type": "sns", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t"},
        ]
    )
    assert [s.name for s in sinks] == [
        "webhook-1",
        "pager",
        "webhook-3",
        "eventbridge-1",
        "sns-1",
    ]
    assert sinks[3].event_bus_name == "glue-events"  # type: ignore[union-attr]
    assert notifications.parse_sinks([{"type": "eventbridge"}])[0].event_bus_name == "default"  # type: ignore[union-attr]


def test_load_file_reads_yaml_and_json(tmp_path: Path) -> None:
    (tmp_path / "n.yaml").write_text(
        "notification_sinks:\n  - type: webhook\n    url: https://example.com/h\n"
        "    states: [FAILED, TIMEOUT]\n"
    )
    (tmp_path / "n.json").write_text(json.dumps([{"type": "log", "level": "WARNING"}]))
    [hook_sink] = notifications.load_file(tmp_path / "n.yaml")
    assert hook_sink.states == ["FAILED", "TIMEOUT"]
    assert notifications.load_file(tmp_path / "n.json")[0].level == "WARNING"  # type: ignore[union-attr]
    (tmp_path / "bad.json").write_text(json.dumps([{"type": "log", "colour": "red"}]))
    with pytest.raises(errors.InvalidInputException, match=r"bad\.json: notification_sinks\[0\]"):
        notifications.load_file(tmp_path / "bad.json")


# -- EventBridge and SNS on moto ------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
    except Exception as exc:  # ImportError, or a server that cannot bind
        if REQUIRE_SERVICES:
            raise
        pytest.skip(f"moto server unavailable: {exc!r}")
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """boto3 clients on moto; the notifier's own clients find the same fake credentials."""
    import boto3

    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    def client(service: str) -> Any:
        return boto3.session.Session().client(service, region_name=REGION, endpoint_url=moto_url)

    return client


def make_queue(aws: Callable[[str], Any]) -> tuple[str, str]:
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def receive(aws: Callable[[str], Any], url: str, want: int, timeout: float = 5.0) -> list[dict]:
    sqs = aws("sqs")
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        reply = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        got.extend(reply.get("Messages", []))
        if len(got) < want:
            time.sleep(0.05)
    return got


def left_over(aws: Callable[[str], Any], url: str) -> list[dict]:
    """Messages still in the queue. moto routes an event to its targets (a rule's, a topic's
    subscriptions) inside the PutEvents or Publish call, and the sink reported that call done:
    what is not there now never will be, so no waiting."""
    reply = aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return reply.get("Messages", [])


def test_eventbridge_sink_puts_events_that_rules_route(aws, moto_url, notifier, results) -> None:
    eb = aws("events")
    bus = f"bus-{uuid.uuid4().hex[:8]}"
    eb.create_event_bus(Name=bus)
    queue_url, queue_arn = make_queue(aws)
    pattern = {
        "source": ["aws.glue"],
        "detail-type": ["Glue Job State Change"],
        "detail": {"state": ["FAILED"]},
    }
    eb.put_rule(Name="glue-failures", EventBusName=bus, EventPattern=json.dumps(pattern))
    eb.put_targets(
        Rule="glue-failures", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}]
    )
    n = notifier(
        {"type": "eventbridge", "EventBusName": bus, "endpoint_url": moto_url, "region": REGION}
    )
    event = failed()
    assert n.publish(events.job_state_change("etl", "jr_ok", "SUCCEEDED", None, time=T))
    assert n.publish(event) == ["eventbridge-1"]
    assert n.flush(10)
    assert [c[2] for c in results.for_sink("eventbridge-1")] == [True, True]
    [message] = receive(aws, queue_url, want=1)
    delivered = json.loads(message["Body"])
    assert delivered["detail-type"] == "Glue Job State Change"
    assert delivered["source"] == "aws.glue"
    assert delivered["detail"] == event["detail"]
    assert delivered["time"] == event["time"]
    assert left_over(aws, queue_url) == []  # the SUCCEEDED one did not match


def test_eventbridge_failure_is_reported(aws, notifier, results) -> None:
    n = notifier(
        {
            "type": "eventbridge",
            "endpoint_url": "http://127.0.0.1:9",
            "region": REGION,
            "attempts": 2,
            **FAST,
        }
    )
    n.publish(failed())
    assert n.flush(10)
    [(_, _, ok, error)] = results.for_sink("eventbridge-1")
    assert not ok and "EventBridge" in (error or "") and "attempt 2 of 2" in (error or "")


def test_sns_sink_publishes_the_event_to_subscribers(aws, moto_url, notifier, results) -> None:
    sns = aws("sns")
    topic = sns.create_topic(Name=f"glue-{uuid.uuid4().hex[:8]}")["TopicArn"]
    all_url, all_arn = make_queue(aws)
    failed_url, failed_arn = make_queue(aws)
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=all_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    # The message attributes let a subscription filter on state without reading the body.
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=failed_arn,
        Attributes={"FilterPolicy": json.dumps({"state": ["FAILED"]})},
    )
    n = notifier({"type": "sns", "topic_arn": topic, "endpoint_url": moto_url})  # region from ARN
    event = failed()
    ok = events.job_state_change("etl", "jr_ok", "SUCCEEDED", None, time=T)
    n.publish(event)
    n.publish(ok)
    assert n.flush(10)
    assert [c[2] for c in results.for_sink("sns-1")] == [True, True]
    bodies = [json.loads(m["Body"]) for m in receive(aws, all_url, want=2)]
    assert bodies == [event, ok]
    [wrapped] = receive(aws, failed_url, want=1)
    notification = json.loads(wrapped["Body"])
    assert notification["Subject"] == "Glue Job State Change"
    assert json.loads(notification["Message"]) == event
    assert left_over(aws, failed_url) == []  # the SUCCEEDED one was filtered out
    assert left_over(aws, all_url) == []


# -- what the loop records: one "Glue Job State Change" per ended run ------------------------


def test_every_way_a_job_run_ends_records_exactly_one_state_change(
    db: store.Store, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "ok.py").write_text("print('ok')\n")
    (tmp_path / "bad.py").write_text("raise SystemExit('boom')\n")
    (tmp_path / "sleep.py").write_text("import time\ntime.sleep(60)\n")
    queued = {"JobRunQueuingEnabled": True}
    apply(db, tmp_path,
          Workflows=[{"Name": "wf"}],
          Jobs=[job("ok", "ok.py"), job("bad", "bad.py"), job("unstarted", "ok.py"),
                job("q", "sleep.py", **queued), job("lim", "ok.py"), job("gone", "ok.py")],
          Triggers=[start("wf.start", "wf", "lim", "gone")])  # fmt: skip
    ok, bad, unstarted = (job_runs.start_job_run(db, name) for name in ("ok", "bad", "unstarted"))
    blocker, waiting, waiting_later = (job_runs.start_job_run(db, "q") for _ in range(3))
    lim = job_runs.start_job_run(db, "lim")  # holds lim's slot: the trigger's lim fails at creation
    with db.transaction() as tx:
        store.definitions.delete(tx, "job", "gone")  # the trigger's run of it is recorded ERROR
    run_id = workflow_runs.start_workflow_run(db, "wf")
    assert [state(db, r) for r in (unstarted, waiting)] == ["STARTING", "WAITING"]
    # Stopped before any orchestrator runs: they end here, in the service's transaction.
    stopped = job_runs.batch_stop_job_run(db, "unstarted", [unstarted])["SuccessfulSubmissions"]
    stopped += job_runs.batch_stop_job_run(db, "q", [waiting])["SuccessfulSubmissions"]
    assert [s["JobRunId"] for s in stopped] == [unstarted, waiting]
    assert state(db, unstarted) == state(db, waiting) == "STOPPED"
    assert notified(db, unstarted) == notified(db, waiting) == []  # announced by the loop
    with orchestrating(db, settings) as orch:
        wait_for(lambda: state(db, blocker) == "RUNNING", 20, orch, "the blocker RUNNING")
        assert state(db, waiting_later) == "WAITING"
        # One still WAITING, the other RUNNING; the WAITING one first, so it is not promoted.
        result = job_runs.batch_stop_job_run(db, "q", [waiting_later, blocker])
        assert len(result["SuccessfulSubmissions"]) == 2
        everything = [ok, bad, unstarted, blocker, waiting, waiting_later, lim]
        wait_for(
            lambda: (
                all(is_final(db, r) for r in everything)
                and workflow_runs.workflow_run_status(db, run_id) == "COMPLETED"
                and not orch.busy
            ),
            20,
            orch,
            "every run ended",
        )
    assert settled(db)  # every completion event consumed: nothing more is to be announced
    by_job = {
        n["Name"]: n for n in workflow_runs.get_workflow_run(db, "wf", run_id)["Graph"]["Nodes"]
    }
    [in_wf_lim] = by_job["lim"]["JobDetails"]["JobRuns"]
    [in_wf_gone] = by_job["gone"]["JobDetails"]["JobRuns"]
    assert (in_wf_lim["JobRunState"], in_wf_gone["JobRunState"]) == ("FAILED", "ERROR")
    expected = {
        ok: "SUCCEEDED", bad: "FAILED", lim: "SUCCEEDED", in_wf_lim["Id"]: "FAILED",  # at creation
        unstarted: "STOPPED", waiting: "STOPPED",  # before any orchestrator
        waiting_later: "STOPPED", blocker: "STOPPED",  # WAITING and RUNNING, with one running
    }  # fmt: skip
    assert {r: state(db, r) for r in expected} == expected
    assert {r: notified(db, r) for r in expected} == {
        r: [(STATE_CHANGE, s)] for r, s in expected.items()
    }
    assert notified(db, in_wf_gone["Id"]) == []  # Glue sends none for ERROR
    recorded = service_notifications.get_notifications(db, limit=1000)
    assert sorted(n["job_run_id"] for n in recorded) == sorted(expected)


def test_a_run_that_ends_as_the_loop_stops_is_announced_by_the_next_orchestrator(
    db: store.Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's last wake-up only records what ended since the one before: the completion
    events it writes are left for the next orchestrator's scheduler, never consumed unseen."""
    register_tiny(monkeypatch)
    (tmp_path / "t.py").write_text("# run by the tiny engine\n")
    apply(db, tmp_path, Jobs=[{"Name": "t", "Command": {"Name": TINY, "ScriptLocation": "t.py"}}])
    run_id = job_runs.start_job_run(db, "t")
    orch = runner.Orchestrator(settings, db).start()
    held, go = threading.Event(), threading.Event()
    try:
        wait_for(lambda: state(db, run_id) == "RUNNING", 20, orch, "RUNNING")
        engine = orch.dispatcher.engine(TINY)
        assert isinstance(engine, TinyEngine)
        collect = orch.dispatcher.collect

        def collect_then_end() -> None:
            """The run ends just after a wake-up has asked the engines, while it is held."""
            orch.dispatcher.collect = collect
            collect()
            engine.end("tiny-1", JobRunState.SUCCEEDED)
            held.set()
            assert go.wait(20)

        orch.dispatcher.collect = collect_then_end  # type: ignore[method-assign]
        assert held.wait(20)
        stopper = threading.Thread(target=orch.stop)
        stopper.start()
        # The loop's own flag, which stop() sets first: read here only to order the release.
        wait_for(orch._stop.is_set, 5, what="the stop asked")
        go.set()  # this wake-up ends without the run's end; the last one records it
        stopper.join(30)
        assert not stopper.is_alive()
    finally:
        go.set()
        if not held.is_set():
            orch.stop()
    assert orch.error is None
    assert state(db, run_id) == "SUCCEEDED"
    assert notified(db, run_id) == []
    assert not settled(db)  # its completion event is left for the next orchestrator
    with orchestrating(db, settings) as nxt:
        wait_for(lambda: settled(db), 20, nxt, "the event consumed")
    assert notified(db, run_id) == [(STATE_CHANGE, "SUCCEEDED")]
