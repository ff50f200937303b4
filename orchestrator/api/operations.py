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


# --- the Data Catalog --------------------------------------------------------------------------


@operation("CreateDatabase")
def _create_database(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import databases

    return databases.create_database(ctx.db, ctx.settings, body["DatabaseInput"], body.get("Tags"),
                                     catalog_id=body.get("CatalogId"))


@operation("GetDatabase")
def _get_database(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import databases

    return databases.get_database(ctx.db, ctx.settings, body["Name"], catalog_id=body.get("CatalogId"))


@operation("GetDatabases")
def _get_databases(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import databases

    return databases.get_databases(ctx.db, ctx.settings, body.get("NextToken"), _limit("GetDatabases", body),
                                   catalog_id=body.get("CatalogId"))


@operation("UpdateDatabase")
def _update_database(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import databases

    return databases.update_database(ctx.db, ctx.settings, body["Name"], body["DatabaseInput"],
                                     catalog_id=body.get("CatalogId"))


@operation("DeleteDatabase")
def _delete_database(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import databases

    return databases.delete_database(ctx.db, ctx.settings, body["Name"], catalog_id=body.get("CatalogId"))


@operation("CreateTable")
def _create_table(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import tables

    return tables.create_table(ctx.db, ctx.settings, body["DatabaseName"], body.get("TableInput"), name=body.get("Name"),
                               open_table_format_input=body.get("OpenTableFormatInput"),
                               catalog_id=body.get("CatalogId"))


@operation("GetTable")
def _get_table(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import tables

    return tables.get_table(ctx.db, ctx.settings, body["DatabaseName"], body["Name"], catalog_id=body.get("CatalogId"))


@operation("GetTables")
def _get_tables(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import tables

    return tables.get_tables(ctx.db, ctx.settings, body["DatabaseName"], body.get("Expression"), body.get("NextToken"),
                             _limit("GetTables", body), catalog_id=body.get("CatalogId"))


@operation("UpdateTable")
def _update_table(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import tables

    return tables.update_table(ctx.db, ctx.settings, body["DatabaseName"], body.get("TableInput"), name=body.get("Name"),
                               skip_archive=bool(body.get("SkipArchive")), version_id=body.get("VersionId"),
                               catalog_id=body.get("CatalogId"))


@operation("DeleteTable")
def _delete_table(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import tables

    return tables.delete_table(ctx.db, ctx.settings, body["DatabaseName"], body["Name"], catalog_id=body.get("CatalogId"))


@operation("BatchDeleteTable")
def _batch_delete_table(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import tables

    return tables.batch_delete_table(ctx.db, ctx.settings, body["DatabaseName"], body["TablesToDelete"],
                                     catalog_id=body.get("CatalogId"))


@operation("SearchTables")
def _search_tables(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import tables

    return tables.search_tables(ctx.db, ctx.settings, body.get("NextToken"), body.get("Filters"),
                                body.get("SearchText"), body.get("SortCriteria"), _limit("SearchTables", body),
                                catalog_id=body.get("CatalogId"))


@operation("GetTableVersion")
def _get_table_version(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import tables

    return tables.get_table_version(ctx.db, ctx.settings, body["DatabaseName"], body["TableName"],
                                    body.get("VersionId"), catalog_id=body.get("CatalogId"))


@operation("GetTableVersions")
def _get_table_versions(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import tables

    return tables.get_table_versions(ctx.db, ctx.settings, body["DatabaseName"], body["TableName"],
                                     body.get("NextToken"), _limit("GetTableVersions", body),
                                     catalog_id=body.get("CatalogId"))


@operation("DeleteTableVersion")
def _delete_table_version(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import tables

    return tables.delete_table_version(ctx.db, ctx.settings, body["DatabaseName"], body["TableName"],
                                       body["VersionId"], catalog_id=body.get("CatalogId"))


@operation("BatchDeleteTableVersion")
def _batch_delete_table_version(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import tables

    return tables.batch_delete_table_version(ctx.db, ctx.settings, body["DatabaseName"], body["TableName"],
                                             body["VersionIds"], catalog_id=body.get("CatalogId"))


@operation("CreatePartition")
def _create_partition(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import partitions

    return partitions.create_partition(ctx.db, ctx.settings, body["DatabaseName"], body["TableName"],
                                       body["PartitionInput"], catalog_id=body.get("CatalogId"))


@operation("BatchCreatePartition")
def _batch_create_partition(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import partitions

    return partitions.batch_create_partition(ctx.db, ctx.settings, body["DatabaseName"], body["TableName"],
                                             body["PartitionInputList"], catalog_id=body.get("CatalogId"))


@operation("GetPartition")
def _get_partition(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import partitions

    return partitions.get_partition(ctx.db, ctx.settings, body["DatabaseName"], body["TableName"],
                                    body["PartitionValues"], catalog_id=body.get("CatalogId"))


@operation("GetPartitions")
def _get_partitions(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import partitions

    return partitions.get_partitions(
        ctx.db, ctx.settings, body["DatabaseName"], body["TableName"], body.get("Expression"), body.get("NextToken"),
        body.get("Segment"), _limit("GetPartitions", body), bool(body.get("ExcludeColumnSchema")),
        catalog_id=body.get("CatalogId"),
    )  # fmt: skip


@operation("BatchGetPartition")
def _batch_get_partition(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import partitions

    return partitions.batch_get_partition(ctx.db, ctx.settings, body["DatabaseName"], body["TableName"],
                                          body["PartitionsToGet"], catalog_id=body.get("CatalogId"))


@operation("UpdatePartition")
def _update_partition(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import partitions

    return partitions.update_partition(ctx.db, ctx.settings, body["DatabaseName"], body["TableName"],
                                       body["PartitionValueList"], body["PartitionInput"],
                                       catalog_id=body.get("CatalogId"))


@operation("BatchUpdatePartition")
def _batch_update_partition(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import partitions

    return partitions.batch_update_partition(ctx.db, ctx.settings, body["DatabaseName"], body["TableName"],
                                             body["Entries"], catalog_id=body.get("CatalogId"))


@operation("DeletePartition")
def _delete_partition(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import partitions

    return partitions.delete_partition(ctx.db, ctx.settings, body["DatabaseName"], body["TableName"],
                                       body["PartitionValues"], catalog_id=body.get("CatalogId"))


@operation("BatchDeletePartition")
def _batch_delete_partition(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import partitions

    return partitions.batch_delete_partition(ctx.db, ctx.settings, body["DatabaseName"], body["TableName"],
                                             body["PartitionsToDelete"], catalog_id=body.get("CatalogId"))


# --- crawlers ----------------------------------------------------------------------------------


@operation("CreateCrawler")
def _create_crawler(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import crawlers

    return crawlers.create_crawler(ctx.db, ctx.settings, body)


@operation("UpdateCrawler")
def _update_crawler(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import crawlers

    return crawlers.update_crawler(ctx.db, ctx.settings, body)


@operation("DeleteCrawler")
def _delete_crawler(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import crawlers

    return crawlers.delete_crawler(ctx.db, body["Name"])


@operation("GetCrawler", inline=True)
def _get_crawler(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import crawlers

    return crawlers.get_crawler(ctx.db, body["Name"])


@operation("GetCrawlers")
def _get_crawlers(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import crawlers

    return crawlers.get_crawlers(ctx.db, body.get("NextToken"), _limit("GetCrawlers", body))


@operation("ListCrawlers")
def _list_crawlers(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import crawlers

    return crawlers.list_crawlers(ctx.db, body.get("NextToken"), _limit("ListCrawlers", body), body.get("Tags"))


@operation("BatchGetCrawlers")
def _batch_get_crawlers(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import crawlers

    return crawlers.batch_get_crawlers(ctx.db, body["CrawlerNames"])


@operation("StartCrawler", wakes=True)
def _start_crawler(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import crawlers

    return crawlers.start_crawler(ctx.db, body["Name"])


@operation("StopCrawler", wakes=True)
def _stop_crawler(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import crawlers

    return crawlers.stop_crawler(ctx.db, body["Name"])


@operation("ListCrawls")
def _list_crawls(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import crawlers

    return crawlers.list_crawls(ctx.db, body["CrawlerName"], body.get("Filters") or (), body.get("NextToken"),
                                _limit("ListCrawls", body))


@operation("GetCrawlerMetrics")
def _get_crawler_metrics(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import crawlers

    return crawlers.get_crawler_metrics(ctx.db, body.get("CrawlerNameList"), body.get("NextToken"),
                                        _limit("GetCrawlerMetrics", body))


@operation("StartCrawlerSchedule", wakes=True)
def _start_crawler_schedule(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import crawlers

    return crawlers.start_crawler_schedule(ctx.db, body["CrawlerName"])


@operation("StopCrawlerSchedule", wakes=True)
def _stop_crawler_schedule(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import crawlers

    return crawlers.stop_crawler_schedule(ctx.db, body["CrawlerName"])


@operation("UpdateCrawlerSchedule", wakes=True)
def _update_crawler_schedule(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import crawlers

    return crawlers.update_crawler_schedule(ctx.db, ctx.settings, body["CrawlerName"], body.get("Schedule"))


def put_events(ctx: Context, body: Any) -> Mapping[str, Any]:
    """EventBridge's PutEvents (``AWSEvents.PutEvents``), so boto3's events client works unchanged."""
    from orchestrator import errors
    from orchestrator.service import events

    if not isinstance(body, Mapping) or not isinstance(body.get("Entries"), list):
        raise errors.InvalidInputException("PutEvents needs Entries: a list of 1 to 10 events")
    out = events.put_events(ctx.db, ctx.settings, body["Entries"])
    ctx.wake()
    return out


@operation("GetJobBookmark")
def _get_job_bookmark(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import bookmarks

    return bookmarks.get_job_bookmark(ctx.db, body["JobName"], body.get("RunId"))


@operation("ResetJobBookmark")
def _reset_job_bookmark(ctx: Context, body: Body) -> Mapping[str, Any]:
    from orchestrator.service import bookmarks

    return bookmarks.reset_job_bookmark(ctx.db, body["JobName"], body.get("RunId"))
