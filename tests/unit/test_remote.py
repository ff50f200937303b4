"""The wire of ``adhere --endpoint`` (orchestrator.service.remote): values come back as they
went, only marked service functions can be named, ``settings`` is the server's, and errors are
raised again as their own class."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import errors, states
from orchestrator.definitions.problems import Known
from orchestrator.service import lookup, remote
from orchestrator.service.definitions import Outcome
from orchestrator.settings import Settings

NOW = dt.datetime(2024, 6, 1, 8, 30, 15, 123456, tzinfo=dt.UTC)


def over_the_wire(value: Any) -> Any:
    return remote.decode(json.loads(json.dumps(remote.encode(value))))


def same_types(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 is not 1.0, a tuple not a list)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_types(k, j) and same_types(a[k], b[j]) for k, j in zip(a, b, strict=True))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same_types(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_values_of_every_kind_come_back_as_they_went() -> None:
    value = {
        "Run": {"StartedOn": NOW, "CompletedOn": None, "Naive": dt.datetime(2024, 1, 2, 3, 4, 5),
                "Offset": NOW.astimezone(dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
                "Day": dt.date(2024, 2, 29), "Took": dt.timedelta(days=1, seconds=2, microseconds=3),
                "Statistics": {"TotalActions": 3, "Ratio": 0.5, "Ok": True}},
        "ids": ("job", "jr_1"),
        "names": {"a", "b"},
        "frozen": frozenset({1, 2}),
        "by_node": {("job", "a"): ("SUCCEEDED", NOW), ("crawler", "c"): None},
        "$looks_like_a_tag": {"$datetime": "not a datetime"},
        "nested": [[(), set(), {}], {"x": [NOW]}],
        "outcomes": [Outcome("job", "a", "updated", "moves from workflow x to workflow y"), Outcome("trigger", "t", "created")],
        "known": Known({"a"}, set(), {"wf"}),
        "state": states.JobRunState.SUCCEEDED,
        "path": Path("/tmp/x"),
    }
    back = over_the_wire(value)
    assert same_types(back, value)
    assert back["Run"]["Offset"].utcoffset() == dt.timedelta(hours=-5, minutes=-30)


zones = st.none() | st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.datetimes(timezones=zones),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    | st.frozensets(st.integers() | st.text(max_size=3), max_size=4),
    max_leaves=20,
)


@settings(deadline=None)
@given(json_values)
def test_any_value_round_trips(value: Any) -> None:
    assert same_types(over_the_wire(value), value)


@pytest.mark.parametrize("value", [object(), b"bytes", Settings(), errors.Problem("a", "b"), 1j])
def test_values_of_other_kinds_are_refused(value: Any) -> None:
    with pytest.raises(TypeError, match="cannot be sent"):
        remote.encode(value)


@pytest.mark.parametrize("data", [
    {"$exec": "x"},
    {"$value": ["orchestrator.settings:Settings", {}]},
    {"$value": ["os:system", "true"]},
    {"$value": ["Outcome", {"kind": "job", "name": "a", "change": "created", "extra": 1}]},
    {"$tuple": 3},
    {"$datetime": "yesterday"},
])  # fmt: skip
def test_data_no_encoding_makes_is_refused(data: Any) -> None:
    with pytest.raises(ValueError):
        remote.decode(data)


def test_marked_functions_are_the_only_ones_that_can_be_called() -> None:
    from orchestrator.service import jobs, workflow_runs

    assert remote.lookup("jobs.get_jobs").function is jobs.get_jobs.__wrapped__
    assert remote.lookup("workflow_runs.start_workflow_run").wakes
    for name in ("jobs.create_job", "jobs._job", "jobs.store", "workflow_runs.shape", "runtime.put_run_properties",
                 "os.system", "store.job_runs.get", "remote.lookup", "jobs", "", "jobs.get_jobs.__globals__", None, 3,
                 ["jobs.get_jobs"]):  # fmt: skip
        with pytest.raises(errors.InvalidInputException, match="is not a function adhere serves"):
            remote.lookup(name)
    assert "workflow_runs.finals" not in remote.FUNCTIONS and callable(workflow_runs.finals)


def test_only_service_modules_can_mark() -> None:
    def sneaky() -> None: ...

    sneaky.__module__ = "orchestrator.store.job_runs"
    with pytest.raises(ValueError, match="not a service module"):
        remote.callable(sneaky)


def test_settings_are_never_sent_and_the_servers_are_put_in_their_place() -> None:
    import inspect

    from orchestrator.service import workflow_runs

    logs = remote.lookup("job_runs.get_job_run_logs")  # (db, settings, run_id)
    signature = inspect.signature(logs.function)
    client, server = Settings(home=Path("/client")), Settings(home=Path("/server"))
    for args, kwargs in (([client, "jr_1"], {}), ([client], {"run_id": "jr_1"}), ([], {"settings": client, "run_id": "jr_1"})):
        sent_args, sent_kwargs = remote.without_settings(logs, args, kwargs)
        assert client not in sent_args and "settings" not in sent_kwargs
        remote.with_settings(logs, sent_args, sent_kwargs, server)
        assert signature.bind("db", *sent_args, **sent_kwargs).arguments == {"db": "db", "settings": server,
                                                                             "run_id": "jr_1"}
    status = remote.lookup("workflow_runs.workflow_run_status")  # no settings parameter at all
    assert remote.without_settings(status, ["wr_1"], {}) == (["wr_1"], {})
    assert status.function is workflow_runs.workflow_run_status.__wrapped__


def test_errors_are_raised_again_as_their_class_with_their_message() -> None:
    problems = [errors.Problem("Jobs[0].Timeout", "must be more than 0"), errors.Problem("", "whole file")]
    cases: list[errors.AdhereError] = [
        errors.ValidationError(problems, source="a.yaml"),
        lookup.NotRunYet("node b has not run in workflow run wr_1 yet"),
        errors.IllegalWorkflowStateException("Workflow run wr_1 is COMPLETED"),
        errors.EngineError("no Java", retryable=True),
        errors.StoreError("cannot open the store"),
    ]
    for exc in cases:
        body = {"__type": exc.code, "message": exc.message, "Message": exc.message, **remote.error_details(exc)}
        again = remote.error_from(json.loads(json.dumps(body)), getattr(exc, "status", 400))
        assert type(again) is type(exc) and again.message == exc.message and again.code == exc.code
        assert getattr(again, "problems", None) == getattr(exc, "problems", None)
        assert again.summary == exc.summary
    assert remote.error_from({"__type": "EngineError", "Message": "x", "Retryable": True}, 400).retryable
    unknown = remote.error_from({"__type": "ThrottlingException", "Message": "slow down"}, 400)
    assert isinstance(unknown, errors.GlueError) and unknown.code == "ThrottlingException" and unknown.message == "slow down"
    # A class named that is not the code's (or not loaded) is not trusted: the code decides.
    odd = remote.error_from({"__type": "EntityNotFoundException", "Message": "m", "Class": "builtins.SystemExit"}, 400)
    assert type(odd) is errors.EntityNotFoundException
    sneaky = remote.error_from({"__type": "EntityNotFoundException", "Message": "m",
                                "Class": "orchestrator.errors.InvalidInputException"}, 400)
    assert type(sneaky) is errors.EntityNotFoundException


def test_an_endpoint_url_must_be_http() -> None:
    assert remote.Endpoint("127.0.0.1:8639").url == "http://127.0.0.1:8639/"
    assert remote.Endpoint("https://adhere.example.com").url == "https://adhere.example.com/"
    for bad in ("ftp://x", "http://", "file:///etc/passwd"):
        with pytest.raises(errors.InvalidInputException, match="bad endpoint"):
            remote.Endpoint(bad)


def test_signing_keys_prefer_adheres_own() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIDAWS", "AWS_SECRET_ACCESS_KEY": "aws", "AWS_SESSION_TOKEN": "tok"}
    assert remote.credentials(Settings(access_keys="AKIDADHERE:s,AKID2:t"), env) == ("AKIDADHERE", "s", None)
    assert remote.credentials(Settings(), env) == ("AKIDAWS", "aws", "tok")
    assert remote.credentials(Settings(), {"AWS_ACCESS_KEY_ID": "only-the-id"}) is None


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*/workflow.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_definitions_sent_to_a_serve_load_back_the_same(path: Path) -> None:
    """What ``adhere --endpoint apply`` sends (the loaded definitions dumped by alias) loads back,
    on the serve, into the same definitions: what each stores and how each trigger starts."""
    from engines import registry
    from orchestrator.definitions import loading

    def stored(defs: Any) -> dict[tuple[str, str], Any]:
        return {(kind, m.name): (m.to_glue(), m.model_dump(mode="json"), getattr(m, "start_on_creation", None))
                for kind in ("jobs", "crawlers", "triggers", "workflows") for m in getattr(defs, kind)}

    defs = loading.load_files([path], engines=registry.names())
    sent = json.loads(json.dumps(defs.model_dump(mode="json", by_alias=True, exclude_unset=True)))
    again = loading.load_mapping(sent, Path("/elsewhere"), engines=registry.names())
    assert stored(again) == stored(defs) and stored(defs)
