"""Glue's request checks and response shapes, as botocore's Glue model defines them.

Valid inputs are serialized by botocore itself (with its own validation on), so each is what
boto3 puts on the wire; bad inputs name the member and the constraint, AWS-style.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import time
from typing import Any

import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.serialize import create_serializer
from hypothesis import given
from hypothesis import strategies as st

from orchestrator import errors
from orchestrator.api import model

LOADER = Loader()
SERVICE = LOADER.load_service_model("glue", "service-2")
SHAPES = SERVICE["shapes"]
NAME_STRING = SHAPES["NameString"]["pattern"]
SKIPPED_PATTERNS: set[str] = set()  # model patterns with no Python translation (none today)


def wire(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` as boto3 sends them: validated by botocore, serialized, parsed back."""
    operation_model = ServiceModel(SERVICE, "glue").operation_model(operation)
    request = create_serializer("json", include_validation=True).serialize_to_request(
        params, operation_model
    )
    return json.loads(request["body"] or b"{}")


def problems(operation: str, params: object) -> str:
    with pytest.raises(errors.InvalidInputException) as info:
        model.validate(operation, params)
    return str(info.value)


def one_problem(operation: str, params: object) -> str:
    message = problems(operation, params)
    assert message.startswith("1 validation error detected: "), message
    return message


# -- valid inputs ------------------------------------------------------------------------------

