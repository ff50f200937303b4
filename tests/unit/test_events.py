"""The EventBridge builders produce Glue's envelope and detail fields (glue-semantics §7.1)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from orchestrator import events, states

T = datetime(2024, 3, 5, 6, 7, 8, 912345, tzinfo=UTC)
ENVELOPE_KEYS = [
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
]


def test_job_state_change_has_glue_envelope_and_detail() -> None:
    event = events.job_state_change(
        "etl", "jr_1", states.JobRunState.SUCCEEDED, None, time=T, event_id="e-1"
    )
    assert list(event) == ENVELOPE_KEYS
    assert event == {
        "version": "0",
        "id": "e-1",
        "detail-type": "Glue Job State Change",
        "source": "aws.glue",
        "account": "000000000000",
        "time": "2024-03-05T06:07:08Z",
        "region": "local",
        "resources": [],
        "detail": {
            "jobName": "etl",
            "severity": "INFO",
            "state": "SUCCEEDED",
            "jobRunId": "jr_1",
            "message": "Job run succeeded",
        },
    }
    json.dumps(event)  # plain JSON values only


@pytest.mark.parametrize(
    ("state", "severity"),
    [("SUCCEEDED", "INFO"), ("FAILED", "ERROR"), ("TIMEOUT", "ERROR"), ("STOPPED", "WARN")],
)
def test_job_state_change_severity_per_state(state: str, severity: str) -> None:
    event = events.job_state_change("etl", "jr_1", state, "SystemExit: 1", time=T)
    assert event["detail"]["severity"] == severity
    assert event["detail"]["state"] == state
    assert type(event["detail"]["state"]) is str
    assert event["detail"]["message"] == "SystemExit: 1"


@pytest.mark.parametrize("state", sorted(set(states.JobRunState) - set(events.JOB_STATE_SEVERITY)))
def test_job_state_change_only_for_the_four_terminal_states(state: states.JobRunState) -> None:
    with pytest.raises(ValueError, match="Glue Job State Change"):
        events.job_state_change("etl", "jr_1", state, None, time=T)


def test_event_ids_are_fresh_uuids_unless_given() -> None:
    a = events.job_state_change("etl", "jr_1", "FAILED", "x", time=T)
    b = events.job_state_change("etl", "jr_1", "FAILED", "x", time=T)
    assert a["id"] != b["id"]
    assert uuid.UUID(a["id"]).version == 4


def test_account_region_and_time_zone() -> None:
    plus_two = datetime(2024, 3, 5, 8, 7, 8, tzinfo=timezone(timedelta(hours=2)))
    event = events.job_state_change(
        "etl", "jr_1", "STOPPED", None, time=plus_two, account="123456789012", region="eu-west-1"
    )
    assert event["time"] == "2024-03-05T06:07:08Z"
    assert (event["account"], event["region"]) == ("123456789012", "eu-west-1")
    naive = events.job_state_change("etl", "jr_1", "STOPPED", None, time=T.replace(tzinfo=None))
    assert naive["time"] == "2024-03-05T06:07:08Z"  # naive times are UTC


def test_job_run_status_is_the_delay_notification() -> None:
    started = T - timedelta(minutes=10, seconds=1)
    event = events.job_run_status(
        "etl", "jr_1", "RUNNING", started_on=started, notify_delay_after=600, time=T, event_id="e"
    )
    assert list(event) == ENVELOPE_KEYS
    assert event["detail-type"] == "Glue Job Run Status"
    assert event["source"] == "aws.glue"
    detail = event["detail"]
    assert set(detail) == {
        "jobName",
        "severity",
        "notificationCondition",
        "state",
        "jobRunId",
        "message",
        "startedOn",
    }
    assert detail["severity"] == "WARN"
    assert detail["notificationCondition"] == {"NotifyDelayAfter": 10}
    assert type(detail["notificationCondition"]["NotifyDelayAfter"]) is int
    assert (detail["state"], detail["jobName"], detail["jobRunId"]) == ("RUNNING", "etl", "jr_1")
    assert detail["startedOn"] == "2024-03-05T05:57:07.912Z"
    assert "10 minutes" in detail["message"]


@pytest.mark.parametrize(
    ("seconds", "minutes", "waited"),
    [
        (60, 1, "1 minute"),
        (90, 2, "90 seconds"),
        (0.5, 1, "0.5 seconds"),
        (7200, 120, "120 minutes"),
    ],
)
def test_job_run_status_takes_seconds_and_shows_glue_minutes(
    seconds: float, minutes: int, waited: str
) -> None:
    """adhere keeps seconds; Glue's NotifyDelayAfter is whole minutes, rounded up like GetJobRun."""
    event = events.job_run_status(
        "etl", "jr_1", "STARTING", started_on=T, notify_delay_after=seconds, time=T
    )
    assert event["detail"]["notificationCondition"] == {"NotifyDelayAfter": minutes}
    assert event["detail"]["message"] == f"Job run has been starting for more than {waited}"


