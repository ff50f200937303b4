"""Drop rows without an amount; write what is left next to the input."""
from __future__ import annotations

import csv
import pathlib
import sys

args = dict(zip(sys.argv[1::2], sys.argv[2::2], strict=False))
source = pathlib.Path(args["--input"])
rows = [r for r in csv.DictReader(source.open()) if r["amount"].strip()]
target = source.with_name("clean.csv")
with target.open("w", newline="") as out:
    writer = csv.DictWriter(out, fieldnames=["day", "amount"])
    writer.writeheader()
    writer.writerows(rows)
print(f"kept {len(rows)} rows in {target}")
