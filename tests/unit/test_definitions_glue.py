"""Definitions written for Glue load: every member of Glue's request shapes, Get* exports, bare
Create* requests, CloudFormation's crawler schedule, names of the store, and one API request.

Glue's service model (botocore's) is the contract: the members tested here are read from it, so
a member a new botocore adds is tested without a change here. The files in ``glue_definitions/``
are what ``aws glue get-job``, ``get-workflow --include-graph``, ``get-triggers`` and
``create-job --generate-cli-skeleton`` give, and a CloudFormation crawler's Properties.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from orchestrator import errors
from orchestrator.definitions import file, glue, loading, members, models
from orchestrator.definitions.problems import Known

HERE = Path(__file__).parent / "glue_definitions"
ENGINES = ("pythonshell", "glueray", "glueetl")
STORED = Known({"extract", "load", "clickstream-compaction"}, {"raw"}, {"nightly"})
MINIMAL = {
    "job": {"Name": "j", "Command": {"ScriptLocation": "s3://b/j.py"}},
    "trigger": {"Name": "t", "Type": "ON_DEMAND", "Actions": [{"JobName": "j"}]},
    "workflow": {"Name": "w"},
    "crawler": {"Name": "c", "Targets": {"S3Targets": [{"Path": "s3://b/"}]}},
}
SECTION = {"job": "Jobs", "trigger": "Triggers", "workflow": "Workflows", "crawler": "Crawlers"}
MODEL = {"job": file.JobEntry, "trigger": models.Trigger, "workflow": models.Workflow, "crawler": file.CrawlerEntry}


def notes_of(defs: models.Definitions) -> list[str]:
    return [str(n) for n in defs.notes]


def problems_of(data: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(errors.ValidationError) as info:
        loading.load_mapping(data, Path("/defs"), **kwargs)
    return [str(p) for p in info.value.problems]


def sample(shape: str, depth: int = 0) -> Any:
    """A value of Glue's ``shape``: its required members, one item in lists and maps."""
    spec = glue.shapes()[shape]
    kind = spec["type"]
    if kind == "structure":
        return {m: sample(glue.members(shape)[m], depth + 1) for m in spec.get("required", ())}
    if kind == "list":
        return [sample(spec["member"]["shape"], depth + 1)] if depth < 4 else []
    if kind == "map":
        return {"k": sample(spec["value"]["shape"], depth + 1)} if depth < 4 else {}
    return {"integer": 1, "long": 1, "double": 1.5, "float": 1.5, "boolean": True,
            "timestamp": "2024-01-01T00:00:00Z"}.get(kind, (spec.get("enum") or ["x"])[0])  # fmt: skip


def unmodeled(kind: str) -> list[str]:
    request = glue.members(glue.SHAPES[kind][0])
    return [m for m in request if m not in members.shape_of(MODEL[kind]).spellings]


# --- the contract: Glue's model ---------------------------------------------------------------------


def test_the_model_read_directly_is_botocores() -> None:
    import botocore.loaders

    assert glue.shapes() == botocore.loaders.Loader().load_service_model("glue", "service-2")["shapes"]


def test_glue_commands_come_from_the_model() -> None:
    assert glue.commands() == {"glueetl", "pythonshell", "gluestreaming", "glueray"}


def test_output_only_members_are_derived() -> None:
    assert {"CreatedOn", "LastModifiedOn"} <= glue.output_only("job")
    assert glue.output_only("trigger") == {"Id", "State"}
    assert {"CreatedOn", "LastModifiedOn", "LastRun", "Graph", "BlueprintDetails"} <= glue.output_only("workflow")
    assert {"State", "CrawlElapsedTime", "CreationTime", "LastUpdated", "LastCrawl", "Version"} <= glue.output_only("crawler")
    assert not glue.output_only("job") & set(glue.members("CreateJobRequest"))


def test_a_file_of_modeled_members_does_not_read_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("Glue's model was read")

    monkeypatch.setattr(glue, "shapes", refuse)
    data = {SECTION[k]: [v] for k, v in MINIMAL.items()}
    data["Jobs"][0] = {**data["Jobs"][0], "Timeout": "2h", "ExecutionProperty": {"MaxConcurrentRuns": 2},
                       "Tags": {"t": "1"}, "DependsOn": [], "RetryPolicy": {"InitialDelay": "1s"}}  # fmt: skip
    data["Triggers"][0]["Actions"][0]["Arguments"] = {"--a": "1"}
    loading.load_mapping(data, Path("/d"), engines=ENGINES)


