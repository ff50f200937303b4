"""One step of the nightly example: says which step it is and who started it."""
from __future__ import annotations

import sys

from orchestrator import runtime

args = runtime.getResolvedOptions(sys.argv, ["step"])
print(f"{args['step']}: done")