T0 = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
PREDICATE = {
    "Logical": "AND",
    "Conditions": [
        {"LogicalOperator": "EQUALS", "JobName": "extract", "State": "SUCCEEDED"},
        {"LogicalOperator": "EQUALS", "CrawlerName": "raw", "CrawlState": "SUCCEEDED"},
    ],
}
ACTIONS = [
    {"JobName": "load", "Arguments": {"--day": "2024-05-01", "--mode": "full"}, "Timeout": 30},
    {"CrawlerName": "curated", "NotificationProperty": {"NotifyDelayAfter": 5}},
]
VALID: list[tuple[str, dict[str, Any]]] = [
    ("CreateJob", {
        "Name": "nightly-etl", "Description": "Loads the nightly batch", "Role": "arn:aws:iam::123456789012:role/glue",
        "Command": {"Name": "glueetl", "ScriptLocation": "s3://bucket/etl.py", "PythonVersion": "3", "Runtime": "Ray2.4"},
        "DefaultArguments": {"--job-bookmark-option": "job-bookmark-enable", "--TempDir": "s3://bucket/tmp"},
        "NonOverridableArguments": {"--env": "prod"}, "Connections": {"Connections": ["warehouse"]},
        "ExecutionProperty": {"MaxConcurrentRuns": 3}, "MaxRetries": 2, "Timeout": 2880, "GlueVersion": "4.0",
        "WorkerType": "G.1X", "NumberOfWorkers": 10, "Tags": {"team": "data", "cost-center": ""},
        "NotificationProperty": {"NotifyDelayAfter": 10}, "ExecutionClass": "FLEX", "JobRunQueuingEnabled": True,
        "MaintenanceWindow": "Sun:03",
    }),
    ("UpdateJob", {"JobName": "nightly-etl", "JobUpdate": {"Role": "glue", "Command": {"ScriptLocation": "etl.py"}, "MaxCapacity": 0.0625}}),
    ("GetJob", {"JobName": "nightly-etl"}),
    ("GetJobs", {"MaxResults": 100, "NextToken": "eyJrIjoxfQ=="}),
    ("ListJobs", {"MaxResults": 1000, "Tags": {"team": "data"}}),
    ("BatchGetJobs", {"JobNames": ["a", "b", "job with spaces", "ünïcödé", "emoji 😀"]}),
    ("DeleteJob", {"JobName": "nightly-etl"}),
    ("StartJobRun", {
        "JobName": "nightly-etl", "Arguments": {"--day": "2024-05-01"}, "Timeout": 60, "WorkerType": "G.2X",
        "NumberOfWorkers": 2, "MaxCapacity": 2.0, "JobRunId": "jr_previous", "ExecutionClass": "STANDARD",
    }),
    ("GetJobRun", {"JobName": "nightly-etl", "RunId": "jr_0123abcd", "PredecessorsIncluded": True}),
    ("GetJobRuns", {"JobName": "nightly-etl", "MaxResults": 200}),
    ("BatchStopJobRun", {"JobName": "nightly-etl", "JobRunIds": [f"jr_{i}" for i in range(25)]}),
    ("GetJobBookmark", {"JobName": "nightly-etl"}),
    ("ResetJobBookmark", {"JobName": "nightly-etl", "RunId": "jr_1"}),
    ("CreateTrigger", {
        "Name": "after-extract", "WorkflowName": "nightly", "Type": "CONDITIONAL", "Predicate": PREDICATE,
        "Actions": ACTIONS, "StartOnCreation": True, "Description": "Runs load after extract",
        "EventBatchingCondition": {"BatchSize": 10, "BatchWindow": 900},
    }),
    ("CreateTrigger", {"Name": "hourly", "Type": "SCHEDULED", "Schedule": "cron(0 * * * ? *)", "Actions": [{"JobName": "x"}]}),
    ("UpdateTrigger", {"Name": "after-extract", "TriggerUpdate": {"Predicate": PREDICATE, "Actions": ACTIONS}}),
    ("StartTrigger", {"Name": "after-extract"}),
    ("StopTrigger", {"Name": "after-extract"}),
    ("GetTrigger", {"Name": "after-extract"}),
    ("GetTriggers", {"DependentJobName": "load", "MaxResults": 200}),
    ("ListTriggers", {"DependentJobName": "load", "MaxResults": 200}),
    ("DeleteTrigger", {"Name": "after-extract"}),
    ("CreateWorkflow", {"Name": "nightly", "Description": "d", "DefaultRunProperties": {"day": "today"}, "MaxConcurrentRuns": 1}),
    ("UpdateWorkflow", {"Name": "nightly", "DefaultRunProperties": {}}),
    ("GetWorkflow", {"Name": "nightly", "IncludeGraph": True}),
    ("ListWorkflows", {"MaxResults": 25}),
    ("BatchGetWorkflows", {"Names": ["nightly", "weekly"], "IncludeGraph": False}),
    ("StartWorkflowRun", {"Name": "nightly", "RunProperties": {"day": "2024-05-01"}}),
    ("GetWorkflowRun", {"Name": "nightly", "RunId": "wr_1", "IncludeGraph": True}),
    ("GetWorkflowRuns", {"Name": "nightly", "IncludeGraph": False, "MaxResults": 1000}),
    ("StopWorkflowRun", {"Name": "nightly", "RunId": "wr_1"}),
    ("ResumeWorkflowRun", {"Name": "nightly", "RunId": "wr_1", "NodeIds": ["load-node"]}),
    ("PutWorkflowRunProperties", {"Name": "nightly", "RunId": "wr_1", "RunProperties": {"k": "v"}}),
    ("GetWorkflowRunProperties", {"Name": "nightly", "RunId": "wr_1"}),
    ("CreateCrawler", {
        "Name": "raw", "Role": "glue", "DatabaseName": "raw", "Targets": {"S3Targets": [{"Path": "s3://bucket/raw/", "Exclusions": ["**.tmp"]}]},
        "Schedule": "cron(0 1 * * ? *)", "SchemaChangePolicy": {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"},
        "RecrawlPolicy": {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}, "TablePrefix": "raw_",
    }),
    ("StartCrawler", {"Name": "raw"}),
    ("GetCrawler", {"Name": "raw"}),
    ("GetCrawlerMetrics", {"CrawlerNameList": ["raw"], "MaxResults": 10}),
    ("CreateDatabase", {"DatabaseInput": {"Name": "raw", "Parameters": {"owner": "data"}}, "Tags": {"a": "b"}}),
    ("CreateTable", {"DatabaseName": "raw", "TableInput": {
        "Name": "events", "LastAccessTime": T0, "TableType": "EXTERNAL_TABLE", "PartitionKeys": [{"Name": "day", "Type": "string"}],
        "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}], "Location": "s3://bucket/events/",
                              "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"}},
    }}),
    ("GetTables", {"DatabaseName": "raw", "Expression": "ev*", "MaxResults": 100}),
    ("GetPartitions", {"DatabaseName": "raw", "TableName": "events", "Expression": "day > '2024'", "QueryAsOfTime": T0,
                       "Segment": {"SegmentNumber": 0, "TotalSegments": 4}}),
    ("UpdateColumnStatisticsForTable", {"DatabaseName": "raw", "TableName": "events", "ColumnStatisticsList": [{
        "ColumnName": "price", "ColumnType": "decimal(10,2)", "AnalyzedTime": T0, "StatisticsData": {
            "Type": "DECIMAL", "DecimalColumnStatisticsData": {
                "MinimumValue": {"UnscaledValue": b"\x01\x00", "Scale": 2}, "NumberOfNulls": 0, "NumberOfDistinctValues": 7}}}]}),
    ("TagResource", {"ResourceArn": "arn:aws:glue:eu-west-1:123456789012:job/nightly-etl", "TagsToAdd": {"team": "data"}}),
    ("GetTags", {"ResourceArn": "arn:aws:glue:eu-west-1:123456789012:workflow/nightly"}),
    ("CreateTableOptimizer", {"CatalogId": "123456789012", "DatabaseName": "raw", "TableName": "events", "Type": "compaction",
                              "TableOptimizerConfiguration": {"roleArn": "arn:aws:iam::123456789012:role/o", "enabled": True,
                                                              "vpcConfiguration": {"glueConnectionName": "vpc"}}}),
    ("ListRegistries", {}),
]  # fmt: skip