# --- every member of the request shapes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "member"),
    [(kind, m) for kind in SECTION for m in glue.members(glue.SHAPES[kind][0])],
)
def test_every_request_member_loads(kind: str, member: str) -> None:
    """Modeled or not, a member of the Create* request loads; one adhere does not use is kept
    as given (``to_glue`` returns it) with one note."""
    if member in members.shape_of(MODEL[kind]).spellings:
        assert member in members.shape_of(MODEL[kind]).spellings  # the models' own tests cover it
        return
    value = sample(glue.members(glue.SHAPES[kind][0])[member])
    entry = {**MINIMAL[kind], member: value}
    defs = loading.load_mapping({SECTION[kind]: [entry], "Jobs": [MINIMAL["job"]]} if kind == "trigger"
                                else {SECTION[kind]: [entry]}, Path("/d"))  # fmt: skip
    (loaded,) = getattr(defs, SECTION[kind].lower())
    shown = loaded.to_glue() if kind != "job" else {**loaded.to_glue()}
    assert shown[member] == value
    assert f"{SECTION[kind]}[0].{member}: kept; adhere does not use it" in notes_of(defs)


def test_the_members_adhere_does_not_model_today() -> None:
    assert {"AllocatedCapacity", "Connections", "SecurityConfiguration", "LogUri", "JobMode",
            "ExecutionClass", "CodeGenConfigurationNodes", "SourceControlDetails",
            "MaintenanceWindow"} <= set(unmodeled("job"))  # fmt: skip
    assert {"Classifiers", "LineageConfiguration", "LakeFormationConfiguration",
            "CrawlerSecurityConfiguration"} <= set(unmodeled("crawler"))  # fmt: skip
    assert "JobRunQueuingEnabled" not in unmodeled("job")
    assert unmodeled("trigger") == [] and unmodeled("workflow") == []


@pytest.mark.parametrize(("kind", "member"), [(k, m) for k in SECTION for m in sorted(glue.output_only(k))])
def test_every_output_only_member_is_dropped_with_a_note(kind: str, member: str) -> None:
    value = sample(glue.members(glue.SHAPES[kind][1])[member])
    data = {SECTION[kind]: [{**MINIMAL[kind], member: value}], "Jobs": [MINIMAL["job"]]}
    if kind == "job":
        data = {"Jobs": [{**MINIMAL["job"], member: value}]}
    defs = loading.load_mapping(data, Path("/d"))
    (loaded,) = getattr(defs, SECTION[kind].lower())
    assert member not in loaded.to_glue()
    said = "read 0 triggers from it" if member == "Graph" else "dropped; only Glue's Get"  # entries reads it
    assert any(n.startswith(f"{SECTION[kind]}[0].{member}: {said}") for n in notes_of(defs)), notes_of(defs)


def test_a_note_is_made_once_per_member_with_a_count() -> None:
    defs = loading.load_mapping({"Jobs": [{**MINIMAL["job"], "Name": f"j{i}", "LogUri": "s3://l/"} for i in range(3)]},
                                Path("/d"))  # fmt: skip
    assert notes_of(defs) == ["Jobs[0].LogUri: kept; adhere does not use it (and 2 more like it)"]


def test_python_spelling_of_a_kept_member() -> None:
    defs = loading.load_mapping({"Jobs": [{**MINIMAL["job"], "log_uri": "s3://l/"}]}, Path("/d"))
    assert defs.jobs[0].to_glue()["LogUri"] == "s3://l/"


