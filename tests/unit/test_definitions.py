"""Definition files: loading, the DependsOn shorthand, durations, arguments, and every problem."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from orchestrator import definitions as d
from orchestrator import errors
from orchestrator.definitions import file, loading

BASE = {
    "Workflows": [{"Name": "wf", "DefaultRunProperties": {"k": "v"}}],
    "Jobs": [
        {"Name": "a", "Role": "r", "Command": {"Name": "pythonshell", "ScriptLocation": "s3://b/a.py"}},
        {"Name": "b", "Command": {"ScriptLocation": "s3://b/b.py"}},
        {"Name": "c", "Command": {"ScriptLocation": "s3://b/c.py"}},
    ],
    "Crawlers": [{"Name": "cr", "Role": "r", "DatabaseName": "db", "Targets": {"S3Targets": [{"Path": "s3://x"}]}}],
    "Triggers": [
        {
            "Name": "start",
            "WorkflowName": "wf",
            "Type": "ON_DEMAND",
            "Actions": [{"JobName": "a"}, {"CrawlerName": "cr"}],
        },
        {
            "Name": "then",
            "WorkflowName": "wf",
            "Type": "CONDITIONAL",
            "StartOnCreation": True,
            "Predicate": {
                "Logical": "AND",
                "Conditions": [
                    {"LogicalOperator": "EQUALS", "JobName": "a", "State": "SUCCEEDED"},
                    {"LogicalOperator": "EQUALS", "CrawlerName": "cr", "CrawlState": "SUCCEEDED"},
                ],
            },
            "Actions": [{"JobName": "b", "Arguments": {"--x": "1"}, "Timeout": "90s"}],
        },
    ],
}


def load(data: dict, base: Path = Path("/defs")) -> d.Definitions:
    return loading.load_mapping(data, base)


def problems_of(data: dict) -> list[errors.Problem]:
    with pytest.raises(errors.ValidationError) as info:
        load(data)
    return info.value.problems


def job(name: str, **extra) -> dict:
    return {"Name": name, "Command": {"ScriptLocation": f"{name}.py"}, **extra}


# --- loading -----------------------------------------------------------------------------------


def test_base_is_valid() -> None:
    defs = load(BASE)
    assert [j.name for j in defs.jobs] == ["a", "b", "c"]
    assert [t.name for t in defs.triggers] == ["start", "then"]
    assert defs.triggers[1].actions[0].timeout == 90
    assert defs.workflows[0].default_run_properties == {"k": "v"}
    assert defs.crawlers[0].targets == {"S3Targets": [{"Path": "s3://x"}]}


YAML = """
Workflows:
  - Name: wf
Jobs:
  - Name: extract
    Command: {ScriptLocation: scripts/extract.py, PythonVersion: 3.9}
    Workflow: wf
    Timeout: 2h
    DefaultArguments: {--rows: 10, --dry-run: true}
  - Name: load
    Command: {Name: glueray, ScriptLocation: /abs/load.py, Runtime: Ray2.4}
    Workflow: wf
    DependsOn: {extract: SUCCEEDED}
  - Name: remote
    Command: {ScriptLocation: "s3://bucket/remote.py"}
