"""The table of Glue operations: ``X-Amz-Target`` to the service function that implements it.

Each entry only renames: Glue's request members to the function's arguments, the function's
result to Glue's output shape, minutes to seconds. Nothing here decides anything; a second
implementation of an operation would be a defect. Requests reach these already validated
against botocore's model (``api.model``); responses leave through it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator import store
from orchestrator.settings import Settings

Body = Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Context:
    """What an operation runs with: the store, the settings, and ``wake`` for the loop (a
    request that starts or stops a run is acted on at once, not at the next poll)."""

    db: store.Store
    settings: Settings
    wake: Callable[[], None] = lambda: None


Handler = Callable[[Context, Body], Mapping[str, Any]]
TABLE: dict[str, Handler] = {}
# Point reads by key, the calls clients poll: answered on the server's event loop, without the
# hop to a worker thread that would cost more than the read itself.
INLINE: set[str] = set()


def operation(name: str, *, wakes: bool = False, inline: bool = False) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if inline:
            INLINE.add(name)
        if wakes:
            def waking(ctx: Context, body: Body) -> Mapping[str, Any]:
                out = handler(ctx, body)
                ctx.wake()
                return out

            TABLE[name] = waking
        else:
            TABLE[name] = handler
        return handler

    return register


def _minutes(value: Any) -> float | None:
    return None if value is None else float(value) * 60


def _limit(name: str, body: Body) -> int:
    """MaxResults, or the largest page the operation allows (its model's range)."""
    from orchestrator.api import model

    given = body.get("MaxResults")
    if given:
        return int(given)
    paging = model.paging(name)
    return min(paging.max_limit or 100, 1000) if paging else 100


# --- jobs --------------------------------------------------------------------------------------


@operation("CreateJob")
def _create_job(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import jobs

    return jobs.create_job(ctx.db, ctx.settings, body)


@operation("UpdateJob")
def _update_job(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import jobs

    return jobs.update_job(ctx.db, ctx.settings, body["JobName"], body["JobUpdate"])


@operation("DeleteJob")
def _delete_job(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import jobs

    return jobs.delete_job(ctx.db, body["JobName"])


@operation("GetJob", inline=True)
def _get_job(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import jobs

    return jobs.get_job(ctx.db, body["JobName"])


@operation("GetJobs")
def _get_jobs(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import jobs

    return jobs.get_jobs(ctx.db, body.get("NextToken"), _limit("GetJobs", body))


@operation("ListJobs")
def _list_jobs(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import jobs

    return jobs.list_jobs(ctx.db, body.get("NextToken"), _limit("ListJobs", body), body.get("Tags"))


@operation("BatchGetJobs")
def _batch_get_jobs(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import jobs

    return jobs.batch_get_jobs(ctx.db, body["JobNames"])


# --- job runs ----------------------------------------------------------------------------------


@operation("StartJobRun", wakes=True)
def _start_job_run(ctx: Context, body: Body) -> Mapping[str, Any]:
    """Every member of StartJobRun is accepted; AllocatedCapacity (MaxCapacity's old name),
    SecurityConfiguration, ExecutionClass and ExecutionRoleSessionPolicy have no effect here."""
    from orchestrator.service import job_runs

    notify = (body.get("NotificationProperty") or {}).get("NotifyDelayAfter")
    run_id = job_runs.start_job_run(
        ctx.db, body["JobName"], body.get("Arguments"), job_run_id=body.get("JobRunId"),
        timeout=_minutes(body.get("Timeout")), notify_delay_after=_minutes(notify),
        worker_type=body.get("WorkerType"), number_of_workers=body.get("NumberOfWorkers"),
        job_run_queuing_enabled=body.get("JobRunQueuingEnabled"),
        max_capacity=body.get("MaxCapacity") or body.get("AllocatedCapacity"),
    )  # fmt: skip
    return {"JobRunId": run_id}


@operation("GetJobRun", inline=True)
def _get_job_run(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import job_runs

    run = job_runs.get_job_run(ctx.db, body["JobName"], body["RunId"], bool(body.get("PredecessorsIncluded")))
    return {"JobRun": run}


@operation("GetJobRuns")
def _get_job_runs(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import job_runs

    return job_runs.get_job_runs(ctx.db, body["JobName"], body.get("NextToken"), _limit("GetJobRuns", body))


@operation("BatchStopJobRun", wakes=True)
def _batch_stop_job_run(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import job_runs

    return job_runs.batch_stop_job_run(ctx.db, body["JobName"], body["JobRunIds"])


# --- triggers ----------------------------------------------------------------------------------


@operation("CreateTrigger")
def _create_trigger(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import triggers

    return triggers.create_trigger(ctx.db, ctx.settings, body)


@operation("UpdateTrigger")
def _update_trigger(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import triggers

    return triggers.update_trigger(ctx.db, ctx.settings, body["Name"], body["TriggerUpdate"])


@operation("DeleteTrigger")
def _delete_trigger(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import triggers

    return triggers.delete_trigger(ctx.db, body["Name"])


@operation("GetTrigger", inline=True)
def _get_trigger(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import triggers

    return triggers.get_trigger(ctx.db, body["Name"])


@operation("GetTriggers")
def _get_triggers(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import triggers

    return triggers.get_triggers(ctx.db, body.get("NextToken"), body.get("DependentJobName"),
                                 _limit("GetTriggers", body))


@operation("ListTriggers")
def _list_triggers(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import triggers

    return triggers.list_triggers(ctx.db, body.get("NextToken"), body.get("DependentJobName"),
                                  _limit("ListTriggers", body), body.get("Tags"))


@operation("BatchGetTriggers")
def _batch_get_triggers(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import triggers

    return triggers.batch_get_triggers(ctx.db, body["TriggerNames"])


@operation("StartTrigger", wakes=True)
def _start_trigger(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import triggers

    return triggers.start_trigger(ctx.db, body["Name"])


@operation("StopTrigger", wakes=True)
def _stop_trigger(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import triggers

    return triggers.stop_trigger(ctx.db, body["Name"])


# --- workflows ---------------------------------------------------------------------------------


@operation("CreateWorkflow")
def _create_workflow(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import workflows

    return workflows.create_workflow(ctx.db, ctx.settings, body)


@operation("UpdateWorkflow")
def _update_workflow(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import workflows

    return workflows.update_workflow(
        ctx.db, ctx.settings, body["Name"], description=body.get("Description"),
        default_run_properties=body.get("DefaultRunProperties"), max_concurrent_runs=body.get("MaxConcurrentRuns"),
    )  # fmt: skip


@operation("DeleteWorkflow")
def _delete_workflow(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import workflows

    return workflows.delete_workflow(ctx.db, body["Name"])


@operation("GetWorkflow")
def _get_workflow(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import workflows

    return workflows.get_workflow(ctx.db, body["Name"], bool(body.get("IncludeGraph")))


@operation("ListWorkflows")
def _list_workflows(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import workflows

    return workflows.list_workflows(ctx.db, body.get("NextToken"), _limit("ListWorkflows", body))


@operation("BatchGetWorkflows")
def _batch_get_workflows(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import workflows

    return workflows.batch_get_workflows(ctx.db, body["Names"], bool(body.get("IncludeGraph")))


# --- workflow runs -----------------------------------------------------------------------------


@operation("StartWorkflowRun", wakes=True)
def _start_workflow_run(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import workflow_runs

    return {"RunId": workflow_runs.start_workflow_run(ctx.db, body["Name"], body.get("RunProperties"))}


@operation("GetWorkflowRun")
def _get_workflow_run(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import workflow_runs

    return {"Run": workflow_runs.get_workflow_run(ctx.db, body["Name"], body["RunId"], bool(body.get("IncludeGraph")))}


@operation("GetWorkflowRuns")
def _get_workflow_runs(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import workflow_runs

    return workflow_runs.get_workflow_runs(ctx.db, body["Name"], bool(body.get("IncludeGraph")),
                                           body.get("NextToken"), _limit("GetWorkflowRuns", body))


@operation("StopWorkflowRun", wakes=True)
def _stop_workflow_run(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import workflow_runs

    workflow_runs.stop_workflow_run(ctx.db, body["Name"], body["RunId"])
    return {}


@operation("ResumeWorkflowRun", wakes=True)
def _resume_workflow_run(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import workflow_runs

    return workflow_runs.resume_workflow_run(ctx.db, body["Name"], body["RunId"], body["NodeIds"])


@operation("GetWorkflowRunProperties")
def _get_workflow_run_properties(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import workflow_runs

    return {"RunProperties": workflow_runs.get_workflow_run_properties(ctx.db, body["Name"], body["RunId"])}


@operation("PutWorkflowRunProperties")
def _put_workflow_run_properties(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import workflow_runs

    workflow_runs.put_workflow_run_properties(ctx.db, body["Name"], body["RunId"], body["RunProperties"])
    return {}


# --- tags --------------------------------------------------------------------------------------


@operation("TagResource")
def _tag_resource(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import tags

    return tags.tag_resource(ctx.db, ctx.settings, body["ResourceArn"], body["TagsToAdd"])


@operation("UntagResource")
def _untag_resource(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import tags

    return tags.untag_resource(ctx.db, ctx.settings, body["ResourceArn"], body["TagsToRemove"])


@operation("GetTags")
def _get_tags(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import tags

    return tags.get_tags(ctx.db, settings=ctx.settings, resource_arn=body["ResourceArn"])