@pytest.mark.parametrize(
    ("member", "value", "expected"),
    [
        ("Connections", "pg", "Jobs[0].Connections: must be a mapping (Glue's ConnectionsList)"),
        ("Connections", {"Connections": "pg"}, "Jobs[0].Connections.Connections: must be a list"),
        ("ExecutionClass", "FAST", "Jobs[0].ExecutionClass: 'FAST' is not one of FLEX, STANDARD"),
        ("AllocatedCapacity", "10", "Jobs[0].AllocatedCapacity: must be an integer"),
        ("AllocatedCapacity", True, "Jobs[0].AllocatedCapacity: must be an integer"),
        ("SourceControlDetails", {"Provider": "GITHUB", "Branches": "x"},
         "Jobs[0].SourceControlDetails.Branches: unknown field (did you mean Branch?)"),
        ("CodeGenConfigurationNodes", {"n1": {"S3CsvSource": {"Name": "s"}}},
         "Jobs[0].CodeGenConfigurationNodes.n1.S3CsvSource.Paths: is required"),
        ("LogUri", {"Fn::Sub": "s3://${Bucket}/"}, "Jobs[0].LogUri: a CloudFormation function (Fn::Sub) cannot be read here"),
    ],
)  # fmt: skip
def test_a_kept_member_of_the_wrong_type_is_a_problem(member: str, value: Any, expected: str) -> None:
    found = problems_of({"Jobs": [{**MINIMAL["job"], member: value}]})
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    ("section", "entry", "expected"),
    [
        ("Jobs", {**MINIMAL["job"], "LogUrl": "x"}, "Jobs[0].LogUrl: unknown field (did you mean LogUri?)"),
        ("Jobs", {**MINIMAL["job"], "Schedule": "cron(1 1 * * ? *)"}, "Jobs[0].Schedule: unknown field"),
        ("Jobs", {**MINIMAL["job"], "schedule": "x"}, "Jobs[0].Schedule: unknown field"),
        ("Crawlers", {**MINIMAL["crawler"], "Timeout": 5}, "Crawlers[0].Timeout: unknown field"),
        ("Crawlers", {**MINIMAL["crawler"], "Classifier": ["a"]}, "Crawlers[0].Classifier: unknown field (did you mean Classifiers?)"),
        ("Triggers", {**MINIMAL["trigger"], "Actions": [{"JobName": "j", "Argument": {}}]},
         "Triggers[0].Actions[0].Argument: unknown field (did you mean Arguments?)"),
        ("Jobs", {**MINIMAL["job"], "Command": {"ScriptLocation": "x", "Script": "y"}},
         "Jobs[0].Command.Script: unknown field (did you mean ScriptLocation?)"),
        ("Jobs", {**MINIMAL["job"], "RetryPolicy": {"Initial": "1s"}},
         "Jobs[0].RetryPolicy.Initial: unknown field (did you mean InitialDelay?)"),
    ],
)  # fmt: skip
def test_hints_come_from_the_shape_and_never_name_the_refused_key(section: str, entry: dict, expected: str) -> None:
    data = {section: [entry], "Jobs": [MINIMAL["job"]]} if section != "Jobs" else {section: [entry]}
    found = problems_of(data)
    assert expected in found, found


def test_json_schema_lists_glue_members_and_nothing_else() -> None:
    schema = file.json_schema()
    job = schema["$defs"]["JobEntry"]
    assert job["additionalProperties"] is False
    assert job["properties"]["ExecutionClass"] == {"type": "string", "enum": ["FLEX", "STANDARD"]}
    assert job["properties"]["Connections"] == {"type": "object"}
    assert "Classifiers" in schema["$defs"]["CrawlerEntry"]["properties"]
    jsonschema = pytest.importorskip("jsonschema")
    entry = json.loads((HERE / "create-job.cli-input.json").read_text())
    jsonschema.validate({"Jobs": [entry]}, schema)


def test_a_model_built_directly_takes_only_glue_members() -> None:
    job = models.Job(name="a", command={"script_location": "a.py"}, LogUri="s3://l/")
    assert job.to_glue()["LogUri"] == "s3://l/"
    with pytest.raises(ValueError, match="unknown field 'Bogus'"):
        models.Job(name="a", command={"script_location": "a.py"}, Bogus=1)


# --- real Glue files ----------------------------------------------------------------------------------