"""


def test_load_yaml_resolves_relative_scripts_against_the_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "defs.yaml"
    path.write_text(YAML)
    defs = loading.load_files([path])
    jobs = {j.name: j for j in defs.jobs}
    assert jobs["extract"].command.script_location == str(tmp_path / "sub" / "scripts" / "extract.py")
    assert jobs["load"].command.script_location == "/abs/load.py"
    assert jobs["remote"].command.script_location == "s3://bucket/remote.py"
    assert jobs["extract"].command.python_version == "3.9"
    assert jobs["extract"].timeout == 7200
    assert jobs["extract"].default_arguments == {"--rows": "10", "--dry-run": "true"}
    assert [t.name for t in defs.triggers] == ["wf.load.depends", "wf.start"]


def test_load_json(tmp_path: Path) -> None:
    path = tmp_path / "defs.json"
    path.write_text(json.dumps(BASE))
    assert loading.load_files([path]) == load(BASE)


def test_snake_case_spellings() -> None:
    snake = {
        "workflows": [{"name": "wf", "default_run_properties": {"k": "v"}}],
        "jobs": [
            {"name": "a", "role": "r", "command": {"name": "pythonshell", "script_location": "s3://b/a.py"}},
            {"name": "b", "command": {"script_location": "s3://b/b.py"}},
            {"name": "c", "command": {"script_location": "s3://b/c.py"}},
        ],
        "crawlers": [{"name": "cr", "role": "r", "database_name": "db", "targets": {"S3Targets": [{"Path": "s3://x"}]}}],
        "triggers": [
            {"name": "start", "workflow_name": "wf", "type": "ON_DEMAND", "actions": [{"job_name": "a"}, {"crawler_name": "cr"}]},
            {
                "name": "then",
                "workflow_name": "wf",
                "type": "CONDITIONAL",
                "start_on_creation": True,
                "predicate": {
                    "logical": "AND",
                    "conditions": [
                        {"logical_operator": "EQUALS", "job_name": "a", "state": "SUCCEEDED"},
                        {"crawler_name": "cr", "crawl_state": "SUCCEEDED"},
                    ],
                },
                "actions": [{"job_name": "b", "arguments": {"--x": "1"}, "timeout": "90s"}],
            },
        ],
    }
    assert load(snake) == load(BASE)


def test_several_files_merge_and_places_name_the_file(tmp_path: Path) -> None:
    one, two = tmp_path / "one.yaml", tmp_path / "two.json"
    one.write_text("Jobs:\n  - {Name: a, Command: {ScriptLocation: a.py}}\n")
    two.write_text(json.dumps({"Jobs": [job("b")], "Workflows": [{"Name": "wf"}]}))
    defs = loading.load_files([one, two])
    assert [j.name for j in defs.jobs] == ["a", "b"]
    two.write_text(json.dumps({"Jobs": [job("a")]}))
    with pytest.raises(errors.ValidationError) as info:
        loading.load_files([one, two])
    assert [p.where for p in info.value.problems] == [f"{two}: Jobs[0].Name"]
    assert f"first at {one}: Jobs[0]" in info.value.problems[0].message
    assert info.value.source == f"{one}, {two}"


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("Jobs:\n  - Name: a\n    Command: [\n")
    with pytest.raises(errors.ValidationError) as info:
        loading.load_files([path])
    (problem,) = info.value.problems
    assert problem.where.startswith("line 4")
    assert "not valid YAML" in problem.message
    assert info.value.source == str(path)


def test_json_syntax_error_has_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "Jobs": [,]\n}')
    with pytest.raises(errors.ValidationError) as info:
        loading.load_files([path])
    assert [p.where for p in info.value.problems] == ["line 2, column 12"]


def test_unsupported_suffix_and_a_missing_file_are_both_reported(tmp_path: Path) -> None:
    (tmp_path / "defs.toml").write_text("")
    with pytest.raises(errors.ValidationError) as info:
        loading.load_files([tmp_path / "defs.toml", tmp_path / "missing.yaml"])
    assert len(info.value.problems) == 2
    assert "unsupported file type" in info.value.problems[0].message
    assert "cannot read" in info.value.problems[1].message


def test_empty_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert loading.load_files([path]) == d.Definitions()


def test_file_must_be_a_mapping() -> None:
    with pytest.raises(errors.ValidationError) as info:
        loading.load_mapping([1, 2], Path("."))  # type: ignore[arg-type]
    assert "must be a mapping" in info.value.problems[0].message


# --- Glue shapes -------------------------------------------------------------------------------


def test_job_to_glue_uses_minutes() -> None:
    j = d.Job.model_validate(
        job("a", Timeout="90s", NotificationProperty={"NotifyDelayAfter": "10m"}, RetryPolicy={"InitialDelay": "30s"}, Tags={"t": "1"})
    )
    glue = j.to_glue()
    assert glue["Timeout"] == 2
    assert glue["NotificationProperty"] == {"NotifyDelayAfter": 10}
    assert glue["RetryPolicy"] == {"InitialDelay": 30.0, "Multiplier": 2.0, "MaxDelay": 300.0, "Jitter": 0.0}
    assert glue["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    assert "Tags" not in glue and "Description" not in glue


def test_model_dump_round_trips_durations() -> None:
    j = d.Job.model_validate(job("a", Timeout=90, NotificationProperty={"NotifyDelayAfter": "45s"}))
    assert j.timeout == 5400
    assert d.Job.model_validate(j.model_dump()) == j
    assert d.Job.model_validate(j.model_dump(by_alias=True, mode="json")) == j


def test_trigger_and_workflow_to_glue() -> None:
    defs = load(BASE)
    glue = defs.triggers[1].to_glue()
    assert glue == {
        "Name": "then",
        "WorkflowName": "wf",
        "Type": "CONDITIONAL",
        "Predicate": BASE["Triggers"][1]["Predicate"],
        "Actions": [{"JobName": "b", "Arguments": {"--x": "1"}, "Timeout": 2}],
    }
    assert defs.triggers[0].to_glue()["Actions"] == [{"JobName": "a"}, {"CrawlerName": "cr"}]
    assert defs.workflows[0].to_glue() == {"Name": "wf", "DefaultRunProperties": {"k": "v"}}


def test_models_are_frozen() -> None:
    with pytest.raises(Exception, match="frozen"):
        load(BASE).jobs[0].name = "x"  # type: ignore[misc]


# --- DependsOn shorthand -----------------------------------------------------------------------


def shorthand(*jobs: dict, crawlers: tuple[dict, ...] = ()) -> d.Definitions:
    return load({"Workflows": [{"Name": "wf"}], "Jobs": list(jobs), "Crawlers": list(crawlers)})


def triggers_by_name(defs: d.Definitions) -> dict[str, dict]:
    return {t.name: t.to_glue() for t in defs.triggers}


def test_depends_on_compiles_to_a_conditional_trigger_and_a_start_trigger() -> None:
    defs = shorthand(job("a", Workflow="wf"), job("b", Workflow="wf", DependsOn={"a": "SUCCEEDED"}))
    assert triggers_by_name(defs) == {
        "wf.b.depends": {
            "Name": "wf.b.depends",
            "WorkflowName": "wf",
            "Type": "CONDITIONAL",
            "Predicate": {"Logical": "AND", "Conditions": [{"LogicalOperator": "EQUALS", "JobName": "a", "State": "SUCCEEDED"}]},
            "Actions": [{"JobName": "b"}],
            "Description": "Generated from the DependsOn of job 'b'.",
        },
        "wf.start": {
            "Name": "wf.start",
            "WorkflowName": "wf",
            "Type": "ON_DEMAND",
            "Actions": [{"JobName": "a"}],
            "Description": "Generated: starts the entries of workflow 'wf' that have no DependsOn.",
        },
    }
    conditional = next(t for t in defs.triggers if t.name == "wf.b.depends")
    assert conditional.start_on_creation is True
    assert not hasattr(defs.jobs[0], "depends_on")


def test_depends_on_any_and_several_start_nodes() -> None:
    defs = shorthand(
        job("a", Workflow="wf"),
        job("b", WorkflowName="wf"),
        job("c", workflow="wf", depends_on={"a": "FAILED", "b": "timeout"}, wait_for="any"),
    )
    t = triggers_by_name(defs)
    assert t["wf.c.depends"]["Predicate"] == {
        "Logical": "ANY",
        "Conditions": [
            {"LogicalOperator": "EQUALS", "JobName": "a", "State": "FAILED"},
            {"LogicalOperator": "EQUALS", "JobName": "b", "State": "TIMEOUT"},
        ],
    }
    assert t["wf.start"]["Actions"] == [{"JobName": "a"}, {"JobName": "b"}]


def test_depends_on_a_crawler_and_list_spelling() -> None:
    defs = shorthand(
        job("a", Workflow="wf", DependsOn=["cr"]),
        job("b", Workflow="wf", DependsOn="a"),
        crawlers=({"Name": "cr", "Workflow": "wf"},),
    )
    t = triggers_by_name(defs)
    assert t["wf.a.depends"]["Predicate"]["Conditions"] == [
        {"LogicalOperator": "EQUALS", "CrawlerName": "cr", "CrawlState": "SUCCEEDED"}
    ]
    assert t["wf.b.depends"]["Predicate"]["Conditions"][0]["JobName"] == "a"
    assert t["wf.start"]["Actions"] == [{"CrawlerName": "cr"}]


def test_crawler_with_depends_on() -> None:
    defs = shorthand(job("a", Workflow="wf"), crawlers=({"Name": "cr", "Workflow": "wf", "DependsOn": {"a": "SUCCEEDED"}},))
    assert triggers_by_name(defs)["wf.cr.depends"]["Actions"] == [{"CrawlerName": "cr"}]


def test_depends_on_outside_a_workflow() -> None:
    defs = load({"Jobs": [job("a"), job("b", DependsOn={"a": "SUCCEEDED"})]})
    (trigger,) = defs.triggers
    assert trigger.name == "b.depends" and trigger.workflow_name is None


def test_start_node_already_started_by_an_explicit_trigger_needs_nothing() -> None:
    data = copy.deepcopy(BASE)
    data["Jobs"][0]["Workflow"] = "wf"
    assert [t.name for t in load(data).triggers] == ["start", "then"]


def test_shorthand_mixes_with_explicit_triggers() -> None:
    data = copy.deepcopy(BASE)
    data["Jobs"][2].update(Workflow="wf", DependsOn={"b": "SUCCEEDED"})
    assert [t.name for t in load(data).triggers] == ["start", "then", "wf.c.depends"]


# --- durations and arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "seconds"),
    [
        (10, "minutes", 600),
        (1.5, "minutes", 90),
        ("10", "minutes", 600),
        (30, "seconds", 30),
        ("90s", "minutes", 90),
        ("10m", "minutes", 600),
        ("2h", "minutes", 7200),
        ("1.5h", "minutes", 5400),
        ("1h30m", "minutes", 5400),
        ("500ms", "minutes", 0.5),
        ("1d", "minutes", 86400),
        (" 2 H ", "minutes", 7200),
        ("5min", "minutes", 300),
    ],
)
def test_parse_duration(value, unit, seconds) -> None:
    assert d.parse_duration(value, unit) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "x", "10q", "h", "1h x", True, None, [1], -5, "-5m", float("nan")])
def test_parse_duration_rejects(value) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        d.parse_duration(value)


def test_parse_duration_unknown_unit() -> None:
    with pytest.raises(ValueError, match="unknown duration unit"):
        d.parse_duration(1, "fortnights")


def test_effective_arguments_glue_example() -> None:
    assert d.effective_arguments(
        {"--a": "1", "--b": "2"}, {"--b": "X", "--c": "Y", "--d": "4"}, {"--c": "3"}
    ) == {"--a": "1", "--b": "X", "--c": "3", "--d": "4"}


def test_effective_arguments_normalises_keys() -> None:
    assert d.effective_arguments({"a": "1"}, {"--a": "2", "b": "3"}, {}) == {"--a": "2", "--b": "3"}


def test_json_schema() -> None:
    schema = file.json_schema()
    json.dumps(schema)
    assert schema["type"] == "object"
    assert {"Jobs", "Crawlers", "Triggers", "Workflows"} <= set(schema["properties"])
    job_props = schema["$defs"]["JobEntry"]["properties"]
    assert {"Name", "Command", "DependsOn", "WaitFor", "Workflow", "Timeout"} <= set(job_props)
    assert schema["$defs"]["JobEntry"]["additionalProperties"] is False


def test_json_schema_accepts_the_base_file() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(BASE, file.json_schema())


# --- problems: one per check, each at its exact place --------------------------------------------


def edit(fn):
    data = copy.deepcopy(BASE)
    fn(data)
    return data


def _set(path: list, value):
    def fn(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return fn


def _del(path: list):
    def fn(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return fn


def _add(kind: str, item):
    return lambda data: data.setdefault(kind, []).append(item)


def _all(*fns):
    def fn(data):
        for f in fns:
            f(data)

    return fn


COND0 = ["Triggers", 1, "Predicate", "Conditions", 0]
COND1 = ["Triggers", 1, "Predicate", "Conditions", 1]

CASES = [
    ("missing name", _del(["Jobs", 2, "Name"]), ["Jobs[2].Name"], "is required"),
    ("missing script", _del(["Jobs", 1, "Command", "ScriptLocation"]), ["Jobs[1].Command.ScriptLocation"], "is required"),
    ("missing command", _del(["Jobs", 1, "Command"]), ["Jobs[1].Command"], "is required"),
    ("missing type", _del(["Triggers", 1, "Type"]), ["Triggers[1].Type"], "is required"),
    ("bad type", _set(["Triggers", 0, "Type"], "WEEKLY"), ["Triggers[0].Type"], "must be one of"),
    ("missing actions", _del(["Triggers", 1, "Actions"]), ["Triggers[1].Actions"], "is required"),
    ("empty actions", _set(["Triggers", 1, "Actions"], []), ["Triggers[1].Actions"], "at least one action"),
    ("duplicate job", _add("Jobs", job("a")), ["Jobs[3].Name"], "duplicate job name 'a' (first at Jobs[0])"),
    ("duplicate trigger", _add("Triggers", {"Name": "then", "Type": "ON_DEMAND", "Actions": [{"JobName": "c"}]}), ["Triggers[2].Name"], "duplicate trigger"),
    ("duplicate workflow", _add("Workflows", {"Name": "wf"}), ["Workflows[1].Name"], "duplicate workflow"),
    ("unknown action job", _set(["Triggers", 1, "Actions", 0, "JobName"], "zz"), ["Triggers[1].Actions[0].JobName"], "unknown job 'zz'"),
    ("unknown action crawler", _set(["Triggers", 0, "Actions", 1, "CrawlerName"], "zz"), ["Triggers[0].Actions[1].CrawlerName"], "unknown crawler 'zz'"),
    ("unknown condition job", _set([*COND0, "JobName"], "zz"), ["Triggers[1].Predicate.Conditions[0].JobName"], "unknown job 'zz'"),
    ("unknown condition crawler", _set([*COND1, "CrawlerName"], "zz"), ["Triggers[1].Predicate.Conditions[1].CrawlerName"], "unknown crawler 'zz'"),
    ("unknown workflow", _set(["Triggers", 1, "WorkflowName"], "zz"), ["Triggers[1].WorkflowName"], "unknown workflow 'zz'"),
    ("job state not waitable", _set([*COND0, "State"], "RUNNING"), ["Triggers[1].Predicate.Conditions[0].State"], "SUCCEEDED, STOPPED, FAILED, TIMEOUT"),
    ("job state not a state", _set([*COND0, "State"], "DONE"), ["Triggers[1].Predicate.Conditions[0].State"], "SUCCEEDED, STOPPED, FAILED, TIMEOUT"),
    ("job state missing", _del([*COND0, "State"]), ["Triggers[1].Predicate.Conditions[0].State"], "is required; choose one of SUCCEEDED, STOPPED, FAILED, TIMEOUT"),
    ("crawl state not waitable", _set([*COND1, "CrawlState"], "RUNNING"), ["Triggers[1].Predicate.Conditions[1].CrawlState"], "SUCCEEDED, CANCELLED, FAILED"),
    ("crawler with job state", _set(COND1, {"CrawlerName": "cr", "State": "SUCCEEDED"}), ["Triggers[1].Predicate.Conditions[1].State", "Triggers[1].Predicate.Conditions[1].CrawlState"], "does not apply"),
    ("condition with both", _set([*COND0, "CrawlerName"], "cr"), ["Triggers[1].Predicate.Conditions[0]"], "not both"),
    ("condition with neither", _set(COND0, {"State": "SUCCEEDED"}), ["Triggers[1].Predicate.Conditions[0]"], "JobName or CrawlerName is required"),
    ("logical missing", _del(["Triggers", 1, "Predicate", "Logical"]), ["Triggers[1].Predicate.Logical"], "AND or ANY"),
    ("logical bad", _set(["Triggers", 1, "Predicate", "Logical"], "OR"), ["Triggers[1].Predicate.Logical"], "'AND' or 'ANY'"),
    ("no conditions", _set(["Triggers", 1, "Predicate", "Conditions"], []), ["Triggers[1].Predicate.Conditions"], "at least one condition"),
    ("conditional without predicate", _del(["Triggers", 1, "Predicate"]), ["Triggers[1].Predicate"], "CONDITIONAL"),
    ("scheduled without schedule", _set(["Triggers", 0, "Type"], "SCHEDULED"), ["Triggers[0].Schedule"], "SCHEDULED"),
    ("bad cron", _all(_set(["Triggers", 0, "Type"], "SCHEDULED"), _set(["Triggers", 0, "Schedule"], "cron(0 * * * *)")), ["Triggers[0].Schedule"], "has 5 fields; Glue's cron has 6"),
    ("on demand starting on creation", _set(["Triggers", 0, "StartOnCreation"], True), ["Triggers[0].StartOnCreation"], "ON_DEMAND"),
    ("event outside a workflow", _add("Triggers", {"Name": "ev", "Type": "EVENT", "Actions": [{"JobName": "c"}]}), ["Triggers[2].WorkflowName"], "must belong to a workflow"),
    ("watch and start the same job", _set(["Triggers", 1, "Actions", 0, "JobName"], "a"), ["Triggers[1].Predicate.Conditions[0].JobName", "Workflows[0]"], "cannot watch and start the same job"),
    ("two start triggers", _add("Triggers", {"Name": "again", "WorkflowName": "wf", "Type": "ON_DEMAND", "Actions": [{"JobName": "c"}]}), ["Triggers[2]"], "only one start trigger"),
    ("no start trigger", _del(["Triggers", 0]), ["Workflows[0]", "Triggers[0].Predicate.Conditions[0].JobName", "Triggers[0].Predicate.Conditions[1].CrawlerName"], "no start trigger"),
    ("cycle", _add("Triggers", {"Name": "back", "WorkflowName": "wf", "Type": "CONDITIONAL", "Predicate": {"Conditions": [{"JobName": "b", "State": "SUCCEEDED"}]}, "Actions": [{"JobName": "a"}]}), ["Workflows[0]"], "cycle: a -> then -> b -> back -> a"),
    ("action with both", _set(["Triggers", 0, "Actions", 0, "CrawlerName"], "cr"), ["Triggers[0].Actions[0]"], "not both"),
    ("action with neither", _set(["Triggers", 0, "Actions", 0], {"Arguments": {"--a": "1"}}), ["Triggers[0].Actions[0]"], "JobName or CrawlerName is required"),
    ("three crawlers", _all(_add("Crawlers", {"Name": "c2"}), _add("Crawlers", {"Name": "c3"}), lambda data: data["Triggers"][0]["Actions"].extend([{"CrawlerName": "c2"}, {"CrawlerName": "c3"}])), ["Triggers[0].Actions"], "at most 2 crawlers"),
    ("51 actions", _set(["Triggers", 0, "Actions"], [{"JobName": "a"}] * 50 + [{"CrawlerName": "cr"}]), ["Triggers[0].Actions"], "at most 50 actions"),
    ("name too long", _set(["Jobs", 2, "Name"], "x" * 256), ["Jobs[2].Name"], "1-255 characters"),
    ("name on two lines", _set(["Jobs", 2, "Name"], "x\ny"), ["Jobs[2].Name"], "single line"),
    ("batch size", _set(["Triggers", 0, "EventBatchingCondition"], {"BatchSize": 101}), ["Triggers[0].EventBatchingCondition.BatchSize"], "100"),
    ("batch size missing", _set(["Triggers", 0, "EventBatchingCondition"], {"BatchWindow": 10}), ["Triggers[0].EventBatchingCondition.BatchSize"], "is required"),
    ("batch window", _set(["Triggers", 0, "EventBatchingCondition"], {"BatchSize": 5, "BatchWindow": 901}), ["Triggers[0].EventBatchingCondition.BatchWindow"], "900"),
    ("timeout of 7 days", _set(["Jobs", 0, "Timeout"], 10080), ["Jobs[0].Timeout"], "less than 7 days"),
    ("timeout zero", _set(["Jobs", 0, "Timeout"], "0s"), ["Jobs[0].Timeout"], "more than 0"),
    ("bad duration", _set(["Jobs", 0, "Timeout"], "soon"), ["Jobs[0].Timeout"], "not a duration: 'soon'"),
    ("bad action timeout", _set(["Triggers", 1, "Actions", 0, "Timeout"], "8d"), ["Triggers[1].Actions[0].Timeout"], "7 days"),
    ("bad notify delay", _set(["Jobs", 0, "NotificationProperty"], {"NotifyDelayAfter": "x"}), ["Jobs[0].NotificationProperty.NotifyDelayAfter"], "not a duration"),
    ("wrong type", _set(["Jobs", 0, "MaxRetries"], "many"), ["Jobs[0].MaxRetries"], "valid integer"),
    ("negative retries", _set(["Jobs", 0, "MaxRetries"], -1), ["Jobs[0].MaxRetries"], "greater than or equal to 0"),
    ("max concurrent runs", _set(["Jobs", 0, "ExecutionProperty"], {"MaxConcurrentRuns": 0}), ["Jobs[0].ExecutionProperty.MaxConcurrentRuns"], "greater than or equal to 1"),
    ("unknown field", _set(["Jobs", 0, "Bogus"], 1), ["Jobs[0].Bogus"], "unknown field"),
    ("misspelt field", _all(_del(["Jobs", 1, "Command", "ScriptLocation"]), _set(["Jobs", 1, "Command", "scriptlocation"], "x.py")), ["Jobs[1].Command.ScriptLocation", "Jobs[1].Command.scriptlocation"], "is required"),
    ("unknown top-level key", _set(["Jobz"], []), ["Jobz"], "unknown top-level key"),
    ("section not a list", _set(["Workflows"], {"Name": "wf"}), ["Workflows", "Triggers[0].WorkflowName", "Triggers[1].WorkflowName"], "must be a list"),
    ("entry not a mapping", _add("Jobs", "x"), ["Jobs[3]"], "must be a mapping"),
    ("arguments not strings", _set(["Jobs", 0, "DefaultArguments"], {"--a": [1]}), ["Jobs[0].DefaultArguments.--a"], "valid string"),
    ("depends on unknown", _set(["Jobs", 2, "DependsOn"], {"zz": "SUCCEEDED"}), ["Jobs[2].DependsOn.zz"], "unknown job or crawler 'zz'"),
    ("depends on bad state", _set(["Jobs", 2, "DependsOn"], {"a": "RUNNING"}), ["Jobs[2].DependsOn.a"], "SUCCEEDED, STOPPED, FAILED, TIMEOUT"),
    ("depends on crawler bad state", _set(["Jobs", 2, "DependsOn"], {"cr": "STOPPED"}), ["Jobs[2].DependsOn.cr"], "SUCCEEDED, CANCELLED, FAILED"),
    ("depends on itself", _set(["Jobs", 2, "DependsOn"], {"c": "SUCCEEDED"}), ["Jobs[2].DependsOn.c"], "cannot depend on itself"),
    ("depends on not a mapping", _set(["Jobs", 2, "DependsOn"], 5), ["Jobs[2].DependsOn"], "valid dictionary"),
    ("wait for", _set(["Jobs", 2, "WaitFor"], "SOME"), ["Jobs[2].WaitFor"], "'AND' or 'ANY'"),
    ("shorthand unknown workflow", _set(["Jobs", 2, "Workflow"], "zz"), ["Jobs[2].Workflow"], "unknown workflow 'zz'"),
    ("shorthand name collision", _all(_set(["Jobs", 2, "Workflow"], "wf"), _set(["Jobs", 2, "DependsOn"], {"b": "SUCCEEDED"}), _add("Triggers", {"Name": "wf.c.depends", "Type": "ON_DEMAND", "Actions": [{"JobName": "c"}]})), ["Jobs[2].DependsOn"], "already used by Triggers[2]"),
    ("shorthand start with explicit start", _set(["Jobs", 2, "Workflow"], "wf"), ["Jobs[2].Workflow"], "already has start trigger 'start'"),
    ("depends on a node outside the workflow", _all(_add("Jobs", job("d")), _set(["Jobs", 2, "Workflow"], "wf"), _set(["Jobs", 2, "DependsOn"], ["d"])), ["Jobs[2].DependsOn.d"], "not started by any trigger of workflow 'wf'"),
]


@pytest.mark.parametrize(("change", "wheres", "fragment"), [pytest.param(c, w, f, id=i) for i, c, w, f in CASES])
def test_problem(change, wheres, fragment) -> None:
    problems = problems_of(edit(change))
    assert sorted(p.where for p in problems) == sorted(wheres)
    assert any(fragment in p.message for p in problems if p.where == wheres[0]), problems


def test_all_problems_are_reported_at_once() -> None:
    data = edit(
        _all(
            _del(["Jobs", 1, "Command", "ScriptLocation"]),
            _set([*COND0, "State"], "RUNNING"),
            _set(["Triggers", 0, "Actions", 1, "CrawlerName"], "zz"),
            _add("Jobs", job("a")),
            _set(["Jobs", 2, "DependsOn"], {"nope": "SUCCEEDED"}),
        )
    )
    with pytest.raises(errors.ValidationError) as info:
        load(data)
    assert len(info.value.problems) == 5
    assert "5 problems; nothing was changed" in str(info.value)


def test_schema_errors_do_not_hide_reference_errors_in_the_same_entry() -> None:
    data = edit(_all(_set(["Triggers", 1, "Bogus"], 1), _set(["Triggers", 1, "Actions", 0, "JobName"], "zz")))
    assert sorted(p.where for p in problems_of(data)) == ["Triggers[1].Actions[0].JobName", "Triggers[1].Bogus"]


def test_misspelt_field_suggests_the_right_one() -> None:
    problems = problems_of(edit(_set(["Jobs", 0, "Command", "script_locaton"], "x")))
    assert problems[0].message == "unknown field (did you mean ScriptLocation?)"


def test_problem_message_is_readable() -> None:
    text = str(errors.ValidationError(problems_of(edit(_set([*COND0, "State"], "RUNNING"))), "defs.yaml"))
    assert text.splitlines() == [
        "defs.yaml: 1 problem; nothing was changed",
        "  Triggers[1].Predicate.Conditions[0].State: a trigger cannot wait for RUNNING; choose one of SUCCEEDED, STOPPED, FAILED, TIMEOUT",
    ]
