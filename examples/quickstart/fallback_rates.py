"""The failure branch: started only when extract_rates FAILED. Writes yesterday's rates."""

from __future__ import annotations

import common

opts = common.options()
print("rates source is down: using yesterday's rates")
common.write(
    common.out_dir(opts) / "rates_fallback.json",
    {"USD": 0.91, "GBP": 1.16, "EUR": 1.0, "as_of": "yesterday"},
)
