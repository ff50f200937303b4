"""The day's total per currency."""

from __future__ import annotations

from collections import defaultdict

import common

totals: dict[str, float] = defaultdict(float)
for order in common.read(common.day_dir() / "loaded.json"):
    totals[order["currency"]] += order["amount"]
common.write(common.day_dir() / "report.json", dict(sorted(totals.items())))
print(", ".join(f"{amount:.2f} {currency}" for currency, amount in sorted(totals.items())))
