"""Takes far longer than its Timeout (3s), so the run ends TIMEOUT and its process group is killed."""

from __future__ import annotations

import subprocess
import time

from common import options

args = options("seconds")
child = subprocess.Popen(["sleep", args["seconds"]])  # killed with the job: same process group
print(f"slow_report: sleeping {args['seconds']} s (child pid {child.pid})", flush=True)
time.sleep(float(args["seconds"]))