@pytest.mark.parametrize(("operation", "params"), VALID, ids=[op for op, _ in VALID])
def test_realistic_inputs_pass(operation: str, params: dict[str, Any]) -> None:
    body = wire(operation, params)
    assert model.validate(operation, body) is body


def test_unknown_members_and_nulls_are_ignored() -> None:
    body = {"JobName": "j", "RunId": "r", "Newer": {"Anything": [1]}, "PredecessorsIncluded": None}
    assert model.validate("GetJobRun", body) == body
    job = {"Name": "j", "Role": "r", "Command": {"Name": "glueetl", "Future": 1}, "Timeout": None}
    assert model.validate("CreateJob", job) is job


def test_surrogate_pairs_are_one_character_and_lone_surrogates_are_refused() -> None:
    assert model.validate("CreateJob", {"Name": "job 😀" * 50, "Role": "r", "Command": {}})
    lone = json.loads('"job \\ud800"')
    message = one_problem("CreateJob", {"Name": lone, "Role": "r", "Command": {}})
    assert "at 'Name'" in message and f"regular expression pattern: {NAME_STRING}" in message
    halves = "\ud83d\ude00"  # both halves of a pair, but as two code points: no pair at all
    assert "at 'Name'" in one_problem("CreateJob", {"Name": halves, "Role": "r", "Command": {}})


# -- each constraint, with the member and the reason -------------------------------------------


