"""Runs longer than its NotifyDelayAfter (1s): one "Glue Job Run Status" event, then SUCCEEDED."""

import time

from common import options, out_dir

args = options("seconds")
time.sleep(float(args["seconds"]))
(out_dir(args["WORKFLOW_RUN_ID"]) / "loaded.txt").write_text("loaded\n")
print("load: done")
