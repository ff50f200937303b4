"""``adhere --endpoint URL``: every command as a client of a running serve prints what it prints
in-process (tables, ``--json``, errors, exit codes), and job scripts reach their run properties
through the serve, with no store URL in their environment.

A serve (loop and Glue's API, ``integration.api_fixtures.serve``) runs in the test process on
the project's store. Reading commands run both ways on that one store and must print the very
same bytes. Commands that write run both ways on twins (the same definitions, with names ending
``_L`` for the in-process command and ``_R`` for the remote one) and must print the same once
run ids, the twins' suffix, times and table widths are masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from integration.api_fixtures import Served, serve

if TYPE_CHECKING:
    from tests.e2e.conftest import Project, Result

pytestmark = pytest.mark.timeout(300)

# Fails while the file ``broken`` is in the project; writes the run properties it read.
FLAKY = '''\
import os, sys
here = os.path.dirname(os.path.abspath(__file__))
print("flaky", sys.argv[1:], flush=True)
if os.path.exists(os.path.join(here, "broken")):
    raise ValueError("the input is broken")
'''
# Reads the run's properties and adds one, through whatever the orchestrator handed the job.
PROPS = '''\
import json, os, sys
from orchestrator.runtime import get_run_properties, getResolvedOptions, put_run_properties
args = getResolvedOptions(sys.argv, ["JOB_NAME"])
seen = get_run_properties()
put_run_properties({"seen_by": args["JOB_NAME"], "color_seen": seen.get("color", "?")})
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, f"env-{args['JOB_NAME']}.json"), "w") as out:
    json.dump({"db_url": os.environ.get("ADHERE_DB_URL"), "endpoint": os.environ.get("ADHERE_ENDPOINT"),
               "keys": bool(os.environ.get("ADHERE_ACCESS_KEYS")), "seen": seen}, out)
'''
TWIN = """\
Workflows:
  - {Name: wf_X, DefaultRunProperties: {color: red}}
  - {Name: hold_X}
Jobs:
  - {Name: ok_X, Workflow: wf_X, Command: {Name: pythonshell, ScriptLocation: job.py}}
  - {Name: props_X, Workflow: wf_X, Command: {Name: pythonshell, ScriptLocation: props.py}, DependsOn: [ok_X]}
  - {Name: flaky_X, Workflow: wf_X, Command: {Name: pythonshell, ScriptLocation: flaky.py}, DependsOn: [ok_X]}
  - {Name: after_X, Workflow: wf_X, Command: {Name: pythonshell, ScriptLocation: job.py}, DependsOn: [flaky_X]}
  - Name: slow_X
    Workflow: hold_X
    Command: {Name: pythonshell, ScriptLocation: job.py}
    DefaultArguments: {--sleep: "60"}
"""
# A trigger on a job only the store has: its name is resolved from the store (remotely, too).
EXTRA = """\
Triggers:
  - {Name: again_X, Type: ON_DEMAND, Actions: [{JobName: ok_X}]}
"""

_MASKS = [
    (re.compile(r"\b(wr|jr)_[0-9a-f]+"), r"\1_ID"),  # ids and their short forms
    (re.compile(r"\bwnode_[0-9a-f]+"), "wnode_ID"),
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d)?"), "TIME"),
    (re.compile(r"\b\d+(\.\d+)?s\b|\b\d+m\d\ds\b"), "DURATION"),
    (re.compile(r'"ExecutionTime": \d+'), '"ExecutionTime": N'),
    (re.compile(r"_[LR]\b"), "_X"),
    (re.compile(r"[ \u2500]+"), " "),  # table rules and padding follow the widths of their cells
]


def masked(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


class Twins:
    """The project's CLI in-process and through the serve at ``url``."""

    def __init__(self, project: Project, url: str) -> None:
        self.project, self.url = project, url

    def local(self, *args: str, expect: int | None = 0) -> Result:
        return self.project.cli(*args, expect=expect)

    def remote(self, *args: str, expect: int | None = 0) -> Result:
        return self.project.cli("--endpoint", self.url, *args, expect=expect)

    def same(self, *args: str, expect: int | None = 0) -> Result:
        """Run ``args`` both ways on the same store: the very same output and exit code."""
        local = self.local(*args, expect=expect)
        remote = self.remote(*args, expect=expect)
        assert (remote.code, remote.out, remote.err) == (local.code, local.out, local.err), f"{local}\n{remote}"
        return local

    def alike(self, *args: str, expect: int | None = 0, ids: tuple[str, str] = ("", "")) -> tuple[Result, Result]:
        """Run ``args`` in-process on the ``_L`` twins and remotely on the ``_R`` ones (an ``ID``
        argument is the twin's of ``ids``): the same output once masked."""
        local = self.local(*(ids[0] if a == "ID" else a.replace("_X", "_L") for a in args), expect=expect)
        remote = self.remote(*(ids[1] if a == "ID" else a.replace("_X", "_R") for a in args), expect=expect)
        assert remote.code == local.code, f"{local}\n{remote}"
        assert (masked(remote.out), masked(remote.err)) == (masked(local.out), masked(local.err)), f"{local}\n{remote}"
        return local, remote