BAD: list[tuple[str, dict[str, Any], str, str]] = [
    # required
    ("GetJobRun", {"JobName": "j"}, "Value null at 'RunId'", "Member must not be null"),
    ("CreateJob", {"Name": "j", "Role": "r"}, "Value null at 'Command'", "Member must not be null"),
    ("CreateTable", {"DatabaseName": "d", "TableInput": {"Name": "t", "PartitionKeys": [{"Type": "int"}]}},
     "Value null at 'TableInput.PartitionKeys[0].Name'", "Member must not be null"),
    # enum
    ("StartJobRun", {"JobName": "j", "WorkerType": "G.9X"}, "Value 'G.9X' at 'WorkerType'",
     "Member must satisfy enum value set: [Standard, G.1X, G.2X"),
    ("CreateTrigger", {"Name": "t", "Type": "CONDITIONAL", "Actions": [{"JobName": "j"}],
                       "Predicate": {"Conditions": [{"State": "SUCCEEDED"}, {"State": "DONE"}]}},
     "Value 'DONE' at 'Predicate.Conditions[1].State'", "Member must satisfy enum value set: ["),
    # string length
    ("CreateJob", {"Name": "n" * 256, "Role": "r", "Command": {}}, "at 'Name'",
     "Member must have length less than or equal to 255"),
    ("CreateJob", {"Name": "", "Role": "r", "Command": {}}, "Value '' at 'Name'",
     "Member must have length greater than or equal to 1"),
    # list length
    ("BatchStopJobRun", {"JobName": "j", "JobRunIds": [f"jr_{i}" for i in range(26)]}, "Value an array at 'JobRunIds'",
     "Member must have length less than or equal to 25"),
    ("BatchStopJobRun", {"JobName": "j", "JobRunIds": []}, "Value an array at 'JobRunIds'",
     "Member must have length greater than or equal to 1"),
    # map entries and keys
    ("CreateWorkflow", {"Name": "w", "Tags": {f"k{i}": "v" for i in range(51)}}, "Value an object at 'Tags'",
     "Member must have number of entries less than or equal to 50"),
    ("CreateWorkflow", {"Name": "w", "Tags": {"k" * 129: "v"}}, "at 'Tags'",
     "Map keys must satisfy constraint: [Member must have length less than or equal to 128]"),
    ("CreateWorkflow", {"Name": "w", "DefaultRunProperties": {"a\nb": "v"}}, "Value 'a\\nb' at 'DefaultRunProperties'",
     "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: "),
    ("CreateWorkflow", {"Name": "w", "Tags": {"k": "v" * 257}}, "at 'Tags.k'",
     "Member must have length less than or equal to 256"),
    # integer range
    ("GetJobRuns", {"JobName": "j", "MaxResults": 0}, "Value 0 at 'MaxResults'",
     "Member must have value greater than or equal to 1"),
    ("GetJobRuns", {"JobName": "j", "MaxResults": 201}, "Value 201 at 'MaxResults'",
     "Member must have value less than or equal to 200"),
    ("StartJobRun", {"JobName": "j", "NumberOfWorkers": 2**31}, "Value 2147483648 at 'NumberOfWorkers'",
     "Member must have value less than or equal to 2147483647"),
    ("StartJobRun", {"JobName": "j", "Timeout": 0}, "Value 0 at 'Timeout'", "Member must have value greater than or equal to 1"),
    # double range
    ("StartColumnStatisticsTaskRun", {"DatabaseName": "d", "TableName": "t", "Role": "r", "SampleSize": 100.5},
     "Value 100.5 at 'SampleSize'", "Member must have value less than or equal to 100"),
    # pattern
    ("CreateJob", {"Name": "a\nb", "Role": "r", "Command": {}}, "Value 'a\\nb' at 'Name'",
     f"Member must satisfy regular expression pattern: {NAME_STRING}"),
    ("CreateJob", {"Name": "j", "Role": "r", "Command": {"PythonVersion": "3.11"}}, "Value '3.11' at 'Command.PythonVersion'",
     "Member must satisfy regular expression pattern: ^([2-3]|3[.]9)$"),
    ("CreateJob", {"Name": "j", "Role": "r", "Command": {}, "GlueVersion": "4.0\n"}, "at 'GlueVersion'",
     "Member must satisfy regular expression pattern: ^((\\w+\\.)+\\w+|auto)$"),
    # types
    ("GetJobRun", {"JobName": 7, "RunId": "r"}, "Value 7 at 'JobName'", "Member must be a string"),
    ("GetJobRuns", {"JobName": "j", "MaxResults": True}, "Value true at 'MaxResults'", "Member must be an integer"),
    ("GetJobRuns", {"JobName": "j", "MaxResults": 5.0}, "Value 5.0 at 'MaxResults'", "Member must be an integer"),
    ("GetJobRuns", {"JobName": "j", "MaxResults": "5"}, "Value '5' at 'MaxResults'", "Member must be an integer"),
    ("GetJobRun", {"JobName": "j", "RunId": "r", "PredecessorsIncluded": "true"}, "Value 'true' at 'PredecessorsIncluded'",
     "Member must be a boolean"),
    ("GetJobRun", {"JobName": "j", "RunId": "r", "PredecessorsIncluded": 1}, "Value 1 at 'PredecessorsIncluded'",
     "Member must be a boolean"),
    ("StartJobRun", {"JobName": "j", "MaxCapacity": True}, "Value true at 'MaxCapacity'", "Member must be a number"),
    ("StartJobRun", {"JobName": "j", "MaxCapacity": "2"}, "Value '2' at 'MaxCapacity'", "Member must be a number"),
    ("StartJobRun", {"JobName": "j", "MaxCapacity": float("nan")}, "Value nan at 'MaxCapacity'", "Member must be a finite number"),
    ("StartJobRun", {"JobName": "j", "MaxCapacity": float("inf")}, "Value inf at 'MaxCapacity'", "Member must be a finite number"),
    ("StartJobRun", {"JobName": "j", "MaxCapacity": 10**400}, "Value a very large integer at 'MaxCapacity'",
     "Member must be a finite number"),
    ("CreateJob", {"Name": "j", "Role": "r", "Command": []}, "Value an array at 'Command'", "Member must be an object"),
    ("CreateJob", {"Name": "j", "Role": "r", "Command": "python"}, "Value 'python' at 'Command'", "Member must be an object"),
    ("BatchStopJobRun", {"JobName": "j", "JobRunIds": "jr_1"}, "Value 'jr_1' at 'JobRunIds'", "Member must be an array"),
    ("BatchStopJobRun", {"JobName": "j", "JobRunIds": ["jr_1", None]}, "Value null at 'JobRunIds[1]'", "Member must not be null"),
    ("StartJobRun", {"JobName": "j", "Arguments": ["--a", "b"]}, "Value an array at 'Arguments'", "Member must be an object"),
    ("StartJobRun", {"JobName": "j", "Arguments": {"--n": 5}}, "Value 5 at 'Arguments.--n'", "Member must be a string"),
    ("StartJobRun", {"JobName": "j", "Arguments": {"--n": None}}, "Value null at 'Arguments.--n'", "Member must not be null"),
    ("CreateTable", {"DatabaseName": "d", "TableInput": {"Name": "t", "LastAccessTime": "yesterday"}},
     "Value 'yesterday' at 'TableInput.LastAccessTime'", "Member must be a timestamp: epoch seconds or an ISO-8601 string"),
    ("CreateTable", {"DatabaseName": "d", "TableInput": {"Name": "t", "LastAccessTime": True}},
     "Value true at 'TableInput.LastAccessTime'", "Member must be a timestamp"),
    ("UpdateColumnStatisticsForTable", {"DatabaseName": "d", "TableName": "t", "ColumnStatisticsList": [{
        "ColumnName": "c", "ColumnType": "decimal", "AnalyzedTime": 0, "StatisticsData": {"Type": "DECIMAL",
            "DecimalColumnStatisticsData": {"MinimumValue": {"UnscaledValue": "not base64!", "Scale": 2},
                                            "NumberOfNulls": 0, "NumberOfDistinctValues": 1}}}]},
     "Value 'not base64!' at 'ColumnStatisticsList[0].StatisticsData.DecimalColumnStatisticsData.MinimumValue.UnscaledValue'",
     "Member must be a base64-encoded string"),
    # nested paths
    ("CreateTrigger", {"Name": "t", "Type": "ON_DEMAND", "Actions": [{"JobName": "a"}, {"JobName": "b", "Arguments": ["x"]}]},
     "Value an array at 'Actions[1].Arguments'", "Member must be an object"),
    ("CreateTrigger", {"Name": "t", "Type": "ON_DEMAND", "Actions": [{"JobName": "a", "NotificationProperty": {"NotifyDelayAfter": 0}}]},
     "Value 0 at 'Actions[0].NotificationProperty.NotifyDelayAfter'", "Member must have value greater than or equal to 1"),
    # a union holds exactly one member
    ("CreateTableOptimizer", {"CatalogId": "1", "DatabaseName": "d", "TableName": "t", "Type": "compaction",
                              "TableOptimizerConfiguration": {"vpcConfiguration": {}}},
     "Value an object at 'TableOptimizerConfiguration.vpcConfiguration'", "Member must have exactly one of: glueConnectionName"),
]  # fmt: skip