def test_get_job_output_loads_as_it_is() -> None:
    defs = loading.load_files([HERE / "get-job.json"], engines=ENGINES)
    exported = json.loads((HERE / "get-job.json").read_text())["Job"]
    glue_job = defs.jobs[0].to_glue()
    for member in ("Connections", "AllocatedCapacity", "SecurityConfiguration", "ExecutionClass",
                   "SourceControlDetails", "MaintenanceWindow", "JobMode", "DefaultArguments"):  # fmt: skip
        assert glue_job[member] == exported[member]
    assert "CreatedOn" not in glue_job and defs.jobs[0].timeout == 2880 * 60
    assert notes_of(defs) == [
        "Job.JobMode: kept; adhere does not use it",
        "Job.CreatedOn: dropped; only Glue's GetJob returns it",
        "Job.LastModifiedOn: dropped; only Glue's GetJob returns it",
        "Job.Connections: kept; adhere does not use it",
        "Job.AllocatedCapacity: kept; adhere does not use it",
        "Job.SecurityConfiguration: kept; adhere does not use it",
        "Job.ExecutionClass: kept; adhere does not use it",
        "Job.SourceControlDetails: kept; adhere does not use it",
        "Job.MaintenanceWindow: kept; adhere does not use it",
    ]


def test_get_jobs_output_loads() -> None:
    job = json.loads((HERE / "get-job.json").read_text())["Job"]
    defs = loading.load_mapping({"Jobs": [job, {**job, "Name": "other"}], "NextToken": "abc"}, Path("/d"))
    assert [j.name for j in defs.jobs] == ["orders-etl", "other"]
    assert "NextToken: dropped; it belongs to Glue's listing, not to a definition" in notes_of(defs)
    assert "Jobs[0].Connections: kept; adhere does not use it (and 1 more like it)" in notes_of(defs)


def test_a_cli_input_json_create_job_loads_with_places_at_its_top(tmp_path: Path) -> None:
    defs = loading.load_files([HERE / "create-job.cli-input.json"], engines=ENGINES)
    assert defs.jobs[0].name == "clickstream-compaction"
    assert defs.jobs[0].to_glue()["LogUri"] == "s3://example-logs/glue/"
    assert notes_of(defs) == [
        "LogUri: kept; adhere does not use it",
        "SecurityConfiguration: kept; adhere does not use it",
    ]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads((HERE / "create-job.cli-input.json").read_text()), "MaxRetries": "x"}))
    with pytest.raises(errors.ValidationError) as info:
        loading.load_files([bad])
    assert [p.where for p in info.value.problems] == ["MaxRetries"]


@pytest.mark.parametrize(
    ("data", "section"),
    [
        (MINIMAL["trigger"] | {"Actions": [{"JobName": "extract"}]}, "triggers"),
        ({"Name": "w", "DefaultRunProperties": {"a": "b"}, "MaxConcurrentRuns": 2}, "workflows"),
        (MINIMAL["crawler"] | {"Classifiers": ["c"]}, "crawlers"),
        ({"JobName": "j", "JobUpdate": {"Command": {"ScriptLocation": "s3://b/j.py"}, "LogUri": "x"}}, "jobs"),
        ({"Trigger": MINIMAL["trigger"] | {"Actions": [{"JobName": "extract"}], "Id": "t", "State": "CREATED"}}, "triggers"),
        ({"Crawler": MINIMAL["crawler"] | {"State": "READY", "Version": 3}}, "crawlers"),
    ],
)  # fmt: skip
def test_bare_requests_and_get_outputs_are_told_by_their_members(data: dict, section: str) -> None:
    defs = loading.load_mapping(data, Path("/d"), existing=STORED)
    assert len(getattr(defs, section)) == 1


