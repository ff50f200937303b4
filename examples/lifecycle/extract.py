"""Fails on its first attempt in a workflow run (a flaky source), succeeds on the retry."""

from __future__ import annotations

from common import options, out_dir

args = options()
counter = out_dir(args["WORKFLOW_RUN_ID"]) / "extract.attempts"
attempt = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(attempt))
if attempt == 1:
    raise ConnectionError("source unavailable (simulated); the automatic retry will succeed")
print(f"extract: attempt {attempt} read the source")