@pytest.mark.parametrize(("operation", "params", "where", "reason"), BAD, ids=[f"{b[0]}:{b[2]}" for b in BAD])
def test_a_bad_member_is_named_with_its_constraint(operation: str, params: dict[str, Any], where: str, reason: str) -> None:
    message = one_problem(operation, params)
    assert f"{where} failed to satisfy constraint: {reason}" in message


def test_the_passing_side_of_each_bound() -> None:
    model.validate("GetJobRuns", {"JobName": "j", "MaxResults": 1})
    model.validate("GetJobRuns", {"JobName": "j", "MaxResults": 200})
    model.validate("CreateJob", {"Name": "n" * 255, "Role": "r", "Command": {"PythonVersion": "3.9"}})
    model.validate("BatchStopJobRun", {"JobName": "j", "JobRunIds": ["jr_1"]})
    model.validate("CreateWorkflow", {"Name": "w", "Tags": {f"k{i}": "v" for i in range(50)}})
    model.validate("StartJobRun", {"JobName": "j", "NumberOfWorkers": 2**31 - 1, "MaxCapacity": 1})
    model.validate("StartJobRun", {"JobName": "j", "AllocatedCapacity": -(2**31), "MaxCapacity": -1e300})  # no min
    model.validate("CreateTable", {"DatabaseName": "d", "TableInput": {"Name": "t", "LastAccessTime": "2024-05-01T12:00:00Z"}})
    model.validate("CreateTable", {"DatabaseName": "d", "TableInput": {"Name": "t", "LastAccessTime": 1714564800.5}})


def test_every_bad_member_is_counted_and_ten_are_listed() -> None:
    message = problems("BatchStopJobRun", {"JobName": "j", "JobRunIds": list(range(30))})
    assert message.startswith("31 validation errors detected: ")
    assert message.count("Value ") == 10 and message.endswith("; and 21 more")
    assert "Value 0 at 'JobRunIds[0]' failed to satisfy constraint: Member must be a string" in message


def test_two_problems_in_one_message() -> None:
    message = problems("CreateJob", {"Name": "a\nb", "Role": "r", "Command": {"Name": 3}, "WorkerType": "G.9X"})
    assert message.startswith("3 validation errors detected: ")
    for where in ("'Name'", "'Command.Name'", "'WorkerType'"):
        assert f"at {where} failed to satisfy constraint" in message


