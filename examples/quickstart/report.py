"""Started by an AND trigger: needs the orders and the chosen rates. Prints the EUR total."""

from __future__ import annotations

import common

opts = common.options()
out = common.out_dir(opts)
orders = common.read(out / "orders.json")
rates = common.read(out / "rates_chosen.json")
total = sum(o["amount"] * rates[o["currency"]] for o in orders)
report = {"orders": len(orders), "total_eur": round(total, 2), "rates_as_of": rates["as_of"]}
common.write(out / "report.json", report)
print(f"{report['orders']} orders, {report['total_eur']} EUR (rates of {report['rates_as_of']})")