@pytest.fixture
def served(project: Project) -> Iterator[Served]:
    """A serve in this process on the project's store and home."""
    (project.dir / ".adhere").mkdir(exist_ok=True)
    url = project.db_url or f"sqlite:///{project.dir / '.adhere' / 'adhere.db'}"
    yield from serve(url, project.dir)


@pytest.fixture
def twins(project: Project, served: Served) -> Twins:
    project.job_script()
    project.write("flaky.py", FLAKY)
    project.write("props.py", PROPS)
    for twin in "LR":
        project.write(f"defs_{twin}.yaml", TWIN.replace("_X", f"_{twin}"))
        project.write(f"extra_{twin}.yaml", EXTRA.replace("_X", f"_{twin}"))
    return Twins(project, served.url)


def run_id_of(result: Result) -> str:
    return str(result.json()["Run"]["WorkflowRunId"])


@pytest.mark.slow  # some 90 CLI runs
# The transport is the same whatever the store; both stores serve Glue's API in test_api.py.
@pytest.mark.parametrize("project", ["sqlite"], indirect=True)
def test_every_command_prints_the_same_in_process_and_through_the_serve(project: Project, twins: Twins) -> None:
    t = twins
    # apply: created, then unchanged; a name only the store has is resolved (remotely too).
    t.alike("apply", "defs_X.yaml")
    t.alike("apply", "defs_X.yaml")  # unchanged
    t.alike("apply", "extra_X.yaml")
    t.alike("--json", "apply", "extra_X.yaml")

    # listings, on one store
    for args in (("jobs",), ("triggers",), ("triggers", "--workflow", "wf_L"), ("workflows",)):
        t.same(*args)
        t.same("--json", *args)

    # run: followed to its end (flaky_X fails, so after_X never runs and the exit is 1)
    (project.dir / "broken").write_text("")
    t.alike("run", "wf_X", "-q", "-p", "size=big", expect=1)
    local, remote = t.alike("--json", "run", "wf_X", expect=1)
    run_l, run_r = run_id_of(local), run_id_of(remote)
    assert {json.loads((project.dir / f"env-props_{x}.json").read_text())["endpoint"] for x in "LR"} == {t.url}

    # reading runs, on one store: by id, prefix and workflow; job runs; logs
    for args in (("runs",), ("runs", "wf_R"), ("show", run_l), ("show", run_r[:12]), ("show", "wf_R"),
                 ("job-runs", "flaky_R"), ("run-properties", run_r), ("history", run_l), ("notifications",)):
        t.same(*args)
        t.same("--json", *args)
    flaky_run = project.json("job-runs", "flaky_R")["JobRuns"][0]["Id"]
    t.same("show", flaky_run)
    for args in (("logs", flaky_run), ("logs", run_r, "flaky_R"), ("logs", run_r[:10], "ok_R", "--attempt", "1"),
                 ("logs", "-f", flaky_run), ("logs", "-f", run_r, "ok_R")):
        assert t.same(*args).out.strip()

    # start-job: followed to its end; and not followed
    t.alike("start-job", "ok_X", "--arg", "--day=1")
    t.alike("--json", "start-job", "ok_X", "--arg", "--day=2")
    t.alike("--json", "start-job", "ok_X", "--no-wait")
    t.same("job-runs", "ok_L")

    # a running workflow run: its properties set, then stopped
    t.alike("run", "hold_X", "--no-wait")
    t.alike("--json", "run-properties", "hold_X", "--set", "k=v", "--set", "color=blue")
    t.alike("stop", "hold_X")
    for x in "LR":
        project.wait_for(lambda x=x: project.json("runs", f"hold_{x}")["Runs"][0]["Status"] == "STOPPED", 30,
                         f"hold_{x} to stop")
    local, remote = t.alike("--json", "start-job", "slow_X", "--no-wait")
    t.alike("stop-job-run", "slow_X", "ID", ids=(local.json()["JobRunId"], remote.json()["JobRunId"]))

    # resume what failed, once the input is fixed; its history
    (project.dir / "broken").unlink()
    local, remote = t.alike("--json", "resume", "ID", "--failed", ids=(run_l, run_r))
    t.same("history", run_id_of(local))
    t.same("--json", "history", run_id_of(remote))
    t.same("resume", "--workflow", "wf_L", "--failed", "--dry-run")

    # delete
    t.alike("delete", "trigger", "again_X")
    t.alike("--json", "delete", "job", "slow_X", "nothere_X")
    t.alike("delete", "workflow", "hold_X")
    t.same("jobs")