def test_long_values_are_quoted_short() -> None:
    message = one_problem("CreateJob", {"Name": "x" * 100_000, "Role": "r", "Command": {}})
    assert f"Value '{'x' * 60}…' at 'Name'" in message and len(message) < 300
    message = one_problem("StartJobRun", {"JobName": "j", "Arguments": {"k" * 5000: 1}})
    assert len(message) < 400


def test_sensitive_values_are_not_quoted() -> None:
    auth = {"BasicAuthenticationCredentials": {"Username": "u", "Password": "hunter2\n"}}
    connection = {"Name": "c", "ConnectionType": "JDBC", "ConnectionProperties": {}, "AuthenticationConfiguration": auth}
    message = one_problem("CreateConnection", {"ConnectionInput": connection})
    assert "hunter2" not in message
    assert "Value at 'ConnectionInput.AuthenticationConfiguration.BasicAuthenticationCredentials.Password'" in message
    nodes = {"n1": {"DirectKafkaSource": {"Name": "k", "StreamingOptions": {"TopicName": "secret\x00topic"}}}}
    message = one_problem("CreateJob", {"Name": "j", "Role": "r", "Command": {}, "CodeGenConfigurationNodes": nodes})
    assert "secret" not in message  # CodeGenConfigurationNodes is sensitive as a whole
    assert "at 'CodeGenConfigurationNodes.n1.DirectKafkaSource.StreamingOptions.TopicName'" in message


@pytest.mark.parametrize("body", [[], "{}", None, 3, True, [{"JobName": "j"}]])
def test_the_body_must_be_an_object(body: object) -> None:
    with pytest.raises(errors.InvalidInputException, match=r"^The request body must be a JSON object, not "):
        model.validate("GetJobRun", body)


def test_an_operation_without_members_takes_an_empty_object() -> None:
    assert model.validate("GetDataCatalogEncryptionSettings", {}) == {}
    with pytest.raises(errors.InvalidInputException):
        model.validate("GetDataCatalogEncryptionSettings", [])


def test_an_unknown_operation_is_the_callers_to_refuse() -> None:
    assert "Nope" not in model.operation_names()
    with pytest.raises(KeyError):
        model.validate("Nope", {})


# -- depth -------------------------------------------------------------------------------------


def nested(levels: int, leaf: Any, wrap: Any) -> Any:
    value = leaf
    for _ in range(levels):
        value = wrap(value)
    return value


def test_deeply_nested_lists_sent_into_a_list_member_are_one_problem() -> None:
    ids = nested(10_000, "jr_1", lambda inner: [inner])
    message = one_problem("BatchStopJobRun", {"JobName": "j", "JobRunIds": ids})
    assert "Value an array at 'JobRunIds[0]' failed to satisfy constraint: Member must be a string" in message


def test_a_recursive_shape_nested_too_deep_is_refused_at_its_member() -> None:
    """Mapping.Children is a list of Mapping: the model itself recurses (ApplyMapping)."""
    mapping = nested(10_000, {"ToKey": "leaf"}, lambda inner: {"ToKey": "k", "Children": [inner]})
    node = {"ApplyMapping": {"Name": "map", "Inputs": ["src"], "Mapping": [mapping]}}
    message = one_problem("CreateJob", {"Name": "j", "Role": "r", "Command": {}, "CodeGenConfigurationNodes": {"n": node}})
    assert "at 'CodeGenConfigurationNodes.n.ApplyMapping.Mapping[0].Children[0].Children[0]" in message
    assert f"Member is nested too deep (more than {model.MAX_DEPTH} levels)" in message
    shallow = nested(20, {"ToKey": "leaf"}, lambda inner: {"ToKey": "k", "Children": [inner]})
    node = {"ApplyMapping": {"Name": "map", "Inputs": ["src"], "Mapping": [shallow]}}
    model.validate("CreateJob", {"Name": "j", "Role": "r", "Command": {}, "CodeGenConfigurationNodes": {"n": node}})


# -- patterns ----------------------------------------------------------------------------------

MODEL_PATTERNS = sorted({shape["pattern"] for shape in SHAPES.values() if "pattern" in shape})


@pytest.mark.parametrize("java", MODEL_PATTERNS)
def test_every_model_pattern_compiles(java: str) -> None:
    if java in SKIPPED_PATTERNS:
        pytest.skip("no Python translation: values go unchecked")
    assert isinstance(model.java_pattern(java), re.Pattern)  # pytest turns re's warnings into errors


