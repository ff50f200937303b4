"""The pure parts of job runs: the retry delay (tenacity's exponential wait) and Glue's JobRun shape."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator import job_run
from orchestrator.service import shapes
from orchestrator.states import JOB_RUN_TERMINAL, JobRunState
from orchestrator.store import job_runs
from orchestrator.store.job_runs import JobRun, RunOptions

T0 = dt.datetime(2024, 3, 5, 6, 7, 8, tzinfo=dt.UTC)


# --- retry_delay ---------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", [None, {}, {"initial_delay": 0}, {"initial_delay": 0, "jitter": 5}])
def test_no_initial_delay_means_retry_at_once(policy: dict[str, float] | None) -> None:
    assert job_run.retry_delay(policy, 1) == 0.0
    assert job_run.retry_delay(policy, 5) == 0.0


@pytest.mark.parametrize(
    ("policy", "delays"),
    [
        ({"initial_delay": 1}, [1, 2, 4, 8, 16]),  # multiplier defaults to 2
        ({"initial_delay": 3, "multiplier": 1}, [3, 3, 3, 3, 3]),
        ({"initial_delay": 2, "multiplier": 3}, [2, 6, 18, 54, 162]),
        ({"initial_delay": 10, "multiplier": 2, "max_delay": 25}, [10, 20, 25, 25, 25]),
        ({"initial_delay": 100}, [100, 200, 300, 300, 300]),  # max_delay defaults to 300
        ({"initial_delay": 0.5, "multiplier": 2}, [0.5, 1, 2, 4, 8]),
    ],
)
def test_delay_grows_exponentially_up_to_max_delay(policy: dict[str, float], delays: list[float]) -> None:
    """Retry n waits initial_delay * multiplier**(n-1), capped at max_delay."""
    assert [job_run.retry_delay(policy, n) for n in range(1, 6)] == pytest.approx(delays)


def test_jitter_adds_up_to_its_value_reproducibly_with_a_seeded_rng() -> None:
    policy = {"initial_delay": 4, "jitter": 3}
    first = [job_run.retry_delay(policy, 2, random.Random(7)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    delays = [job_run.retry_delay(policy, 2, random.Random(seed)) for seed in range(200)]
    assert all(8 <= d <= 11 for d in delays)
    assert max(delays) - min(delays) > 2  # spread over the window, not a constant


@given(
    initial=st.floats(0.01, 60),
    multiplier=st.floats(1, 5),
    max_delay=st.floats(0.01, 600),
    attempt=st.integers(1, 30),
)
def test_delays_never_shrink_and_never_pass_max_delay(
    initial: float, multiplier: float, max_delay: float, attempt: int
) -> None:
    policy = {"initial_delay": initial, "multiplier": multiplier, "max_delay": max_delay}
    now, later = job_run.retry_delay(policy, attempt), job_run.retry_delay(policy, attempt + 1)
    assert 0 <= now <= later <= max_delay + 1e-9


# --- Glue's JobRun shape --------------------------------------------------------------------------


def _row(options: dict[str, object] | None = None, **values: object) -> JobRun:
    fields: dict[str, object] = {"state": "RUNNING", "command": "pythonshell", "arguments": {"--day": "1"}}
    fields.update(values)
    return job_runs.new(id="jr_1", job_name="etl", created_on=T0, options=RunOptions.of(options), **fields)


def test_job_run_shape_has_glue_names_and_drops_empty_fields() -> None:
    out = shapes.job_run(_row(trigger_name="t", predecessor_runs=[{"JobName": "a", "RunId": "jr_0"}]))
    assert out == {
        "Id": "jr_1", "Attempt": 0, "TriggerName": "t", "JobName": "etl", "JobMode": "SCRIPT",
        "StartedOn": T0,  # not started yet: the creation time
        "LastModifiedOn": T0, "JobRunState": "RUNNING", "Arguments": {"--day": "1"},
        "ExecutionTime": 0, "LogGroupName": "/adhere/pythonshell",
        "PredecessorRuns": [{"JobName": "a", "RunId": "jr_0"}], "JobRunQueuingEnabled": False,
    }  # fmt: skip
    assert "PredecessorRuns" not in shapes.job_run(_row(), predecessors=False)


@pytest.mark.parametrize("state", list(JobRunState))
def test_completed_on_is_shown_only_for_ended_runs(state: JobRunState) -> None:
    out = shapes.job_run(_row(state=state.value, completed_on=T0))
    assert ("CompletedOn" in out) is (state in JOB_RUN_TERMINAL)


@pytest.mark.parametrize(("seconds", "minutes"), [(60, 1), (61, 2), (90, 2), (2880 * 60, 2880), (1, 1)])
def test_timeout_and_notify_delay_are_whole_glue_minutes_rounded_up(seconds: float, minutes: int) -> None:
    out = shapes.job_run(_row(timeout=seconds, options={"notify_delay_after": seconds}))
    assert out["Timeout"] == minutes
    assert out["NotificationProperty"] == {"NotifyDelayAfter": minutes}


def test_options_fill_worker_fields_and_queuing() -> None:
    options = {"worker_type": "G.1X", "number_of_workers": 2, "max_capacity": 0.0625,
               "job_run_queuing_enabled": True}  # fmt: skip
    out = shapes.job_run(_row(options=options, state_detail="Waiting", execution_time=7))
    assert out["WorkerType"] == "G.1X" and out["NumberOfWorkers"] == 2
    assert out["MaxCapacity"] == 0.0625 and out["JobRunQueuingEnabled"] is True
    assert out["StateDetail"] == "Waiting" and out["ExecutionTime"] == 7
