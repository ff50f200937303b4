"""Create and run a workflow against `adhere serve` with boto3 alone: no adhere client library.

    adhere serve &                         # Glue's API on http://127.0.0.1:8639
    python examples/boto3/pipeline.py      # or: --endpoint-url http://host:port

The same script runs against AWS Glue by dropping ``endpoint_url`` (and pointing the scripts at
S3): that is the point.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import boto3
from botocore.exceptions import ClientError

HERE = pathlib.Path(__file__).resolve().parent
WORKFLOW = "boto3-sales"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", default="http://127.0.0.1:8639")
    endpoint = parser.parse_args().endpoint_url
    glue = boto3.client("glue", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")

    for name in ("boto3-clean", "boto3-total"):
        script = HERE / f"{name.removeprefix('boto3-')}.py"
        job = {"Role": "arn:aws:iam::123456789012:role/glue",
               "Command": {"Name": "pythonshell", "ScriptLocation": str(script), "PythonVersion": "3.9"},
               "DefaultArguments": {"--input": str(HERE / "sales.csv")}, "MaxRetries": 0, "Timeout": 5}
        try:
            glue.create_job(Name=name, **job)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "AlreadyExistsException":
                raise
            glue.update_job(JobName=name, JobUpdate=job)  # a second run of this script updates them
    try:
        glue.create_workflow(Name=WORKFLOW, Description="clean the sales, then total them")
        glue.create_trigger(Name=f"{WORKFLOW}-start", WorkflowName=WORKFLOW, Type="ON_DEMAND",
                            Actions=[{"JobName": "boto3-clean"}])
        glue.create_trigger(Name=f"{WORKFLOW}-total", WorkflowName=WORKFLOW, Type="CONDITIONAL",
                            StartOnCreation=True, Actions=[{"JobName": "boto3-total"}],
                            Predicate={"Conditions": [{"LogicalOperator": "EQUALS", "JobName": "boto3-clean",
                                                       "State": "SUCCEEDED"}]})
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "AlreadyExistsException":
            raise

    run_id = glue.start_workflow_run(Name=WORKFLOW)["RunId"]
    print(f"started {WORKFLOW} run {run_id}")
    while (run := glue.get_workflow_run(Name=WORKFLOW, RunId=run_id, IncludeGraph=True)["Run"])["Status"] == "RUNNING":
        time.sleep(0.2)
    for node in run["Graph"]["Nodes"]:
        for job_run in (node.get("JobDetails") or {}).get("JobRuns", []):
            print(f"  {node['Name']:<12} {job_run['JobRunState']:<10} {job_run.get('ExecutionTime', 0)} s")
    stats = run["Statistics"]
    print(f"{run['Status']}: {stats['SucceededActions']} of {stats['TotalActions']} jobs succeeded")
    return 0 if run["Status"] == "COMPLETED" and stats["FailedActions"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
