"""The TIMEOUT branch: runs only because slow_report timed out."""

from __future__ import annotations

from common import options, out_dir

args = options()
(out_dir(args["WORKFLOW_RUN_ID"]) / "cleanup.txt").write_text("slow_report timed out; cleaned up\n")
print("cleanup_after_timeout: done")
