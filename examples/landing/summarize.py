"""The files of this run's batch (the events whole: Glue would pass only their ids) and what the
catalog holds for them now."""
from __future__ import annotations

import sys

from orchestrator import runtime
from orchestrator.runtime import catalog

args = runtime.getResolvedOptions(sys.argv, ["WORKFLOW_RUN_ID"])
events = runtime.events()
properties = runtime.get_run_properties()
print(f"run {args['WORKFLOW_RUN_ID']}: {len(events)} files, aws:eventIds = {properties.get('aws:eventIds')}")
for event in events:
    obj = event["detail"]["object"]
    print(f"  {obj['key']} ({obj.get('size', '?')} bytes, landed {event['time']})")
for table in catalog.tables("landing"):
    days = [p.values[0] for p in catalog.partitions("landing", table.name)]
    print(f"table landing.{table.name}: {len(table.columns)} columns, partitions {sorted(days)}")