@pytest.mark.parametrize(("java", "value", "matches"), [
    (NAME_STRING, "plain name", True),
    (NAME_STRING, "tab\tok", True),
    (NAME_STRING, "emoji 😀 and \U0001d518", True),
    (NAME_STRING, "line\nbreak", False),
    (NAME_STRING, "nul\x00", False),
    (NAME_STRING, "lone \udfff", False),
    (NAME_STRING, "\ufffe", False),
    (".*", "carriage\rreturn", False),  # Java's `.` stops at every line terminator
    (".*", "next\x85line", False),
    (".*", "tab\tand é", True),
    ("\\w+", "é", False),  # Java's \w, \d and \s are ASCII
    ("\\w+", "a_1", True),
    ("[^\\r\\n]", "x", True),  # the whole value: one character
    ("[^\\r\\n]", "xy", False),
    ("[1-9][0-9]*|[1-9][0-9]*-[1-9][0-9]*", "3-12", True),
    ("[\\p{L}\\p{N}\\p{P}]*", "tx-é_1.٣", True),
    ("[\\p{L}\\p{N}\\p{P}]*", "a b", False),
    ("\\p{Lu}\\P{Lu}", "Ab", True),
    ("\\p{Lu}\\P{Lu}", "AB", False),
])  # fmt: skip
def test_patterns_keep_their_java_meaning(java: str, value: str, matches: bool) -> None:
    assert bool(model.java_pattern(java).fullmatch(value)) is matches


@pytest.mark.parametrize("java", ["\\Qa.b\\E", "[a-z&&[^b]]", "[a[b]]", "\\p{Alpha}", "[\\P{L}]", "a\\z", "(a)\\1"])
def test_a_java_construct_without_translation_is_an_error(java: str) -> None:
    with pytest.raises(ValueError):
        model.java_pattern(java)


@pytest.mark.parametrize("java", sorted(model._LINEAR))
@given(value=st.text(alphabet="a.<>&'\"$@[]()-_! \t\n\r\x85\u2028é", max_size=12))
def test_linear_rewrites_agree_with_the_pattern(java: str, value: str) -> None:
    literal = model.java_pattern(java, linear=False).fullmatch(value)
    assert bool(model.java_pattern(java).fullmatch(value)) is bool(literal)


@pytest.mark.parametrize(("shape", "value"), [
    ("SchemaDefinitionDiff", "a" * 339_998 + "\n\n"),
    ("DefaultValue", "<" * 1022 + "\n\n"),
    ("JsonPathString", "$" + "." * 510 + "!"),
])  # fmt: skip
def test_a_nearly_matching_long_value_does_not_backtrack(shape: str, value: str) -> None:
    assert SHAPES[shape]["pattern"] in model._LINEAR
    matches = model.java_pattern(SHAPES[shape]["pattern"]).fullmatch
    start = time.perf_counter()
    assert matches(value) is None
    assert time.perf_counter() - start < 1.0  # the literal translation takes minutes


# -- output ------------------------------------------------------------------------------------


def test_output_keeps_only_declared_members_at_every_depth() -> None:
    trigger = {"Name": "t", "Type": "CONDITIONAL", "AdhereActions": [{"x": 1}], "Predicate": PREDICATE,
               "Actions": [{"JobName": "load", "Arguments": {"--any key": "v", "--x": "y"}, "adhere_id": 4}]}
    job_run = {"Id": "jr_1", "JobName": "load", "JobRunState": "RUNNING", "StartedOn": dt.datetime(2024, 5, 1, 12, 30),
               "CompletedOn": None, "engine_handle": "pid:42", "Arguments": {"--day": "1"}}
    data = {"Run": {"Name": "nightly", "WorkflowRunId": "wr_1", "Status": "RUNNING", "store_row": 9,
                    "Graph": {"Nodes": [
                        {"Type": "TRIGGER", "Name": "t", "UniqueId": "u1", "TriggerDetails": {"Trigger": trigger}},
                        {"Type": "JOB", "Name": "load", "UniqueId": "u2", "JobDetails": {"JobRuns": [job_run]}, "Extra": {}},
                    ], "Edges": [{"SourceId": "u1", "DestinationId": "u2", "Kind": "internal"}]}}}  # fmt: skip
    assert model.output("GetWorkflowRun", data) == {"Run": {
        "Name": "nightly", "WorkflowRunId": "wr_1", "Status": "RUNNING",
        "Graph": {"Nodes": [
            {"Type": "TRIGGER", "Name": "t", "UniqueId": "u1", "TriggerDetails": {"Trigger": {
                "Name": "t", "Type": "CONDITIONAL", "Predicate": PREDICATE,
                "Actions": [{"JobName": "load", "Arguments": {"--any key": "v", "--x": "y"}}]}}},
            {"Type": "JOB", "Name": "load", "UniqueId": "u2", "JobDetails": {"JobRuns": [
                {"Id": "jr_1", "JobName": "load", "JobRunState": "RUNNING", "StartedOn": 1714566600.0,
                 "Arguments": {"--day": "1"}}]}},
        ], "Edges": [{"SourceId": "u1", "DestinationId": "u2"}]},
    }}  # fmt: skip
    assert "AdhereActions" not in json.dumps(model.output("GetWorkflowRun", data))


