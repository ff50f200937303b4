"""Every pair of states against a table written out by hand, once."""

from __future__ import annotations

import itertools

import pytest

from orchestrator import states
from orchestrator.states import CrawlState, JobRunState, WorkflowRunStatus

# state -> the states it may move to, spelled out independently of orchestrator.states.
JOB_EXPECTED = {
    "STARTING": "WAITING RUNNING STOPPING STOPPED FAILED TIMEOUT ERROR",
    "WAITING": "STARTING RUNNING STOPPING STOPPED FAILED TIMEOUT ERROR EXPIRED",
    "RUNNING": "STOPPING SUCCEEDED FAILED TIMEOUT ERROR",
    "STOPPING": "STOPPED SUCCEEDED FAILED TIMEOUT ERROR",
    "STOPPED": "",
    "SUCCEEDED": "",
    "FAILED": "",
    "TIMEOUT": "",
    "ERROR": "",
    "EXPIRED": "",
}
CRAWL_EXPECTED = {
    "RUNNING": "CANCELLING SUCCEEDED FAILED ERROR",
    "CANCELLING": "CANCELLED SUCCEEDED FAILED ERROR",
    "CANCELLED": "",
    "SUCCEEDED": "",
    "FAILED": "",
    "ERROR": "",
}
WORKFLOW_EXPECTED = {
    "RUNNING": "COMPLETED STOPPING ERROR",
    "STOPPING": "STOPPED",
    "COMPLETED": "",
    "STOPPED": "",
    "ERROR": "",
}

MACHINES = [
    (JobRunState, states.JOB_RUN_TRANSITIONS, JOB_EXPECTED, states.JOB_RUN_TERMINAL),
    (CrawlState, states.CRAWL_TRANSITIONS, CRAWL_EXPECTED, states.CRAWL_TERMINAL),
    (WorkflowRunStatus, states.WORKFLOW_RUN_TRANSITIONS, WORKFLOW_EXPECTED, states.WORKFLOW_RUN_TERMINAL),
]
PAIRS = [
    pytest.param(enum, table, expected, a, b, id=f"{enum.__name__}:{a}->{b}")
    for enum, table, expected, _ in MACHINES
    for a, b in itertools.product(enum, enum)
]


@pytest.mark.parametrize(("enum", "table", "expected", "current", "target"), PAIRS)
def test_every_pair(enum, table, expected, current, target) -> None:
    allowed = target.value in expected[current.value].split()
    if allowed:
        assert states.transition(table, current, target) is target
    else:
        with pytest.raises(states.IllegalTransition, match=f"{current} -> {target}"):
            states.transition(table, current, target)


@pytest.mark.parametrize(("enum", "table", "expected", "terminal"), MACHINES)
def test_table_covers_every_state(enum, table, expected, terminal) -> None:
    assert set(table) == set(enum)
    assert set(expected) == {s.value for s in enum}


@pytest.mark.parametrize(("enum", "table", "expected", "terminal"), MACHINES)
def test_allowed_from_is_the_inverse(enum, table, expected, terminal) -> None:
    for target in enum:
        sources = {s for s in enum if target.value in expected[s.value].split()}
        assert states.allowed_from(table, target) == sources


@pytest.mark.parametrize(("enum", "table", "expected", "terminal"), MACHINES)
def test_terminal_states_lead_nowhere(enum, table, expected, terminal) -> None:
    assert terminal == {s for s in enum if not expected[s.value]}
    for state in terminal:
        assert table[state] == frozenset()


def test_active_is_the_complement_of_terminal() -> None:
    assert set(JobRunState) == states.JOB_RUN_ACTIVE | states.JOB_RUN_TERMINAL
    assert not states.JOB_RUN_ACTIVE & states.JOB_RUN_TERMINAL


def test_condition_states_are_glue_s() -> None:
    assert {s.value for s in states.JOB_CONDITION_STATES} == {"SUCCEEDED", "STOPPED", "FAILED", "TIMEOUT"}
    assert {s.value for s in states.CRAWL_CONDITION_STATES} == {"SUCCEEDED", "FAILED", "CANCELLED"}