def test_get_workflow_export_gives_its_triggers_and_needs_its_jobs() -> None:
    path = HERE / "get-workflow.json"
    with pytest.raises(errors.ValidationError) as info:
        loading.load_files([path])
    assert "Workflow.Graph.Nodes[0].TriggerDetails.Trigger.Actions[0].JobName: unknown job 'extract'" in [
        str(p) for p in info.value.problems
    ]
    defs = loading.load_files([path], existing=STORED)
    assert [w.name for w in defs.workflows] == ["nightly"]
    start, after = defs.triggers
    assert (start.name, start.type, start.start_on_creation) == ("nightly-start", "SCHEDULED", True)
    assert (after.name, after.start_on_creation, after.workflow_name) == ("after-extract", True, "nightly")
    assert after.to_glue()["EventBatchingCondition"] == {"BatchSize": 1, "BatchWindow": 900}
    assert defs.resolved == (("job", "extract"), ("crawler", "raw"), ("job", "load"))
    assert notes_of(defs) == [
        "Workflow.Graph: read 2 triggers from it; its 3 other nodes are dropped (a workflow's export holds "
        "no job or crawler definitions: they must be in these files or the store)",
        "Workflow.CreatedOn: dropped; only Glue's GetWorkflow returns it",
        "Workflow.LastModifiedOn: dropped; only Glue's GetWorkflow returns it",
        "Workflow.LastRun: dropped; only Glue's GetWorkflow returns it",
        "Workflow.Graph.Nodes[0].TriggerDetails.Trigger.Id: dropped; only Glue's GetTrigger returns it (and 1 more like it)",
        "Workflow.Graph.Nodes[0].TriggerDetails.Trigger.State: dropped; only Glue's GetTrigger returns it; "
        "read 'ACTIVATED' as StartOnCreation: true (and 1 more like it)",
        "resolved from the store: job extract, crawler raw, job load",
    ]


def test_get_triggers_output_loads() -> None:
    defs = loading.load_files([HERE / "get-triggers.json"], existing=STORED)
    hourly, by_hand = defs.triggers
    assert hourly.start_on_creation and not by_hand.start_on_creation
    assert by_hand.to_glue() == {"Name": "compaction-by-hand", "Type": "ON_DEMAND",
                                 "Actions": [{"JobName": "clickstream-compaction"}]}  # fmt: skip
    assert "Triggers[1].State: dropped; only Glue's GetTrigger returns it" in notes_of(defs)


def test_cloudformation_crawler_properties_load() -> None:
    defs = loading.load_files([HERE / "cloudformation-crawler.yaml"])
    crawler = defs.crawlers[0]
    assert crawler.schedule == "cron(0 1 * * ? *)"
    assert crawler.to_glue()["LineageConfiguration"] == {"CrawlerLineageSettings": "ENABLE"}
    assert notes_of(defs) == [
        "Crawlers[0].Schedule: read {ScheduleExpression: 'cron(0 1 * * ? *)'} as Glue's string form",
        "Crawlers[0].LineageConfiguration: kept; adhere does not use it",
        "Crawlers[0].LakeFormationConfiguration: kept; adhere does not use it",
        "Crawlers[0].Classifiers: kept; adhere does not use it",
        "Crawlers[0].CrawlerSecurityConfiguration: kept; adhere does not use it",
        "Crawlers[0].SchemaChangePolicy: acts as LOG for both behaviors with CRAWL_NEW_FOLDERS_ONLY (an incremental"
        " crawl only adds tables and partitions)",
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"Crawlers": [{**MINIMAL["crawler"], "Schedule": {"Expression": "x"}}]},
         "Crawlers[0].Schedule: must be Glue's schedule string, such as 'cron(15 12 * * ? *)'"),
        ({"Jobs": [{**MINIMAL["job"], "Tags": [{"Key": "team", "Value": "data"}]}]},
         "Jobs[0].Tags: must be a mapping of tag keys to values, as Glue takes it (not CloudFormation's"),
        ({"Jobs": [{**MINIMAL["job"], "Role": {"Fn::GetAtt": ["GlueRole", "Arn"]}}]},
         "Jobs[0].Role: a CloudFormation function (Fn::GetAtt) cannot be read here"),
        ({"Triggers": [{**MINIMAL["trigger"], "Actions": [{"JobName": {"Ref": "Job"}}]}], "Jobs": [MINIMAL["job"]]},
         "Triggers[0].Actions[0].JobName: a CloudFormation function (Ref)"),
        ({"AWSTemplateFormatVersion": "2010-09-09", "Resources": {}}, "(top level): a CloudFormation template"),
        ({"Jobs": [{"Type": "AWS::Glue::Job", "Properties": MINIMAL["job"]}]}, "Jobs[0]: a CloudFormation resource"),
        ({"Job": [MINIMAL["job"]]}, "Job: must be one job (a mapping), as get-job prints it"),
    ],
)  # fmt: skip
def test_cloudformation_forms_glue_does_not_take_are_refused_naming_glues(data: dict, expected: str) -> None:
    found = problems_of(data)
    assert any(p.startswith(expected) for p in found), found


