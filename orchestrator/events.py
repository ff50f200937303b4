"""EventBridge events in Glue's envelope (glue-semantics §7, "Events from AWS Glue" on EventBridge).

Pure builders: the caller passes the time and, when it wants a stable one, the event id, so the
same run state always yields the same event and the builders test without a clock.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator import states

SOURCE = "aws.glue"
JOB_STATE_CHANGE = "Glue Job State Change"
JOB_RUN_STATUS = "Glue Job Run Status"
CRAWLER_STATE_CHANGE = "Glue Crawler State Change"
SCHEDULED_CRAWLER_INVOCATION_FAILURE = "Glue Scheduled Crawler Invocation Failure"

DEFAULT_ACCOUNT = "000000000000"
DEFAULT_REGION = "local"

_J = states.JobRunState
# Glue emits "Glue Job State Change" for these four terminal states only (not ERROR, EXPIRED).
# INFO/ERROR for SUCCEEDED/FAILED come from captured events; WARN for STOPPED and ERROR for
# TIMEOUT are the reference page's inference (glue-semantics §7.1).
JOB_STATE_SEVERITY: dict[states.JobRunState, str] = {
    _J.SUCCEEDED: "INFO",
    _J.FAILED: "ERROR",
    _J.TIMEOUT: "ERROR",
    _J.STOPPED: "WARN",
}
DEFAULT_JOB_MESSAGES: dict[states.JobRunState, str] = {
    _J.SUCCEEDED: "Job run succeeded",
    _J.FAILED: "Job run failed",
    _J.TIMEOUT: "Job run timed out",
    _J.STOPPED: "Job run stopped",
}
# The delay notification is a warning about a run that is still going, not a failure.
JOB_RUN_STATUS_SEVERITY = "WARN"

CRAWLER_EVENT_STATES = ("Started", "Succeeded", "Failed")  # title case, as Glue sends them


def format_time(moment: datetime) -> str:
    """``2017-09-07T18:57:21Z``: the envelope's time, UTC to the second. Naive means UTC."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_time_ms(moment: datetime) -> str:
    """``2022-05-13T16:48:53.040Z``: detail timestamps such as ``startedOn``, to the millisecond."""
    utc = _utc(moment)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def envelope(
    detail_type: str,
    detail: Mapping[str, Any],
    *,
    time: datetime,
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    resources: list[str] | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Wrap ``detail`` in the EventBridge envelope with ``source: aws.glue``."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": SOURCE,
        "account": account,
        "time": format_time(time),
        "region": region,
        "resources": list(resources or []),
        "detail": dict(detail),
    }


def job_state_change(
    job_name: str,
    job_run_id: str,
    state: states.JobRunState | str,
    message: str | None = None,
    *,
    time: datetime,
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Glue Job State Change: a run ended SUCCEEDED, FAILED, TIMEOUT or STOPPED.

    ``message`` is the run's error text for failures; without one, Glue's wording is used.
    """
    run_state = _J(state)
    if run_state not in JOB_STATE_SEVERITY:
        raise ValueError(
            f"Glue sends no {JOB_STATE_CHANGE!r} for {run_state}; "
            f"only for {', '.join(JOB_STATE_SEVERITY)}"
        )
    detail = {
        "jobName": job_name,
        "severity": JOB_STATE_SEVERITY[run_state],
        "state": str(run_state),
        "jobRunId": job_run_id,
        "message": message or DEFAULT_JOB_MESSAGES[run_state],
    }
    return envelope(
        JOB_STATE_CHANGE, detail, time=time, account=account, region=region, event_id=event_id
    )


def job_run_status(
    job_name: str,
    job_run_id: str,
    state: states.JobRunState | str,
    *,
    started_on: datetime,
    notify_delay_after: float,
    message: str | None = None,
    time: datetime,
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Glue Job Run Status: the delay notification for a run still going after NotifyDelayAfter.

    ``notify_delay_after`` is in seconds, as adhere stores it (definitions accept ``90s``); the
    event shows Glue's whole minutes, rounded up as GetJobRun's NotificationProperty shows them.
    """
    run_state = _J(state)
    if run_state not in states.JOB_RUN_ACTIVE:
        raise ValueError(f"a delay notification is for a run still going, not one {run_state}")
    if notify_delay_after <= 0:
        raise ValueError(f"notify_delay_after must be positive seconds, not {notify_delay_after}")
    minutes = math.ceil(notify_delay_after / 60)
    seconds = _number(notify_delay_after)
    waited = (
        f"{minutes} minute{'s' if minutes != 1 else ''}"
        if notify_delay_after % 60 == 0
        else f"{seconds} seconds"
    )
    detail = {
        "jobName": job_name,
        "severity": JOB_RUN_STATUS_SEVERITY,
        "notificationCondition": {"NotifyDelayAfter": minutes},
        "state": str(run_state),
        "jobRunId": job_run_id,
        "message": message or f"Job run has been {str(run_state).lower()} for more than {waited}",
        "startedOn": format_time_ms(started_on),
    }
    return envelope(
        JOB_RUN_STATUS, detail, time=time, account=account, region=region, event_id=event_id
    )


def crawler_state_change(
    crawler_name: str,
    state: str,
    *,
    time: datetime,
    message: str | None = None,
    start_time: datetime | None = None,
    completion_date: datetime | None = None,
    running_time_seconds: float | None = None,
    tables: Mapping[str, int] | None = None,
    partitions: Mapping[str, int] | None = None,
    warning_message: str | None = None,
    log_link: str | None = None,
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Glue Crawler State Change: a crawl Started, Succeeded or Failed. Every value is a string.

    ``tables``/``partitions`` map ``created``/``updated``/``deleted`` to counts; they and the
    completion fields are sent only when the crawl has ended, as Glue does.
    """
    if state not in CRAWLER_EVENT_STATES:
        raise ValueError(
            f"crawler event state must be one of {CRAWLER_EVENT_STATES}, not {state!r}"
        )
    detail: dict[str, str] = {
        "crawlerName": crawler_name,
        "state": state,
        "message": message or f"Crawler {state}",
        "accountId": account,
    }
    if state == "Started":
        detail["startTime"] = format_time(start_time or time)
    else:
        for kind, counts in (("tables", tables or {}), ("partitions", partitions or {})):
            for change in ("Created", "Updated", "Deleted"):
                detail[f"{kind}{change}"] = str(counts.get(change.lower(), 0))
        detail["runningTime (sec)"] = _number(running_time_seconds or 0)
        detail["completionDate"] = format_time(completion_date or time)
        detail["warningMessage"] = warning_message or "N/A"
        detail["cloudWatchLogLink"] = log_link or ""
    return envelope(
        CRAWLER_STATE_CHANGE, detail, time=time, account=account, region=region, event_id=event_id
    )


def scheduled_crawler_invocation_failure(
    crawler_name: str,
    error_message: str,
    *,
    time: datetime,
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Glue Scheduled Crawler Invocation Failure: a crawler's schedule could not start it."""
    detail = {"customerId": account, "crawlerName": crawler_name, "errorMessage": error_message}
    return envelope(
        SCHEDULED_CRAWLER_INVOCATION_FAILURE,
        detail,
        time=time,
        account=account,
        region=region,
        event_id=event_id,
    )


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")
