"""``Adhere.Call`` against a real serve (api.calls, service.remote): a call through an Endpoint
returns what the same call on the store returns; a job run's log is streamed; what is not a
marked function, or not a call, is refused in Glue's error shape and changes nothing."""

from __future__ import annotations

import http.client
import json
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from integration.api_fixtures import Served, wait_for

from orchestrator import errors
from orchestrator.service import job_runs, jobs, lookup, remote, workflow_runs

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def endpoint(served: Served) -> Any:
    ep = remote.Endpoint(served.url)
    yield ep
    ep.close()


def post(served: Served, body: Any, target: str = remote.TARGET) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(served.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", "/", raw, {"Content-Type": remote.JSON_TYPE, "X-Amz-Target": target})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def job(served: Served, script: str) -> str:
    name = f"remote-{uuid.uuid4().hex[:8]}"
    jobs.create_job(served.db, served.settings, {"Name": name, "Role": "r", "Command": {
        "Name": "pythonshell", "ScriptLocation": served.script(f"{name}.py", script)}})
    return name


def ended(served: Served, run_id: str) -> dict[str, Any]:
    return wait_for(lambda: (r := job_runs.get_job_run(served.db, None, run_id))["JobRunState"] in
                    ("SUCCEEDED", "FAILED", "ERROR") and r)


def test_a_call_returns_what_the_store_returns(served: Served, endpoint: remote.Endpoint) -> None:
    name = job(served, "print('hello')\n")
    run_id = job_runs.start_job_run(endpoint, name, {"--day": "1"})
    ended(served, run_id)
    assert job_runs.get_job_run(endpoint, None, run_id) == job_runs.get_job_run(served.db, None, run_id)
    assert job_runs.get_job_runs(endpoint, name) == job_runs.get_job_runs(served.db, name)
    assert jobs.get_jobs(endpoint) == jobs.get_jobs(served.db)
    assert lookup.resolve_run(endpoint, run_id[:12]) == ("job", run_id)
    assert list(job_runs.get_job_run_logs(endpoint, None, run_id)) == ["hello"]
    with pytest.raises(errors.EntityNotFoundException, match="Workflow run wr_nope not found"):
        workflow_runs.get_workflow_run(endpoint, None, "wr_nope")


def test_a_big_log_is_streamed_whole_and_a_stream_left_early_spoils_nothing(
    served: Served, endpoint: remote.Endpoint
) -> None:
    name = job(served, "import sys\nfor i in range(200_000):\n    sys.stdout.write(f'line {i} ' + 'x' * 40 + '\\n')\n")
    run_id = job_runs.start_job_run(served.db, name)
    ended(served, run_id)
    lines = job_runs.get_job_run_logs(endpoint, served.settings, run_id)
    assert not isinstance(lines, list)  # an iterator: the log is not held whole on either side
    got = list(lines)
    assert len(got) == 200_000 and got[-1] == "line 199999 " + "x" * 40
    assert got == list(job_runs.get_job_run_logs(served.db, served.settings, run_id))
    partial = job_runs.get_job_run_logs(endpoint, served.settings, run_id)
    assert next(partial) == "line 0 " + "x" * 40
    partial.close()  # its connection is closed; the next call opens another
    assert jobs.get_jobs(endpoint) == jobs.get_jobs(served.db)


@pytest.mark.parametrize(("body", "target", "code", "message"), [
    ({"Function": "jobs.create_job", "Args": [{"Name": "sneaky"}]}, remote.TARGET, "InvalidInputException",
     "'jobs.create_job' is not a function adhere serves"),
    ({"Function": "os.system", "Args": ["true"]}, remote.TARGET, "InvalidInputException",
     "'os.system' is not a function adhere serves"),
    ({"Function": "jobs._job", "Args": ["x"]}, remote.TARGET, "InvalidInputException",
     "'jobs._job' is not a function adhere serves"),
    ({"Function": "jobs.get_jobs", "Args": [1, 2, 3, 4]}, remote.TARGET, "InvalidInputException",
     "bad arguments for jobs.get_jobs: too many positional arguments"),
    ({"Function": "jobs.get_jobs", "Args": {"$exec": 1}}, remote.TARGET, "InvalidInputException",
     "bad arguments for jobs.get_jobs: unknown tag '$exec'"),
    ({"Args": []}, remote.TARGET, "InvalidInputException", 'an Adhere.Call body is {"Function"'),
    (b"not json", remote.TARGET, "InvalidInputException", 'an Adhere.Call body is {"Function"'),
    ({"Function": "jobs.get_jobs"}, "Adhere.Eval", "UnknownOperationException", "Unknown operation Adhere.Eval"),
])  # fmt: skip
def test_what_is_not_a_call_of_a_marked_function_is_refused(
    served: Served, body: Any, target: str, code: str, message: str
) -> None:
    status, answer = post(served, body, target)
    assert status == 400 and answer["__type"] == code and answer["Message"].startswith(message), answer
    assert "sneaky" not in {j["Name"] for j in jobs.get_jobs(served.db)["Jobs"]}


def test_errors_carry_their_class_and_an_unreachable_serve_is_one(served: Served, endpoint: remote.Endpoint) -> None:
    status, answer = post(served, {"Function": "lookup.node_job_run", "Args": ["wr_nope", "a"]})
    assert status == 400 and answer["__type"] == "EntityNotFoundException"
    assert answer["Class"] == "orchestrator.errors.EntityNotFoundException"
    with pytest.raises(errors.StoreError, match=re.escape("cannot reach adhere serve at http://127.0.0.1:9/")):
        jobs.get_jobs(remote.Endpoint("http://127.0.0.1:9"))