def test_errors_are_the_same_plain_and_as_json(project: Project, twins: Twins) -> None:
    t = twins
    t.alike("apply", "defs_X.yaml")
    (project.dir / "broken").write_text("")
    run_id = run_id_of(t.local("--json", "run", "wf_L", expect=1))
    for args in (("run", "nope"), ("show", "wr_nope"), ("logs", run_id), ("logs", run_id, "after_L"),
                 ("stop", run_id), ("resume", run_id, "--node", "nope"), ("history", "wr_nope")):
        plain = t.same(*args, expect=1)
        assert plain.err.startswith("An error occurred (") and len(plain.err.splitlines()) == 1, plain
        as_json = t.same("--json", *args, expect=1)
        assert set(json.loads(as_json.err)["Error"]) == {"Code", "Message"}
    unknown = t.remote("jobs", "--endpoint", "http://127.0.0.1:9", expect=1)
    assert unknown.err.startswith("An error occurred (StoreError): cannot reach adhere serve at http://127.0.0.1:9/: ")
    assert t.remote("workflows", "--json", expect=0).json() == {"Workflows": ["hold_L", "hold_R", "wf_L", "wf_R"]}
    via_env = project.cli("--json", "workflows", env={"ADHERE_ENDPOINT": t.url, "ADHERE_DB_URL": "bogus://x"})
    assert via_env.json() == {"Workflows": ["hold_L", "hold_R", "wf_L", "wf_R"]}  # the endpoint's store, not ADHERE_DB_URL's


@pytest.fixture
def keyed(project: Project) -> Iterator[Served]:
    """A serve that checks SigV4 signatures."""
    (project.dir / ".adhere").mkdir(exist_ok=True)
    url = project.db_url or f"sqlite:///{project.dir / '.adhere' / 'adhere.db'}"
    yield from serve(url, project.dir, access_keys="AKIDADHERE:s3cret")


def test_job_scripts_reach_run_properties_through_the_serve_and_requests_are_signed(
    project: Project, keyed: Served
) -> None:
    project.job_script()
    project.write("props.py", PROPS)
    project.write("wf.yaml", """\
        Workflows: [{Name: wf, DefaultRunProperties: {color: green}}]
        Jobs:
          - {Name: first, Workflow: wf, Command: {Name: pythonshell, ScriptLocation: props.py}}
          - {Name: second, Workflow: wf, Command: {Name: pythonshell, ScriptLocation: props.py}, DependsOn: [first]}
    """)
    signed = {"ADHERE_ACCESS_KEYS": "AKIDADHERE:s3cret", "ADHERE_ENDPOINT": keyed.url}
    project.cli("apply", "wf.yaml", env=signed)
    run = project.cli("--json", "run", "wf", "-p", "size=big", env=signed).json()["Run"]
    assert run["Status"] == "COMPLETED" and project.final_states(run) == {"first": "SUCCEEDED", "second": "SUCCEEDED"}
    assert run["WorkflowRunProperties"] == {"color": "green", "size": "big", "seen_by": "second", "color_seen": "green"}
    first = json.loads((project.dir / "env-first.json").read_text())
    second = json.loads((project.dir / "env-second.json").read_text())
    # No store URL reached the jobs: they read and wrote through the serve, signing with its key.
    assert first == {"db_url": None, "endpoint": keyed.url, "keys": True, "seen": {"color": "green", "size": "big"}}
    assert second["db_url"] is None and second["seen"]["seen_by"] == "first"

    refused = project.cli("jobs", env={"ADHERE_ENDPOINT": keyed.url, "ADHERE_ACCESS_KEYS": "AKIDADHERE:wrong"},
                          expect=1)
    assert refused.err.startswith("An error occurred (InvalidSignatureException): ")
    unsigned = project.cli("--endpoint", keyed.url, "jobs", env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""},
                           expect=1)
    assert unsigned.err.startswith("An error occurred (MissingAuthenticationTokenException): ")
    aws_keys = {"AWS_ACCESS_KEY_ID": "AKIDADHERE", "AWS_SECRET_ACCESS_KEY": "s3cret", "AWS_SESSION_TOKEN": ""}
    assert "first" in project.cli("--endpoint", keyed.url, "jobs", env=aws_keys).out