@pytest.mark.parametrize("state", sorted(states.JOB_RUN_TERMINAL))
def test_job_run_status_refuses_terminal_states(state: states.JobRunState) -> None:
    with pytest.raises(ValueError, match="still going"):
        events.job_run_status("etl", "jr_1", state, started_on=T, notify_delay_after=1, time=T)


def test_job_run_status_refuses_a_non_positive_delay() -> None:
    with pytest.raises(ValueError, match="positive"):
        events.job_run_status("etl", "jr_1", "RUNNING", started_on=T, notify_delay_after=0, time=T)


def test_crawler_started() -> None:
    event = events.crawler_state_change("crawl", "Started", time=T, account="123456789012")
    assert event["detail-type"] == "Glue Crawler State Change"
    assert event["detail"] == {
        "crawlerName": "crawl",
        "state": "Started",
        "message": "Crawler Started",
        "accountId": "123456789012",
        "startTime": "2024-03-05T06:07:08Z",
    }


def test_crawler_succeeded_sends_every_value_as_a_string() -> None:
    event = events.crawler_state_change(
        "crawl",
        "Succeeded",
        time=T,
        running_time_seconds=12,
        tables={"created": 2, "updated": 1},
        partitions={"created": 7},
    )
    detail = event["detail"]
    assert all(type(v) is str for v in detail.values())
    assert detail["message"] == "Crawler Succeeded"
    assert (detail["tablesCreated"], detail["tablesUpdated"], detail["tablesDeleted"]) == (
        "2",
        "1",
        "0",
    )
    assert (detail["partitionsCreated"], detail["partitionsDeleted"]) == ("7", "0")
    assert detail["runningTime (sec)"] == "12"
    assert detail["completionDate"] == "2024-03-05T06:07:08Z"
    assert detail["warningMessage"] == "N/A"
    assert "cloudWatchLogLink" in detail


def test_crawler_state_is_title_case() -> None:
    with pytest.raises(ValueError, match="Started"):
        events.crawler_state_change("crawl", "SUCCEEDED", time=T)


def test_scheduled_crawler_invocation_failure() -> None:
    event = events.scheduled_crawler_invocation_failure(
        "crawl", "no such database", time=T, account="123456789012"
    )
    assert event["detail-type"] == "Glue Scheduled Crawler Invocation Failure"
    assert event["detail"] == {
        "customerId": "123456789012",
        "crawlerName": "crawl",
        "errorMessage": "no such database",
    }


def test_time_formats() -> None:
    assert events.format_time(T) == "2024-03-05T06:07:08Z"
    assert events.format_time_ms(T) == "2024-03-05T06:07:08.912Z"
    assert events.format_time_ms(T.replace(microsecond=0)) == "2024-03-05T06:07:08.000Z"