def test_output_timestamps_are_epoch_seconds_to_the_millisecond() -> None:
    naive = dt.datetime(2024, 5, 1, 12, 30, 0, 123456)
    aware = dt.datetime(2024, 5, 1, 14, 30, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    run = model.output("GetJobRun", {"JobRun": {"StartedOn": naive, "CompletedOn": aware, "LastModifiedOn": 1714566600}})
    assert run == {"JobRun": {"StartedOn": 1714566600.123, "CompletedOn": 1714566600.123, "LastModifiedOn": 1714566600.0}}
    assert json.loads(json.dumps(run)) == run


def test_output_iso8601_members_stay_iso_strings() -> None:
    kafka = {"Name": "k", "StreamingOptions": {"StartingTimestamp": dt.datetime(2024, 5, 1, 12, 30, 0, 5000)}}
    job = model.output("GetJob", {"Job": {"Name": "j", "CodeGenConfigurationNodes": {"n": {"DirectKafkaSource": kafka}}}})
    options = job["Job"]["CodeGenConfigurationNodes"]["n"]["DirectKafkaSource"]["StreamingOptions"]
    assert options == {"StartingTimestamp": "2024-05-01T12:30:00.005Z"}


def test_output_drops_none_and_passes_documents_through() -> None:
    records = [{"any": {"deep": [1, {"x": None}]}}, "text"]
    assert model.output("GetEntityRecords", {"Records": records, "NextToken": None}) == {"Records": records}
    assert model.output("BatchStopJobRun", {"SuccessfulSubmissions": [None, {"JobName": "j", "JobRunId": None}]}) == {
        "SuccessfulSubmissions": [{"JobName": "j"}]
    }


def test_output_refuses_a_structure_that_is_not_a_mapping() -> None:
    with pytest.raises(TypeError, match="JobRun must be a mapping"):
        model.output("GetJobRun", {"JobRun": ["jr_1"]})


# -- paging, errors, operations ----------------------------------------------------------------


def test_paging_comes_from_the_paginators() -> None:
    assert model.paging("GetJobRuns") == model.Paging(
        input_token="NextToken", output_token="NextToken", limit_key="MaxResults", result_keys=("JobRuns",), max_limit=200
    )
    assert model.paging("ListJobs").result_keys == ("JobNames",)
    assert model.paging("GetWorkflowRuns").max_limit == 1000
    assert model.paging("GetJobRun") is None
    assert model.paging("StartJobRun") is None


def test_every_paginator_names_members_of_its_operation() -> None:
    paginators = LOADER.load_service_model("glue", "paginators-1")["pagination"]
    for operation in paginators:
        paging = model.paging(operation)
        operation_model = SERVICE["operations"][operation]
        request = SHAPES[operation_model["input"]["shape"]]["members"]
        response = SHAPES[operation_model["output"]["shape"]]["members"]
        assert paging.input_token in request and paging.output_token in response
        assert set(paging.result_keys) <= set(response)
        assert paging.limit_key is None or paging.limit_key in request


def test_declared_errors() -> None:
    assert {"EntityNotFoundException", "InvalidInputException", "InternalServiceException",
            "OperationTimeoutException"} <= model.declared_errors("GetJobRun")  # fmt: skip
    assert "ConcurrentRunsExceededException" in model.declared_errors("StartJobRun")
    assert "ConcurrentRunsExceededException" not in model.declared_errors("GetJobRun")


def test_operation_names() -> None:
    names = model.operation_names()
    assert {"CreateJob", "StartJobRun", "GetWorkflowRun", "ResumeWorkflowRun"} <= names
    assert names == frozenset(SERVICE["operations"])


def test_importing_the_module_loads_no_model() -> None:
    code = "import sys, orchestrator.api.model; print('botocore' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
