"""The wire as AWS's clients see it: headers, error shapes, refusals of malformed requests
(1,000 of them, after which the server still serves and the store is unchanged), SigV4 when
access keys are configured, and the AWS CLI."""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError
from integration.api_fixtures import Served, serve, wait_for

pytestmark = pytest.mark.timeout(300)
TARGET = "AWSGlue."
JSON_TYPE = "application/x-amz-json-1.1"


def post(served: Served, body: bytes | str, target: str | None = "AWSGlue.ListJobs",
         content_type: str | None = JSON_TYPE, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    url = urlsplit(served.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    sent = {**({"X-Amz-Target": target} if target else {}), **({"Content-Type": content_type} if content_type else {}),
            **(headers or {})}
    conn.request("POST", "/", body=body.encode() if isinstance(body, str) else body, headers=sent)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw
    return response.status, {k.lower(): v for k, v in response.getheaders()}, parsed


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/", 405), ("PUT", "/", 405), ("POST", "/x", 404),
                                                      ("POST", "/health", 404), ("GET", "/health", 200)])
def test_only_post_to_the_root_and_get_of_health_are_served(served: Served, method: str, path: str, status: int) -> None:
    url = urlsplit(served.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request(method, path, body=b"{}", headers={"X-Amz-Target": "AWSGlue.ListJobs"})
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == status


def test_success_carries_aws_headers_and_epoch_timestamps(served: Served) -> None:
    name = "wire-job"
    status, headers, _ = post(served, json.dumps({"Name": name, "Role": "r", "Command": {"ScriptLocation": "/x.py"}}),
                              "AWSGlue.CreateJob")
    assert status == 200
    status, headers, body = post(served, json.dumps({"JobName": name}), "AWSGlue.GetJob")
    assert status == 200 and headers["content-type"] == JSON_TYPE and len(headers["x-amzn-requestid"]) == 32
    assert isinstance(body["Job"]["CreatedOn"], float)  # epoch seconds on the wire
    assert set(body) == {"Job"}


@pytest.mark.parametrize(("body", "target", "content_type", "status", "error"), [
    ("{}", "AWSGlue.NoSuchOperation", JSON_TYPE, 400, "UnknownOperationException"),
    ("{}", "AWSGlue.CreateDevEndpoint", JSON_TYPE, 400, "UnknownOperationException"),  # Glue's, not here
    ("{}", "DynamoDB_20120810.ListTables", JSON_TYPE, 400, "UnknownOperationException"),
    ("{}", None, JSON_TYPE, 400, "UnknownOperationException"),
    ("{not json", "AWSGlue.ListJobs", JSON_TYPE, 400, "SerializationException"),
    ("[" * 100_000, "AWSGlue.ListJobs", JSON_TYPE, 400, "SerializationException"),
    ("[]", "AWSGlue.ListJobs", JSON_TYPE, 400, "InvalidInputException"),
    ('{"JobName": 7}', "AWSGlue.GetJob", JSON_TYPE, 400, "InvalidInputException"),
    ("{}", "AWSGlue.GetJob", JSON_TYPE, 400, "InvalidInputException"),
    ('{"MaxResults": 1001}', "AWSGlue.ListJobs", JSON_TYPE, 400, "InvalidInputException"),
    ("{}", "AWSGlue.ListJobs", "text/plain", 400, "SerializationException"),
    ('{"JobName": "nope"}', "AWSGlue.GetJob", JSON_TYPE, 400, "EntityNotFoundException"),
    ('{"JobName": "j", "Arguments": {"--a": "b\\u0000"}}', "AWSGlue.StartJobRun", JSON_TYPE, 400,
     "InvalidInputException"),  # a NUL the store cannot keep
    ('{"JobName": "j", "Arguments": {"--\\ud800": "b"}}', "AWSGlue.StartJobRun", JSON_TYPE, 400,
     "InvalidInputException"),  # a lone surrogate
])
def test_refusals_in_glue_error_shape(served: Served, body: str, target: str | None, content_type: str,
                                      status: int, error: str) -> None:
    got, headers, payload = post(served, body, target, content_type)
    assert got == status, payload
    assert payload["__type"] == error and headers["x-amzn-errortype"] == error
    assert payload["message"] == payload["Message"] and payload["message"]
    assert "Traceback" not in payload["message"]


def test_oversized_body_is_refused_before_it_is_read(served: Served) -> None:
    limit = served.settings.max_request_bytes
    status, _, payload = post(served, b"{" + b" " * limit + b"}")
    assert status == 413 and payload["__type"] == "RequestEntityTooLargeException"
    status, _, payload = post(served, b"{}", headers={"Content-Length": str(limit + 1)})
    assert status == 413


def _snapshot(glue: Any) -> Any:
    return (glue.list_jobs()["JobNames"], glue.list_triggers()["TriggerNames"], glue.list_workflows()["Workflows"])


# For each botocore type, values that are not of it.
_WRONG: dict[str, list[Any]] = {
    "string": [{}, [], 1, True], "structure": [[], "x", 1], "list": ["x", {}, 2], "map": [[], "x", 3],
    "integer": ["1", 1.5, True, {}], "long": ["1", [], False], "double": ["x", [], True], "float": ["x", {}],
    "boolean": ["true", 0, []], "timestamp": [[], {}, True], "blob": [1, [], {}],
}


def _members(operation: str) -> dict[str, str]:
    """The operation's input members and their botocore types."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("glue").operation_model(operation).input_shape
    return {name: shape.type_name for name, shape in model.members.items()}


def _malformed(rng: random.Random, operations: list[str]) -> tuple[bytes, str | None, str | None]:
    op = rng.choice(operations)
    kind = rng.randrange(8)
    target: str | None = TARGET + op
    content_type: str | None = JSON_TYPE
    if kind == 0:  # not JSON
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    elif kind == 1:  # JSON, not an object
        body = json.dumps(rng.choice([None, True, 1, -5, 1.5, "x", "", [], [1, "a"], 10**30])).encode()
    elif kind == 2:  # a member of the operation with a value of the wrong type
        members = _members(op)
        member = rng.choice(sorted(members))
        body = json.dumps({member: rng.choice(_WRONG[members[member]])}).encode()
    elif kind == 3:  # required members missing
        body = b"{}" if op not in ("ListJobs", "ListTriggers", "ListWorkflows", "GetJobs", "GetTriggers") else b'{"MaxResults": 0}'
    elif kind == 4:  # unknown target
        target = rng.choice(["AWSGlue.", "AWSGlue.Nope", "Nope.GetJob", "", "AWSGlue.GetJob.Extra", "\u00e9"])
        body = b"{}"
    elif kind == 5:  # wrong content type
        content_type = rng.choice(["text/plain", "application/xml", "multipart/form-data", "x"])
        body = b"{}"
    elif kind == 6:  # deep nesting inside a member
        depth = rng.randrange(50, 3000)
        body = ('{"Name": "n", "Role": "r", "Command": {"ScriptLocation": "s"}, "DefaultArguments": '
                + "[" * depth + "]" * depth + "}").encode()
        target = TARGET + "CreateJob"
    else:  # a nearly valid CreateJob with one bad constraint
        bad = rng.choice([{"Name": ""}, {"Name": "a" * 256}, {"Name": "a\nb"}, {"MaxRetries": -1},
                          {"WorkerType": "G.9X"}, {"Timeout": 0}, {"Command": {}}, {"NumberOfWorkers": "2"},
                          {"ExecutionProperty": {"MaxConcurrentRuns": "x"}}, {"Tags": {"k" * 200: "v"}}])
        body = json.dumps({"Name": "fuzz", "Role": "r", "Command": {"ScriptLocation": "/nowhere.py"}, **bad}).encode()
        target = TARGET + "CreateJob"
    return body, target, content_type


def test_a_thousand_malformed_requests(served: Served) -> None:
    glue = served.client()
    before = _snapshot(glue)
    operations = ["GetJob", "CreateJob", "StartJobRun", "GetJobRun", "CreateTrigger", "UpdateTrigger",
                  "StartWorkflowRun", "GetWorkflowRun", "ResumeWorkflowRun", "PutWorkflowRunProperties",
                  "BatchStopJobRun", "TagResource", "ListJobs", "DeleteJob", "CreateWorkflow"]
    rng = random.Random(20261204)
    statuses: dict[int, int] = {}
    for _ in range(1000):
        body, target, content_type = _malformed(rng, operations)
        status, headers, payload = post(served, body, target, content_type)
        statuses[status] = statuses.get(status, 0) + 1
        assert 400 <= status < 500, (target, body[:200], payload)
        assert isinstance(payload, dict) and payload.get("__type") and payload.get("message"), payload
        assert headers.get("x-amzn-errortype") == payload["__type"]
    assert _snapshot(glue) == before  # nothing was written
    assert glue.list_jobs()["ResponseMetadata"]["HTTPStatusCode"] == 200  # and it still serves
    assert statuses[400] > 900


# --- SigV4 -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, fresh_db_url: Any) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("signed")
    keys = folder / "keys"
    keys.write_text("# ops team\nAKIDOPS:opssecret\n\nAKIDCI:cisecret\n")
    with fresh_db_url("sqlite", folder) as url:
        yield from serve(url, folder, access_keys_file=keys)


def test_signed_requests_pass(signed: Served) -> None:
    for key_id, secret in (("AKIDOPS", "opssecret"), ("AKIDCI", "cisecret")):
        assert signed.client(key_id=key_id, secret=secret).list_jobs()["JobNames"] == []


@pytest.mark.parametrize(("options", "error"), [
    ({"key_id": "AKIDOPS", "secret": "wrong"}, "InvalidSignatureException"),
    ({"key_id": "AKIDNOBODY", "secret": "opssecret"}, "UnrecognizedClientException"),
    ({"signature_version": UNSIGNED}, "MissingAuthenticationTokenException"),
])
def test_bad_signatures_are_refused(signed: Served, options: dict[str, Any], error: str) -> None:
    with pytest.raises(ClientError) as exc:
        signed.client(**options).list_jobs()
    assert exc.value.response["Error"]["Code"] == error
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_tampered_body_is_refused(signed: Served) -> None:
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials

    request = botocore.awsrequest.AWSRequest("POST", signed.url + "/", data=b'{"JobName": "a"}', headers={
        "X-Amz-Target": "AWSGlue.GetJob", "Content-Type": JSON_TYPE})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("AKIDOPS", "opssecret"), "glue", "us-east-1").add_auth(request)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in ("x-amz-target", "content-type")}
    status, _, payload = post(signed, b'{"JobName": "b"}', "AWSGlue.GetJob", headers=headers)
    assert status == 400 and payload["__type"] == "InvalidSignatureException"


def test_binding_beyond_loopback_needs_keys_or_insecure(tmp_path: Path) -> None:
    from orchestrator import errors, settings
    from orchestrator.api import server

    with pytest.raises(errors.InvalidInputException, match="--insecure"):
        server.check_binding(settings.load({"host": "0.0.0.0"}, environ={}))
    assert "warning" in server.check_binding(settings.load({"host": "0.0.0.0", "insecure": True}, environ={}))
    assert server.check_binding(settings.load({"host": "0.0.0.0", "access_keys": "a:b"}, environ={})) is None
    assert server.check_binding(settings.load({}, environ={})) is None


# --- the AWS CLI -------------------------------------------------------------------------------


def test_the_aws_cli_starts_a_workflow_run(served: Served, tmp_path: Path) -> None:
    aws = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if aws is None:
        pytest.skip("the AWS CLI (awscli) is not installed")
    glue = served.client()
    glue.create_job(Name="cli-job", Role="r", Command={"Name": "pythonshell",
                                                       "ScriptLocation": served.script("cli.py", "print(1)\n")})
    glue.create_workflow(Name="cli-flow")
    glue.create_trigger(Name="cli-start", WorkflowName="cli-flow", Type="ON_DEMAND", Actions=[{"JobName": "cli-job"}])
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    done = subprocess.run([aws, "glue", "start-workflow-run", "--name", "cli-flow", "--endpoint-url", served.url,
                           "--output", "json"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["RunId"]
    run = wait_for(lambda: (r := glue.get_workflow_run(Name="cli-flow", RunId=run_id)["Run"])["Status"] == "COMPLETED" and r)
    assert run["Statistics"]["SucceededActions"] == 1
