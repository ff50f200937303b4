"""Runs longer than its NotifyDelayAfter (1s): one "Glue Job Run Status" event, then SUCCEEDED."""

from __future__ import annotations

import time

from common import options

args = options("seconds")
time.sleep(float(args["seconds"]))
print(f"load: done after {args['seconds']} s")
