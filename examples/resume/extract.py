"""Copy today's input rows (input/orders.csv) into out/<day>/orders.json, as text."""

from __future__ import annotations

import csv

import common

with open(common.HERE / "input" / "orders.csv", newline="") as f:
    rows = list(csv.DictReader(f))
common.write(common.day_dir() / "orders.json", rows)
