"""Sum the clean rows and say the total."""
from __future__ import annotations

import csv
import pathlib
import sys

args = dict(zip(sys.argv[1::2], sys.argv[2::2], strict=False))
rows = list(csv.DictReader(pathlib.Path(args["--input"]).with_name("clean.csv").open()))
print(f"total {sum(float(r['amount']) for r in rows):.2f} over {len(rows)} rows")
