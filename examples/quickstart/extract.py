"""Extract one source (--source orders|rates) into out/<run>/<source>.json.

--simulate_outage true makes it fail the way a flaky upstream would (an exception, exit 1).
"""

from __future__ import annotations

import sys

import common

SOURCES = {
    "orders": [
        {"id": 1, "amount": 120.0, "currency": "USD"},
        {"id": 2, "amount": 80.0, "currency": "GBP"},
        {"id": 3, "amount": 42.5, "currency": "EUR"},
    ],
    "rates": {"USD": 0.92, "GBP": 1.17, "EUR": 1.0, "as_of": "today"},
}

opts = common.options("source")
if (
    "--simulate_outage" in sys.argv
    and common.options("simulate_outage")["simulate_outage"] == "true"
):
    raise ConnectionError(f"{opts['source']} service unavailable (simulated outage)")
common.write(common.out_dir(opts) / f"{opts['source']}.json", SOURCES[opts["source"]])