def test_a_cloudformation_yaml_tag_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cfn.yaml"
    path.write_text("Jobs:\n  - Name: a\n    Role: !GetAtt GlueRole.Arn\n    Command: {ScriptLocation: a.py}\n")
    with pytest.raises(errors.ValidationError) as info:
        loading.load_files([path])
    assert [str(p) for p in info.value.problems] == [
        "line 3, column 11: a CloudFormation function (!GetAtt) cannot be read here; write the value "
        "it gives (a definition is Glue's request, as the API takes it)"
    ]


# --- names of the store --------------------------------------------------------------------------


def test_triggers_may_name_what_the_store_holds() -> None:
    data = {"Triggers": [{"Name": "t", "WorkflowName": "nightly", "Type": "CONDITIONAL",
                          "Predicate": {"Conditions": [{"CrawlerName": "raw", "CrawlState": "SUCCEEDED"}]},
                          "Actions": [{"JobName": "extract"}]}],
            "Jobs": [{**MINIMAL["job"], "Name": "report", "DependsOn": ["load"], "Workflow": "nightly"}]}  # fmt: skip
    assert sorted(problems_of(data)) == [
        "Jobs[0].Workflow: unknown workflow 'nightly'",
        "Triggers[0].Actions[0].JobName: unknown job 'extract'",
        "Triggers[0].Predicate.Conditions[0].CrawlerName: unknown crawler 'raw'",
        "Triggers[0].WorkflowName: unknown workflow 'nightly'",
    ]
    defs = loading.load_mapping(data, Path("/d"), existing=STORED)
    assert set(defs.resolved) == {("workflow", "nightly"), ("crawler", "raw"), ("job", "extract"), ("job", "load")}
    assert [t.name for t in defs.triggers] == ["t", "nightly.report.depends"]
    assert notes_of(defs)[-1].startswith("resolved from the store: ")


def test_the_store_is_read_only_when_a_name_is_not_in_the_files() -> None:
    def unread() -> Known:
        raise AssertionError("the store was read")

    data = {"Jobs": [MINIMAL["job"], {**MINIMAL["job"], "Name": "k", "DependsOn": "j"}],
            "Triggers": [{**MINIMAL["trigger"], "Actions": [{"JobName": "j"}]}]}  # fmt: skip
    defs = loading.load_mapping(data, Path("/d"), existing=unread)
    assert defs.resolved == () and defs.notes == ()


def test_a_name_in_the_files_wins_over_the_store() -> None:
    """A file's job ``raw`` is that job, though the store has a crawler ``raw``."""
    data = {"Jobs": [{**MINIMAL["job"], "Name": "raw"}, {**MINIMAL["job"], "Name": "k", "DependsOn": "raw"}]}
    defs = loading.load_mapping(data, Path("/d"), existing=STORED)
    assert defs.triggers[0].predicate.conditions[0].job_name == "raw"
    assert defs.resolved == ()


def test_a_store_workflow_gets_no_generated_start_trigger() -> None:
    found = problems_of({"Jobs": [{**MINIMAL["job"], "Workflow": "nightly"}]}, existing=STORED)
    assert found == [
        "Jobs[0].Workflow: workflow 'nightly' is in the store, not in these files, so its start trigger "
        "is not generated here; list job 'j' in the Actions of its start trigger or give it DependsOn"
    ]


# --- engines -----------------------------------------------------------------------------------------


def test_a_glue_command_without_an_engine_is_a_note_and_another_name_a_problem() -> None:
    data = {"Jobs": [{**MINIMAL["job"], "Command": {"Name": "gluestreaming", "ScriptLocation": "s.py"}}]}
    defs = loading.load_mapping(data, Path("/d"), engines=ENGINES)
    assert notes_of(defs) == [
        "Jobs[0].Command.Name: no engine 'gluestreaming' here: runs of this job will fail until one is installed"
    ]
    data["Jobs"][0]["Command"]["Name"] = "sparky"
    assert problems_of(data, engines=ENGINES) == [
        "Jobs[0].Command.Name: unknown engine 'sparky'; known engines: glueetl, glueray, pythonshell"
    ]


