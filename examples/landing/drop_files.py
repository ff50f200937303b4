"""Drop N small JSON-lines files into examples/landing/landing/day=<today>/, one every 0.2 s,
each written under a .part name and renamed (so the watcher never sees half a file)."""
from __future__ import annotations

import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

count = int(sys.argv[1]) if len(sys.argv) > 1 else 10
day = dt.date.today().isoformat()
folder = Path(__file__).resolve().parent / "landing" / f"day={day}"
folder.mkdir(parents=True, exist_ok=True)
for i in range(count):
    name = f"orders-{time.time_ns()}.json"
    rows = [{"order_id": random.randrange(10**9), "amount": round(random.uniform(1, 500), 2), "sku": f"sku-{i}"}
            for _ in range(random.randint(1, 20))]
    part = folder / f"{name}.part"
    part.write_text("".join(json.dumps(r) + "\n" for r in rows))
    part.rename(folder / name)
    print(f"landed {folder.name}/{name}")
    time.sleep(0.2)
