"""Join the validated orders with their regions: what a warehouse load would receive."""

from __future__ import annotations

import common

out = common.day_dir()
regions = common.read(out / "regions.json")
loaded = [{**order, "region": regions[order["customer"]]} for order in common.read(out / "valid.json")]
common.write(out / "loaded.json", loaded)