def test_service_validate_notes_a_missing_engine_and_resolves_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.service import definitions as service_definitions
    from orchestrator.settings import Settings

    monkeypatch.setattr(service_definitions, "stored_names", lambda db: STORED)
    path = tmp_path / "defs.yaml"
    path.write_text("Jobs: [{Name: s, Command: {Name: gluestreaming, ScriptLocation: s.py}}]\n"
                    "Triggers: [{Name: t, Type: ON_DEMAND, Actions: [{JobName: s}, {JobName: extract}]}]\n")  # fmt: skip
    defs = service_definitions.validate([path], Settings(home=tmp_path), db=object())  # type: ignore[arg-type]
    assert notes_of(defs) == [
        "Jobs[0].Command.Name: no engine 'gluestreaming' here: runs of this job will fail until one is installed",
        "resolved from the store: job extract",
    ]
    path.write_text("Jobs: [{Name: s, Command: {Name: sparky, ScriptLocation: s.py}}]\n")
    with pytest.raises(errors.ValidationError, match="unknown engine 'sparky'"):
        service_definitions.validate([path], Settings(home=tmp_path))
    with pytest.raises(errors.ValidationError, match="unknown engine 'sparky'"):  # without loading's check too
        service_definitions.check_jobs(loading.load_mapping({"Jobs": [
            {"Name": "s", "Command": {"Name": "sparky", "ScriptLocation": "s.py"}}]}, tmp_path), Settings(home=tmp_path))


def test_the_cli_prints_notes_as_text_never_markup_and_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator import cli

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "defs.json"
    job = {**MINIMAL["job"], "JobMode": "SCRIPT", "[bold]x[/x]": 1}
    path.write_text(json.dumps({"Jobs": [job]}))
    assert cli.main(["--home", str(tmp_path / ".adhere"), "validate", str(path)]) == 1
    assert "Jobs[0].[bold]x[/x]: unknown field" in capsys.readouterr().err
    del job["[bold]x[/x]"]
    job["SecurityConfiguration"] = "[bold]sec[/x]"
    path.write_text(json.dumps({"Jobs": [job]}))
    assert cli.main(["--home", str(tmp_path / ".adhere"), "validate", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "valid: 1 jobs, 0 crawlers, 0 triggers, 0 workflows",
        "note: Jobs[0].JobMode: kept; adhere does not use it",
        "note: Jobs[0].SecurityConfiguration: kept; adhere does not use it",
    ]
    assert not (tmp_path / ".adhere" / "adhere.db").exists()  # validate makes no store
    odd = tmp_path / "[bold]x[red].json"  # a place that rich would read as markup
    odd.write_text(json.dumps({"Workflows": [{"Name": "w", "CreatedOn": "2024-01-01"}]}))
    assert cli.main(["--home", str(tmp_path / ".adhere"), "validate", str(path), str(odd)]) == 0
    assert f"note: {odd}: Workflows[0].CreatedOn: dropped; only Glue's GetWorkflow returns it" in (
        capsys.readouterr().out.splitlines()
    )
    assert cli.main(["--home", str(tmp_path / ".adhere"), "--json", "validate", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["Valid"] is True
    assert printed["Notes"][0] == {"Where": "Jobs[0].JobMode", "Message": "kept; adhere does not use it"}


def test_notes_are_bounded_on_a_terminal() -> None:
    from orchestrator.service import definitions as service_definitions

    notes = [errors.Problem(f"Jobs[{i}].LogUri", "kept") for i in range(25)]
    lines = service_definitions.note_lines(notes)
    assert len(lines) == 21 and lines[0] == "note: Jobs[0].LogUri: kept"
    assert lines[-1] == "note: ... and 5 more notes (--json lists them all)"
    assert service_definitions.note_lines(notes[:20])[-1] == "note: Jobs[19].LogUri: kept"


def test_the_cli_resolves_names_from_the_projects_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sqlite_template: Path
) -> None:
    from orchestrator import cli

    monkeypatch.chdir(tmp_path)
    home = tmp_path / ".adhere"
    home.mkdir()
    shutil.copy(sqlite_template, home / "adhere.db")
    (tmp_path / "jobs.yaml").write_text(
        "Jobs:\n" + "".join(f"  - {{Name: {n}, Command: {{ScriptLocation: s.py}}}}\n" for n in ("extract", "load"))
        + "Crawlers: [{Name: raw, Targets: {S3Targets: [{Path: 's3://b/'}]}}]\n"
    )
    assert cli.main(["--home", str(home), "apply", "jobs.yaml"]) == 0
    capsys.readouterr()
    shutil.copy(HERE / "get-workflow.json", tmp_path)
    assert cli.main(["--home", str(home), "validate", "get-workflow.json"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "valid: 0 jobs, 0 crawlers, 2 triggers, 1 workflows"
    assert out[-1] == "note: resolved from the store: job extract, crawler raw, job load"
    assert cli.main(["--home", str(home), "--json", "apply", "get-workflow.json"]) == 0
    applied = json.loads(capsys.readouterr().out)
    assert sorted(applied["Created"]) == ["trigger after-extract", "trigger nightly-start", "workflow nightly"]
    assert applied["Notes"][-1]["Message"] == "resolved from the store: job extract, crawler raw, job load"


# --- one API request -----------------------------------------------------------------------------------


def test_load_request_checks_one_create_job_with_places_in_the_request() -> None:
    body = json.loads((HERE / "create-job.cli-input.json").read_text())
    job, notes = loading.load_request("job", body, engines=ENGINES)
    assert isinstance(job, models.Job) and job.name == "clickstream-compaction"
    assert job.command.script_location == "s3://example-scripts/compact.py"
    assert [str(n) for n in notes] == [
        "LogUri: kept; adhere does not use it",
        "SecurityConfiguration: kept; adhere does not use it",
    ]
    with pytest.raises(errors.ValidationError) as info:
        loading.load_request("job", {**body, "Command": {"Name": "sparky", "ScriptLocation": "x"},
                                     "MaxRetries": -1, "DependsOn": ["a"]}, engines=ENGINES)  # fmt: skip
    assert sorted(p.where for p in info.value.problems) == ["Command.Name", "DependsOn", "MaxRetries"]


def test_load_request_for_update_job_takes_the_name_apart() -> None:
    update = {"Command": {"ScriptLocation": "s3://b/j.py"}, "ExecutionClass": "FLEX"}
    job, _ = loading.load_request("job", update, name="j")
    assert job.name == "j" and job.to_glue()["ExecutionClass"] == "FLEX"
    with pytest.raises(errors.ValidationError) as info:
        loading.load_request("job", {**update, "Name": "k"}, name="j")
    assert [str(p) for p in info.value.problems] == ["Name: must be the name of the job updated, 'j'"]


def test_load_request_checks_a_trigger_against_the_store() -> None:
    body = {"Name": "t", "WorkflowName": "nightly", "Type": "CONDITIONAL", "StartOnCreation": True,
            "Predicate": {"Conditions": [{"JobName": "extract", "State": "SUCCEEDED"}]},
            "Actions": [{"JobName": "load", "Timeout": 30}], "Id": "t"}  # fmt: skip
    trigger, notes = loading.load_request("trigger", body, existing=STORED)
    assert trigger.actions[0].timeout == 1800
    assert [str(n) for n in notes] == ["Id: dropped; only Glue's GetTrigger returns it"]
    with pytest.raises(errors.ValidationError) as info:
        loading.load_request("trigger", {**body, "Actions": [{"JobName": "ghost"}]}, existing=lambda: STORED)
    assert [str(p) for p in info.value.problems] == ["Actions[0].JobName: unknown job 'ghost'"]
    with pytest.raises(errors.ValidationError, match="unknown workflow 'nightly'"):
        loading.load_request("trigger", body)


@pytest.mark.parametrize("kind", ["workflow", "crawler"])
def test_load_request_workflow_and_crawler(kind: str) -> None:
    model, notes = loading.load_request(kind, {**MINIMAL[kind], "Tags": {"a": "b"}})  # type: ignore[arg-type]
    assert model.name == MINIMAL[kind]["Name"] and model.tags == {"a": "b"} and notes == []
    with pytest.raises(errors.ValidationError) as info:
        loading.load_request(kind, [1])  # type: ignore[arg-type]
    assert info.value.problems[0].message.startswith("must be a mapping (Glue's Create")
